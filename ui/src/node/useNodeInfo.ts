// NodeInfo for the whole app (top bar, Overview, Settings, config banner): one cached query,
// refreshed by `config` events and by every reconnection (see data/invalidation.ts).
import { useQuery } from "@tanstack/react-query";
import { useApi } from "../api/context";
import { infoQuery } from "../data/queries";

export function useNodeInfo() {
  return useQuery(infoQuery(useApi()));
}
