//! `flightdeck token create|ls|revoke`: named API tokens. With the node stopped they work on
//! the data dir directly; while a node holds it, through that node's API (its address from
//! the config, authenticated with the bootstrap token), so both paths give the same result.

use std::process::ExitCode;

use anyhow::bail;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use flightdeck_engine::clock::{Clock, SystemClock};
use flightdeck_engine::identity::{CreatedToken, Identity, Scope, TokenInfo};
use flightdeck_engine::store::{Store, StoreError};
use serde_json::json;

use crate::cli::{Global, ScopeArg, TokenAction};
use crate::commands::data_dir;
use crate::node_api::NodeApi;
use reqwest::Method;

impl From<ScopeArg> for Scope {
    fn from(s: ScopeArg) -> Self {
        match s {
            ScopeArg::Read => Scope::Read,
            ScopeArg::Operate => Scope::Operate,
            ScopeArg::Admin => Scope::Admin,
        }
    }
}

/// `--expires`: a duration from now (`90m`, `12h`, `30d`), a date (`2027-01-31`, midnight
/// UTC) or an RFC 3339 time.
pub fn parse_expires(value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let bad = || {
        format!(
            "`{value}` is not a duration (90m, 12h, 30d), a date (2027-01-31) or an RFC 3339 time"
        )
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.to_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).ok_or_else(bad);
    }
    // By characters: a multi-byte last character is a bad unit, not a panic.
    let unit_at = value.char_indices().last().map_or(0, |(i, _)| i);
    let (num, unit) = value.split_at(unit_at);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let delta = match unit {
        "m" => TimeDelta::try_minutes(n),
        "h" => TimeDelta::try_hours(n),
        "d" => TimeDelta::try_days(n),
        _ => None,
    }
    .filter(|d| *d > TimeDelta::zero())
    .ok_or_else(bad)?;
    now.checked_add_signed(delta).ok_or_else(bad)
}

/// `--expires`, checked, as of now.
fn expiry(expires: Option<&str>) -> anyhow::Result<Option<DateTime<Utc>>> {
    expires
        .map(|e| parse_expires(e, SystemClock.now()))
        .transpose()
        .map_err(anyhow::Error::msg)
}

const TOKENS: &str = "/api/v1/tokens";

pub async fn run(global: &Global, action: &TokenAction) -> anyhow::Result<ExitCode> {
    let dir = data_dir(global)?;
    flightdeck_engine::store::ensure_dir_writable(&dir)?;
    match Store::open(&dir).await {
        Ok(store) => {
            let result = direct(&store, action).await;
            store.close().await;
            result
        }
        Err(StoreError::DataDirLocked { .. }) => through_node(global, action).await,
        Err(e) => Err(e.into()),
    }
}

async fn direct(store: &Store, action: &TokenAction) -> anyhow::Result<ExitCode> {
    let identity = Identity::open(store.clone(), SystemClock::shared()).await?;
    match action {
        TokenAction::Create {
            name,
            scope,
            expires,
        } => {
            let expires_at = expiry(expires.as_deref())?;
            let created = identity
                .create(name, (*scope).into(), expires_at, &cli_actor())
                .await?;
            print_created(&created);
        }
        TokenAction::Ls => print_list(&identity.list()),
        TokenAction::Revoke { name } => {
            identity.revoke(name, &cli_actor()).await?;
            eprintln!("flightdeck: revoked token {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_created(created: &CreatedToken) {
    let expires = created
        .info
        .expires_at
        .map_or_else(|| "never".to_string(), |t| t.to_rfc3339());
    eprintln!(
        "flightdeck: created token {} (scope {}, expires {expires}); it is shown this once",
        created.info.name,
        created.info.scope.as_str()
    );
    println!("{}", created.token);
}

fn print_list(tokens: &[TokenInfo]) {
    let time = |t: Option<DateTime<Utc>>| {
        t.map_or_else(
            || "-".to_string(),
            |t| t.format("%Y-%m-%d %H:%M").to_string(),
        )
    };
    println!(
        "{:<24} {:<8} {:<17} {:<17} {:<17}",
        "NAME", "SCOPE", "CREATED", "LAST USED", "EXPIRES"
    );
    for t in tokens {
        println!(
            "{:<24} {:<8} {:<17} {:<17} {:<17}",
            t.name,
            t.scope.as_str(),
            time(Some(t.created_at)),
            time(t.last_used_at),
            time(t.expires_at)
        );
    }
}

/// The same through the running node's API.
async fn through_node(global: &Global, action: &TokenAction) -> anyhow::Result<ExitCode> {
    // Checked here too: the name becomes part of a URL.
    if let TokenAction::Create { name, .. } | TokenAction::Revoke { name } = action
        && !flightdeck_engine::identity::valid_name(name)
    {
        bail!(
            "{}",
            flightdeck_engine::identity::IdentityError::InvalidName(name.clone())
        );
    }
    let api = NodeApi::connect(global).await?;
    match action {
        TokenAction::Create {
            name,
            scope,
            expires,
        } => {
            let expires_at = expiry(expires.as_deref())?;
            let scope: Scope = (*scope).into();
            let body = api
                .send(
                    api.request(Method::POST, TOKENS)
                        .json(&json!({"name": name, "scope": scope, "expires_at": expires_at})),
                )
                .await?;
            print_created(&serde_json::from_value(body)?);
        }
        TokenAction::Ls => print_list(&api.list_all::<TokenInfo>(TOKENS).await?),
        TokenAction::Revoke { name } => {
            api.send(api.request(Method::DELETE, &format!("{TOKENS}/{name}")))
                .await?;
            eprintln!("flightdeck: revoked token {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Who acts from the command line on the data dir itself: the OS user.
pub(crate) fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_forms() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .to_utc();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        for (given, want) in [
            ("30d", "2026-12-31T10:00:00Z"),
            ("12h", "2026-12-01T22:00:00Z"),
            ("90m", "2026-12-01T11:30:00Z"),
            ("2027-01-31", "2027-01-31T00:00:00Z"),
            ("2027-01-31T08:00:00+01:00", "2027-01-31T07:00:00Z"),
        ] {
            assert_eq!(parse_expires(given, now).unwrap(), at(want), "{given}");
        }
        for bad in [
            "",
            "d",
            "0d",
            "-1d",
            "5y",
            "tomorrow",
            "2027-13-01",
            "3日",
            "5µ",
        ] {
            assert!(parse_expires(bad, now).is_err(), "{bad}");
        }
    }
}
