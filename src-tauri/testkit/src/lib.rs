//! Test support shared by the crates' tests (a dev-dependency only; never linked into a
//! binary): a private session bus and a real, unlocked gnome-keyring on it, so keychain tests
//! run against the real Secret Service without touching the developer's keyring.
//!
//! Invariants: the bus activates no services (the system's `org.freedesktop.secrets`
//! activation file would otherwise start a keyring with the developer's HOME the moment
//! anything asks for the Secret Service), and every daemon runs with HOME and the XDG dirs in
//! a temporary directory that is removed when the [`Keyring`] is dropped.
//!
//! Failing loudly is this crate's job: a broken harness must stop the test, so it panics with
//! a message instead of returning errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts a private session bus listening in `dir` (which also becomes the daemon's HOME);
/// returns the daemon and the bus address.
pub fn private_bus(dir: &Path) -> (Child, String) {
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

/// A private session bus with an unlocked gnome-keyring on it. Dropping it stops both
/// daemons and removes their files.
pub struct Keyring {
    bus: Child,
    keyring: Child,
    address: String,
    xdg: tempfile::TempDir,
}

impl Keyring {
    /// Starts the bus and the keyring and waits until the Secret Service answers.
    pub fn start() -> Keyring {
        let xdg = tempfile::tempdir().unwrap();
        for d in ["data", "runtime", "config"] {
            std::fs::create_dir_all(xdg.path().join(d)).unwrap();
        }
        let runtime = xdg.path().join("runtime");
        std::fs::set_permissions(
            &runtime,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let (bus, address) = private_bus(&runtime);
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("HOME", xdg.path())
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("XDG_DATA_HOME", xdg.path().join("data"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("XDG_CONFIG_HOME", xdg.path().join("config"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon is installed by the test command");
        keyring
            .stdin
            .take()
            .unwrap()
            .write_all(b"test-keyring-password")
            .unwrap();
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

    /// The keyring's own files (its data dir), e.g. to check what was stored there.
    pub fn data_dir(&self) -> PathBuf {
        self.xdg.path().join("data")
    }

    /// The environment a process needs to reach this keyring.
    pub fn env(&self) -> Vec<(String, String)> {
        let path = |d: &str| self.xdg.path().join(d).display().to_string();
        vec![
            ("DBUS_SESSION_BUS_ADDRESS".into(), self.address.clone()),
            ("XDG_DATA_HOME".into(), path("data")),
            ("XDG_RUNTIME_DIR".into(), path("runtime")),
        ]
    }

    /// Points `cmd` at this keyring.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.envs(self.env());
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
