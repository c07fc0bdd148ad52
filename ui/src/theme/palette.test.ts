// The palettes in styles.css: the light one is written twice (the user's choice, and "system"
// before the script runs) and both copies must match; it overrides every colour of the dark
// one; its text colours meet WCAG AA; and no rule outside the palettes hard-codes a colour.
import { describe, expect, it } from "vitest";
import css from "../styles.css?raw";

type Palette = Map<string, string>;

/** The declarations of the first rule whose selector is exactly `selector`. */
function block(selector: string): Palette {
  const start = css.indexOf(`${selector} {`);
  if (start === -1) throw new Error(`no ${selector} in styles.css`);
  const body = css.slice(css.indexOf("{", start) + 1, css.indexOf("}", start));
  const decls = new Map<string, string>();
  for (const d of body.split(";")) {
    const i = d.indexOf(":");
    if (i === -1) continue;
    decls.set(d.slice(0, i).trim(), d.slice(i + 1).trim().replace(/\s+/g, " "));
  }
  return decls;
}

const dark = block(":root");
const light = block(':root[data-theme="light"]');
const lightSystem = block(":root:not([data-theme])");

const isColour = (v: string) => /^(#|rgba?\()/.test(v);

type Rgba = [number, number, number, number];

function colour(p: Palette, name: string): Rgba {
  const v = p.get(name);
  if (v === undefined) throw new Error(`${name} is not in the palette`);
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(v)?.[1];
  if (hex !== undefined) {
    const full = hex.length === 3 ? hex.replace(/./g, (c) => c + c) : hex;
    return [0, 2, 4].map((i) => Number.parseInt(full.slice(i, i + 2), 16)).concat(1) as Rgba;
  }
  const m = /^rgba\((?:var\((--[\w-]+)\)|([\d\s,]+)),\s*([\d.]+)\)$/.exec(v);
  if (m) {
    const rgb = (m[1] !== undefined ? (p.get(m[1]) ?? "") : (m[2] ?? "")).split(",").map((x) => Number(x.trim()));
    return [rgb[0] ?? NaN, rgb[1] ?? NaN, rgb[2] ?? NaN, Number(m[3])];
  }
  throw new Error(`${name}: cannot read ${v}`);
}

/** `top` over an opaque `bottom`. */
function over(top: Rgba, bottom: Rgba): Rgba {
  const a = top[3];
  return [0, 1, 2].map((i) => (top[i] ?? 0) * a + (bottom[i] ?? 0) * (1 - a)).concat(1) as Rgba;
}

function luminance(c: Rgba): number {
  const lin = (v: number) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
}

function contrast(a: Rgba, b: Rgba): number {
  const [x, y] = [luminance(a), luminance(b)];
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
}

describe("the palettes in styles.css", () => {
  it("writes the light palette twice, identically", () => {
    expect(light.size).toBeGreaterThan(20);
    expect([...lightSystem]).toEqual([...light]);
    expect(light.get("color-scheme")).toBe("light");
    expect(dark.get("color-scheme")).toBe("dark");
    expect(css).toMatch(/@media \(prefers-color-scheme: light\) \{\s*:root:not\(\[data-theme\]\) \{/);
  });

  it("gives every colour of the dark palette a light value", () => {
    const colours = [...dark].filter(([k, v]) => k.startsWith("--") && (isColour(v) || k.endsWith("-rgb"))).map(([k]) => k);
    expect(colours.length).toBeGreaterThan(30);
    expect(colours.filter((k) => !light.has(k))).toEqual([]);
  });

  it("keeps each accent and its r, g, b in step", () => {
    for (const p of [dark, light]) {
      for (const name of ["--accent", "--violet", "--green", "--amber", "--red"]) {
        const [r, g, b] = colour(p, name);
        expect(p.get(`${name}-rgb`)).toBe(`${String(r)}, ${String(g)}, ${String(b)}`);
      }
    }
  });

  it("light text meets WCAG AA (4.5:1) on every light surface and soft tint", () => {
    const surfaces = ["--bg", "--bg-sidebar", "--surface", "--surface-2", "--surface-hover"].map((s) => [s, colour(light, s)] as const);
    const texts = ["--text", "--text-strong", "--muted", "--faint", "--accent", "--violet", "--green", "--amber", "--red", "--error-text", "--diff-add", "--diff-del"];
    const failures: string[] = [];
    for (const t of texts) {
      for (const [s, bg] of surfaces) {
        const r = contrast(colour(light, t), bg);
        if (r < 4.5) failures.push(`${t} on ${s}: ${r.toFixed(2)}`);
      }
    }
    // Pills and badges: the accent's text on its own soft tint, over a panel or the page.
    for (const tone of ["--accent", "--green", "--amber", "--red"]) {
      for (const s of ["--surface", "--bg"]) {
        const tint = over(colour(light, `${tone}-soft`), colour(light, s));
        for (const t of [tone, "--text", "--muted"]) {
          const r = contrast(colour(light, t), tint);
          if (r < 4.5) failures.push(`${t} on ${tone}-soft over ${s}: ${r.toFixed(2)}`);
        }
      }
    }
    const fills: [string, string][] = [
      ["--on-accent", "--accent"],
      ["--on-accent", "--accent-hover"],
      ["--on-amber", "--amber"],
      ["--on-red", "--red"],
    ];
    for (const [t, b] of fills) {
      const r = contrast(colour(light, t), colour(light, b));
      if (r < 4.5) failures.push(`${t} on ${b}: ${r.toFixed(2)}`);
    }
    expect(failures).toEqual([]);
  });

  it("hard-codes no colour outside the palettes", () => {
    const rules = css.slice(css.indexOf("* {\n  box-sizing"));
    expect(rules.length).toBeGreaterThan(1000);
    const literals = rules.match(/#[0-9a-f]{3,8}\b|rgba?\((?!var\()[^)]*\)|hsla?\(/gi) ?? [];
    expect(literals).toEqual([]);
  });
});
