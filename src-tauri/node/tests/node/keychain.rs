//! The real OS keychain: a private D-Bus session with gnome-keyring (Secret Service), the
//! token generated on first start and kept there (never in SQLite or logs), and the clear
//! error when no keychain is reachable.

use std::path::Path;
use std::process::Command;

use flightdeck_testkit::{Keyring, private_bus};

use super::support::{Node, client, dependency, flightdeck, run};

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_file() {
            out.extend(std::fs::read(e.path()).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn token_lives_in_the_keychain() {
    let keyring = Keyring::start();
    let dir = tempfile::tempdir().unwrap();
    let token_cmd = || {
        let mut c = flightdeck(dir.path());
        keyring.apply(&mut c);
        c.args(["--secrets", "keychain", "token"]);
        c
    };
    let (code, first, err) = run(token_cmd());
    assert_eq!(code, 0, "{err}");
    let token = first.trim().to_string();
    assert!(token.starts_with("fdk_"));
    let (_, second, _) = run(token_cmd());
    assert_eq!(second.trim(), token, "the stored token is reused");

    // It is in the Secret Service, under the flightdeck service.
    let mut lookup = Command::new("secret-tool");
    keyring.apply(&mut lookup);
    lookup.args([
        "lookup",
        "service",
        "flightdeck",
        "username",
        &format!("api-token:{}", dir.path().display()),
    ]);
    let (code, stored, err) = run(lookup);
    assert_eq!(code, 0, "{err}");
    assert_eq!(stored.trim(), token);

    // A node on the keychain backend accepts it, shows the keychain healthy, and writes it
    // neither to the database nor to its log.
    let mut cmd = flightdeck(dir.path());
    keyring.apply(&mut cmd);
    cmd.args(["--secrets", "keychain", "serve", "--listen", "127.0.0.1:0"]);
    let node = Node::spawn(cmd, dir.path());
    let http = client();
    let res = http
        .get(node.url("/api/v1/info"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let secrets = dependency(&http, &node, "secrets").await;
    assert_eq!(secrets["status"], "healthy", "{secrets}");
    assert!(secrets["message"].as_str().unwrap().contains("keychain"));
    let (code, log) = node.terminate();
    assert_eq!(code, 0);
    assert!(!log.iter().any(|l| l.contains(&token)), "token in the log");
    assert!(
        !contains(&all_bytes(dir.path()), &token),
        "token in the data dir"
    );
}

#[test]
fn no_keychain_is_a_clear_error_with_alternatives() {
    let dir = tempfile::tempdir().unwrap();
    for env in [
        // No session bus at all.
        vec![(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}/no-bus", dir.path().display()),
        )],
    ] {
        let mut c = flightdeck(dir.path());
        for (k, v) in &env {
            c.env(k, v);
        }
        c.args(["--secrets", "keychain", "token"]);
        let (code, out, err) = run(c);
        assert_eq!(code, 1, "{out}");
        assert!(err.contains("keychain is not reachable"), "{err}");
        assert!(
            err.contains("--secrets file") && err.contains("--secrets env"),
            "{err}"
        );
    }
    // A bus without a Secret Service.
    let xdg = tempfile::tempdir().unwrap();
    let (mut bus, address) = private_bus(xdg.path());
    let mut c = flightdeck(dir.path());
    c.env("DBUS_SESSION_BUS_ADDRESS", &address).args([
        "--secrets",
        "keychain",
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]);
    let (code, _, err) = run(c);
    let _ = bus.kill();
    let _ = bus.wait();
    assert_eq!(code, 1);
    assert!(
        err.contains("keychain is not reachable") && err.contains("--secrets file"),
        "{err}"
    );
    assert!(err.contains("no Secret Service"), "{err}");
    // A node that could authenticate no one created nothing: no database.
    assert!(!dir.path().join("flightdeck.db").exists());
}

/// FLIGHTDECK_API_TOKEN is the token: a node on the keychain backend with no session bus at
/// all starts and serves with it (health says why the secret store is unreachable).
#[tokio::test]
async fn the_environment_token_needs_no_keychain() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = flightdeck(dir.path());
    c.env(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}/no-bus", dir.path().display()),
    )
    .env("FLIGHTDECK_API_TOKEN", super::support::TOKEN)
    .args(["--secrets", "keychain", "serve", "--listen", "127.0.0.1:0"]);
    let node = super::support::Node::spawn(c, dir.path());
    let http = super::support::client();
    let info = http
        .get(node.url("/api/v1/info"))
        .bearer_auth(super::support::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    let secrets = dependency(&http, &node, "secrets").await;
    assert_eq!(secrets["status"], "unhealthy", "{secrets}");
    let (code, _) = node.terminate();
    assert_eq!(code, 0);
}
