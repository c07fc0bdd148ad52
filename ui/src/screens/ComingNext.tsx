// Screens not built yet say plainly what they will hold. No placeholder numbers.
import type { ReactNode } from "react";
import { Icon } from "../components/Icon";
import type { RouteId } from "../routes";

type Plan = { title: string; summary: ReactNode; items: string[] };

/** The screens not built yet, each with its plan. */
export const PLANNED = ["fleet"] as const satisfies readonly RouteId[];

export const PLANS: Record<(typeof PLANNED)[number], Plan> = {
  fleet: {
    title: "Fleet",
    summary: (
      <>
        Remote <code className="mono">flightdeck serve</code> nodes, side by side.
      </>
    ),
    items: [
      "Add nodes by URL and token",
      "Each node's health, pending approvals and costs",
      "Fleet-wide totals and a merged live feed",
    ],
  },
};

export function ComingNext({ id }: { id: keyof typeof PLANS }) {
  const plan = PLANS[id];
  return (
    <div className="screen" data-testid={`screen-${id}`}>
      <section className="panel coming">
        <div className="coming-icon">
          <Icon name={id} />
        </div>
        <div className="coming-body">
          <div className="coming-tag">Coming next</div>
          <h2>{plan.title}</h2>
          <p className="muted">{plan.summary} This screen is not built yet; here is what it will show:</p>
          <ul className="coming-list">
            {plan.items.map((item) => (
              <li key={item}>{item}</li>
            ))}
          </ul>
        </div>
      </section>
    </div>
  );
}
