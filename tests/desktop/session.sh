#!/usr/bin/env bash
# Inside dbus-run-session: an unlocked gnome-keyring, fresh XDG dirs, tauri-driver, the tests.
set -euo pipefail
tmp=$(mktemp -d)
export XDG_DATA_HOME=$tmp/data XDG_CONFIG_HOME=$tmp/config XDG_RUNTIME_DIR=$tmp/runtime XDG_CACHE_HOME=$tmp/cache
mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_RUNTIME_DIR" "$XDG_CACHE_HOME"; chmod 700 "$XDG_RUNTIME_DIR"
export FLIGHTDECK_DATA_DIR=$tmp/flightdeck
# The user's Downloads folder, as desktops set it (xdg-user-dirs): where downloads must land.
export TEST_DOWNLOAD_DIR=$tmp/downloads
printf 'XDG_DOWNLOAD_DIR="%s"\n' "$TEST_DOWNLOAD_DIR" >"$XDG_CONFIG_HOME/user-dirs.dirs"

printf %s test-keyring-password | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
keyring=$!
driver_pid=""
cleanup() {
  # Never changes the outcome of the tests: everything here may fail quietly.
  set +e
  local app_pids=""
  # Only the app instances of this run (they carry our temporary data dir), never a
  # developer's own window.
  for pid in $(pgrep -f "$FLIGHTDECK_DESKTOP_APP"); do
    tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "FLIGHTDECK_DATA_DIR=$FLIGHTDECK_DATA_DIR" && app_pids="$app_pids $pid"
  done
  [ -n "$app_pids" ] && kill $app_pids 2>/dev/null
  [ -n "$driver_pid" ] && kill "$driver_pid" 2>/dev/null
  # The apps shut down gracefully (checkpoint into $tmp): wait before removing it.
  for _ in $(seq 150); do
    alive=""
    for pid in $app_pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && break
    sleep 0.1
  done
  for pid in $app_pids; do kill -9 "$pid" 2>/dev/null; done
  [ -n "$driver_pid" ] && wait "$driver_pid" 2>/dev/null
  kill "$keyring" 2>/dev/null
  wait "$keyring" 2>/dev/null
  rm -rf "$tmp"
  return 0
}
trap cleanup EXIT
has_keyring() {
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true
}
for _ in $(seq 100); do has_keyring && break; sleep 0.1; done
has_keyring || { echo "gnome-keyring did not take org.freedesktop.secrets on the test bus within 10 s" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
native=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$TAURI_DRIVER" --port "$port" --native-port "$native" >"$ARTIFACTS_DIR/tauri-driver.log" 2>&1 &
driver_pid=$!
up=""
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/status" >/dev/null 2>&1 && { up=1; break; }
  sleep 0.1
done
[ -n "$up" ] || { echo "tauri-driver did not answer on port $port within 10 s (see $ARTIFACTS_DIR/tauri-driver.log)" >&2; exit 1; }
export WEBDRIVER_URL=http://127.0.0.1:$port
# Files, not the folder: Node 22+ treats a folder argument as a module and fails.
node --test --test-concurrency=1 tests/desktop/*.test.mjs
