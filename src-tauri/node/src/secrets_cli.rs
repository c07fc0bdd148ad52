//! `flightdeck secrets set|ls|rm`: named secrets. The value comes from standard input (piped)
//! or a prompt that does not echo, never from an argument (arguments end up in shell history
//! and `ps`). Like `token`, they work on the data dir directly, or through the running
//! node's API while it holds the data dir.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::{Context, bail};
use flightdeck_engine::clock::SystemClock;
use flightdeck_engine::secrets::{SecretInfo, SecretStore, Secrets};
use flightdeck_engine::store::{Store, StoreError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::cli::{Global, SecretsAction};
use crate::commands::{data_dir, env_token, load_config};
use crate::node_api::NodeApi;
use reqwest::Method;

const SECRETS: &str = "/api/v1/secrets";

/// The most stdin is read: the largest value plus a CRLF.
const MAX_INPUT: u64 = flightdeck_engine::secrets::named::MAX_VALUE_BYTES as u64 + 2;

/// Reads the value: piped stdin as is (one trailing newline dropped), or a silent prompt.
fn read_value(name: &str) -> anyhow::Result<SecretString> {
    let stdin = std::io::stdin();
    let value = if stdin.is_terminal() {
        rpassword::prompt_password(format!("value for {name} (not shown): "))
            .context("reading the value from the terminal")?
    } else {
        let mut buf = String::new();
        stdin
            .lock()
            .take(MAX_INPUT + 1)
            .read_to_string(&mut buf)
            .context("reading the value from standard input (must be UTF-8)")?;
        // Refused whole, before any newline is stripped: never a cut-off value.
        if buf.len() as u64 > MAX_INPUT
            || buf.trim_end_matches(['\r', '\n']).chars().count()
                > flightdeck_engine::secrets::named::MAX_VALUE_CHARS
        {
            bail!(
                "the value is longer than {} characters",
                flightdeck_engine::secrets::named::MAX_VALUE_CHARS
            );
        }
        if buf.ends_with('\n') {
            buf.pop();
            if buf.ends_with('\r') {
                buf.pop();
            }
        }
        buf
    };
    if value.is_empty() {
        bail!("no value given (pipe it on standard input, or type it at the prompt)");
    }
    Ok(SecretString::from(value))
}

pub async fn run(global: &Global, action: &SecretsAction) -> anyhow::Result<ExitCode> {
    let dir = data_dir(global)?;
    flightdeck_engine::store::ensure_dir_writable(&dir)?;
    // Read the value before anything else: a prompt must not wait behind a database.
    let value = match action {
        SecretsAction::Set { name } => Some(read_value(name)?),
        _ => None,
    };
    match Store::open(&dir).await {
        Ok(store) => {
            let result = direct(global, &store, action, value).await;
            store.close().await;
            result
        }
        Err(StoreError::DataDirLocked { .. }) => through_node(global, action, value).await,
        Err(e) => Err(e.into()),
    }
}

async fn direct(
    global: &Global,
    store: &Store,
    action: &SecretsAction,
    value: Option<SecretString>,
) -> anyhow::Result<ExitCode> {
    let (config, _) = load_config(global)?;
    let secrets = Secrets::open_async(config.secrets.backend, data_dir(global)?, env_token()).await;
    let named = SecretStore::new(secrets, store.clone(), SystemClock::shared());
    match (action, value) {
        (SecretsAction::Set { name }, Some(value)) => {
            named.set(name, value).await?;
            eprintln!("flightdeck: stored secret {name}");
        }
        (SecretsAction::Ls, _) => print_list(&named.list().await?),
        (SecretsAction::Rm { name }, _) => {
            named.remove(name).await?;
            eprintln!("flightdeck: removed secret {name}");
        }
        (SecretsAction::Set { .. }, None) => bail!("no value given"),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_list(all: &[SecretInfo]) {
    println!("{:<40} {:<17} {:<17}", "NAME", "CREATED", "UPDATED");
    for s in all {
        println!(
            "{:<40} {:<17} {:<17}",
            s.name,
            s.created_at.format("%Y-%m-%d %H:%M"),
            s.updated_at.format("%Y-%m-%d %H:%M")
        );
    }
}

async fn through_node(
    global: &Global,
    action: &SecretsAction,
    value: Option<SecretString>,
) -> anyhow::Result<ExitCode> {
    // Checked here too: the name becomes part of a URL.
    if let SecretsAction::Set { name } | SecretsAction::Rm { name } = action
        && !flightdeck_engine::secrets::named::valid_name(name)
    {
        bail!(
            "{}",
            flightdeck_engine::secrets::SecretStoreError::InvalidName(name.clone())
        );
    }
    let api = NodeApi::connect(global).await?;
    match (action, value) {
        (SecretsAction::Set { name }, Some(value)) => {
            api.send(
                api.request(Method::PUT, &format!("{SECRETS}/{name}"))
                    .json(&json!({ "value": value.expose_secret() })),
            )
            .await?;
            eprintln!("flightdeck: stored secret {name}");
        }
        (SecretsAction::Ls, _) => print_list(&api.list_all::<SecretInfo>(SECRETS).await?),
        (SecretsAction::Rm { name }, _) => {
            api.send(api.request(Method::DELETE, &format!("{SECRETS}/{name}")))
                .await?;
            eprintln!("flightdeck: removed secret {name}");
        }
        (SecretsAction::Set { .. }, None) => bail!("no value given"),
    }
    Ok(ExitCode::SUCCESS)
}
