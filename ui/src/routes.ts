// The screens and their paths. The router is wouter on the location hash (`#/health`,
// `#/health/transitions/42`), so every view, drawers included, is a deep link that survives a
// reload in the browser and in the desktop (whose pages are files, not server routes).
import { useLocation } from "wouter";

export const ROUTES = [
  { id: "overview", label: "Overview", built: true },
  { id: "agents", label: "Agents & Tasks", built: true },
  { id: "approvals", label: "Approvals", built: true },
  { id: "calls", label: "Calls", built: true },
  { id: "health", label: "Health", built: true },
  { id: "costs", label: "Costs", built: true },
  { id: "forecasts", label: "Forecasts", built: true },
  { id: "reports", label: "Reports", built: true },
  { id: "fleet", label: "Fleet", built: false },
  { id: "settings", label: "Settings", built: true },
] as const;

export type RouteId = (typeof ROUTES)[number]["id"];

/** The screen a location path belongs to (its first segment), or null for an unknown path. */
export function routeOfPath(path: string): RouteId | null {
  const first = path.replace(/^\/+/, "").split(/[/?]/)[0] ?? "";
  return ROUTES.find((r) => r.id === first)?.id ?? null;
}

/** The router path of a screen (a `Link` href: wouter adds the `#`). */
export function pathFor(id: RouteId): string {
  return `/${id}`;
}

export function labelOf(id: RouteId): string {
  return ROUTES.find((r) => r.id === id)?.label ?? id;
}

/** The screen being shown, from the router's location. */
export function useCurrentRoute(): RouteId | null {
  const [location] = useLocation();
  return routeOfPath(location);
}
