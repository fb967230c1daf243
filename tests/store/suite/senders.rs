//! Sender slots (pacing), resends and their links, and redelivery of exhausted caller events.

use std::time::Duration as StdDuration;

use chrono::Duration;
use mms_gateway::store::{ResendOutcome, SlotGrant, SlotRequest};

use super::*;

const SLOT: StdDuration = StdDuration::from_millis(500);

/// Concurrent reservations of one sender never share a slot: each start is distinct, they tile
/// the schedule `count × interval` apart, and a request that cannot start in time reserves nothing.
pub async fn sender_slots_are_reserved_atomically(store: Store) {
    let now = at(0);
    let latest = at(3600);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .reserve_sender_slots("+14155550101", 2, SLOT, now, latest)
                .await
                .expect("reserve")
        }));
    }
    let mut starts = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            SlotGrant::Granted { at } => starts.push(at),
            other => panic!("refused: {other:?}"),
        }
    }
    starts.sort();
    let expected: Vec<_> = (0..16).map(|i| now + Duration::seconds(i)).collect();
    assert_eq!(starts, expected, "two slots of 0.5 s each, back to back");
    // The next free slot is at 16 s: a request that must start by 10 s is refused, unreserved.
    let refused = store
        .reserve_sender_slots("+14155550101", 1, SLOT, now, at(10))
        .await
        .expect("reserve");
    assert_eq!(refused, SlotGrant::Refused { free_at: at(16) });
    let next = store
        .reserve_sender_slots("+14155550101", 1, SLOT, now, latest)
        .await
        .expect("reserve");
    assert_eq!(next, SlotGrant::Granted { at: at(16) });
    // Another sender has its own schedule; an idle sender starts now.
    let other = store
        .reserve_sender_slots("+14155550102", 1, SLOT, at(20), latest)
        .await
        .expect("reserve");
    assert_eq!(other, SlotGrant::Granted { at: at(20) });
    let idle = store
        .reserve_sender_slots("+14155550101", 1, SLOT, at(100), latest)
        .await
        .expect("reserve");
    assert_eq!(idle, SlotGrant::Granted { at: at(100) });
}

/// Paced messages are due at their slots; only those slots make them "reserved".
pub async fn paced_messages_wait_in_the_outbox_for_their_slots(store: Store) {
    let now = Utc::now();
    let messages: Vec<NewMessage> = (0..3)
        .map(|i| message(&format!("p{i}"), "+14155551234", now))
        .collect();
    let requests: Vec<SlotRequest> = messages
        .iter()
        .map(|m| SlotRequest {
            sender: m.sender_number.clone(),
            ids: vec![m.id.clone()],
        })
        .collect();
    let deadline = now + Duration::hours(1);
    store
        .enqueue_paced(&messages, deadline, &requests, StdDuration::from_secs(30))
        .await
        .expect("enqueue");
    // Only the first is due now; the others wait 30 s and 60 s for their slots.
    let lease = now + Duration::seconds(60);
    let claimed = store
        .claim_due("w", now + Duration::seconds(1), lease, 10)
        .await
        .expect("claim");
    let ids: Vec<&str> = claimed.iter().map(|c| c.record.id.as_str()).collect();
    assert_eq!(ids, ["p0"]);
    let all: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
    assert_eq!(
        store.slot_reservations(&all).await.expect("reservations"),
        all
    );
    assert_eq!(
        store
            .waiting_for_sender(now + Duration::seconds(1))
            .await
            .unwrap(),
        2
    );
    // A message deferred without a slot (until its deadline) holds no reservation.
    store
        .defer_for_slot("w", &["p0".to_owned()], deadline, None)
        .await
        .expect("defer");
    let left = store.slot_reservations(&all).await.expect("reservations");
    assert_eq!(left, ["p1", "p2"]);
    let claimed = store
        .claim_due(
            "w",
            now + Duration::seconds(61),
            now + Duration::seconds(120),
            10,
        )
        .await
        .expect("claim");
    let mut ids: Vec<&str> = claimed.iter().map(|c| c.record.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["p1", "p2"]);
}

/// A resend copies the content, recipient, sender and callback URL, has no batch, and is linked
/// both ways; only failed and undelivered messages can be resent, again and again.
pub async fn resends_are_linked_copies_of_failed_messages(store: Store) {
    let now = Utc::now();
    let mut original = message("orig", "+14155551234", now);
    original.sender_number = "+14155550102".to_owned();
    original.batch_id = Some("batch-1".to_owned());
    store
        .enqueue_messages(std::slice::from_ref(&original), now + Duration::hours(1))
        .await
        .expect("enqueue");
    let deadline = now + Duration::hours(3);
    let queued = store
        .resend_message("orig", "early", now, deadline)
        .await
        .expect("resend");
    assert_eq!(queued, ResendOutcome::NotResendable(Accepted));
    assert_eq!(
        store
            .resend_message("nope", "x", now, deadline)
            .await
            .unwrap(),
        ResendOutcome::NotFound
    );
    let mut failed = update(Failed, now);
    failed.error_code = Some("provider_rejected".to_owned());
    assert_eq!(set(&store, "orig", &failed).await, UpdateOutcome::Applied);
    assert_eq!(
        store
            .resend_message("orig", "r1", now, deadline)
            .await
            .unwrap(),
        ResendOutcome::Created("r1".to_owned())
    );
    let copy = get(&store, "r1").await;
    assert_eq!(copy.recipient_number, original.recipient_number.to_string());
    assert_eq!(copy.sender_number, "+14155550102");
    assert_eq!(copy.message_text, Some("hello".to_owned()));
    assert_eq!(copy.media_urls, ["https://example.com/a.jpg"]);
    assert_eq!(copy.batch_id, None);
    assert_eq!(copy.events.len(), 1, "one accepted event");
    store
        .resend_message("orig", "r2", now + Duration::seconds(1), deadline)
        .await
        .expect("resend again");
    let old = get(&store, "orig").await;
    assert_eq!(old.resent_as, ["r1", "r2"]);
    let new = get(&store, "r1").await;
    assert_eq!(new.resend_of.as_deref(), Some("orig"));
    assert_eq!(new.status, Accepted);
    assert_eq!(new.batch_id, None);
    assert!(new.resent_as.is_empty());
}

/// A Powerpack message (no sender yet) takes the number Plivo reports, once; a known sender is
/// never overwritten.
pub async fn a_powerpack_message_learns_its_sender(store: Store) {
    let now = Utc::now();
    let mut pooled = message("pp", "+14155551234", now);
    pooled.sender_number = String::new();
    store
        .enqueue_messages(std::slice::from_ref(&pooled), far_deadline())
        .await
        .expect("insert");
    let mut queued = update(Queued, now);
    queued.message_uuid = Some("uuid-pp".to_owned());
    assert_eq!(set(&store, "pp", &queued).await, UpdateOutcome::Applied);
    let json = serde_json::to_value(get(&store, "pp").await).expect("json");
    assert_eq!(json["senderNumber"], serde_json::Value::Null);
    store
        .learn_sender("uuid-pp", "+14155550107")
        .await
        .expect("learn");
    store
        .learn_sender("uuid-pp", "+14155550108")
        .await
        .expect("learn again");
    assert_eq!(get(&store, "pp").await.sender_number, "+14155550107");
    // A message with a sender keeps it.
    insert(&store, "fixed", "+14155551235", now).await;
    let mut queued = update(Queued, now);
    queued.message_uuid = Some("uuid-fixed".to_owned());
    set(&store, "fixed", &queued).await;
    store
        .learn_sender("uuid-fixed", "+14155550107")
        .await
        .expect("learn");
    assert_eq!(get(&store, "fixed").await.sender_number, "+14155550100");
}
