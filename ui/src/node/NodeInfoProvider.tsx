// NodeInfo for the whole app (top bar, Overview, Settings, config banner). Refetched on every
// (re)connection of the feed, since a reconnect may mean the node restarted, and after every
// `config` event.
import { createContext, useCallback, useContext, type ReactNode } from "react";
import { useBackend } from "../backend/context";
import { useFeed } from "../feed/FeedProvider";
import type { NodeInfo } from "../generated/api";
import { useResource, type Resource } from "../data/useResource";

const NodeInfoContext = createContext<Resource<NodeInfo> | null>(null);

export function NodeInfoProvider({ children }: { children: ReactNode }) {
  const backend = useBackend();
  const feed = useFeed();
  const load = useCallback(() => backend.request<NodeInfo>("GET", "/api/v1/info"), [backend]);
  const key = `${feed.connections}:${feed.lastConfig?.seq ?? ""}`;
  const info = useResource(load, key);
  return <NodeInfoContext.Provider value={info}>{children}</NodeInfoContext.Provider>;
}

export function useNodeInfo(): Resource<NodeInfo> {
  const v = useContext(NodeInfoContext);
  if (v === null) throw new Error("useNodeInfo outside NodeInfoProvider");
  return v;
}
