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

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{find_binary, LocalServer, ServerSpec};

/// The environment variable naming an existing broker (`host:port[,…]`) for the tests.
pub const TEST_KAFKA_BROKERS: &str = "SOCIALDEVS_TEST_KAFKA_BROKERS";

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

static TANSU: ServerSpec = ServerSpec {
    noun: "broker",
    program: "tansu",
    fixture: "KafkaBroker",
    env: TEST_KAFKA_BROKERS,
    binary: tansu_binary,
    install_hint: "the Kafka-protocol broker `tansu` was not found on PATH, in \
         $CARGO_HOME/bin or in ~/.cargo/bin: install it with \
         `cargo install tansu --locked --features dynostore,postgres,libsql` (or run \
         `bash scripts/install-tansu.sh`), or set SOCIALDEVS_TEST_KAFKA_BROKERS to a broker the \
         tests may use",
    dir_prefix: "socialdevs-kafka-",
    log_file: "tansu.log",
    configure: tansu_command,
    ready: accepts_connections,
    readiness: "accept connections",
    ready_timeout: Duration::from_secs(30),
};

/// A broker for one test: external, or a tansu process of its own, stopped on drop.
#[derive(Debug)]
pub struct KafkaBroker {
    brokers: String,
    local: Option<LocalServer>,
}

impl KafkaBroker {
    /// The broker of `SOCIALDEVS_TEST_KAFKA_BROKERS`, else a new local tansu broker.
    pub fn start() -> Self {
        match TANSU.external() {
            Some(brokers) => Self {
                brokers,
                local: None,
            },
            None => Self::start_local(),
        }
    }

    /// A new local tansu broker, whatever the environment says (for outage tests).
    pub fn start_local() -> Self {
        let local = LocalServer::start(&TANSU);
        Self {
            brokers: format!("127.0.0.1:{}", local.port()),
            local: Some(local),
        }
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
        TANSU.local(self.local.as_mut(), "kill").kill();
    }

    /// Starts the killed broker again, on the same port and storage, and waits until it
    /// accepts connections.
    pub fn restart(&mut self) {
        TANSU.local(self.local.as_mut(), "restart").restart();
    }
}

/// `tansu broker` on `port`, its SQLite storage in the working folder.
fn tansu_command(command: &mut Command, port: u16, _dir: &Path) {
    let url = format!("tcp://127.0.0.1:{port}");
    command
        .args(["broker", "--silent", "--listener-url", &url])
        .args(["--advertised-listener-url", &url])
        // Relative to the folder: survives restarts.
        .args(["--storage-engine", "sqlite://tansu.db"])
        .env("RUST_LOG", "warn");
    for name in TANSU_ENV {
        command.env_remove(name);
    }
}

fn accepts_connections(address: SocketAddr) -> bool {
    TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
}

/// `tansu` on PATH, else in `$CARGO_HOME/bin`, else in `~/.cargo/bin`.
fn tansu_binary() -> Option<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME").map(|home| PathBuf::from(home).join("bin"));
    let home = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin"));
    find_binary("tansu", cargo_home.into_iter().chain(home))
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
