//! The Flightdeck desktop shell: a Tauri 2 window around the embedded engine.
//!
//! Thin by design: it opens the engine, builds the very same `flightdeck_api::router` the node
//! serves, and exposes three commands. `api_request` hands the UI's request to that Router
//! in-process (`oneshot`), so no TCP port is opened; `feed_subscribe` streams the live feed
//! through a Tauri channel. The in-process bearer token is generated per launch, lives only in
//! this process's memory, and is never sent to the webview.
//!
//! Lifecycle: single instance (a second launch focuses the first window); the engine opens in
//! the background once the window exists (`startup`), and a failure to open is shown in the
//! window; window size and position restored (window-state plugin); closing the window or
//! SIGINT/SIGTERM shuts the engine down gracefully (tracked engine work drained, database
//! checkpointed); a second signal exits at once with 130.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod downloads;
mod notify;
mod startup;

use std::process::ExitCode;

use anyhow::Context;
use flightdeck_engine::clock::SystemClock;
use flightdeck_engine::config::{Config, ConfigSource};
use flightdeck_engine::secrets::TOKEN_ENV;
use flightdeck_engine::{Engine, EngineOptions, ErrorCode, paths, telemetry};
use tauri::Manager;

fn main() -> ExitCode {
    // Arguments first: `--help` and `--version` (and usage errors) need no display.
    let args = <Args as clap::Parser>::parse();
    if let Err(reason) = display_available() {
        eprintln!(
            "flightdeck-desktop: {reason}; the desktop window needs a graphical session. To run \
             headless, start a node instead: `flightdeck serve` (see README)"
        );
        return ExitCode::FAILURE;
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flightdeck-desktop: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT/SIGTERM close the app like the window's close button: the engine shuts down
/// gracefully in the `Exit` event.
fn spawn_signal_handler(handle: tauri::AppHandle) {
    #[cfg(unix)]
    tauri::async_runtime::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("cannot install signal handlers; signals end the app abruptly");
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("signal received: closing (a second signal exits at once)");
        handle.exit(0);
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("flightdeck-desktop: second signal: exiting without waiting");
        std::process::exit(130);
    });
    #[cfg(not(unix))]
    let _ = handle;
}

fn display_available() -> Result<(), &'static str> {
    #[cfg(target_os = "linux")]
    {
        let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        if !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
            return Err("no display found (neither DISPLAY nor WAYLAND_DISPLAY is set)");
        }
    }
    Ok(())
}

/// How long an exit waits for an engine that is still opening (a slow keychain, a migration).
const OPEN_WAIT_ON_EXIT: std::time::Duration = std::time::Duration::from_secs(5);

/// `flightdeck-desktop [--data-dir D] [--config F]`; the same environment variables as the
/// node (`FLIGHTDECK_DATA_DIR`, `FLIGHTDECK_CONFIG`) are read when a flag is absent.
#[derive(Debug, clap::Parser)]
#[command(
    name = "flightdeck-desktop",
    version,
    about = "The Flightdeck desktop window"
)]
struct Args {
    /// Where the database lives [default: $XDG_DATA_HOME/flightdeck]
    #[arg(long, env = "FLIGHTDECK_DATA_DIR", value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// The TOML configuration file [default: $XDG_CONFIG_HOME/flightdeck/flightdeck.toml]
    #[arg(long, env = "FLIGHTDECK_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,
}

fn run(args: Args) -> anyhow::Result<()> {
    let data_dir = match args.data_dir.filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d,
        None => paths::default_data_dir().context("cannot determine a data directory")?,
    };
    let (config_path, required) = match args.config.filter(|p| !p.as_os_str().is_empty()) {
        Some(p) => (Some(p), true),
        None => (paths::default_config_file(), false),
    };
    // A bad configuration does not stop the window: it opens and says why the engine could
    // not start (and the log says it too).
    let config_source = ConfigSource::new(config_path, required);
    let loaded = config_source.load();
    let log_config = loaded.as_ref().map(|c| c.log.clone()).unwrap_or_default();
    let log = telemetry::init_logging(&log_config.level, log_config.format)?;

    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.show();
                let _ = window.set_focus();
            }
        }))
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_notification::init())
        .on_page_load(|webview, payload| {
            // A reload or navigation leaves the old page's feeds without a reader: stop them.
            if payload.event() == tauri::webview::PageLoadEvent::Started
                && let Some(desktop) = webview.try_state::<commands::Desktop>()
            {
                desktop.stop_all_feeds();
            }
        })
        .setup(move |app| {
            // Opened here, after the single-instance check, so a second launch never touches
            // the database; in the background, so the window paints at once. A failure is
            // shown in the window (and logged), not a panic of `setup`.
            app.manage(commands::Desktop::default());
            // The window of tauri.conf.json (`create: false` there), made here so its
            // downloads go to the Downloads folder rather than the working directory, and a
            // page it opens (a report's HTML) gets a window of its own.
            let config = app
                .config()
                .app
                .windows
                .iter()
                .find(|w| w.label == "main")
                .cloned()
                .context("tauri.conf.json has no `main` window")?;
            tauri::WebviewWindowBuilder::from_config(app.handle(), &config)?
                .on_download(downloads::handle)
                .on_new_window(downloads::opener(app.handle().clone()))
                .build()?;
            spawn_signal_handler(app.handle().clone());
            let handle = app.handle().clone();
            let opening =
                tauri::async_runtime::spawn(open_engine(loaded, data_dir, config_source, log));
            tauri::async_runtime::spawn(async move {
                // A panic inside the open (a dependency's bug) must not leave every command
                // waiting for an engine that never comes.
                let outcome = opening.await.unwrap_or_else(|e| {
                    Err(startup::Failure {
                        code: ErrorCode::Internal,
                        message: format!("Flightdeck could not start: the start-up failed ({e})"),
                    })
                });
                let desktop = handle.state::<commands::Desktop>();
                match outcome {
                    Ok(ready) => {
                        notify::spawn(handle.clone(), ready.engine.clone());
                        desktop.startup.ready(ready)
                    }
                    Err(failure) => {
                        tracing::error!(code = failure.code.as_str(), "{}", failure.message);
                        eprintln!("flightdeck-desktop: error: {}", failure.message);
                        desktop.startup.failed(failure);
                    }
                }
            });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::api_request,
            commands::feed_subscribe,
            commands::feed_unsubscribe
        ])
        .build(tauri::generate_context!())
        .context("starting the window")?;
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event
            && let Some(desktop) = handle.try_state::<commands::Desktop>()
        {
            // Closed while the engine was still opening: give the open a moment to finish so
            // it is shut down like any other (drained, checkpointed), not cut off.
            let engine = tauri::async_runtime::block_on(async {
                match tokio::time::timeout(OPEN_WAIT_ON_EXIT, desktop.startup.wait()).await {
                    Ok(Ok(ready)) => Some(ready.engine.clone()),
                    Ok(Err(_)) => None,
                    Err(_) => {
                        tracing::warn!("the engine was still opening at exit; not waiting longer");
                        None
                    }
                }
            });
            if let Some(engine) = engine {
                let outcome = tauri::async_runtime::block_on(engine.shutdown());
                tracing::info!(?outcome, "desktop closed");
            }
        }
    });
    Ok(())
}

/// Opens the engine and the in-process Router with a per-launch token.
async fn open_engine(
    loaded: Result<Config, flightdeck_engine::config::ConfigError>,
    data_dir: std::path::PathBuf,
    config_source: ConfigSource,
    log: telemetry::LogHandle,
) -> Result<startup::Ready, startup::Failure> {
    let failure = |code: ErrorCode, e: &dyn std::fmt::Display| startup::Failure {
        code,
        message: format!("Flightdeck could not start: {e}"),
    };
    let config = loaded.map_err(|e| failure(e.code(), &e))?;
    let body_limit_bytes = usize::try_from(config.server.body_limit_bytes).unwrap_or(usize::MAX);
    let engine = Engine::open(EngineOptions {
        data_dir,
        config,
        config_source,
        watch_config: true,
        env_token: std::env::var(TOKEN_ENV).ok(),
        require_token: false,
        clock: SystemClock::shared(),
    })
    .await
    .map_err(|e| failure(e.code(), &e))?;
    engine.follow_log_level(log);
    startup::Ready::new(engine, body_limit_bytes).map_err(|e| failure(e.code(), &e))
}
