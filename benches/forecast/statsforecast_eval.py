"""The forecast accuracy evaluation of src-tauri/engine/src/forecast/accuracy.rs, run with
statsforecast's AutoARIMA and AutoETS (PyPI) on the same series, windows and metrics, so
scripts/bench-forecast.sh can print both side by side.

Protocol (as in the Rust test): each series of tests/data/forecast is put on its regular grid
(missing weeks interpolated linearly), then for the last 3 windows of h points each, a model
is fitted on what precedes the window and forecasts it with 80 % and 95 % intervals. MASE is
scaled by the in-sample mean absolute seasonal difference of the training part (season from
the calendar: 12 monthly, 4 quarterly, 52 weekly, none yearly); sMAPE in %; coverage is the
share of held-out points inside each interval.
"""

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from statsforecast.models import AutoARIMA, AutoETS

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "forecast"
SERIES = [
    ("air_passengers", 12, "MS", 12),
    ("shampoo_sales", 6, "MS", 12),
    ("uk_road_ksi", 12, "MS", 12),
    ("elnino_sst", 12, "MS", 12),
    ("us_consumption_change", 8, "QS", 4),
    ("lynx", 10, "YS", 1),
    ("nile", 10, "YS", 1),
    ("sunspots", 10, "YS", 1),
    ("co2_weekly", 26, "7D", 52),
]


def load(name, freq):
    df = pd.read_csv(DATA / f"{name}.csv")
    ds = pd.to_datetime(df["ds"].astype(str), format="mixed")
    s = pd.Series(df["y"].astype(float).values, index=ds).sort_index()
    s = s.groupby(level=0).mean()
    grid = pd.date_range(s.index[0], s.index[-1], freq=freq)
    return s.reindex(s.index.union(grid)).interpolate("linear").reindex(grid).values


def evaluate(model_factory, y, h, m):
    n = len(y)
    ae = nae = sm = 0.0
    k = in80 = in95 = 0
    fit_seconds = []
    for w in (3, 2, 1):
        o = n - w * h
        train = y[:o]
        t = time.perf_counter()
        model = model_factory(m).fit(train)
        f = model.predict(h=h, level=[80, 95])
        fit_seconds.append(time.perf_counter() - t)
        mean = f["mean"]
        d = np.abs(train[m:] - train[:-m]) if m < len(train) else np.abs(np.diff(train))
        scale = max(d.mean(), 1e-9)
        for j in range(h):
            a = y[o + j]
            ae += abs(a - mean[j]) / scale
            nae += abs(a - train[o - m + (j % m)]) / scale
            den = abs(a) + abs(mean[j])
            sm += 2 * abs(a - mean[j]) / den if den > 0 else 0.0
            in80 += int(f["lo-80"][j] <= a <= f["hi-80"][j])
            in95 += int(f["lo-95"][j] <= a <= f["hi-95"][j])
            k += 1
    return ae / k, nae / k, sm / k * 100, in80, in95, k, fit_seconds


def arima(m):
    return AutoARIMA(season_length=m)


def ets(m):
    return AutoETS(season_length=m)


def run_one(args):
    factory, name, h, freq, m = args
    return evaluate(factory, load(name, freq), h, m)


# A series whose three fits take longer than this is reported as such, not waited for.
LIMIT_SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 300.0


def main():
    from concurrent.futures import ProcessPoolExecutor, TimeoutError as Timeout

    models = {"AutoARIMA": arima, "AutoETS": ets}
    for label, factory in models.items():
        print(f"statsforecast {label}")
        print(f"{'series':<24} {'MASE':>8} {'sn MASE':>8} {'sMAPE %':>9} {'cov80':>7} {'cov95':>7} {'s/fit':>7}")
        tot = totn = 0.0
        i80 = i95 = pts = 0
        fits = []
        n_done = 0
        for name, h, freq, m in SERIES:
            pool = ProcessPoolExecutor(max_workers=1)
            job = pool.submit(run_one, (factory, name, h, freq, m))
            try:
                mase, nmase, smape, a, b, k, secs = job.result(timeout=LIMIT_SECONDS)
            except Timeout:
                for p in pool._processes.values():
                    p.kill()
                pool.shutdown(wait=False, cancel_futures=True)
                print(f"{name:<24} not finished within {LIMIT_SECONDS:.0f} s (left out of the pooled figures)", flush=True)
                continue
            pool.shutdown()
            n_done += 1
            fits += secs
            print(f"{name:<24} {mase:>8.3f} {nmase:>8.3f} {smape:>9.2f} {a / k:>7.2f} {b / k:>7.2f} {np.median(secs):>7.3f}", flush=True)
            tot += mase
            totn += nmase
            i80 += a
            i95 += b
            pts += k
        n = max(n_done, 1)
        print(
            f"pooled: MASE {tot / n:.3f} (seasonal naive {totn / n:.3f}), coverage 80 % {i80 / pts:.3f}, "
            f"95 % {i95 / pts:.3f}, {pts} points; median fit {np.median(fits):.3f} s\n"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
