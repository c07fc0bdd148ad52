// Helpers over the node's health report.
import type { HealthReport, HealthStatus } from "../generated/api";

export const HEALTH_STATUSES: readonly HealthStatus[] = ["healthy", "degraded", "unhealthy"];

export function healthCounts(report: HealthReport): Record<HealthStatus, number> {
  const counts: Record<HealthStatus, number> = { healthy: 0, degraded: 0, unhealthy: 0 };
  for (const d of report.dependencies) counts[d.status] += 1;
  return counts;
}
