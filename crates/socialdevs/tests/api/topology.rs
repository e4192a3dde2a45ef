//! The distributed topology for the API suite: a fresh PostgreSQL database, a Kafka-protocol
//! broker (tansu, or `SOCIALDEVS_TEST_KAFKA_BROKERS`), Redis for the home timelines
//! (`redis-server`, or `SOCIALDEVS_TEST_REDIS_URL`), one `socialdevs serve --services X`
//! process per service on its own port (two replicas of timeline, so live streams are shown
//! to work whichever replica holds them), calling each other over `/internal/...`, and the
//! nginx edge (the web image's own configuration, rendered by `web/nginx/run-local.sh`) in
//! front, routing the API prefixes as in production.
//!
//! As in production, the database has least-privilege roles: `socialdevs migrate
//! --grant-roles` runs first as a migration role (no superuser), and each service process
//! gets nothing but its own role's URL (`SOCIALDEVS_<SERVICE>_DATABASE_URL`, with
//! `SOCIALDEVS_MIGRATE_AT_START=false`); timeline, which keeps nothing in PostgreSQL, gets
//! none. So every API test also proves those roles' grants suffice.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use socialdevs::Settings;
use socialdevs_testkit::kafka::KafkaBroker;
use socialdevs_testkit::postgres::{self, free_port, TestDatabase};
use socialdevs_testkit::redis::RedisServer;
use tempfile::TempDir;
use tokio::process::{Child, Command};

/// The processes, by the service each runs: a second timeline replica last.
const SERVICES: [&str; 5] = ["users", "posts", "timeline", "notifications", "timeline"];

pub struct Distributed {
    edge_port: u16,
    timeline_ports: Vec<u16>,
    /// Every service process: the service, its public port, its internal listener's port.
    process_ports: Vec<(&'static str, u16, u16)>,
    processes: Vec<Child>,
    edge: Option<Child>,
    _broker: KafkaBroker,
    _redis: RedisServer,
    _database: TestDatabase,
    _dir: TempDir,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn output() -> Stdio {
    if std::env::var_os("TEST_LOG").is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    }
}

impl Distributed {
    /// Starts every service and the edge; returns once all answer ready. Ports are picked
    /// free and bound a moment later by the processes: if one was taken meanwhile (its
    /// process exits at once), the whole topology starts again on new ports.
    pub async fn start(settings: &Settings) -> Self {
        let mut last = String::new();
        for _ in 0..3 {
            let database = postgres::database().await.expect(
                "PostgreSQL for the distributed suite (set SOCIALDEVS_TEST_DATABASE_URL or \
                 install the postgresql package)",
            );
            match Self::try_start(settings, database).await {
                Ok(topology) => return topology,
                Err(why) => last = why,
            }
        }
        panic!("the distributed topology did not start: {last}");
    }

    async fn try_start(settings: &Settings, database: TestDatabase) -> Result<Self, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        socialdevs::keys::write_key_pair(dir.path(), true).expect("key pair");
        socialdevs::keys::write_internal_secret(dir.path(), true).expect("internal secret");
        let broker = KafkaBroker::start();
        let redis = RedisServer::start();
        let ports: Vec<u16> = SERVICES.iter().map(|_| free_port().unwrap()).collect();
        let internal_ports: Vec<u16> = SERVICES.iter().map(|_| free_port().unwrap()).collect();
        let url = |i: usize| format!("http://127.0.0.1:{}", ports[i]);
        let internal_url = |i: usize| format!("http://127.0.0.1:{}", internal_ports[i]);

        let role_urls = migrate_and_grant_roles(&database, &broker).await?;

        let mut processes = Vec::new();
        for (i, service) in SERVICES.iter().enumerate() {
            let mut command = Command::new(env!("CARGO_BIN_EXE_socialdevs"));
            command
                .arg("serve")
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("SOCIALDEVS_SERVICES", service)
                .env("SOCIALDEVS_LISTEN", format!("127.0.0.1:{}", ports[i]))
                .env(
                    "SOCIALDEVS_INTERNAL_LISTEN",
                    format!("127.0.0.1:{}", internal_ports[i]),
                )
                .env(
                    "SOCIALDEVS_INTERNAL_SECRET_FILE",
                    dir.path().join(socialdevs::keys::INTERNAL_SECRET_FILE),
                )
                .env(
                    "SOCIALDEVS_DATA_DIR",
                    dir.path().join(format!("{service}-{i}")),
                )
                .env("SOCIALDEVS_MIGRATE_AT_START", "false")
                .env("SOCIALDEVS_KAFKA_BROKERS", broker.brokers())
                .env("SOCIALDEVS_REDIS_URL", redis.url())
                .env("SOCIALDEVS_REDIS_NAMESPACE", redis.namespace())
                .env(
                    "SOCIALDEVS_MQTT_URL",
                    settings.mqtt_url.clone().unwrap_or_default(),
                )
                .env("SOCIALDEVS_DATABASE_MAX_CONNECTIONS", "5")
                .env("SOCIALDEVS_USERS_URL", internal_url(0))
                .env("SOCIALDEVS_POSTS_URL", internal_url(1))
                .env(
                    "SOCIALDEVS_JWT_PRIVATE_KEY_FILE",
                    dir.path().join(socialdevs::keys::PRIVATE_KEY_FILE),
                )
                .env(
                    "SOCIALDEVS_JWT_PUBLIC_KEY_FILE",
                    dir.path().join(socialdevs::keys::PUBLIC_KEY_FILE),
                )
                .env("SOCIALDEVS_RATE_LIMITS", settings.rate_limits.join(","))
                // As the test configures it: the edge and the test's client share 127.0.0.1.
                .env(
                    "SOCIALDEVS_TRUSTED_PROXIES",
                    settings.trusted_proxies.join(","),
                )
                .env("SOCIALDEVS_CORS_ORIGINS", settings.cors_origins.join(","))
                .env(
                    "SOCIALDEVS_PASSWORD_HASH_QUEUE",
                    settings.password_hash_queue.to_string(),
                )
                .env(
                    "SOCIALDEVS_HOUSEKEEPING_INTERVAL_SECS",
                    settings.housekeeping_interval_secs.to_string(),
                )
                .env(
                    "SOCIALDEVS_MAX_FOLLOWING",
                    settings.max_following.to_string(),
                )
                .env(
                    "SOCIALDEVS_REQUEST_TIMEOUT_SECS",
                    settings.request_timeout_secs.to_string(),
                )
                .env(
                    "SOCIALDEVS_SHUTDOWN_GRACE_SECS",
                    settings.shutdown_grace_secs.to_string(),
                )
                .env("SOCIALDEVS_LOG_FORMAT", "json")
                .env(
                    "RUST_LOG",
                    std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stdin(Stdio::null())
                .stdout(output())
                .stderr(output())
                .kill_on_drop(true);
            // Its own role, when it keeps data in PostgreSQL.
            if let Some((own, url)) = role_urls.iter().find(|(own, _)| own == service) {
                command.env(database_url_env(own), url);
            }
            if let Some(n) = settings.password_hash_concurrency {
                command.env("SOCIALDEVS_PASSWORD_HASH_CONCURRENCY", n.to_string());
            }
            if settings.signup_email_verification {
                command
                    .env("SOCIALDEVS_SIGNUP_EMAIL_VERIFICATION", "true")
                    .env("SOCIALDEVS_PUBLIC_URL", &settings.public_url)
                    .env(
                        "SOCIALDEVS_SIGNUP_LINK_TTL_HOURS",
                        settings.signup_link_ttl_hours.to_string(),
                    )
                    .env(
                        "SOCIALDEVS_SMTP_URL",
                        settings.smtp_url.clone().unwrap_or_default(),
                    );
            }
            processes.push(command.spawn().expect("starting a service process"));
        }

        let web_root = if settings.web_dir.join("index.html").exists() {
            settings.web_dir.clone()
        } else {
            let root = dir.path().join("web");
            std::fs::create_dir_all(&root).unwrap();
            std::fs::write(
                root.join("index.html"),
                "<!doctype html><title>SocialDevs</title>",
            )
            .unwrap();
            root
        };
        let edge_port = free_port().unwrap();
        let edge = Command::new("bash")
            .arg(repo_root().join("web/nginx/run-local.sh"))
            .env(
                "SOCIALDEVS_USERS_UPSTREAM",
                format!("127.0.0.1:{}", ports[0]),
            )
            .env(
                "SOCIALDEVS_POSTS_UPSTREAM",
                format!("127.0.0.1:{}", ports[1]),
            )
            .env(
                "SOCIALDEVS_TIMELINE_UPSTREAM",
                format!("127.0.0.1:{}", ports[2]),
            )
            .env(
                "SOCIALDEVS_NOTIFICATIONS_UPSTREAM",
                format!("127.0.0.1:{}", ports[3]),
            )
            .env("SOCIALDEVS_WEB_LISTEN", format!("127.0.0.1:{edge_port}"))
            .env("SOCIALDEVS_WEB_ROOT", &web_root)
            .stdin(Stdio::null())
            .stdout(output())
            .stderr(Stdio::inherit())
            // Its own process group, so stopping it reaches nginx too.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("starting the edge (bash web/nginx/run-local.sh; needs nginx)");

        let timeline_ports = SERVICES
            .iter()
            .zip(&ports)
            .filter(|(service, _)| **service == "timeline")
            .map(|(_, port)| *port)
            .collect();
        let process_ports = SERVICES
            .iter()
            .zip(ports.iter().zip(&internal_ports))
            .map(|(service, (port, internal))| (*service, *port, *internal))
            .collect();
        let mut topology = Self {
            edge_port,
            timeline_ports,
            process_ports,
            processes,
            _broker: broker,
            _redis: redis,
            edge: Some(edge),
            _database: database,
            _dir: dir,
        };
        let client = reqwest::Client::new();
        let mut checks: Vec<(String, String)> = SERVICES
            .iter()
            .enumerate()
            .map(|(i, service)| (format!("{}/readyz", url(i)), service.to_string()))
            .collect();
        checks.push((
            format!("http://127.0.0.1:{edge_port}/healthz"),
            "edge".into(),
        ));
        for (url, what) in checks {
            if let Err(why) = topology.wait_until_ok(&client, &url, &what).await {
                topology.stop();
                return Err(why);
            }
        }
        // Every answer came from our own processes only if none of them has exited (one that
        // could not bind its port leaves the port to whoever holds it).
        if let Some(why) = topology.exited() {
            topology.stop();
            return Err(format!("{why} after the topology answered"));
        }
        Ok(topology)
    }

    async fn wait_until_ok(
        &mut self,
        client: &reqwest::Client,
        url: &str,
        what: &str,
    ) -> Result<(), String> {
        for _ in 0..300 {
            if let Ok(r) = client.get(url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(why) = self.exited() {
                return Err(format!("{why} while waiting for {what}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("{what} did not become ready at {url}"))
    }

    /// Why, when one of the topology's processes has exited.
    fn exited(&mut self) -> Option<String> {
        self.processes
            .iter_mut()
            .chain(self.edge.iter_mut())
            .find_map(|child| match child.try_wait() {
                Ok(Some(status)) => Some(format!(
                    "a process exited ({status}); rerun with TEST_LOG=1 to see its logs"
                )),
                _ => None,
            })
    }

    /// The database every service of the topology shares, as its superuser (tests that
    /// look at or prepare rows directly).
    pub fn database_url(&self) -> &str {
        &self._database.url
    }

    pub fn edge_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.edge_port)
    }

    /// Each timeline replica's own URL (the edge sends streams to the first).
    pub fn timeline_urls(&self) -> Vec<String> {
        self.timeline_ports
            .iter()
            .map(|port| format!("http://127.0.0.1:{port}"))
            .collect()
    }

    /// Every service process: the service it runs, its public URL and its internal
    /// listener's URL.
    pub fn process_urls(&self) -> Vec<(&'static str, String, String)> {
        self.process_ports
            .iter()
            .map(|(service, port, internal)| {
                (
                    *service,
                    format!("http://127.0.0.1:{port}"),
                    format!("http://127.0.0.1:{internal}"),
                )
            })
            .collect()
    }

    /// Stops the edge (its script and nginx, as one process group) and kills the services.
    pub fn stop(&mut self) {
        if let Some(mut edge) = self.edge.take() {
            if let Some(pid) = edge.id() {
                let group = format!("-{pid}");
                let signal = |name: &str| {
                    let _ = std::process::Command::new("kill")
                        .args([name, "--", &group])
                        .stderr(Stdio::null())
                        .status();
                };
                signal("-TERM");
                // nginx exits on TERM at once; a busy machine may take a moment.
                let deadline = std::time::Instant::now() + Duration::from_secs(5);
                while matches!(edge.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                // Whatever is left of the group (nginx's workers included) goes now.
                signal("-KILL");
            }
            drop(edge);
        }
        for child in &mut self.processes {
            let _ = child.start_kill();
        }
    }
}

/// The services that keep data in PostgreSQL, each with a login role of its own.
const ROLES: [&str; 3] = ["users", "posts", "notifications"];

fn database_url_env(service: &str) -> String {
    format!("SOCIALDEVS_{}_DATABASE_URL", service.to_uppercase())
}

/// Runs `socialdevs migrate --grant-roles` as a migration role made for this database (it
/// may create schemas and roles, nothing more); each role's URL by service.
async fn migrate_and_grant_roles(
    database: &TestDatabase,
    broker: &KafkaBroker,
) -> Result<Vec<(&'static str, String)>, String> {
    let migrate_url = database
        .create_migration_role("migrate")
        .await
        .map_err(|err| format!("creating the migration role: {err:#}"))?;
    let role_urls: Vec<(&'static str, String)> = ROLES
        .iter()
        .map(|service| {
            (
                *service,
                database.role_url(service, &format!("{service}-pw")),
            )
        })
        .collect();
    let mut command = Command::new(env!("CARGO_BIN_EXE_socialdevs"));
    command
        .args(["migrate", "--grant-roles"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SOCIALDEVS_MIGRATE_DATABASE_URL", &migrate_url)
        // Events go through the broker: no event tables in the database.
        .env("SOCIALDEVS_KAFKA_BROKERS", broker.brokers())
        .env("SOCIALDEVS_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    for (service, url) in &role_urls {
        command.env(database_url_env(service), url);
    }
    let output = command
        .output()
        .await
        .map_err(|err| format!("running socialdevs migrate: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "socialdevs migrate --grant-roles failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(role_urls)
}
