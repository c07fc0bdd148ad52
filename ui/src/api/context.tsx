// The typed client for the app's one backend, created once and shared.
import { createContext, useContext, useMemo, type ReactNode } from "react";
import { useBackend } from "../backend/context";
import { createApi, type Api } from "./client";

const ApiContext = createContext<Api | null>(null);

export function ApiProvider({ children }: { children: ReactNode }) {
  const backend = useBackend();
  const api = useMemo(() => createApi(backend), [backend]);
  return <ApiContext.Provider value={api}>{children}</ApiContext.Provider>;
}

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (api === null) throw new Error("useApi outside ApiProvider");
  return api;
}
