//! Retention: when messages end, the purge, redaction, `DELETE`, and the maintained counts.

use mms_gateway::store::{CallbackAttempt, DeleteOutcome, OutboxStats};

use super::*;

/// `id` to `recipient`, moved to `status` at `ended`, with Plivo UUID `uuid-{id}`.
async fn ended(store: &Store, id: &str, recipient: &str, status: MessageStatus, ended: i64) {
    insert(store, id, recipient, at(0)).await;
    let queued = StatusUpdate {
        message_uuid: Some(format!("uuid-{id}")),
        ..update(Queued, at(1))
    };
    assert_eq!(set(store, id, &queued).await, UpdateOutcome::Applied);
    let end = StatusUpdate {
        error_code: (status != Delivered).then(|| "30".to_owned()),
        error_message: (status != Delivered).then(|| "lost near +14155559876".to_owned()),
        ..update(status, at(ended))
    };
    assert_eq!(set(store, id, &end).await, UpdateOutcome::Applied);
}

async fn stats(store: &Store) -> OutboxStats {
    store.outbox_stats().await.expect("stats")
}

fn count(stats: &OutboxStats, status: MessageStatus) -> i64 {
    stats
        .by_status
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(0, |(_, n)| *n)
}

async fn delete(store: &Store, id: &str) -> DeleteOutcome {
    store.delete_message(id).await.expect("delete")
}

pub async fn purge_deletes_messages_ended_before_the_cutoff(store: Store) {
    ended(&store, "old", "+14155550001", Delivered, 100).await;
    ended(&store, "old-failed", "+14155550002", Failed, 110).await;
    ended(&store, "recent", "+14155550003", Delivered, 300).await;
    // Created long ago but still under way: never purged, whatever its age.
    insert(&store, "under-way", "+14155550004", at(-1_000_000)).await;
    set(&store, "under-way", &update(Sent, at(5))).await;

    let gone = store
        .purge_ended_messages(at(200), 100)
        .await
        .expect("purge");
    assert_eq!(gone, 2);
    for id in ["old", "old-failed"] {
        assert!(store.get_message(id).await.expect("get").is_none(), "{id}");
    }
    assert_eq!(get(&store, "recent").await.status, Delivered);
    assert_eq!(get(&store, "under-way").await.status, Sent);
    // Nothing else is old enough.
    assert_eq!(
        store
            .purge_ended_messages(at(200), 100)
            .await
            .expect("again"),
        0
    );

    // Its events went with it: the id can be stored again, from scratch.
    insert(&store, "old", "+14155550001", at(400)).await;
    let again = get(&store, "old").await;
    assert_eq!(again.events.len(), 1);
    assert_eq!(again.status, Accepted);
    // A later callback for a purged message names nothing.
    let late = store
        .update_status_by_uuid("uuid-old-failed", &update(Delivered, at(500)))
        .await
        .expect("late callback");
    assert_eq!(late, UpdateOutcome::NotFound);
}

pub async fn purge_takes_at_most_a_batch_at_a_time(store: Store) {
    for i in 0..25 {
        ended(
            &store,
            &format!("m{i:02}"),
            "+14155550001",
            Delivered,
            10 + i,
        )
        .await;
    }
    let mut batches = Vec::new();
    loop {
        let n = store
            .purge_ended_messages(at(100), 10)
            .await
            .expect("purge");
        batches.push(n);
        if n < 10 {
            break;
        }
    }
    assert_eq!(batches, vec![10, 10, 5]);
    assert_eq!(count(&stats(&store).await, Delivered), 0);
}

pub async fn purge_removes_caller_events_and_their_attempts(store: Store) {
    let mut m = message("cb", "+14155550001", at(0));
    m.callback_url = Some("https://example.com/events".to_owned());
    store
        .enqueue_messages(std::slice::from_ref(&m), far_deadline())
        .await
        .expect("insert");
    set(&store, "cb", &update(Failed, at(10))).await;
    let pending = store
        .claim_callbacks(at(20), at(80), 10)
        .await
        .expect("claim events");
    assert!(!pending.is_empty());
    for event in &pending {
        let attempt = CallbackAttempt {
            event_id: event.event_id.clone(),
            status: event.status,
            attempt: 1,
            at: at(21),
            response_status: Some(500),
            error: None,
            exhausted: false,
        };
        store
            .record_callback_attempt(&event.event_id, &attempt, Some(at(30)))
            .await
            .expect("attempt");
    }
    assert!(!get(&store, "cb")
        .await
        .callback_attempts
        .unwrap_or_default()
        .is_empty());
    assert_eq!(
        store
            .purge_ended_messages(at(100), 10)
            .await
            .expect("purge"),
        1
    );
    // No event of the purged message is left to post.
    let left = store
        .claim_callbacks(at(1_000), at(1_100), 10)
        .await
        .expect("claim");
    assert!(left.is_empty(), "{left:?}");
}

pub async fn redaction_keeps_status_times_codes_and_the_last_four_digits(store: Store) {
    ended(&store, "r", "+14155551234", Undelivered, 100).await;
    ended(&store, "keep", "+14155550009", Delivered, 300).await;
    let before = get(&store, "r").await;

    let n = store
        .redact_ended_messages(at(200), 100)
        .await
        .expect("redact");
    assert_eq!(n, 1);
    let after = get(&store, "r").await;
    assert!(after.redacted);
    assert_eq!(after.recipient_number, "+*******1234");
    assert_eq!(after.message_text, None);
    assert!(after.media_urls.is_empty());
    assert_eq!(after.sender_number, before.sender_number);
    assert_eq!(after.status, Undelivered);
    assert_eq!(after.message_uuid.as_deref(), Some("uuid-r"));
    assert_eq!(after.error_code.as_deref(), Some("30"));
    assert_eq!(after.error_message, None);
    assert_eq!(after.created_at, before.created_at);
    assert_eq!(after.updated_at, before.updated_at);
    assert_eq!(after.events.len(), before.events.len());
    for (a, b) in after.events.iter().zip(&before.events) {
        assert_eq!(
            (a.status, a.at, &a.error_code),
            (b.status, b.at, &b.error_code)
        );
        assert_eq!(a.detail, None);
    }
    // The record says so in JSON; an unredacted one does not carry the field.
    let json = serde_json::to_value(&after).expect("json");
    assert_eq!(json["redacted"], true);
    let kept = get(&store, "keep").await;
    assert!(!kept.redacted);
    assert_eq!(kept.recipient_number, "+14155550009");
    assert!(serde_json::to_value(&kept)
        .expect("json")
        .get("redacted")
        .is_none());

    // Redacted once: a second pass finds nothing, and listings by the full number miss it.
    assert_eq!(
        store
            .redact_ended_messages(at(200), 100)
            .await
            .expect("again"),
        0
    );
    let q = MessageQuery {
        recipient_number: Some("+14155551234".to_owned()),
        ..MessageQuery::default()
    };
    assert!(store
        .list_messages(&q)
        .await
        .expect("list")
        .messages
        .is_empty());
    // Redacted messages are purged like any other.
    assert_eq!(
        store
            .purge_ended_messages(at(200), 100)
            .await
            .expect("purge"),
        1
    );
    assert!(store.get_message("r").await.expect("get").is_none());
}

pub async fn redaction_and_deletion_remove_stored_idempotency_answers(store: Store) {
    let now = at(0);
    ended(&store, "a", "+14155550001", Delivered, 10).await;
    ended(&store, "b", "+14155550002", Delivered, 10).await;
    let mut bulk = message("c", "+14155550003", at(0));
    bulk.batch_id = Some("batch-1".to_owned());
    store
        .enqueue_messages(std::slice::from_ref(&bulk), far_deadline())
        .await
        .expect("insert");
    set(&store, "c", &update(Delivered, at(10))).await;
    for (key, body) in [
        ("key-a", r#"{"message":"MMS sent successfully.","id":"a"}"#),
        ("key-b", r#"{"id":"b","status":"accepted"}"#),
        ("key-c", r#"{"batchId":"batch-1","messages":[{"id":"c"}]}"#),
        ("key-x", r#"{"error":"bad","code":"invalid_field"}"#),
    ] {
        assert_eq!(
            claim(&store, key, "h", now).await,
            IdempotencyClaim::Claimed
        );
        store
            .complete_idempotency_key(key, 200, body.as_bytes())
            .await
            .expect("complete");
    }
    assert_eq!(delete(&store, "a").await, DeleteOutcome::Deleted);
    store
        .redact_ended_messages(at(100), 10)
        .await
        .expect("redact");
    // The answers that named a (deleted), b and c's batch (redacted) are gone: the keys are new.
    for key in ["key-a", "key-b", "key-c"] {
        assert_eq!(
            claim(&store, key, "h", at(60)).await,
            IdempotencyClaim::Claimed,
            "{key}"
        );
    }
    // An answer that names no message stays.
    assert!(matches!(
        claim(&store, "key-x", "h", at(60)).await,
        IdempotencyClaim::Completed { status: 200, .. }
    ));
}

pub async fn delete_answers_for_ended_under_way_and_unknown_messages(store: Store) {
    ended(&store, "done", "+14155550001", Failed, 10).await;
    assert_eq!(delete(&store, "done").await, DeleteOutcome::Deleted);
    assert!(store.get_message("done").await.expect("get").is_none());
    assert_eq!(delete(&store, "done").await, DeleteOutcome::NotFound);
    assert_eq!(delete(&store, "never").await, DeleteOutcome::NotFound);
    for (id, status) in [("a", None), ("q", Some(Queued)), ("s", Some(Sent))] {
        insert(&store, id, "+14155550001", at(0)).await;
        if let Some(status) = status {
            set(&store, id, &update(status, at(1))).await;
        }
        assert_eq!(delete(&store, id).await, DeleteOutcome::NotFinal, "{id}");
        assert!(store.get_message(id).await.expect("get").is_some());
    }
    // A later callback for the deleted message changes nothing and names nothing.
    let late = store
        .update_status_by_uuid("uuid-done", &update(Delivered, at(50)))
        .await
        .expect("late");
    assert_eq!(late, UpdateOutcome::NotFound);
}

pub async fn a_sent_message_marked_ended_counts_as_ended(store: Store) {
    insert(&store, "s", "+14155550001", at(0)).await;
    set(&store, "s", &update(Sent, at(1))).await;
    assert_eq!(
        store
            .purge_ended_messages(at(1_000), 10)
            .await
            .expect("purge"),
        0
    );
    assert!(store.mark_ended("s", at(100)).await.expect("mark"));
    assert!(!store.mark_ended("nobody", at(100)).await.expect("mark"));
    // Marking again keeps the first end; a later receipt still applies.
    assert!(store.mark_ended("s", at(900)).await.expect("mark"));
    assert_eq!(
        set(&store, "s", &update(Delivered, at(950))).await,
        UpdateOutcome::Applied
    );
    assert_eq!(
        store
            .purge_ended_messages(at(100), 10)
            .await
            .expect("purge"),
        0
    );
    assert_eq!(
        store
            .purge_ended_messages(at(101), 10)
            .await
            .expect("purge"),
        1
    );

    insert(&store, "t", "+14155550001", at(0)).await;
    set(&store, "t", &update(Sent, at(1))).await;
    store.mark_ended("t", at(100)).await.expect("mark");
    assert_eq!(delete(&store, "t").await, DeleteOutcome::Deleted);
}

pub async fn status_counts_follow_changes_purges_and_deletes(store: Store) {
    for i in 0..5 {
        ended(&store, &format!("d{i}"), "+14155550001", Delivered, 10 + i).await;
    }
    ended(&store, "u", "+14155550002", Undelivered, 10).await;
    ended(&store, "f", "+14155550003", Failed, 500).await;
    insert(&store, "a", "+14155550004", at(0)).await;
    insert(&store, "q", "+14155550005", at(0)).await;
    set(&store, "q", &update(Queued, at(1))).await;
    // A repeated or late final update does not count twice.
    assert_eq!(
        set(&store, "d0", &update(Failed, at(600))).await,
        UpdateOutcome::Ignored
    );
    assert_eq!(
        set(&store, "d0", &update(Delivered, at(600))).await,
        UpdateOutcome::Ignored
    );

    let s = stats(&store).await;
    assert_eq!(
        [
            Accepted,
            Sending,
            Queued,
            Sent,
            Delivered,
            Undelivered,
            Failed
        ]
        .map(|st| count(&s, st)),
        [1, 0, 1, 0, 5, 1, 1]
    );
    assert_eq!(s.oldest_waiting, Some(at(0)));

    store
        .purge_ended_messages(at(12), 100)
        .await
        .expect("purge"); // d0, d1, u
    delete(&store, "f").await;
    delete(&store, "d4").await;
    let s = stats(&store).await;
    assert_eq!(
        [Accepted, Queued, Delivered, Undelivered, Failed].map(|st| count(&s, st)),
        [1, 1, 2, 0, 0]
    );
    // The counts agree with a full count of the table.
    let all = all_pages(&store, 100).await;
    assert_eq!(
        all.iter().filter(|m| m.status == Delivered).count() as i64,
        count(&s, Delivered)
    );
}

pub async fn expired_keys_and_nonces_are_purged_in_batches(store: Store) {
    for i in 0..15 {
        claim(&store, &format!("old-{i}"), "h", at(i)).await;
    }
    claim(&store, "fresh", "h", at(10_000)).await;
    for i in 0..5 {
        assert!(store
            .use_nonce(&format!("n{i}"), at(i))
            .await
            .expect("nonce"));
    }
    let fresh_nonce = at(10_000);
    assert!(store.use_nonce("fresh", fresh_nonce).await.expect("nonce"));

    let first = store
        .purge_expired_keys(at(5_000), at(5_000), 10)
        .await
        .expect("purge");
    assert_eq!(first, 10 + 5);
    let second = store
        .purge_expired_keys(at(5_000), at(5_000), 10)
        .await
        .expect("purge");
    assert_eq!(second, 5);
    assert_eq!(
        store
            .purge_expired_keys(at(5_000), at(5_000), 10)
            .await
            .expect("purge"),
        0
    );
    // What is left is what is recent: the fresh key is in flight, the fresh nonce is used.
    assert_eq!(
        claim(&store, "fresh", "h", at(10_001)).await,
        IdempotencyClaim::InFlight
    );
    assert!(!store.use_nonce("fresh", at(10_001)).await.expect("nonce"));
    assert_eq!(
        claim(&store, "old-0", "h", at(10_001)).await,
        IdempotencyClaim::Claimed
    );
}
