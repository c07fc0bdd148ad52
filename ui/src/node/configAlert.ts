// What the app-wide config banner says, from the node's config status (NodeInfo) and the last
// `config` event of the feed. An event speaks for the node process that emitted it: a rejected
// reload shows until a later reload applies, a restart notice shows until the node restarts.
// Once the node has restarted since the event (started_at is later), its fresh status decides.
import type { NodeInfo } from "../generated/api";
import type { ConfigNotice } from "../feed/feedState";

export type ConfigAlert =
  | { kind: "error"; message: string; path: string | null }
  | { kind: "restart"; fields: string[]; path: string | null };

export function configAlert(info: NodeInfo | null | undefined, notice: ConfigNotice | null): ConfigAlert | null {
  info ??= null;
  const restartedSince =
    info !== null && notice !== null && Date.parse(info.started_at) > Date.parse(notice.time);
  if (notice !== null && !restartedSince) {
    const e = notice.event;
    if (e.outcome === "rejected") return { kind: "error", message: e.message, path: e.path ?? null };
    if (e.restart_required.length > 0) return { kind: "restart", fields: e.restart_required, path: e.path ?? null };
    return null;
  }
  if (info !== null && info.config.state === "error") {
    return {
      kind: "error",
      message: info.config.error ?? "The configuration file could not be loaded.",
      path: info.config.path ?? null,
    };
  }
  return null;
}
