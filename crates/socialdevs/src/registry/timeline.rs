//! The timeline service's entry: no store; it reads the follow graph from users and posts
//! from posts, and feeds its live streams from every event.

use std::sync::Arc;

use async_trait::async_trait;
use socialdevs_events::LiveHub;
use socialdevs_posts::PostsService;
use socialdevs_timeline::{FollowGraph, PostFeed, TimelineState, SERVICE};
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
        let live = LiveHub::new(SERVICE, 256);
        let live_feed = cx.live_feed(live.clone()).await;
        let ports = TimelinePorts { graph, feed, live };
        let router = socialdevs_timeline::router(TimelineState {
            graph: ports.graph.clone(),
            feed: ports.feed.clone(),
            live: ports.live.clone(),
            shutdown: cx.shutdown.clone(),
            verifier: cx.verifier.clone(),
        });
        Ok(cx.module(router).worker(live_feed).export(ports))
    }
}
