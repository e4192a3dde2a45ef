//! The timeline service's entry: home timelines in a timeline store (Redis when
//! `SOCIALDEVS_REDIS_URL` is set, else in memory), kept by the fan-out consumer; the follow
//! graph from users and posts from posts; live streams fed from every event.

use std::sync::Arc;

use async_trait::async_trait;
use socialdevs_events::hub::LIVE_QUEUE;
use socialdevs_events::types::{POSTS_TOPIC, USERS_TOPIC};
use socialdevs_events::{Consumer, Durability, Latency, LiveHub, StartAt};
use socialdevs_platform::health::ReadinessCheck;
use socialdevs_platform::streams::{OpenStreams, StreamLimits};
use socialdevs_posts::PostsService;
use socialdevs_timeline::store::memory::MemoryTimelines;
use socialdevs_timeline::store::reconnecting::ReconnectingRedis;
use socialdevs_timeline::store::redis::RedisOptions;
use socialdevs_timeline::store::{TimelineStore, TimelineStoreSettings};
use socialdevs_timeline::{
    Fanout, FollowGraph, PostFeed, TimelineParts, TimelineService, TimelineSettings, SERVICE,
};
use socialdevs_users::UsersService;

use super::{Dependency, Entry, Module, StartContext};
use crate::wiring::{InProcessFollowGraph, InProcessPostFeed, RemoteFollowGraph, RemotePostFeed};

/// The timeline service.
pub struct Timeline;

/// What the timeline service runs on (its export).
#[derive(Clone)]
pub struct TimelinePorts {
    /// Whom people follow.
    pub graph: Arc<dyn FollowGraph>,
    /// Posts by authors.
    pub feed: Arc<dyn PostFeed>,
    /// Live events for the home streams.
    pub live: LiveHub,
}

#[async_trait]
impl Entry for Timeline {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn default_port(&self) -> u16 {
        8083
    }

    fn dependencies(&self) -> &'static [Dependency] {
        &[
            Dependency::Service(socialdevs_users::SERVICE),
            Dependency::Service(socialdevs_posts::SERVICE),
        ]
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        socialdevs_timeline::openapi()
    }

    async fn start(&self, cx: &StartContext<'_>) -> anyhow::Result<Module> {
        let graph: Arc<dyn FollowGraph> =
            match cx.local::<UsersService>(socialdevs_users::SERVICE)? {
                Some(users) => Arc::new(InProcessFollowGraph(users)),
                None => Arc::new(RemoteFollowGraph(cx.client(socialdevs_users::SERVICE)?)),
            };
        let feed: Arc<dyn PostFeed> = match cx.local::<PostsService>(socialdevs_posts::SERVICE)? {
            Some(posts) => Arc::new(InProcessPostFeed(posts)),
            None => Arc::new(RemotePostFeed(cx.client(socialdevs_posts::SERVICE)?)),
        };
        let settings = cx.settings;
        let store_settings = TimelineStoreSettings {
            cap: settings.timeline_cap.max(1),
            ..TimelineStoreSettings::default()
        };
        // Redis is shared by every replica: one durable fan-out group feeds it. A memory
        // store is this process's own: its fan-out reads every event, like a live feed, and
        // what happened before the process started is found by rebuilding on read.
        let (store, durability, start): (Arc<dyn TimelineStore>, _, _) =
            match settings.redis_url.as_deref() {
                Some(url) if !url.trim().is_empty() => (
                    Arc::new(
                        ReconnectingRedis::new(
                            url,
                            RedisOptions {
                                namespace: settings.redis_namespace.clone(),
                                ..RedisOptions::default()
                            },
                            store_settings,
                        )
                        .await?,
                    ),
                    Durability::Durable,
                    StartAt::Earliest,
                ),
                _ => (
                    Arc::new(MemoryTimelines::new(
                        store_settings,
                        settings.timeline_memory_users.max(1),
                    )),
                    Durability::Live,
                    StartAt::Latest,
                ),
            };
        let timelines = TimelineService::new(
            store.clone(),
            graph.clone(),
            feed.clone(),
            TimelineSettings {
                cap: settings.timeline_cap.max(1),
                fanout_max_followers: settings.timeline_fanout_max_followers,
                ..TimelineSettings::default()
            },
        );
        let fanout = cx
            .durable_consumer(Consumer {
                group: "socialdevs.timeline.fanout".into(),
                topics: vec![USERS_TOPIC, POSTS_TOPIC],
                start,
                durability,
                latency: Latency::Background,
                handler: Arc::new(Fanout(timelines.clone())),
            })
            .await;
        let live = LiveHub::new(SERVICE, LIVE_QUEUE);
        let live_feed = cx
            .live_feed(live.clone(), &[USERS_TOPIC, POSTS_TOPIC])
            .await;
        let ports = TimelinePorts { graph, feed, live };
        let router = socialdevs_timeline::router(
            TimelineParts {
                timelines,
                graph: ports.graph.clone(),
                live: ports.live.clone(),
                shutdown: cx.shutdown.clone(),
                streams: OpenStreams::new(
                    StreamLimits {
                        per_user: settings.timeline_streams_per_user.max(1),
                        total: settings.timeline_streams_max.max(1),
                    },
                    socialdevs_timeline::STREAMS_OPEN,
                ),
                verifier: cx.verifier.clone(),
            }
            .into(),
        );
        let mut module = cx
            .module(router)
            .worker(fanout)
            .worker(live_feed)
            .export(ports);
        module.readiness.push(Arc::new(StoreCheck(store)));
        Ok(module)
    }
}

/// The timeline store in `/readyz`: degraded, not down, when it fails (reads fall back to
/// computing timelines from the other services).
struct StoreCheck(Arc<dyn TimelineStore>);

#[async_trait]
impl ReadinessCheck for StoreCheck {
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn check(&self) -> anyhow::Result<()> {
        self.0.ping().await.map_err(anyhow::Error::from)
    }

    fn critical(&self) -> bool {
        false
    }
}
