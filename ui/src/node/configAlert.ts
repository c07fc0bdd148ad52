// What the app-wide config banner says, from the node's last known config status and the last
// `config` event of the feed. The newer of the two wins: a rejected reload shows until a later
// reload applies; a node restarted since the last event is described by its fresh status.
import type { NodeInfo } from "../generated/api";
import type { ConfigNotice } from "../feed/feedState";

export type ConfigAlert =
  | { kind: "error"; message: string; path: string | null }
  | { kind: "restart"; fields: string[]; path: string | null };

export function configAlert(info: NodeInfo | null, notice: ConfigNotice | null): ConfigAlert | null {
  const infoTime = info ? Date.parse(info.config.loaded_at) : Number.NaN;
  const noticeTime = notice ? Date.parse(notice.time) : Number.NaN;
  const eventIsNewer = notice !== null && (info === null || !(infoTime > noticeTime));
  if (notice !== null && eventIsNewer) {
    const e = notice.event;
    if (e.outcome === "rejected") return { kind: "error", message: e.message, path: e.path };
    if (e.restart_required.length > 0) return { kind: "restart", fields: e.restart_required, path: e.path };
    return null;
  }
  if (info !== null && info.config.state === "error") {
    return {
      kind: "error",
      message: info.config.error ?? "The configuration file could not be loaded.",
      path: info.config.path,
    };
  }
  return null;
}
