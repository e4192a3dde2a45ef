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

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{find_binary, LocalServer, ServerSpec};

/// The environment variable naming an existing server (`redis://host:port[/db]`) for the
/// tests.
pub const TEST_REDIS_URL: &str = "SOCIALDEVS_TEST_REDIS_URL";

static REDIS: ServerSpec = ServerSpec {
    noun: "Redis",
    program: "redis-server",
    fixture: "RedisServer",
    env: TEST_REDIS_URL,
    binary: redis_binary,
    install_hint: "`redis-server` was not found on PATH: install it (Debian/Ubuntu: \
         `sudo apt-get install redis-server`), or set SOCIALDEVS_TEST_REDIS_URL to a server the \
         tests may use",
    dir_prefix: "socialdevs-redis-",
    log_file: "redis.log",
    configure: redis_command,
    ready: answers_ping,
    readiness: "answer PING",
    ready_timeout: Duration::from_secs(20),
};

/// A Redis for one test: external, or a `redis-server` process of its own, stopped on drop.
#[derive(Debug)]
pub struct RedisServer {
    url: String,
    namespace: String,
    local: Option<LocalServer>,
}

impl RedisServer {
    /// The server of `SOCIALDEVS_TEST_REDIS_URL`, else a new local one.
    pub fn start() -> Self {
        match REDIS.external() {
            Some(url) => Self {
                url,
                namespace: fresh_namespace(),
                local: None,
            },
            None => Self::start_local(),
        }
    }

    /// A new local `redis-server`, whatever the environment says (for outage tests).
    pub fn start_local() -> Self {
        let local = LocalServer::start(&REDIS);
        Self {
            url: format!("redis://127.0.0.1:{}/", local.port()),
            namespace: fresh_namespace(),
            local: Some(local),
        }
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
        REDIS.local(self.local.as_mut(), "kill").kill();
    }

    /// Starts the killed server again on the same port, empty, and waits until it answers
    /// PING.
    pub fn restart(&mut self) {
        REDIS.local(self.local.as_mut(), "restart").restart();
    }
}

/// `redis-server` on `port` of 127.0.0.1, in the foreground, without persistence.
fn redis_command(command: &mut Command, port: u16, dir: &Path) {
    command
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(["--appendonly", "no"])
        .args(["--daemonize", "no"])
        .args(["--loglevel", "warning"])
        .arg("--dir")
        .arg(dir);
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

/// `redis-server` on PATH.
fn redis_binary() -> Option<PathBuf> {
    find_binary("redis-server", None)
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
