//! The registry of services one process can run: `--services all` (the default) or a list.

use std::fmt;
use std::str::FromStr;

/// A SocialDevs service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Accounts, tokens, profiles, follows.
    Users,
    /// Posts, replies, likes.
    Posts,
    /// Home timelines.
    Timeline,
}

impl Service {
    /// Every service, in dependency order.
    pub const ALL: [Service; 3] = [Service::Users, Service::Posts, Service::Timeline];

    /// The name used on the command line, in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Service::Users => socialdevs_users::SERVICE,
            Service::Posts => socialdevs_posts::SERVICE,
            Service::Timeline => socialdevs_timeline::SERVICE,
        }
    }

    /// The port the service listens on when it runs alone.
    pub fn default_port(self) -> u16 {
        match self {
            Service::Users => 8081,
            Service::Posts => 8082,
            Service::Timeline => 8083,
        }
    }
}

impl FromStr for Service {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Service::ALL
            .into_iter()
            .find(|svc| svc.name() == s.trim())
            .ok_or_else(|| {
                format!(
                    "unknown service `{s}`; choose from all, {}",
                    Service::ALL.map(Service::name).join(", ")
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
        Self(Service::ALL.to_vec())
    }

    /// Whether `service` runs here.
    pub fn contains(&self, service: Service) -> bool {
        self.0.contains(&service)
    }

    /// Whether every service runs here.
    pub fn is_all(&self) -> bool {
        Service::ALL.iter().all(|s| self.contains(*s))
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
}
