//! Idempotency keys and webhook nonces.

use super::*;

pub async fn idempotency_claim_complete_replay_mismatch(store: Store) {
    let now = at(0);
    assert_eq!(
        claim(&store, "k1", "hash-a", now).await,
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        claim(&store, "k1", "hash-a", now).await,
        IdempotencyClaim::InFlight
    );
    assert_eq!(
        claim(&store, "k1", "hash-b", now).await,
        IdempotencyClaim::Mismatch
    );

    let body = br#"{"message":"MMS sent successfully.","id":"x"}"#.to_vec();
    store
        .complete_idempotency_key("k1", 200, &body)
        .await
        .expect("complete");
    let replay = claim(&store, "k1", "hash-a", at(3600)).await;
    assert_eq!(replay, IdempotencyClaim::Completed { status: 200, body });
    assert_eq!(
        claim(&store, "k1", "hash-b", at(3600)).await,
        IdempotencyClaim::Mismatch
    );

    // Binary and empty bodies survive.
    claim(&store, "k2", "h", now).await;
    store
        .complete_idempotency_key("k2", 503, &[0, 159, 255])
        .await
        .expect("complete");
    let replay = claim(&store, "k2", "h", now).await;
    assert_eq!(
        replay,
        IdempotencyClaim::Completed {
            status: 503,
            body: vec![0, 159, 255]
        }
    );
    claim(&store, "k3", "h", now).await;
    store
        .complete_idempotency_key("k3", 422, b"")
        .await
        .expect("complete");
    let replay = claim(&store, "k3", "h", now).await;
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
    claim(&store, "r1", "h", now).await;
    store.release_idempotency_key("r1").await.expect("release");
    assert_eq!(
        claim(&store, "r1", "other", now).await,
        IdempotencyClaim::Claimed
    );

    store
        .complete_idempotency_key("r1", 200, b"done")
        .await
        .expect("complete");
    store.release_idempotency_key("r1").await.expect("release");
    let replay = claim(&store, "r1", "other", now).await;
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
    claim(&store, "e1", "h", at(0)).await;
    store
        .complete_idempotency_key("e1", 200, b"old")
        .await
        .expect("complete");
    claim(&store, "e2", "h", at(0)).await;
    claim(&store, "e3", "h", at(day)).await;

    // Just under 24 h: still held.
    let held = claim(&store, "e1", "h", at(day - 1)).await;
    assert!(
        matches!(held, IdempotencyClaim::Completed { .. }),
        "{held:?}"
    );
    // Over 24 h: absent, whatever the hash; the new claim replaces the old row.
    assert_eq!(
        claim(&store, "e1", "new", at(day + 1)).await,
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        claim(&store, "e1", "new", at(day + 2)).await,
        IdempotencyClaim::InFlight
    );

    // Purge removes only keys claimed before the cut-off (e2; e1 was re-claimed, e3 is new).
    let purged = store
        .purge_expired_idempotency_keys(at(day - 1))
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    assert_eq!(
        claim(&store, "e2", "x", at(day)).await,
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        claim(&store, "e3", "x", at(day)).await,
        IdempotencyClaim::Mismatch
    );
}

pub async fn nonces_are_accepted_once(store: Store) {
    assert!(store.use_nonce("n1", at(0)).await.expect("nonce"));
    assert!(!store.use_nonce("n1", at(1)).await.expect("nonce"));
    assert!(store.use_nonce("n2", at(1)).await.expect("nonce"));
    assert!(!store.use_nonce("n1", at(3600)).await.expect("nonce"));
}

pub async fn abandoned_in_flight_keys_can_be_claimed_again(store: Store) {
    let minute = 60;
    assert_eq!(
        claim(&store, "a1", "h", at(0)).await,
        IdempotencyClaim::Claimed
    );
    // The first request is still running: the key is in flight.
    assert_eq!(
        claim(&store, "a1", "h", at(10 * minute)).await,
        IdempotencyClaim::InFlight
    );
    // After 15 minutes without an answer the first request is taken as abandoned (no request
    // lasts that long): the next one may proceed.
    assert_eq!(
        claim(&store, "a1", "h", at(16 * minute)).await,
        IdempotencyClaim::Claimed
    );
    // A completed key is kept for its whole 24 hours.
    store
        .complete_idempotency_key("a1", 200, b"done")
        .await
        .expect("complete");
    assert!(matches!(
        claim(&store, "a1", "h", at(60 * minute)).await,
        IdempotencyClaim::Completed { .. }
    ));
}

// --- webhook hardening ---

pub async fn a_nonce_linked_to_a_message_is_kept_as_long_as_the_message(store: Store) {
    let week = 7 * 24 * 3600;
    insert(&store, "m1", "+14155550101", at(0)).await;
    let mut queued = update(Queued, at(1));
    queued.message_uuid = Some("uuid-m1".to_owned());
    set(&store, "m1", &queued).await;

    assert!(store.use_nonce("linked", at(2)).await.expect("nonce"));
    store.link_nonce("linked", "uuid-m1").await.expect("link");
    assert!(store.use_nonce("loose", at(2)).await.expect("nonce"));
    store
        .link_nonce("loose", "uuid-of-no-message")
        .await
        .expect("link to nothing");

    // Past the retention of nonces that changed nothing: the loose one is forgotten, the linked one
    // still refused.
    assert!(store.use_nonce("later", at(2 * week)).await.expect("nonce"));
    assert!(store.use_nonce("loose", at(2 * week)).await.expect("nonce"));
    assert!(!store
        .use_nonce("linked", at(2 * week))
        .await
        .expect("nonce"));
}
