// The query cache's rules. Nothing refetches on a timer or on window focus: what the node
// changes, it announces on the feed, and `FeedInvalidation` marks the affected queries stale
// (so an idle UI makes no requests). Transport failures are retried twice with backoff; an
// answer of the node (a 4xx or 5xx with its code) is not retried.
import { MutationCache, QueryClient } from "@tanstack/react-query";
import { ApiError } from "../backend/apiError";

const TRANSIENT = new Set(["unreachable", "timeout", "ipc_error"]);

export function isTransient(err: unknown): boolean {
  return err instanceof ApiError && TRANSIENT.has(err.code);
}

export function createQueryClient(onMutationError: (err: unknown) => void): QueryClient {
  return new QueryClient({
    mutationCache: new MutationCache({
      // A mutation that handles its own error says so with `meta: { toastErrors: false }`.
      onError: (err, _vars, _ctx, mutation) => {
        if (mutation.meta?.toastErrors !== false) onMutationError(err);
      },
    }),
    defaultOptions: {
      queries: {
        staleTime: Infinity,
        refetchOnWindowFocus: false,
        refetchOnReconnect: false,
        retry: (failures, err) => failures < 2 && isTransient(err),
      },
      mutations: { retry: false },
    },
  });
}
