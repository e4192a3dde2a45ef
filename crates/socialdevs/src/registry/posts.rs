//! The posts service's entry: posts, replies and likes, with authors' names cached from
//! users' events (the `AuthorCache` consumer) and looked up in the users service; on a
//! database other processes share, the hot pages' cache follows their changes from the posts
//! topic (`PageCacheFeed`).

use std::sync::Arc;

use async_trait::async_trait;
use socialdevs_events::types::{POSTS_TOPIC, USERS_TOPIC};
use socialdevs_events::{Consumer, Durability, Latency, StartAt};
use socialdevs_posts::authors::AuthorMemoFeed;
use socialdevs_posts::consumers::AuthorCache;
use socialdevs_posts::store::{PageCacheFeed, PgPostStore, PostStore, SqlitePostStore};
use socialdevs_posts::{AuthorDirectory, PostsParts, PostsService, SERVICE};
use socialdevs_users::UsersService;

use super::{Dependency, Entry, Module, StartContext};
use crate::storage::{StoreOpener, StoreSpec};
use crate::wiring::{InProcessAuthors, RemoteAuthors};

/// The posts service.
pub struct Posts;

static STORE: StoreSpec<dyn PostStore> = StoreSpec {
    sqlite_migrations: socialdevs_posts::migrations::SQLITE,
    postgres_migrations: socialdevs_posts::migrations::POSTGRES,
    sqlite: |db, signal| Arc::new(SqlitePostStore::new(db).with_outbox_signal(signal)),
    postgres: |db, signal| Arc::new(PgPostStore::new(db).with_outbox_signal(signal)),
};

#[async_trait]
impl Entry for Posts {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn default_port(&self) -> u16 {
        8082
    }

    fn dependencies(&self) -> &'static [Dependency] {
        &[Dependency::Service(socialdevs_users::SERVICE)]
    }

    fn store(&self) -> Option<&'static dyn StoreOpener> {
        Some(&STORE)
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        socialdevs_posts::http::openapi()
    }

    async fn start(&self, cx: &StartContext<'_>) -> anyhow::Result<Module> {
        let store = cx.own_store::<dyn PostStore>()?;
        let authors = cx
            .durable_consumer(AuthorCache::consumer(store.clone()))
            .await;
        let directory: Arc<dyn AuthorDirectory> =
            match cx.local::<UsersService>(socialdevs_users::SERVICE)? {
                Some(users) => Arc::new(InProcessAuthors(users)),
                None => Arc::new(RemoteAuthors(cx.client(socialdevs_users::SERVICE)?)),
            };
        let retention = chrono::Duration::hours(i64::from(
            cx.settings.idempotency_key_retention_hours.max(1),
        ));
        let keys_store = store.clone();
        let keys = cx.housekeeping("idempotency-keys", move || {
            let store = keys_store.clone();
            async move {
                Ok(store
                    .purge_idempotency_keys(chrono::Utc::now() - retention)
                    .await?)
            }
        });
        // A store other processes write too learns of their changes from the posts topic.
        let pages = match store.shared_pages() {
            Some(pages) => Some(
                cx.durable_consumer(Consumer {
                    group: "socialdevs.posts.page-cache".into(),
                    topics: vec![POSTS_TOPIC],
                    start: StartAt::Latest,
                    durability: Durability::Live,
                    latency: Latency::Interactive,
                    handler: Arc::new(PageCacheFeed(pages)),
                })
                .await,
            ),
            None => None,
        };
        let posts = PostsService::new(store, directory);
        let memo = cx
            .durable_consumer(Consumer {
                group: "socialdevs.posts.author-memo".into(),
                topics: vec![USERS_TOPIC],
                start: StartAt::Latest,
                durability: Durability::Live,
                latency: Latency::Background,
                handler: Arc::new(AuthorMemoFeed(posts.author_memo())),
            })
            .await;
        let router = socialdevs_posts::router(
            PostsParts {
                service: posts.clone(),
                verifier: cx.verifier.clone(),
            }
            .into(),
        );
        let mut module = cx
            .module(router)
            .internal(socialdevs_posts::http::internal::router(posts.clone()))
            .worker(authors)
            .worker(memo)
            .worker(keys);
        if let Some(pages) = pages {
            module = module.worker(pages);
        }
        Ok(module.export(posts))
    }
}
