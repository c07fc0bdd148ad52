// @vitest-environment happy-dom
// The Forecasts screen against a fake node: loading, then the chart beside the model; a series
// too short to forecast (cost.daily with little spend); the deep link and the default series;
// the horizon; the CSV import (a preview, then the import; bad rows listed by line and nothing
// imported); goals (probability, at risk, create, remove); the health score configured or not;
// live events (an anomaly reloads and toasts; a refresh that fails keeps the chart); downloads.
import { QueryClientProvider } from "@tanstack/react-query";
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Route, Router } from "wouter";
import { memoryLocation } from "wouter/memory-location";
import { ApiProvider } from "../api/context";
import type { Backend, ConnState } from "../backend/backend";
import { BackendProvider } from "../backend/context";
import { ConfirmProvider } from "../components/ConfirmDialog";
import { ToastProvider } from "../components/Toasts";
import { createQueryClient } from "../data/queryClient";
import { FeedProvider } from "../feed/FeedProvider";
import type { Anomaly, BacktestPoint, ForecastRow, Goal, HealthScore, ImportOutcome, ImportRequest, Point, SeriesForecast, SeriesInfo, ServerMessage } from "../generated/api";
import { themeController } from "../theme/theme";
import { Forecasts } from "./Forecasts";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const NB = "\u00a0";
const DAY = 86_400_000;
const T0 = Date.parse("2026-10-01T00:00:00Z");
const ds = (i: number) => new Date(T0 + i * DAY).toISOString().replace(".000Z", "Z");

const COST: SeriesInfo = { name: "cost.daily", description: "Spend per day", unit: "USD", builtin: true, points: 2, first: ds(0), last: ds(1), last_value: 0.01, anomalies: 0 };
const REVENUE: SeriesInfo = {
  name: "revenue",
  description: "Revenue",
  unit: "USD",
  builtin: false,
  points: 60,
  first: ds(0),
  last: ds(59),
  last_value: 159,
  updated_at: "2026-12-01T00:00:00Z",
  anomalies: 1,
};

function revenueForecast(horizon: number, anomalies: Anomaly[]): SeriesForecast {
  const history: Point[] = Array.from({ length: 60 }, (_, i) => ({ ds: ds(i), value: 100 + i + (i % 7) * 3 }));
  const rows: ForecastRow[] = Array.from({ length: horizon }, (_, k) => ({ ds: ds(60 + k), mean: 160 + k, lo80: 150 + k, hi80: 170 + k, lo95: 140 + k, hi95: 180 + k }));
  const backtest: BacktestPoint[] = Array.from({ length: 20 }, (_, k) => {
    const i = 40 + k;
    const v = history[i]?.value ?? 0;
    return { ds: ds(i), actual: v, mean: v + 1, lo80: v - 4, hi80: v + 6, lo95: v - 8, hi95: v + 10 };
  });
  return {
    series: { ...REVENUE, anomalies: anomalies.length },
    history,
    anomalies,
    forecast: {
      frequency: "daily",
      periods: [7],
      model: "mean(mstl(7)+auto_ets, ar(aic))",
      reason: "the average of the two best candidates scored a lower mean MASE (1.089 against 1.220) over 2 rolling origin(s) of 10 step(s)",
      rows,
      candidates: [
        { model: "naive", mase: 2.36, smape: 8.05, fitted: true },
        { model: "ar(aic)", mase: 1.279, smape: 4.4, fitted: true },
        { model: "mstl(7)+auto_ets", mase: 1.22, smape: 4.38, fitted: true },
        { model: "mean(mstl(7)+auto_ets, ar(aic))", mase: 1.089, smape: 3.8, fitted: true },
        { model: "log mstl(7)+auto_ets", mase: 1.41, smape: 5.01, fitted: false },
      ],
      origins: 2,
      backtest_horizon: 10,
      coverage80: 0.683,
      coverage95: 0.983,
      backtest,
      series: { rows: 62, duplicates: 2, moved: 0, gaps_filled: 1, zeros: 0, negatives: 0 },
    },
  };
}

const OLD_ANOMALY: Anomaly = { series: "revenue", ds: ds(45), value: 190, expected: 146, lo95: 138, hi95: 156, source: "backtest", detected_at: "2026-12-01T00:00:00Z" };

function goal(extra: Partial<Goal> = {}): Goal {
  return {
    name: "q4",
    series: "revenue",
    target: 200,
    due: "2027-01-15T00:00:00Z",
    direction: "at_least",
    alert_below: 0.5,
    baseline: 150,
    created_at: "2026-12-01T00:00:00Z",
    current: 159,
    progress: 0.18,
    expected: 185,
    expected_lo80: 172,
    expected_hi80: 198,
    probability: 0.148,
    at_risk: true,
    reason: "the revenue forecast for 2027-01-15 read as a normal distribution with its measured spread",
    evaluated_at: "2026-12-07T00:00:00Z",
    ...extra,
  };
}

const NO_SCORE: HealthScore = { contributions: [], trend: [], computed_at: "2026-12-07T00:00:00Z" };

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const fail = (status: number, code: string, message: string) => json(status, { error: { code, message, request_id: "r1" } });

function importOutcome(req: ImportRequest, name: string): ImportOutcome {
  const lines = req.csv.trim().split("\n").slice(1);
  const points = lines.map((l) => {
    const [d, v] = l.split(",");
    return { ds: `${d ?? ""}T00:00:00Z`, value: Number(v) };
  });
  return {
    series: name,
    imported: !req.dry_run,
    points: points.length,
    new_points: points.length,
    changed_points: 0,
    removed_points: 0,
    first: points[0]?.ds ?? "",
    last: points.at(-1)?.ds ?? "",
    frequency: "daily",
    report: { rows: points.length + 1, duplicates: 1, moved: 0, gaps_filled: 0, zeros: 0, negatives: 0 },
    head: points.slice(0, 10),
    tail: points.slice(Math.max(10, points.length - 10)),
  };
}

class FakeBackend implements Backend {
  readonly kind = "web" as const;
  readonly baseUrl = "http://node.test";
  readonly session = null;
  requests: string[] = [];
  posts: Array<{ path: string; body: unknown }> = [];
  series: SeriesInfo[] = [COST, REVENUE];
  anomalies: Anomaly[] = [OLD_ANOMALY];
  goals: Goal[] = [goal(), goal({ name: "low-tickets", target: 120, direction: "at_most", probability: 0.91, at_risk: false, reason: "likely" })];
  health: HealthScore = NO_SCORE;
  /** While set, the revenue forecast waits for it. */
  gate: Promise<void> | null = null;
  /** When set, the revenue forecast fails with it. */
  forecastFailure: Response | null = null;
  onMessage: ((m: ServerMessage) => void) | null = null;

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    this.requests.push(`${request.method} ${url.pathname}${url.search}`);
    const route = `${request.method} ${url.pathname}`;
    const body = request.method === "POST" ? ((await request.json()) as unknown) : undefined;
    if (body !== undefined) this.posts.push({ path: url.pathname, body });
    if (route === "GET /api/v1/series") return json(200, { items: this.series });
    if (route === "GET /api/v1/forecasts/cost.daily") return fail(400, "series_too_short", "2 distinct points: a forecast needs at least 3");
    if (route === "GET /api/v1/forecasts/revenue") {
      if (this.gate) await this.gate;
      if (this.forecastFailure) return this.forecastFailure.clone();
      return json(200, revenueForecast(Number(url.searchParams.get("horizon") ?? "30"), this.anomalies));
    }
    if (route.startsWith("GET /api/v1/forecasts/")) return fail(404, "not_found", "no series");
    if (route === "GET /api/v1/series/revenue/anomalies") return json(200, { items: this.anomalies });
    if (/^GET \/api\/v1\/series\/[^/]+\/anomalies$/.test(route)) return json(200, { items: [] });
    const imp = /^POST \/api\/v1\/series\/([^/]+)\/import$/.exec(route);
    if (imp) {
      const req = body as ImportRequest;
      const name = imp[1] ?? "";
      const bad = req.csv
        .split("\n")
        .map((l, i) => ({ l, line: i + 1 }))
        .filter(({ l, line }) => {
          const v = l.split(",")[1] ?? "";
          return line > 1 && l.trim() !== "" && (v.trim() === "" || !Number.isFinite(Number(v)));
        });
      if (bad.length > 0) {
        return fail(400, "invalid_rows", `${String(bad.length)} row(s) do not parse, nothing was used: ${bad.map((b) => `line ${String(b.line)}: \`${b.l.split(",")[1] ?? ""}\` is not a number`).join("; ")}`);
      }
      const o = importOutcome(req, name);
      if (req.dry_run) return json(200, o);
      this.series = [...this.series, { name, description: req.description ?? "", unit: req.unit ?? "", builtin: false, points: o.points, anomalies: 0 }];
      return json(201, o);
    }
    if (route === "GET /api/v1/goals") return json(200, { items: this.goals });
    if (route === "POST /api/v1/goals") {
      const g = body as { name: string; series: string; target: number; due: string; direction: Goal["direction"]; alert_below: number };
      const made = goal({ ...g, probability: 0.62, at_risk: false, reason: "new" });
      this.goals = [...this.goals, made];
      return json(201, made);
    }
    const del = /^DELETE \/api\/v1\/goals\/(.+)$/.exec(route);
    if (del) {
      this.goals = this.goals.filter((g) => g.name !== del[1]);
      return new Response(null, { status: 204 });
    }
    if (route === "GET /api/v1/health-score") return json(200, this.health);
    return fail(404, "not_found", "no route");
  }
  subscribe(onMessage: (m: ServerMessage) => void, onState: (s: ConnState) => void) {
    this.onMessage = onMessage;
    onState("connected");
    return () => {
      this.onMessage = null;
    };
  }
}

let container: HTMLDivElement;
let root: Root;
let location: ReturnType<typeof memoryLocation>;

beforeEach(() => {
  container = document.createElement("div");
  document.body.appendChild(container);
  root = createRoot(container);
});

afterEach(async () => {
  await act(async () => root.unmount());
  container.remove();
});

async function settle() {
  for (let i = 0; i < 8; i++) {
    await act(async () => {
      await new Promise((r) => setTimeout(r, 0));
    });
  }
}

async function render(backend: FakeBackend, path = "/forecasts/revenue") {
  location = memoryLocation({ path, record: true });
  const client = createQueryClient(() => undefined);
  await act(async () => {
    root.render(
      <BackendProvider backend={backend}>
        <ToastProvider>
          <QueryClientProvider client={client}>
            <ApiProvider>
              <ConfirmProvider>
                <Router hook={location.hook}>
                  <FeedProvider>
                    <Route path="/forecasts" nest>
                      <Forecasts />
                    </Route>
                  </FeedProvider>
                </Router>
              </ConfirmProvider>
            </ApiProvider>
          </QueryClientProvider>
        </ToastProvider>
      </BackendProvider>,
    );
  });
  await settle();
}

const q = (id: string, scope: ParentNode = container) => scope.querySelector(`[data-testid="${id}"]`);
const qa = (id: string, scope: ParentNode = container) => [...scope.querySelectorAll(`[data-testid="${id}"]`)];
const text = (el: Element | null | undefined) => el?.textContent ?? "";
/** Dialogs and toasts render in the document (the toasts' list is a sibling of the screen). */
const doc = (id: string) => document.querySelector(`[data-testid="${id}"]`);

async function click(el: Element | null | undefined) {
  if (!(el instanceof HTMLElement)) throw new Error("nothing to click");
  await act(async () => el.click());
  await settle();
}

/** Types into a field as a person would (React listens to the native value setter's input event). */
async function type(el: Element | null | undefined, value: string) {
  if (!(el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement)) throw new Error("not a field");
  const descriptor = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(el) as object, "value");
  await act(async () => {
    descriptor?.set?.call(el, value);
    el.dispatchEvent(new Event(el instanceof HTMLSelectElement ? "change" : "input", { bubbles: true }));
  });
  await settle();
}

async function push(b: FakeBackend, payload: Extract<ServerMessage, { type: "event"; topic: "forecasts" }>["payload"], seq = 1) {
  await act(async () => b.onMessage?.({ type: "event", seq, time: "2026-12-07T00:00:00Z", topic: "forecasts", payload }));
  await settle();
}

describe("the forecast of a series", () => {
  it("loads, then shows the chart beside the model chosen, the candidates, the coverage and the series report", async () => {
    const b = new FakeBackend();
    let release: () => void = () => undefined;
    b.gate = new Promise<void>((r) => {
      release = r;
    });
    await render(b);
    expect(q("screen-forecasts")).not.toBeNull();
    expect(q("forecast-loading")?.getAttribute("aria-busy")).toBe("true");
    expect(q("forecast-chart")).toBeNull();
    b.gate = null;
    await act(async () => release());
    await settle();

    expect(q("forecast-loading")).toBeNull();
    const chart = q("forecast-chart");
    expect(chart?.getAttribute("role")).toBe("img");
    expect(chart?.getAttribute("aria-label")).toBe(
      `revenue: 60 recent daily points from 2026-10-01 to 2026-11-29, last $168.00; forecast 30 days ahead with mean(mstl(7)+auto_ets, ar(aic)): $189.00 by 2026-12-29 (80${NB}%: $179.00–$199.00; 95${NB}%: $169.00–$209.00); 1 anomaly flagged, the latest 2026-11-15 at $190.00 (expected $146.00).`,
    );
    for (const part of ["forecast-history", "forecast-mean", "forecast-band80", "forecast-band95", "forecast-held-mean", "forecast-held-band"]) {
      expect(q(part)?.getAttribute("d"), part).toMatch(/^M/);
    }
    expect(qa("forecast-held-point")).toHaveLength(20);
    const marker = q("forecast-anomaly");
    expect(marker?.getAttribute("data-source")).toBe("backtest");
    expect(text(marker)).toContain("anomaly expected $146.00");

    // The model and why, the candidates best first, the chosen one and the two it averages marked.
    expect(text(q("forecast-model"))).toBe("mean(mstl(7)+auto_ets, ar(aic))");
    expect(text(q("forecast-reason"))).toContain("lower mean MASE");
    const rows = qa("forecast-candidate");
    expect(rows.map((r) => text(r.querySelector("td")))).toEqual([
      "mean(mstl(7)+auto_ets, ar(aic))chosen",
      "mstl(7)+auto_etsaveraged",
      "ar(aic)averaged",
      "naive",
      "log mstl(7)+auto_ets",
    ]);
    expect(rows[0]?.getAttribute("data-chosen")).toBe("true");
    expect(rows[0]?.getAttribute("aria-current")).toBe("true");
    expect(rows[0]?.classList.contains("fc-chosen")).toBe(true);
    expect(text(rows[0])).toContain("1.089");
    expect(text(rows[0])).toContain("3.8%");
    expect(text(rows[4])).toContain("no");
    // Coverage measured against the stated level: 68 % for 80 % (low), 98 % for 95 % (ok).
    const [c80, c95] = qa("forecast-coverage");
    expect(c80?.getAttribute("data-level")).toBe("80");
    expect(text(c80)).toContain(`68${NB}%`);
    expect(c80?.classList.contains("fc-coverage-low")).toBe(true);
    expect(c95?.classList.contains("fc-coverage-ok")).toBe(true);
    expect(text(q("forecast-backtest"))).toContain("2 origins × 10 days (20 held-out points)");
    const report = text(q("forecast-report"));
    expect(report).toContain("daily · season 7 steps");
    expect(report).toContain("duplicates averaged2");
    expect(report).toContain("gaps filled1");

    // The list: the selected series marked, cost.daily built in; the anomalies table.
    const selected = container.querySelector('[data-testid="series-row"][data-selected="true"]');
    expect(selected?.getAttribute("data-name")).toBe("revenue");
    expect(text(container.querySelector('[data-testid="series-row"][data-name="cost.daily"]'))).toContain("built-in");
    expect(qa("anomaly-row").map((r) => r.getAttribute("data-source"))).toEqual(["backtest"]);
    expect((q("forecast-horizon") as HTMLSelectElement).value).toBe("30");
  });

  it("reads the values under the cursor from the keyboard", async () => {
    await render(new FakeBackend());
    const plot = q("forecast-plot") as HTMLElement;
    expect(plot.getAttribute("tabindex")).toBe("0");
    await act(async () => plot.focus());
    await settle();
    // Focus lands on the last point of the history.
    expect(text(q("forecast-readout"))).toContain("2026-11-29");
    await act(async () => plot.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true })));
    await settle();
    const r = text(q("forecast-readout"));
    expect(r).toContain("2026-11-30");
    expect(r).toContain("forecast $160.00");
    expect(r).toContain(`80${NB}% $150.00–$170.00`);
    await act(async () => plot.dispatchEvent(new KeyboardEvent("keydown", { key: "Home", bubbles: true })));
    await settle();
    expect(text(q("forecast-readout"))).toContain("2026-10-01");
  });

  it("says so, with the node's message, when a series is too short to forecast", async () => {
    await render(new FakeBackend(), "/forecasts/cost.daily");
    const note = q("forecast-too-short");
    expect(text(note)).toContain("Not enough points to forecast yet.");
    expect(text(note)).toContain("2 distinct points: a forecast needs at least 3");
    expect(text(note)).toContain("fills in as days pass");
    expect(q("error-note")).toBeNull();
    expect(q("forecast-chart")).toBeNull();
    // Neither a chart nor an empty anomalies table for it.
    expect(q("forecast-anomalies")).toBeNull();
  });

  it("shows the first series that can be forecast, and a row opens its deep link", async () => {
    const b = new FakeBackend();
    b.series = [{ ...COST, points: 0 }, REVENUE];
    await render(b, "/forecasts");
    expect(q("forecast-view")?.getAttribute("data-series")).toBe("revenue");
    await click(container.querySelector('[data-testid="series-row"][data-name="cost.daily"]'));
    expect(location.history.at(-1)).toBe("/forecasts/cost.daily");
    expect(q("forecast-too-short")).not.toBeNull();
    // An unknown name says so.
    await act(async () => location.navigate("/forecasts/nope"));
    await settle();
    expect(text(q("forecast-not-found"))).toContain("There is no series named nope");
  });

  it("asks the node for another horizon", async () => {
    const b = new FakeBackend();
    await render(b);
    await type(q("forecast-horizon"), "60");
    expect(b.requests).toContain("GET /api/v1/forecasts/revenue?horizon=60");
    expect(q("forecast-view")?.getAttribute("data-horizon")).toBe("60");
  });
});

describe("the CSV import", () => {
  const csv = ["date,value", ...Array.from({ length: 25 }, (_, i) => `${ds(i).slice(0, 10)},${String(10 + i)}`)].join("\n");

  it("previews first (nothing imported), then imports and opens the series", async () => {
    const b = new FakeBackend();
    await render(b);
    await click(q("import-open"));
    expect(doc("import-dialog")?.hasAttribute("open")).toBe(true);
    // Import is not possible before a preview.
    expect((doc("import-confirm") as HTMLButtonElement).disabled).toBe(true);
    await type(doc("import-name"), "orders");
    await type(doc("import-csv"), csv);
    await type(doc("import-unit"), "orders");
    await click(doc("import-preview-button"));
    expect(b.posts).toEqual([{ path: "/api/v1/series/orders/import", body: { csv, dry_run: true, unit: "orders" } }]);
    const preview = doc("import-preview");
    expect(text(preview)).toContain("nothing is imported yet");
    expect(text(doc("import-preview-points"))).toBe("25");
    expect(text(doc("import-preview-frequency"))).toBe("daily");
    expect(text(doc("import-preview-report"))).toContain("1 duplicates averaged");
    // The first 10 rows, a gap of 5, the last 10.
    const cells = [...(preview?.querySelectorAll("tbody tr") ?? [])].map((r) => text(r));
    expect(cells).toHaveLength(21);
    expect(cells[0]).toBe(`2026-10-0110${NB}orders`);
    expect(cells[10]).toBe("… 5 more …");
    expect(cells[20]).toBe(`2026-10-2534${NB}orders`);
    expect(b.series.map((s) => s.name)).toEqual(["cost.daily", "revenue"]);

    // A change makes the preview stale.
    await type(doc("import-description"), "Orders per day");
    expect(doc("import-preview")).toBeNull();
    expect((doc("import-confirm") as HTMLButtonElement).disabled).toBe(true);
    await click(doc("import-preview-button"));
    expect(text(doc("import-confirm"))).toBe("Import 25 points");
    await click(doc("import-confirm"));
    expect(b.posts.at(-1)).toEqual({ path: "/api/v1/series/orders/import", body: { csv, description: "Orders per day", unit: "orders" } });
    expect(doc("import-dialog")?.hasAttribute("open")).toBe(false);
    expect(location.history.at(-1)).toBe("/forecasts/orders");
    expect(text(doc("toast"))).toContain("Imported 25 points into orders");
    expect(container.querySelector('[data-testid="series-row"][data-name="orders"]')).not.toBeNull();
  });

  it("lists bad rows by line with the node's message, and imports nothing", async () => {
    const b = new FakeBackend();
    await render(b);
    await click(q("import-open"));
    await type(doc("import-name"), "orders");
    await type(doc("import-csv"), "date,value\n2026-01-01,1\n2026-01-02,abc\n2026-01-03,\n");
    await click(doc("import-preview-button"));
    const err = doc("import-error");
    expect(err?.getAttribute("data-code")).toBe("invalid_rows");
    expect(err?.getAttribute("role")).toBe("alert");
    expect(text(err)).toContain("2 row(s) do not parse, nothing was used");
    expect([...(doc("import-bad-rows")?.querySelectorAll("li") ?? [])].map((li) => li.textContent)).toEqual(["line 3: `abc` is not a number", "line 4: `` is not a number"]);
    expect(text(err)).toContain("Nothing was imported.");
    expect(doc("import-preview")).toBeNull();
    expect((doc("import-confirm") as HTMLButtonElement).disabled).toBe(true);
    expect(b.posts.every((p) => (p.body as ImportRequest).dry_run === true)).toBe(true);
    expect(b.series.map((s) => s.name)).toEqual(["cost.daily", "revenue"]);
  });
});

describe("goals", () => {
  it("show progress, the probability as a percentage, what is expected at the due date, and those at risk", async () => {
    await render(new FakeBackend());
    const risky = container.querySelector('[data-testid="goal"][data-name="q4"]');
    expect(risky?.getAttribute("data-at-risk")).toBe("true");
    expect(risky?.classList.contains("fc-goal-risk")).toBe(true);
    expect(q("goal-at-risk", risky ?? container)).not.toBeNull();
    expect(text(q("goal-probability", risky ?? container))).toContain(`15${NB}%`);
    expect(text(q("goal-expected", risky ?? container))).toContain(`≈ $185.00 (80${NB}%: $172.00–$198.00)`);
    expect(q("goal-reason", risky ?? container)?.getAttribute("data-tip")).toContain("read as a normal distribution");
    expect(q("goal-bar", risky ?? container)?.getAttribute("aria-label")).toContain("18% of the way");
    expect(text(q("goals-at-risk"))).toBe("1 at risk");
    const ok = container.querySelector('[data-testid="goal"][data-name="low-tickets"]');
    expect(ok?.getAttribute("data-at-risk")).toBe("false");
    expect(text(q("goal-probability", ok ?? container))).toContain(`91${NB}%`);
    expect(text(ok)).toContain("at most $120.00 by 2027-01-15");
  });

  it("are set from the form and removed after a confirmation", async () => {
    const b = new FakeBackend();
    await render(b);
    await click(q("goal-new"));
    await type(q("goal-name"), "Bad Name");
    await type(q("goal-target"), "250");
    await type(q("goal-due"), "2027-02-01");
    await click(q("goal-save"));
    expect(text(q("goal-error"))).toContain("A name is 1-64 of a-z");
    expect(b.posts).toEqual([]);
    await type(q("goal-name"), "feb");
    await type(q("goal-alert"), "30");
    await click(q("goal-save"));
    expect(b.posts).toEqual([
      { path: "/api/v1/goals", body: { name: "feb", series: "revenue", target: 250, due: "2027-02-01T00:00:00Z", direction: "at_least", alert_below: 0.3 } },
    ]);
    expect(q("goal-editor")).toBeNull();
    expect(text(q("goal-probability", container.querySelector('[data-testid="goal"][data-name="feb"]') ?? undefined))).toContain(`62${NB}%`);

    await click(q("goal-remove", container.querySelector('[data-testid="goal"][data-name="q4"]') ?? undefined));
    expect(doc("confirm")?.hasAttribute("open")).toBe(true);
    await click(doc("confirm-ok"));
    expect(b.requests).toContain("DELETE /api/v1/goals/q4");
    expect(container.querySelector('[data-testid="goal"][data-name="q4"]')).toBeNull();
  });
});

describe("the health score", () => {
  it("without KPIs configured, says how to configure them", async () => {
    await render(new FakeBackend());
    const none = q("health-score-none");
    expect(text(none)).toContain("No health score is configured");
    expect(text(none)).toContain("[health_score.revenue]");
    expect(text(none)).toContain('direction = "at_least"');
    expect(q("health-score-value")).toBeNull();
  });

  it("shows the score, its change and trend, and each KPI's points, lost points and notes", async () => {
    const b = new FakeBackend();
    b.health = {
      score: 66.67,
      change: 7.28,
      computed_at: "2026-12-07T00:00:00Z",
      trend: [
        { ds: ds(57), score: 59.4 },
        { ds: ds(58), score: 59.39 },
        { ds: ds(59), score: 66.67 },
      ],
      contributions: [
        { series: "revenue", target: 150, weight: 2, direction: "at_least", value: 177, ds: ds(59), attainment: 1, points: 66.67, lost: 0 },
        { series: "tickets", target: 20, weight: 1, direction: "at_most", attainment: 0, points: 0, lost: 33.33, note: "`tickets` has no data: it counts as 0" },
      ],
    };
    await render(b);
    expect(text(q("health-score-value"))).toBe("66.7/ 100");
    expect(q("health-score-value")?.getAttribute("data-tone")).toBe("warn");
    expect(text(q("health-score-change"))).toContain("+7.3");
    expect(text(q("health-score-change"))).toContain("since 2026-11-28");
    expect(q("health-score-trend")?.querySelector("svg[role=img]")).not.toBeNull();
    expect(q("health-score-bar")?.getAttribute("aria-label")).toContain("tickets 0 of 33.33 points (`tickets` has no data: it counts as 0)");
    const kpis = qa("health-score-kpi");
    expect(kpis.map((r) => r.getAttribute("data-series"))).toEqual(["revenue", "tickets"]);
    expect(text(kpis[0])).toContain("$177.00");
    expect(text(kpis[0])).toContain("66.67");
    expect(text(q("health-score-note", kpis[1]))).toBe("`tickets` has no data: it counts as 0");
    expect(text(kpis[1])).toContain("33.33");
  });
});

describe("live", () => {
  it("a new point outside its interval reloads the forecast and the anomalies, and raises a toast", async () => {
    const b = new FakeBackend();
    await render(b);
    const loads = () => b.requests.filter((r) => r.startsWith("GET /api/v1/forecasts/revenue")).length;
    const before = loads();
    const spike: Anomaly = { series: "revenue", ds: ds(59), value: 400, expected: 160, lo95: 150, hi95: 170, source: "forecast", detected_at: "2026-12-07T00:00:00Z" };
    b.anomalies = [spike, OLD_ANOMALY];
    await push(b, { type: "anomaly", ...spike });
    expect(loads()).toBe(before + 1);
    expect(qa("anomaly-row").map((r) => r.getAttribute("data-source"))).toEqual(["forecast", "backtest"]);
    expect(container.querySelector('[data-testid="forecast-anomaly"][data-source="forecast"]')).not.toBeNull();
    expect(text(doc("toast"))).toContain("Anomaly in revenue");
    // A goal falling at risk is a toast too.
    await push(b, { type: "goal", goal: "q4", series: "revenue", at_risk: true, probability: 0.12, alert_below: 0.5, target: 200, due: "2027-01-15T00:00:00Z" }, 2);
    expect([...document.querySelectorAll('[data-testid="toast"]')].map((t) => t.textContent).join(" ")).toContain("Goal q4 at risk");
  });

  it("an outlier found in the history is listed and marked without a toast", async () => {
    const b = new FakeBackend();
    await render(b);
    const old: Anomaly = { series: "revenue", ds: ds(10), value: 420, expected: 168, lo95: 165, hi95: 170, source: "history", detected_at: "2026-12-07T00:00:00Z" };
    b.anomalies = [OLD_ANOMALY, old];
    await push(b, { type: "anomaly", ...old });
    expect(qa("anomaly-row").map((r) => r.getAttribute("data-source"))).toEqual(["backtest", "history"]);
    const row = container.querySelector('[data-testid="anomaly-row"][data-source="history"]');
    expect(text(row)).toContain("history");
    expect(row?.querySelector("[title]")?.getAttribute("title")).toContain("robust standard deviations");
    expect(document.querySelector('[data-testid="toast"]')).toBeNull();
  });

  it("a forecast that cannot be made again keeps the last one, says why, and still lists the anomalies", async () => {
    const b = new FakeBackend();
    await render(b);
    b.forecastFailure = json(400, { error: { code: "bad_request", message: "the chosen model could not be fitted to the whole series", request_id: "r9" } });
    await push(b, { type: "series_updated", series: "revenue", points: 1, imported: false });
    expect(q("forecast-chart")).not.toBeNull();
    const stale = q("forecast-stale");
    expect(stale?.getAttribute("data-code")).toBe("bad_request");
    expect(text(stale)).toContain("the chosen model could not be fitted to the whole series");
    expect(qa("anomaly-row")).toHaveLength(1);
  });
});

describe("downloads", () => {
  it("the chart's theme follows the UI's until one is picked", async () => {
    const ui = themeController();
    await act(async () => ui.setChoice("dark"));
    const b = new FakeBackend();
    await render(b);
    const select = () => q("chart-theme") as HTMLSelectElement;
    expect(select().value).toBe("dark");
    await act(async () => ui.setChoice("light"));
    expect(select().value).toBe("light");
    await type(select(), "dark");
    await act(async () => ui.setChoice("light"));
    expect(select().value).toBe("dark");
    await click(q("chart-download-svg"));
    expect(b.requests).toContain("GET /api/v1/charts/forecast.svg?series=revenue&theme=dark");
    await act(async () => ui.setChoice("system"));
  });

  it("fetch the chart with the client (no token in the URL) and say why one fails", async () => {
    const b = new FakeBackend();
    await render(b);
    await type(q("chart-theme"), "light");
    await click(q("chart-download-png"));
    expect(b.requests).toContain("GET /api/v1/charts/forecast.png?series=revenue&theme=light");
    expect(text(q("chart-download-error"))).toContain("The PNG could not be made: no route (404).");
  });
});
