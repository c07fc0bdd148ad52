import { QueryClient, QueryObserver } from "@tanstack/react-query";
import { describe, expect, it } from "vitest";
import type { ServerMessage } from "../generated/api";
import { forecastKeys } from "./forecasts";
import { applyInvalidation, invalidationFor } from "./invalidation";
import { reconcileKeys } from "./reconcile";
import { reportKeys } from "./reports";

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("applyInvalidation", () => {
  it("loads a query again when an event arrived while it was loading", async () => {
    const client = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
    const answers: ((v: number) => void)[] = [];
    // An observed (active) query, as on a screen.
    const observer = new QueryObserver(client, {
      queryKey: ["runs", "list"],
      queryFn: () => new Promise<number>((resolve) => answers.push(resolve)),
    });
    const unsubscribe = observer.subscribe(() => undefined);
    await tick();
    expect(answers.length).toBe(1);
    // The node changes while the first answer (with the old state) is on its way.
    applyInvalidation(client, { kind: "topic", topic: "runs" });
    answers[0]?.(0);
    await tick();
    // A second load started on its own, and its answer is the new state.
    expect(answers.length).toBe(2);
    answers[1]?.(1);
    await tick();
    expect(client.getQueryData(["runs", "list"])).toBe(1);
    // Quiet again: no event, no load.
    await tick();
    expect(answers.length).toBe(2);
    unsubscribe();
  });
});

function costsEvent(payload: Extract<ServerMessage, { type: "event"; topic: "costs" }>["payload"]): ServerMessage {
  return { type: "event", seq: 7, time: "2026-03-01T00:00:00Z", topic: "costs", payload };
}

describe("costs events", () => {
  it("reload the reconciliations and price gaps; a re-pricing the calls too", () => {
    const client = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
    const keys = [reconcileKeys.list, reconcileKeys.one("rec_1"), reconcileKeys.priceGaps, ["costs", "budgets"], ["calls", "one", "c1"], ["runs", "list"]];
    const stale = () => keys.filter((k) => client.getQueryState(k)?.isInvalidated).map((k) => k.join("/"));
    const reset = () => {
      for (const k of keys) client.setQueryData(k, 1);
    };

    reset();
    const imported = invalidationFor(costsEvent({ type: "reconciliation", id: "rec_1", drifted_days: 2 }), true);
    expect(imported).toEqual({ kind: "topic", topic: "costs" });
    applyInvalidation(client, imported);
    expect(stale()).toEqual(["costs/reconciliations/list/50", "costs/reconciliations/one/rec_1", "costs/price-gaps", "costs/budgets"]);

    reset();
    applyInvalidation(client, invalidationFor(costsEvent({ type: "reconciliation", id: "rec_1", drifted_days: 0, removed: true }), true));
    expect(stale()).toContain("costs/reconciliations/list/50");

    reset();
    const repriced = invalidationFor(costsEvent({ type: "repriced", batch: "b1", corrected: 3, delta: "0.12" }), true);
    expect(repriced).toEqual({ kind: "topic", topic: "costs", also: ["calls"] });
    applyInvalidation(client, repriced);
    expect(stale()).toEqual(["costs/reconciliations/list/50", "costs/reconciliations/one/rec_1", "costs/price-gaps", "costs/budgets", "calls/one/c1"]);
  });
});

describe("forecasts events", () => {
  it("reload every forecasts query (series, forecasts, anomalies, goals, the health score); a config event the health score too", () => {
    const client = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
    const keys = [
      forecastKeys.series,
      forecastKeys.forecast("orders", null),
      forecastKeys.forecast("orders", 60),
      forecastKeys.anomalies("orders"),
      forecastKeys.goals,
      forecastKeys.healthScore,
      ["costs", "budgets"],
      ["config", "view"],
    ];
    const stale = () => keys.filter((k) => client.getQueryState(k)?.isInvalidated).map((k) => k.join("/"));
    const reset = () => {
      for (const k of keys) client.setQueryData(k, 1);
    };
    const event = (payload: Extract<ServerMessage, { type: "event"; topic: "forecasts" }>["payload"]): ServerMessage => ({
      type: "event",
      seq: 9,
      time: "2026-12-07T00:00:00Z",
      topic: "forecasts",
      payload,
    });
    const forecasts = ["forecasts/series", "forecasts/forecast/orders/default", "forecasts/forecast/orders/60", "forecasts/anomalies/orders/100", "forecasts/goals", "forecasts/health-score"];

    for (const payload of [
      { type: "series_updated", series: "orders", points: 1, imported: false },
      { type: "series_removed", series: "orders" },
      { type: "anomaly", series: "orders", ds: "2026-12-07T00:00:00Z", value: 9, expected: 1, lo95: 0, hi95: 2, source: "forecast", detected_at: "2026-12-07T00:00:00Z" },
      { type: "goal", goal: "q1", series: "orders", at_risk: true, probability: 0.1, alert_below: 0.5, target: 5, due: "2026-12-20T00:00:00Z" },
    ] as const) {
      reset();
      const inv = invalidationFor(event(payload), true);
      expect(inv).toEqual({ kind: "topic", topic: "forecasts" });
      applyInvalidation(client, inv);
      expect(stale()).toEqual(forecasts);
    }

    reset();
    const config = invalidationFor(
      { type: "event", seq: 10, time: "2026-12-07T00:00:00Z", topic: "config", payload: { outcome: "applied", path: "/etc/fd.toml", message: "reloaded", changed: ["health_score.orders"], restart_required: [] } },
      true,
    );
    expect(config).toEqual({ kind: "topic", topic: "config", also: ["forecasts", "reports"] });
    applyInvalidation(client, config);
    expect(stale()).toEqual([...forecasts, "config/view"]);
  });
});

describe("reports events", () => {
  it("reload the reports list (a report made, a delivery sent or failed); a config event does too (the schedule)", () => {
    const client = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
    const keys = [reportKeys.list, ["forecasts", "series"], ["costs", "budgets"]];
    const stale = () => keys.filter((k) => client.getQueryState(k)?.isInvalidated).map((k) => k.join("/"));
    const reset = () => {
      for (const k of keys) client.setQueryData(k, 1);
    };
    for (const payload of [
      { type: "generated", id: "rep_1", period: "week", trigger: "manual", title: "Weekly" },
      { type: "delivery", id: "rep_1", channel: "webhook", state: "failed", attempts: 3, error: "HTTP 500" },
    ] as const) {
      reset();
      const inv = invalidationFor({ type: "event", seq: 3, time: "2026-12-07T00:00:00Z", topic: "reports", payload }, true);
      expect(inv).toEqual({ kind: "topic", topic: "reports" });
      applyInvalidation(client, inv);
      expect(stale()).toEqual(["reports/list/50"]);
    }
    reset();
    applyInvalidation(
      client,
      invalidationFor(
        { type: "event", seq: 4, time: "2026-12-07T00:00:00Z", topic: "config", payload: { outcome: "applied", path: "/etc/fd.toml", message: "reloaded", changed: ["reports.schedule"], restart_required: [] } },
        true,
      ),
    );
    expect(stale()).toEqual(["reports/list/50", "forecasts/series"]);
  });
});
