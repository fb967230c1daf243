//! The instances sharing Plivo's limits: heartbeats, leaving, and pauses after a 429.

use mms_gateway::store::Fleet;

use super::*;

fn fleet(live: u32, pause_until: Option<DateTime<Utc>>) -> Fleet {
    Fleet { live, pause_until }
}

pub async fn heartbeats_count_the_live_instances_and_leaving_ends_one(store: Store) {
    store.heartbeat("a", at(0), None).await.expect("a beats");
    assert_eq!(
        store.heartbeat("b", at(0), None).await.unwrap(),
        fleet(2, None)
    );
    store.leave("a", at(1), None).await.expect("a leaves");
    assert_eq!(
        store.heartbeat("b", at(1), None).await.unwrap(),
        fleet(1, None)
    );
    // An instance that stopped beating without leaving stops counting after three seconds.
    store.heartbeat("c", at(2), None).await.expect("c beats");
    assert_eq!(
        store.heartbeat("b", at(4), None).await.unwrap(),
        fleet(2, None)
    );
    assert_eq!(
        store.heartbeat("b", at(6), None).await.unwrap(),
        fleet(1, None)
    );
}

pub async fn a_pause_outlasts_the_instance_that_left_under_it(store: Store) {
    let pause = at(60);
    store.heartbeat("a", at(0), None).await.expect("a beats");
    store.heartbeat("b", at(0), None).await.expect("b beats");
    // `a` got a 429 asking for a minute and left before its next heartbeat.
    store
        .leave("a", at(1), Some(pause))
        .await
        .expect("a leaves");
    assert_eq!(
        store.heartbeat("b", at(2), None).await.unwrap(),
        fleet(1, Some(pause)),
        "b alone, under a's pause"
    );
    // Long after `a`'s last heartbeat, while the pause lasts, it still holds.
    assert_eq!(
        store.heartbeat("b", at(45), None).await.unwrap(),
        fleet(1, Some(pause))
    );
    // Once it is over, nothing of `a` is left.
    assert_eq!(
        store.heartbeat("b", at(61), None).await.unwrap(),
        fleet(1, None)
    );
    // A pause already over when leaving is not kept.
    store.heartbeat("c", at(61), None).await.expect("c beats");
    store
        .leave("c", at(62), Some(at(62)))
        .await
        .expect("c leaves");
    assert_eq!(
        store.heartbeat("b", at(63), None).await.unwrap(),
        fleet(1, None)
    );
}
