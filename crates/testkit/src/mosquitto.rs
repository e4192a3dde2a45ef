//! A real MQTT broker (Mosquitto) for tests.
//!
//! [`MosquittoServer::start`] uses the broker named by `SOCIALDEVS_TEST_MQTT_URL` when it is
//! set, else starts a throwaway `mosquitto` (anonymous access, no persistence, a free port of
//! 127.0.0.1, a temporary folder). [`MosquittoServer::start_local`] always starts its own, for
//! tests that kill and restart it ([`MosquittoServer::kill`], [`MosquittoServer::restart`]:
//! same port, sessions gone, as after a broker crash).
//!
//! Without `mosquitto` the tests fail and say how to install it; they never skip.

// Test support: a server that cannot start is a failed test, with a message saying why.
#![allow(clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{find_binary, LocalServer, ServerSpec};

/// The environment variable naming an existing broker (`mqtt://host:port`) for the tests.
pub const TEST_MQTT_URL: &str = "SOCIALDEVS_TEST_MQTT_URL";

static MOSQUITTO: ServerSpec = ServerSpec {
    noun: "MQTT broker",
    program: "mosquitto",
    fixture: "MosquittoServer",
    env: TEST_MQTT_URL,
    binary: mosquitto_binary,
    install_hint: "`mosquitto` was not found on PATH or in /usr/sbin: install it (Debian/Ubuntu: \
         `sudo apt-get install mosquitto`), or set SOCIALDEVS_TEST_MQTT_URL to a broker the \
         tests may use",
    dir_prefix: "socialdevs-mosquitto-",
    log_file: "mosquitto.log",
    configure: mosquitto_command,
    ready: answers_connect,
    readiness: "accept an MQTT connection",
    ready_timeout: Duration::from_secs(20),
};

/// An MQTT broker for one test: external, or a `mosquitto` process of its own, stopped on
/// drop.
#[derive(Debug)]
pub struct MosquittoServer {
    url: String,
    local: Option<LocalServer>,
}

impl MosquittoServer {
    /// The broker of `SOCIALDEVS_TEST_MQTT_URL`, else a new local one.
    pub fn start() -> Self {
        match MOSQUITTO.external() {
            Some(url) => Self { url, local: None },
            None => Self::start_local(),
        }
    }

    /// A new local `mosquitto`, whatever the environment says (for outage tests).
    pub fn start_local() -> Self {
        let local = LocalServer::start(&MOSQUITTO);
        Self {
            url: format!("mqtt://127.0.0.1:{}", local.port()),
            local: Some(local),
        }
    }

    /// The broker's URL, `mqtt://host:port`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The broker's host and port.
    pub fn host_port(&self) -> (String, u16) {
        let rest = self.url.trim_start_matches("mqtt://");
        let (host, port) = rest.rsplit_once(':').unwrap_or((rest, "1883"));
        (
            host.to_owned(),
            port.trim_end_matches('/').parse().unwrap_or(1883),
        )
    }

    /// Kills the broker at once (SIGKILL), as a crash would, and waits until it is gone.
    pub fn kill(&mut self) {
        MOSQUITTO.local(self.local.as_mut(), "kill").kill();
    }

    /// Starts the killed broker again on the same port and waits until it accepts
    /// connections.
    pub fn restart(&mut self) {
        MOSQUITTO.local(self.local.as_mut(), "restart").restart();
    }
}

/// `mosquitto` on `port` of 127.0.0.1, in the foreground, from a config file in `dir`.
fn mosquitto_command(command: &mut Command, port: u16, dir: &Path) {
    let config = dir.join("mosquitto.conf");
    let text = format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
         log_dest stdout\nlog_type error\nlog_type warning\n"
    );
    if let Err(err) = std::fs::write(&config, text) {
        panic!("cannot write {}: {err}", config.display());
    }
    command.arg("-c").arg(config);
}

/// Whether a broker at `address` answers an MQTT 3.1.1 CONNECT with an accepting CONNACK.
fn answers_connect(address: SocketAddr) -> bool {
    let timeout = Duration::from_millis(500);
    let Ok(mut stream) = TcpStream::connect_timeout(&address, timeout) else {
        return false;
    };
    // CONNECT: protocol "MQTT" level 4, clean session, keep-alive 60 s, client id "probe".
    let connect: [u8; 19] = [
        0x10, 17, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 5, b'p', b'r', b'o', b'b', b'e',
    ];
    if stream.set_read_timeout(Some(timeout)).is_err() || stream.write_all(&connect).is_err() {
        return false;
    }
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).is_ok() && reply == [0x20, 2, 0, 0]
}

/// `mosquitto` on PATH, or where Debian puts it.
fn mosquitto_binary() -> Option<PathBuf> {
    find_binary("mosquitto", [PathBuf::from("/usr/sbin")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_broker_answers_and_comes_back_after_a_kill() {
        let mut server = MosquittoServer::start_local();
        let (host, port) = server.host_port();
        let address: SocketAddr = format!("{host}:{port}").parse().unwrap();
        assert!(answers_connect(address));
        server.kill();
        assert!(!answers_connect(address), "nothing answers after a kill");
        server.restart();
        assert!(answers_connect(address));
    }
}
