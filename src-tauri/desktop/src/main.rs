//! The Flightdeck desktop shell: a Tauri 2 window around the embedded engine.
//!
//! Thin by design: it opens the engine, builds the very same `flightdeck_api::router` the node
//! serves, and exposes three commands. `api_request` hands the UI's request to that Router
//! in-process (`oneshot`), so no TCP port is opened; `feed_subscribe` streams the live feed
//! through a Tauri channel. The in-process bearer token is generated per launch, lives only in
//! this process's memory, and is never sent to the webview.
//!
//! Lifecycle: single instance (a second launch focuses the first window); window size and
//! position restored (window-state plugin); closing the window shuts the engine down
//! gracefully (in-flight work drained, database checkpointed).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;

use std::process::ExitCode;

use anyhow::Context;
use flightdeck_api::{ApiOptions, router};
use flightdeck_engine::config::{Config, ConfigOverrides};
use flightdeck_engine::secrets::{ApiToken, TOKEN_ENV};
use flightdeck_engine::{Engine, EngineOptions, paths, telemetry};
use tauri::Manager;

fn main() -> ExitCode {
    if let Err(reason) = display_available() {
        eprintln!(
            "flightdeck-desktop: {reason}; the desktop window needs a graphical session. To run \
             headless, start a node instead: `flightdeck serve` (see README)"
        );
        return ExitCode::FAILURE;
    }
    match run() {
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
        tracing::info!("signal received: closing");
        handle.exit(0);
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

fn run() -> anyhow::Result<()> {
    let data_dir = match std::env::var_os("FLIGHTDECK_DATA_DIR") {
        Some(d) if !d.is_empty() => d.into(),
        _ => paths::default_data_dir().context("cannot determine a data directory")?,
    };
    let (config_path, required) = match std::env::var_os("FLIGHTDECK_CONFIG") {
        Some(p) if !p.is_empty() => (Some(p.into()), true),
        _ => (paths::default_config_file(), false),
    };
    let config = Config::load(config_path.as_deref(), required)
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let _log = telemetry::init_logging(&config.log.level, config.log.format)?;
    let config_path = config_path.filter(|p: &std::path::PathBuf| p.exists());

    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.show();
                let _ = window.set_focus();
            }
        }))
        .plugin(tauri_plugin_window_state::Builder::default().build())
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
            // the database. A failure is reported in one line, not as a panic of `setup`.
            let opened = tauri::async_runtime::block_on(Engine::open(EngineOptions {
                data_dir: data_dir.clone(),
                config: config.clone(),
                config_path: config_path.clone(),
                watch_config: true,
                overrides: ConfigOverrides::default(),
                env_token: std::env::var(TOKEN_ENV).ok(),
            }));
            let engine = match opened {
                Ok(engine) => engine,
                Err(e) => {
                    eprintln!("flightdeck-desktop: error: {e}");
                    std::process::exit(1);
                }
            };
            spawn_signal_handler(app.handle().clone());
            let token = ApiToken::generate()?;
            let api = router(
                engine.clone(),
                ApiOptions {
                    token: token.clone(),
                    allowed_hosts: Vec::new(),
                    ui_dir: None,
                    body_limit_bytes: usize::try_from(config.server.body_limit_bytes)
                        .unwrap_or(usize::MAX),
                },
            );
            app.manage(commands::Desktop::new(engine, api, token));
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
            let engine = desktop.engine.clone();
            let outcome = tauri::async_runtime::block_on(engine.shutdown());
            tracing::info!(?outcome, "desktop closed");
        }
    });
    Ok(())
}
