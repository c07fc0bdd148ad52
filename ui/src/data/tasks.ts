// Tasks and agents: queries under the `tasks` topic (a `tasks` event makes them stale; see
// invalidation.ts). Agents live in the config: their list is stale on a `config` event too,
// and their health on a `providers` one, so it is keyed under `config`.
import { infiniteQueryOptions, queryOptions } from "@tanstack/react-query";
import { ok, type Api } from "../api/client";
import type { TaskState } from "../generated/api";

export const TASKS_PAGE = 100;

/** The task list in cursor pages, newest first ("more" loads the next), filtered on the node. */
export function tasksQuery(api: Api, state: TaskState | undefined, agent?: string) {
  return infiniteQueryOptions({
    queryKey: ["tasks", "list", state ?? "all", agent ?? "any"] as const,
    initialPageParam: null as string | null,
    queryFn: ({ pageParam, signal }) => {
      const query: { limit: number; state?: TaskState; agent?: string; cursor?: string } = { limit: TASKS_PAGE };
      if (state) query.state = state;
      if (agent) query.agent = agent;
      if (pageParam !== null) query.cursor = pageParam;
      return ok(api.GET("/api/v1/tasks", { params: { query }, signal }));
    },
    getNextPageParam: (last) => last.next_cursor ?? null,
  });
}

export function taskQuery(api: Api, id: string) {
  return queryOptions({
    queryKey: ["tasks", "one", id] as const,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/tasks/{id}", { params: { path: { id } }, signal })),
  });
}

export function agentsQuery(api: Api) {
  return queryOptions({
    queryKey: ["config", "agents"] as const,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/agents", { signal })),
  });
}

/** An agent's figures over the last 24 hours (stale with every `tasks` event). */
export function agentStatsQuery(api: Api, agent: string) {
  return queryOptions({
    queryKey: ["tasks", "agent-stats", agent] as const,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/agents/{name}/stats", { params: { path: { name: agent } }, signal })),
  });
}

export function templatesQuery(api: Api, agent: string) {
  return queryOptions({
    queryKey: ["config", "templates", agent] as const,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/templates/{agent}", { params: { path: { agent } }, signal })),
  });
}

export function templateDiffQuery(api: Api, agent: string, to: number) {
  return queryOptions({
    queryKey: ["config", "templates", agent, "diff", to] as const,
    queryFn: ({ signal }) =>
      ok(api.GET("/api/v1/templates/{agent}/diff", { params: { path: { agent }, query: { to } }, signal })),
  });
}
