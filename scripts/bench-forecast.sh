#!/usr/bin/env bash
# Forecast accuracy side by side (docs/benchmarks.md): Flightdeck's forecaster and
# statsforecast's AutoARIMA and AutoETS (PyPI) on the real series of tests/data/forecast, the
# same rolling windows and metrics (MASE, sMAPE, 80 % / 95 % interval coverage), per series
# and pooled; plus statsforecast's time per fit. Prints figures; asserts nothing (the Rust
# accuracy test asserts Flightdeck's bounds). The statsforecast venv goes to
# target/tools/forecast-venv. LIMIT=N: seconds a statsforecast model may take on one series
# (default 300; AutoARIMA with a 52-week season is very slow).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/tools/forecast-venv
if ! "$VENV/bin/python" -c 'import statsforecast' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'statsforecast==2.1.1'
fi
echo "== Flightdeck (cargo test --release, forecast::accuracy)"
cargo test --release -q -p flightdeck-engine --lib forecast::accuracy -- --nocapture 2>/dev/null \
  | grep -E '^(series|pooled|[a-z0-9_]+ +[0-9-])' | grep -v '^running'
echo
echo "== statsforecast $("$VENV/bin/python" -c 'import statsforecast; print(statsforecast.__version__)')"
"$VENV/bin/python" benches/forecast/statsforecast_eval.py "${LIMIT:-300}"
