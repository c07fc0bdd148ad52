// The `web` backend: the page talks to the node that served it (same origin), fetch for the API
// and a WebSocket for the feed, with the bearer token the user brought (see token.ts).
import type { ServerMessage } from "../generated/api";
import { ApiError, apiErrorFromResponse, parseSuccessBody, transportError } from "./apiError";
import type { Backend, ConnState, HttpMethod } from "./backend";
import { FeedSocket, type SocketLike } from "./feedSocket";
import { TokenSession, adoptTokenFromLocation, type StorageLike } from "./token";

const REQUEST_TIMEOUT_MS = 15_000;

export type WebBackendDeps = {
  origin: string;
  storage: StorageLike;
  initialToken: string | null;
  fetch: typeof fetch;
  createSocket?: (url: string) => SocketLike;
};

export function feedUrl(origin: string): string {
  const u = new URL("/api/v1/feed", origin);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.toString();
}

export class WebBackend implements Backend {
  readonly kind = "web" as const;
  readonly session: TokenSession;

  constructor(private readonly deps: WebBackendDeps) {
    this.session = new TokenSession(deps.storage, deps.initialToken, async (token) => {
      await this.send("GET", "/api/v1/info", undefined, token);
    });
  }

  async request<T>(method: HttpMethod, path: string, body?: unknown): Promise<T> {
    const token = this.session.token();
    try {
      return await this.send<T>(method, path, body, token);
    } catch (err) {
      if (err instanceof ApiError && err.code === "unauthorized") this.session.reject(token);
      throw err;
    }
  }

  subscribe(onMessage: (m: ServerMessage) => void, onState: (s: ConnState) => void): () => void {
    const socket = new FeedSocket({
      url: feedUrl(this.deps.origin),
      token: () => this.session.token(),
      onMessage,
      onState,
      onUnauthorized: (token) => this.session.reject(token),
      ...(this.deps.createSocket ? { createSocket: this.deps.createSocket } : {}),
    });
    socket.start();
    return () => socket.stop();
  }

  private async send<T>(method: HttpMethod, path: string, body: unknown, token: string | null): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (token !== null) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res: Response;
    try {
      res = await this.deps.fetch(new URL(path, this.deps.origin).toString(), {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        cache: "no-store",
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw transportError(err);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw transportError(err);
    }
    if (!res.ok) throw apiErrorFromResponse(res.status, text, res.statusText);
    return parseSuccessBody<T>(res.status, text);
  }
}

/** The web backend for this page: token from the fragment or this tab's storage. */
export function createWebBackend(win: Window): WebBackend {
  const initialToken = adoptTokenFromLocation(win.location, win.history, win.sessionStorage);
  return new WebBackend({
    origin: win.location.origin,
    storage: win.sessionStorage,
    initialToken,
    fetch: win.fetch.bind(win),
  });
}
