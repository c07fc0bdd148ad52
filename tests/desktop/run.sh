#!/usr/bin/env bash
# Desktop end-to-end: the real flightdeck-desktop window under Xvfb, driven over WebDriver
# (tauri-driver + WebKitWebDriver), inside a private D-Bus session with an unlocked
# gnome-keyring so the keychain is real too.
set -euo pipefail
cd "$(dirname "$0")/../.."
export ARTIFACTS_DIR=${ARTIFACTS_DIR:-$PWD/target/test-artifacts}
mkdir -p "$ARTIFACTS_DIR"

app=$PWD/target/debug/flightdeck-desktop
[ -x "$app" ] || { echo "missing $app: build it with cargo build --features custom-protocol" >&2; exit 1; }
driver=$PWD/target/tools/bin/tauri-driver
[ -x "$driver" ] || { echo "missing $driver: run scripts/deps.sh test" >&2; exit 1; }

# A free display number.
d=99
while [ -e "/tmp/.X11-unix/X$d" ] || [ -e "/tmp/.X$d-lock" ]; do d=$((d + 1)); done
Xvfb ":$d" -screen 0 1280x800x24 -nolisten tcp >"$ARTIFACTS_DIR/xvfb.log" 2>&1 &
xvfb=$!
# Not `exec` below: the trap must run so no Xvfb outlives the tests.
trap 'kill $xvfb 2>/dev/null || true; wait $xvfb 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$d" ] && break; sleep 0.1; done
[ -e "/tmp/.X11-unix/X$d" ] || { echo "Xvfb :$d did not start (see $ARTIFACTS_DIR/xvfb.log)" >&2; exit 1; }
export DISPLAY=":$d"

# The tests see none of the developer's Flightdeck settings.
for v in $(compgen -e | grep '^FLIGHTDECK_' || true); do unset "$v"; done
unset RUST_LOG
export FLIGHTDECK_DESKTOP_APP=$app TAURI_DRIVER=$driver
dbus-run-session -- bash tests/desktop/session.sh
