// Owns the one feed subscription of the app: shares its state through `useFeed`, marks the
// cached queries an event makes stale (data/invalidation.ts), so screens never poll, and
// raises a toast for the live alerts of the `forecasts` topic (an anomaly in a new point, a
// goal at risk or back on track: data/forecasts.ts `forecastNotice`) and of the `reports`
// topic (a delivery that failed after every attempt, a scheduled report: data/reports.ts
// `reportNotice`).
import { useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useReducer, type ReactNode } from "react";
import { useBackend } from "../backend/context";
import { useToasts } from "../components/Toasts";
import { forecastNotice } from "../data/forecasts";
import { applyInvalidation, invalidationFor } from "../data/invalidation";
import { cachedTitle, reportNotice } from "../data/reports";
import { feedReducer, initialFeedState, type FeedState } from "./feedState";

const FeedContext = createContext<FeedState | null>(null);

export function FeedProvider({ children }: { children: ReactNode }) {
  const backend = useBackend();
  const queryClient = useQueryClient();
  const toasts = useToasts();
  const [state, dispatch] = useReducer(feedReducer, initialFeedState);
  useEffect(() => {
    let welcomed = false;
    return backend.subscribe(
      (message) => {
        applyInvalidation(queryClient, invalidationFor(message, welcomed));
        if (message.type === "welcome") welcomed = true;
        if (message.type === "event" && message.topic === "forecasts") {
          const notice = forecastNotice(message.payload);
          if (notice) toasts.push(notice);
        }
        if (message.type === "event" && message.topic === "reports") {
          const notice = reportNotice(message.payload, cachedTitle(queryClient, message.payload.id));
          if (notice) toasts.push(notice);
        }
        dispatch({ kind: "message", message });
      },
      (conn) => dispatch({ kind: "conn", state: conn }),
    );
  }, [backend, queryClient, toasts]);
  return <FeedContext.Provider value={state}>{children}</FeedContext.Provider>;
}

export function useFeed(): FeedState {
  const s = useContext(FeedContext);
  if (s === null) throw new Error("useFeed outside FeedProvider");
  return s;
}
