// React access to the one `Backend` chosen at startup.
import { createContext, useCallback, useContext, useSyncExternalStore, type ReactNode } from "react";
import type { Backend, SessionState } from "./backend";

const BackendContext = createContext<Backend | null>(null);

export function BackendProvider({ backend, children }: { backend: Backend; children: ReactNode }) {
  return <BackendContext.Provider value={backend}>{children}</BackendContext.Provider>;
}

export function useBackend(): Backend {
  const b = useContext(BackendContext);
  if (b === null) throw new Error("useBackend outside BackendProvider");
  return b;
}

const ALWAYS_SIGNED_IN: SessionState = { signedIn: true, notice: null };
const noopSubscribe = () => () => undefined;

/** Session state; backends without a session (desktop) are always signed in. */
export function useSession(): SessionState {
  const { session } = useBackend();
  const subscribe = useCallback(
    (listener: () => void) => (session ? session.subscribe(listener) : noopSubscribe()),
    [session],
  );
  const getSnapshot = useCallback(() => (session ? session.state() : ALWAYS_SIGNED_IN), [session]);
  return useSyncExternalStore(subscribe, getSnapshot);
}
