//! Many tasks at once against one store.

use super::*;

pub async fn concurrent_claims_have_one_winner(store: Store) {
    for round in 0..3 {
        let key = format!("race-{round}");
        let claims = concurrently(20, |_| {
            let (store, key) = (Arc::clone(&store), key.clone());
            async move { claim(&store, &key, "same", at(0)).await }
        })
        .await;
        let winners = claims.iter().filter(|c| **c == IdempotencyClaim::Claimed);
        assert_eq!(winners.count(), 1, "{claims:?}");
        let others_wait = claims
            .iter()
            .all(|c| matches!(c, IdempotencyClaim::Claimed | IdempotencyClaim::InFlight));
        assert!(others_wait, "{claims:?}");
    }
}

pub async fn concurrent_nonce_uses_have_one_first(store: Store) {
    let firsts = concurrently(20, |_| {
        let store = Arc::clone(&store);
        async move { store.use_nonce("shared", at(5)).await.expect("nonce") }
    })
    .await;
    assert_eq!(firsts.into_iter().filter(|first| *first).count(), 1);
}

pub async fn concurrent_inserts_are_all_stored(store: Store) {
    concurrently(200, |i| {
        let store = Arc::clone(&store);
        async move { insert(&store, &format!("c{i:03}"), "+14155550101", at(i as i64)).await }
    })
    .await;
    let ids: HashSet<_> = all_pages(&store, 100)
        .await
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids.len(), 200);
}

pub async fn concurrent_status_updates_never_go_backwards(store: Store) {
    insert(&store, "cs", "+14155550101", at(0)).await;
    let statuses = [
        Sending, Queued, Sent, Delivered, Sent, Queued, Sending, Delivered,
    ];
    concurrently(40, |i| {
        let store = Arc::clone(&store);
        let status = statuses[i % statuses.len()];
        async move { set(&store, "cs", &update(status, at(i as i64 + 1))).await }
    })
    .await;
    let record = get(&store, "cs").await;
    assert_eq!(record.status, Delivered);
    let ranks: Vec<i64> = record.events.iter().map(|e| e.status.rank()).collect();
    assert!(
        ranks.windows(2).all(|w| w[0] < w[1]),
        "events only move forward: {ranks:?}"
    );
    assert_eq!(record.events.last().map(|e| e.status), Some(Delivered));
}
