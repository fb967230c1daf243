//! The store test suite, written once against `Arc<dyn MessageStore>`.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use mms_gateway::store::{
    IdempotencyClaim, MessageQuery, MessageStatus, MessageStore, NewMessage, StatusUpdate,
    StoreError, UpdateOutcome,
};
use MessageStatus::*;

type Store = Arc<dyn MessageStore>;

/// A fixed instant plus `seconds`, so tests do not depend on the clock.
pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
        + Duration::seconds(seconds)
}

pub fn message(id: &str, recipient: &str, created_at: DateTime<Utc>) -> NewMessage {
    NewMessage {
        id: id.to_owned(),
        recipient_number: recipient.to_owned(),
        sender_number: "+14155550100".to_owned(),
        message_text: Some("hello".to_owned()),
        media_urls: vec!["https://example.com/a.jpg".to_owned()],
        media_ids: Vec::new(),
        callback_url: None,
        batch_id: None,
        created_at,
    }
}

fn update(status: MessageStatus, at: DateTime<Utc>) -> StatusUpdate {
    StatusUpdate {
        status,
        message_uuid: None,
        error_code: None,
        error_message: None,
        at,
    }
}

async fn status_of(store: &Store, id: &str) -> MessageStatus {
    store
        .get_message(id)
        .await
        .expect("get")
        .expect("stored")
        .status
}

pub async fn insert_and_get_round_trip(store: Store) {
    let mut m = message(
        "m1",
        "+14155550101",
        at(0) + Duration::microseconds(123_456),
    );
    m.message_text = None;
    m.media_urls = vec![
        "https://example.com/a.jpg".to_owned(),
        "https://example.com/b.png?x=1".to_owned(),
    ];
    m.media_ids = vec!["media-1".to_owned()];
    m.callback_url = Some("https://caller.example/cb".to_owned());
    m.batch_id = Some("batch-1".to_owned());
    store.insert_message(&m).await.expect("insert");

    let record = store.get_message("m1").await.expect("get").expect("stored");
    assert_eq!(record.id, "m1");
    assert_eq!(record.status, Accepted);
    assert_eq!(record.recipient_number, m.recipient_number);
    assert_eq!(record.sender_number, m.sender_number);
    assert_eq!(record.message_text, None);
    assert_eq!(record.media_urls, m.media_urls);
    assert_eq!(record.media_ids, m.media_ids);
    assert_eq!(record.callback_url, m.callback_url);
    assert_eq!(record.batch_id, m.batch_id);
    assert_eq!(record.message_uuid, None);
    assert_eq!((record.error_code, record.error_message), (None, None));
    assert!(!record.outcome_unknown);
    assert_eq!(record.created_at, m.created_at);
    assert_eq!(record.updated_at, m.created_at);
    assert_eq!(record.events.len(), 1);
    assert_eq!(record.events[0].status, Accepted);
    assert_eq!(record.events[0].at, m.created_at);

    assert_eq!(store.get_message("nope").await.expect("get"), None);
}

pub async fn duplicate_ids_are_refused(store: Store) {
    store
        .insert_message(&message("dup", "+14155550101", at(0)))
        .await
        .expect("insert");
    let again = store
        .insert_message(&message("dup", "+14155550102", at(1)))
        .await;
    assert!(matches!(again, Err(StoreError::DuplicateId)), "{again:?}");
    let record = store
        .get_message("dup")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(record.recipient_number, "+14155550101");
}

pub async fn every_legal_transition_applies(store: Store) {
    // The full path, one step at a time, with its events.
    store
        .insert_message(&message("path", "+14155550101", at(0)))
        .await
        .expect("insert");
    for (n, status) in [Sending, Queued, Sent, Delivered].into_iter().enumerate() {
        let outcome = store
            .update_status("path", &update(status, at(n as i64 + 1)))
            .await;
        assert_eq!(outcome.expect("update"), UpdateOutcome::Applied, "{status}");
    }
    let record = store
        .get_message("path")
        .await
        .expect("get")
        .expect("stored");
    let events: Vec<_> = record.events.iter().map(|e| (e.status, e.at)).collect();
    assert_eq!(
        events,
        [
            (Accepted, at(0)),
            (Sending, at(1)),
            (Queued, at(2)),
            (Sent, at(3)),
            (Delivered, at(4))
        ]
    );
    assert_eq!(record.updated_at, at(4));

    // Every earlier state to every later one, skipping steps included.
    for (i, from) in MessageStatus::ALL
        .into_iter()
        .enumerate()
        .filter(|(_, s)| !s.is_final())
    {
        for to in MessageStatus::ALL
            .into_iter()
            .filter(|to| to.rank() > from.rank())
        {
            let id = format!("jump-{i}-{to}");
            store
                .insert_message(&message(&id, "+14155550101", at(0)))
                .await
                .expect("insert");
            if from != Accepted {
                let setup = store.update_status(&id, &update(from, at(1))).await;
                assert_eq!(setup.expect("setup"), UpdateOutcome::Applied);
            }
            let outcome = store
                .update_status(&id, &update(to, at(2)))
                .await
                .expect("update");
            assert_eq!(outcome, UpdateOutcome::Applied, "{from} -> {to}");
            assert_eq!(status_of(&store, &id).await, to);
        }
    }
}

pub async fn illegal_transitions_are_ignored(store: Store) {
    for (i, from) in MessageStatus::ALL.into_iter().enumerate() {
        for to in MessageStatus::ALL {
            let legal = !from.is_final() && to.rank() > from.rank();
            if legal {
                continue;
            }
            let id = format!("back-{i}-{to}");
            store
                .insert_message(&message(&id, "+14155550101", at(0)))
                .await
                .expect("insert");
            if from != Accepted {
                store
                    .update_status(&id, &update(from, at(1)))
                    .await
                    .expect("setup");
            }
            let before = store.get_message(&id).await.expect("get").expect("stored");
            let outcome = store
                .update_status(&id, &update(to, at(2)))
                .await
                .expect("update");
            assert_eq!(outcome, UpdateOutcome::Ignored, "{from} -> {to}");
            let after = store.get_message(&id).await.expect("get").expect("stored");
            assert_eq!(after, before, "{from} -> {to} changed the record");
        }
    }
}

pub async fn out_of_order_and_repeated_updates_end_final(store: Store) {
    store
        .insert_message(&message("ooo", "+14155550101", at(0)))
        .await
        .expect("insert");
    let mut delivered = update(Delivered, at(5));
    delivered.message_uuid = Some("uuid-ooo".to_owned());
    assert_eq!(
        store.update_status("ooo", &delivered).await.expect("u"),
        UpdateOutcome::Applied
    );
    for late in [Sent, Queued, Sending, Delivered, Undelivered, Failed] {
        let outcome = store
            .update_status("ooo", &update(late, at(3)))
            .await
            .expect("u");
        assert_eq!(outcome, UpdateOutcome::Ignored, "{late}");
    }
    let record = store
        .get_message("ooo")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(record.status, Delivered);
    assert_eq!(record.updated_at, at(5));
    assert_eq!(record.events.len(), 2);

    // Repeating a non-final status is ignored too, and records no second event.
    store
        .insert_message(&message("rep", "+14155550101", at(0)))
        .await
        .expect("insert");
    assert_eq!(
        store
            .update_status("rep", &update(Queued, at(1)))
            .await
            .expect("u"),
        UpdateOutcome::Applied
    );
    assert_eq!(
        store
            .update_status("rep", &update(Queued, at(2)))
            .await
            .expect("u"),
        UpdateOutcome::Ignored
    );
    let record = store
        .get_message("rep")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(record.events.len(), 2);
    assert_eq!(record.updated_at, at(1));
}

pub async fn updates_by_uuid(store: Store) {
    store
        .insert_message(&message("u1", "+14155550101", at(0)))
        .await
        .expect("insert");
    let mut queued = update(Queued, at(1));
    queued.message_uuid = Some("plivo-uuid-1".to_owned());
    assert_eq!(
        store.update_status("u1", &queued).await.expect("u"),
        UpdateOutcome::Applied
    );

    let mut failed = update(Undelivered, at(2));
    failed.error_code = Some("30".to_owned());
    failed.error_message = Some("carrier rejected".to_owned());
    let outcome = store
        .update_status_by_uuid("plivo-uuid-1", &failed)
        .await
        .expect("u");
    assert_eq!(outcome, UpdateOutcome::Applied);
    let again = store
        .update_status_by_uuid("plivo-uuid-1", &failed)
        .await
        .expect("u");
    assert_eq!(again, UpdateOutcome::Ignored);

    let record = store.get_message("u1").await.expect("get").expect("stored");
    assert_eq!(record.status, Undelivered);
    assert_eq!(record.message_uuid.as_deref(), Some("plivo-uuid-1"));
    assert_eq!(record.error_code.as_deref(), Some("30"));
    assert_eq!(record.error_message.as_deref(), Some("carrier rejected"));
    let last = record.events.last().expect("events");
    assert_eq!((last.status, last.at), (Undelivered, at(2)));
    assert_eq!(last.error_code.as_deref(), Some("30"));
    assert_eq!(last.detail.as_deref(), Some("carrier rejected"));

    let unknown = store
        .update_status_by_uuid("no-such-uuid", &update(Sent, at(3)))
        .await;
    assert_eq!(unknown.expect("u"), UpdateOutcome::NotFound);
}

pub async fn unknown_messages_are_not_found(store: Store) {
    let outcome = store
        .update_status("ghost", &update(Sent, at(1)))
        .await
        .expect("u");
    assert_eq!(outcome, UpdateOutcome::NotFound);
    let marked = store.mark_outcome_unknown("ghost", "timeout", at(1)).await;
    assert!(
        matches!(marked, Err(StoreError::MessageNotFound)),
        "{marked:?}"
    );
}

pub async fn outcome_unknown_is_flagged_with_an_event(store: Store) {
    store
        .insert_message(&message("ou", "+14155550101", at(0)))
        .await
        .expect("insert");
    store
        .update_status("ou", &update(Sending, at(1)))
        .await
        .expect("u");
    store
        .mark_outcome_unknown("ou", "timed out after sending to Plivo", at(11))
        .await
        .expect("mark");
    let record = store.get_message("ou").await.expect("get").expect("stored");
    assert!(record.outcome_unknown);
    assert_eq!(record.status, Sending);
    assert_eq!(record.updated_at, at(11));
    let last = record.events.last().expect("events");
    assert_eq!((last.status, last.at), (Sending, at(11)));
    assert_eq!(
        last.detail.as_deref(),
        Some("timed out after sending to Plivo")
    );
    // A later callback still moves it on.
    assert_eq!(
        store
            .update_status("ou", &update(Delivered, at(20)))
            .await
            .expect("u"),
        UpdateOutcome::Applied
    );
}

pub async fn list_filters_by_recipient_and_status(store: Store) {
    for i in 0..12 {
        let recipient = if i % 3 == 0 {
            "+14155550111"
        } else {
            "+14155550122"
        };
        store
            .insert_message(&message(&format!("f{i:02}"), recipient, at(i)))
            .await
            .expect("insert");
        if i % 2 == 0 {
            store
                .update_status(&format!("f{i:02}"), &update(Queued, at(i + 100)))
                .await
                .expect("u");
        }
    }
    let ids = |page: mms_gateway::store::MessagePage| -> Vec<String> {
        page.messages.into_iter().map(|m| m.id).collect()
    };
    let query = |recipient: Option<&str>, status: Option<MessageStatus>| MessageQuery {
        recipient_number: recipient.map(str::to_owned),
        status,
        limit: 100,
        cursor: None,
    };

    let all = store.list_messages(&query(None, None)).await.expect("list");
    assert_eq!(all.next_cursor, None);
    let expected: Vec<String> = (0..12).rev().map(|i| format!("f{i:02}")).collect();
    assert_eq!(ids(all.clone()), expected, "newest first");
    assert!(
        all.messages.iter().all(|m| !m.events.is_empty()),
        "events attached"
    );

    let to_111 = store
        .list_messages(&query(Some("+14155550111"), None))
        .await
        .expect("list");
    assert_eq!(ids(to_111), ["f09", "f06", "f03", "f00"]);
    let queued = store
        .list_messages(&query(None, Some(Queued)))
        .await
        .expect("list");
    assert_eq!(ids(queued), ["f10", "f08", "f06", "f04", "f02", "f00"]);
    let both = store
        .list_messages(&query(Some("+14155550111"), Some(Accepted)))
        .await
        .expect("list");
    assert_eq!(ids(both), ["f09", "f03"]);
    let none = store
        .list_messages(&query(Some("+19999999999"), None))
        .await
        .expect("list");
    assert!(none.messages.is_empty() && none.next_cursor.is_none());
}

pub async fn list_pages_have_no_duplicates_or_gaps(store: Store) {
    // 23 messages, several sharing a creation time, so the id breaks ties.
    for i in 0..23 {
        let m = message(&format!("p{i:02}"), "+14155550101", at(i / 4));
        store.insert_message(&m).await.expect("insert");
    }
    for limit in [1, 5, 7, 23, 100] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let q = MessageQuery {
                recipient_number: None,
                status: None,
                limit,
                cursor,
            };
            let page = store.list_messages(&q).await.expect("list");
            assert!(page.messages.len() <= limit as usize);
            seen.extend(page.messages.into_iter().map(|m| (m.created_at, m.id)));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 23, "limit {limit}");
        let unique: HashSet<_> = seen.iter().map(|(_, id)| id.clone()).collect();
        assert_eq!(unique.len(), 23, "limit {limit}: duplicates");
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(
            seen, sorted,
            "limit {limit}: newest first, id descending on ties"
        );
    }
    // Limits are clamped to 1..=100.
    let q = MessageQuery {
        limit: 0,
        ..MessageQuery::default()
    };
    assert_eq!(
        store.list_messages(&q).await.expect("list").messages.len(),
        1
    );
}

pub async fn bad_cursor_is_an_error(store: Store) {
    for cursor in ["not a cursor", "", "MTIz"] {
        let q = MessageQuery {
            cursor: Some(cursor.to_owned()),
            ..MessageQuery::default()
        };
        let result = store.list_messages(&q).await;
        assert!(
            matches!(result, Err(StoreError::InvalidCursor)),
            "{cursor:?}: {result:?}"
        );
    }
}

pub async fn idempotency_claim_complete_replay_mismatch(store: Store) {
    let now = at(0);
    assert_eq!(
        store
            .claim_idempotency_key("k1", "hash-a", now)
            .await
            .expect("claim"),
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        store
            .claim_idempotency_key("k1", "hash-a", now)
            .await
            .expect("claim"),
        IdempotencyClaim::InFlight
    );
    assert_eq!(
        store
            .claim_idempotency_key("k1", "hash-b", now)
            .await
            .expect("claim"),
        IdempotencyClaim::Mismatch
    );

    let body = br#"{"message":"MMS sent successfully.","id":"x"}"#.to_vec();
    store
        .complete_idempotency_key("k1", 200, &body)
        .await
        .expect("complete");
    let replay = store
        .claim_idempotency_key("k1", "hash-a", at(3600))
        .await
        .expect("claim");
    assert_eq!(replay, IdempotencyClaim::Completed { status: 200, body });
    assert_eq!(
        store
            .claim_idempotency_key("k1", "hash-b", at(3600))
            .await
            .expect("claim"),
        IdempotencyClaim::Mismatch
    );

    // Binary and empty bodies survive.
    store
        .claim_idempotency_key("k2", "h", now)
        .await
        .expect("claim");
    store
        .complete_idempotency_key("k2", 503, &[0, 159, 255])
        .await
        .expect("complete");
    let replay = store
        .claim_idempotency_key("k2", "h", now)
        .await
        .expect("claim");
    assert_eq!(
        replay,
        IdempotencyClaim::Completed {
            status: 503,
            body: vec![0, 159, 255]
        }
    );
    store
        .claim_idempotency_key("k3", "h", now)
        .await
        .expect("claim");
    store
        .complete_idempotency_key("k3", 422, b"")
        .await
        .expect("complete");
    let replay = store
        .claim_idempotency_key("k3", "h", now)
        .await
        .expect("claim");
    assert_eq!(
        replay,
        IdempotencyClaim::Completed {
            status: 422,
            body: Vec::new()
        }
    );
}

pub async fn idempotency_release_frees_only_in_flight_keys(store: Store) {
    let now = at(0);
    store
        .claim_idempotency_key("r1", "h", now)
        .await
        .expect("claim");
    store.release_idempotency_key("r1").await.expect("release");
    assert_eq!(
        store
            .claim_idempotency_key("r1", "other", now)
            .await
            .expect("claim"),
        IdempotencyClaim::Claimed
    );

    store
        .complete_idempotency_key("r1", 200, b"done")
        .await
        .expect("complete");
    store.release_idempotency_key("r1").await.expect("release");
    let replay = store
        .claim_idempotency_key("r1", "other", now)
        .await
        .expect("claim");
    assert_eq!(
        replay,
        IdempotencyClaim::Completed {
            status: 200,
            body: b"done".to_vec()
        }
    );
    store
        .release_idempotency_key("never-claimed")
        .await
        .expect("release of unknown key");
}

pub async fn idempotency_keys_expire_after_24_hours(store: Store) {
    let day = 24 * 3600;
    store
        .claim_idempotency_key("e1", "h", at(0))
        .await
        .expect("claim");
    store
        .complete_idempotency_key("e1", 200, b"old")
        .await
        .expect("complete");
    store
        .claim_idempotency_key("e2", "h", at(0))
        .await
        .expect("claim");
    store
        .claim_idempotency_key("e3", "h", at(day))
        .await
        .expect("claim");

    // Just under 24 h: still held.
    let held = store
        .claim_idempotency_key("e1", "h", at(day - 1))
        .await
        .expect("claim");
    assert!(
        matches!(held, IdempotencyClaim::Completed { .. }),
        "{held:?}"
    );
    // Over 24 h: absent, whatever the hash; the new claim replaces the old row.
    assert_eq!(
        store
            .claim_idempotency_key("e1", "new", at(day + 1))
            .await
            .expect("claim"),
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        store
            .claim_idempotency_key("e1", "new", at(day + 2))
            .await
            .expect("claim"),
        IdempotencyClaim::InFlight
    );

    // Purge removes only keys claimed before the cut-off (e2; e1 was re-claimed, e3 is new).
    let purged = store
        .purge_expired_idempotency_keys(at(day - 1))
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    assert_eq!(
        store
            .claim_idempotency_key("e2", "x", at(day))
            .await
            .expect("claim"),
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        store
            .claim_idempotency_key("e3", "x", at(day))
            .await
            .expect("claim"),
        IdempotencyClaim::Mismatch
    );
}

pub async fn concurrent_claims_have_one_winner(store: Store) {
    for round in 0..3 {
        let key = format!("race-{round}");
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let store = Arc::clone(&store);
                let key = key.clone();
                tokio::spawn(async move { store.claim_idempotency_key(&key, "same", at(0)).await })
            })
            .collect();
        let mut claims = Vec::new();
        for task in tasks {
            claims.push(task.await.expect("task").expect("claim"));
        }
        let winners = claims
            .iter()
            .filter(|c| **c == IdempotencyClaim::Claimed)
            .count();
        assert_eq!(winners, 1, "{claims:?}");
        assert!(claims
            .iter()
            .all(|c| matches!(c, IdempotencyClaim::Claimed | IdempotencyClaim::InFlight)));
    }
}

pub async fn nonces_are_accepted_once(store: Store) {
    assert!(store.use_nonce("n1", at(0)).await.expect("nonce"));
    assert!(!store.use_nonce("n1", at(1)).await.expect("nonce"));
    assert!(store.use_nonce("n2", at(1)).await.expect("nonce"));
    assert!(!store.use_nonce("n1", at(3600)).await.expect("nonce"));

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.use_nonce("shared", at(5)).await })
        })
        .collect();
    let mut firsts = 0;
    for task in tasks {
        if task.await.expect("task").expect("nonce") {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1);
}

pub async fn concurrent_inserts_are_all_stored(store: Store) {
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let m = message(&format!("c{i:03}"), "+14155550101", at(i));
                store.insert_message(&m).await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("insert");
    }
    let mut ids = HashSet::new();
    let mut cursor = None;
    loop {
        let q = MessageQuery {
            limit: 100,
            cursor,
            ..MessageQuery::default()
        };
        let page = store.list_messages(&q).await.expect("list");
        ids.extend(page.messages.into_iter().map(|m| m.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(ids.len(), 200);
}

pub async fn concurrent_status_updates_never_go_backwards(store: Store) {
    store
        .insert_message(&message("cs", "+14155550101", at(0)))
        .await
        .expect("insert");
    let statuses = [
        Sending, Queued, Sent, Delivered, Sent, Queued, Sending, Delivered,
    ];
    let tasks: Vec<_> = statuses
        .into_iter()
        .cycle()
        .take(40)
        .enumerate()
        .map(|(i, status)| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .update_status("cs", &update(status, at(i as i64 + 1)))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("update");
    }
    let record = store.get_message("cs").await.expect("get").expect("stored");
    assert_eq!(record.status, Delivered);
    let ranks: Vec<i64> = record.events.iter().map(|e| e.status.rank()).collect();
    assert!(
        ranks.windows(2).all(|w| w[0] < w[1]),
        "events only move forward: {ranks:?}"
    );
    assert_eq!(record.events.last().map(|e| e.status), Some(Delivered));
}

pub async fn ping_answers(store: Store) {
    store.ping().await.expect("ping");
}
