//! Message store tests: one suite (`suite.rs`), run against SQLite and PostgreSQL, plus SQLite-only
//! tests (`sqlite_only.rs`).
//!
//! PostgreSQL tests need `TEST_DATABASE_URL` (an admin URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test creates and drops its own database.

mod backends;
#[path = "../common/fresh_postgres.rs"]
mod fresh_postgres;
mod sqlite_only;
mod suite;

/// Declares every suite test twice: `sqlite::name` and `postgres::name`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::backends::with_sqlite(crate::suite::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::backends::with_postgres(crate::suite::$name).await;
                }
            )*
        }
    };
}

on_both_backends!(
    insert_and_get_round_trip,
    duplicate_ids_are_refused,
    every_legal_transition_applies,
    illegal_transitions_are_ignored,
    out_of_order_and_repeated_updates_end_final,
    updates_by_uuid,
    unknown_messages_are_not_found,
    outcome_unknown_is_flagged_with_an_event,
    list_filters_by_recipient_and_status,
    list_pages_have_no_duplicates_or_gaps,
    bad_cursor_is_an_error,
    idempotency_claim_complete_replay_mismatch,
    idempotency_release_frees_only_in_flight_keys,
    idempotency_keys_expire_after_24_hours,
    abandoned_in_flight_keys_can_be_claimed_again,
    concurrent_claims_have_one_winner,
    concurrent_nonce_uses_have_one_first,
    nonces_are_accepted_once,
    // --- webhook hardening ---
    a_nonce_linked_to_a_message_is_kept_as_long_as_the_message,
    concurrent_inserts_are_all_stored,
    concurrent_status_updates_never_go_backwards,
    ping_answers,
);
