import { useQuery } from "@tanstack/react-query";
import { Link } from "wouter";
import { useApi } from "../api/context";
import { approvalStatsQuery, pendingCount } from "../data/approvals";
import { atRiskCount, goalsQuery } from "../data/forecasts";
import { ROUTES, pathFor, type RouteId } from "../routes";
import { Icon, Logo } from "./Icon";

/** Pending approvals, live (an `approvals` event refreshes the figures). */
function PendingBadge() {
  const api = useApi();
  const stats = useQuery(approvalStatsQuery(api));
  const n = pendingCount(stats.data?.pending);
  if (n === 0) return null;
  return (
    <span className="nav-badge" data-testid="approvals-badge" aria-label={`${String(n)} pending`}>
      {n}
    </span>
  );
}

/** Goals at risk, live (a `forecasts` event refreshes them). */
function AtRiskBadge() {
  const api = useApi();
  const goals = useQuery(goalsQuery(api));
  const n = atRiskCount(goals.data?.items);
  if (n === 0) return null;
  return (
    <span className="nav-badge nav-badge-risk" data-testid="forecasts-badge" aria-label={`${String(n)} goal${n === 1 ? "" : "s"} at risk`} title={`${String(n)} goal${n === 1 ? "" : "s"} at risk`}>
      {n}
    </span>
  );
}

export function Sidebar({ current }: { current: RouteId | null }) {
  return (
    <nav className="sidebar" aria-label="Main">
      <div className="brand">
        <Logo />
        <span className="brand-name">Flightdeck</span>
      </div>
      <ul className="nav">
        {ROUTES.map((r) => (
          <li key={r.id}>
            <Link
              href={pathFor(r.id)}
              className={`nav-link${r.id === current ? " active" : ""}`}
              aria-current={r.id === current ? "page" : undefined}
              data-testid={`nav-${r.id}`}
            >
              <Icon name={r.id} />
              <span>{r.label}</span>
              {r.built ? null : <span className="nav-soon">soon</span>}
              {r.id === "approvals" ? <PendingBadge /> : null}
              {r.id === "forecasts" ? <AtRiskBadge /> : null}
            </Link>
          </li>
        ))}
      </ul>
    </nav>
  );
}
