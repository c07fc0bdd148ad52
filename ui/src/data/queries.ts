// Every query of the UI, with its key. Keys start with the feed topic whose events make them
// stale (see `invalidation.ts`), so one table says what each event refreshes.
import { queryOptions } from "@tanstack/react-query";
import { ok, type Api } from "../api/client";

export const keys = {
  info: ["config", "info"] as const,
  config: ["config", "view"] as const,
  health: ["health", "report"] as const,
};

export function infoQuery(api: Api) {
  return queryOptions({
    queryKey: keys.info,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/info", { signal })),
  });
}

export function configQuery(api: Api) {
  return queryOptions({
    queryKey: keys.config,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/config", { signal })),
  });
}

export function healthQuery(api: Api) {
  return queryOptions({
    queryKey: keys.health,
    // Always 200: the body's `status` says healthy, degraded or unhealthy.
    queryFn: ({ signal }) => ok(api.GET("/health", { signal })),
  });
}
