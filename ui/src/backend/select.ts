// Chooses the backend once, at startup. This is the only place that looks at the environment.
import type { Backend } from "./backend";
import { TauriBackend } from "./tauri";
import { createWebBackend } from "./web";

export function isTauri(win: Window): boolean {
  return "__TAURI_INTERNALS__" in win;
}

export function createBackend(win: Window = window): Backend {
  return isTauri(win) ? new TauriBackend() : createWebBackend(win);
}
