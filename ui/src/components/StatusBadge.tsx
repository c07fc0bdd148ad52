import type { HealthStatus } from "../generated/api";

const LABEL: Record<HealthStatus, string> = { healthy: "Healthy", degraded: "Degraded", unhealthy: "Unhealthy" };

export function StatusBadge({ status, testId, large = false }: { status: HealthStatus; testId?: string; large?: boolean }) {
  return (
    <span className={`badge badge-${status}${large ? " badge-lg" : ""}`} data-status={status} data-testid={testId}>
      <span className="badge-dot" aria-hidden="true" />
      {LABEL[status]}
    </span>
  );
}
