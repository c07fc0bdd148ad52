use std::sync::Arc;

use super::*;
use crate::clock::{Clock, ManualClock};

async fn setup(dir: &std::path::Path) -> (Store, Arc<ManualClock>, Idempotency) {
    let store = Store::open(dir).await.unwrap();
    let clock = Arc::new(ManualClock::new("2030-01-01T00:00:00Z".parse().unwrap()));
    let idem = Idempotency::new(store.clone(), clock.clone());
    (store, clock, idem)
}

fn answer(body: &str) -> Answer {
    Answer {
        status: 201,
        content_type: Some("application/json".into()),
        body: body.as_bytes().to_vec(),
    }
}

#[tokio::test]
async fn the_same_request_gets_the_first_answer_and_another_request_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _clock, idem) = setup(dir.path()).await;
    let print = fingerprint("POST", "/api/v1/tokens", b"{\"name\":\"ci\"}");
    let Claim::Fresh(ticket) = idem.claim("token:a", "key-1", &print).await.unwrap() else {
        panic!("first use must be fresh");
    };
    // While the first runs, the same key is busy (whatever the body).
    assert!(matches!(
        idem.claim("token:a", "key-1", &print).await,
        Err(IdempotencyError::InUse)
    ));
    let secret_body = r#"{"name":"ci","token":"fdt_recognisable_secret"}"#;
    idem.complete(ticket, &answer(secret_body)).await.unwrap();
    match idem.claim("token:a", "key-1", &print).await.unwrap() {
        Claim::Replay(a) => assert_eq!(a, answer(secret_body)),
        Claim::Fresh(_) => panic!("replay expected"),
    }
    let other = fingerprint("POST", "/api/v1/tokens", b"{\"name\":\"other\"}");
    let err = idem.claim("token:a", "key-1", &other).await.unwrap_err();
    assert!(matches!(err, IdempotencyError::Reused));
    assert_eq!(err.code(), ErrorCode::IdempotencyKeyReused);
    // Keys are per actor: another actor's same key is its own.
    assert!(matches!(
        idem.claim("token:b", "key-1", &print).await.unwrap(),
        Claim::Fresh(_)
    ));

    // Neither the key nor the answer is readable in the database.
    store.close().await;
    let raw = std::fs::read(dir.path().join("flightdeck.db")).unwrap();
    let wal = std::fs::read(dir.path().join("flightdeck.db-wal")).unwrap_or_default();
    for needle in ["fdt_recognisable_secret", "key-1"] {
        for bytes in [&raw, &wal] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} stored in the clear"
            );
        }
    }
}

#[tokio::test]
async fn a_released_or_abandoned_claim_lets_a_retry_run() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, clock, idem) = setup(dir.path()).await;
    let print = fingerprint("POST", "/x", b"");
    let Claim::Fresh(ticket) = idem.claim("a", "k", &print).await.unwrap() else {
        panic!()
    };
    idem.release(ticket).await.unwrap();
    let Claim::Fresh(_abandoned) = idem.claim("a", "k", &print).await.unwrap() else {
        panic!("released keys are free again")
    };
    // A request that died holding the claim: busy, then taken over after PENDING_FOR.
    assert!(matches!(
        idem.claim("a", "k", &print).await,
        Err(IdempotencyError::InUse)
    ));
    clock.advance(PENDING_FOR + Duration::from_secs(1));
    assert!(matches!(
        idem.claim("a", "k", &print).await.unwrap(),
        Claim::Fresh(_)
    ));
}

#[tokio::test]
async fn bad_keys_are_refused_and_old_answers_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock, idem) = setup(dir.path()).await;
    for key in ["", "has space", "tab\t", "é", &"x".repeat(MAX_KEY_LEN + 1)] {
        let err = idem.claim("a", key, "f").await.unwrap_err();
        assert!(matches!(err, IdempotencyError::InvalidKey), "{key:?}");
        assert_eq!(err.code(), ErrorCode::BadRequest);
    }
    let Claim::Fresh(t) = idem
        .claim("a", &"x".repeat(MAX_KEY_LEN), "f")
        .await
        .unwrap()
    else {
        panic!()
    };
    idem.complete(t, &answer("{}")).await.unwrap();
    assert_eq!(prune(&store, clock.now()).await.unwrap(), 0);
    clock.advance(RETAIN_FOR + Duration::from_secs(1));
    assert_eq!(prune(&store, clock.now()).await.unwrap(), 1);
}
