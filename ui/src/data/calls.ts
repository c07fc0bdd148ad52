// The usage ledger as an infinite query (cursor pages, newest first) under the `calls`
// topic. Live: a `calls` event puts its row at the top of the loaded first page (no refetch
// per call: a busy gateway makes hundreds a second).
import { infiniteQueryOptions, type InfiniteData, type QueryClient } from "@tanstack/react-query";
import { ok, type Api } from "../api/client";
import type { CallRecord } from "../generated/api";

export const CALLS_PAGE = 100;
/** Rows kept in the first page as live events arrive (older ones are a "more" away). */
export const LIVE_CAP = 500;

export const callPagesKey = ["calls", "pages", CALLS_PAGE] as const;

type CallPage = { items: CallRecord[]; next_cursor?: string | null };

export function callPagesQuery(api: Api) {
  return infiniteQueryOptions({
    queryKey: callPagesKey,
    initialPageParam: null as string | null,
    queryFn: ({ pageParam, signal }) =>
      ok(
        api.GET("/api/v1/calls", {
          params: { query: pageParam === null ? { limit: CALLS_PAGE } : { limit: CALLS_PAGE, cursor: pageParam } },
          signal,
        }),
      ),
    getNextPageParam: (last) => last.next_cursor ?? null,
  });
}

export function callQuery(api: Api, id: string) {
  return {
    queryKey: ["calls", "one", id] as const,
    queryFn: ({ signal }: { signal: AbortSignal }) => ok(api.GET("/api/v1/calls/{id}", { params: { path: { id } }, signal })),
  };
}

export function allCalls(pages: ReadonlyArray<CallPage> | undefined): CallRecord[] | undefined {
  return pages?.flatMap((p) => p.items);
}

/** Pure: `data` with `record` at the top of its first page (once; capped). */
export function withLiveCall(data: InfiniteData<CallPage, string | null>, record: CallRecord): InfiniteData<CallPage, string | null> {
  const [first, ...rest] = data.pages;
  if (!first) return data;
  if (data.pages.some((p) => p.items.some((c) => c.id === record.id))) return data;
  const items = [record, ...first.items].slice(0, LIVE_CAP);
  return { ...data, pages: [{ ...first, items }, ...rest] };
}

/** A `calls` event: into the loaded list, if one is loaded. */
export function applyCallEvent(client: QueryClient, record: CallRecord): void {
  client.setQueryData<InfiniteData<CallPage, string | null>>(callPagesKey, (data) => (data ? withLiveCall(data, record) : data));
}
