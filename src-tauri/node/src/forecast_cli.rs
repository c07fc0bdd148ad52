//! `flightdeck forecast --csv FILE --horizon H [--season M] [--out FILE] [--explain]`: a
//! forecast of a CSV series on this machine, no node or data dir involved. Output columns
//! `ds,mean,lo80,hi80,lo95,hi95` (a contract); `--explain` adds the model chosen and why,
//! every candidate's backtest scores and the intervals' measured coverage.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use flightdeck_engine::forecast::{self, Forecast};

use crate::cli::ForecastArgs;

pub fn run(args: &ForecastArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.csv)
        .with_context(|| format!("cannot read {}", args.csv.display()))?;
    let series = forecast::series::parse_csv(&text)
        .with_context(|| format!("{} is not a usable series", args.csv.display()))?;
    let f = forecast::forecast(&series, args.horizon, args.season)?;
    let body = if args.json {
        serde_json::to_string_pretty(&f)? + "\n"
    } else {
        forecast::to_csv(&f)
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, body)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if args.explain {
                explain(&f, &mut std::io::stdout())?;
            }
        }
        None => {
            std::io::stdout().write_all(body.as_bytes())?;
            if args.explain {
                explain(&f, &mut std::io::stderr())?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1} %", v * 100.0))
        .unwrap_or_else(|| "not measured (one origin)".into())
}

fn explain(f: &Forecast, out: &mut dyn Write) -> anyhow::Result<()> {
    let s = &f.series;
    writeln!(
        out,
        "series: {} rows, {:?}; {} duplicate(s) averaged, {} point(s) moved to the grid, {} gap(s) filled, {} zero(s), {} negative(s)",
        s.rows, f.frequency, s.duplicates, s.moved, s.gaps_filled, s.zeros, s.negatives
    )?;
    writeln!(
        out,
        "seasonal periods: {}",
        if f.periods.is_empty() {
            "none".to_string()
        } else {
            format!("{:?}", f.periods)
        }
    )?;
    writeln!(out, "model: {} ({})", f.model, f.reason)?;
    writeln!(
        out,
        "intervals: measured coverage on the backtest: 80 % → {}, 95 % → {}",
        pct(f.coverage80),
        pct(f.coverage95)
    )?;
    writeln!(
        out,
        "candidates ({} origin(s) × {} step(s)):",
        f.origins, f.backtest_horizon
    )?;
    writeln!(out, "  {:<44} {:>8} {:>9}", "MODEL", "MASE", "sMAPE %")?;
    for c in &f.candidates {
        if c.fitted {
            writeln!(out, "  {:<44} {:>8.3} {:>9.2}", c.model, c.mase, c.smape)?;
        } else {
            writeln!(
                out,
                "  {:<44} {:>8} {:>9}",
                c.model, "-", "could not be fitted"
            )?;
        }
    }
    Ok(())
}
