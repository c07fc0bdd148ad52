// @vitest-environment happy-dom
// The budgets panel with burn forecasts: a budget projected to run out, one exhausted, one not
// projected to run out this period, one without a projection (and why), and a `projected`
// alert in the alerts table.
import { QueryClientProvider } from "@tanstack/react-query";
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ApiProvider } from "../api/context";
import type { Backend } from "../backend/backend";
import { BackendProvider } from "../backend/context";
import { ConfirmProvider } from "../components/ConfirmDialog";
import { ToastProvider } from "../components/Toasts";
import { createQueryClient } from "../data/queryClient";
import type { AlertRecord, BudgetStatus, BurnForecast, Exhaustion, ForecastRow as BurnPoint } from "../generated/api";
import { BudgetsPanel } from "./Budgets";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const NOW = "2026-12-20T12:00:00Z";
const START = "2026-12-01T00:00:00Z";
const END = "2027-01-01T00:00:00Z";
/** No-break space: "80 %". */
const NB = "\u00a0";

function pt(ds: string, mean: number, lo80: number, hi80: number, lo95: number, hi95: number): BurnPoint {
  return { ds, mean, lo80, hi80, lo95, hi95 };
}

/** A forecast from $6 spent now, its end point given, with a path through the middle of the rest of the month. */
function forecast(end: BurnPoint, exhaustion: Exhaustion): BurnForecast {
  const mid = (a: number) => 6 + (a - 6) / 2;
  return {
    model: "hour_of_week",
    reason: "lowest backtest error: hour_of_week 0.121, hour_of_day 0.153, flat 0.211",
    computed_at: NOW,
    history_hours: 672,
    backtest_origins: 26,
    coverage80: 0.85,
    coverage95: 0.96,
    end,
    exhaustion,
    path: [pt("2026-12-20T13:00:00Z", 6.05, 6.04, 6.06, 6.03, 6.07), pt("2026-12-26T06:00:00Z", mid(end.mean), mid(end.lo80), mid(end.hi80), mid(end.lo95), mid(end.hi95)), end],
  };
}

function budget(name: string, limit: string, spent: string, f: BurnForecast | null): BudgetStatus {
  const l = Number(limit);
  const s = Number(spent);
  return {
    name,
    active: true,
    config: { limit_usd: limit, period: "monthly", action: "alert", thresholds: [50, 80, 100], include_free: false },
    fired: [],
    forecast: f,
    limit_usd: limit,
    percent: Math.round((s / l) * 1000) / 10,
    period_start: START,
    period_end: END,
    remaining: String(Math.max(0, l - s)),
    reserved: "0",
    spent,
    time_zone: "UTC",
    unknown_cost_calls: 0,
  };
}

const BUDGETS: BudgetStatus[] = [
  budget(
    "runs-out",
    "10",
    "6",
    forecast(pt(END, 14.2, 12.1, 16.9, 11, 18.5), {
      status: "projected",
      at: "2026-12-25T12:00:00Z",
      earliest80: "2026-12-24T20:00:00Z",
      latest80: "2026-12-27T03:00:00Z",
      earliest95: "2026-12-24T09:00:00Z",
    }),
  ),
  budget("spent", "5", "6", forecast(pt(END, 14.2, 12.1, 16.9, 11, 18.5), { status: "exhausted", at: NOW, earliest80: NOW, latest80: NOW, earliest95: NOW, latest95: NOW })),
  budget("roomy", "40", "6", forecast(pt(END, 14.2, 12.1, 16.9, 11, 18.5), { status: "not_within_period" })),
  budget("new", "10", "0.4", {
    model: "none",
    reason: "30 hours of spend: a projection needs at least 48",
    computed_at: NOW,
    history_hours: 0,
    backtest_origins: 0,
    path: [],
  }),
  // A node without forecasts: the bar as before.
  budget("old", "10", "1", null),
];

const ALERTS: AlertRecord[] = [
  { budget: "runs-out", kind: "projected", threshold: 100, fired_at: NOW, period_start: START, spent: "6", limit_usd: "10", attempts: 0 },
  { budget: "spent", kind: "blocked", threshold: 100, fired_at: NOW, period_start: START, spent: "5", limit_usd: "5", attempts: 0 },
  { budget: "runs-out", kind: "threshold", threshold: 50, fired_at: "2026-12-15T08:00:00Z", period_start: START, spent: "5.01", limit_usd: "10", attempts: 0 },
];

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

class FakeBackend implements Backend {
  readonly kind = "web" as const;
  readonly baseUrl = "http://node.test";
  readonly session = null;
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const route = `${request.method} ${url.pathname}`;
    if (route === "GET /api/v1/budgets") return json(200, { items: BUDGETS });
    if (route === "GET /api/v1/costs/alerts") return json(200, { items: ALERTS });
    return json(404, { error: { code: "not_found", message: "no route", request_id: "r0" } });
  }
  subscribe() {
    return () => undefined;
  }
}

let container: HTMLDivElement;
let root: Root;

beforeEach(() => {
  container = document.createElement("div");
  document.body.appendChild(container);
  root = createRoot(container);
});

afterEach(async () => {
  await act(async () => root.unmount());
  container.remove();
});

async function render() {
  const backend = new FakeBackend();
  const client = createQueryClient(() => undefined);
  await act(async () => {
    root.render(
      <BackendProvider backend={backend}>
        <QueryClientProvider client={client}>
          <ApiProvider>
            <ToastProvider>
              <ConfirmProvider>
                <BudgetsPanel />
              </ConfirmProvider>
            </ToastProvider>
          </ApiProvider>
        </QueryClientProvider>
      </BackendProvider>,
    );
  });
  // Let the fetches resolve and the query cache notify (it batches on a 0 ms timer).
  for (let i = 0; i < 6; i++) {
    await act(async () => {
      await new Promise((r) => setTimeout(r, 0));
    });
  }
}

const item = (name: string) => {
  const el = container.querySelector(`[data-testid="budget"][data-name="${name}"]`);
  if (!el) throw new Error(`no budget ${name}`);
  return el;
};
const within = (el: Element, id: string) => el.querySelector(`[data-testid="${id}"]`);
const text = (el: Element | null) => el?.textContent ?? "";

describe("budget burn forecasts", () => {
  it("projected: the mean and the 80 % band on the bar, when it runs out (a warning), the chart and the model", async () => {
    await render();
    const b = item("runs-out");
    const f = within(b, "budget-forecast");
    expect(f?.getAttribute("data-status")).toBe("projected");
    expect(text(within(b, "budget-projected"))).toBe(`Projected $14.20 by period end (80${NB}%: $12.10–$16.90)`);
    const runsOut = within(b, "budget-exhaustion");
    expect(text(runsOut)).toBe(`Runs out ~2026-12-25 12:00 UTC (95${NB}%: 2026-12-24 09:00 UTC – after the period)`);
    expect(runsOut?.classList.contains("budget-exhaustion-warn")).toBe(true);
    expect(runsOut?.querySelector("svg.icon")).not.toBeNull();

    // The limit is $10: the mean ($14.20) sits at the bar's end and the band runs off it.
    const bar = within(b, "budget-bar");
    expect(bar?.getAttribute("role")).toBe("img");
    expect(bar?.getAttribute("aria-label")).toBe(`60% spent, 0% reserved; projected 142% of the limit by period end (80${NB}%: 121–169%)`);
    const band = within(b, "budget-forecast-band") as HTMLElement;
    expect(band.style.left).toBe("100%");
    expect(band.getAttribute("data-overflow")).toBe("true");
    expect(within(b, "budget-overflow")?.getAttribute("title")).toBe("Projected past the limit");
    expect(within(b, "budget-forecast-mean")?.classList.contains("budget-forecast-mean-over")).toBe(true);

    const chart = within(b, "budget-burn-chart");
    expect(chart?.getAttribute("role")).toBe("img");
    expect(chart?.getAttribute("aria-label")).toBe(
      `Projected cumulative spend from $6.00 now to $14.20 by 2027-01-01 00:00 UTC (80${NB}%: $12.10–$16.90; 95${NB}%: $11.00–$18.50), against a limit of $10.00; the mean reaches the limit ~2026-12-25 12:00 UTC.`,
    );
    expect(chart?.querySelectorAll(".burn-band95, .burn-band80, .burn-mean, .burn-limit, .burn-at")).toHaveLength(5);
    const model = within(b, "budget-forecast-model");
    expect(text(model)).toBe(`hour-of-week model · 80${NB}% intervals held 85${NB}% in backtest, 95${NB}% held 96${NB}% · 26 origins, 28 days of spend`);
    expect(model?.getAttribute("title")).toContain("lowest backtest error");
  });

  it("exhausted", async () => {
    await render();
    const b = item("spent");
    expect(within(b, "budget-forecast")?.getAttribute("data-status")).toBe("exhausted");
    const e = within(b, "budget-exhaustion");
    expect(text(e)).toBe("Exhausted");
    expect(e?.classList.contains("budget-exhaustion-over")).toBe(true);
    expect(within(b, "budget-burn-chart")?.getAttribute("aria-label")).toMatch(/the limit is reached already\.$/);
    // The existing figures are unchanged.
    expect(text(within(b, "budget-figures"))).toContain("$6.00 of $5.00");
  });

  it("not projected to run out this period: the band inside the bar, no overflow, no run-out mark", async () => {
    await render();
    const b = item("roomy");
    expect(within(b, "budget-forecast")?.getAttribute("data-status")).toBe("not_within_period");
    const e = within(b, "budget-exhaustion");
    expect(text(e)).toBe("Not projected to run out this period");
    expect(e?.classList.contains("budget-exhaustion-ok")).toBe(true);
    expect(e?.querySelector("svg.icon")).toBeNull();
    expect(text(within(b, "budget-projected"))).toBe(`Projected $14.20 by period end (80${NB}%: $12.10–$16.90)`);
    const band = within(b, "budget-forecast-band") as HTMLElement;
    expect(band.style.left).toBe("30.3%");
    expect(band.style.width).toBe("12%");
    expect(band.getAttribute("data-overflow")).toBe("false");
    expect(within(b, "budget-overflow")).toBeNull();
    expect(within(b, "budget-burn-chart")?.querySelector(".burn-at")).toBeNull();
    expect(within(b, "budget-bar")?.getAttribute("aria-label")).toBe(`15% spent, 0% reserved; projected 36% of the limit by period end (80${NB}%: 30–42%)`);
  });

  it("no projection: why, in muted text, and nothing on the bar", async () => {
    await render();
    const b = item("new");
    const f = within(b, "budget-forecast");
    expect(f?.getAttribute("data-model")).toBe("none");
    expect(text(f)).toBe("No projection: 30 hours of spend: a projection needs at least 48");
    expect(f?.classList.contains("muted")).toBe(true);
    expect(within(b, "budget-forecast-band")).toBeNull();
    expect(within(b, "budget-burn-chart")).toBeNull();
    expect(within(b, "budget-bar")?.getAttribute("aria-label")).toBe("4% spent, 0% reserved");
  });

  it("a node without forecasts shows the bar alone", async () => {
    await render();
    const b = item("old");
    expect(within(b, "budget-forecast")).toBeNull();
    expect(within(b, "budget-bar")?.getAttribute("aria-label")).toBe("10% spent, 0% reserved");
  });

  it("labels a projected alert", async () => {
    await render();
    const rows = [...container.querySelectorAll('[data-testid="budget-alert"]')].map((r) => [...r.querySelectorAll("td")].slice(1, 3).map((td) => td.textContent));
    expect(rows).toEqual([
      ["runs-out", "projected to run out"],
      ["spent", "refused a call"],
      ["runs-out", "50% reached"],
    ]);
  });
});
