//! How the services of one process are put together.
//!
//! Each service declares what it needs from the others as a port (a trait in its own crate).
//! When the service that owns the data runs in this process the port is a direct call
//! ([`in_process`]); when it runs elsewhere the port calls its `/internal/...` endpoints over
//! HTTP ([`remote`]), at `SOCIALDEVS_<SERVICE>_URL`.

mod events;
mod in_process;
mod remote;

use std::sync::Arc;

use socialdevs_events::worker::Worker;
use socialdevs_events::{LiveHub, Transport};
use socialdevs_platform::auth::TokenIssuer;
use socialdevs_platform::health::ReadinessCheck;
use socialdevs_platform::metrics::Collector;
use socialdevs_platform::remote::{ClientSettings, ServiceClient};
use socialdevs_platform::shutdown::Shutdown;
use socialdevs_posts::{AuthorDirectory, PostsService};
use socialdevs_timeline::{FollowGraph, PostFeed};
use socialdevs_users::{PostCounts, UsersService};

use crate::config::Settings;
use crate::services::{Service, ServiceSet};
use crate::storage::Database;

pub use in_process::{
    InProcessAuthors, InProcessFollowGraph, InProcessPostCounts, InProcessPostFeed,
};
pub use remote::{RemoteAuthors, RemoteFollowGraph, RemotePostCounts, RemotePostFeed};

/// What the timeline service runs on.
#[derive(Clone)]
pub struct TimelinePorts {
    /// Whom people follow.
    pub graph: Arc<dyn FollowGraph>,
    /// Posts by authors.
    pub feed: Arc<dyn PostFeed>,
    /// Live events for the home streams.
    pub live: LiveHub,
}

/// The services of one process, wired.
pub struct Wired {
    /// Users, when this process runs it.
    pub users: Option<UsersService>,
    /// Posts, when this process runs it.
    pub posts: Option<PostsService>,
    /// Timeline's ports, when this process runs it.
    pub timeline: Option<TimelinePorts>,
    /// The process's event transport.
    pub transport: Arc<dyn Transport>,
    /// Background workers (relays, consumers); they stop with the shutdown signal.
    pub workers: Vec<Worker>,
    /// Readiness checks by service.
    pub readiness: Vec<(&'static str, Arc<dyn ReadinessCheck>)>,
    /// Scrape-time collectors.
    pub collectors: Vec<Collector>,
}

/// Opens the stores of `services` on `db` and connects every port, locally or over HTTP.
pub async fn wire(
    services: &ServiceSet,
    db: &Database,
    settings: &Settings,
    issuer: TokenIssuer,
    shutdown: &Shutdown,
) -> anyhow::Result<Wired> {
    let transport = events::transport(settings, db).await?;
    let mut workers = Vec::new();
    let mut readiness = Vec::new();
    let mut collectors = Vec::new();
    let client = |caller: Service, service: Service| -> anyhow::Result<ServiceClient> {
        let url = settings.service_url(service);
        tracing::info!(caller = caller.name(), service = service.name(), %url, "calling over HTTP");
        ServiceClient::new(
            caller.name(),
            service.name(),
            &url,
            ClientSettings::default(),
        )
    };

    let post_store = if services.contains(Service::Posts) {
        let opened = db.posts().await?;
        workers.push(events::relay(
            Service::Posts.name(),
            &opened,
            &transport,
            shutdown,
        ));
        readiness.push((Service::Posts.name(), opened.readiness));
        collectors.push(opened.collector);
        Some(opened.store)
    } else {
        None
    };

    let users = if services.contains(Service::Users) {
        let opened = db.users().await?;
        workers.push(events::relay(
            Service::Users.name(),
            &opened,
            &transport,
            shutdown,
        ));
        readiness.push((Service::Users.name(), opened.readiness));
        collectors.push(opened.collector);
        let counts: Arc<dyn PostCounts> = match &post_store {
            Some(store) => Arc::new(InProcessPostCounts(store.clone())),
            None => Arc::new(RemotePostCounts(client(Service::Users, Service::Posts)?)),
        };
        Some(UsersService::new(opened.store, issuer, counts))
    } else {
        None
    };

    let posts = match post_store {
        Some(store) => {
            workers.push(events::durable(
                Service::Posts.name(),
                socialdevs_posts::consumers::AuthorCache::consumer(store.clone()),
                &transport,
                shutdown,
            ));
            let directory: Arc<dyn AuthorDirectory> = match &users {
                Some(users) => Arc::new(InProcessAuthors(users.clone())),
                None => Arc::new(RemoteAuthors(client(Service::Posts, Service::Users)?)),
            };
            Some(PostsService::new(store, directory))
        }
        None => None,
    };

    let timeline = if services.contains(Service::Timeline) {
        let graph: Arc<dyn FollowGraph> = match &users {
            Some(users) => Arc::new(InProcessFollowGraph(users.clone())),
            None => Arc::new(RemoteFollowGraph(client(
                Service::Timeline,
                Service::Users,
            )?)),
        };
        let feed: Arc<dyn PostFeed> = match &posts {
            Some(posts) => Arc::new(InProcessPostFeed(posts.clone())),
            None => Arc::new(RemotePostFeed(client(Service::Timeline, Service::Posts)?)),
        };
        let live = LiveHub::new("timeline", 256);
        workers.push(
            events::live_feed(Service::Timeline.name(), live.clone(), &transport, shutdown).await,
        );
        Some(TimelinePorts { graph, feed, live })
    } else {
        None
    };

    for worker in &workers {
        let service = worker.name.split('-').next().unwrap_or("events").to_owned();
        let service = Service::ALL
            .into_iter()
            .find(|s| s.name() == service)
            .map_or("events", Service::name);
        readiness.push((service, worker.readiness()));
    }
    Ok(Wired {
        users,
        posts,
        timeline,
        transport,
        workers,
        readiness,
        collectors,
    })
}
