//! The service registry, in the spirit of Grafana Loki's module manager: one [`Entry`] per
//! service, listed in [`ENTRIES`]. Everything that differs between services is declared
//! there — name, default port, [`Dependency`]s, store and migrations, OpenAPI document, and
//! how it starts (routers, workers, and its ports, in process or over HTTP) — while
//! `--services`, `socialdevs migrate`, the OpenAPI document and [`wire`](crate::wiring::wire)
//! read the list.
//!
//! # How to add a service
//!
//! 1. Write `registry/<service>.rs` with a unit struct implementing [`Entry`]: its `name`
//!    (the crate's `SERVICE`), a `default_port` no other entry uses, the `dependencies` whose
//!    ports it calls, its `store` (a [`StoreSpec`](crate::storage::StoreSpec): migrations and
//!    adapters, if it owns data), its `openapi` document, optionally a `check` of the
//!    settings, and `start`, which builds the service from the [`StartContext`] and returns
//!    its [`Module`]: public router, internal router, workers (durable consumers, live
//!    feeds) and exports for the services that call it in process.
//! 2. For each port it calls, pick the adapter with [`StartContext::local`] (a direct call
//!    into a service started in this process, `wiring::in_process`) or else
//!    [`StartContext::client`] (HTTP at `SOCIALDEVS_<SERVICE>_URL`, `wiring::remote`).
//! 3. Add `mod <service>;` below and one line to [`ENTRIES`].
//!
//! The store's outbox relay, its readiness check and its pool metrics come with the store;
//! the start order comes from the dependencies; a process refuses to start when the list is
//! inconsistent ([`validate`]). Routing the service's prefix at the edge and its deployment
//! live outside this crate.

mod module;
mod notifications;
mod posts;
mod timeline;
mod users;

use std::sync::OnceLock;

use async_trait::async_trait;

use crate::config::Settings;
use crate::keys::Keys;
use crate::storage::StoreOpener;

pub use module::{Module, Routers, StartContext, Started};
pub use timeline::TimelinePorts;

/// Every service, one line each. The order here is the order of the OpenAPI document and
/// the tie-break of the start order; [`ordered`] sorts them by dependency.
pub static ENTRIES: &[&dyn Entry] = &[
    &users::Users,
    &posts::Posts,
    &timeline::Timeline,
    &notifications::Notifications,
];

/// What the registry knows of one service.
#[async_trait]
pub trait Entry: Send + Sync {
    /// Its name: on the command line, in metrics and logs, and in `SOCIALDEVS_<NAME>_URL`.
    fn name(&self) -> &'static str;

    /// The port it listens on when it runs alone.
    fn default_port(&self) -> u16;

    /// The services whose ports it calls.
    fn dependencies(&self) -> &'static [Dependency] {
        &[]
    }

    /// Its store (migrations and adapters), when it owns data.
    fn store(&self) -> Option<&'static dyn StoreOpener> {
        None
    }

    /// Its public operations, for the platform-wide OpenAPI document.
    fn openapi(&self) -> utoipa::openapi::OpenApi;

    /// Refuses settings it cannot run with, before any store or transport opens.
    fn check(&self, _settings: &Settings, _keys: &Keys) -> anyhow::Result<()> {
        Ok(())
    }

    /// Starts the service in this process, after the services it depends on.
    async fn start(&self, cx: &StartContext<'_>) -> anyhow::Result<Module>;
}

/// A service whose ports an entry calls. When that service runs elsewhere, either kind is
/// an HTTP client at its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    /// In process, the port is a direct call into the started service
    /// ([`StartContext::local`]), so that service starts first.
    Service(&'static str),
    /// In process, the port reads the service's store directly ([`StartContext::store`]).
    /// Stores open before any service starts, so this orders nothing: it is how two services
    /// that call each other (users and posts) start without a cycle.
    Store(&'static str),
}

impl Dependency {
    /// The service depended on.
    pub fn service(self) -> &'static str {
        match self {
            Dependency::Service(name) | Dependency::Store(name) => name,
        }
    }
}

/// The entry called `name`.
pub fn find(name: &str) -> Option<&'static dyn Entry> {
    ENTRIES.iter().copied().find(|entry| entry.name() == name)
}

/// The entries in start order: each after the services it needs started
/// ([`Dependency::Service`]), otherwise in list order.
pub fn ordered() -> &'static [&'static dyn Entry] {
    static ORDERED: OnceLock<Vec<&'static dyn Entry>> = OnceLock::new();
    ORDERED.get_or_init(|| {
        let mut ordered: Vec<&'static dyn Entry> = Vec::with_capacity(ENTRIES.len());
        while ordered.len() < ENTRIES.len() {
            let placed = |name: &str| ordered.iter().any(|e| e.name() == name);
            let next = ENTRIES.iter().copied().find(|entry| {
                !placed(entry.name())
                    && entry.dependencies().iter().all(|dep| match dep {
                        Dependency::Service(name) => placed(name) || find(name).is_none(),
                        Dependency::Store(_) => true,
                    })
            });
            match next {
                Some(entry) => ordered.push(entry),
                // A cycle (reported by `validate`): the rest in list order.
                None => {
                    let rest: Vec<_> = ENTRIES
                        .iter()
                        .copied()
                        .filter(|e| !ordered.iter().any(|o| o.name() == e.name()))
                        .collect();
                    ordered.extend(rest);
                }
            }
        }
        ordered
    })
}

/// Checks the list: names and ports unique, dependencies known, no cycle among the services
/// that must start first.
pub fn validate() -> anyhow::Result<()> {
    for (i, entry) in ENTRIES.iter().enumerate() {
        let name = entry.name();
        anyhow::ensure!(!name.is_empty(), "a registry entry has no name");
        for other in &ENTRIES[..i] {
            anyhow::ensure!(
                other.name() != name,
                "two registry entries are named {name}"
            );
            anyhow::ensure!(
                other.default_port() != entry.default_port(),
                "{name} and {} both default to port {}",
                other.name(),
                entry.default_port()
            );
        }
        for dep in entry.dependencies() {
            anyhow::ensure!(dep.service() != name, "{name} lists itself as a dependency");
            anyhow::ensure!(
                find(dep.service()).is_some(),
                "{name} depends on {}, which the registry does not list",
                dep.service()
            );
        }
    }
    for (i, entry) in ordered().iter().enumerate() {
        for dep in entry.dependencies() {
            if let Dependency::Service(needed) = dep {
                anyhow::ensure!(
                    ordered()[..i].iter().any(|e| e.name() == *needed),
                    "{} and {needed} need each other started first: make one of the \
                     dependencies a Dependency::Store",
                    entry.name()
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_consistent() {
        validate().unwrap();
        let order: Vec<&str> = ordered().iter().map(|e| e.name()).collect();
        assert_eq!(order, ["users", "posts", "timeline", "notifications"]);
    }

    #[test]
    fn entries_declare_their_stores_and_dependencies() {
        let with_store: Vec<&str> = ENTRIES
            .iter()
            .filter(|e| e.store().is_some())
            .map(|e| e.name())
            .collect();
        assert_eq!(with_store, ["users", "posts", "notifications"]);
        let timeline = find("timeline").unwrap();
        assert_eq!(
            timeline.dependencies(),
            [Dependency::Service("users"), Dependency::Service("posts")]
        );
        assert!(find("billing").is_none());
    }

    #[test]
    fn every_entry_documents_its_operations() {
        for entry in ENTRIES {
            assert!(
                !entry.openapi().paths.paths.is_empty(),
                "{} has no operations",
                entry.name()
            );
        }
    }
}
