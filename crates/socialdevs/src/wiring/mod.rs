//! How the services of one process are put together: [`wire`] starts the selected
//! [registry](crate::registry) entries in dependency order.
//!
//! Each service declares what it needs from the others as a port (a trait in its own crate).
//! When the service that owns the data runs in this process the port is a direct call
//! ([`in_process`]); when it runs elsewhere the port calls its `/internal/...` endpoints over
//! HTTP ([`remote`]), at `SOCIALDEVS_<SERVICE>_URL`. Each registry entry picks one or the
//! other per port; [`events`] holds the event pipeline (transport, relays, consumers).

pub(crate) mod events;
mod in_process;
mod remote;

use std::sync::Arc;

use socialdevs_events::worker::Worker;
use socialdevs_events::Transport;
use socialdevs_platform::health::ReadinessCheck;
use socialdevs_platform::metrics::Collector;
use socialdevs_platform::shutdown::Shutdown;

use crate::config::Settings;
use crate::keys::Keys;
use crate::registry::{self, Routers, StartContext, Started};
use crate::services::{Service, ServiceSet};
use crate::storage::{AnyOpened, Database};

pub use crate::registry::TimelinePorts;
pub use in_process::{
    InProcessAuthors, InProcessFollowGraph, InProcessPostCounts, InProcessPostFeed,
    InProcessPostViews, InProcessUserDirectory,
};
pub use remote::{
    RemoteAuthors, RemoteFollowGraph, RemotePostCounts, RemotePostFeed, RemotePostViews,
    RemoteUserDirectory,
};

/// The services of one process, wired.
pub struct Wired {
    /// The started services, in start order, with what they export.
    pub started: Vec<Started>,
    /// Every started service's routes, in start order.
    pub routers: Vec<Routers>,
    /// The process's event transport.
    pub transport: Arc<dyn Transport>,
    /// Background workers (relays, consumers); they stop with the shutdown signal.
    pub workers: Vec<Worker>,
    /// Readiness checks by service.
    pub readiness: Vec<(&'static str, Arc<dyn ReadinessCheck>)>,
    /// Scrape-time collectors.
    pub collectors: Vec<Collector>,
}

impl Wired {
    /// What the service called `name` exports of type `T` (e.g. users' `UsersService`),
    /// when it runs here.
    pub fn service<T: Clone + 'static>(&self, name: &str) -> Option<T> {
        self.started
            .iter()
            .find(|started| started.service.name() == name)
            .and_then(Started::export)
    }
}

/// Opens the stores of `services` on `db` (each with its outbox relay), then starts every
/// service in dependency order, each connecting its ports locally or over HTTP.
pub async fn wire(
    services: &ServiceSet,
    db: &Database,
    settings: &Settings,
    keys: &Keys,
    shutdown: &Shutdown,
) -> anyhow::Result<Wired> {
    registry::validate()?;
    for service in services.iter() {
        service.entry().check(settings, keys)?;
    }
    let transport = events::transport(settings, db).await?;
    let mut workers: Vec<(Service, Worker)> = Vec::new();
    let mut readiness = Vec::new();
    let mut collectors = Vec::new();

    // Stores first: a service may read another's store in process (see `Dependency::Store`).
    let mut stores: Vec<(Service, AnyOpened)> = Vec::new();
    for service in services.iter() {
        let Some(store) = service.entry().store() else {
            continue;
        };
        let opened = store.open(service.name(), db).await?;
        workers.push((
            service,
            events::relay(service.name(), &opened, &transport, shutdown).await?,
        ));
        readiness.push((service.name(), opened.readiness.clone()));
        collectors.push(opened.collector.clone());
        stores.push((service, opened));
    }

    let mut started = Vec::new();
    let mut routers = Vec::new();
    for service in services.iter() {
        let cx = StartContext {
            service,
            settings,
            db,
            transport: &transport,
            shutdown,
            issuer: keys.issuer.as_ref(),
            verifier: &keys.verifier,
            credential: &keys.internal,
            services,
            stores: &stores,
            started: &started,
        };
        let mut module = service.entry().start(&cx).await?;
        let (module_workers, module_readiness, module_collectors) = module.take_running();
        workers.extend(module_workers.into_iter().map(|worker| (service, worker)));
        readiness.extend(
            module_readiness
                .into_iter()
                .map(|check| (service.name(), check)),
        );
        collectors.extend(module_collectors);
        let (module_started, module_routers) = module.into_started();
        started.push(module_started);
        routers.push(module_routers);
    }

    for (service, worker) in &workers {
        readiness.push((service.name(), worker.readiness()));
    }
    Ok(Wired {
        started,
        routers,
        transport,
        workers: workers.into_iter().map(|(_, worker)| worker).collect(),
        readiness,
        collectors,
    })
}
