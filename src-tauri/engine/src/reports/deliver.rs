//! Delivery of a report: by email (lettre, through `[reports.smtp]`, the files attached)
//! and to `[reports] webhook` (a JSON summary, signed like action webhooks when
//! `webhook_secret` names a secret). Each is tried up to `max_attempts` times with backoff
//! on the engine's clock; its state, attempts and last error are written on the report
//! after every try, and its end is published (`reports` topic): a failure is visible, and
//! the report itself is kept whatever happens to its delivery.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::settings::{SmtpConfig, SmtpSecurity};
use super::{DeliveryState, ReportEvent, ReportRecord, Reports, ReportsError};
use crate::events::Event;
use crate::store::StoreError;

/// A delivery channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Email,
    Webhook,
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
        }
    }
}

impl Reports {
    /// Delivers report `id` by every configured channel (email when `email_to` is set,
    /// the webhook when set): the report afterwards; `delivery_failed` when one failed
    /// after every attempt (the report and its files stay).
    pub async fn deliver(&self, id: &str) -> Result<ReportRecord, ReportsError> {
        let config = self.inner.config.current();
        let mut channels = Vec::new();
        if !config.reports.email_to.is_empty() {
            channels.push(Channel::Email);
        }
        if config.reports.webhook.is_some() {
            channels.push(Channel::Webhook);
        }
        if channels.is_empty() {
            return Err(ReportsError::BadRequest(
                "no delivery is configured: set [reports] email_to (with [reports.smtp]) or webhook"
                    .into(),
            ));
        }
        let record = self.get(id).await?;
        let mut failures = Vec::new();
        for c in channels {
            if let Err(why) = self.deliver_by(&record, c).await {
                failures.push(format!("{}: {why}", c.as_str()));
            }
        }
        let record = self.get(id).await?;
        if failures.is_empty() {
            Ok(record)
        } else {
            Err(ReportsError::DeliveryFailed(format!(
                "report {id} was made (it is kept) but its delivery failed: {}",
                failures.join("; ")
            )))
        }
    }

    /// Deliveries left pending (a restart): tried again.
    pub(crate) async fn resume_pending(&self) {
        let pending: Result<Vec<(String, bool, bool)>, StoreError> = self
            .inner
            .store
            .read(|db| {
                db.query_all(
                    "SELECT id, email_state = 'pending', webhook_state = 'pending' FROM reports \
                     WHERE email_state = 'pending' OR webhook_state = 'pending' ORDER BY created_at",
                    [],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get::<_, Option<bool>>(1)?.unwrap_or(false),
                            r.get::<_, Option<bool>>(2)?.unwrap_or(false),
                        ))
                    },
                )
            })
            .await;
        let Ok(pending) = pending else {
            return;
        };
        for (id, email, webhook) in pending {
            let Ok(record) = self.get(&id).await else {
                continue;
            };
            for (on, c) in [(email, Channel::Email), (webhook, Channel::Webhook)] {
                if on && let Err(why) = self.deliver_by(&record, c).await {
                    tracing::warn!(report = %id, channel = c.as_str(), "{why}");
                }
            }
        }
    }

    async fn deliver_by(&self, record: &ReportRecord, channel: Channel) -> Result<(), String> {
        let config = self.inner.config.current();
        let attempts = config.reports.max_attempts.max(1);
        let mut pause = Duration::from_secs(2);
        let mut last = String::new();
        for attempt in 1..=attempts {
            let result = match channel {
                Channel::Email => self.send_email(record).await,
                Channel::Webhook => self.post_webhook(record).await,
            };
            let state = match &result {
                Ok(()) => DeliveryState::Sent,
                Err(_) if attempt == attempts => DeliveryState::Failed,
                Err(_) => DeliveryState::Pending,
            };
            if let Err(e) = &result {
                last.clone_from(e);
                tracing::warn!(report = %record.id, channel = channel.as_str(), attempt, error = %e, "a report delivery failed");
            }
            self.record_delivery(
                &record.id,
                channel,
                state,
                attempt,
                result.as_ref().err().cloned(),
            )
            .await;
            match result {
                Ok(()) => return Ok(()),
                Err(_) if attempt < attempts => {
                    self.inner.clock.sleep(pause).await;
                    pause *= 2;
                }
                Err(_) => {}
            }
        }
        Err(last)
    }

    async fn record_delivery(
        &self,
        id: &str,
        channel: Channel,
        state: DeliveryState,
        attempts: u32,
        error: Option<String>,
    ) {
        let (id, c) = (id.to_string(), channel);
        let sql = match c {
            Channel::Email => {
                "UPDATE reports SET email_state = ?2, email_attempts = ?3, email_error = ?4 WHERE id = ?1"
            }
            Channel::Webhook => {
                "UPDATE reports SET webhook_state = ?2, webhook_attempts = ?3, webhook_error = ?4 WHERE id = ?1"
            }
        };
        let result = self
            .inner
            .store
            .write(move |tx| {
                tx.execute(sql, rusqlite::params![id, state.as_str(), attempts, error])?;
                if state != DeliveryState::Pending {
                    tx.append_event(Event::Reports(ReportEvent::Delivery {
                        id: id.clone(),
                        channel: c.as_str().into(),
                        state,
                        attempts,
                        error: error.clone(),
                    }))?;
                }
                Ok::<_, StoreError>(())
            })
            .await;
        if let Err(error) = result {
            tracing::error!(%error, "could not record a report delivery");
        }
    }

    async fn smtp_password(&self, smtp: &SmtpConfig) -> Result<Option<String>, String> {
        let Some(name) = &smtp.password_secret else {
            return Ok(None);
        };
        let Some(secrets) = &self.inner.secrets else {
            return Err(format!(
                "the SMTP password (secret `{name}`) cannot be read here: no secret store"
            ));
        };
        use secrecy::ExposeSecret;
        secrets
            .get_cached(name)
            .await
            .map(|v| Some(v.expose_secret().to_string()))
            .map_err(|e| format!("the SMTP password (secret `{name}`): {e}"))
    }

    async fn send_email(&self, record: &ReportRecord) -> Result<(), String> {
        let config = self.inner.config.current();
        let smtp = config
            .reports
            .smtp
            .clone()
            .ok_or_else(|| "no [reports.smtp] configured".to_string())?;
        let from: Mailbox = smtp.from.parse().map_err(|e| format!("from: {e}"))?;
        let mut builder = Message::builder().from(from).subject(record.title.clone());
        for to in &config.reports.email_to {
            builder = builder.to(to.parse().map_err(|e| format!("`{to}`: {e}"))?);
        }
        let summary = format!(
            "{}\n\n{} to {}.\nThe report is attached ({}).\n\n— Flightdeck",
            record.title,
            record.from.format("%Y-%m-%d %H:%M UTC"),
            record.until.format("%Y-%m-%d %H:%M UTC"),
            record
                .files
                .iter()
                .map(|f| f.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(summary));
        for f in &record.files {
            let bytes = tokio::fs::read(self.folder().join(&f.name))
                .await
                .map_err(|e| format!("{}: {e}", f.name))?;
            let ct = ContentType::parse(match f.format {
                super::ReportFormat::Html => "text/html; charset=utf-8",
                super::ReportFormat::Pdf => "application/pdf",
            })
            .map_err(|e| e.to_string())?;
            parts = parts.singlepart(Attachment::new(f.name.clone()).body(bytes, ct));
        }
        let message = builder.multipart(parts).map_err(|e| e.to_string())?;
        let port = smtp.port.unwrap_or(match smtp.security {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        });
        let mut transport = match smtp.security {
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                    .map_err(|e| e.to_string())?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
                .map_err(|e| e.to_string())?,
            SmtpSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            }
        }
        .port(port)
        .timeout(Some(Duration::from_secs(smtp.timeout_secs)));
        if let (Some(user), Some(pass)) = (&smtp.username, self.smtp_password(&smtp).await?) {
            transport = transport.credentials(Credentials::new(user.clone(), pass));
        }
        transport
            .build()
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("the SMTP server {}:{port} refused it: {e}", smtp.host))
    }

    async fn post_webhook(&self, record: &ReportRecord) -> Result<(), String> {
        let config = self.inner.config.current();
        let url = config
            .reports
            .webhook
            .clone()
            .ok_or_else(|| "no [reports] webhook configured".to_string())?;
        let key = match (&config.reports.webhook_secret, &self.inner.secrets) {
            (Some(name), Some(secrets)) => {
                use secrecy::ExposeSecret;
                Some(
                    secrets
                        .get_cached(name)
                        .await
                        .map_err(|e| format!("the webhook's secret `{name}`: {e}"))?
                        .expose_secret()
                        .as_bytes()
                        .to_vec(),
                )
            }
            (Some(name), None) => {
                return Err(format!("the webhook's secret `{name}` cannot be read here"));
            }
            _ => None,
        };
        let body = serde_json::to_vec(record).map_err(|e| e.to_string())?;
        let ts = self.inner.clock.now().timestamp();
        let mut req = crate::agents::actions::client()
            .post(&url)
            .header("content-type", "application/json")
            .header("x-flightdeck-timestamp", ts.to_string())
            .timeout(Duration::from_secs(15))
            .body(body.clone());
        if let Some(k) = &key {
            req = req.header(
                "x-flightdeck-signature",
                crate::approvals::execute::signature(k, ts, &body),
            );
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("the webhook answered {}", r.status())),
            Err(e) => Err(format!(
                "the webhook cannot be reached: {}",
                e.without_url()
            )),
        }
    }
}
