// Owns the one feed subscription of the app: shares its state through `useFeed`, and marks
// the cached queries an event makes stale (data/invalidation.ts), so screens never poll.
import { useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useReducer, type ReactNode } from "react";
import { useBackend } from "../backend/context";
import { applyInvalidation, invalidationFor } from "../data/invalidation";
import { feedReducer, initialFeedState, type FeedState } from "./feedState";

const FeedContext = createContext<FeedState | null>(null);

export function FeedProvider({ children }: { children: ReactNode }) {
  const backend = useBackend();
  const queryClient = useQueryClient();
  const [state, dispatch] = useReducer(feedReducer, initialFeedState);
  useEffect(() => {
    let welcomed = false;
    return backend.subscribe(
      (message) => {
        applyInvalidation(queryClient, invalidationFor(message, welcomed));
        if (message.type === "welcome") welcomed = true;
        dispatch({ kind: "message", message });
      },
      (conn) => dispatch({ kind: "conn", state: conn }),
    );
  }, [backend, queryClient]);
  return <FeedContext.Provider value={state}>{children}</FeedContext.Provider>;
}

export function useFeed(): FeedState {
  const s = useContext(FeedContext);
  if (s === null) throw new Error("useFeed outside FeedProvider");
  return s;
}
