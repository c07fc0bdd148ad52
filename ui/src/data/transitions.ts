// The health history as an infinite query: pages of the node's cursor pagination, newest
// first, under the `health` topic so a status change refreshes it.
import { infiniteQueryOptions } from "@tanstack/react-query";
import { ok, type Api } from "../api/client";
import type { HealthTransition } from "../generated/api";

export const TRANSITIONS_PAGE = 50;

export function transitionPagesQuery(api: Api) {
  return infiniteQueryOptions({
    queryKey: ["health", "transitions", "pages", TRANSITIONS_PAGE] as const,
    initialPageParam: null as string | null,
    queryFn: ({ pageParam, signal }) =>
      ok(
        api.GET("/api/v1/health/transitions", {
          params: { query: pageParam === null ? { limit: TRANSITIONS_PAGE } : { limit: TRANSITIONS_PAGE, cursor: pageParam } },
          signal,
        }),
      ),
    getNextPageParam: (last) => last.next_cursor ?? null,
  });
}

export function allTransitions(pages: ReadonlyArray<{ items: HealthTransition[] }> | undefined): HealthTransition[] | undefined {
  return pages?.flatMap((p) => p.items);
}
