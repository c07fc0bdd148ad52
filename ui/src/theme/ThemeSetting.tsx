// The theme setting on the Settings screen: System, Light or Dark, applied at once and kept for
// the next start (theme.ts).
import { Panel } from "../components/Panel";
import { parseChoice, THEME_CHOICES, useTheme, type ThemeChoice } from "./theme";

const LABELS: Record<ThemeChoice, string> = { system: "System", light: "Light", dark: "Dark" };

export function ThemeSetting() {
  const { choice, theme, setChoice } = useTheme();
  return (
    <Panel title="Appearance">
      <label className="field theme-field">
        <span className="field-label">Theme</span>
        <select className="theme-select" value={choice} onChange={(e) => setChoice(parseChoice(e.target.value))} data-testid="theme-select">
          {THEME_CHOICES.map((c) => (
            <option key={c} value={c}>
              {LABELS[c]}
            </option>
          ))}
        </select>
      </label>
      <p className="muted small" data-testid="theme-note">
        {choice === "system"
          ? `System follows the operating system's light or dark setting (${theme} now).`
          : `${LABELS[choice]} whatever the operating system's setting.`}{" "}
        The choice is kept on this device.
      </p>
    </Panel>
  );
}
