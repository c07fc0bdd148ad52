// The one interface the UI talks to (GitButler's IBackend pattern).
//
// Two implementations exist: `web` (fetch + WebSocket against the node that served the page) and
// `tauri` (the desktop shell hands requests to the same Router in-process). Exactly one is chosen
// at startup by `createBackend`; nothing else in the UI may know which one runs. Transport
// differences that the UI must show (only: whether the user holds a token) are expressed as
// capabilities (`session`), never as checks on `kind`.
import type { ServerMessage } from "../generated/api";

/** Connection state of the live feed, as shown by the `conn-status` indicator. */
export type ConnState = "connecting" | "connected" | "reconnecting" | "unauthorized";

export type SessionState = {
  signedIn: boolean;
  /** Why the user is signed out, if it was not their choice (a rejected token). */
  notice: string | null;
};

/** Present only where the user holds a bearer token (the browser). */
export interface Session {
  state(): SessionState;
  /** Checks the token against the node, then keeps it. Throws `ApiError` if it is refused. */
  signIn(token: string): Promise<void>;
  signOut(): void;
  subscribe(listener: () => void): () => void;
}

export interface Backend {
  readonly kind: "tauri" | "web";
  readonly session: Session | null;
  /**
   * The base URL the typed client (`api/client.ts`) builds requests on; only the path and
   * query of a request's URL reach the node.
   */
  readonly baseUrl: string;
  /**
   * Sends one request to the node's API and resolves with its answer, error statuses
   * included. Rejects with `ApiError` only when no answer came (`unreachable`, `timeout`,
   * `ipc_error`). Screens do not call this: they use the typed client.
   */
  fetch(request: Request): Promise<Response>;
  /** Subscribes to the live feed; reconnects by itself. Returns the unsubscribe function. */
  subscribe(onMessage: (m: ServerMessage) => void, onState: (s: ConnState) => void): () => void;
}
