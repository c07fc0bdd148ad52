// What each feed message makes stale. Query keys start with a feed topic (`queries.ts`), so
// an event of topic T invalidates every query under [T]; metrics samples are shown from the
// feed itself and invalidate nothing. A (re)connection after the first may follow a node
// restart or a resync (events no longer kept), so it invalidates everything. A `costs` event
// (a budget alert, a reconciliation imported or removed, a re-pricing) reloads every costs
// query (budgets, alerts, reconciliations, price gaps); a re-pricing changed recorded calls'
// costs too, so it reloads the `calls` queries as well. A `forecasts` event (points imported
// or pushed, a series removed, an anomaly flagged, a goal at risk or recovered) reloads every
// forecasts query (series, forecasts, anomalies, goals, the health score); a `config` event
// reloads them too, since the health score's KPIs live in the config file. A `reports` event
// (a report made, a delivery sent or failed) reloads the reports list; a `config` event does
// too, since the schedule, formats and recipients it shows live in `[reports]`.
import type { Query, QueryClient } from "@tanstack/react-query";
import type { CallRecord, ServerMessage } from "../generated/api";
import { applyCallEvent } from "./calls";
import { costsStale } from "./costs";

/** Topics whose events change what queries return. */
const QUERY_TOPICS = new Set(["config", "health", "tasks", "runs", "approvals", "costs", "forecasts", "reports"]);

export type Invalidation =
  | { kind: "none" }
  | { kind: "all" }
  | { kind: "topic"; topic: string; also?: readonly string[] }
  // A ledger row: added to the loaded list as it is (see data/calls.ts).
  | { kind: "call"; record: CallRecord };

/** Pure: what `message` invalidates, given whether a welcome was seen before. */
export function invalidationFor(message: ServerMessage, welcomedBefore: boolean): Invalidation {
  if (message.type === "welcome") {
    return welcomedBefore || message.resync ? { kind: "all" } : { kind: "none" };
  }
  if (message.type === "event" && message.topic === "calls") return { kind: "call", record: message.payload };
  if (message.type === "event" && message.topic === "costs" && message.payload.type === "repriced") return { kind: "topic", topic: "costs", also: ["calls"] };
  if (message.type === "event" && message.topic === "config") return { kind: "topic", topic: "config", also: ["forecasts", "reports"] };
  if (message.type === "event" && QUERY_TOPICS.has(message.topic)) return { kind: "topic", topic: message.topic };
  return { kind: "none" };
}

// Queries an event made stale while they were loading: the answer on its way may predate the
// change, so they load once more when it lands (see `applyInvalidation`).
const staleWhileLoading = new WeakSet<Query>();
const watched = new WeakSet<QueryClient>();

function watch(client: QueryClient): void {
  if (watched.has(client)) return;
  watched.add(client);
  client.getQueryCache().subscribe((event) => {
    if (event.type !== "updated" || (event.action.type !== "success" && event.action.type !== "error")) return;
    const query = event.query as Query;
    if (!staleWhileLoading.has(query)) return;
    staleWhileLoading.delete(query);
    void client.invalidateQueries({ queryKey: query.queryKey, exact: true }, { cancelRefetch: false });
  });
}

/**
 * Applies an invalidation. A query already loading is not cancelled (under a burst of events
 * that would restart it forever); it is marked instead, and loads once more when its current
 * answer lands, so the change that arrived meanwhile is never missed.
 */
export function applyInvalidation(client: QueryClient, inv: Invalidation): void {
  if (inv.kind === "none") return;
  if (inv.kind === "call") {
    applyCallEvent(client, inv.record);
    costsStale(client);
    return;
  }
  watch(client);
  const all = inv.kind === "all" ? [{}] : [inv.topic, ...(inv.also ?? [])].map((topic) => ({ queryKey: [topic] }));
  for (const filters of all) {
    for (const q of client.getQueryCache().findAll(filters)) {
      if (q.state.fetchStatus === "fetching") staleWhileLoading.add(q);
    }
    void client.invalidateQueries(filters, { cancelRefetch: false });
  }
}
