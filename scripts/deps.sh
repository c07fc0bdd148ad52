#!/usr/bin/env bash
# Installs what Flightdeck needs on Debian/Ubuntu, only what is missing.
#   scripts/deps.sh build   - to build and run the desktop app and the node
#   scripts/deps.sh test    - plus everything the test suite uses
# Uses sudo when not root. Never downloads anything but Debian packages, crates and npm
# packages (no browser or binary downloads).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-build}
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

build_pkgs=(build-essential pkg-config curl wget file libssl-dev libwebkit2gtk-4.1-dev
  libxdo-dev libayatana-appindicator3-dev librsvg2-dev)
test_pkgs=(xvfb xauth x11-utils xdotool imagemagick webkit2gtk-driver chromium
  gnome-keyring libsecret-tools dbus dbus-x11 keyutils python3 python3-venv sqlite3 iproute2 procps
  poppler-utils)

pkgs=("${build_pkgs[@]}")
[ "$mode" = test ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "error: these packages are missing and this is not a Debian/Ubuntu system: ${missing[*]}" >&2
    exit 1
  fi
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  say "installing system packages: ${missing[*]}"
  $SUDO apt-get update -q
  # Through `env`: sudo resets the environment, and apt must not stop to ask questions.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Toolchains that apt cannot provide (Debian's are too old). Every missing one is reported at
# once, with what to do about it.
problems=()
if ! command -v cargo >/dev/null; then
  problems+=("cargo not found: install Rust with rustup (https://rustup.rs)")
else
  need_rust=1.92
  have_rust=$(rustc --version | awk '{print $2}')
  if [ "$(printf '%s\n%s\n' "$need_rust" "$have_rust" | sort -V | head -1)" != "$need_rust" ]; then
    problems+=("Rust $have_rust is older than $need_rust: run 'rustup update'")
  fi
  if [ "$mode" = test ]; then
    for component in rustfmt clippy; do
      sub=${component/rustfmt/fmt}
      if ! cargo "$sub" --version >/dev/null 2>&1; then
        if command -v rustup >/dev/null; then
          say "adding the Rust component $component"
          rustup component add "$component" || problems+=("cargo $sub is missing and 'rustup component add $component' failed")
        else
          problems+=("cargo $sub is missing: install the $component component of your Rust toolchain")
        fi
      fi
    done
  fi
fi
# Node.js 20.19+ for Vite 8.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  problems+=("Node.js 20.19+ and npm are needed for the UI (https://nodejs.org, or NodeSource's Debian packages)")
elif ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  problems+=("Node.js $(node --version) is too old: Vite 8 needs 20.19 or newer")
fi
if [ ${#problems[@]} -gt 0 ]; then
  for p in "${problems[@]}"; do echo "error: $p" >&2; done
  exit 1
fi

# npm packages of the UI (and of the browser/desktop tests), from the lockfile.
if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  say "installing npm packages (ui)"
  npm ci --prefix ui --no-audit --no-fund
fi

if [ "$mode" = test ]; then
  # promtool, taken out of Debian's prometheus package without installing it (installing
  # would start a Prometheus server on the machine).
  if [ ! -x target/tools/bin/promtool ]; then
    say "fetching promtool from Debian's prometheus package"
    mkdir -p target/tools/bin target/tools/deb
    if ! (cd target/tools/deb && apt-get download prometheus >/dev/null 2>&1); then
      SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
      $SUDO apt-get update -q
      (cd target/tools/deb && apt-get download prometheus)
    fi
    deb=$(ls -1 target/tools/deb/prometheus_*.deb | sort -V | tail -1)
    dpkg-deb -x "$deb" target/tools/deb/root
    # Relative, so the checkout can move.
    ln -sf ../deb/root/usr/bin/promtool target/tools/bin/promtool
    target/tools/bin/promtool --version >/dev/null
  fi
  # cargo-deny (licences, sources, duplicate versions), built from crates.io into target/tools.
  if [ ! -x target/tools/bin/cargo-deny ]; then
    say "installing cargo-deny"
    cargo install cargo-deny --locked --version '~0.20' --root target/tools
  fi
  # schemathesis (the API fuzzer, PyPI) in its own virtualenv, pinned.
  if ! target/tools/venv/bin/st --version 2>/dev/null | grep -q '4.32.5'; then
    say "installing schemathesis (PyPI) into target/tools/venv"
    rm -rf target/tools/venv
    python3 -m venv target/tools/venv
    target/tools/venv/bin/pip install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
  fi
  # The official OpenAI and Anthropic Python SDKs and LangChain (tests/sdk), pinned in
  # tests/sdk/requirements.txt; reinstalled when that file changes.
  if ! cmp -s tests/sdk/requirements.txt target/tools/sdk-venv/requirements.txt; then
    say "installing the OpenAI and Anthropic SDKs and LangChain (PyPI) into target/tools/sdk-venv"
    rm -rf target/tools/sdk-venv
    python3 -m venv target/tools/sdk-venv
    target/tools/sdk-venv/bin/pip install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt
    cp tests/sdk/requirements.txt target/tools/sdk-venv/requirements.txt
  fi
  # tauri-driver (WebDriver for the real window), built from crates.io into target/tools.
  if [ ! -x target/tools/bin/tauri-driver ]; then
    say "installing tauri-driver"
    cargo install tauri-driver --locked --version '~2.1' --root target/tools
  fi
fi
