// Shown in the browser when there is no token or the node refused it.
import { useState, type SyntheticEvent } from "react";
import { describeError } from "../backend/apiError";
import type { Session } from "../backend/backend";
import { ConnIndicator } from "./ConnIndicator";
import { Logo } from "./Icon";

export function SignIn({ session, notice }: { session: Session; notice: string | null }) {
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: SyntheticEvent) => {
    e.preventDefault();
    if (token.trim() === "" || busy) return;
    setBusy(true);
    setError(null);
    try {
      await session.signIn(token);
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };

  const message = error ?? notice;
  return (
    <div className="signin-page">
      <form className="signin-card" data-testid="signin-form" onSubmit={(e) => void submit(e)}>
        <div className="signin-head">
          <Logo />
          <div>
            <h1>Flightdeck</h1>
            <p className="muted">Sign in to this node</p>
          </div>
          <ConnIndicator state="unauthorized" />
        </div>
        <label className="field">
          <span className="field-label">API token</span>
          <input
            data-testid="signin-token"
            type="password"
            autoComplete="off"
            spellCheck={false}
            autoFocus
            value={token}
            onChange={(e) => setToken(e.target.value)}
            placeholder="The node's FLIGHTDECK_API_TOKEN"
          />
        </label>
        {message ? (
          <p className="signin-error" data-testid="signin-error" role="alert">
            {message}
          </p>
        ) : null}
        <button type="submit" className="btn btn-primary btn-block" data-testid="signin-submit" disabled={busy || token.trim() === ""}>
          {busy ? "Checking…" : "Sign in"}
        </button>
        <p className="muted small">
          The token is kept for this tab only and is never put in a URL. Tip: open the dashboard as{" "}
          <span className="mono">/#token=…</span> to sign in directly.
        </p>
      </form>
    </div>
  );
}
