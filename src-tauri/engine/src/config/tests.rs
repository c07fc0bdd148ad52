//! Table-driven tests of loading, validation and the environment snapshot.

use std::ffi::OsString;

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
            "[server]\nallowed_hosts = [\"node.lan\", \"http://evil.example\"]\n",
            &[],
            "flightdeck.toml",
            "server.allowed_hosts",
            "`http://evil.example`: a host name, not a URL",
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
        // A bad value from the environment blames the variable, not the file.
        (
            "[server]\nlisten = \"127.0.0.1:9000\"\n",
            &[("FLIGHTDECK_SERVER__LISTEN", "nowhere")],
            "environment variable FLIGHTDECK_SERVER__LISTEN",
            "server.listen",
            "not an IP address",
        ),
        (
            "",
            &[("FLIGHTDECK_SERVER__LISTN", "127.0.0.1:1")],
            "environment variable FLIGHTDECK_SERVER__LISTN",
            "server.listn",
            "unknown key `server.listn` (keys of [server]: ",
        ),
        (
            "",
            &[("FLIGHTDECK_NOPE__X", "1")],
            "environment variable FLIGHTDECK_NOPE__X",
            "nope.x",
            "there is no section `nope`",
        ),
        (
            "",
            &[("FLIGHTDECK_SERVER_LISTEN", "127.0.0.1:1")],
            "environment variable FLIGHTDECK_SERVER_LISTEN",
            "",
            "e.g. FLIGHTDECK_SERVER__LISTEN",
        ),
        (
            "",
            &[("FLIGHTDECK_LOG", "debug")],
            "environment variable FLIGHTDECK_LOG",
            "",
            "FLIGHTDECK_LOG__<KEY> (keys: format, level)",
        ),
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
        if p.key.is_empty() {
            continue;
        }
        assert!(err.to_string().contains(&p.key), "{err}");
        if !env.is_empty() {
            assert!(
                !p.source.contains("flightdeck.toml"),
                "{text}: blames the file for {env:?}: {err}"
            );
        }
    }
}

#[test]
fn known_flags_are_not_settings_and_tooling_is_only_ignored() {
    let env = EnvSnapshot::from_vars(
        [
            ("FLIGHTDECK_CONFIG", "/etc/fd.toml"),
            ("FLIGHTDECK_DATA_DIR", "/var/lib/fd"),
            ("FLIGHTDECK_UI_DIR", "/srv/ui"),
            ("FLIGHTDECK_API_TOKEN", "secret-token-value"),
            ("FLIGHTDECK_BIN", "/bin/flightdeck"),
            ("FLIGHTDECK_LOG__LEVEL", "debug"),
            ("PATH", "/usr/bin"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    assert_eq!(env.problems(), &[]);
    assert_eq!(env.ignored(), &["FLIGHTDECK_BIN".to_string()]);
    assert_eq!(
        env.overrides().collect::<Vec<_>>(),
        vec![("FLIGHTDECK_LOG__LEVEL", "debug")]
    );
    assert!(
        !format!("{env:?}").contains("secret-token-value"),
        "the snapshot never holds the token"
    );
}

#[cfg(unix)]
#[test]
fn non_utf8_environment_is_a_problem_not_a_panic() {
    use std::os::unix::ffi::OsStringExt;
    let bad = || OsString::from_vec(vec![b'a', 0xff, b'b']);
    let mut bad_name = b"FLIGHTDECK_LOG__".to_vec();
    bad_name.push(0xfe);
    let env = EnvSnapshot::from_os_vars([
        (OsString::from("FLIGHTDECK_LOG__LEVEL"), bad()),
        (OsString::from_vec(bad_name), OsString::from("x")),
        (OsString::from("FLIGHTDECK_API_TOKEN"), bad()),
        // Paths may be any OS string; other people's variables are none of our business.
        (OsString::from("FLIGHTDECK_DATA_DIR"), bad()),
        (OsString::from("HOME"), bad()),
        (OsString::from_vec(vec![b'X', 0xff]), OsString::from("y")),
    ]);
    let problems = env.problems();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert_eq!(
        problems[0].source,
        "environment variable FLIGHTDECK_LOG__LEVEL"
    );
    assert_eq!(problems[0].key, "log.level");
    assert!(problems[0].reason.contains("not valid UTF-8"));
    assert!(
        problems[1].reason.contains("FLIGHTDECK_LOG__"),
        "{problems:?}"
    );
    assert_eq!(
        problems[2].source,
        "environment variable FLIGHTDECK_API_TOKEN"
    );
    let source = ConfigSource {
        env,
        ..ConfigSource::default()
    };
    let err = source.load().unwrap_err();
    assert!(
        err.to_string().contains("FLIGHTDECK_LOG__LEVEL"),
        "a load reports the environment's problems: {err}"
    );
}

#[test]
fn a_directory_is_not_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    for required in [true, false] {
        let err = Config::load_with_env(Some(dir.path()), required, Vec::new()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("is not a regular file") && msg.contains("directory"),
            "{msg}"
        );
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    }
}

#[test]
fn a_file_in_place_of_the_config_dir_means_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let stray = dir.path().join("flightdeck");
    std::fs::write(&stray, "not a directory").unwrap();
    let path = stray.join("flightdeck.toml");
    assert_eq!(
        Config::load_with_env(Some(&path), false, Vec::new()).unwrap(),
        Config::default()
    );
    assert!(matches!(
        Config::load_with_env(Some(&path), true, Vec::new()),
        Err(ConfigError::Missing { .. })
    ));
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

    let start = chrono::DateTime::parse_from_rfc3339("2030-01-02T03:04:05Z")
        .unwrap()
        .to_utc();
    let clock = std::sync::Arc::new(crate::clock::ManualClock::new(start));
    let h = ConfigHandle::new(a, ConfigSource::default(), clock.clone());
    assert_eq!(h.status().loaded_at, start);
    let mut rx = h.subscribe();
    let applied_at = clock.advance(std::time::Duration::from_secs(60));
    assert_eq!(h.apply(b.clone()).len(), 2);
    assert_eq!(h.status().loaded_at, applied_at);
    assert!(rx.has_changed().unwrap());
    assert_eq!(*rx.borrow_and_update().clone(), b);
    clock.advance(std::time::Duration::from_secs(60));
    h.reject(&ConfigError::Missing { path: "x".into() });
    assert_eq!(h.status().state, ConfigState::Error);
    assert_eq!(
        h.status().loaded_at,
        applied_at,
        "a rejected change loads nothing"
    );
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
    file.gateway.max_request_bytes = 4096;
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

#[test]
fn listen_takes_localhost_like_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flightdeck.toml");
    std::fs::write(&path, "[server]\nlisten = \"localhost:9000\"\n").unwrap();
    let config = Config::load_with_env(Some(&path), true, Vec::new()).unwrap();
    assert_eq!(
        config.server.listen_addr(),
        Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9000)))
    );
    std::fs::write(&path, "[server]\nlisten = \"node.lan:9000\"\n").unwrap();
    let err = Config::load_with_env(Some(&path), true, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("server.listen") && err.contains("localhost:PORT"),
        "{err}"
    );
}

#[test]
fn a_posted_config_text_opens_no_prompt_file() {
    let text = "[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\nkey = \"none\"\n\
                [agents.a]\nroute = \"p/m\"\nprompt_file = \"/etc/hostname\"\n";
    let c = Config::from_toml_str(text, "submitted text").unwrap();
    assert_eq!(c.agents["a"].prompt, "{# prompt_file: not read here #}");
}

#[test]
fn prompt_files_are_read_relative_to_the_config_or_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flightdeck.toml");
    std::fs::write(dir.path().join("p.j2"), "From a file: {{ x }}").unwrap();
    std::fs::write(dir.path().join("bin.j2"), [0xff, 0xfe, 0x00]).unwrap();
    let agent = |extra: &str| {
        format!(
            "[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\nkey = \"none\"\n\
             [agents.a]\nroute = \"p/m\"\n{extra}\n"
        )
    };
    let load = |text: String| {
        std::fs::write(&path, text).unwrap();
        Config::load_with_env(Some(&path), true, std::iter::empty())
    };
    let ok = load(agent("prompt_file = \"p.j2\"")).unwrap();
    assert_eq!(ok.agents["a"].prompt, "From a file: {{ x }}");
    assert_eq!(ok.agents["a"].prompt_file.as_deref(), Some("p.j2"));
    let cases = [
        ("prompt = \"x\"\nprompt_file = \"p.j2\"", "not both"),
        ("prompt_file = \"nope.j2\"", "cannot read"),
        ("prompt_file = \"bin.j2\"", "not valid UTF-8"),
        ("prompt_file = \".\"", "not a regular file"),
        ("", "needs a prompt template"),
    ];
    for (extra, want) in cases {
        let err = load(agent(extra)).unwrap_err().to_string();
        assert!(err.contains(want), "{extra}: {err}");
    }
}

#[test]
fn changed_keys_name_what_was_added_removed_and_changed() {
    let a = Config::from_toml_str("[feed]\nmetrics_interval_ms = 500\n", "a").unwrap();
    let b = Config::from_toml_str(
        "[feed]\nmetrics_interval_ms = 600\n[routes.r]\nchain = [\"p/m\"]\n[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\nkey = \"none\"\n",
        "b",
    )
    .unwrap();
    let mut there = a.changed_keys(&b);
    there.sort();
    assert_eq!(
        there,
        vec!["feed.metrics_interval_ms", "providers.p", "routes.r"]
    );
    let mut back = b.changed_keys(&a);
    back.sort();
    assert_eq!(back, there);
}
