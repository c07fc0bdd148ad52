// The UI's colour theme: the user's choice ("system", "light" or "dark"), kept in localStorage
// (a preference, not a secret), and the theme it resolves to, set on <html> as data-theme for
// styles.css. "system" follows the OS (prefers-color-scheme), live.
//
// Before this runs, <html> has no data-theme and styles.css picks the palette by the media
// query alone, so "system" (the default) shows no flash of the wrong theme at load.
import { useSyncExternalStore } from "react";

export type ThemeChoice = "system" | "light" | "dark";
export type Theme = "light" | "dark";
export type ThemeState = { choice: ThemeChoice; theme: Theme };

export const THEME_STORAGE_KEY = "flightdeck.theme";
export const THEME_CHOICES: readonly ThemeChoice[] = ["system", "light", "dark"];
export const PREFERS_LIGHT = "(prefers-color-scheme: light)";

export type ThemeStorage = Pick<Storage, "getItem" | "setItem">;
export type ColorSchemeQuery = Pick<MediaQueryList, "matches" | "addEventListener" | "removeEventListener">;
export type ThemeRoot = Pick<Element, "setAttribute">;

/** Where the controller reads and writes; any part may be missing (tests, no DOM, no storage). */
export type ThemeEnv = {
  storage: ThemeStorage | null;
  /** matchMedia(PREFERS_LIGHT). */
  prefersLight: ColorSchemeQuery | null;
  /** document.documentElement. */
  root: ThemeRoot | null;
};

/** A stored value as a choice; anything else (nothing stored, a stale value) is "system". */
export function parseChoice(value: string | null | undefined): ThemeChoice {
  return THEME_CHOICES.find((c) => c === value) ?? "system";
}

/** The theme a choice shows; without an OS preference "system" is dark, the original theme. */
export function resolveTheme(choice: ThemeChoice, prefersLight: boolean): Theme {
  if (choice !== "system") return choice;
  return prefersLight ? "light" : "dark";
}

export class ThemeController {
  private snapshot: ThemeState;
  private readonly listeners = new Set<() => void>();
  private stopMedia: (() => void) | null = null;

  constructor(private readonly env: ThemeEnv) {
    const choice = parseChoice(this.read());
    this.snapshot = { choice, theme: resolveTheme(choice, this.prefersLight()) };
  }

  /** Sets data-theme on the root and follows the OS preference from now on. Idempotent. */
  start(): void {
    this.apply();
    if (this.stopMedia || !this.env.prefersLight) return;
    const query = this.env.prefersLight;
    const onChange = () => this.update(this.snapshot.choice);
    query.addEventListener("change", onChange);
    this.stopMedia = () => query.removeEventListener("change", onChange);
  }

  stop(): void {
    this.stopMedia?.();
    this.stopMedia = null;
  }

  readonly state = (): ThemeState => this.snapshot;

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  /** Stores the choice (for the next start too) and applies it at once. */
  readonly setChoice = (choice: ThemeChoice): void => {
    try {
      this.env.storage?.setItem(THEME_STORAGE_KEY, choice);
    } catch {
      // Storage full or refused: the choice still holds for this session.
    }
    this.update(choice);
  };

  private read(): string | null {
    try {
      return this.env.storage?.getItem(THEME_STORAGE_KEY) ?? null;
    } catch {
      return null;
    }
  }

  private prefersLight(): boolean {
    return this.env.prefersLight?.matches ?? false;
  }

  private update(choice: ThemeChoice): void {
    const theme = resolveTheme(choice, this.prefersLight());
    if (choice === this.snapshot.choice && theme === this.snapshot.theme) return;
    this.snapshot = { choice, theme };
    this.apply();
    for (const l of [...this.listeners]) l();
  }

  private apply(): void {
    this.env.root?.setAttribute("data-theme", this.snapshot.theme);
  }
}

/** The page's storage, OS preference and <html>, as far as they exist. */
export function browserThemeEnv(): ThemeEnv {
  if (typeof window === "undefined") return { storage: null, prefersLight: null, root: null };
  let storage: ThemeStorage | null;
  try {
    // Reading `localStorage` itself throws where storage is disabled.
    storage = window.localStorage;
  } catch {
    storage = null;
  }
  const prefersLight = typeof window.matchMedia === "function" ? window.matchMedia(PREFERS_LIGHT) : null;
  return { storage, prefersLight, root: window.document.documentElement };
}

let current: ThemeController | null = null;

/** The page's one controller, started on first use (main.tsx uses it before the first render). */
export function themeController(): ThemeController {
  if (!current) {
    current = new ThemeController(browserThemeEnv());
    current.start();
  }
  return current;
}

/** The current choice and theme, re-rendered when either changes, and the setter. */
export function useTheme(): ThemeState & { setChoice: (choice: ThemeChoice) => void } {
  const controller = themeController();
  const state = useSyncExternalStore(controller.subscribe, controller.state);
  return { ...state, setChoice: controller.setChoice };
}
