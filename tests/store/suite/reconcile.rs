//! Reconciliation in the store: stalled synchronous sends, the account-wide list budget under
//! concurrency, held early callbacks, the outcomes of a check, and `no_receipt`.

use mms_gateway::store::{MessageStatus, Reconciled, StatusUpdate};
use MessageStatus::*;

use super::*;

pub async fn stalled_sync_sends_are_flagged_for_reconciliation(store: Store) {
    store
        .insert_sending(&message("old", "+14155551234", at(0)))
        .await
        .expect("insert");
    store
        .insert_sending(&message("young", "+14155551234", at(100)))
        .await
        .expect("insert");
    let flagged = store.sweep_stalled_sends(at(50), at(200)).await.unwrap();
    assert_eq!(flagged, 1);
    assert!(get(&store, "old").await.outcome_unknown);
    assert!(!get(&store, "young").await.outcome_unknown);
    // Settled 60 s after being flagged: not before.
    let early = store
        .claim_reconcilable(at(210), at(150), at(300), 10)
        .await
        .unwrap();
    assert!(early.is_empty());
    let due = store
        .claim_reconcilable(at(260), at(200), at(320), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].record.id, "old");
    assert_eq!(due[0].deadline, None, "a synchronous message");
    // Leased: a second reconciler does not get it.
    let again = store
        .claim_reconcilable(at(261), at(200), at(320), 10)
        .await
        .unwrap();
    assert!(again.is_empty());
    store
        .resolve_reconcile("old", &Reconciled::NotFound, at(262))
        .await
        .unwrap();
    let record = get(&store, "old").await;
    assert_eq!(record.status, Failed);
    assert_eq!(record.error_code.as_deref(), Some("not_sent"));
    assert!(!record.outcome_unknown);
    // Later "young" is stalled too; each is flagged once.
    assert_eq!(
        store.sweep_stalled_sends(at(500), at(600)).await.unwrap(),
        1
    );
    assert_eq!(
        store.sweep_stalled_sends(at(500), at(601)).await.unwrap(),
        0
    );
}

pub async fn found_adopts_the_uuid_and_state_and_lists_duplicates(store: Store) {
    store
        .insert_sending(&message("m", "+14155551234", at(0)))
        .await
        .expect("insert");
    store
        .mark_outcome_unknown("m", "timed out", at(1))
        .await
        .unwrap();
    let found = Reconciled::Found {
        message_uuid: "u-1".to_owned(),
        update: StatusUpdate {
            status: Delivered,
            message_uuid: None,
            error_code: None,
            error_message: None,
            at: at(70),
        },
        duplicates: vec!["u-0".to_owned()],
    };
    store.resolve_reconcile("m", &found, at(70)).await.unwrap();
    let record = get(&store, "m").await;
    assert_eq!(record.message_uuid.as_deref(), Some("u-1"));
    assert_eq!(record.status, Delivered);
    assert!(!record.outcome_unknown);
    assert_eq!(record.duplicate_uuids, ["u-0"]);
    assert_eq!(
        record.events.last().and_then(|e| e.detail.as_deref()),
        Some("reconciled")
    );
    assert_eq!(
        store
            .uuids_of_others("other", &["u-1".to_owned(), "u-9".to_owned()])
            .await
            .unwrap(),
        ["u-1"]
    );
    assert!(store
        .uuids_of_others("m", &["u-1".to_owned()])
        .await
        .unwrap()
        .is_empty());
}

pub async fn an_ambiguous_message_ends_failed_and_stays_flagged(store: Store) {
    store
        .insert_sending(&message("m", "+14155551234", at(0)))
        .await
        .expect("insert");
    store
        .mark_outcome_unknown("m", "lost", at(1))
        .await
        .unwrap();
    let later = Reconciled::Later {
        next: at(500),
        counted: true,
        reason: "two candidates".to_owned(),
    };
    store.resolve_reconcile("m", &later, at(70)).await.unwrap();
    assert!(store
        .claim_reconcilable(at(400), at(400), at(600), 10)
        .await
        .unwrap()
        .is_empty());
    let due = store
        .claim_reconcilable(at(501), at(501), at(600), 10)
        .await
        .unwrap();
    assert_eq!(due[0].tries, 1);
    store
        .resolve_reconcile("m", &Reconciled::GaveUp, at(502))
        .await
        .unwrap();
    let record = get(&store, "m").await;
    assert_eq!(record.status, Failed);
    assert_eq!(record.error_code.as_deref(), Some("ambiguous"));
    assert!(record.outcome_unknown);
}

pub async fn the_list_budget_holds_under_concurrency(store: Store) {
    let now = Utc::now();
    let taken = concurrently(12, |_| {
        let store = store.clone();
        async move { store.take_list_slot(now, 5).await.expect("slot") }
    })
    .await;
    assert_eq!(taken.iter().filter(|t| **t).count(), 5, "{taken:?}");
    // A minute later the budget is back.
    assert!(store
        .take_list_slot(now + Duration::seconds(61), 5)
        .await
        .unwrap());
}

pub async fn early_callbacks_are_applied_when_the_uuid_appears(store: Store) {
    store
        .insert_sending(&message("m", "+14155551234", at(0)))
        .await
        .expect("insert");
    let mut sent = update(Sent, at(1));
    sent.message_uuid = None;
    store.hold_early_callback("u-early", &sent).await.unwrap();
    assert_eq!(store.reconcile_gauges(100).await.unwrap().1, 1);
    let mut queued = update(Queued, at(2));
    queued.message_uuid = Some("u-early".to_owned());
    set(&store, "m", &queued).await;
    assert_eq!(status_of(&store, "m").await, Sent);
    assert_eq!(store.reconcile_gauges(100).await.unwrap().1, 0);
}

pub async fn no_receipt_keeps_the_status(store: Store) {
    store
        .insert_sending(&message("m", "+14155551234", at(0)))
        .await
        .expect("insert");
    let mut queued = update(Queued, at(1));
    queued.message_uuid = Some("u".to_owned());
    set(&store, "m", &queued).await;
    set(&store, "m", &update(Sent, at(2))).await;
    assert_eq!(store.reconcile_gauges(100).await.unwrap().0, 1);
    // Not due before RECEIPT_TIMEOUT after the last change (here 10 s).
    let none = store
        .claim_receipt_checks(at(5), at(-5), at(100), 10)
        .await
        .unwrap();
    assert!(none.is_empty());
    let due = store
        .claim_receipt_checks(at(13), at(3), at(100), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].checks, 1);
    store.mark_no_receipt("m", at(20)).await.unwrap();
    let record = get(&store, "m").await;
    assert_eq!(record.status, Sent);
    assert_eq!(
        record.events.last().and_then(|e| e.detail.as_deref()),
        Some("no_receipt")
    );
    assert_eq!(store.reconcile_gauges(100).await.unwrap().0, 0);
}
