//! The subcommands other than `serve`, and the shared steps: data dir, config, logging.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use flightdeck_engine::config::{
    Config, ConfigError, ConfigOverrides, ConfigSource, EnvSnapshot, LogFormat, SecretsBackend,
};
use flightdeck_engine::secrets::{Secrets, TOKEN_ENV, TokenSource};
use flightdeck_engine::store::{DB_FILE, Store};
use flightdeck_engine::{paths, telemetry};

use crate::cli::{Cli, Command, ConfigCommand, DbCommand, Global, LogFormatArg, SecretsArg};

/// Dispatches a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Serve(args) => crate::serve::serve(&cli.global, args).await,
        Command::Token {
            rotate: false,
            action: Some(action),
        } => crate::tokens::run(&cli.global, action).await,
        Command::Token {
            rotate: true,
            action: Some(_),
        } => {
            bail!("--rotate is for the bootstrap token: use it without create/ls/revoke")
        }
        Command::Token { rotate, .. } => token(&cli.global, *rotate).await,
        Command::Secrets(action) => crate::secrets_cli::run(&cli.global, action).await,
        Command::Calls(action) => crate::calls_cli::run(&cli.global, action).await,
        Command::Costs(args) => crate::costs_cli::run(&cli.global, args).await,
        Command::Budget(action) => crate::budget_cli::run(&cli.global, action).await,
        Command::Reconcile(args) => crate::reconcile_cli::reconcile(&cli.global, args).await,
        Command::Reprice(args) => crate::reconcile_cli::reprice(&cli.global, args).await,
        Command::Forecast(args) => crate::forecast_cli::run(args),
        Command::Series(action) => crate::series_cli::run(&cli.global, action).await,
        Command::Report(args) => crate::report_cli::run(&cli.global, args).await,
        Command::Task(action) => crate::task_cli::run(&cli.global, action).await,
        Command::Agent(action) => crate::task_cli::agents(&cli.global, action).await,
        Command::Run(action) => crate::run_cli::run(&cli.global, action).await,
        Command::Approvals(action) => crate::approvals_cli::run(&cli.global, action).await,
        Command::Audit(action) => crate::approvals_cli::audit(&cli.global, action).await,
        Command::Db(DbCommand::Status) => db_status(&cli.global).await,
        Command::Db(DbCommand::Migrate) => db_migrate(&cli.global).await,
        Command::Config(ConfigCommand::Check { file }) => {
            config_check(&cli.global, file.as_deref())
        }
        Command::Config(ConfigCommand::Show) => {
            let (config, _) = load_config(&cli.global)?;
            println!("{}", serde_json::to_string_pretty(&config)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The data dir from `--data-dir`/FLIGHTDECK_DATA_DIR, else the XDG default. Canonical when
/// it exists (absolute otherwise), so every spelling names one node and one keychain token;
/// nothing is created here (the engine canonicalizes again once it has created the dir).
pub fn data_dir(global: &Global) -> anyhow::Result<PathBuf> {
    let dir = match &global.data_dir {
        Some(d) => d.clone(),
        None => paths::default_data_dir()
            .context("cannot determine a data directory (no home directory?); pass --data-dir")?,
    };
    Ok(std::fs::canonicalize(&dir)
        .or_else(|_| std::path::absolute(&dir))
        .unwrap_or(dir))
}

/// The config file to use: `--config` (must exist) or the XDG default (if it exists).
fn config_path(global: &Global) -> (Option<PathBuf>, bool) {
    match &global.config {
        Some(p) => (Some(p.clone()), true),
        None => (paths::default_config_file(), false),
    }
}

/// The flags that override config keys.
pub fn overrides(global: &Global) -> ConfigOverrides {
    ConfigOverrides {
        secrets_backend: global.secrets.map(|s| match s {
            SecretsArg::Keychain => SecretsBackend::Keychain,
            SecretsArg::File => SecretsBackend::File,
            SecretsArg::Env => SecretsBackend::Env,
        }),
        log_format: global.log_format.map(|f| match f {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }),
        log_level: global.log_level.clone(),
        ..ConfigOverrides::default()
    }
}

/// Loads the config with `overrides` applied; returns it and where it came from (the file,
/// which may be absent from its default location, the environment, the flags).
pub fn load_config_with(
    global: &Global,
    overrides: &ConfigOverrides,
) -> anyhow::Result<(Config, ConfigSource)> {
    let (path, required) = config_path(global);
    let source = ConfigSource::new(path, required).with_overrides(overrides.clone());
    let config = source.load().map_err(config_error)?;
    Ok((config, source))
}

/// Loads the config with the global flags applied.
pub fn load_config(global: &Global) -> anyhow::Result<(Config, ConfigSource)> {
    load_config_with(global, &overrides(global))
}

fn config_error(e: ConfigError) -> anyhow::Error {
    anyhow::anyhow!("invalid configuration: {e}")
}

/// Installs logging per the config.
pub fn init_logging(config: &Config) -> anyhow::Result<telemetry::LogHandle> {
    telemetry::init_logging(&config.log.level, config.log.format).context("setting up logging")
}

pub fn env_token() -> Option<String> {
    std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty())
}

async fn token(global: &Global, rotate: bool) -> anyhow::Result<ExitCode> {
    let (config, _) = load_config(global)?;
    let dir = data_dir(global)?;
    flightdeck_engine::store::ensure_dir_writable(&dir)?;
    let secrets = Secrets::open_async(config.secrets.backend, dir, env_token()).await?;
    if rotate {
        if env_token().is_some() {
            bail!(
                "{TOKEN_ENV} is set: it overrides the stored token, so rotating the stored one would change nothing; unset it first"
            );
        }
        secrets.forget_api_token().await?;
    }
    let (token, source) = secrets.api_token().await?;
    if matches!(source, TokenSource::Generated) {
        eprintln!(
            "flightdeck: generated a new API token and stored it ({:?})",
            secrets.kind()
        );
    }
    println!("{}", token.expose());
    Ok(ExitCode::SUCCESS)
}

async fn db_status(global: &Global) -> anyhow::Result<ExitCode> {
    let path = data_dir(global)?.join(DB_FILE);
    let s = Store::inspect(&path).await?;
    println!("database:        {}", s.path.display());
    if !s.exists {
        println!(
            "state:           not created yet (created on first start or `flightdeck db migrate`)"
        );
    }
    println!("schema version:  {}", s.current_version);
    println!("latest known:    {}", s.latest_version);
    if s.unknown_version.is_some() {
        println!("state:           written by a newer Flightdeck; this build will not open it");
        return Ok(ExitCode::FAILURE);
    }
    if s.pending.is_empty() {
        println!("pending:         none");
    } else {
        let list: Vec<String> = s.pending.iter().map(i64::to_string).collect();
        println!("pending:         {}", list.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

async fn db_migrate(global: &Global) -> anyhow::Result<ExitCode> {
    let dir = data_dir(global)?;
    let before = Store::inspect(&dir.join(DB_FILE)).await?;
    let store = Store::open(&dir).await?;
    let version = store.schema_version().await?;
    store.close().await;
    println!(
        "database {} at schema version {version} ({} migration(s) applied)",
        store.path().display(),
        before.pending.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn config_check(global: &Global, file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (path, required) = match file {
        Some(f) => (Some(f.to_path_buf()), true),
        None => config_path(global),
    };
    // The same layers `serve` reads: the file, the environment and the global flags.
    let source = ConfigSource {
        path: path.clone(),
        required,
        env: EnvSnapshot::capture(),
        overrides: overrides(global),
    };
    // Not errors (tooling may set its own FLIGHTDECK_* variables), but a check should say so:
    // a misspelt name would otherwise change nothing, silently.
    for name in source.env.ignored() {
        eprintln!("warning: {name} is neither a Flightdeck setting nor a flag; it is ignored");
    }
    match source.load() {
        Ok(config) => {
            // Valid for the engine, but `serve` would refuse it: say so here too.
            if let Some(addr) = config.server.listen_addr()
                && !addr.ip().is_loopback()
                && !config.server.insecure_listen
            {
                eprintln!(
                    "server.listen: {addr} is not a loopback address; `flightdeck serve` refuses it \
                     unless server.insecure_listen = true (plain HTTP; TLS comes with fleets)"
                );
                return Ok(ExitCode::FAILURE);
            }
            match path.filter(|p| p.exists()) {
                Some(p) => println!("{}: ok", p.display()),
                None => println!("no config file; built-in defaults are valid"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ConfigError::Invalid { problems }) => {
            for p in problems {
                if p.key.is_empty() {
                    eprintln!("{}: {}", p.source, p.reason);
                } else {
                    eprintln!("{}: key `{}`: {}", p.source, p.key, p.reason);
                }
            }
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(config_error(e)),
    }
}

/// The engine's costs on the data dir (its store, and the config as loaded), or `None` when a
/// node holds it: the commands that work on a stopped node.
pub async fn open_local_costs(
    global: &crate::cli::Global,
) -> anyhow::Result<
    Option<(
        flightdeck_engine::store::Store,
        flightdeck_engine::costs::Costs,
    )>,
> {
    use flightdeck_engine::store::{Store, StoreError};
    let dir = data_dir(global)?;
    match Store::open(&dir).await {
        Ok(store) => {
            let (config, source) = load_config(global)?;
            let clock = flightdeck_engine::clock::SystemClock::shared();
            let handle =
                flightdeck_engine::config::ConfigHandle::new(config, source, clock.clone());
            let costs = flightdeck_engine::costs::Costs::new(store.clone(), handle, clock);
            Ok(Some((store, costs)))
        }
        Err(StoreError::DataDirLocked { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
