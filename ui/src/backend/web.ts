// The `web` backend: the page talks to the node that served it (same origin), fetch for the API
// and a WebSocket for the feed, with the bearer token the user brought (see token.ts).
import type { ServerMessage } from "../generated/api";
import { apiErrorFromResponse, transportError } from "./apiError";
import type { Backend, ConnState } from "./backend";
import { FeedSocket, type SocketLike } from "./feedSocket";
import { TokenSession, adoptTokenFromLocation, type StorageLike } from "./token";

const REQUEST_TIMEOUT_MS = 15_000;

export type WebBackendDeps = {
  origin: string;
  storage: StorageLike;
  initialToken: string | null;
  fetch: (url: string, init: RequestInit) => Promise<Response>;
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
  readonly baseUrl: string;

  constructor(private readonly deps: WebBackendDeps) {
    this.baseUrl = deps.origin;
    this.session = new TokenSession(deps.storage, deps.initialToken, async (token) => {
      const res = await this.send(new Request(new URL("/api/v1/info", deps.origin)), token);
      if (!res.ok) throw apiErrorFromResponse(res.status, await res.text().catch(() => ""), res.statusText);
    });
  }

  async fetch(request: Request): Promise<Response> {
    const token = this.session.token();
    const res = await this.send(request, token);
    if (res.status === 401) this.session.reject(token);
    return res;
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

  /** Sends `request` to this origin's node (whatever origin its URL names) with `token`. */
  private async send(request: Request, token: string | null): Promise<Response> {
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.set("Accept", "application/json");
    if (token !== null) headers.set("Authorization", `Bearer ${token}`);
    else headers.delete("Authorization");
    try {
      const body = request.method === "GET" || request.method === "HEAD" ? null : await request.text();
      return await this.deps.fetch(new URL(url.pathname + url.search, this.deps.origin).toString(), {
        method: request.method,
        headers,
        body: body === null || body === "" ? null : body,
        cache: "no-store",
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw transportError(err);
    }
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
