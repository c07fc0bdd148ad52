//! The CLI: `db status|migrate`, `config check|show`, `token` with the file backend, argument
//! errors.

use super::support::{flightdeck, run};

#[test]
fn db_status_then_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run({
        let mut c = flightdeck(dir.path());
        c.args(["db", "status"]);
        c
    });
    assert_eq!(code, 0);
    assert!(
        out.contains("not created yet") && out.contains("pending:         1, 2"),
        "{out}"
    );
    assert!(!dir.path().join("flightdeck.db").exists());
    let (code, out, _) = run({
        let mut c = flightdeck(dir.path());
        c.args(["db", "migrate"]);
        c
    });
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("schema version 2"), "{out}");
    let (_, out, _) = run({
        let mut c = flightdeck(dir.path());
        c.args(["db", "status"]);
        c
    });
    assert!(out.contains("pending:         none"), "{out}");
}

#[test]
fn config_check_reports_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.toml");
    std::fs::write(
        &f,
        "[server]\nlisten = \"nope\"\n[shutdown]\ntimeout_secs = 0\n",
    )
    .unwrap();
    let (code, _, err) = run({
        let mut c = flightdeck(dir.path());
        c.args(["config", "check"]).arg(&f);
        c
    });
    assert_eq!(code, 1);
    assert!(
        err.contains("server.listen") && err.contains("shutdown.timeout_secs"),
        "{err}"
    );
    std::fs::write(&f, "[log]\nlevel = \"debug\"\n").unwrap();
    let (code, out, _) = run({
        let mut c = flightdeck(dir.path());
        c.args(["config", "check"]).arg(&f);
        c
    });
    assert_eq!(code, 0);
    assert!(out.contains(": ok"));
    // The check reads the same layers as `serve`: global flags included.
    let (code, _, err) = run({
        let mut c = flightdeck(dir.path());
        c.args(["--log-level", "info,[[", "config", "check"])
            .arg(&f);
        c
    });
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("log.level"), "{err}");
    // An address `serve` would refuse is not reported as fine.
    let (code, _, err) = run({
        let mut c = flightdeck(dir.path());
        c.env("FLIGHTDECK_SERVER__LISTEN", "0.0.0.0:7878")
            .args(["config", "check"])
            .arg(&f);
        c
    });
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("not a loopback address") && err.contains("insecure_listen"),
        "{err}"
    );
    // A variable that is no setting and no flag is pointed out, without failing the check.
    let (code, out, err) = run({
        let mut c = flightdeck(dir.path());
        c.env("FLIGHTDECK_COLOUR", "never")
            .args(["config", "check"])
            .arg(&f);
        c
    });
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(": ok"), "{out}");
    assert!(
        err.contains("warning: FLIGHTDECK_COLOUR is neither a Flightdeck setting nor a flag"),
        "{err}"
    );
    let (code, out, _) = run({
        let mut c = flightdeck(dir.path());
        c.arg("--config")
            .arg(&f)
            .args(["--log-format", "json", "config", "show"]);
        c
    });
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["log"]["level"], "debug");
    assert_eq!(v["log"]["format"], "json");
}

#[test]
fn token_with_file_backend_is_stable_and_private() {
    let dir = tempfile::tempdir().unwrap();
    let token = |extra: &[&str]| {
        let mut c = flightdeck(dir.path());
        c.args(["--secrets", "file", "token"]).args(extra);
        run(c)
    };
    let (code, a, err) = token(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("generated"));
    let (_, b, _) = token(&[]);
    assert_eq!(a, b);
    assert!(a.trim().starts_with("fdk_"));
    let (_, c, _) = token(&["--rotate"]);
    assert_ne!(a, c);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("secrets.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn bad_arguments_exit_2_with_usage() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["serve", "--bogus"][..],
        &["--secrets", "vault", "token"][..],
        &["nope"][..],
    ] {
        let (code, _, err) = run({
            let mut c = flightdeck(dir.path());
            c.args(args);
            c
        });
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains("Usage") || err.contains("error:"), "{err}");
    }
}
