import { describe, expect, it } from "vitest";
import { sparklineScale, sparklineSegments } from "./Sparkline";

describe("sparkline geometry", () => {
  it("starts rates at zero and leaves headroom", () => {
    expect(sparklineScale([1, 2, 4], "zero")).toEqual({ lo: 0, hi: 4 * 1.15 });
    expect(sparklineScale([], "zero")).toEqual({ lo: 0, hi: 1 });
    expect(sparklineScale([0, 0], "zero")).toEqual({ lo: 0, hi: 1 });
  });

  it("fits levels with padding and copes with a flat line", () => {
    const s = sparklineScale([100, 100], "auto");
    expect(s.lo).toBeLessThan(100);
    expect(s.hi).toBeGreaterThan(100);
  });

  it("right-aligns samples in the slots and breaks the line at nulls", () => {
    const segs = sparklineSegments([1, 2, null, 3], 4, "zero");
    expect(segs).toHaveLength(2);
    expect(segs[0]?.map(([x]) => x)).toEqual([0, 100]);
    expect(segs[1]?.map(([x]) => x)).toEqual([300]);
    const few = sparklineSegments([5], 61, "zero");
    expect(few[0]?.[0]?.[0]).toBe(300);
  });

  it("keeps every point inside the view box", () => {
    const segs = sparklineSegments([0, 10, 3, 7, 10], 5, "auto");
    for (const [x, y] of segs.flat()) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(300);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(72);
    }
  });
});
