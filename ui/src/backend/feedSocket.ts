// The browser's live-feed connection: one WebSocket to `/api/v1/feed`, kept alive forever.
//
// Lifecycle: open → send `auth` (token, resume_from = last seq seen) as the very first message →
// `welcome` marks the connection healthy and resets the backoff → `event`s stream in. Any close
// that we did not ask for schedules a reconnect (0.5 s doubling to 5 s). A socket that goes
// silent (no message for `staleAfterMs`, although we ping), or one whose handshake never completes, is treated as dead, so a half-open TCP
// connection cannot freeze the dashboard.
//
// Invariants: at most one live socket; handlers of a replaced socket are ignored; after an
// `unauthorized` error we never reconnect on our own (a new token restarts us); after `stop()`
// nothing is scheduled.
import type { ClientMessage, ServerMessage } from "../generated/api";
import type { ConnState } from "./backend";
import { Backoff } from "./backoff";

/** The part of the WebSocket API this client uses (lets tests use a fake). */
export interface SocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type Timers = {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(id: unknown): void;
  now(): number;
};

export const defaultTimers: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (id) => globalThis.clearTimeout(id as ReturnType<typeof globalThis.setTimeout>),
  setInterval: (fn, ms) => globalThis.setInterval(fn, ms),
  clearInterval: (id) => globalThis.clearInterval(id as ReturnType<typeof globalThis.setInterval>),
  now: () => Date.now(),
};

export type FeedSocketOptions = {
  url: string;
  token: () => string | null;
  onMessage: (m: ServerMessage) => void;
  onState: (s: ConnState) => void;
  /** Called once when the node refuses the token (or there is none). */
  onUnauthorized: (token: string | null) => void;
  createSocket?: (url: string) => SocketLike;
  timers?: Timers;
  backoff?: Backoff;
  pingIntervalMs?: number;
  staleAfterMs?: number;
};

/** The node closes a refused feed with this code (after an `unauthorized` error message). */
export const CLOSE_UNAUTHORIZED = 4401;

function closeCode(ev: unknown): number | null {
  const code = typeof ev === "object" && ev !== null ? (ev as { code?: unknown }).code : undefined;
  return typeof code === "number" ? code : null;
}

function parseServerMessage(data: unknown): ServerMessage | null {
  if (typeof data !== "string") return null;
  try {
    const v: unknown = JSON.parse(data);
    if (typeof v === "object" && v !== null && typeof (v as { type?: unknown }).type === "string") {
      return v as ServerMessage;
    }
  } catch {
    // A malformed frame is dropped; the stream goes on.
  }
  return null;
}

export class FeedSocket {
  private readonly createSocket: (url: string) => SocketLike;
  private readonly timers: Timers;
  private readonly backoff: Backoff;
  private readonly pingIntervalMs: number;
  private readonly staleAfterMs: number;

  private socket: SocketLike | null = null;
  private retryTimer: unknown = null;
  private pingTimer: unknown = null;
  private lastSeq: number | null = null;
  /** Events at or below this seq are duplicates of what we already have (set by a resumed welcome). */
  private dropUpTo: number | null = null;
  private lastMessageAt = 0;
  private welcomed = false;
  private everConnected = false;
  private stopped = true;
  private unauthorized = false;
  /** The node locked this address out (too many failed authentications): not our token's
   * fault, so the 4401 that follows means "later", not "signed out". */
  private lockedOut = false;
  private state: ConnState | null = null;

  constructor(private readonly opts: FeedSocketOptions) {
    this.createSocket = opts.createSocket ?? ((url) => new WebSocket(url) as unknown as SocketLike);
    this.timers = opts.timers ?? defaultTimers;
    this.backoff = opts.backoff ?? new Backoff();
    this.pingIntervalMs = opts.pingIntervalMs ?? 10_000;
    this.staleAfterMs = opts.staleAfterMs ?? 25_000;
  }

  /** The last event seq seen (sent as `resume_from` on reconnect). */
  get lastSeenSeq(): number | null {
    return this.lastSeq;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.unauthorized = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.clearRetry();
    this.clearPing();
    const s = this.socket;
    this.socket = null;
    if (s) this.detachAndClose(s, 1000, "client stopped");
  }

  private setState(s: ConnState): void {
    if (this.state === s) return;
    this.state = s;
    this.opts.onState(s);
  }

  private connect(): void {
    this.retryTimer = null;
    if (this.stopped) return;
    const token = this.opts.token();
    if (token === null) {
      this.becomeUnauthorized(null);
      return;
    }
    this.setState(this.everConnected || this.backoff.attempts > 0 ? "reconnecting" : "connecting");
    let socket: SocketLike;
    try {
      socket = this.createSocket(this.opts.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    this.welcomed = false;
    this.startWatchdog(socket);
    socket.onopen = () => {
      if (socket !== this.socket) return;
      const auth: ClientMessage = { type: "auth", token, resume_from: this.lastSeq };
      this.send(socket, auth);
    };
    socket.onmessage = (ev) => {
      if (socket !== this.socket) return;
      this.lastMessageAt = this.timers.now();
      const m = parseServerMessage(ev.data);
      if (m) this.handle(socket, m, token);
    };
    socket.onerror = () => {
      // Browsers follow every error with a close event; reconnecting is handled there.
    };
    socket.onclose = (ev) => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.clearPing();
      if (this.stopped || this.unauthorized) return;
      if (this.lockedOut) {
        this.lockedOut = false;
        this.scheduleReconnect();
        return;
      }
      if (closeCode(ev) === CLOSE_UNAUTHORIZED) {
        // The node refused us without (or before we read) its error message.
        this.becomeUnauthorized(token);
        return;
      }
      this.scheduleReconnect();
    };
  }

  private handle(socket: SocketLike, m: ServerMessage, token: string): void {
    switch (m.type) {
      case "welcome":
        this.everConnected = true;
        this.backoff.reset();
        this.dropUpTo = m.resumed ? this.lastSeq : null;
        this.welcomed = true;
        this.setState("connected");
        this.opts.onMessage(m);
        return;
      case "event":
        // Metrics samples are not kept and carry the last domain event's seq: never duplicates.
        if (m.topic !== "metrics") {
          if (this.dropUpTo !== null && m.seq <= this.dropUpTo) return;
          this.dropUpTo = null;
        }
        this.lastSeq = m.seq;
        this.opts.onMessage(m);
        return;
      case "error":
        // Our resume point means nothing to this node (another node, a wiped database): the
        // server closes; the next connection starts fresh and the state is refetched.
        if (m.code === "resume_from_future") this.lastSeq = null;
        if (m.code === "too_many_auth_failures") this.lockedOut = true;
        this.opts.onMessage(m);
        if (m.code === "unauthorized") {
          this.becomeUnauthorized(token);
          this.socket = null;
          this.detachAndClose(socket, 1000, "unauthorized");
        }
        return;
      default:
        // pong and any message type this UI does not know yet
        this.opts.onMessage(m);
    }
  }

  private becomeUnauthorized(token: string | null): void {
    this.unauthorized = true;
    this.clearRetry();
    this.clearPing();
    this.setState("unauthorized");
    this.opts.onUnauthorized(token);
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.unauthorized) return;
    this.clearRetry();
    this.setState("reconnecting");
    const delay = this.backoff.next();
    this.retryTimer = this.timers.setTimeout(() => this.connect(), delay);
  }

  /** Covers both a handshake that never completes and a connection that goes silent. */
  private startWatchdog(socket: SocketLike): void {
    this.clearPing();
    this.lastMessageAt = this.timers.now();
    this.pingTimer = this.timers.setInterval(() => {
      if (socket !== this.socket) return;
      if (this.timers.now() - this.lastMessageAt > this.staleAfterMs) {
        // Silent for too long: drop it and go through the normal reconnect path.
        this.socket = null;
        this.clearPing();
        this.detachAndClose(socket, 4000, "stale");
        this.scheduleReconnect();
        return;
      }
      if (this.welcomed) this.send(socket, { type: "ping" });
    }, this.pingIntervalMs);
  }

  private send(socket: SocketLike, m: ClientMessage): void {
    try {
      socket.send(JSON.stringify(m));
    } catch {
      // The close event that follows a failed send drives the reconnect.
    }
  }

  private detachAndClose(socket: SocketLike, code: number, reason: string): void {
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    socket.onerror = null;
    try {
      socket.close(code, reason);
    } catch {
      // Already closed.
    }
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private clearPing(): void {
    if (this.pingTimer !== null) this.timers.clearInterval(this.pingTimer);
    this.pingTimer = null;
  }
}
