//! The real OS keychain: a private D-Bus session with gnome-keyring (Secret Service), the
//! token generated on first start and kept there (never in SQLite or logs), and the clear
//! error when no keychain is reachable.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::support::{Node, client, flightdeck, get_json, run};

/// A private session bus in `dir` that activates no services: the system's
/// `org.freedesktop.secrets` activation file (installed with gnome-keyring) would otherwise start
/// a keyring with the developer's HOME the moment anything asks for the Secret Service.
fn private_bus(dir: &Path) -> (Child, String) {
    let config = dir.join("bus.conf");
    std::fs::write(
        &config,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
            dir.display()
        ),
    )
    .unwrap();
    let mut bus = Command::new("dbus-daemon")
        .args(["--nofork", "--print-address=1"])
        .arg(format!("--config-file={}", config.display()))
        .env("HOME", dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("dbus-daemon is installed by the test command");
    let mut line = String::new();
    BufReader::new(bus.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (bus, line.trim().to_string())
}

/// A private session bus with an unlocked gnome-keyring on it.
struct Keyring {
    bus: Child,
    keyring: Child,
    address: String,
    xdg: tempfile::TempDir,
}

impl Keyring {
    fn start() -> Keyring {
        let xdg = tempfile::tempdir().unwrap();
        for d in ["data", "runtime", "config"] {
            std::fs::create_dir_all(xdg.path().join(d)).unwrap();
        }
        let mut perms = std::fs::metadata(xdg.path().join("runtime"))
            .unwrap()
            .permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        std::fs::set_permissions(xdg.path().join("runtime"), perms).unwrap();
        let (bus, address) = private_bus(&xdg.path().join("runtime"));
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("HOME", xdg.path())
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("XDG_DATA_HOME", xdg.path().join("data"))
            .env("XDG_RUNTIME_DIR", xdg.path().join("runtime"))
            .env("XDG_CONFIG_HOME", xdg.path().join("config"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon is installed by the test command");
        {
            let mut stdin = keyring.stdin.take().unwrap();
            stdin.write_all(b"test-keyring-password").unwrap();
        }
        let k = Keyring {
            bus,
            keyring,
            address,
            xdg,
        };
        k.wait_for_secret_service();
        k
    }

    fn wait_for_secret_service(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let out = Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).contains("boolean true") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("gnome-keyring did not take org.freedesktop.secrets");
    }

    fn apply(&self, cmd: &mut Command) {
        cmd.env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("XDG_DATA_HOME", self.xdg.path().join("data"))
            .env("XDG_RUNTIME_DIR", self.xdg.path().join("runtime"));
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        let _ = self.keyring.kill();
        let _ = self.keyring.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

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
    let health: serde_json::Value = get_json(&http, &node.url("/health"), None).await;
    let secrets = health["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "secrets")
        .unwrap()
        .clone();
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
}
