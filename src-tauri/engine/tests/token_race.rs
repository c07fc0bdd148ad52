//! One node, one token: processes that find no API token at the same moment (`serve` and
//! `flightdeck token` on a fresh node) must hand out the same one, the one that is stored,
//! with the file backend and with the real keychain (gnome-keyring on a private D-Bus).
//!
//! Each test runs itself again as several child processes (this test binary, selected with
//! `--exact`, told by the environment to be a generator). The children wait on a start file
//! so that their reads really overlap.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flightdeck_engine::config::SecretsBackend;
use flightdeck_engine::secrets::{Secrets, TokenSource};
use flightdeck_testkit::Keyring;

/// Set in a child: where it writes `<token> <source>`.
const CHILD_OUT: &str = "FLIGHTDECK_TEST_RACE_OUT";
const CHILD_DIR: &str = "FLIGHTDECK_TEST_RACE_DIR";
const CHILD_GO: &str = "FLIGHTDECK_TEST_RACE_GO";
const GENERATORS: usize = 8;

/// The generator's side: get the token once the start file appears, write what it got.
async fn generate_as_child(backend: SecretsBackend) -> bool {
    let Some(out) = std::env::var_os(CHILD_OUT) else {
        return false;
    };
    let dir = PathBuf::from(std::env::var_os(CHILD_DIR).unwrap());
    let go = PathBuf::from(std::env::var_os(CHILD_GO).unwrap());
    let secrets = Secrets::open_async(backend, dir, None).await.unwrap();
    std::fs::write(ready_name(Path::new(&out)), b"").unwrap();
    while !go.exists() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (token, source) = secrets.api_token().await.unwrap();
    std::fs::write(&out, format!("{} {source:?}", token.expose())).unwrap();
    true
}

fn ready_name(out: &Path) -> PathBuf {
    out.with_extension("ready")
}

/// Runs `test` (this test's name) as `n` generators at once on `data`; returns what each got.
fn race(test: &str, n: usize, data: &Path, env: &[(String, String)]) -> Vec<(String, String)> {
    let work = tempfile::tempdir().unwrap();
    let go = work.path().join("go");
    let spawn = |i: usize| {
        let out = work.path().join(format!("child-{i}.out"));
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([test, "--exact", "--test-threads=1", "-q"])
            .env(CHILD_OUT, &out)
            .env(CHILD_DIR, data)
            .env(CHILD_GO, &go)
            .env_remove("FLIGHTDECK_API_TOKEN")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        (cmd.spawn().unwrap(), out)
    };
    let children: Vec<(Child, PathBuf)> = (0..n).map(spawn).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !children.iter().all(|(_, out)| ready_name(out).exists()) {
        assert!(Instant::now() < deadline, "the generators did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::write(&go, b"").unwrap();
    children
        .into_iter()
        .map(|(child, out)| {
            let result = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&result.stderr);
            assert!(result.status.success(), "generator failed: {err}");
            let text = std::fs::read_to_string(&out).unwrap();
            let (token, source) = text.split_once(' ').unwrap();
            (token.to_string(), source.to_string())
        })
        .collect()
}

/// Every generator got the same token, exactly one of them generated it, and a later
/// reader finds that very token stored.
fn assert_one_token(results: &[(String, String)], later: &(String, String), stored_as: &str) {
    let first = &results[0].0;
    assert!(first.starts_with("fdk_"));
    assert!(
        results.iter().all(|(t, _)| t == first),
        "different tokens handed out: {:?}",
        results
            .iter()
            .map(|(t, s)| (&t[..12], s))
            .collect::<Vec<_>>()
    );
    let generated = results
        .iter()
        .filter(|(_, s)| s == &format!("{:?}", TokenSource::Generated))
        .count();
    assert_eq!(generated, 1, "{results:?}");
    assert_eq!(&later.0, first);
    assert_eq!(later.1, stored_as);
}

/// This test's name as libtest knows it (without the crate name).
fn test_name(function: &str) -> String {
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    format!("{module}::{function}")
}

#[tokio::test]
async fn processes_racing_on_the_file_backend_hand_out_one_token() {
    if generate_as_child(SecretsBackend::File).await {
        return;
    }
    let name = test_name("processes_racing_on_the_file_backend_hand_out_one_token");
    for _ in 0..3 {
        let data = tempfile::tempdir().unwrap();
        let results = race(&name, GENERATORS, data.path(), &[]);
        let later = race(&name, 1, data.path(), &[]).remove(0);
        assert_one_token(&results, &later, "File");
    }
}

#[tokio::test]
async fn processes_racing_on_the_keychain_hand_out_one_token() {
    if generate_as_child(SecretsBackend::Keychain).await {
        return;
    }
    let name = test_name("processes_racing_on_the_keychain_hand_out_one_token");
    let keyring = Keyring::start();
    for _ in 0..3 {
        let data = tempfile::tempdir().unwrap();
        let results = race(&name, GENERATORS, data.path(), &keyring.env());
        let later = race(&name, 1, data.path(), &keyring.env()).remove(0);
        assert_one_token(&results, &later, "Keychain");
    }
}
