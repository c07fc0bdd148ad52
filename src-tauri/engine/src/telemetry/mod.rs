//! Telemetry: tracing setup (human or JSON lines, live-reloadable level) and the metrics
//! registry exported in Prometheus text.
//!
//! Invariants: metric names are fixed here (no names built at run time); labels are bounded
//! (HTTP routes are the router's matched patterns, never raw paths).

mod logging;

pub use logging::{LogHandle, init_logging};
/// Re-exported for guards in the API crate.
pub use prometheus::IntGauge;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Failures of telemetry setup.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("metrics registry: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("logging is already set up in this process")]
    LoggingAlreadySet,
    #[error("log filter `{filter}`: {reason}")]
    Filter { filter: String, reason: String },
}

/// The node's metrics. Cheap to clone (the prometheus handles are `Arc`s inside).
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub http_in_flight: IntGauge,
    pub feed_subscribers: IntGauge,
    pub events_published: IntCounter,
    pub config_reloads: IntCounterVec,
    /// Failed authentications, by reason (`missing`, `wrong`, `expired`, `locked_out`).
    pub auth_failures: IntCounterVec,
}

impl Metrics {
    /// A registry with the process collector and build info.
    pub fn new(version: &str) -> Result<Self, TelemetryError> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "flightdeck_http_requests_total",
                "HTTP requests served, by method, matched route and status.",
            ),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "flightdeck_http_request_duration_seconds",
                "HTTP request latency, by method, matched route and status.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route", "status"],
        )?;
        let http_in_flight = IntGauge::new(
            "flightdeck_http_requests_in_flight",
            "HTTP requests being served now.",
        )?;
        let feed_subscribers = IntGauge::new(
            "flightdeck_feed_subscribers",
            "Live feed subscribers (WebSocket and desktop).",
        )?;
        let events_published = IntCounter::new(
            "flightdeck_events_published_total",
            "Events published on the event bus.",
        )?;
        let config_reloads = IntCounterVec::new(
            Opts::new(
                "flightdeck_config_reloads_total",
                "Config file reloads, by outcome (applied, rejected).",
            ),
            &["outcome"],
        )?;
        let auth_failures = IntCounterVec::new(
            Opts::new(
                "flightdeck_auth_failures_total",
                "Requests refused for their credentials, by reason.",
            ),
            &["reason"],
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "flightdeck_build_info",
                "Always 1; labels carry the build's version.",
            ),
            &["version"],
        )?;
        build_info.with_label_values(&[version]).set(1);
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(http_in_flight.clone()))?;
        registry.register(Box::new(feed_subscribers.clone()))?;
        registry.register(Box::new(events_published.clone()))?;
        registry.register(Box::new(config_reloads.clone()))?;
        registry.register(Box::new(auth_failures.clone()))?;
        registry.register(Box::new(build_info))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            http_in_flight,
            feed_subscribers,
            events_published,
            config_reloads,
            auth_failures,
        })
    }

    /// Counts a live feed subscriber until the guard is dropped.
    pub fn feed_subscriber(&self) -> SubscriberGuard {
        self.feed_subscribers.inc();
        SubscriberGuard(self.feed_subscribers.clone())
    }

    /// Registers a domain's own collector (the providers' metrics).
    pub fn register(
        &self,
        collector: Box<dyn prometheus::core::Collector>,
    ) -> Result<(), TelemetryError> {
        Ok(self.registry.register(collector)?)
    }

    /// Everything in Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> Result<String, TelemetryError> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Sum of the HTTP request counter over all labels.
    pub fn http_requests_total(&self) -> u64 {
        self.sum_family("flightdeck_http_requests_total")
    }

    /// Resident memory of this process, from the process collector (0 where unsupported).
    pub fn rss_bytes(&self) -> u64 {
        self.sum_family("process_resident_memory_bytes")
    }

    fn sum_family(&self, name: &str) -> u64 {
        self.registry
            .gather()
            .iter()
            .filter(|f| f.name() == name)
            .map(|f| {
                let counter = f.get_field_type() == prometheus::proto::MetricType::COUNTER;
                f.get_metric()
                    .iter()
                    .map(|m| {
                        if counter {
                            m.get_counter().value()
                        } else {
                            m.get_gauge().value()
                        }
                    })
                    .sum::<f64>()
            })
            .sum::<f64>() as u64
    }
}

/// Keeps one feed subscriber counted; decrements on drop.
#[derive(Debug)]
pub struct SubscriberGuard(IntGauge);

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_families_and_sums() {
        let m = Metrics::new("1.2.3").unwrap();
        m.http_requests
            .with_label_values(&["GET", "/livez", "200"])
            .inc_by(3);
        m.http_requests
            .with_label_values(&["GET", "/health", "200"])
            .inc();
        assert_eq!(m.http_requests_total(), 4);
        let text = m.render().unwrap();
        assert!(text.contains("flightdeck_build_info{version=\"1.2.3\"} 1"));
        assert!(text.contains("# TYPE flightdeck_http_requests_total counter"));
        #[cfg(target_os = "linux")]
        assert!(m.rss_bytes() > 0);
    }
}
