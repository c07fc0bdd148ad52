// The `tauri` backend: the desktop shell hands each request to the node's Router in-process
// (`api_request`) and carries the feed over a Tauri channel (`feed_subscribe`). No token here:
// the shell authenticates in-process.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { ServerMessage, ShellRequest, ShellResponse } from "../generated/api";
import { ApiError } from "./apiError";
import type { Backend, ConnState } from "./backend";
import { Backoff } from "./backoff";

export type Invoke = <T>(cmd: string, args?: Record<string, unknown>) => Promise<T>;

export class TauriBackend implements Backend {
  readonly kind = "tauri" as const;
  readonly session = null;
  /** Only the path and query reach the shell; the origin is a placeholder. */
  readonly baseUrl = "http://flightdeck.in-process";

  constructor(
    private readonly call: Invoke = invoke,
    private readonly makeChannel: () => Channel<ServerMessage> = () => new Channel<ServerMessage>(),
  ) {}

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const text = request.method === "GET" || request.method === "HEAD" ? "" : await request.text();
    const shellRequest: ShellRequest = {
      method: request.method,
      path: url.pathname + url.search,
      body: text === "" ? null : text,
      headers,
    };
    let res: ShellResponse;
    try {
      res = await this.call<ShellResponse>("api_request", { request: shellRequest });
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      throw new ApiError(0, "ipc_error", `The desktop shell did not answer (${detail}).`);
    }
    // A 204 or 304 carries no body; `Response` refuses one.
    const empty = res.status === 204 || res.status === 304 || res.body === "";
    return new Response(empty ? null : res.body, { status: res.status, headers: res.headers ?? {} });
  }

  subscribe(onMessage: (m: ServerMessage) => void, onState: (s: ConnState) => void): () => void {
    const backoff = new Backoff();
    let stopped = false;
    let current: number | null = null;
    let lastSeq: number | null = null;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let state: ConnState | null = null;
    const setState = (s: ConnState) => {
      if (s !== state) onState((state = s));
    };

    const drop = () => {
      if (current !== null) {
        const id = current;
        current = null;
        this.call("feed_unsubscribe", { id }).catch(() => undefined);
      }
    };
    const scheduleRetry = () => {
      if (stopped) return;
      setState("reconnecting");
      retry = setTimeout(() => void connect(), backoff.next());
    };
    const connect = async () => {
      retry = null;
      if (stopped) return;
      const channel = this.makeChannel();
      channel.onmessage = (m) => {
        if (stopped) return;
        if (m.type === "welcome") {
          backoff.reset();
          setState("connected");
        } else if (m.type === "event") {
          lastSeq = m.seq;
        }
        onMessage(m);
        if (m.type === "error" && m.code !== "feed_lagged") {
          // `feed_lagged` only reports lost events (the stream goes on); any other error means
          // the shell ended this subscription: start a fresh one from the last seq.
          drop();
          scheduleRetry();
        }
      };
      try {
        const id = await this.call<number>("feed_subscribe", { channel, resumeFrom: lastSeq });
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by unsubscribe while awaiting
        if (stopped) {
          this.call("feed_unsubscribe", { id }).catch(() => undefined);
          return;
        }
        current = id;
        backoff.reset();
        setState("connected");
      } catch {
        scheduleRetry();
      }
    };

    setState("connecting");
    void connect();
    return () => {
      stopped = true;
      if (retry !== null) clearTimeout(retry);
      drop();
    };
  }
}
