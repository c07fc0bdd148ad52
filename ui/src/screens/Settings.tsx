// Settings: the node's configuration (status, the values in force, what the last reload
// changed, a reload on demand), the LLM gateway, the UI's theme and, where there is one, the
// browser session.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ok } from "../api/client";
import { useApi } from "../api/context";
import { useBackend } from "../backend/context";
import { useConfirm } from "../components/ConfirmDialog";
import { Icon } from "../components/Icon";
import { JsonDiff, JsonView } from "../components/JsonView";
import { ErrorNote, Panel, Skeleton } from "../components/Panel";
import { useToasts } from "../components/Toasts";
import { configQuery } from "../data/queries";
import { useNow } from "../data/useNow";
import { formatRelative, formatTimestamp } from "../format";
import type { Config } from "../generated/api";
import { useNodeInfo } from "../node/useNodeInfo";
import { ThemeSetting } from "../theme/ThemeSetting";
import { GatewaySettings } from "./GatewaySettings";

/** The config values before and after the last change this screen saw (null before one). */
function useLastChange(current: Config | undefined): { before: Config; after: Config } | null {
  const [state, setState] = useState<{ seen: Config | undefined; change: { before: Config; after: Config } | null }>({
    seen: current,
    change: null,
  });
  if (current !== state.seen) {
    // Adjusting state while rendering (React's documented pattern for derived state).
    const change = state.seen && current ? { before: state.seen, after: current } : state.change;
    setState({ seen: current, change });
  }
  return state.change;
}

function ConfigValues() {
  const api = useApi();
  const view = useQuery(configQuery(api));
  const change = useLastChange(view.data?.config);
  return (
    <>
      <Panel title="Values in force">
        {view.error ? <ErrorNote error={view.error} onRetry={() => void view.refetch()} /> : null}
        {view.data ? <JsonView value={view.data.config} testId="config-values" /> : !view.error ? <Skeleton className="skeleton-wide" /> : null}
        <p className="muted small">Secrets are never part of the configuration: it names them, and they stay in the secret store.</p>
      </Panel>
      <Panel title="Last change">
        {change ? (
          <JsonDiff before={change.before} after={change.after} empty="The last reload changed no values." />
        ) : (
          <p className="muted small" data-testid="config-no-change">
            No change since this screen opened. When the node reloads its configuration, the keys that changed show here.
          </p>
        )}
      </Panel>
    </>
  );
}

export function Settings() {
  const { session } = useBackend();
  const api = useApi();
  const info = useNodeInfo();
  const now = useNow(5000);
  const config = info.data?.config;
  const confirm = useConfirm();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const reload = useMutation({
    mutationFn: () => ok(api.POST("/api/v1/config/reload")),
    onSuccess: (event) => {
      void queryClient.invalidateQueries({ queryKey: ["config"] });
      toasts.push(
        event.outcome === "applied"
          ? { tone: "success", title: "Configuration reloaded", message: event.changed.length ? `Changed: ${event.changed.join(", ")}` : "Nothing changed." }
          : { tone: "error", title: "Reload rejected; the previous configuration stays", message: event.message },
      );
    },
  });

  return (
    <div className="screen" data-testid="screen-settings">
      <Panel
        title="Configuration"
        actions={
          <button
            type="button"
            className="btn btn-ghost"
            disabled={reload.isPending || !config?.path}
            title={config?.path ? undefined : "The node runs on built-in defaults: there is no file to reload"}
            data-testid="config-reload"
            onClick={() => {
              void confirm({
                title: "Reload the configuration?",
                body: <p>The node reads {config?.path ?? "its file"} again now. A file that does not validate is rejected and the current configuration stays.</p>,
                action: "Reload",
              }).then((yes) => {
                if (yes) reload.mutate();
              });
            }}
          >
            <Icon name="refresh" className={`icon${reload.isPending ? " spin" : ""}`} />
            Reload now
          </button>
        }
      >
        {info.error && !info.data ? <ErrorNote error={info.error} onRetry={() => void info.refetch()} /> : null}
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

      <GatewaySettings />

      <ConfigValues />

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

      <ThemeSetting />

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
