//! Recording messages and moving them through the state machine.

use super::*;
use mms_gateway::domain::MediaId;

pub async fn insert_and_get_round_trip(store: Store) {
    let mut m = message(
        "m1",
        "+14155550101",
        at(0) + Duration::microseconds(123_456),
    );
    m.message_text = None;
    m.media_urls = ["https://example.com/a.jpg", "https://example.com/b.png?x=1"]
        .map(|u| MediaUrl::parse(u).expect("a valid URL"))
        .to_vec();
    m.media_ids = vec![MediaId::parse("media-1").expect("a valid id")];
    m.callback_url = Some("https://caller.example/cb".to_owned());
    m.batch_id = Some("batch-1".to_owned());
    store.insert_message(&m).await.expect("insert");

    let record = get(&store, "m1").await;
    assert_eq!(record.id, "m1");
    assert_eq!(record.status, Accepted);
    assert_eq!(record.recipient_number, m.recipient_number.as_str());
    assert_eq!(record.sender_number, m.sender_number);
    assert_eq!(record.message_text, None);
    assert_eq!(
        record.media_urls,
        ["https://example.com/a.jpg", "https://example.com/b.png?x=1"]
    );
    assert_eq!(record.media_ids, ["media-1"]);
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
    insert(&store, "dup", "+14155550101", at(0)).await;
    let again = store
        .insert_message(&message("dup", "+14155550102", at(1)))
        .await;
    assert!(matches!(again, Err(StoreError::DuplicateId)), "{again:?}");
    let record = get(&store, "dup").await;
    assert_eq!(record.recipient_number, "+14155550101");
}

pub async fn every_legal_transition_applies(store: Store) {
    // The full path, one step at a time, with its events.
    insert(&store, "path", "+14155550101", at(0)).await;
    for (n, status) in [Sending, Queued, Sent, Delivered].into_iter().enumerate() {
        let outcome = store
            .update_status("path", &update(status, at(n as i64 + 1)))
            .await;
        assert_eq!(outcome.expect("update"), UpdateOutcome::Applied, "{status}");
    }
    let record = get(&store, "path").await;
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
            insert(&store, &id, "+14155550101", at(0)).await;
            if from != Accepted {
                let setup = store.update_status(&id, &update(from, at(1))).await;
                assert_eq!(setup.expect("setup"), UpdateOutcome::Applied);
            }
            let outcome = set(&store, &id, &update(to, at(2))).await;
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
            insert(&store, &id, "+14155550101", at(0)).await;
            if from != Accepted {
                set(&store, &id, &update(from, at(1))).await;
            }
            let before = get(&store, &id).await;
            let outcome = set(&store, &id, &update(to, at(2))).await;
            assert_eq!(outcome, UpdateOutcome::Ignored, "{from} -> {to}");
            let after = get(&store, &id).await;
            assert_eq!(after, before, "{from} -> {to} changed the record");
        }
    }
}

pub async fn out_of_order_and_repeated_updates_end_final(store: Store) {
    insert(&store, "ooo", "+14155550101", at(0)).await;
    let mut delivered = update(Delivered, at(5));
    delivered.message_uuid = Some("uuid-ooo".to_owned());
    assert_eq!(set(&store, "ooo", &delivered).await, UpdateOutcome::Applied);
    for late in [Sent, Queued, Sending, Delivered, Undelivered, Failed] {
        let outcome = set(&store, "ooo", &update(late, at(3))).await;
        assert_eq!(outcome, UpdateOutcome::Ignored, "{late}");
    }
    let record = get(&store, "ooo").await;
    assert_eq!(record.status, Delivered);
    assert_eq!(record.updated_at, at(5));
    assert_eq!(record.events.len(), 2);

    // Repeating a non-final status is ignored too, and records no second event.
    insert(&store, "rep", "+14155550101", at(0)).await;
    assert_eq!(
        set(&store, "rep", &update(Queued, at(1))).await,
        UpdateOutcome::Applied
    );
    assert_eq!(
        set(&store, "rep", &update(Queued, at(2))).await,
        UpdateOutcome::Ignored
    );
    let record = get(&store, "rep").await;
    assert_eq!(record.events.len(), 2);
    assert_eq!(record.updated_at, at(1));
}

pub async fn updates_by_uuid(store: Store) {
    insert(&store, "u1", "+14155550101", at(0)).await;
    let mut queued = update(Queued, at(1));
    queued.message_uuid = Some("plivo-uuid-1".to_owned());
    assert_eq!(set(&store, "u1", &queued).await, UpdateOutcome::Applied);

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

    let record = get(&store, "u1").await;
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
    let outcome = set(&store, "ghost", &update(Sent, at(1))).await;
    assert_eq!(outcome, UpdateOutcome::NotFound);
    let marked = store.mark_outcome_unknown("ghost", "timeout", at(1)).await;
    assert!(
        matches!(marked, Err(StoreError::MessageNotFound)),
        "{marked:?}"
    );
}

pub async fn outcome_unknown_is_flagged_with_an_event(store: Store) {
    insert(&store, "ou", "+14155550101", at(0)).await;
    set(&store, "ou", &update(Sending, at(1))).await;
    store
        .mark_outcome_unknown("ou", "timed out after sending to Plivo", at(11))
        .await
        .expect("mark");
    let record = get(&store, "ou").await;
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
        set(&store, "ou", &update(Delivered, at(20))).await,
        UpdateOutcome::Applied
    );
}

pub async fn ping_answers(store: Store) {
    store.ping().await.expect("ping");
}
