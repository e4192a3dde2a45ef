//! A real Redis for tests.
//!
//! [`RedisServer::start`] uses the server named by `SOCIALDEVS_TEST_REDIS_URL` when it is set,
//! else starts a throwaway `redis-server` (no persistence, a temporary working folder, a free
//! port of 127.0.0.1, ready in milliseconds). [`RedisServer::start_local`] always starts its
//! own, for tests that kill and restart it ([`RedisServer::kill`], [`RedisServer::restart`]:
//! same port; without persistence it comes back empty, as after a flush).
//!
//! Tests sharing an external server keep apart by key namespace: each [`RedisServer`] has a
//! fresh [`RedisServer::namespace`] to give the store under test. Their keys are not deleted
//! afterwards; give them a time to live.
//!
//! Without `redis-server` the tests fail and say how to install it; they never skip.

// Test support: a server that cannot start is a failed test, with a message saying why.
#![allow(clippy::panic)]

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming an existing server (`redis://host:port[/db]`) for the
/// tests.
pub const TEST_REDIS_URL: &str = "SOCIALDEVS_TEST_REDIS_URL";

const INSTALL_HINT: &str = "`redis-server` was not found on PATH: install it (Debian/Ubuntu: \
     `sudo apt-get install redis-server`), or set SOCIALDEVS_TEST_REDIS_URL to a server the \
     tests may use";

/// How long a server may take to answer PING.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A Redis for one test: external, or a `redis-server` process of its own, stopped on drop.
#[derive(Debug)]
pub struct RedisServer {
    url: String,
    namespace: String,
    local: Option<LocalRedis>,
}

#[derive(Debug)]
struct LocalRedis {
    binary: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// The server of `SOCIALDEVS_TEST_REDIS_URL`, else a new local one.
    pub fn start() -> Self {
        match std::env::var(TEST_REDIS_URL) {
            Ok(url) if !url.trim().is_empty() => Self {
                url: url.trim().to_owned(),
                namespace: fresh_namespace(),
                local: None,
            },
            _ => Self::start_local(),
        }
    }

    /// A new local `redis-server`, whatever the environment says (for outage tests).
    pub fn start_local() -> Self {
        let binary = redis_binary().unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        let mut dir = tempfile::Builder::new()
            .prefix("socialdevs-redis-")
            .tempdir()
            .unwrap_or_else(|err| panic!("creating a folder for the test Redis: {err}"));
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = crate::postgres::free_port()
                .unwrap_or_else(|err| panic!("finding a free port for the test Redis: {err:#}"));
            let mut local = LocalRedis {
                binary: binary.clone(),
                dir,
                port,
                child: None,
            };
            match local.spawn() {
                Ok(()) => {
                    return Self {
                        url: format!("redis://127.0.0.1:{port}/"),
                        namespace: fresh_namespace(),
                        local: Some(local),
                    }
                }
                Err(err) => {
                    last_error = err;
                    dir = local.take_dir();
                }
            }
        }
        panic!("the test Redis did not start: {last_error}");
    }

    /// The server's URL, `redis://host:port/[db]`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A key namespace no other test uses (`socialdevs-test-<uuid>`, no braces).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Whether this is a server the test started (and may kill).
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// Kills the server at once (SIGKILL), as a crash would, and waits until it is gone.
    pub fn kill(&mut self) {
        self.local_mut("kill").kill();
    }

    /// Starts the killed server again on the same port, empty, and waits until it answers
    /// PING.
    pub fn restart(&mut self) {
        let local = self.local_mut("restart");
        local.kill();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            // The port may take a moment to be free again.
            match local.spawn() {
                Ok(()) => return,
                Err(err) if Instant::now() >= deadline => {
                    panic!("the test Redis did not restart: {err}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn local_mut(&mut self, what: &str) -> &mut LocalRedis {
        match self.local.as_mut() {
            Some(local) => local,
            None => panic!(
                "cannot {what} the external Redis of {TEST_REDIS_URL}: use \
                 RedisServer::start_local for outage tests"
            ),
        }
    }
}

impl LocalRedis {
    fn take_dir(self) -> tempfile::TempDir {
        self.dir
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// Starts `redis-server` and waits until it answers PING; why not, when it does not.
    fn spawn(&mut self) -> Result<(), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|err| format!("opening the Redis log: {err}"))?;
        let log_err = log
            .try_clone()
            .map_err(|err| format!("opening the Redis log: {err}"))?;
        let mut command = Command::new(&self.binary);
        command
            .current_dir(self.dir.path())
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .args(["--loglevel", "warning"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let mut child = command
            .spawn()
            .map_err(|err| format!("running {}: {err}", self.binary.display()))?;
        watch_parent(child.id(), self.dir.path());
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "redis-server exited with {status} on port {}: {}",
                    self.port,
                    self.log_tail()
                ));
            }
            if answers_ping(address) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "redis-server did not answer PING on port {} within {READY_TIMEOUT:?}: {}",
                    self.port,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` is SIGKILL on Unix: no chance to save or say goodbye.
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

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(local) = self.local.as_mut() {
            local.kill();
        }
    }
}

/// Whether a Redis at `address` answers `PING` with `+PONG` (not `-LOADING`, not silence).
fn answers_ping(address: SocketAddr) -> bool {
    let timeout = Duration::from_millis(500);
    let Ok(mut stream) = TcpStream::connect_timeout(&address, timeout) else {
        return false;
    };
    if stream.set_read_timeout(Some(timeout)).is_err()
        || stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err()
    {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

fn fresh_namespace() -> String {
    format!("socialdevs-test-{}", uuid::Uuid::now_v7().simple())
}

/// A detached shell that kills the server and removes its folder if the test process ends
/// without dropping it (a panic in another thread, an abort), and exits once the server is
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

/// `redis-server` on PATH.
fn redis_binary() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("redis-server"))
        .find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_server_answers_and_comes_back_after_a_kill() {
        let mut server = RedisServer::start_local();
        let address: SocketAddr = server
            .url()
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .parse()
            .unwrap();
        assert!(answers_ping(address));
        assert!(server.namespace().starts_with("socialdevs-test-"));
        server.kill();
        assert!(!answers_ping(address), "nothing answers after a kill");
        server.restart();
        assert!(answers_ping(address));
        assert!(server.is_local());
        assert_ne!(RedisServer::start_local().namespace(), server.namespace());
    }
}
