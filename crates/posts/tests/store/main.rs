//! The posts store conformance suite: one set of behaviours ([`suite`]), run against every
//! adapter, each behaviour a test of its own (`sqlite::…`, `postgres::…`).
//!
//! The PostgreSQL tests use the server named by `SOCIALDEVS_TEST_DATABASE_URL`, or start a
//! throwaway cluster (see `socialdevs_testkit::postgres`).

// The suite and its helpers are test code, though outside `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod shared;
mod suite;
mod support;

/// Instantiates the suite for each named backend (a constructor in [`support`]).
macro_rules! conformance {
    ($($backend:ident),+ $(,)?) => {
        $(
            mod $backend {
                conformance!(@store $backend;
                    create_then_get_round_trips_every_field,
                    post_without_tags_or_mentions_has_empty_lists,
                    created_at_is_kept_to_the_microsecond,
                    get_unknown_post_is_none,
                    reply_round_trips_and_counts_on_its_parent,
                    reply_to_unknown_post_is_rejected_and_stores_nothing,
                    list_all_is_newest_first_across_authors,
                    list_by_author_shows_only_theirs,
                    list_by_authors_shows_only_theirs,
                    list_by_tag_shows_only_tagged_posts,
                    list_by_author_and_tag_needs_both,
                    replies_are_oldest_first_and_direct_only,
                    after_cursor_is_strict,
                    replies_after_cursor_is_strict,
                    limit_caps_the_page,
                    pages_cover_every_post_exactly_once,
                    an_authors_pages_follow_posts_and_deletions_past_any_window,
                    pages_are_stable_while_new_posts_arrive,
                    reply_pages_cover_every_reply_exactly_once,
                    counts_and_liked_by_me_follow_the_viewer,
                    pages_read_before_a_change_show_it_after,
                    author_deletes_own_post,
                    someone_else_cannot_delete_a_post,
                    deleting_unknown_post_is_not_found,
                    deleting_a_parent_keeps_its_replies,
                    deleting_a_reply_lowers_its_parents_count,
                    like_is_idempotent,
                    unlike_is_idempotent,
                    like_and_unlike_unknown_post_are_not_found,
                    replayed_key_returns_first_post,
                    reused_key_with_different_request_is_a_mismatch,
                    different_users_may_reuse_a_key,
                    failed_create_does_not_use_up_its_key,
                    purged_keys_are_forgotten_and_newer_ones_kept,
                    key_check_comes_before_the_reply_check,
                    key_replays_its_post_even_after_the_post_is_deleted,
                    count_by_author_counts_posts_and_replies,
                    author_cache_keeps_the_newest_version_only,
                    list_by_ids_shows_those_that_exist_newest_first,
                    list_by_ids_or_own_adds_the_readers_newer_posts,
                );
                conformance!(@concurrent $backend;
                    concurrent_creates_with_one_key_create_one_post,
                    concurrent_creates_with_different_keys_all_succeed,
                    concurrent_likes_by_one_user_store_one_like,
                    concurrent_unlikes_remove_one_like,
                    concurrent_likes_by_many_users_all_count,
                );
                conformance!(@concurrent_backend $backend;
                    concurrent_delete_and_likes_leave_no_like_behind,
                );
                conformance!(@backend $backend;
                    deleting_cascades_likes_and_tags,
                    migrations_are_idempotent,
                    counts_migration_recounts_existing_likes_and_replies,
                    every_change_writes_its_event_in_the_same_transaction,
                    refused_and_failed_changes_write_no_event,
                );
            }
        )+
    };
    (@store $backend:ident; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let backend = crate::support::$backend().await;
                crate::suite::$name(backend.store.clone()).await;
            }
        )+
    };
    (@concurrent $backend:ident; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let backend = crate::support::$backend().await;
                crate::suite::$name(backend.store.clone()).await;
            }
        )+
    };
    (@concurrent_backend $backend:ident; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let backend = crate::support::$backend().await;
                crate::suite::$name(&backend).await;
            }
        )+
    };
    (@backend $backend:ident; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let backend = crate::support::$backend().await;
                crate::suite::$name(&backend).await;
            }
        )+
    };
}

conformance!(sqlite, postgres);
