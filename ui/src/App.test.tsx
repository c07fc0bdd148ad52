// @vitest-environment happy-dom
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { App } from "./App";
import { ApiError } from "./backend/apiError";
import type { Backend, ConnState, HttpMethod, Session, SessionState } from "./backend/backend";
import type { HealthReport, NodeInfo, ServerMessage } from "./generated/api";

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

class FakeBackend implements Backend {
  readonly kind = "web" as const;
  session: Session | null = null;
  onMessage: ((m: ServerMessage) => void) | null = null;
  onState: ((s: ConnState) => void) | null = null;
  requests: string[] = [];
  /** When set, every request fails with it (a node or engine that could not start). */
  failWith: ApiError | null = null;
  async request<T>(method: HttpMethod, path: string): Promise<T> {
    this.requests.push(`${method} ${path}`);
    if (this.failWith) throw this.failWith;
    if (path === "/api/v1/info") return INFO as T;
    if (path === "/health") return HEALTH as T;
    throw new ApiError(404, "not_found", "no route");
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

async function render(backend: Backend) {
  await act(async () => {
    root.render(<App backend={backend} />);
  });
}
const q = (id: string) => container.querySelector(`[data-testid="${id}"]`);
async function push(b: FakeBackend, m: ServerMessage) {
  await act(async () => b.onMessage?.(m));
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
    for (const id of ["agents", "approvals", "health", "costs", "forecasts", "fleet", "settings", "overview"]) {
      await act(async () => {
        window.location.hash = `#/${id}`;
        window.dispatchEvent(new HashChangeEvent("hashchange"));
      });
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
