import { QueryClient, QueryObserver } from "@tanstack/react-query";
import { describe, expect, it } from "vitest";
import { applyInvalidation } from "./invalidation";

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("applyInvalidation", () => {
  it("loads a query again when an event arrived while it was loading", async () => {
    const client = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, retry: false } } });
    const answers: ((v: number) => void)[] = [];
    // An observed (active) query, as on a screen.
    const observer = new QueryObserver(client, {
      queryKey: ["runs", "list"],
      queryFn: () => new Promise<number>((resolve) => answers.push(resolve)),
    });
    const unsubscribe = observer.subscribe(() => undefined);
    await tick();
    expect(answers.length).toBe(1);
    // The node changes while the first answer (with the old state) is on its way.
    applyInvalidation(client, { kind: "topic", topic: "runs" });
    answers[0]?.(0);
    await tick();
    // A second load started on its own, and its answer is the new state.
    expect(answers.length).toBe(2);
    answers[1]?.(1);
    await tick();
    expect(client.getQueryData(["runs", "list"])).toBe(1);
    // Quiet again: no event, no load.
    await tick();
    expect(answers.length).toBe(2);
    unsubscribe();
  });
});
