//! The watcher against a real directory: one change gives one event and then silence, editor
//! saves (temp file renamed over the config), removal and re-creation of the file and of its
//! directory, and a symlinked config whose target changes.

use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::reload::Publish;
use super::*;
use crate::events::{ConfigEvent, ConfigOutcome, Event};

struct Watched {
    handle: ConfigHandle,
    events: mpsc::UnboundedReceiver<ConfigEvent>,
    cancel: CancellationToken,
    watcher: ConfigWatcher,
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn watch(path: &Path, required: bool) -> Watched {
    let source = ConfigSource {
        path: Some(path.to_path_buf()),
        required,
        ..ConfigSource::default()
    };
    let handle = ConfigHandle::new(
        source.load().unwrap(),
        source,
        crate::clock::SystemClock::shared(),
    );
    let (tx, events) = mpsc::unbounded_channel();
    let publish: Publish = Box::new(move |event| {
        if let Event::Config(c) = event {
            let _ = tx.send(c);
        }
    });
    let cancel = CancellationToken::new();
    let watcher =
        ConfigWatcher::spawn(handle.clone(), publish, cancel.clone(), &TaskTracker::new())
            .expect("a watcher");
    Watched {
        handle,
        events,
        cancel,
        watcher,
    }
}

impl Watched {
    async fn next(&mut self) -> ConfigEvent {
        tokio::time::timeout(Duration::from_secs(10), self.events.recv())
            .await
            .expect("no config event within 10 s")
            .expect("publisher gone")
    }

    /// Nothing more happens for a while: a reload (which opens the file) must not wake the
    /// watcher again, let alone announce anything.
    async fn assert_quiet(&mut self) {
        // Let the reload's own file accesses reach the debouncer and settle first.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let wakes = self.watcher.wakes();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            self.events.try_recv().is_err(),
            "an event followed without a change"
        );
        assert_eq!(self.watcher.wakes(), wakes, "the watcher woke itself up");
    }

    fn interval(&self) -> u64 {
        self.handle.current().feed.metrics_interval_ms
    }
}

fn interval_toml(ms: u64) -> String {
    format!("[feed]\nmetrics_interval_ms = {ms}\n")
}

#[tokio::test]
async fn one_change_one_event_then_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flightdeck.toml");
    std::fs::write(&path, interval_toml(1000)).unwrap();
    let mut w = watch(&path, true);
    assert!(w.handle.status().watching, "{:?}", w.handle.status());

    std::fs::write(&path, interval_toml(500)).unwrap();
    let ev = w.next().await;
    assert_eq!(ev.outcome, ConfigOutcome::Applied, "{ev:?}");
    assert_eq!(ev.changed, vec!["feed.metrics_interval_ms".to_string()]);
    assert_eq!(w.interval(), 500);
    w.assert_quiet().await;

    // While the file is invalid it is rejected once, not over and over.
    std::fs::write(&path, interval_toml(1)).unwrap();
    assert_eq!(w.next().await.outcome, ConfigOutcome::Rejected);
    w.assert_quiet().await;
    assert_eq!(w.interval(), 500);
}

#[tokio::test]
async fn an_editor_save_by_rename_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flightdeck.toml");
    std::fs::write(&path, interval_toml(1000)).unwrap();
    let mut w = watch(&path, true);

    let tmp = dir.path().join(".flightdeck.toml.swp");
    std::fs::write(&tmp, interval_toml(400)).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let ev = w.next().await;
    assert_eq!(ev.outcome, ConfigOutcome::Applied, "{ev:?}");
    assert_eq!(ev.changed, vec!["feed.metrics_interval_ms".to_string()]);
    assert_eq!(w.interval(), 400);
}

#[tokio::test]
async fn a_deleted_then_recreated_file_is_rejected_then_applied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flightdeck.toml");
    std::fs::write(&path, interval_toml(1000)).unwrap();
    let mut w = watch(&path, true);

    std::fs::remove_file(&path).unwrap();
    let ev = w.next().await;
    assert_eq!(ev.outcome, ConfigOutcome::Rejected, "{ev:?}");
    assert_eq!(w.interval(), 1000, "the config in force stays");

    std::fs::write(&path, interval_toml(800)).unwrap();
    let ev = w.next().await;
    assert_eq!(ev.outcome, ConfigOutcome::Applied, "{ev:?}");
    assert_eq!(w.interval(), 800);
    assert_eq!(w.handle.status().state, ConfigState::Ok);
}

#[tokio::test]
async fn a_replaced_directory_is_watched_again() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("etc");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("flightdeck.toml");
    std::fs::write(&path, interval_toml(1000)).unwrap();
    let mut w = watch(&path, true);

    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(w.next().await.outcome, ConfigOutcome::Rejected);

    std::fs::create_dir(&dir).unwrap();
    std::fs::write(&path, interval_toml(300)).unwrap();
    let ev = w.next().await;
    assert_eq!(ev.outcome, ConfigOutcome::Applied, "{ev:?}");
    assert_eq!(w.interval(), 300);
    let status = w.handle.status();
    assert!(
        status.watching && status.watch_error.is_none(),
        "{status:?}"
    );

    // And the new directory really is watched.
    std::fs::write(&path, interval_toml(200)).unwrap();
    assert_eq!(w.next().await.outcome, ConfigOutcome::Applied);
    assert_eq!(w.interval(), 200);
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlinked_config_follows_its_target() {
    let root = tempfile::tempdir().unwrap();
    let (etc, data, data2) = (
        root.path().join("etc"),
        root.path().join("data"),
        root.path().join("data2"),
    );
    for d in [&etc, &data, &data2] {
        std::fs::create_dir(d).unwrap();
    }
    let target = data.join("real.toml");
    std::fs::write(&target, interval_toml(1000)).unwrap();
    let path = etc.join("flightdeck.toml");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let mut w = watch(&path, true);

    // The target changes in its own directory.
    std::fs::write(&target, interval_toml(600)).unwrap();
    assert_eq!(w.next().await.outcome, ConfigOutcome::Applied);
    assert_eq!(w.interval(), 600);

    // The link is re-pointed atomically (as Kubernetes does with ConfigMaps).
    let target2 = data2.join("other.toml");
    std::fs::write(&target2, interval_toml(700)).unwrap();
    let tmp_link = etc.join(".flightdeck.toml.new");
    std::os::unix::fs::symlink(&target2, &tmp_link).unwrap();
    std::fs::rename(&tmp_link, &path).unwrap();
    assert_eq!(w.next().await.outcome, ConfigOutcome::Applied);
    assert_eq!(w.interval(), 700);

    // The watch moved along to the new target's directory.
    std::fs::write(&target2, interval_toml(800)).unwrap();
    assert_eq!(w.next().await.outcome, ConfigOutcome::Applied);
    assert_eq!(w.interval(), 800);
}

/// An agent whose prompt is in `prompts/greet.j2`, next to the config in a subdirectory.
const PROMPT_FILE_CONFIG: &str = r#"
[providers.p]
kind = "openai"
base_url = "http://127.0.0.1:9"
key = "none"
[agents.greeter]
route = "p/m"
prompt_file = "prompts/greet.j2"
"#;

#[tokio::test]
async fn a_prompt_file_is_read_with_the_config_and_its_changes_reload_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flightdeck.toml");
    std::fs::create_dir(dir.path().join("prompts")).unwrap();
    let prompt = dir.path().join("prompts/greet.j2");
    std::fs::write(&prompt, "Hello {{ name }}").unwrap();
    std::fs::write(&path, PROMPT_FILE_CONFIG).unwrap();
    let mut w = watch(&path, true);
    let greeter = |w: &Watched| w.handle.current().agents["greeter"].prompt.clone();
    assert_eq!(greeter(&w), "Hello {{ name }}");

    // Only the prompt file changes: the config reloads with the new text.
    std::fs::write(&prompt, "Good day {{ name }}").unwrap();
    let ev = w.next().await;
    assert_eq!(ev.outcome, ConfigOutcome::Applied, "{ev:?}");
    assert_eq!(ev.changed, vec!["agents.greeter.prompt".to_string()]);
    assert_eq!(greeter(&w), "Good day {{ name }}");
    w.assert_quiet().await;

    // A template that does not parse is rejected and the old one stays; fixing it applies.
    std::fs::write(&prompt, "Hi {% if %}").unwrap();
    let ev = w.next().await;
    assert_eq!(ev.outcome, ConfigOutcome::Rejected, "{ev:?}");
    assert!(
        ev.message.contains("agents.greeter.prompt"),
        "{}",
        ev.message
    );
    assert_eq!(greeter(&w), "Good day {{ name }}");
    std::fs::write(&prompt, "Hi {{ name }}").unwrap();
    assert_eq!(w.next().await.outcome, ConfigOutcome::Applied);
    assert_eq!(greeter(&w), "Hi {{ name }}");

    // A missing file is an error naming it; bringing it back applies again.
    std::fs::remove_file(&prompt).unwrap();
    let ev = w.next().await;
    assert_eq!(ev.outcome, ConfigOutcome::Rejected, "{ev:?}");
    assert!(ev.message.contains("greet.j2"), "{}", ev.message);
    // Refused once, not again on every look while it stays missing.
    w.assert_quiet().await;
    std::fs::write(&prompt, "Back {{ name }}").unwrap();
    assert_eq!(w.next().await.outcome, ConfigOutcome::Applied);
    assert_eq!(greeter(&w), "Back {{ name }}");

    // A config that names a prompt file before it exists (in a directory not watched yet):
    // refused, then applied when the file appears.
    std::fs::write(
        &path,
        format!(
            "{PROMPT_FILE_CONFIG}[agents.later]\nroute = \"p/m\"\nprompt_file = \"later/l.j2\"\n"
        ),
    )
    .unwrap();
    let ev = w.next().await;
    assert_eq!(ev.outcome, ConfigOutcome::Rejected, "{ev:?}");
    std::fs::create_dir(dir.path().join("later")).unwrap();
    std::fs::write(dir.path().join("later/l.j2"), "Later {{ x }}").unwrap();
    let ev = w.next().await;
    assert_eq!(ev.outcome, ConfigOutcome::Applied, "{ev:?}");
    // An agent added by a reload is in force (the change lists it).
    assert_eq!(ev.changed, vec!["agents.later".to_string()]);
    let current = w.handle.current();
    assert_eq!(current.agents["later"].prompt, "Later {{ x }}");
}
