// The screens and their hash routes (`#/health`). No router library: the hash is the state.
import { useEffect, useState } from "react";

export const ROUTES = [
  { id: "overview", label: "Overview" },
  { id: "agents", label: "Agents & Tasks" },
  { id: "approvals", label: "Approvals" },
  { id: "health", label: "Health" },
  { id: "costs", label: "Costs" },
  { id: "forecasts", label: "Forecasts" },
  { id: "fleet", label: "Fleet" },
  { id: "settings", label: "Settings" },
] as const;

export type RouteId = (typeof ROUTES)[number]["id"];

export function routeFromHash(hash: string): RouteId {
  const path = hash.replace(/^#\/?/, "").split(/[?/]/)[0] ?? "";
  const found = ROUTES.find((r) => r.id === path);
  return found ? found.id : "overview";
}

export function hrefFor(id: RouteId): string {
  return `#/${id}`;
}

export function useHashRoute(): RouteId {
  const [route, setRoute] = useState<RouteId>(() => routeFromHash(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(routeFromHash(window.location.hash));
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}
