import { ROUTES, hrefFor, type RouteId } from "../routes";
import { Icon, Logo } from "./Icon";

const BUILT: ReadonlySet<RouteId> = new Set(["overview", "health", "settings"]);

export function Sidebar({ current }: { current: RouteId }) {
  return (
    <nav className="sidebar" aria-label="Main">
      <div className="brand">
        <Logo />
        <span className="brand-name">Flightdeck</span>
      </div>
      <ul className="nav">
        {ROUTES.map((r) => (
          <li key={r.id}>
            <a
              href={hrefFor(r.id)}
              className={`nav-link${r.id === current ? " active" : ""}`}
              aria-current={r.id === current ? "page" : undefined}
              data-testid={`nav-${r.id}`}
            >
              <Icon name={r.id} />
              <span>{r.label}</span>
              {BUILT.has(r.id) ? null : <span className="nav-soon">soon</span>}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
