// A small inline-SVG line chart. Nulls break the line (e.g. across a node restart) instead of
// drawing a misleading spike. The x axis is slot-based: `capacity` slots, newest on the right.
export type SparklineProps = {
  values: readonly (number | null)[];
  capacity: number;
  /** "zero": the y axis starts at 0 (rates); "auto": fitted to the data (levels such as memory). */
  baseline: "zero" | "auto";
  tone: "accent" | "violet";
  label: string;
};

const W = 300;
const H = 72;
const PAD_Y = 6;

export function sparklineScale(values: readonly (number | null)[], baseline: "zero" | "auto"): { lo: number; hi: number } {
  const nums = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (nums.length === 0) return { lo: 0, hi: 1 };
  let lo = Math.min(...nums);
  let hi = Math.max(...nums);
  if (baseline === "zero") {
    lo = Math.min(0, lo);
    hi = hi <= 0 ? 1 : hi * 1.15;
  } else {
    const pad = Math.max((hi - lo) * 0.25, Math.abs(hi) * 0.02, 1e-9);
    lo -= pad;
    hi += pad;
  }
  return { lo, hi };
}

export function sparklineSegments(
  values: readonly (number | null)[],
  capacity: number,
  baseline: "zero" | "auto",
): Array<Array<[number, number]>> {
  const { lo, hi } = sparklineScale(values, baseline);
  const step = capacity > 1 ? W / (capacity - 1) : W;
  const offset = capacity - values.length;
  const segments: Array<Array<[number, number]>> = [];
  let cur: Array<[number, number]> = [];
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      if (cur.length > 0) segments.push(cur);
      cur = [];
      return;
    }
    const x = (offset + i) * step;
    const y = PAD_Y + (1 - (v - lo) / (hi - lo)) * (H - 2 * PAD_Y);
    cur.push([Math.round(x * 10) / 10, Math.round(y * 10) / 10]);
  });
  if (cur.length > 0) segments.push(cur);
  return segments;
}

export function Sparkline({ values, capacity, baseline, tone, label }: SparklineProps) {
  const segments = sparklineSegments(values, capacity, baseline);
  const last = segments.at(-1)?.at(-1);
  return (
    <svg className={`spark spark-${tone}`} viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={label}>
      <line x1="0" x2={W} y1={H - 0.5} y2={H - 0.5} className="spark-axis" />
      {segments.map((seg) => {
        const line = seg.map(([x, y], i) => `${i === 0 ? "M" : "L"}${x} ${y}`).join(" ");
        const first = seg[0];
        const end = seg[seg.length - 1];
        const area = first && end ? `${line} L${end[0]} ${H} L${first[0]} ${H} Z` : "";
        return (
          <g key={`${first?.[0]}`}>
            <path d={area} className="spark-area" />
            <path d={line} className="spark-line" vectorEffect="non-scaling-stroke" />
          </g>
        );
      })}
      {/* A zero-length round-capped stroke stays a circle although the box is stretched. */}
      {last ? <path d={`M${last[0]} ${last[1]}h0`} className="spark-dot" vectorEffect="non-scaling-stroke" /> : null}
    </svg>
  );
}
