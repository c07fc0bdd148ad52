// The connection pill in the top bar. `data-state` is the machine-readable state (tests rely on
// it); the label is for people.
import type { ConnState } from "../backend/backend";

const LABELS: Record<ConnState, string> = {
  connecting: "Connecting…",
  connected: "Live",
  reconnecting: "Reconnecting…",
  unauthorized: "Not signed in",
};

const TITLES: Record<ConnState, string> = {
  connecting: "Opening the live feed",
  connected: "Receiving the live feed from the node",
  reconnecting: "The node is unreachable (it may be restarting); retrying automatically",
  unauthorized: "The node needs a valid token",
};

export function ConnIndicator({ state }: { state: ConnState }) {
  return (
    <span className={`conn conn-${state}`} data-testid="conn-status" data-state={state} title={TITLES[state]} role="status">
      <span className="conn-dot" aria-hidden="true" />
      {LABELS[state]}
    </span>
  );
}
