//! A real Kafka-protocol broker for tests.
//!
//! [`KafkaBroker::start`] uses the broker named by `SOCIALDEVS_TEST_KAFKA_BROKERS` when it is
//! set, else starts a throwaway [tansu](https://github.com/tansu-io/tansu) broker: a single
//! binary, SQLite storage in a temporary folder, a free port of 127.0.0.1, ready in well under
//! a second. [`KafkaBroker::start_local`] always starts its own, for tests that kill and
//! restart it ([`KafkaBroker::kill`], [`KafkaBroker::restart`]: same port, same storage).
//!
//! Without tansu the tests fail and say how to install it; they never skip.

// Test support: a broker that cannot start is a failed test, with a message saying why.
#![allow(clippy::panic)]

use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming an existing broker (`host:port[,…]`) for the tests.
pub const TEST_KAFKA_BROKERS: &str = "SOCIALDEVS_TEST_KAFKA_BROKERS";

const INSTALL_HINT: &str = "the Kafka-protocol broker `tansu` was not found on PATH, in \
     $CARGO_HOME/bin or in ~/.cargo/bin: install it with \
     `cargo install tansu --locked --features dynostore,postgres,libsql` (or run \
     `bash scripts/install-tansu.sh`), or set SOCIALDEVS_TEST_KAFKA_BROKERS to a broker the \
     tests may use";

/// How long a broker may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Environment variables tansu reads that must not leak from the test's environment.
const TANSU_ENV: &[&str] = &[
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "DATA_LAKE",
    "ICEBERG_CATALOG",
    "ICEBERG_NAMESPACE",
    "ICEBERG_WAREHOUSE",
    "DELTA_DATABASE",
];

/// A broker for one test: external, or a tansu process of its own, stopped on drop.
#[derive(Debug)]
pub struct KafkaBroker {
    brokers: String,
    local: Option<LocalBroker>,
}

#[derive(Debug)]
struct LocalBroker {
    binary: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl KafkaBroker {
    /// The broker of `SOCIALDEVS_TEST_KAFKA_BROKERS`, else a new local tansu broker.
    pub fn start() -> Self {
        match std::env::var(TEST_KAFKA_BROKERS) {
            Ok(brokers) if !brokers.trim().is_empty() => Self {
                brokers: brokers.trim().to_owned(),
                local: None,
            },
            _ => Self::start_local(),
        }
    }

    /// A new local tansu broker, whatever the environment says (for outage tests).
    pub fn start_local() -> Self {
        let binary = tansu_binary().unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        let mut dir = tempfile::Builder::new()
            .prefix("socialdevs-kafka-")
            .tempdir()
            .unwrap_or_else(|err| panic!("creating a folder for the test broker: {err}"));
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = crate::postgres::free_port()
                .unwrap_or_else(|err| panic!("finding a free port for the test broker: {err:#}"));
            let mut local = LocalBroker {
                binary: binary.clone(),
                dir,
                port,
                child: None,
            };
            match local.spawn() {
                Ok(()) => {
                    return Self {
                        brokers: format!("127.0.0.1:{port}"),
                        local: Some(local),
                    }
                }
                Err(err) => {
                    last_error = err;
                    dir = local.take_dir();
                }
            }
        }
        panic!("the test broker (tansu) did not start: {last_error}");
    }

    /// Bootstrap servers for the clients, `host:port`.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// Whether this is a broker the test started (and may kill).
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// Kills the broker at once (SIGKILL), as a crash would, and waits until it is gone.
    pub fn kill(&mut self) {
        self.local_mut("kill").kill();
    }

    /// Starts the killed broker again, on the same port and storage, and waits until it
    /// accepts connections.
    pub fn restart(&mut self) {
        let local = self.local_mut("restart");
        local.kill();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            // The port may take a moment to be free again.
            match local.spawn() {
                Ok(()) => return,
                Err(err) if Instant::now() >= deadline => {
                    panic!("the test broker (tansu) did not restart: {err}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn local_mut(&mut self, what: &str) -> &mut LocalBroker {
        match self.local.as_mut() {
            Some(local) => local,
            None => panic!(
                "cannot {what} the external broker of {TEST_KAFKA_BROKERS}: use \
                 KafkaBroker::start_local for outage tests"
            ),
        }
    }
}

impl LocalBroker {
    fn take_dir(self) -> tempfile::TempDir {
        self.dir
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("tansu.log")
    }

    /// Starts tansu and waits until it accepts connections; why not, when it does not.
    fn spawn(&mut self) -> Result<(), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|err| format!("opening the broker log: {err}"))?;
        let log_err = log
            .try_clone()
            .map_err(|err| format!("opening the broker log: {err}"))?;
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut command = Command::new(&self.binary);
        command
            .current_dir(self.dir.path())
            .args(["broker", "--silent", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            // Relative to the folder: survives restarts.
            .args(["--storage-engine", "sqlite://tansu.db"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        for name in TANSU_ENV {
            command.env_remove(name);
        }
        let mut child = command
            .spawn()
            .map_err(|err| format!("running {}: {err}", self.binary.display()))?;
        watch_parent(child.id(), self.dir.path());
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "tansu exited with {status} on port {}: {}",
                    self.port,
                    self.log_tail()
                ));
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "tansu did not accept connections on port {} within {READY_TIMEOUT:?}: {}",
                    self.port,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` is SIGKILL on Unix: no chance to flush or say goodbye.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for KafkaBroker {
    fn drop(&mut self) {
        if let Some(local) = self.local.as_mut() {
            local.kill();
        }
    }
}

/// A detached shell that kills the broker and removes its folder if the test process ends
/// without dropping it (a panic in another thread, an abort), and exits once the broker is
/// gone.
fn watch_parent(child: u32, dir: &Path) {
    let script = format!(
        "while kill -0 {parent} 2>/dev/null; do kill -0 {child} 2>/dev/null || exit 0; \
         sleep 1; done; kill -9 {child} 2>/dev/null; rm -rf '{dir}'",
        parent = std::process::id(),
        dir = dir.display()
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// `tansu` on PATH, else in `$CARGO_HOME/bin`, else in `~/.cargo/bin`.
fn tansu_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>());
    let cargo_home = std::env::var_os("CARGO_HOME").map(|home| PathBuf::from(home).join("bin"));
    let home = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin"));
    on_path
        .chain(cargo_home)
        .chain(home)
        .map(|dir| dir.join("tansu"))
        .find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_broker_accepts_connections_and_comes_back_after_a_kill() {
        let mut broker = KafkaBroker::start_local();
        let address: SocketAddr = broker.brokers().parse().unwrap();
        assert!(TcpStream::connect(address).is_ok());
        broker.kill();
        assert!(
            TcpStream::connect(address).is_err(),
            "nothing listens after a kill"
        );
        broker.restart();
        assert!(TcpStream::connect(address).is_ok());
        assert!(broker.is_local());
    }
}
