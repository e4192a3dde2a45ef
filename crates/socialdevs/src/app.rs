//! [`Application`]: build (bind, migrate, wire) and run. `main` and the tests start SocialDevs
//! the same way.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use socialdevs_platform::health::Readiness;
use socialdevs_platform::ratelimit::{self, Quotas, RateLimits, TrustedProxies};
use socialdevs_platform::shutdown::{self, Shutdown, ShutdownTrigger};
use socialdevs_platform::{health, http, metrics, service_auth};
use tokio::net::TcpListener;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Settings;
use crate::keys;
use crate::storage::Database;
use crate::web::{self, WebApp};
use crate::wiring::wire;
use socialdevs_events::worker::Worker;

/// A bound, wired SocialDevs process, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    port: u16,
    readiness: Readiness,
    trigger: ShutdownTrigger,
    shutdown: Shutdown,
    grace: Duration,
    workers: Vec<Worker>,
    /// `/internal/...` for the other services (service token), `/metrics`, `/healthz` and
    /// `/readyz`, on a listener of its own.
    internal: Option<(TcpListener, Router)>,
    internal_port: Option<u16>,
}

impl Application {
    /// Opens and migrates the database, loads keys, wires the selected services and binds
    /// the listener (port 0 picks a free port).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // The recorder first: services register their series (at zero) while they are wired,
        // and a series registered before the recorder exists is lost.
        metrics::handle();
        let db = Database::open(&settings).await?;
        let keys = keys::load(&settings)?;
        let (trigger, shutdown) = shutdown::channel();
        let wired = wire(&settings.services, &db, &settings, &keys, &shutdown).await?;

        let mut api = OpenApiRouter::new();
        let mut internal = Router::new();
        for routers in wired.routers {
            api = api.merge(routers.public);
            internal = internal.merge(routers.internal);
        }
        let mut readiness = Readiness::default();
        for service in settings.services.iter() {
            readiness.register(service.name());
        }
        for (name, check) in wired.readiness.clone() {
            readiness.add(name, check);
        }
        let (api_router, _) = api.split_for_parts();
        let openapi = crate::openapi::document();
        let router = Router::new().merge(api_router);
        let metrics = metrics::router(wired.collectors);
        // Internal endpoints exist only where another process may call them, on a listener
        // of their own, for callers with a service token. `/metrics` (and health) are served
        // there too, without a token, for the scraper; the public port then has no `/metrics`.
        let (internal, public_metrics) = match settings.internal_listen_addr() {
            Some(addr) => {
                let listener = TcpListener::bind(&addr)
                    .await
                    .with_context(|| format!("binding the internal listener {addr}"))?;
                let router = internal
                    .layer(axum::middleware::from_fn_with_state(
                        keys.internal.clone(),
                        service_auth::require_service,
                    ))
                    .merge(metrics)
                    .merge(health::router(readiness.clone()));
                let router = http::harden(router.fallback(http::not_found), &settings.http());
                (Some((listener, router)), None)
            }
            // All-in-one: nobody calls `/internal`, so `/metrics` stays on the one port.
            None => (None, Some(metrics)),
        };
        let internal_port = match &internal {
            Some((listener, _)) => Some(listener.local_addr()?.port()),
            None => None,
        };
        let router = router
            .merge(SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", openapi))
            .merge(health::router(readiness.clone()));
        let router = match public_metrics {
            Some(metrics) => router.merge(metrics),
            None => router,
        };
        socialdevs_events::metrics::describe();
        let router = if settings.services.is_all() {
            let web_app = WebApp::new(&settings.web_dir);
            router.fallback(move |request: axum::extract::Request| {
                web::serve(web_app.clone(), request)
            })
        } else {
            router.fallback(http::not_found)
        };
        let limits = rate_limits(&settings, &keys)?;
        limits.describe();
        let router = http::harden(router, &settings.http()).layer(
            axum::middleware::from_fn_with_state(limits, ratelimit::limit),
        );

        let addr = settings.listen_addr();
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let port = listener.local_addr()?.port();
        tracing::info!(
            services = %settings.services,
            address = %listener.local_addr()?,
            internal_port,
            database = %db.describe(),
            "socialdevs ready to serve"
        );
        Ok(Self {
            listener,
            router,
            port,
            readiness,
            trigger,
            shutdown,
            grace: Duration::from_secs(settings.shutdown_grace_secs),
            workers: wired.workers,
            internal,
            internal_port,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the internal listener, when this process has one.
    pub fn internal_port(&self) -> Option<u16> {
        self.internal_port
    }

    /// Serves until SIGTERM or Ctrl-C, then drains.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown::signal()).await
    }

    /// Serves until `stop` resolves: readiness turns 503, live streams end, in-flight
    /// requests get the grace period to finish.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let readiness = self.readiness.clone();
        let trigger = self.trigger;
        let internal = self.internal.map(|(listener, router)| {
            let shutdown = self.shutdown.clone();
            tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(shutdown.wait())
                    .await
            })
        });
        let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            stop.await;
            readiness.start_draining();
            trigger.trigger();
            let _ = stopped_tx.send(());
        });
        let server = tokio::spawn(async move { server.await });
        let grace = self.grace;
        let workers = self.workers;
        let mut server = server;
        tokio::select! {
            result = &mut server => return result.context("server task")?.context("serving"),
            _ = stopped_rx => {}
        }
        let served = match tokio::time::timeout(grace, &mut server).await {
            Ok(result) => result.context("server task")?.context("serving"),
            Err(_) => {
                tracing::warn!(
                    grace_secs = grace.as_secs(),
                    "requests still running after the grace period; stopping"
                );
                server.abort();
                Ok(())
            }
        };
        if let Some(mut internal) = internal {
            if tokio::time::timeout(Duration::from_secs(1), &mut internal)
                .await
                .is_err()
            {
                internal.abort();
            }
        }
        // Relays publish what the last requests wrote and flush; consumers commit.
        for worker in workers {
            if tokio::time::timeout(Duration::from_secs(10), worker.task)
                .await
                .is_err()
            {
                tracing::warn!(worker = %worker.name, "worker did not stop in time");
            }
        }
        served
    }
}

/// The process's rate limits: counted on Redis when one is configured (every replica shares
/// the budget), else in memory.
fn rate_limits(settings: &Settings, keys: &keys::Keys) -> anyhow::Result<RateLimits> {
    let quotas = Quotas::parse(&settings.rate_limits)
        .map_err(|err| anyhow::anyhow!("SOCIALDEVS_RATE_LIMITS: {err}"))?;
    let proxies = TrustedProxies::parse(&settings.trusted_proxies)
        .map_err(|err| anyhow::anyhow!("SOCIALDEVS_TRUSTED_PROXIES: {err}"))?;
    let limits = match &settings.redis_url {
        Some(url) => {
            let store =
                ratelimit::redis::RedisRateStore::new(url, &settings.redis_namespace, &quotas)?;
            RateLimits::new(quotas, std::sync::Arc::new(store))
        }
        None => RateLimits::in_memory(quotas),
    };
    Ok(limits.behind(proxies).verifying(keys.verifier.clone()))
}

/// A database URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}
