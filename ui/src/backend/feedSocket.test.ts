import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ClientMessage, ServerMessage } from "../generated/api";
import type { ConnState } from "./backend";
import { FeedSocket, type SocketLike } from "./feedSocket";

class FakeSocket implements SocketLike {
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  sent: ClientMessage[] = [];
  closed: { code?: number | undefined; reason?: string | undefined } | null = null;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(JSON.parse(data) as ClientMessage);
  }
  close(code?: number, reason?: string) {
    this.closed = { code, reason };
  }
  // server side helpers
  open() {
    this.onopen?.({});
  }
  receive(m: ServerMessage | string) {
    this.onmessage?.({ data: typeof m === "string" ? m : JSON.stringify(m) });
  }
  drop(code = 1006) {
    this.onclose?.({ code });
  }
}

const welcome = (resumed = false): ServerMessage => ({ type: "welcome", node_id: "node-a", seq: 0, resumed, resync: false });
const health = (seq: number): ServerMessage => ({
  type: "event",
  seq,
  time: "2025-01-01T00:00:00Z",
  topic: "health",
  payload: { dependency: "database", from: "healthy", to: "degraded", message: null },
});
const metrics = (seq: number): ServerMessage => ({
  type: "event",
  seq,
  time: "2025-01-01T00:00:00Z",
  topic: "metrics",
  payload: {
    uptime_seconds: seq,
    http_requests_total: seq * 2,
    http_requests_in_flight: 0,
    feed_subscribers: 1,
    rss_bytes: 1,
    db_size_bytes: 1,
    events_published_total: seq,
  },
});

function setup(token: string | null = "tok-1") {
  const sockets: FakeSocket[] = [];
  const states: ConnState[] = [];
  const messages: ServerMessage[] = [];
  const unauthorized: Array<string | null> = [];
  let currentToken = token;
  const feed = new FeedSocket({
    url: "ws://node/api/v1/feed",
    token: () => currentToken,
    onMessage: (m) => messages.push(m),
    onState: (s) => states.push(s),
    onUnauthorized: (t) => unauthorized.push(t),
    createSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    pingIntervalMs: 1000,
    staleAfterMs: 3000,
  });
  const last = () => {
    const s = sockets.at(-1);
    if (!s) throw new Error("no socket yet");
    return s;
  };
  return { feed, sockets, states, messages, unauthorized, last, setToken: (t: string | null) => (currentToken = t) };
}

describe("FeedSocket", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sends auth as the very first message, then reports connected on welcome", () => {
    const t = setup();
    t.feed.start();
    expect(t.states).toEqual(["connecting"]);
    expect(t.last().url).toBe("ws://node/api/v1/feed");
    expect(t.last().sent).toEqual([]);
    t.last().open();
    expect(t.last().sent).toEqual([{ type: "auth", token: "tok-1", resume_from: null }]);
    t.last().receive(welcome());
    expect(t.states).toEqual(["connecting", "connected"]);
    t.last().receive(metrics(1));
    expect(t.messages.map((m) => m.type)).toEqual(["welcome", "event"]);
    expect(t.feed.lastSeenSeq).toBe(1);
  });

  it("reconnects after a drop and resumes from the last seq seen", () => {
    const t = setup();
    t.feed.start();
    t.last().open();
    t.last().receive(welcome());
    t.last().receive(metrics(7));
    t.last().receive(metrics(9)); // a gap is fine: we just track the last one
    t.last().drop();
    expect(t.states.at(-1)).toBe("reconnecting");
    expect(t.sockets).toHaveLength(1);
    vi.advanceTimersByTime(499);
    expect(t.sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(t.sockets).toHaveLength(2);
    t.last().open();
    expect(t.last().sent[0]).toEqual({ type: "auth", token: "tok-1", resume_from: 9 });
    t.last().receive(welcome(true));
    expect(t.states.at(-1)).toBe("connected");
  });

  it("backs off 0.5 s doubling to 5 s, and resets after a welcome", () => {
    const t = setup();
    t.feed.start();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const before = t.sockets.length;
      t.last().drop();
      let waited = 0;
      while (t.sockets.length === before) {
        vi.advanceTimersByTime(100);
        waited += 100;
        if (waited > 10_000) throw new Error("no reconnect");
      }
      delays.push(waited);
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 5000, 5000]);
    expect(t.states.filter((s) => s === "connected")).toEqual([]);

    t.last().open();
    t.last().receive(welcome());
    t.last().drop();
    const before = t.sockets.length;
    vi.advanceTimersByTime(500);
    expect(t.sockets.length).toBe(before + 1);
  });

  it("drops events a resumed stream repeats, but accepts a fresh stream starting lower", () => {
    const t = setup();
    t.feed.start();
    t.last().open();
    t.last().receive(welcome());
    t.last().receive(health(5));
    t.last().drop();
    vi.advanceTimersByTime(500);
    t.last().open();
    t.last().receive(welcome(true));
    t.last().receive(health(4));
    t.last().receive(health(5));
    t.last().receive(health(6));
    // A metrics sample carries the last domain seq and is never taken for a duplicate.
    t.last().receive(metrics(6));
    const seqs = () => t.messages.flatMap((m) => (m.type === "event" ? [m.seq] : []));
    expect(seqs()).toEqual([5, 6, 6]);

    // The node restarted: not resumed, its sequence starts again.
    t.last().drop();
    vi.advanceTimersByTime(500);
    t.last().open();
    expect(t.last().sent[0]).toEqual({ type: "auth", token: "tok-1", resume_from: 6 });
    t.last().receive(welcome(false));
    t.last().receive(health(1));
    expect(seqs()).toEqual([5, 6, 6, 1]);
    expect(t.feed.lastSeenSeq).toBe(1);
  });

  it("stops for good on an unauthorized error", () => {
    const t = setup("wrong");
    t.feed.start();
    t.last().open();
    t.last().receive({ type: "error", code: "unauthorized", message: "bad token" });
    expect(t.states.at(-1)).toBe("unauthorized");
    expect(t.unauthorized).toEqual(["wrong"]);
    expect(t.last().closed).not.toBeNull();
    t.last().drop();
    vi.advanceTimersByTime(60_000);
    expect(t.sockets).toHaveLength(1);
  });

  it("treats a close with code 4401 as unauthorized too", () => {
    const t = setup("wrong");
    t.feed.start();
    t.last().open();
    t.last().drop(4401);
    expect(t.states.at(-1)).toBe("unauthorized");
    expect(t.unauthorized).toEqual(["wrong"]);
    vi.advanceTimersByTime(60_000);
    expect(t.sockets).toHaveLength(1);
  });

  it("waits and retries when the node locked this address out, keeping the token", () => {
    const t = setup("good");
    t.feed.start();
    t.last().open();
    t.last().receive({ type: "error", code: "too_many_auth_failures", message: "try again in 60 s" });
    t.last().drop(4401);
    expect(t.unauthorized).toEqual([]);
    expect(t.states.at(-1)).toBe("reconnecting");
    vi.advanceTimersByTime(500);
    expect(t.sockets).toHaveLength(2);
  });

  it("reconnects after the node's going-away close (1001)", () => {
    const t = setup();
    t.feed.start();
    t.last().open();
    t.last().receive(welcome());
    t.last().drop(1001);
    expect(t.states.at(-1)).toBe("reconnecting");
    vi.advanceTimersByTime(500);
    expect(t.sockets).toHaveLength(2);
  });

  it("does not connect at all without a token", () => {
    const t = setup(null);
    t.feed.start();
    expect(t.sockets).toHaveLength(0);
    expect(t.states).toEqual(["unauthorized"]);
    expect(t.unauthorized).toEqual([null]);
  });

  it("pings while connected and replaces a socket that went silent", () => {
    const t = setup();
    t.feed.start();
    t.last().open();
    t.last().receive(welcome());
    vi.advanceTimersByTime(1000);
    expect(t.last().sent.at(-1)).toEqual({ type: "ping" });
    t.last().receive({ type: "pong" });
    const first = t.last();
    vi.advanceTimersByTime(4000); // > staleAfterMs without any message
    expect(first.closed).not.toBeNull();
    expect(t.states.at(-1)).toBe("reconnecting");
    vi.advanceTimersByTime(500);
    expect(t.sockets).toHaveLength(2);
  });

  it("gives up on a handshake that never completes", () => {
    const t = setup();
    t.feed.start();
    t.last().open(); // auth sent, but no welcome ever comes
    vi.advanceTimersByTime(4000);
    expect(t.sockets[0]?.closed).not.toBeNull();
    expect(t.sockets[0]?.sent.filter((m) => m.type === "ping")).toEqual([]);
    vi.advanceTimersByTime(500);
    expect(t.sockets).toHaveLength(2);
  });

  it("ignores a malformed frame and keeps the stream", () => {
    const t = setup();
    t.feed.start();
    t.last().open();
    t.last().receive("not json{");
    t.last().receive(welcome());
    expect(t.states.at(-1)).toBe("connected");
  });

  it("stop() closes the socket and schedules nothing", () => {
    const t = setup();
    t.feed.start();
    t.last().open();
    t.last().receive(welcome());
    const s = t.last();
    t.feed.stop();
    expect(s.closed?.code).toBe(1000);
    s.drop(); // a late close event from the browser changes nothing
    vi.advanceTimersByTime(60_000);
    expect(t.sockets).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});
