import { Link } from "wouter";
import { ROUTES, pathFor, type RouteId } from "../routes";
import { Icon, Logo } from "./Icon";

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
            </Link>
          </li>
        ))}
      </ul>
    </nav>
  );
}
