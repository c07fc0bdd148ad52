// @vitest-environment happy-dom
// The theme setting against the page's own controller: the choice in localStorage is restored,
// a pick applies at once to <html> and is stored, and "system" follows a mocked matchMedia.
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { PREFERS_LIGHT, THEME_STORAGE_KEY, themeController } from "./theme";
import { ThemeSetting } from "./ThemeSetting";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

/** The OS preference, as matchMedia reports it; `os.set` flips it and fires "change". */
const os = {
  light: false,
  listeners: new Set<EventListener>(),
  set(light: boolean) {
    os.light = light;
    for (const l of [...os.listeners]) l(new Event("change"));
  },
};
const realMatchMedia = window.matchMedia.bind(window);

beforeAll(() => {
  // Before the controller exists: it reads both when it starts.
  window.localStorage.setItem(THEME_STORAGE_KEY, "light");
  window.matchMedia = (query: string): MediaQueryList => {
    if (query !== PREFERS_LIGHT) return realMatchMedia(query);
    const mql = realMatchMedia(query);
    Object.defineProperty(mql, "matches", { get: () => os.light });
    mql.addEventListener = (type: string, l: EventListenerOrEventListenerObject) => {
      if (type === "change" && typeof l === "function") os.listeners.add(l);
    };
    mql.removeEventListener = (type: string, l: EventListenerOrEventListenerObject) => {
      if (type === "change" && typeof l === "function") os.listeners.delete(l);
    };
    return mql;
  };
});

afterAll(() => {
  window.matchMedia = realMatchMedia;
  window.localStorage.removeItem(THEME_STORAGE_KEY);
});

let container: HTMLDivElement;
let root: Root;

beforeEach(async () => {
  container = document.createElement("div");
  document.body.appendChild(container);
  root = createRoot(container);
  await act(async () => root.render(<ThemeSetting />));
});

afterEach(async () => {
  await act(async () => root.unmount());
  container.remove();
});

const select = () => {
  const el = container.querySelector('[data-testid="theme-select"]');
  if (!(el instanceof HTMLSelectElement)) throw new Error("no theme select");
  return el;
};
const htmlTheme = () => document.documentElement.getAttribute("data-theme");

async function pick(value: string) {
  const el = select();
  const descriptor = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(el) as object, "value");
  await act(async () => {
    descriptor?.set?.call(el, value);
    el.dispatchEvent(new Event("change", { bubbles: true }));
  });
}

describe("the theme setting", () => {
  it("restores the stored choice and sets it on <html>", () => {
    expect(select().value).toBe("light");
    expect([...select().options].map((o) => `${o.value}:${o.text}`)).toEqual(["system:System", "light:Light", "dark:Dark"]);
    expect(htmlTheme()).toBe("light");
  });

  it("applies a pick at once and stores it for the next start", async () => {
    await pick("dark");
    expect(htmlTheme()).toBe("dark");
    expect(window.localStorage.getItem(THEME_STORAGE_KEY)).toBe("dark");
    expect(select().value).toBe("dark");
    // An explicit choice stays put when the OS changes.
    await act(async () => os.set(true));
    expect(htmlTheme()).toBe("dark");
  });

  it("on System, follows the OS preference and its changes", async () => {
    await pick("system");
    expect(window.localStorage.getItem(THEME_STORAGE_KEY)).toBe("system");
    expect(htmlTheme()).toBe("light");
    expect(container.querySelector('[data-testid="theme-note"]')?.textContent).toContain("(light now)");
    await act(async () => os.set(false));
    expect(htmlTheme()).toBe("dark");
    expect(select().value).toBe("system");
    expect(container.querySelector('[data-testid="theme-note"]')?.textContent).toContain("(dark now)");
    await act(async () => os.set(true));
    expect(htmlTheme()).toBe("light");
    expect(themeController().state()).toEqual({ choice: "system", theme: "light" });
  });
});
