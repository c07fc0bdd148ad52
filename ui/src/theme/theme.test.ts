import { describe, expect, it, vi } from "vitest";
import {
  browserThemeEnv,
  parseChoice,
  resolveTheme,
  THEME_STORAGE_KEY,
  ThemeController,
  type ColorSchemeQuery,
  type ThemeEnv,
  type ThemeStorage,
} from "./theme";

function memoryStorage(initial: Record<string, string> = {}): ThemeStorage & { data: Map<string, string> } {
  const data = new Map(Object.entries(initial));
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
  };
}

/** A matchMedia("(prefers-color-scheme: light)") whose answer the test flips, as the OS would. */
function fakeQuery(prefersLight: boolean): ColorSchemeQuery & { set(light: boolean): void; listeners: Set<() => void> } {
  const listeners = new Set<() => void>();
  const q = {
    matches: prefersLight,
    listeners,
    addEventListener: (type: string, l: () => void) => {
      if (type === "change") listeners.add(l);
    },
    removeEventListener: (type: string, l: () => void) => {
      if (type === "change") listeners.delete(l);
    },
    set(light: boolean) {
      q.matches = light;
      for (const l of [...listeners]) l();
    },
  };
  return q as ColorSchemeQuery & typeof q;
}

function fakeRoot(): { attrs: Map<string, string>; setAttribute(name: string, value: string): void } {
  const attrs = new Map<string, string>();
  return { attrs, setAttribute: (n, v) => void attrs.set(n, v) };
}

function setup(stored: Record<string, string> = {}, prefersLight = false) {
  const storage = memoryStorage(stored);
  const query = fakeQuery(prefersLight);
  const root = fakeRoot();
  const env: ThemeEnv = { storage, prefersLight: query, root };
  const controller = new ThemeController(env);
  controller.start();
  return { storage, query, root, env, controller };
}

describe("parseChoice and resolveTheme", () => {
  it.each([
    ["light", "light"],
    ["dark", "dark"],
    ["system", "system"],
    [null, "system"],
    ["", "system"],
    ["Light", "system"],
    ["sepia", "system"],
  ] as const)("%s is %s", (stored, choice) => {
    expect(parseChoice(stored)).toBe(choice);
  });

  it("resolves system by the OS preference and keeps explicit choices", () => {
    expect(resolveTheme("system", true)).toBe("light");
    expect(resolveTheme("system", false)).toBe("dark");
    expect(resolveTheme("light", false)).toBe("light");
    expect(resolveTheme("dark", true)).toBe("dark");
  });
});

describe("ThemeController", () => {
  it("defaults to system and sets data-theme on the root from the OS preference", () => {
    const light = setup({}, true);
    expect(light.controller.state()).toEqual({ choice: "system", theme: "light" });
    expect(light.root.attrs.get("data-theme")).toBe("light");
    const dark = setup({}, false);
    expect(dark.controller.state()).toEqual({ choice: "system", theme: "dark" });
    expect(dark.root.attrs.get("data-theme")).toBe("dark");
  });

  it("stores the choice, applies it at once, and restores it at the next start", () => {
    const { storage, controller, root, env } = setup({}, true);
    const listener = vi.fn();
    controller.subscribe(listener);
    controller.setChoice("dark");
    expect(storage.data.get(THEME_STORAGE_KEY)).toBe("dark");
    expect(controller.state()).toEqual({ choice: "dark", theme: "dark" });
    expect(root.attrs.get("data-theme")).toBe("dark");
    expect(listener).toHaveBeenCalledTimes(1);

    // The next start: a new controller over the same storage.
    const nextRoot = fakeRoot();
    const next = new ThemeController({ ...env, root: nextRoot });
    next.start();
    expect(next.state()).toEqual({ choice: "dark", theme: "dark" });
    expect(nextRoot.attrs.get("data-theme")).toBe("dark");

    controller.setChoice("light");
    expect(storage.data.get(THEME_STORAGE_KEY)).toBe("light");
    expect(new ThemeController(env).state()).toEqual({ choice: "light", theme: "light" });
  });

  it("a stale stored value falls back to system", () => {
    const { controller } = setup({ [THEME_STORAGE_KEY]: "solarized" }, false);
    expect(controller.state()).toEqual({ choice: "system", theme: "dark" });
  });

  it("on system, follows the OS preference live", () => {
    const { query, controller, root } = setup({ [THEME_STORAGE_KEY]: "system" }, false);
    const listener = vi.fn();
    controller.subscribe(listener);
    query.set(true);
    expect(controller.state()).toEqual({ choice: "system", theme: "light" });
    expect(root.attrs.get("data-theme")).toBe("light");
    query.set(false);
    expect(controller.state().theme).toBe("dark");
    expect(root.attrs.get("data-theme")).toBe("dark");
    expect(listener).toHaveBeenCalledTimes(2);
  });

  it("an explicit choice ignores the OS; back on system it shows the OS's current preference", () => {
    const { query, controller, root } = setup({ [THEME_STORAGE_KEY]: "dark" }, false);
    const listener = vi.fn();
    controller.subscribe(listener);
    query.set(true);
    expect(controller.state()).toEqual({ choice: "dark", theme: "dark" });
    expect(root.attrs.get("data-theme")).toBe("dark");
    expect(listener).not.toHaveBeenCalled();
    controller.setChoice("system");
    expect(controller.state()).toEqual({ choice: "system", theme: "light" });
    expect(root.attrs.get("data-theme")).toBe("light");
  });

  it("keeps the same snapshot while nothing changes (useSyncExternalStore needs that)", () => {
    const { query, controller } = setup({}, true);
    const before = controller.state();
    const listener = vi.fn();
    controller.subscribe(listener);
    controller.setChoice("system");
    query.set(true);
    expect(controller.state()).toBe(before);
    expect(listener).not.toHaveBeenCalled();
  });

  it("start is idempotent; stop and unsubscribe detach", () => {
    const { query, controller } = setup({}, false);
    controller.start();
    expect(query.listeners.size).toBe(1);
    const listener = vi.fn();
    const unsubscribe = controller.subscribe(listener);
    unsubscribe();
    query.set(true);
    expect(listener).not.toHaveBeenCalled();
    controller.stop();
    expect(query.listeners.size).toBe(0);
    query.set(false);
    expect(controller.state().theme).toBe("light");
  });

  it("works without storage, without matchMedia and when storage throws", () => {
    const bare = new ThemeController({ storage: null, prefersLight: null, root: null });
    bare.start();
    expect(bare.state()).toEqual({ choice: "system", theme: "dark" });
    bare.setChoice("light");
    expect(bare.state()).toEqual({ choice: "light", theme: "light" });

    const broken: ThemeStorage = {
      getItem: () => {
        throw new Error("SecurityError");
      },
      setItem: () => {
        throw new Error("QuotaExceededError");
      },
    };
    const root = fakeRoot();
    const c = new ThemeController({ storage: broken, prefersLight: fakeQuery(true), root });
    c.start();
    expect(c.state()).toEqual({ choice: "system", theme: "light" });
    c.setChoice("dark");
    expect(root.attrs.get("data-theme")).toBe("dark");
  });

  it("outside a browser the environment is empty", () => {
    expect(browserThemeEnv()).toEqual({ storage: null, prefersLight: null, root: null });
  });
});
