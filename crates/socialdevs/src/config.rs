//! Settings: every one from the environment (`SOCIALDEVS_*`) or the matching flag, with
//! defaults that make `socialdevs serve` work with nothing set.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::services::{Service, ServiceSet};

/// Settings shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address the HTTP server binds (port 0 picks a free port).
    #[arg(long, env = "SOCIALDEVS_LISTEN")]
    pub listen: Option<String>,

    /// Which services this process runs: `all` or a comma list (users,posts,timeline).
    #[arg(long, env = "SOCIALDEVS_SERVICES", default_value = "all")]
    pub services: ServiceSet,

    /// Where the embedded database and the development keys live.
    #[arg(long, env = "SOCIALDEVS_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// `sqlite://...` (default: a file in the data dir) or `postgres://...`.
    #[arg(long, env = "SOCIALDEVS_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// PostgreSQL: the URL of the role that owns the schemas and runs their migrations
    /// (`socialdevs migrate`, and migrations at start); default `SOCIALDEVS_DATABASE_URL`.
    #[arg(long, env = "SOCIALDEVS_MIGRATE_DATABASE_URL", hide_env_values = true)]
    pub migrate_database_url: Option<String>,

    /// PostgreSQL: the URL the users service connects with, as its own login role (default
    /// `SOCIALDEVS_DATABASE_URL`); `socialdevs migrate --grant-roles` creates that role.
    #[arg(long, env = "SOCIALDEVS_USERS_DATABASE_URL", hide_env_values = true)]
    pub users_database_url: Option<String>,

    /// PostgreSQL: the URL the posts service connects with, as its own login role.
    #[arg(long, env = "SOCIALDEVS_POSTS_DATABASE_URL", hide_env_values = true)]
    pub posts_database_url: Option<String>,

    /// PostgreSQL: the URL the notifications service connects with, as its own login role.
    #[arg(
        long,
        env = "SOCIALDEVS_NOTIFICATIONS_DATABASE_URL",
        hide_env_values = true
    )]
    pub notifications_database_url: Option<String>,

    /// PostgreSQL: the URL the embedded event transport (no Kafka) connects with, as its own
    /// login role (its `events` schema, and reading every service's outbox).
    #[arg(long, env = "SOCIALDEVS_EVENTS_DATABASE_URL", hide_env_values = true)]
    pub events_database_url: Option<String>,

    /// Whether a process applies its services' pending migrations when it starts (`true`), or
    /// only checks that their schemas are current and refuses to start otherwise (`false`:
    /// for services connecting as a role that may not change its schema).
    #[arg(
        long,
        env = "SOCIALDEVS_MIGRATE_AT_START",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub migrate_at_start: bool,

    /// PostgreSQL: connections per service pool.
    #[arg(
        long,
        env = "SOCIALDEVS_DATABASE_MAX_CONNECTIONS",
        default_value_t = 10
    )]
    pub database_max_connections: u32,

    /// PostgreSQL: seconds a request waits for a connection before answering 503.
    #[arg(
        long,
        env = "SOCIALDEVS_DATABASE_ACQUIRE_TIMEOUT_SECS",
        default_value_t = 3
    )]
    pub database_acquire_timeout_secs: u64,

    /// PostgreSQL: seconds one statement may run.
    #[arg(
        long,
        env = "SOCIALDEVS_DATABASE_STATEMENT_TIMEOUT_SECS",
        default_value_t = 5
    )]
    pub database_statement_timeout_secs: u64,

    /// Where the users service answers other services (its internal listener, e.g.
    /// `http://users:9081`), when this process does not run it.
    #[arg(long, env = "SOCIALDEVS_USERS_URL")]
    pub users_url: Option<String>,

    /// Where the posts service answers other services (its internal listener, e.g.
    /// `http://posts:9082`), when this process does not run it.
    #[arg(long, env = "SOCIALDEVS_POSTS_URL")]
    pub posts_url: Option<String>,

    /// Where this process serves `/internal/...` to the other services when it runs some
    /// services, not all (address:port). Not for the edge or an Ingress: only services call
    /// it, with a service token. Prometheus scrapes `/metrics` here (no token; the public
    /// port then has none), and `/healthz` and `/readyz` answer here too. Default: the public
    /// host, its port + 1000 (users 9081, posts 9082, ...; any free port when the public port
    /// is 0). All-in-one has none unless this is set: set it to keep `/metrics` off the
    /// public port.
    #[arg(long, env = "SOCIALDEVS_INTERNAL_LISTEN")]
    pub internal_listen: Option<String>,

    /// File with the secret services sign their calls to each other with (at least 32
    /// bytes; `socialdevs keygen` writes `internal.secret`). Every service of a deployment
    /// needs the same. Unset: a development secret in the data dir.
    #[arg(long, env = "SOCIALDEVS_INTERNAL_SECRET_FILE")]
    pub internal_secret_file: Option<PathBuf>,

    /// PKCS#8 PEM file with the Ed25519 key that signs access tokens (users service).
    #[arg(long, env = "SOCIALDEVS_JWT_PRIVATE_KEY_FILE")]
    pub jwt_private_key_file: Option<PathBuf>,

    /// SPKI PEM file with the Ed25519 key that verifies access tokens.
    #[arg(long, env = "SOCIALDEVS_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,

    /// The built web app to serve at `/` (all-in-one).
    #[arg(long, env = "SOCIALDEVS_WEB_DIR", default_value = "./web/dist")]
    pub web_dir: PathBuf,

    /// Origins allowed to call the API from a browser (comma list); same-origin when empty.
    #[arg(long, env = "SOCIALDEVS_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Seconds a request may take before it is answered 504 (streams are not cut).
    #[arg(long, env = "SOCIALDEVS_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Seconds to let in-flight requests finish after SIGTERM.
    #[arg(long, env = "SOCIALDEVS_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    pub shutdown_grace_secs: u64,

    /// Rate limits, changing the defaults (comma list): `CLASS=N/PERIOD` (`login=25/5m`),
    /// `CLASS=off`, `*=N/PERIOD` for every class, or `off` for none. Classes: `login` and
    /// `register` and `refresh` per client address, `login-account` per account name,
    /// `refresh-family` per sign-in, `posts` and `api` per user, `anonymous` per client
    /// address. Counted on Redis when
    /// `SOCIALDEVS_REDIS_URL` is set (shared by every replica), else in the process.
    #[arg(long, env = "SOCIALDEVS_RATE_LIMITS", value_delimiter = ',')]
    pub rate_limits: Vec<String>,

    /// Reverse proxies in front of this process (comma list of networks or addresses, e.g.
    /// `10.0.0.0/8,127.0.0.1`): for requests from them the client address (rate limits) is
    /// read from `X-Forwarded-For`. Empty: the client is whoever connects.
    #[arg(long, env = "SOCIALDEVS_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// Kafka bootstrap servers; unset means the embedded transport (the outbox tables are
    /// the log, in the database).
    #[arg(long, env = "SOCIALDEVS_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,

    /// Partitions of the topics created at start when missing.
    #[arg(long, env = "SOCIALDEVS_KAFKA_PARTITIONS", default_value_t = 3)]
    pub kafka_partitions: i32,

    /// Kafka: the longest the broker may hold a fetch of a subscription people watch (live
    /// streams), in milliseconds.
    #[arg(long, env = "SOCIALDEVS_KAFKA_FETCH_WAIT_MS", default_value_t = 10)]
    pub kafka_fetch_wait_ms: u64,

    /// Kafka: the same for background subscriptions (fan-out, caches, stored notifications,
    /// devices), in milliseconds.
    #[arg(
        long,
        env = "SOCIALDEVS_KAFKA_BACKGROUND_FETCH_WAIT_MS",
        default_value_t = 100
    )]
    pub kafka_background_fetch_wait_ms: u64,

    /// Kafka: the message headers each event carries, `all` (`content-type`, `ce_type`,
    /// `ce_id`, `traceparent`, `tracestate`) or `content-type` (the event is the payload
    /// either way).
    #[arg(long, env = "SOCIALDEVS_KAFKA_HEADERS", default_value = "all")]
    pub kafka_headers: String,

    /// Redis for the timeline cache and rate limits; unset means in memory.
    #[arg(long, env = "SOCIALDEVS_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// How live streams get their events with a broker (`SOCIALDEVS_KAFKA_BROKERS`): `redis`
    /// (pub/sub on `SOCIALDEVS_REDIS_URL`: pushed at once), `broker` (a live reader per process
    /// polling the broker), or `auto` (redis when a Redis is configured). Every process of a
    /// deployment must agree: relays publish live where the subscribers read.
    #[arg(long, env = "SOCIALDEVS_LIVE_EVENTS", default_value = "auto")]
    pub live_events: String,

    /// First part of every Redis key, so deployments (or tests) can share a server.
    #[arg(long, env = "SOCIALDEVS_REDIS_NAMESPACE", default_value = "socialdevs")]
    pub redis_namespace: String,

    /// Posts kept per home timeline.
    #[arg(long, env = "SOCIALDEVS_TIMELINE_CAP", default_value_t = 800)]
    pub timeline_cap: usize,

    /// Authors with more followers are not fanned out on write: their posts are merged in on read.
    #[arg(
        long,
        env = "SOCIALDEVS_TIMELINE_FANOUT_MAX_FOLLOWERS",
        default_value_t = 10_000
    )]
    pub timeline_fanout_max_followers: u32,

    /// Live streams of each kind (home timeline, notifications) one user may have open
    /// (503 beyond).
    #[arg(
        long,
        env = "SOCIALDEVS_TIMELINE_STREAMS_PER_USER",
        default_value_t = 5
    )]
    pub timeline_streams_per_user: usize,

    /// Live streams of each kind one process holds at most (503 beyond).
    #[arg(
        long,
        env = "SOCIALDEVS_TIMELINE_STREAMS_MAX",
        default_value_t = 10_000
    )]
    pub timeline_streams_max: usize,

    /// In-memory timeline store (no Redis): at most this many users' timelines.
    #[arg(
        long,
        env = "SOCIALDEVS_TIMELINE_MEMORY_USERS",
        default_value_t = 50_000
    )]
    pub timeline_memory_users: usize,

    /// Password hashes (sign-up, sign-in) one users process runs at once; each holds ~19 MiB
    /// while it runs. Default: the number of cores, at most 4.
    #[arg(long, env = "SOCIALDEVS_PASSWORD_HASH_CONCURRENCY")]
    pub password_hash_concurrency: Option<usize>,

    /// Password hashes that may wait for a turn; beyond, sign-ups and sign-ins get 503 with
    /// `Retry-After`.
    #[arg(long, env = "SOCIALDEVS_PASSWORD_HASH_QUEUE", default_value_t = 64)]
    pub password_hash_queue: usize,

    /// Accounts one user may follow at most (422 beyond).
    #[arg(long, env = "SOCIALDEVS_MAX_FOLLOWING", default_value_t = 7_500)]
    pub max_following: u32,

    /// Whether sign-ups confirm their e-mail address: registering mails a link (202) instead of
    /// signing in, and answers the same whether or not the address has an account (its owner
    /// is told by mail). Mail goes through `SOCIALDEVS_SMTP_URL`, else into `.eml` files.
    #[arg(
        long,
        env = "SOCIALDEVS_SIGNUP_EMAIL_VERIFICATION",
        default_value_t = false,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub signup_email_verification: bool,

    /// Hours a sign-up's confirmation link works.
    #[arg(long, env = "SOCIALDEVS_SIGNUP_LINK_TTL_HOURS", default_value_t = 24)]
    pub signup_link_ttl_hours: u32,

    /// Where people open the web app, for links in mail: `https://socialdevs.example`.
    #[arg(
        long,
        env = "SOCIALDEVS_PUBLIC_URL",
        default_value = "http://localhost:8080"
    )]
    pub public_url: String,

    /// SMTP server for outgoing mail: `smtp://host:587?tls=required` (STARTTLS),
    /// `smtps://host:465`, or `smtp://host:25` (plain); `user:password@` for a login. Unset:
    /// mail is written as `.eml` files into `SOCIALDEVS_MAIL_DIR` (development).
    #[arg(long, env = "SOCIALDEVS_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// The sender of outgoing mail.
    #[arg(
        long,
        env = "SOCIALDEVS_MAIL_FROM",
        default_value = socialdevs_platform::mail::DEFAULT_FROM
    )]
    pub mail_from: String,

    /// Folder of the `.eml` files when no SMTP server is set; default `<data dir>/mail`.
    #[arg(long, env = "SOCIALDEVS_MAIL_DIR")]
    pub mail_dir: Option<PathBuf>,

    /// Seconds between housekeeping runs (expired refresh tokens, sign-up links and
    /// idempotency keys are deleted).
    #[arg(
        long,
        env = "SOCIALDEVS_HOUSEKEEPING_INTERVAL_SECS",
        default_value_t = 3_600
    )]
    pub housekeeping_interval_secs: u64,

    /// Hours an `Idempotency-Key` is remembered (a retry with it inside that time gets the
    /// first post back).
    #[arg(
        long,
        env = "SOCIALDEVS_IDEMPOTENCY_KEY_RETENTION_HOURS",
        default_value_t = 24
    )]
    pub idempotency_key_retention_hours: u32,

    /// MQTT broker the notifications service publishes to for devices, e.g.
    /// `mqtt://mosquitto:1883` or `mqtts://broker:8883` (credentials may be in the URL);
    /// unset means the bridge is off.
    #[arg(long, env = "SOCIALDEVS_MQTT_URL", hide_env_values = true)]
    pub mqtt_url: Option<String>,

    /// MQTT username (overrides the URL's).
    #[arg(long, env = "SOCIALDEVS_MQTT_USERNAME")]
    pub mqtt_username: Option<String>,

    /// MQTT password (overrides the URL's).
    #[arg(long, env = "SOCIALDEVS_MQTT_PASSWORD", hide_env_values = true)]
    pub mqtt_password: Option<String>,

    /// PEM file of the CA(s) to trust for `mqtts://` (the system's roots otherwise).
    #[arg(long, env = "SOCIALDEVS_MQTT_CA_FILE")]
    pub mqtt_ca_file: Option<String>,

    /// Notifications that may wait for the MQTT broker before new ones are dropped.
    #[arg(long, env = "SOCIALDEVS_MQTT_QUEUE", default_value_t = 10_000)]
    pub mqtt_queue: usize,

    /// Log format: `json` or `pretty` (default: pretty on a terminal, JSON otherwise).
    #[arg(long, env = "SOCIALDEVS_LOG_FORMAT")]
    pub log_format: Option<String>,

    /// OTLP/HTTP collector base URL, e.g. `http://tempo:4318`; traces are off when unset.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Full URL for spans (instead of `<endpoint>/v1/traces`).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")]
    pub otlp_traces_endpoint: Option<String>,

    /// OTLP protocol: `http/protobuf` (default; the only one built in).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_PROTOCOL")]
    pub otlp_protocol: Option<String>,

    /// `service.name` of the spans (default: `socialdevs-<services>`, e.g. `socialdevs-all`).
    #[arg(long, env = "OTEL_SERVICE_NAME")]
    pub otel_service_name: Option<String>,

    /// Trace sampler (default `parentbased_always_on`; also `parentbased_traceidratio`, ...).
    #[arg(long, env = "OTEL_TRACES_SAMPLER")]
    pub otel_traces_sampler: Option<String>,

    /// The sampler's argument: the ratio of traces kept, 0..=1.
    #[arg(long, env = "OTEL_TRACES_SAMPLER_ARG")]
    pub otel_traces_sampler_arg: Option<String>,
}

impl Settings {
    /// The listen address: the flag, else 8080 for all-in-one, else the service's own port.
    pub fn listen_addr(&self) -> String {
        self.listen
            .clone()
            .unwrap_or_else(|| format!("0.0.0.0:{}", self.services.default_port()))
    }

    /// The database URL, defaulting to `socialdevs.db` in the data dir.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| socialdevs_platform::db::SqliteDb::default_url(&self.data_dir))
    }

    /// The PostgreSQL URL `schema`'s pool connects with: its own setting
    /// (`SOCIALDEVS_<SCHEMA>_DATABASE_URL`), else `SOCIALDEVS_DATABASE_URL`; `None` when
    /// neither is set.
    pub fn schema_database_url(&self, schema: &str) -> Option<String> {
        let own = match schema {
            socialdevs_users::SERVICE => self.users_database_url.clone(),
            socialdevs_posts::SERVICE => self.posts_database_url.clone(),
            socialdevs_notifications::SERVICE => self.notifications_database_url.clone(),
            socialdevs_events::embedded::SCHEMA => self.events_database_url.clone(),
            other => std::env::var(schema_database_url_env(other)).ok(),
        };
        own.or_else(|| self.database_url.clone())
            .filter(|url| !url.trim().is_empty())
    }

    /// The URL migrations run with: `SOCIALDEVS_MIGRATE_DATABASE_URL`, else
    /// `SOCIALDEVS_DATABASE_URL`.
    pub fn migrate_url(&self) -> Option<String> {
        self.migrate_database_url
            .clone()
            .or_else(|| self.database_url.clone())
            .filter(|url| !url.trim().is_empty())
    }

    /// Whether the settings name a Kafka broker (otherwise events travel through the
    /// embedded transport, in the database).
    pub fn uses_kafka(&self) -> bool {
        self.kafka_brokers
            .as_deref()
            .is_some_and(|brokers| !brokers.trim().is_empty())
    }

    /// How often housekeeping runs.
    pub fn housekeeping_interval(&self) -> Duration {
        Duration::from_secs(self.housekeeping_interval_secs.max(1))
    }

    /// PostgreSQL pool settings.
    pub fn pg_pool(&self) -> socialdevs_platform::db::PgPoolSettings {
        socialdevs_platform::db::PgPoolSettings {
            max_connections: self.database_max_connections.max(1),
            acquire_timeout: Duration::from_secs(self.database_acquire_timeout_secs.max(1)),
            statement_timeout: Duration::from_secs(self.database_statement_timeout_secs.max(1)),
            ..Default::default()
        }
    }

    /// Where `service` answers other services when this process does not run it: its URL
    /// setting, else its default internal port on this machine. Users and posts have flags too (`--users-url`,
    /// `--posts-url`); every other service's URL is read from `SOCIALDEVS_<SERVICE>_URL`.
    pub fn service_url(&self, service: Service) -> String {
        let configured = match service.name() {
            socialdevs_users::SERVICE => self.users_url.clone(),
            socialdevs_posts::SERVICE => self.posts_url.clone(),
            name => std::env::var(service_url_env(name)).ok(),
        };
        configured
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", service.default_internal_port()))
    }

    /// Where `/internal/...` (and `/metrics`) is served. A process running every service has
    /// none unless one is set (nobody calls its `/internal`; one set there keeps `/metrics`
    /// off the public port, e.g. behind an Ingress).
    pub fn internal_listen_addr(&self) -> Option<String> {
        let configured = self
            .internal_listen
            .clone()
            .filter(|a| !a.trim().is_empty());
        if self.services.is_all() || configured.is_some() {
            return configured;
        }
        let public = self.listen_addr();
        let (host, port) = public.rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        let internal = match port {
            0 => 0,
            port => port.saturating_add(crate::services::INTERNAL_PORT_OFFSET),
        };
        Some(format!("{host}:{internal}"))
    }

    /// The HTTP layer settings.
    pub fn http(&self) -> socialdevs_platform::http::HttpSettings {
        socialdevs_platform::http::HttpSettings {
            cors_origins: self
                .cors_origins
                .iter()
                .filter(|o| !o.trim().is_empty())
                .cloned()
                .collect(),
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
        }
    }

    /// Where and how to export traces.
    pub fn traces(&self) -> socialdevs_platform::telemetry::TraceSettings {
        let default_name = format!("socialdevs-{}", self.services.to_string().replace(',', "-"));
        socialdevs_platform::telemetry::TraceSettings {
            endpoint: self.otlp_endpoint.clone(),
            traces_endpoint: self.otlp_traces_endpoint.clone(),
            protocol: self.otlp_protocol.clone(),
            service_name: self
                .otel_service_name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or(default_name),
            sampler: self.otel_traces_sampler.clone(),
            sampler_arg: self.otel_traces_sampler_arg.clone(),
        }
    }

    /// Where outgoing mail goes: the SMTP server of `SOCIALDEVS_SMTP_URL`, else `.eml` files in
    /// `SOCIALDEVS_MAIL_DIR` (default `<data dir>/mail`). Call it inside a Tokio runtime.
    pub fn mailer(&self) -> anyhow::Result<std::sync::Arc<dyn socialdevs_platform::mail::Mailer>> {
        use socialdevs_platform::mail::{FileMailer, SmtpMailer};
        Ok(
            match self.smtp_url.as_deref().filter(|u| !u.trim().is_empty()) {
                Some(url) => {
                    std::sync::Arc::new(SmtpMailer::from_url(url.trim(), &self.mail_from)?)
                }
                None => {
                    let dir = self
                        .mail_dir
                        .clone()
                        .unwrap_or_else(|| self.data_dir.join("mail"));
                    std::sync::Arc::new(FileMailer::new(&dir, &self.mail_from)?)
                }
            },
        )
    }

    /// Settings for tests and tools: a data dir, port 0, everything else default.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: Some("127.0.0.1:0".into()),
            services: ServiceSet::all(),
            data_dir: data_dir.into(),
            database_url: None,
            migrate_database_url: None,
            users_database_url: None,
            posts_database_url: None,
            notifications_database_url: None,
            events_database_url: None,
            migrate_at_start: true,
            database_max_connections: 5,
            database_acquire_timeout_secs: 2,
            database_statement_timeout_secs: 5,
            users_url: None,
            posts_url: None,
            internal_listen: None,
            internal_secret_file: None,
            jwt_private_key_file: None,
            jwt_public_key_file: None,
            web_dir: PathBuf::from("./web/dist"),
            cors_origins: Vec::new(),
            request_timeout_secs: 30,
            shutdown_grace_secs: 5,
            rate_limits: vec!["off".into()],
            trusted_proxies: Vec::new(),
            kafka_brokers: None,
            kafka_partitions: 3,
            kafka_fetch_wait_ms: 10,
            kafka_background_fetch_wait_ms: 100,
            kafka_headers: "all".into(),
            redis_url: None,
            live_events: "auto".into(),
            redis_namespace: "socialdevs".into(),
            timeline_cap: 800,
            timeline_fanout_max_followers: 10_000,
            timeline_memory_users: 5_000,
            timeline_streams_per_user: 5,
            timeline_streams_max: 10_000,
            password_hash_concurrency: None,
            password_hash_queue: 64,
            max_following: 7_500,
            signup_email_verification: false,
            signup_link_ttl_hours: 24,
            public_url: "http://localhost:8080".into(),
            smtp_url: None,
            mail_from: socialdevs_platform::mail::DEFAULT_FROM.into(),
            mail_dir: None,
            housekeeping_interval_secs: 3_600,
            idempotency_key_retention_hours: 24,
            mqtt_url: None,
            mqtt_username: None,
            mqtt_password: None,
            mqtt_ca_file: None,
            mqtt_queue: 10_000,
            log_format: None,
            otlp_endpoint: None,
            otlp_traces_endpoint: None,
            otlp_protocol: None,
            otel_service_name: None,
            otel_traces_sampler: None,
            otel_traces_sampler_arg: None,
        }
    }
}

/// The environment variable naming where `service` answers: `SOCIALDEVS_<SERVICE>_URL`.
pub fn service_url_env(service: &str) -> String {
    format!(
        "SOCIALDEVS_{}_URL",
        service.to_ascii_uppercase().replace('-', "_")
    )
}

/// The environment variable naming the URL `schema`'s pool connects with:
/// `SOCIALDEVS_<SCHEMA>_DATABASE_URL`.
pub fn schema_database_url_env(schema: &str) -> String {
    format!(
        "SOCIALDEVS_{}_DATABASE_URL",
        schema.to_ascii_uppercase().replace('-', "_")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_listeners_sit_a_thousand_ports_above_the_public_one() {
        let mut settings = Settings::for_data_dir("data");
        assert_eq!(settings.internal_listen_addr(), None, "all-in-one has none");
        settings.internal_listen = Some("0.0.0.0:9080".into());
        assert_eq!(
            settings.internal_listen_addr().as_deref(),
            Some("0.0.0.0:9080"),
            "unless one is set"
        );
        settings.internal_listen = None;
        settings.services = "users".parse().unwrap();
        settings.listen = None;
        assert_eq!(
            settings.internal_listen_addr().as_deref(),
            Some("0.0.0.0:9081")
        );
        settings.listen = Some("127.0.0.1:0".into());
        assert_eq!(
            settings.internal_listen_addr().as_deref(),
            Some("127.0.0.1:0")
        );
        settings.listen = Some("[::]:8081".into());
        assert_eq!(
            settings.internal_listen_addr().as_deref(),
            Some("[::]:9081")
        );
        settings.internal_listen = Some("10.0.0.5:7000".into());
        assert_eq!(
            settings.internal_listen_addr().as_deref(),
            Some("10.0.0.5:7000")
        );
    }

    #[test]
    fn service_urls_come_from_settings_else_the_default_internal_port() {
        let mut settings = Settings::for_data_dir("data");
        let users = Service::named("users").unwrap();
        let posts = Service::named("posts").unwrap();
        assert_eq!(settings.service_url(users), "http://127.0.0.1:9081");
        settings.users_url = Some("http://users:8081".into());
        settings.posts_url = Some(" ".into());
        assert_eq!(settings.service_url(users), "http://users:8081");
        assert_eq!(settings.service_url(posts), "http://127.0.0.1:9082");
        assert_eq!(service_url_env("timeline"), "SOCIALDEVS_TIMELINE_URL");
    }

    #[test]
    fn each_schema_connects_with_its_own_url_else_the_shared_one() {
        let mut settings = Settings::for_data_dir("data");
        assert_eq!(settings.schema_database_url("posts"), None);
        settings.database_url = Some("postgres://shared@db/s".into());
        settings.posts_database_url = Some("postgres://posts@db/s".into());
        settings.migrate_database_url = Some("postgres://owner@db/s".into());
        let url = |schema| settings.schema_database_url(schema);
        assert_eq!(url("posts").as_deref(), Some("postgres://posts@db/s"));
        assert_eq!(url("users").as_deref(), Some("postgres://shared@db/s"));
        assert_eq!(url("events").as_deref(), Some("postgres://shared@db/s"));
        assert_eq!(
            settings.migrate_url().as_deref(),
            Some("postgres://owner@db/s")
        );
        assert_eq!(
            schema_database_url_env("notifications"),
            "SOCIALDEVS_NOTIFICATIONS_DATABASE_URL"
        );
    }

    #[test]
    fn migrating_at_start_is_on_unless_turned_off() {
        use clap::Parser;
        let parse = |args: &[&str]| match crate::cli::Cli::try_parse_from(args).unwrap().command {
            crate::cli::Command::Serve { settings } => settings.migrate_at_start,
            other => panic!("{other:?}"),
        };
        assert!(parse(&["socialdevs", "serve"]));
        assert!(!parse(&[
            "socialdevs",
            "serve",
            "--migrate-at-start",
            "false"
        ]));
        assert!(parse(&["socialdevs", "serve", "--migrate-at-start", "yes"]));
        let grant = |args: &[&str]| match crate::cli::Cli::try_parse_from(args).unwrap().command {
            crate::cli::Command::Migrate { grant_roles, .. } => grant_roles,
            other => panic!("{other:?}"),
        };
        assert!(!grant(&["socialdevs", "migrate"]));
        assert!(grant(&["socialdevs", "migrate", "--grant-roles"]));
        assert!(!grant(&["socialdevs", "migrate", "--grant-roles", "false"]));
    }
}
