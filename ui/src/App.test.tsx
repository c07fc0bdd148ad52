// @vitest-environment happy-dom
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { App } from "./App";
import { ApiError } from "./backend/apiError";
import type { Backend, ConnState, Session, SessionState } from "./backend/backend";
import type { ConfigEvent, ConfigView, GatewayInfo, Goal, HealthReport, HealthTransition, NodeInfo, ServerMessage } from "./generated/api";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const INFO: NodeInfo = {
  version: "0.3.1",
  node_id: "node-7f3a",
  data_dir: "/var/lib/flightdeck",
  database_path: "/var/lib/flightdeck/flightdeck.db",
  schema_version: 4,
  started_at: "2025-01-01T00:00:00Z",
  uptime_seconds: 42,
  config: {
    path: "/etc/flightdeck.toml",
    state: "ok",
    error: null,
    loaded_at: "2025-01-01T00:00:00Z",
    watching: true,
    watch_error: null,
  },
};

const HEALTH: HealthReport = {
  status: "degraded",
  version: "0.3.1",
  uptime_seconds: 42,
  timestamp: "2025-01-01T00:00:42Z",
  dependencies: [
    { name: "database", status: "healthy", response_time_ms: 1.2, last_check: "2025-01-01T00:00:40Z", message: null },
    { name: "secrets", status: "degraded", response_time_ms: 12, last_check: "2025-01-01T00:00:40Z", message: "env only" },
  ],
};

const TRANSITIONS: HealthTransition[] = [
  { id: 2, at: "2025-01-01T00:00:30Z", dependency: "secrets", from: "healthy", to: "degraded", message: "env only" },
  { id: 1, at: "2025-01-01T00:00:01Z", dependency: "database", from: null, to: "healthy", message: null },
];

const CONFIG: ConfigView = {
  status: INFO.config,
  config: {
    server: { listen: "127.0.0.1:7878", allowed_hosts: [], body_limit_bytes: 1048576, insecure_listen: false },
    log: { level: "info", format: "text" },
    secrets: { backend: "keychain" },
    shutdown: { timeout_secs: 10 },
    feed: { metrics_interval_ms: 1000 },
    health: { interval_secs: 15, degraded_after_ms: 1000 },
    cache: { ttl_secs: 3600, max_entries: 10000, max_bytes: 67108864 },
    gateway: { desktop_listen: false, desktop_address: "127.0.0.1:7879", max_request_bytes: 8388608 },
    providers: {},
    routes: {},
    models: {},
    prices: {},
    runs: {},
    agents: {},
    orchestrator: { enabled: true, workers: 8, lease_secs: 30, sweep_secs: 5, provider_concurrency: {} },
    actions: {},
    policies: [],
    mcp: {},
    costs: { time_zone: "UTC", week_start: "monday", default_max_output_tokens: 4096, drift_pct: 2, unpriced: "refuse", alert_webhook: null, alert_webhook_secret: null },
    budgets: {},
    health_score: {},
    reports: { schedule: "off", at_hour: 7, formats: ["html", "pdf"], email_to: [], max_attempts: 3, folder: null, smtp: null, webhook: null, webhook_secret: null },
    approvals: {
      default: { decision: "require_approval", low_risk: "allow", approvers: 1, sla: "24h", on_timeout: "reject" },
      escalation: { warn_before: "15m", steps: [{ after: "0s", notify: "desktop" }], timeout_after: "1h" },
      enable_command_executor: false,
      callback_secret: null,
      allow_loopback_callbacks: false,
    },
  },
};

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

class FakeBackend implements Backend {
  readonly kind = "web" as const;
  readonly baseUrl = "http://node.test";
  session: Session | null = null;
  onMessage: ((m: ServerMessage) => void) | null = null;
  onState: ((s: ConnState) => void) | null = null;
  requests: string[] = [];
  config: ConfigView = CONFIG;
  reloadAnswer: { status: number; body: unknown } = {
    status: 200,
    body: { outcome: "applied", path: "/etc/flightdeck.toml", message: "reloaded", changed: [], restart_required: [] } satisfies ConfigEvent,
  };
  /** When set, every request fails with it (a node or engine that could not start). */
  failWith: ApiError | null = null;
  /** `desktop: null` is a node; a listener state is the desktop app. */
  gateway: GatewayInfo = { models: [{ id: "default", owned_by: "route" }], desktop: null };
  patches: unknown[] = [];
  /** Absent: the node answers 404 (no forecasts), as before they existed. */
  goals: Goal[] | null = null;
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    this.requests.push(`${request.method} ${url.pathname}${url.search}`);
    if (this.failWith) {
      const e = this.failWith;
      return Promise.resolve(json(e.status, { error: { code: e.code, message: e.message, request_id: e.requestId } }));
    }
    const route = `${request.method} ${url.pathname}`;
    if (route === "GET /api/v1/info") return Promise.resolve(json(200, INFO));
    if (route === "GET /api/v1/config") return Promise.resolve(json(200, this.config));
    if (route === "POST /api/v1/config/reload") return Promise.resolve(json(this.reloadAnswer.status, this.reloadAnswer.body));
    if (route === "GET /health") return Promise.resolve(json(200, HEALTH));
    if (route === "GET /api/v1/gateway") return Promise.resolve(json(200, this.gateway));
    if (route === "PATCH /api/v1/config") {
      const body = (await request.json()) as { gateway?: { desktop_listen?: boolean } };
      this.patches.push(body);
      const on = body.gateway?.desktop_listen ?? false;
      if (this.gateway.desktop) this.gateway = { ...this.gateway, desktop: { ...this.gateway.desktop, enabled: on, listening: on, bound: on ? "127.0.0.1:7879" : null } };
      return json(200, { outcome: "applied", path: "/etc/flightdeck.toml", message: "applied", changed: ["gateway.desktop_listen"], restart_required: [] } satisfies ConfigEvent);
    }
    if (route === "GET /api/v1/health/transitions") return Promise.resolve(json(200, { items: TRANSITIONS, next_cursor: null }));
    if (route === "GET /api/v1/goals" && this.goals) return Promise.resolve(json(200, { items: this.goals }));
    return Promise.resolve(json(404, { error: { code: "not_found", message: "no route", request_id: "r0" } }));
  }
  subscribe(onMessage: (m: ServerMessage) => void, onState: (s: ConnState) => void) {
    this.onMessage = onMessage;
    this.onState = onState;
    onState("connecting");
    return () => {
      this.onMessage = null;
    };
  }
}

let container: HTMLDivElement;
let root: Root;

/** Lets fetches resolve and the query cache notify (it batches on a 0 ms timer). */
async function settle() {
  for (let i = 0; i < 6; i++) {
    await act(async () => {
      await new Promise((r) => setTimeout(r, 0));
    });
  }
}
async function render(backend: Backend) {
  await act(async () => {
    root.render(<App backend={backend} />);
  });
  await settle();
}
async function go(hash: string) {
  await act(async () => {
    window.location.hash = hash;
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  });
  await settle();
}
async function key(k: string, init: KeyboardEventInit = {}) {
  await act(async () => {
    window.dispatchEvent(new KeyboardEvent("keydown", { key: k, ...init }));
  });
  await settle();
}
async function click(el: Element | null) {
  if (!(el instanceof HTMLElement)) throw new Error("nothing to click");
  await act(async () => el.click());
  await settle();
}
const q = (id: string) => container.querySelector(`[data-testid="${id}"]`);
async function push(b: FakeBackend, m: ServerMessage) {
  await act(async () => b.onMessage?.(m));
  await settle();
}
const metrics = (seq: number, total: number): ServerMessage => ({
  type: "event",
  seq,
  time: `2025-01-01T00:01:${String(seq).padStart(2, "0")}Z`,
  topic: "metrics",
  payload: {
    uptime_seconds: 40 + seq,
    http_requests_total: total,
    http_requests_in_flight: 1,
    feed_subscribers: 1,
    rss_bytes: 50 * 1024 * 1024,
    db_size_bytes: 1 << 20,
    events_published_total: seq,
  },
});

beforeEach(() => {
  window.location.hash = "";
  container = document.createElement("div");
  document.body.appendChild(container);
  root = createRoot(container);
});

afterEach(async () => {
  await act(async () => root.unmount());
  container.remove();
});

describe("App", () => {
  it("shows node info and live data from the feed on the overview", async () => {
    const b = new FakeBackend();
    await render(b);
    expect(q("screen-overview")).not.toBeNull();
    expect(q("conn-status")?.getAttribute("data-state")).toBe("connecting");
    expect(q("node-version")?.textContent).toBe("0.3.1");
    expect(q("node-id")?.textContent).toBe("node-7f3a");

    await push(b, { type: "welcome", node_id: "node-7f3a", seq: 0, resumed: false, resync: false });
    expect(q("conn-status")?.getAttribute("data-state")).toBe("connected");
    await push(b, metrics(1, 100));
    await push(b, metrics(2, 105));
    expect(q("live-requests")?.textContent).toBe("105");
    expect(q("live-uptime")?.textContent).toBe("42");
    expect(q("live-seq")?.textContent).toBe("2");
    expect(container.querySelectorAll(".spark-line").length).toBeGreaterThan(0);

    await act(async () => b.onState?.("reconnecting"));
    expect(q("conn-status")?.getAttribute("data-state")).toBe("reconnecting");
  });

  it("navigates by hash to every screen", async () => {
    const b = new FakeBackend();
    await render(b);
    for (const id of ["agents", "approvals", "health", "costs", "forecasts", "reports", "fleet", "settings", "overview"]) {
      await go(`#/${id}`);
      expect(q(`screen-${id}`)).not.toBeNull();
      expect(q(`nav-${id}`)?.getAttribute("aria-current")).toBe("page");
    }
  });

  it("lists dependencies with their status on the health screen", async () => {
    window.location.hash = "#/health";
    const b = new FakeBackend();
    await render(b);
    expect(q("health-overall")?.getAttribute("data-status")).toBe("degraded");
    expect(q("health-row-database")?.getAttribute("data-status")).toBe("healthy");
    expect(q("health-row-secrets")?.getAttribute("data-status")).toBe("degraded");
    expect(q("health-row-secrets")?.textContent).toContain("env only");
  });

  it("refetches health at once when the node announces a status change", async () => {
    window.location.hash = "#/health";
    const b = new FakeBackend();
    await render(b);
    const healthLoads = () => b.requests.filter((r) => r === "GET /health").length;
    const before = healthLoads();
    expect(before).toBeGreaterThan(0);
    await push(b, {
      type: "event",
      seq: 3,
      time: "2025-01-01T00:02:00Z",
      topic: "health",
      payload: { dependency: "secrets", from: "degraded", to: "healthy", message: null },
    });
    expect(healthLoads()).toBe(before + 1);
    // The history refreshes with it.
    expect(b.requests.filter((r) => r.startsWith("GET /api/v1/health/transitions")).length).toBe(2);
  });

  it("makes no requests while idle: metrics samples and time passing refresh nothing", async () => {
    const b = new FakeBackend();
    await render(b);
    await push(b, { type: "welcome", node_id: "node-7f3a", seq: 0, resumed: false, resync: false });
    const loaded = b.requests.length;
    expect(loaded).toBeGreaterThan(0);
    for (let seq = 1; seq <= 5; seq++) await push(b, metrics(seq, 100 + seq));
    await act(async () => {
      await new Promise((r) => setTimeout(r, 50));
    });
    expect(b.requests.slice(loaded)).toEqual([]);
    // A reconnection (the node may have restarted) refreshes what is shown, once (the
    // sidebar's badges included: pending approvals, goals at risk).
    await push(b, { type: "welcome", node_id: "node-7f3a", seq: 5, resumed: true, resync: false });
    expect(b.requests.slice(loaded).sort()).toEqual(["GET /api/v1/approvals/stats", "GET /api/v1/goals", "GET /api/v1/info", "GET /health"]);
  });

  it("opens a transition in a drawer from a deep link, and closes it back to the screen", async () => {
    window.location.hash = "#/health/transitions/2";
    const b = new FakeBackend();
    await render(b);
    expect(q("screen-health")).not.toBeNull();
    const drawer = q("transition-drawer");
    expect(drawer?.hasAttribute("open")).toBe(true);
    expect(drawer?.textContent).toContain("env only");
    expect(q("json-view")?.textContent).toContain('"dependency": "secrets"');
    await click(q("drawer-close"));
    expect(window.location.hash).toBe("#/health");
    expect(q("transition-drawer")?.hasAttribute("open")).toBe(false);
    // A row opens it again.
    await click(container.querySelector('[data-testid="health-transition"][data-dependency="database"]'));
    expect(window.location.hash).toBe("#/health/transitions/1");
    expect(q("transition-drawer")?.textContent).toContain("first check");
  });

  it("counts the goals at risk in the sidebar, live, and toasts a goal falling at risk", async () => {
    const b = new FakeBackend();
    const goal = (name: string, atRisk: boolean): Goal => ({
      name,
      series: "revenue",
      target: 200,
      due: "2025-02-01T00:00:00Z",
      direction: "at_least",
      alert_below: 0.5,
      created_at: "2025-01-01T00:00:00Z",
      at_risk: atRisk,
      probability: atRisk ? 0.2 : 0.9,
      reason: "forecast",
    });
    b.goals = [goal("a", true), goal("b", false)];
    await render(b);
    expect(q("forecasts-badge")?.textContent).toBe("1");
    expect(q("forecasts-badge")?.getAttribute("aria-label")).toBe("1 goal at risk");
    b.goals = [goal("a", true), goal("b", true)];
    await push(b, {
      type: "event",
      seq: 4,
      time: "2025-01-01T00:02:00Z",
      topic: "forecasts",
      payload: { type: "goal", goal: "b", series: "revenue", at_risk: true, probability: 0.2, alert_below: 0.5, target: 200, due: "2025-02-01T00:00:00Z" },
    });
    expect(q("forecasts-badge")?.textContent).toBe("2");
    expect(q("toast")?.textContent).toContain("Goal b at risk");
    b.goals = [];
    await push(b, { type: "event", seq: 5, time: "2025-01-01T00:03:00Z", topic: "forecasts", payload: { type: "series_removed", series: "revenue" } });
    expect(q("forecasts-badge")).toBeNull();
  });

  it("says so for an address that names no screen", async () => {
    window.location.hash = "#/nowhere";
    await render(new FakeBackend());
    expect(q("screen-not-found")).not.toBeNull();
  });

  it("moves between screens with g-then-key shortcuts and shows them on ?", async () => {
    const b = new FakeBackend();
    await render(b);
    await key("g");
    await key("h");
    expect(q("screen-health")).not.toBeNull();
    await key("g");
    await key("s");
    expect(q("screen-settings")).not.toBeNull();
    await key("?", { shiftKey: true });
    expect(q("shortcuts-help")?.hasAttribute("open")).toBe(true);
    expect(q("shortcuts-help")?.textContent).toContain("Go to Health");
  });

  it("reloads the configuration after a confirmation, and toasts the outcome", async () => {
    window.location.hash = "#/settings";
    const b = new FakeBackend();
    await render(b);
    await click(q("config-reload"));
    expect(q("confirm")?.hasAttribute("open")).toBe(true);
    await click(q("confirm-cancel"));
    expect(b.requests).not.toContain("POST /api/v1/config/reload");

    await click(q("config-reload"));
    await click(q("confirm-ok"));
    expect(b.requests).toContain("POST /api/v1/config/reload");
    expect(q("toast")?.textContent).toContain("Configuration reloaded");

    // A failure is a toast with the node's code.
    b.reloadAnswer = { status: 400, body: { error: { code: "bad_request", message: "no config file", request_id: "r7" } } };
    await click(q("config-reload"));
    await click(q("confirm-ok"));
    const failed = container.querySelector('[data-testid="toast"][data-code="bad_request"]');
    expect(failed?.textContent).toContain("no config file");
    expect(failed?.textContent).toContain("r7");
  });

  it("shows what the last configuration change changed", async () => {
    window.location.hash = "#/settings";
    const b = new FakeBackend();
    await render(b);
    expect(q("config-values")?.textContent).toContain('"level": "info"');
    expect(q("config-no-change")).not.toBeNull();
    b.config = { ...CONFIG, config: { ...CONFIG.config, log: { level: "debug", format: "text" } } };
    await push(b, {
      type: "event",
      seq: 9,
      time: "2025-01-01T00:03:00Z",
      topic: "config",
      payload: { outcome: "applied", path: "/etc/flightdeck.toml", message: "reloaded", changed: ["log.level"], restart_required: [] },
    });
    const row = container.querySelector('[data-testid="json-diff-row"]');
    expect(row?.getAttribute("data-path")).toBe("log.level");
    expect(row?.textContent).toContain('"info"');
    expect(row?.textContent).toContain('"debug"');
  });

  it("on a node, shows the gateway's base URLs and models", async () => {
    window.location.hash = "#/settings";
    const b = new FakeBackend();
    await render(b);
    expect(q("gateway-switch")).toBeNull();
    expect(q("gateway-urls")?.textContent).toContain("http://node.test/v1");
    expect(q("gateway-models")?.textContent).toContain("default");
  });

  it("in the desktop, the gateway switch writes the setting and shows the listener", async () => {
    window.location.hash = "#/settings";
    const b = new FakeBackend();
    b.gateway = { ...b.gateway, desktop: { enabled: false, address: "127.0.0.1:7879", listening: false, bound: null, error: null } };
    await render(b);
    const sw = q("gateway-switch") as HTMLInputElement;
    expect(sw.checked).toBe(false);
    expect(q("gateway-state")?.getAttribute("data-listening")).toBe("false");
    await click(sw);
    expect(b.patches).toEqual([{ gateway: { desktop_listen: true } }]);
    expect(q("gateway-state")?.textContent).toContain("Listening on 127.0.0.1:7879");
    expect(q("gateway-urls")?.textContent).toContain("http://127.0.0.1:7879/v1");
    expect(container.querySelector('[data-testid="toast"]')?.textContent).toContain("Gateway switched on");
  });

  it("shows why the desktop gateway is not listening", async () => {
    window.location.hash = "#/settings";
    const b = new FakeBackend();
    b.gateway = { ...b.gateway, desktop: { enabled: true, address: "127.0.0.1:7879", listening: false, bound: null, error: "cannot listen on 127.0.0.1:7879: Address in use" } };
    await render(b);
    expect((q("gateway-switch") as HTMLInputElement).checked).toBe(true);
    expect(q("gateway-state")?.textContent).toContain("Address in use");
  });

  it("shows whether the configuration file is watched", async () => {
    window.location.hash = "#/settings";
    const b = new FakeBackend();
    await render(b);
    expect(q("config-watching")?.getAttribute("data-watching")).toBe("true");
  });

  it("raises the config banner on a rejected reload and clears it on an applied one", async () => {
    const b = new FakeBackend();
    await render(b);
    expect(q("config-banner")).toBeNull();
    const config = (seq: number, outcome: "applied" | "rejected", message: string): ServerMessage => ({
      type: "event",
      seq,
      time: `2025-01-01T00:10:0${seq}Z`,
      topic: "config",
      payload: { outcome, path: "/etc/flightdeck.toml", message, changed: [], restart_required: [] },
    });
    await push(b, config(1, "rejected", "listen: invalid socket address"));
    expect(q("config-banner")?.textContent).toContain("listen: invalid socket address");
    await push(b, config(2, "applied", "reloaded"));
    expect(q("config-banner")).toBeNull();
  });

  it("says why when the engine could not start, and not for a node that is merely restarting", async () => {
    const b = new FakeBackend();
    b.failWith = new ApiError(503, "schema_too_new", "Flightdeck could not start: the database is newer", "startup");
    await render(b);
    expect(q("startup-banner")?.getAttribute("data-code")).toBe("schema_too_new");
    expect(q("startup-banner")?.textContent).toContain("could not start: the database is newer");

    const restarting = new FakeBackend();
    restarting.failWith = new ApiError(503, "unavailable", "the node is shutting down");
    await act(async () => root.unmount());
    root = createRoot(container);
    await render(restarting);
    expect(q("startup-banner")).toBeNull();
  });

  it("shows the sign-in form when the session has no token", async () => {
    const b = new FakeBackend();
    const state: SessionState = { signedIn: false, notice: "The node did not accept the saved token. Sign in again." };
    b.session = {
      state: () => state,
      signIn: async () => {
        throw new ApiError(401, "unauthorized", "bad");
      },
      signOut: () => undefined,
      subscribe: () => () => undefined,
    };
    await render(b);
    expect(q("signin-form")).not.toBeNull();
    expect(q("screen-overview")).toBeNull();
    expect(q("conn-status")?.getAttribute("data-state")).toBe("unauthorized");
    expect(q("signin-error")?.textContent).toContain("did not accept");
    expect(b.onMessage).toBeNull();
  });
});
