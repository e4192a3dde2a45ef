//! What an entry starts with ([`StartContext`]) and what it gives back ([`Module`]).

use std::any::Any;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use socialdevs_events::worker::Worker;
use socialdevs_events::{Consumer, LiveHub, Transport};
use socialdevs_platform::auth::{TokenIssuer, TokenVerifier};
use socialdevs_platform::health::ReadinessCheck;
use socialdevs_platform::housekeeping;
use socialdevs_platform::metrics::Collector;
use socialdevs_platform::remote::{ClientSettings, ServiceClient};
use socialdevs_platform::service_auth::ServiceCredential;
use socialdevs_platform::shutdown::Shutdown;
use utoipa_axum::router::OpenApiRouter;

use super::Dependency;
use crate::config::Settings;
use crate::services::{Service, ServiceSet};
use crate::storage::{AnyOpened, Database};
use crate::wiring::events;

/// What a service starts with: the process's settings, database, transport, shutdown signal
/// and keys, and the stores and services already opened and started in this process.
pub struct StartContext<'a> {
    /// The service being started.
    pub service: Service,
    /// The process's settings.
    pub settings: &'a Settings,
    /// The process's database.
    pub db: &'a Database,
    /// The process's event transport.
    pub transport: &'a Arc<dyn Transport>,
    /// Stops workers and ends live streams.
    pub shutdown: &'a Shutdown,
    /// Signs access tokens, when the private key is configured.
    pub issuer: Option<&'a TokenIssuer>,
    /// Verifies access tokens.
    pub verifier: &'a TokenVerifier,
    /// Signs this service's calls to the others.
    pub credential: &'a ServiceCredential,
    pub(crate) services: &'a ServiceSet,
    pub(crate) stores: &'a [(Service, AnyOpened)],
    pub(crate) started: &'a [Started],
}

impl StartContext<'_> {
    /// The service's own store, as its port type (e.g. `dyn UserStore`).
    pub fn own_store<S: ?Sized + Send + Sync + 'static>(&self) -> anyhow::Result<Arc<S>> {
        self.opened(self.service.name())?.with_context(|| {
            format!(
                "the {} store was not opened: declare it in its registry entry",
                self.service
            )
        })
    }

    /// `service`'s store when `service` runs in this process, else `None` (call it over
    /// HTTP). Needs [`Dependency::Store`]`(service)` declared.
    pub fn store<S: ?Sized + Send + Sync + 'static>(
        &self,
        service: &'static str,
    ) -> anyhow::Result<Option<Arc<S>>> {
        self.declared(Dependency::Store(service))?;
        self.opened(service)
    }

    fn opened<S: ?Sized + Send + Sync + 'static>(
        &self,
        service: &str,
    ) -> anyhow::Result<Option<Arc<S>>> {
        if !self.services.contains_name(service) {
            return Ok(None);
        }
        let opened = self
            .stores
            .iter()
            .find(|(s, _)| s.name() == service)
            .with_context(|| format!("the {service} service has no store"))?;
        opened.1.store_as::<S>().map(Some).with_context(|| {
            format!(
                "the {service} store is not a {}",
                std::any::type_name::<S>()
            )
        })
    }

    /// What `service` exports (e.g. users' `UsersService`) when it runs in this process,
    /// else `None` (call it over HTTP). Needs [`Dependency::Service`]`(service)` declared,
    /// which starts it first.
    pub fn local<T: Clone + 'static>(&self, service: &'static str) -> anyhow::Result<Option<T>> {
        self.declared(Dependency::Service(service))?;
        if !self.services.contains_name(service) {
            return Ok(None);
        }
        let started = self
            .started
            .iter()
            .find(|m| m.service.name() == service)
            .with_context(|| format!("{service} has not started before {}", self.service))?;
        started.export::<T>().map(Some).with_context(|| {
            format!(
                "{service} exports no {} for {}",
                std::any::type_name::<T>(),
                self.service
            )
        })
    }

    /// A client of `service`'s `/internal/...` endpoints at its URL
    /// ([`Settings::service_url`]), for the remote adapters.
    pub fn client(&self, service: &str) -> anyhow::Result<ServiceClient> {
        anyhow::ensure!(
            self.service
                .entry()
                .dependencies()
                .iter()
                .any(|dep| dep.service() == service),
            "{} calls {service} without declaring the dependency",
            self.service
        );
        let callee = Service::named(service)
            .with_context(|| format!("the registry has no {service} service"))?;
        let url = self.settings.service_url(callee);
        tracing::info!(caller = self.service.name(), service = callee.name(), %url, "calling over HTTP");
        Ok(ServiceClient::new(
            self.service.name(),
            callee.name(),
            &url,
            ClientSettings::default(),
        )?
        .with_credential(self.credential.clone()))
    }

    /// Starts a durable consumer of this service (named `<service>-<group>`).
    pub async fn durable_consumer(&self, consumer: Consumer) -> Worker {
        events::durable(self.service.name(), consumer, self.transport, self.shutdown).await
    }

    /// Starts a housekeeping job of this service (named `<service>-housekeeping-<job>`): `run`
    /// deletes what has expired and says how many rows, every `SOCIALDEVS_HOUSEKEEPING_INTERVAL_SECS`.
    pub fn housekeeping<F, Fut>(&self, job: &'static str, run: F) -> Worker
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = anyhow::Result<u64>> + Send + 'static,
    {
        Worker::spawn(
            format!("{}-housekeeping-{job}", self.service.name()),
            housekeeping::run(
                job,
                self.settings.housekeeping_interval(),
                self.shutdown.clone(),
                run,
            ),
        )
    }

    /// Starts the live consumer feeding `hub` with every event of `topics` from now on
    /// (named `<service>-live`); subscribed when this returns.
    pub async fn live_feed(&self, hub: LiveHub, topics: &[&'static str]) -> Worker {
        events::live_feed(
            self.service.name(),
            hub,
            topics,
            self.transport,
            self.shutdown,
        )
        .await
    }

    /// An empty module of this service, serving `router`.
    pub fn module(&self, router: OpenApiRouter) -> Module {
        Module {
            service: self.service,
            router,
            internal: Router::new(),
            workers: Vec::new(),
            readiness: Vec::new(),
            collectors: Vec::new(),
            exports: Vec::new(),
        }
    }

    fn declared(&self, dependency: Dependency) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.service.entry().dependencies().contains(&dependency),
            "{} uses {} in process without declaring {dependency:?} in its registry entry",
            self.service,
            dependency.service()
        );
        Ok(())
    }
}

/// What a started service contributes to the process (made by [`StartContext::module`]).
pub struct Module {
    service: Service,
    /// Its public routes, with their OpenAPI description.
    pub router: OpenApiRouter,
    /// Its `/internal/...` routes, for the services that call it from other processes.
    pub internal: Router,
    /// Its background workers (consumers); they stop with the shutdown signal.
    pub workers: Vec<Worker>,
    /// Its readiness checks beyond its store's and workers'.
    pub readiness: Vec<Arc<dyn ReadinessCheck>>,
    /// Its scrape-time collectors beyond its store's.
    pub collectors: Vec<Collector>,
    exports: Vec<Arc<dyn Any + Send + Sync>>,
}

impl Module {
    /// The service it runs.
    pub fn service(&self) -> Service {
        self.service
    }

    /// Serves `router` at `/internal/...`.
    pub fn internal(mut self, router: Router) -> Self {
        self.internal = router;
        self
    }

    /// Adds a background worker.
    pub fn worker(mut self, worker: Worker) -> Self {
        self.workers.push(worker);
        self
    }

    /// Offers `value` (e.g. the service's handle) to the services started after it.
    pub fn export<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.exports.push(Arc::new(value));
        self
    }

    /// Its workers, readiness checks and collectors, taken out; the rest stays.
    pub(crate) fn take_running(
        &mut self,
    ) -> (Vec<Worker>, Vec<Arc<dyn ReadinessCheck>>, Vec<Collector>) {
        (
            std::mem::take(&mut self.workers),
            std::mem::take(&mut self.readiness),
            std::mem::take(&mut self.collectors),
        )
    }

    /// What the services started after it see, and its routes.
    pub(crate) fn into_started(self) -> (Started, Routers) {
        let started = Started {
            service: self.service,
            exports: self.exports,
        };
        let routers = Routers {
            service: self.service,
            public: self.router,
            internal: self.internal,
        };
        (started, routers)
    }
}

/// A started service's routes.
pub struct Routers {
    /// The service.
    pub service: Service,
    /// Its public routes, with their OpenAPI description.
    pub public: OpenApiRouter,
    /// Its `/internal/...` routes.
    pub internal: Router,
}

/// A started service of this process, as the others see it: what it exports.
#[derive(Clone)]
pub struct Started {
    /// The service.
    pub service: Service,
    exports: Vec<Arc<dyn Any + Send + Sync>>,
}

impl Started {
    /// Its export of type `T`, if any.
    pub fn export<T: Clone + 'static>(&self) -> Option<T> {
        self.exports
            .iter()
            .find_map(|value| value.downcast_ref::<T>())
            .cloned()
    }
}
