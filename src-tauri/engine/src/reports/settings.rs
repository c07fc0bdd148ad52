//! `[reports]`: when reports are made on their own (`schedule`, `at_hour` in `[costs]
//! time_zone`), where they are written (`folder`, default `<data dir>/reports`), in which
//! formats, and where they are delivered (`email_to` through `[reports.smtp]`, `webhook`).
//! Checked when the config loads; a bad value is refused with its dotted key.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How often reports are made on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    #[default]
    Off,
    /// Yesterday's report, every day.
    Daily,
    /// Last week's report (weeks start on `[costs] week_start`), every week.
    Weekly,
}

/// A report file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    Html,
    Pdf,
}

impl ReportFormat {
    pub fn ext(self) -> &'static str {
        match self {
            Self::Html => "html",
            Self::Pdf => "pdf",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Html => "text/html; charset=utf-8",
            Self::Pdf => "application/pdf",
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (required), port 587 by default.
    #[default]
    Starttls,
    /// TLS from the start, port 465 by default.
    Tls,
    /// No encryption: only to a server on loopback (a local relay, tests).
    None,
}

/// `[reports.smtp]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Default by `security`: 587, 465 or 25.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default)]
    pub security: SmtpSecurity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The name of a secret (`flightdeck secrets set NAME`) holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<String>,
    /// The sender, `Name <address>` or an address.
    pub from: String,
    /// Seconds to wait for the server.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    30
}

/// `[reports]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    pub schedule: Schedule,
    /// The local hour (0-23, `[costs] time_zone`) the previous period's report is made.
    pub at_hour: u8,
    /// Where report files go (default `<data dir>/reports`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub folder: Option<std::path::PathBuf>,
    pub formats: Vec<ReportFormat>,
    /// Addresses each scheduled report is mailed to (through `[reports.smtp]`).
    pub email_to: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpConfig>,
    /// POSTed a JSON summary of each scheduled report (signed like action webhooks when
    /// `webhook_secret` names a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// Delivery attempts before a delivery is marked failed.
    pub max_attempts: u32,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self {
            schedule: Schedule::Off,
            at_hour: 7,
            folder: None,
            formats: vec![ReportFormat::Html, ReportFormat::Pdf],
            email_to: Vec::new(),
            smtp: None,
            webhook: None,
            webhook_secret: None,
            max_attempts: 3,
        }
    }
}

/// Whether `s` looks like a mail address (`Name <a@b>` or `a@b`).
pub(crate) fn mailbox_problem(s: &str) -> Option<String> {
    match s.parse::<lettre::message::Mailbox>() {
        Ok(_) => None,
        Err(e) => Some(format!("`{s}` is not a mail address: {e}")),
    }
}

/// Problems as (key, why).
pub fn violations(c: &ReportsConfig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if c.at_hour > 23 {
        out.push(("reports.at_hour".into(), "an hour from 0 to 23".into()));
    }
    if c.formats.is_empty() {
        out.push(("reports.formats".into(), "at least one of html, pdf".into()));
    }
    if !(1..=10).contains(&c.max_attempts) {
        out.push(("reports.max_attempts".into(), "1 to 10".into()));
    }
    for (i, to) in c.email_to.iter().enumerate() {
        if let Some(why) = mailbox_problem(to) {
            out.push((format!("reports.email_to[{i}]"), why));
        }
    }
    if !c.email_to.is_empty() && c.smtp.is_none() {
        out.push((
            "reports.smtp".into(),
            "email_to needs [reports.smtp] (host, from)".into(),
        ));
    }
    if let Some(s) = &c.smtp {
        if s.host.trim().is_empty() {
            out.push(("reports.smtp.host".into(), "a host name".into()));
        }
        if let Some(why) = mailbox_problem(&s.from) {
            out.push(("reports.smtp.from".into(), why));
        }
        if s.port == Some(0) {
            out.push(("reports.smtp.port".into(), "1 to 65535".into()));
        }
        if !(1..=600).contains(&s.timeout_secs) {
            out.push(("reports.smtp.timeout_secs".into(), "1 to 600".into()));
        }
        if s.security == SmtpSecurity::None && !is_loopback(&s.host) {
            out.push((
                "reports.smtp.security".into(),
                "\"none\" (no encryption) only to a server on loopback: use starttls or tls".into(),
            ));
        }
        if s.password_secret.is_some() && s.username.is_none() {
            out.push((
                "reports.smtp.username".into(),
                "password_secret needs a username".into(),
            ));
        }
    }
    if let Some(url) = &c.webhook
        && let Some(why) = crate::agents::actions::webhook_url_problem(url)
    {
        out.push(("reports.webhook".into(), why));
    }
    out
}

pub(crate) fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
