import { useFeed } from "../feed/FeedProvider";
import { useNodeInfo } from "../node/useNodeInfo";
import { labelOf, type RouteId } from "../routes";
import { ConnIndicator } from "./ConnIndicator";

/** UUID-like node ids are long; the first group is enough to tell nodes apart at a glance. */
export function shortId(id: string): string {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-/i.test(id) ? id.slice(0, 8) : id;
}

export function TopBar({ route }: { route: RouteId | null }) {
  const feed = useFeed();
  const info = useNodeInfo();
  const title = route ? labelOf(route) : "Not found";
  const nodeId = info.data?.node_id ?? feed.nodeId;
  return (
    <header className="topbar">
      <h1 className="topbar-title">{title}</h1>
      <div className="topbar-right">
        {nodeId ? (
          <span className="node-chip" title={`Node ${nodeId}`}>
            <span className="node-chip-name mono">{shortId(nodeId)}</span>
            {info.data ? <span className="node-chip-version">v{info.data.version}</span> : null}
          </span>
        ) : null}
        <ConnIndicator state={feed.conn} />
      </div>
    </header>
  );
}
