// Loading the node's health report. /health may answer 503 with a full HealthReport when the
// node is unhealthy; that is data to show, not a failure to load.
import { ApiError } from "../backend/apiError";
import type { Backend } from "../backend/backend";
import type { HealthReport, HealthStatus, HealthTransition, Page } from "../generated/api";

export const HEALTH_STATUSES: readonly HealthStatus[] = ["healthy", "degraded", "unhealthy"];

function looksLikeReport(v: unknown): v is HealthReport {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Partial<HealthReport>;
  return typeof r.status === "string" && Array.isArray(r.dependencies);
}

export async function fetchHealth(backend: Backend): Promise<HealthReport> {
  try {
    return await backend.request<HealthReport>("GET", "/health");
  } catch (err) {
    if (err instanceof ApiError && looksLikeReport(err.body)) return err.body;
    throw err;
  }
}

export function healthCounts(report: HealthReport): Record<HealthStatus, number> {
  const counts: Record<HealthStatus, number> = { healthy: 0, degraded: 0, unhealthy: 0 };
  for (const d of report.dependencies) counts[d.status] = (counts[d.status] ?? 0) + 1;
  return counts;
}

/** The newest `limit` health transitions, newest first. */
export async function fetchTransitions(backend: Backend, limit: number): Promise<Page<HealthTransition>> {
  return backend.request<Page<HealthTransition>>("GET", `/api/v1/health/transitions?limit=${limit}`);
}
