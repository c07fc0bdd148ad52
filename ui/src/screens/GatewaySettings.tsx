// The LLM gateway panel of Settings: where agents and SDKs point their base URL, the models
// they may name, and, in the desktop app, the switch for its own loopback listener
// (`gateway.desktop_listen`, written to the config file through PATCH /api/v1/config).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ok, type Api } from "../api/client";
import { useApi } from "../api/context";
import { useBackend } from "../backend/context";
import { ErrorNote, Panel, Skeleton } from "../components/Panel";
import { useToasts } from "../components/Toasts";
import type { GatewayInfo } from "../generated/api";

export const gatewayKey = ["config", "gateway"] as const;

/** Still settling: switched on or off, and the listener has not caught up yet. */
export function settling(info: GatewayInfo | undefined): boolean {
  const d = info?.desktop;
  return !!d && d.enabled !== d.listening && !d.error;
}

export function gatewayQuery(api: Api) {
  return {
    queryKey: gatewayKey,
    queryFn: ({ signal }: { signal: AbortSignal }) => ok(api.GET("/api/v1/gateway", { signal })),
    refetchInterval: (q: { state: { data: GatewayInfo | undefined } }) => (settling(q.state.data) ? 500 : false),
  };
}

function BaseUrls({ origin }: { origin: string }) {
  return (
    <dl className="kv" data-testid="gateway-urls">
      <dt>OpenAI SDKs</dt>
      <dd className="mono">base_url = {origin}/v1</dd>
      <dt>Anthropic SDKs</dt>
      <dd className="mono">base_url = {origin}</dd>
      <dt>API key</dt>
      <dd>a named API token with scope operate (its name is recorded as the client of every call)</dd>
    </dl>
  );
}

export function GatewaySettings() {
  const api = useApi();
  const backend = useBackend();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const info = useQuery(gatewayQuery(api));
  const toggle = useMutation({
    mutationFn: (on: boolean) => ok(api.PATCH("/api/v1/config", { body: { gateway: { desktop_listen: on } } })),
    onSuccess: (event, on) => {
      void queryClient.invalidateQueries({ queryKey: ["config"] });
      toasts.push(
        event.outcome === "applied"
          ? { tone: "success", title: on ? "Gateway switched on" : "Gateway switched off", message: "Saved to the configuration file." }
          : { tone: "error", title: "The change was rejected", message: event.message },
      );
    },
    onError: (e) => toasts.push({ tone: "error", title: "Could not change the setting", message: e.message }),
  });
  const desktop = info.data?.desktop;
  return (
    <Panel title="LLM gateway">
      {info.error ? <ErrorNote error={info.error} onRetry={() => void info.refetch()} /> : null}
      {!info.data && !info.error ? <Skeleton className="skeleton-wide" /> : null}
      {desktop ? (
        <>
          <label className="switch-row">
            <input
              type="checkbox"
              role="switch"
              data-testid="gateway-switch"
              checked={desktop.enabled}
              disabled={toggle.isPending}
              onChange={(e) => toggle.mutate(e.target.checked)}
            />
            <span>
              Serve the OpenAI- and Anthropic-compatible gateway on <span className="mono">{desktop.address}</span> (this
              machine only)
            </span>
          </label>
          <p className="small" data-testid="gateway-state" data-listening={String(desktop.listening)}>
            {desktop.listening ? (
              <span className="text-ok">Listening on {desktop.bound ?? desktop.address}.</span>
            ) : desktop.error ? (
              <span className="text-warn">Not listening: {desktop.error}</span>
            ) : desktop.enabled ? (
              <span className="muted">Starting…</span>
            ) : (
              <span className="muted">Off. Agents on this machine can use the app once it is on.</span>
            )}
          </p>
          {desktop.listening ? <BaseUrls origin={`http://${desktop.bound ?? desktop.address}`} /> : null}
        </>
      ) : info.data ? (
        <BaseUrls origin={backend.baseUrl.replace(/\/$/, "")} />
      ) : null}
      {info.data ? (
        <p className="muted small" data-testid="gateway-models">
          Models clients may name:{" "}
          {info.data.models.length ? (
            info.data.models.map((m) => m.id).join(", ")
          ) : (
            <>none yet: add a <span className="mono">[routes.&lt;name&gt;]</span> or <span className="mono">[providers.&lt;name&gt;]</span> section to the configuration.</>
          )}
        </p>
      ) : null}
    </Panel>
  );
}
