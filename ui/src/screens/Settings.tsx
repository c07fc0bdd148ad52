// Settings: the node's configuration status and, where there is one, the browser session.
import { useBackend } from "../backend/context";
import { Icon } from "../components/Icon";
import { ErrorNote, Panel, Skeleton } from "../components/Panel";
import { useNow } from "../data/useNow";
import { formatRelative, formatTimestamp } from "../format";
import { useNodeInfo } from "../node/NodeInfoProvider";

export function Settings() {
  const { session } = useBackend();
  const info = useNodeInfo();
  const now = useNow(5000);
  const config = info.data?.config;

  return (
    <div className="screen" data-testid="screen-settings">
      <Panel
        title="Configuration"
        actions={
          <button type="button" className="btn btn-ghost" onClick={info.reload} disabled={info.loading}>
            <Icon name="refresh" className={`icon${info.loading ? " spin" : ""}`} />
            Reload
          </button>
        }
      >
        {info.error && !info.data ? <ErrorNote error={info.error} onRetry={info.reload} /> : null}
        {config ? (
          <dl className="kv">
            <dt>File</dt>
            <dd className="mono" data-testid="config-path">{config.path ?? "none (built-in defaults)"}</dd>
            <dt>State</dt>
            <dd>
              <span className={`pill pill-${config.state}`} data-testid="config-state" data-state={config.state}>
                {config.state === "ok" ? "loaded" : "error"}
              </span>
            </dd>
            <dt>Loaded</dt>
            <dd title={formatTimestamp(config.loaded_at)}>
              {formatTimestamp(config.loaded_at)} <span className="muted">({formatRelative(config.loaded_at, now)})</span>
            </dd>
            <dt>Watching</dt>
            <dd data-testid="config-watching" data-watching={String(config.watching)}>
              {config.watching ? (
                "yes: changes apply without a restart"
              ) : (
                <span className="text-warn">
                  no{config.watch_error ? `: ${config.watch_error}` : ""}. Changes apply at the next start, or
                  when watching resumes.
                </span>
              )}
            </dd>
            {config.error ? (
              <>
                <dt>Error</dt>
                <dd>
                  <pre className="code-block">{config.error}</pre>
                </dd>
              </>
            ) : null}
          </dl>
        ) : !info.error ? (
          <Skeleton className="skeleton-wide" />
        ) : null}
        <p className="muted small">
          The node watches its configuration file and reloads it when it changes. A file that does not validate is
          rejected as a whole and the last good configuration stays in force.
        </p>
      </Panel>

      {info.data ? (
        <Panel title="Storage">
          <dl className="kv">
            <dt>Data directory</dt>
            <dd className="mono">{info.data.data_dir}</dd>
            <dt>Database</dt>
            <dd className="mono">{info.data.database_path}</dd>
            <dt>Schema version</dt>
            <dd className="mono">{info.data.schema_version}</dd>
          </dl>
        </Panel>
      ) : null}

      {session ? (
        <Panel title="Session">
          <div className="session-row">
            <p className="muted">
              Signed in with this node's API token. It is kept for this browser tab only and forgotten when the tab
              closes.
            </p>
            <button type="button" className="btn btn-danger" data-testid="signout" onClick={() => session.signOut()}>
              <Icon name="logout" />
              Sign out
            </button>
          </div>
        </Panel>
      ) : null}
    </div>
  );
}
