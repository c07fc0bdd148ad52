// App-wide notice when the node (in the desktop: the embedded engine) could not start. The
// desktop shell answers every request with 503 and the engine's own code (e.g.
// `schema_too_new`, `data_dir_unwritable`) in that case; a plain `unavailable` 503 is a node
// that is starting or stopping, which the connection indicator already shows.
import { ApiError } from "../backend/apiError";
import { useNodeInfo } from "../node/useNodeInfo";
import { Icon } from "./Icon";

/** The start-up failure in `error`, if it is one. */
export function startupFailure(error: unknown): ApiError | null {
  return error instanceof ApiError && error.status === 503 && error.code !== "unavailable" ? error : null;
}

export function StartupBanner() {
  const info = useNodeInfo();
  const failure = info.data ? null : startupFailure(info.error);
  if (failure === null) return null;
  return (
    <div className="banner banner-error" data-testid="startup-banner" data-code={failure.code} role="alert">
      <Icon name="alert" />
      <span>
        <strong>{failure.message}</strong> <span className="mono small">({failure.code})</span> Fix the cause and
        start Flightdeck again.
      </span>
    </div>
  );
}
