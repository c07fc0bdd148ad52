// The keyboard layer: one tinykeys binding on the window for the whole app, a table of what
// each key does (shown by `?`), and nothing while the user types in a field (except Escape,
// which the dialogs handle themselves).
import { useEffect, useId, useState } from "react";
import { tinykeys } from "tinykeys";
import { useLocation } from "wouter";
import { Modal } from "../components/Modal";
import { pathFor, type RouteId } from "../routes";

export type Shortcut = { keys: string; label: string; display: string };

const GO: Array<[string, RouteId, string]> = [
  ["o", "overview", "Overview"],
  ["a", "agents", "Agents & Tasks"],
  ["p", "approvals", "Approvals"],
  ["h", "health", "Health"],
  ["c", "costs", "Costs"],
  ["f", "forecasts", "Forecasts"],
  ["r", "reports", "Reports"],
  ["l", "fleet", "Fleet"],
  ["s", "settings", "Settings"],
];

export const SHORTCUTS: readonly Shortcut[] = [
  ...GO.map(([k, , label]) => ({ keys: `g ${k}`, label: `Go to ${label}`, display: `g then ${k}` })),
  { keys: "/", label: "Filter the list on this screen", display: "/" },
  { keys: "Shift+?", label: "Show these shortcuts", display: "?" },
];

/** True when a key press belongs to a text field, not to the app. */
export function typingIn(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
}

export function Shortcuts() {
  const [, navigate] = useLocation();
  const [help, setHelp] = useState(false);
  const titleId = useId();
  useEffect(() => {
    const guard = (fn: (e: KeyboardEvent) => void) => (e: KeyboardEvent) => {
      if (typingIn(e.target)) return;
      e.preventDefault();
      fn(e);
    };
    const bindings: Record<string, (e: KeyboardEvent) => void> = {
      "/": guard(() => {
        const filter = document.querySelector<HTMLInputElement>("[data-shortcut-filter]");
        filter?.focus();
      }),
      "Shift+?": guard(() => setHelp((h) => !h)),
    };
    for (const [k, id] of GO) bindings[`g ${k}`] = guard(() => navigate(pathFor(id)));
    return tinykeys(window, bindings);
  }, [navigate]);
  return (
    <Modal open={help} onClose={() => setHelp(false)} className="confirm" labelledBy={titleId} testId="shortcuts-help">
      <h2 id={titleId} className="panel-title">
        Keyboard shortcuts
      </h2>
      <dl className="kv shortcuts">
        {SHORTCUTS.map((s) => (
          <div key={s.keys} className="shortcut-row">
            <dt>
              <kbd>{s.display}</kbd>
            </dt>
            <dd>{s.label}</dd>
          </div>
        ))}
      </dl>
      <div className="confirm-actions">
        <button type="button" className="btn btn-ghost" onClick={() => setHelp(false)} autoFocus>
          Close
        </button>
      </div>
    </Modal>
  );
}
