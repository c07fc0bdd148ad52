// Owns the one feed subscription of the app and shares its state through `useFeed`.
import { createContext, useContext, useEffect, useReducer, type ReactNode } from "react";
import { useBackend } from "../backend/context";
import { feedReducer, initialFeedState, type FeedState } from "./feedState";

const FeedContext = createContext<FeedState | null>(null);

export function FeedProvider({ children }: { children: ReactNode }) {
  const backend = useBackend();
  const [state, dispatch] = useReducer(feedReducer, initialFeedState);
  useEffect(
    () =>
      backend.subscribe(
        (message) => dispatch({ kind: "message", message }),
        (conn) => dispatch({ kind: "conn", state: conn }),
      ),
    [backend],
  );
  return <FeedContext.Provider value={state}>{children}</FeedContext.Provider>;
}

export function useFeed(): FeedState {
  const s = useContext(FeedContext);
  if (s === null) throw new Error("useFeed outside FeedProvider");
  return s;
}
