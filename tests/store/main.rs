//! Message store tests: one suite (`suite.rs`), run against SQLite and PostgreSQL, plus SQLite-only
//! tests (`sqlite_only.rs`).
//!
//! PostgreSQL tests need `TEST_DATABASE_URL` (an admin URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test creates and drops its own database.

mod backends;
#[path = "../common/fresh_postgres.rs"]
mod fresh_postgres;
mod plans;
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
    // --- media uploads ---
    uploads_are_recorded_in_order,
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
    // --- retention ---
    purge_deletes_messages_ended_before_the_cutoff,
    purge_takes_at_most_a_batch_at_a_time,
    purge_removes_caller_events_and_their_attempts,
    redaction_keeps_status_times_codes_and_the_last_four_digits,
    redaction_and_deletion_remove_stored_idempotency_answers,
    delete_answers_for_ended_under_way_and_unknown_messages,
    a_sent_message_marked_ended_counts_as_ended,
    status_counts_follow_changes_purges_and_deletes,
    expired_keys_and_nonces_are_purged_in_batches,
    // --- sender pool, pacing, resend ---
    sender_slots_are_reserved_atomically,
    paced_messages_wait_in_the_outbox_for_their_slots,
    resends_are_linked_copies_of_failed_messages,
    a_powerpack_message_learns_its_sender,
    // --- reconciliation ---
    stalled_sync_sends_are_flagged_for_reconciliation,
    found_adopts_the_uuid_and_state_and_lists_duplicates,
    an_ambiguous_message_ends_failed_and_stays_flagged,
    the_list_budget_holds_under_concurrency,
    early_callbacks_are_applied_when_the_uuid_appears,
    no_receipt_keeps_the_status,
    // --- the fleet ---
    heartbeats_count_the_live_instances_and_leaving_ends_one,
    a_pause_outlasts_the_instance_that_left_under_it,
);
