//! The chain and its verifier: every kind of tampering done directly in the SQLite file
//! (change, delete, reorder a row, cut the tail, rewrite the tail with fresh hashes) is named
//! by `verify`, at the right entry.

use serde_json::json;

use super::*;

async fn log_of(n: u64) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    for i in 1..=n {
        let entry = NewEntry::new(
            format!("token:t{i}"),
            AuditKind::ApprovalDecided,
            format!("apr_{i}"),
            json!({"decision": "approve", "i": i}),
        );
        let seq = store.write(move |tx| append(tx, &entry)).await.unwrap();
        assert_eq!(seq, i);
    }
    (dir, store)
}

/// Runs `sql` on the file directly, as someone with the file would (dropping the guards).
fn tamper(dir: &std::path::Path, sql: &str) {
    let conn = rusqlite::Connection::open(dir.join("flightdeck.db")).unwrap();
    conn.execute_batch(&format!(
        "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; {sql}"
    ))
    .unwrap();
}

async fn verified(store: &Store, kept: Option<ChainHead>) -> Verification {
    store
        .read(move |db| verify(db, kept.as_ref()))
        .await
        .unwrap()
}

#[tokio::test]
async fn an_untouched_chain_verifies_and_links_every_entry() {
    let (_dir, store) = log_of(5).await;
    let v = verified(&store, None).await;
    assert!(v.ok, "{v:?}");
    assert_eq!(v.entries, 5);
    let entries = store
        .read(|db| list(db, &AuditFilter::default(), 100))
        .await
        .unwrap();
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[4].prev_hash, GENESIS);
    for pair in entries.windows(2) {
        assert_eq!(
            pair[0].prev_hash, pair[1].hash,
            "newest first, each links back"
        );
    }
    assert_eq!(v.head.as_ref().unwrap().hash, entries[0].hash);
    // The kept head verifies too.
    let v = verified(&store, v.head.clone()).await;
    assert!(v.ok, "{v:?}");
    store.close().await;
}

#[tokio::test]
async fn the_database_refuses_updates_and_deletes_of_entries() {
    let (dir, store) = log_of(2).await;
    store.close().await;
    let conn = rusqlite::Connection::open(dir.path().join("flightdeck.db")).unwrap();
    let e = conn
        .execute("UPDATE audit_log SET actor = 'x' WHERE seq = 1", [])
        .unwrap_err();
    assert!(e.to_string().contains("never updated"), "{e}");
    let e = conn
        .execute("DELETE FROM audit_log WHERE seq = 1", [])
        .unwrap_err();
    assert!(e.to_string().contains("never deleted"), "{e}");
}

#[tokio::test]
async fn a_changed_row_is_named() {
    let (dir, store) = log_of(6).await;
    tamper(
        dir.path(),
        "UPDATE audit_log SET detail = '{\"decision\":\"reject\",\"i\":3}' WHERE seq = 3",
    );
    let v = verified(&store, None).await;
    let p = v.problem.unwrap();
    assert_eq!((p.kind, p.seq), (ProblemKind::Altered, 3), "{}", p.message);
    assert!(p.message.contains("entry 3"), "{}", p.message);
    store.close().await;
}

#[tokio::test]
async fn a_changed_row_with_a_recomputed_hash_is_named_by_the_broken_link() {
    let (dir, store) = log_of(6).await;
    // The forger recomputes entry 4's hash after changing its actor.
    let (prev, at, kind, subject, detail): (String, i64, String, String, String) = {
        let conn = rusqlite::Connection::open(dir.path().join("flightdeck.db")).unwrap();
        conn.query_row(
            "SELECT prev_hash, at, kind, subject, detail FROM audit_log WHERE seq = 4",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap()
    };
    let forged = entry_hash(&prev, 4, at, "token:mallory", &kind, &subject, &detail);
    tamper(
        dir.path(),
        &format!("UPDATE audit_log SET actor = 'token:mallory', hash = '{forged}' WHERE seq = 4"),
    );
    let p = verified(&store, None).await.problem.unwrap();
    assert_eq!((p.kind, p.seq), (ProblemKind::Altered, 4), "{}", p.message);
    store.close().await;
}

#[tokio::test]
async fn a_changed_link_is_named_at_the_row_that_was_changed() {
    let (dir, store) = log_of(6).await;
    tamper(
        dir.path(),
        &format!("UPDATE audit_log SET prev_hash = '{GENESIS}' WHERE seq = 4"),
    );
    let p = verified(&store, None).await.problem.unwrap();
    assert_eq!((p.kind, p.seq), (ProblemKind::Altered, 4), "{}", p.message);
    store.close().await;
}

#[tokio::test]
async fn a_deleted_row_is_named() {
    let (dir, store) = log_of(6).await;
    tamper(dir.path(), "DELETE FROM audit_log WHERE seq = 2");
    let p = verified(&store, None).await.problem.unwrap();
    assert_eq!((p.kind, p.seq), (ProblemKind::Removed, 2), "{}", p.message);
    assert!(p.message.contains("entry 2 was removed"), "{}", p.message);
    // Deleting the first entry is a removal too.
    tamper(dir.path(), "DELETE FROM audit_log WHERE seq = 1");
    let p = verified(&store, None).await.problem.unwrap();
    assert_eq!((p.kind, p.seq), (ProblemKind::Removed, 1), "{}", p.message);
    store.close().await;
}

#[tokio::test]
async fn swapped_rows_are_named_as_reordered() {
    let (dir, store) = log_of(6).await;
    // Swap entries 3 and 4 whole (renumbering them), as a reorder in the file would.
    tamper(
        dir.path(),
        "UPDATE audit_log SET seq = -3 WHERE seq = 3; \
         UPDATE audit_log SET seq = 3 WHERE seq = 4; \
         UPDATE audit_log SET seq = 4 WHERE seq = -3;",
    );
    let p = verified(&store, None).await.problem.unwrap();
    assert_eq!(
        (p.kind, p.seq),
        (ProblemKind::Reordered, 3),
        "{}",
        p.message
    );
    store.close().await;
}

#[tokio::test]
async fn a_cut_tail_is_named_against_the_kept_head_and_a_rewritten_tail_too() {
    let (dir, store) = log_of(6).await;
    let kept = verified(&store, None).await.head.unwrap();
    assert_eq!(kept.seq, 6);
    tamper(dir.path(), "DELETE FROM audit_log WHERE seq >= 5");
    // On its own the shorter chain is consistent...
    assert!(verified(&store, None).await.ok);
    // ...but not against the head kept earlier.
    let p = verified(&store, Some(kept.clone())).await.problem.unwrap();
    assert_eq!(
        (p.kind, p.seq),
        (ProblemKind::Truncated, 5),
        "{}",
        p.message
    );
    assert!(p.message.contains("entries 5..=6"), "{}", p.message);
    // Appending new entries in their place (a rewritten tail) does not hide it.
    for i in 5..=6 {
        let entry = NewEntry::new(
            "token:mallory",
            AuditKind::TokenCreated,
            format!("x{i}"),
            json!({}),
        );
        store.write(move |tx| append(tx, &entry)).await.unwrap();
    }
    assert!(verified(&store, None).await.ok);
    let p = verified(&store, Some(kept)).await.problem.unwrap();
    assert_eq!(
        (p.kind, p.seq),
        (ProblemKind::Rewritten, 6),
        "{}",
        p.message
    );
    store.close().await;
}

#[tokio::test]
async fn exports_carry_every_entry_and_the_head() {
    let (_dir, store) = log_of(3).await;
    let (jsonl, head) = store
        .read(|db| {
            let mut out = Vec::new();
            let head = export(db, ExportFormat::Jsonl, &mut out)?;
            Ok::<_, StoreError>((out, head))
        })
        .await
        .unwrap();
    let lines: Vec<AuditEntry> = String::from_utf8(jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(lines[2].hash, head.unwrap().hash);
    assert_eq!(lines[0].detail, json!({"decision": "approve", "i": 1}));
    let (csv, _) = store
        .read(|db| {
            let mut out = Vec::new();
            let head = export(db, ExportFormat::Csv, &mut out)?;
            Ok::<_, StoreError>((out, head))
        })
        .await
        .unwrap();
    let text = String::from_utf8(csv).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[1][0], "2");
    assert_eq!(&rows[1][5], r#"{"decision":"approve","i":2}"#);
    // Each row's hash recomputes from its own columns.
    for (i, row) in rows.iter().enumerate() {
        let at = lines[i].at.timestamp_millis();
        assert_eq!(
            entry_hash(
                &row[6],
                row[0].parse().unwrap(),
                at,
                &row[2],
                &row[3],
                &row[4],
                &row[5]
            ),
            row[7]
        );
    }
    store.close().await;
}
