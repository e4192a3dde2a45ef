//! The services one process can run: `--services all` (the default) or a list. Which
//! services exist, their names, ports and order all come from the [`registry`](crate::registry).

use std::fmt;
use std::str::FromStr;

use crate::registry::{self, Entry};

/// A SocialDevs service: one entry of the registry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Service(usize);

impl Service {
    /// Every service, in dependency order (a service after those it needs started).
    pub fn all() -> impl Iterator<Item = Service> {
        (0..registry::ordered().len()).map(Service)
    }

    /// The service called `name`, if the registry has it.
    pub fn named(name: &str) -> Option<Service> {
        Service::all().find(|service| service.name() == name)
    }

    /// Its registry entry.
    pub fn entry(self) -> &'static dyn Entry {
        registry::ordered()[self.0]
    }

    /// The name used on the command line, in metrics and logs.
    pub fn name(self) -> &'static str {
        self.entry().name()
    }

    /// The port the service listens on when it runs alone.
    pub fn default_port(self) -> u16 {
        self.entry().default_port()
    }

    /// The port of its internal listener when it runs alone: the public one + 1000.
    pub fn default_internal_port(self) -> u16 {
        self.default_port().saturating_add(INTERNAL_PORT_OFFSET)
    }
}

/// How far above its public port a process serves `/internal/...` by default.
pub const INTERNAL_PORT_OFFSET: u16 = 1000;

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Service").field(&self.name()).finish()
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Service {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Service::named(s.trim()).ok_or_else(|| {
            let names: Vec<&str> = Service::all().map(Service::name).collect();
            format!(
                "unknown service `{s}`; choose from all, {}",
                names.join(", ")
            )
        })
    }
}

/// The services this process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSet(Vec<Service>);

impl ServiceSet {
    /// Every service (all-in-one).
    pub fn all() -> Self {
        Self(Service::all().collect())
    }

    /// Whether `service` runs here.
    pub fn contains(&self, service: Service) -> bool {
        self.0.contains(&service)
    }

    /// Whether the service called `name` runs here.
    pub fn contains_name(&self, name: &str) -> bool {
        self.0.iter().any(|service| service.name() == name)
    }

    /// Whether every service runs here.
    pub fn is_all(&self) -> bool {
        Service::all().all(|s| self.contains(s))
    }

    /// The services, in dependency order.
    pub fn iter(&self) -> impl Iterator<Item = Service> + '_ {
        self.0.iter().copied()
    }

    /// 8080 for all-in-one or several services; the service's own port when it runs alone.
    pub fn default_port(&self) -> u16 {
        match self.0.as_slice() {
            [one] => one.default_port(),
            _ => 8080,
        }
    }
}

impl FromStr for ServiceSet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "all" {
            return Ok(Self::all());
        }
        let mut services: Vec<Service> = s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(Service::from_str)
            .collect::<Result<_, _>>()?;
        if services.is_empty() {
            return Err("name at least one service, or `all`".into());
        }
        services.sort();
        services.dedup();
        Ok(Self(services))
    }
}

impl fmt::Display for ServiceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all");
        }
        let names: Vec<&str> = self.0.iter().map(|s| s.name()).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_service_lists() {
        assert!(ServiceSet::from_str("all").unwrap().is_all());
        let two = ServiceSet::from_str("posts, users").unwrap();
        assert_eq!(two.to_string(), "users,posts");
        assert_eq!(two.default_port(), 8080);
        assert_eq!(ServiceSet::from_str("users").unwrap().default_port(), 8081);
        assert!(ServiceSet::from_str("billing").is_err());
        assert!(ServiceSet::from_str(",").is_err());
    }

    #[test]
    fn services_come_from_the_registry_in_dependency_order() {
        let names: Vec<&str> = Service::all().map(Service::name).collect();
        assert_eq!(names, ["users", "posts", "timeline", "notifications"]);
        let ports: Vec<u16> = Service::all().map(Service::default_port).collect();
        assert_eq!(ports, [8081, 8082, 8083, 8084]);
        assert_eq!(ServiceSet::all().to_string(), "all");
        assert_eq!(
            ServiceSet::from_str("timeline,users").unwrap().to_string(),
            "users,timeline"
        );
        let unknown = ServiceSet::from_str("billing").unwrap_err();
        assert_eq!(
            unknown,
            "unknown service `billing`; choose from all, users, posts, timeline, notifications"
        );
    }
}
