//! Table-driven tests of loading and validation.

use super::*;

fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flightdeck.toml");
    std::fs::write(&path, text).unwrap();
    Config::load_with_env(
        Some(&path),
        true,
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

#[test]
fn empty_file_is_defaults() {
    assert_eq!(load("", &[]).unwrap(), Config::default());
}

#[test]
fn values_and_env_overrides() {
    let c = load(
        "[server]\nlisten = \"127.0.0.1:9000\"\n[shutdown]\ntimeout_secs = 5\n",
        &[
            ("FLIGHTDECK_SHUTDOWN__TIMEOUT_SECS", "7"),
            ("FLIGHTDECK_LOG__FORMAT", "json"),
            ("FLIGHTDECK_API_TOKEN", "ignored-not-a-config-key"),
            ("FLIGHTDECK_SERVER__ALLOWED_HOSTS", "[\"node.lan\"]"),
        ],
    )
    .unwrap();
    assert_eq!(c.server.listen, "127.0.0.1:9000");
    assert_eq!(c.shutdown.timeout_secs, 7);
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.server.allowed_hosts, vec!["node.lan".to_string()]);
}

#[test]
fn errors_name_source_key_and_reason() {
    // (file text, env, expected source fragment, expected key, expected reason fragment)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, &'a str, &'a str);
    let cases: &[Case] = &[
        (
            "[shutdown]\ntimeout_secs = \"soon\"\n",
            &[],
            "flightdeck.toml",
            "shutdown.timeout_secs",
            "invalid type",
        ),
        (
            "[server]\nlisen = \"x\"\n",
            &[],
            "flightdeck.toml",
            "server",
            "unknown field",
        ),
        (
            "[server]\nlisten = \"nowhere\"\n",
            &[],
            "flightdeck.toml",
            "server.listen",
            "not an IP address",
        ),
        (
            "[shutdown]\ntimeout_secs = 0\n",
            &[],
            "flightdeck.toml",
            "shutdown.timeout_secs",
            "between 1 and 3600",
        ),
        (
            "[log]\nlevel = \"info,[[\"\n",
            &[],
            "flightdeck.toml",
            "log.level",
            "not a log filter",
        ),
        (
            "[feed]\nmetrics_interval_ms = 5\n",
            &[],
            "flightdeck.toml",
            "feed.metrics_interval_ms",
            "between",
        ),
        (
            "",
            &[("FLIGHTDECK_SHUTDOWN__TIMEOUT_SECS", "abc")],
            "FLIGHTDECK_SHUTDOWN__TIMEOUT_SECS",
            "shutdown.timeout_secs",
            "invalid type",
        ),
        ("this is = = not toml", &[], "flightdeck.toml", "", ""),
    ];
    for (text, env, source, key, reason) in cases {
        let err = load(text, env).unwrap_err();
        let ConfigError::Invalid { problems } = &err else {
            panic!("{text}: {err}")
        };
        let p = &problems[0];
        assert!(p.source.contains(source), "{text}: source {}", p.source);
        assert!(p.key.starts_with(key), "{text}: key {}", p.key);
        assert!(p.reason.contains(reason), "{text}: reason {}", p.reason);
        assert!(err.to_string().contains(source), "{err}");
    }
}

#[test]
fn missing_file_is_an_error_only_when_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    assert!(matches!(
        Config::load_with_env(Some(&path), true, Vec::new()),
        Err(ConfigError::Missing { .. })
    ));
    assert_eq!(
        Config::load_with_env(Some(&path), false, Vec::new()).unwrap(),
        Config::default()
    );
}

#[test]
fn changed_keys_and_handle() {
    let a = Config::default();
    let mut b = a.clone();
    b.log.level = "debug".into();
    b.server.listen = "127.0.0.1:1".into();
    let mut keys = a.changed_keys(&b);
    keys.sort();
    assert_eq!(keys, vec!["log.level", "server.listen"]);

    let h = ConfigHandle::new(a, None, ConfigOverrides::default());
    let mut rx = h.subscribe();
    assert_eq!(h.apply(b.clone()).len(), 2);
    assert!(rx.has_changed().unwrap());
    assert_eq!(*rx.borrow_and_update().clone(), b);
    h.reject(&ConfigError::Missing { path: "x".into() });
    assert_eq!(h.status().state, ConfigState::Error);
    assert_eq!(
        *h.current(),
        b,
        "a rejected change leaves the config in force"
    );
}

#[test]
fn restart_keys_stay_as_running() {
    let running = Config::default();
    let mut file = Config::default();
    file.server.listen = "127.0.0.1:1".into();
    file.server.insecure_listen = true;
    file.server.body_limit_bytes = 4096;
    file.server.allowed_hosts = vec!["x".into()];
    file.secrets.backend = SecretsBackend::File;
    file.log.format = LogFormat::Json;
    file.log.level = "debug".into();
    let mut changed = running.changed_keys(&file);
    changed.retain(|k| k != "log.level");
    changed.sort();
    let mut listed: Vec<String> = RESTART_KEYS.iter().map(|k| k.to_string()).collect();
    listed.sort();
    assert_eq!(
        changed, listed,
        "RESTART_KEYS covers exactly what with_restart_keys_of keeps"
    );
    let kept = file.with_restart_keys_of(&running);
    assert_eq!(running.changed_keys(&kept), vec!["log.level".to_string()]);
}

#[test]
fn annotated_example_is_valid() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../assets/flightdeck.example.toml"
    );
    let c = Config::load_with_env(Some(std::path::Path::new(example)), true, Vec::new()).unwrap();
    assert_eq!(c, Config::default(), "the example documents the defaults");
}
