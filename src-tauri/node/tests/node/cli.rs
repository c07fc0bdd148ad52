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
        out.contains("not created yet") && out.contains("pending:         1, 2, 2026"),
        "{out}"
    );
    assert!(!dir.path().join("flightdeck.db").exists());
    let (code, out, _) = run({
        let mut c = flightdeck(dir.path());
        c.args(["db", "migrate"]);
        c
    });
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("schema version 2026"), "{out}");
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

fn token_cmd(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    run({
        let mut c = flightdeck(dir);
        c.args(["--secrets", "env", "token"])
            .args(args)
            .env("FLIGHTDECK_API_TOKEN", super::support::TOKEN);
        c
    })
}

/// `token create|ls|revoke` on a stopped node's data dir, then through the running node's
/// API (it holds the data dir), with the same results; the tokens work against the node.
#[tokio::test]
async fn named_tokens_from_the_cli_with_the_node_stopped_and_running() {
    let dir = tempfile::tempdir().unwrap();
    let (code, token, err) = token_cmd(
        dir.path(),
        &["create", "ci", "--scope", "read", "--expires", "30d"],
    );
    assert_eq!(code, 0, "{err}");
    let token = token.trim().to_string();
    assert!(token.starts_with("fdt_"), "{token}");
    assert!(err.contains("shown this once"), "{err}");
    // Bad input: clear errors, exit codes 1 (refused) and 2 (usage).
    let (code, _, err) = token_cmd(dir.path(), &["create", "ci"]);
    assert_eq!(code, 1);
    assert!(err.contains("exists already"), "{err}");
    let (code, _, err) = token_cmd(dir.path(), &["create", "x", "--expires", "soon"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a duration"), "{err}");
    let (code, _, _) = token_cmd(dir.path(), &["create", "x", "--scope", "root"]);
    assert_eq!(code, 2);
    let (code, _, err) = token_cmd(dir.path(), &["revoke", "nobody"]);
    assert_eq!(code, 1);
    assert!(err.contains("no token named"), "{err}");

    let node = super::support::Node::start(dir.path(), &[]);
    let http = super::support::client();
    let info = http
        .get(node.url("/api/v1/info"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    let denied = http
        .post(node.url("/api/v1/config/reload"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);

    // While the node runs, the CLI goes through its API.
    let (code, ops, err) = token_cmd(dir.path(), &["create", "ops", "--scope", "operate"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = token_cmd(dir.path(), &["ls"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("LAST USED"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("ci ") && lines[1].contains("read"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("ops ") && lines[2].contains("operate"),
        "{out}"
    );
    assert!(
        !out.contains(&token[4..]) && !out.contains(&ops.trim()[4..]),
        "{out}"
    );
    let (code, _, err) = token_cmd(dir.path(), &["revoke", "ci"]);
    assert_eq!(code, 0, "{err}");
    let gone = http
        .get(node.url("/api/v1/info"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 401);
    let (code, _) = node.terminate();
    assert_eq!(code, 0);
}

/// `flightdeck forecast` on a CSV with no data dir: the contract's columns, one row per step
/// on the series' calendar, `--explain` naming the model and the measured coverage; bad rows
/// named by line, nothing written.
#[test]
fn forecast_a_csv_without_a_node() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("never-created");
    let csv = dir.path().join("series.csv");
    let mut text = String::from("ds,y\n");
    let shape = [0.0, 5.0, 8.0, 6.0, 3.0, -10.0, -12.0];
    for i in 0..120u32 {
        let day =
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(u64::from(i));
        // A weekly shape and a little deterministic wobble.
        let wobble = f64::from((i * 7919) % 13) / 13.0 - 0.5;
        text.push_str(&format!(
            "{day},{}\n",
            100.0 + shape[i as usize % 7] + wobble
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let out = dir.path().join("forecast.csv");
    let (code, stdout, err) = run({
        let mut c = flightdeck(&data);
        c.arg("forecast")
            .arg("--csv")
            .arg(&csv)
            .args(["--horizon", "10", "--explain", "--out"])
            .arg(&out);
        c
    });
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("seasonal periods: [7]") && stdout.contains("model: "),
        "{stdout}"
    );
    assert!(stdout.contains("measured coverage"), "{stdout}");
    let written = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines[0], "ds,mean,lo80,hi80,lo95,hi95");
    assert_eq!(lines.len(), 11);
    assert!(lines[1].starts_with("2026-05-01,"), "{written}");
    assert!(lines[10].starts_with("2026-05-10,"), "{written}");
    for l in &lines[1..] {
        let v: Vec<f64> = l.split(',').skip(1).map(|x| x.parse().unwrap()).collect();
        assert!(
            v[3] <= v[1] && v[1] <= v[0] && v[0] <= v[2] && v[2] <= v[4],
            "{l}"
        );
    }
    assert!(!data.exists(), "a forecast opens no data dir");

    std::fs::write(&csv, "ds,y\n2026-01-01,1\n2026-01-02,two\n").unwrap();
    let bad = dir.path().join("bad-out.csv");
    let (code, _, err) = run({
        let mut c = flightdeck(&data);
        c.arg("forecast")
            .arg("--csv")
            .arg(&csv)
            .args(["--horizon", "3", "--out"])
            .arg(&bad);
        c
    });
    assert_ne!(code, 0);
    assert!(err.contains("line 3: `two` is not a number"), "{err}");
    assert!(!bad.exists());
}

/// `flightdeck series import|ls|rm` on a stopped data dir: a dry run writes nothing, bad
/// rows are named by line with nothing imported, an import is listed after the built-in
/// `cost.daily`.
#[test]
fn series_import_ls_and_rm_on_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let csv = dir.path().join("revenue.csv");
    let mut text = String::from("date,value\n");
    for i in 0..60u32 {
        let day =
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(u64::from(i));
        text.push_str(&format!("{day},{}\n", 1000 + i * 3));
    }
    std::fs::write(&csv, &text).unwrap();
    let series = |args: &[&str]| {
        run({
            let mut c = flightdeck(&data);
            c.arg("series").args(args);
            c
        })
    };
    let path = csv.to_str().unwrap();
    let (code, out, err) = series(&["import", "revenue", path, "--dry-run", "--unit", "USD"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("would import (dry run) 60 point(s) into revenue: 60 new"),
        "{out}"
    );
    let (_, out, _) = series(&["ls"]);
    assert!(!out.contains("revenue"), "{out}");
    std::fs::write(&csv, format!("{text}2026-03-02,lots\n2026-03-03,\n")).unwrap();
    let (code, _, err) = series(&["import", "revenue", path]);
    assert_ne!(code, 0);
    assert!(err.contains("line 62") && err.contains("line 63"), "{err}");
    std::fs::write(&csv, &text).unwrap();
    let (code, out, err) = series(&["import", "revenue", path, "--unit", "USD"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("imported 60 point(s)"), "{out}");
    let (code, out, _) = series(&["ls"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[1].starts_with("cost.daily") && lines[1].contains("(built in)"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("revenue") && lines[2].contains("1177"),
        "{out}"
    );
    let (code, _, err) = series(&["rm", "cost.daily"]);
    assert_ne!(code, 0);
    assert!(err.contains("read-only"), "{err}");
    let (code, _, _) = series(&["rm", "revenue"]);
    assert_eq!(code, 0);
}

/// Through a running node, `series import` and `report` go through its API: the series is
/// listed by the node, the report is made by it and its file written to `--out`.
#[tokio::test]
async fn series_and_report_through_a_running_node() {
    use super::support::{Node, TOKEN, client, get_json};
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &[]);
    let csv = dir.path().join("orders.csv");
    let mut text = String::from("date,value\n");
    for i in 0..40u32 {
        let day =
            chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap() + chrono::Days::new(u64::from(i));
        text.push_str(&format!("{day},{}\n", 100 + (i % 7) * 5));
    }
    std::fs::write(&csv, text).unwrap();
    let cli = |args: &[&str]| {
        run({
            let mut c = flightdeck(dir.path());
            c.args(["--secrets", "env"])
                .args(args)
                .env("FLIGHTDECK_API_TOKEN", TOKEN);
            c
        })
    };
    let (code, out, err) = cli(&["series", "import", "orders", csv.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("imported 40 point(s) into orders"), "{out}");
    let listed = get_json(&client(), &node.url("/api/v1/series"), Some(TOKEN)).await;
    assert_eq!(listed["items"][1]["name"], "orders", "{listed}");
    let out_file = dir.path().join("weekly.html");
    let (code, out, err) = cli(&[
        "report",
        "--period",
        "week",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Flightdeck weekly report"), "{out}");
    let html = std::fs::read_to_string(&out_file).unwrap();
    assert!(html.contains("orders") && html.contains("default-src 'none'"));
    let reports = get_json(&client(), &node.url("/api/v1/reports"), Some(TOKEN)).await;
    assert_eq!(reports["items"].as_array().unwrap().len(), 1, "{reports}");
    // Delivery asked with none configured: refused before anything is made.
    let (code, _, err) = cli(&["report", "--period", "day", "--deliver"]);
    assert_ne!(code, 0);
    assert!(err.contains("no delivery is configured"), "{err}");
    let (_, _) = node.terminate();
}
