// The browser's bearer token: taken once from the URL fragment (`#token=…`), kept in
// sessionStorage for this tab only, and removed from the address bar at once.
//
// Never in the query string (it would reach server logs) nor in localStorage (it would outlive
// the tab). The fragment may also carry the hash route (`#/health?token=…`), which is kept.
import type { Session, SessionState } from "./backend";

export const TOKEN_STORAGE_KEY = "flightdeck.token";

export type StorageLike = Pick<Storage, "getItem" | "setItem" | "removeItem">;

export type LocationLike = { pathname: string; search: string; hash: string };
export type HistoryLike = { replaceState(data: unknown, unused: string, url?: string | null): void };

function decode(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/**
 * Splits a fragment into its route and the `token` parameter. `+` is kept as is (tokens may be
 * base64), unlike URLSearchParams which would turn it into a space.
 */
export function splitFragment(hash: string): { token: string | null; rest: string } {
  const raw = hash.startsWith("#") ? hash.slice(1) : hash;
  const q = raw.startsWith("/") ? raw.indexOf("?") : -1;
  const route = raw.startsWith("/") ? (q === -1 ? raw : raw.slice(0, q)) : "";
  const query = raw.startsWith("/") ? (q === -1 ? "" : raw.slice(q + 1)) : raw;
  let token: string | null = null;
  const kept: string[] = [];
  for (const part of query.split("&")) {
    if (part === "") continue;
    if (part.startsWith("token=")) {
      const t = decode(part.slice("token=".length)).trim();
      if (t !== "") token = t;
    } else {
      kept.push(part);
    }
  }
  const rest = kept.length > 0 ? `${route}?${kept.join("&")}` : route;
  return { token, rest };
}

/**
 * If the fragment carries a token: stores it, strips it from the address bar, and returns it.
 * Returns the stored token otherwise (or null).
 */
export function adoptTokenFromLocation(
  location: LocationLike,
  history: HistoryLike,
  storage: StorageLike,
): string | null {
  const { token, rest } = splitFragment(location.hash);
  if (token !== null) {
    storage.setItem(TOKEN_STORAGE_KEY, token);
    const url = `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`;
    history.replaceState(null, "", url);
    return token;
  }
  return storage.getItem(TOKEN_STORAGE_KEY);
}

/** The `Session` capability of the web backend. */
export class TokenSession implements Session {
  private current: string | null;
  private notice: string | null = null;
  private snapshot: SessionState;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly storage: StorageLike,
    initial: string | null,
    /** Checks a candidate token against the node; throws ApiError when it is refused. */
    private readonly verify: (token: string) => Promise<void>,
  ) {
    this.current = initial;
    this.snapshot = this.computeState();
  }

  token(): string | null {
    return this.current;
  }

  state(): SessionState {
    return this.snapshot;
  }

  async signIn(token: string): Promise<void> {
    const t = token.trim();
    await this.verify(t);
    this.current = t;
    this.notice = null;
    this.storage.setItem(TOKEN_STORAGE_KEY, t);
    this.changed();
  }

  signOut(): void {
    this.current = null;
    this.notice = null;
    this.storage.removeItem(TOKEN_STORAGE_KEY);
    this.changed();
  }

  /** The node refused `token`; forget it unless the user has signed in with another meanwhile. */
  reject(token: string | null): void {
    if (token !== this.current && token !== null) return;
    const hadToken = this.current !== null;
    this.current = null;
    this.storage.removeItem(TOKEN_STORAGE_KEY);
    this.notice = hadToken ? "The node did not accept the saved token. Sign in again." : null;
    this.changed();
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private computeState(): SessionState {
    return { signedIn: this.current !== null, notice: this.notice };
  }

  private changed(): void {
    this.snapshot = this.computeState();
    for (const l of [...this.listeners]) l();
  }
}
