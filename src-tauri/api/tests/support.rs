//! Shared set-up: a real engine on a fresh SQLite file, secrets from the environment.

use flightdeck_engine::config::{Config, SecretsBackend};
use flightdeck_engine::{Engine, EngineOptions};

pub const TOKEN: &str = "router-test-token-0123456789";

/// Opens an engine in `dir` with `tweak` applied to the default config.
pub async fn engine(dir: &std::path::Path, tweak: impl FnOnce(&mut Config)) -> Engine {
    let mut config = Config::default();
    config.secrets.backend = SecretsBackend::Env;
    tweak(&mut config);
    Engine::open(EngineOptions {
        data_dir: dir.to_path_buf(),
        config,
        config_path: None,
        watch_config: false,
        overrides: Default::default(),
        env_token: Some(TOKEN.into()),
    })
    .await
    .unwrap()
}
