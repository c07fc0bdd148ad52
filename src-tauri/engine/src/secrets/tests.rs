//! Tests of the secret stores: tokens never print, the file backend's modes, one account
//! per data dir, one token from concurrent generators, no stale temporary files, and public
//! messages without paths.

use super::*;

#[test]
fn token_never_prints() {
    let t = ApiToken::generate().unwrap();
    assert_eq!(format!("{t:?} {t}"), "ApiToken(***) ***");
    assert!(t.expose().starts_with("fdk_"));
    assert_eq!(t.expose().len(), 4 + 64);
    assert!(t.matches(t.expose()));
    assert!(!t.matches("fdk_wrong"));
}

#[test]
fn parse_table() {
    let cases = [
        ("short", false),
        ("a-perfectly-fine-token", true),
        ("has a space in the middle!", false),
        ("  trimmed-token-is-fine  ", true),
    ];
    for (input, ok) in cases {
        assert_eq!(ApiToken::parse(input).is_ok(), ok, "{input}");
    }
}

#[tokio::test]
async fn file_backend_creates_0600_and_reuses() {
    let dir = tempfile::tempdir().unwrap();
    let s = Secrets::open(SecretsBackend::File, dir.path(), None).unwrap();
    let (a, src) = s.api_token().await.unwrap();
    assert_eq!(src, TokenSource::Generated);
    let (b, src) = s.api_token().await.unwrap();
    assert_eq!(src, TokenSource::File);
    assert!(a.matches(b.expose()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(
            dir.path().join(FILE_NAME),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let e = s.api_token().await.unwrap_err();
        assert!(matches!(e, SecretsError::InsecureFile { .. }), "{e}");
    }
}

#[tokio::test]
async fn every_spelling_of_the_data_dir_is_one_node() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    std::fs::create_dir_all(tmp.path().join("x")).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    let odd = tmp.path().join("x").join("..").join("node").join(".");
    let a = Secrets::open(SecretsBackend::File, &dir, None).unwrap();
    let b = Secrets::open(SecretsBackend::File, &odd, None).unwrap();
    let canonical = std::fs::canonicalize(&dir).unwrap();
    assert_eq!(a.account(), format!("api-token:{}", canonical.display()));
    assert_eq!(a.account(), b.account());
    let (ta, _) = a.api_token().await.unwrap();
    let (tb, src) = b.api_token().await.unwrap();
    assert_eq!(src, TokenSource::File);
    assert!(ta.matches(tb.expose()));
    // The keychain needs the directory to exist to name the account.
    let e = Secrets::open(SecretsBackend::File, &tmp.path().join("missing"), None);
    assert!(matches!(e, Err(SecretsError::DataDir { .. })));
}

#[test]
fn public_messages_name_no_paths() {
    let path = PathBuf::from("/home/someone/.local/share/flightdeck/secrets.json");
    let cases = [
        SecretsError::KeychainUnavailable {
            hint: "no D-Bus session bus".into(),
            detail: "Failed to connect to /run/user/1000/bus".into(),
        },
        SecretsError::File {
            path: path.clone(),
            reason: "not valid: EOF".into(),
        },
        SecretsError::InsecureFile {
            path: path.clone(),
            mode: 0o644,
        },
        SecretsError::DataDir {
            path: path.clone(),
            reason: "No such file".into(),
        },
        SecretsError::Lock {
            path: path.with_file_name(LOCK_FILE),
            reason: "Permission denied".into(),
        },
        SecretsError::EnvMissing,
        SecretsError::Random {
            reason: "boom".into(),
        },
        SecretsError::Join {
            reason: "panicked".into(),
        },
    ];
    for e in cases {
        let public = e.public_message();
        assert!(!public.contains('/'), "{public}");
        assert!(!public.is_empty());
    }
}

#[tokio::test]
async fn env_backend_requires_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let e = Secrets::open(SecretsBackend::Env, dir.path(), None).unwrap_err();
    assert!(e.to_string().contains(TOKEN_ENV));
    let s = Secrets::open(
        SecretsBackend::Env,
        dir.path(),
        Some("env-token-0123456789".into()),
    )
    .unwrap();
    let (t, src) = s.api_token().await.unwrap();
    assert_eq!(src, TokenSource::Environment);
    assert_eq!(t.expose(), "env-token-0123456789");
}

/// Generators that each opened the store themselves (as separate processes do) and find no
/// token at once all hand out the one that was stored; the lock file stays private.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_generators_hand_out_one_token() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let s = Secrets::open(SecretsBackend::File, dir.path(), None).unwrap();
                tokio::spawn(async move { s.api_token().await.unwrap() })
            })
            .collect();
        let mut got = Vec::new();
        for t in tasks {
            got.push(t.await.unwrap());
        }
        let generated = got
            .iter()
            .filter(|(_, src)| *src == TokenSource::Generated)
            .count();
        assert_eq!(generated, 1);
        let (first, _) = &got[0];
        assert!(got.iter().all(|(t, _)| t.matches(first.expose())));
        let s = Secrets::open(SecretsBackend::File, dir.path(), None).unwrap();
        let (kept, src) = s.api_token().await.unwrap();
        assert_eq!(src, TokenSource::File);
        assert!(kept.matches(first.expose()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let lock = std::fs::metadata(dir.path().join(LOCK_FILE)).unwrap();
            assert_eq!(lock.permissions().mode() & 0o777, 0o600);
        }
    }
}

/// A writer that died between writing its temporary file and linking it left a token
/// behind: opening the file backend removes such files, and only those.
#[test]
fn opening_the_file_backend_removes_stale_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let stale = ["secrets.json.4242-00ff00ff00ff00ff.tmp", "secrets.json.tmp"];
    let kept = ["secrets.json.bak", "other.tmp", "flightdeck.db"];
    for name in stale.iter().chain(&kept) {
        std::fs::write(
            dir.path().join(name),
            r#"{"api_token":"fdk_left-behind-0123456789"}"#,
        )
        .unwrap();
    }
    // The env backend stores nothing and leaves the directory alone.
    Secrets::open(
        SecretsBackend::Env,
        dir.path(),
        Some("env-token-0123456789".into()),
    )
    .unwrap();
    assert!(dir.path().join(stale[0]).exists());

    Secrets::open(SecretsBackend::File, dir.path(), None).unwrap();
    for name in stale {
        assert!(!dir.path().join(name).exists(), "{name} left behind");
    }
    for name in kept {
        assert!(dir.path().join(name).exists(), "{name} removed");
    }
}
