//! Process-wide tracing subscriber: text or JSON lines on stderr, with a filter that config
//! reloads can change while running. The one global here is tracing's own dispatcher, which
//! is set once by the binary (never by the engine library on its own).

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use super::TelemetryError;
use crate::config::LogFormat;

/// Changes the log filter of a running process.
#[derive(Clone)]
pub struct LogHandle {
    filter: reload::Handle<EnvFilter, Registry>,
}

impl std::fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogHandle")
    }
}

impl LogHandle {
    /// A handle on a filter layer that is not installed anywhere, with that layer: for
    /// tests, or a binary composing its own subscriber. The handle works while the layer
    /// lives.
    pub fn detached(
        level: &str,
    ) -> Result<(Self, reload::Layer<EnvFilter, Registry>), TelemetryError> {
        let (layer, filter) = reload::Layer::new(parse(level)?);
        Ok((Self { filter }, layer))
    }

    /// The filter in force, as text (`None` once the layer is gone).
    pub fn current(&self) -> Option<String> {
        self.filter.with_current(|f| f.to_string()).ok()
    }

    /// Puts a new filter in force (e.g. after a config reload).
    pub fn set_level(&self, level: &str) -> Result<(), TelemetryError> {
        let filter = parse(level)?;
        self.filter
            .reload(filter)
            .map_err(|e| TelemetryError::Filter {
                filter: level.into(),
                reason: e.to_string(),
            })
    }
}

fn parse(level: &str) -> Result<EnvFilter, TelemetryError> {
    EnvFilter::try_new(level).map_err(|e| TelemetryError::Filter {
        filter: level.into(),
        reason: e.to_string(),
    })
}

/// Installs the subscriber. `RUST_LOG`, when set, wins over `level`.
pub fn init_logging(level: &str, format: LogFormat) -> Result<LogHandle, TelemetryError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => parse(&v)?,
        _ => parse(level)?,
    };
    let (filter, handle) = reload::Layer::new(filter);
    let fmt = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .with_target(true)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init()
        .map_err(|_| TelemetryError::LoggingAlreadySet)?;
    Ok(LogHandle { filter: handle })
}
