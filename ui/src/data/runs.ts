// Multi-agent runs: queries under the `runs` topic (a `runs` event, sent whenever a run or
// one of its steps changes, makes them stale; see invalidation.ts).
import { queryOptions } from "@tanstack/react-query";
import { ok, type Api } from "../api/client";

export const RUNS_PAGE = 50;

/** The newest runs (one page). */
export function runsQuery(api: Api) {
  return queryOptions({
    queryKey: ["runs", "list"] as const,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/runs", { params: { query: { limit: RUNS_PAGE } }, signal })),
  });
}

/** The runs declared in the config (stale on a `config` event). */
export function runDefinitionsQuery(api: Api) {
  return queryOptions({
    queryKey: ["config", "run-definitions"] as const,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/runs/definitions", { signal })),
  });
}

export function runQuery(api: Api, id: string) {
  return queryOptions({
    queryKey: ["runs", "one", id] as const,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/runs/{id}", { params: { path: { id } }, signal })),
  });
}
