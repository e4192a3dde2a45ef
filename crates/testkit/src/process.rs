//! A server process of a test's own, for [`crate::kafka`] and [`crate::redis`].
//!
//! [`LocalServer::start`] runs the server of a [`ServerSpec`] on a free port of 127.0.0.1, in
//! a temporary folder that holds its log (and whatever it stores), and waits until the spec's
//! probe says it is ready. It can be killed (SIGKILL, as a crash would) and restarted on the
//! same port and folder, is stopped when dropped, and a watchdog stops it and removes its
//! folder if the test process ends without dropping it.

// Test support: a server that cannot start is a failed test, with a message saying why.
#![allow(clippy::panic)]

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What differs between the servers the tests start.
#[derive(Debug)]
pub(crate) struct ServerSpec {
    /// What messages call it: "the test {noun}", "the external {noun}", "the {noun} log".
    pub noun: &'static str,
    /// The program, as messages name it.
    pub program: &'static str,
    /// The test fixture's type, for the message saying to use its `start_local`.
    pub fixture: &'static str,
    /// The environment variable naming an external server.
    pub env: &'static str,
    /// Finds the server binary.
    pub binary: fn() -> Option<PathBuf>,
    /// Said when `binary` finds none: how to install it.
    pub install_hint: &'static str,
    /// The prefix of the temporary folder's name.
    pub dir_prefix: &'static str,
    /// The log file (stdout and stderr) in that folder.
    pub log_file: &'static str,
    /// Adds the arguments and environment for a port and the folder (also the working
    /// directory) to the command.
    pub configure: fn(&mut Command, u16, &Path),
    /// Whether the server at the address is ready.
    pub ready: fn(SocketAddr) -> bool,
    /// What `ready` checks, for messages: "did not {readiness}".
    pub readiness: &'static str,
    /// How long the server may take to be ready.
    pub ready_timeout: Duration,
}

impl ServerSpec {
    /// The external server's address from [`ServerSpec::env`], when it is set (trimmed).
    pub(crate) fn external(&self) -> Option<String> {
        match std::env::var(self.env) {
            Ok(value) if !value.trim().is_empty() => Some(value.trim().to_owned()),
            _ => None,
        }
    }

    /// The fixture's local server, to `what` (kill, restart) it; an external one may not be.
    pub(crate) fn local<'a>(
        &self,
        local: Option<&'a mut LocalServer>,
        what: &str,
    ) -> &'a mut LocalServer {
        match local {
            Some(local) => local,
            None => panic!(
                "cannot {what} the external {} of {}: use {}::start_local for outage tests",
                self.noun, self.env, self.fixture
            ),
        }
    }
}

/// A running server process, killed when dropped.
#[derive(Debug)]
pub(crate) struct LocalServer {
    spec: &'static ServerSpec,
    binary: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl LocalServer {
    /// Starts the server on a free port (trying five) and waits until it is ready.
    pub(crate) fn start(spec: &'static ServerSpec) -> Self {
        let binary = (spec.binary)().unwrap_or_else(|| panic!("{}", spec.install_hint));
        let dir = tempfile::Builder::new()
            .prefix(spec.dir_prefix)
            .tempdir()
            .unwrap_or_else(|err| panic!("creating a folder for the test {}: {err}", spec.noun));
        let mut server = Self {
            spec,
            binary,
            dir,
            port: 0,
            child: None,
        };
        let mut last_error = String::new();
        for _ in 0..5 {
            server.port = crate::postgres::free_port().unwrap_or_else(|err| {
                panic!("finding a free port for the test {}: {err:#}", spec.noun)
            });
            match server.spawn() {
                Ok(()) => return server,
                Err(err) => last_error = err,
            }
        }
        panic!("the test {} did not start: {last_error}", spec.noun);
    }

    /// The port it listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server at once (SIGKILL), as a crash would, and waits until it is gone.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` is SIGKILL on Unix: no chance to flush, save or say goodbye.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs, starts it again on the same port and folder, and waits
    /// until it is ready.
    pub(crate) fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + self.spec.ready_timeout;
        loop {
            // The port may take a moment to be free again.
            match self.spawn() {
                Ok(()) => return,
                Err(err) if Instant::now() >= deadline => {
                    panic!("the test {} did not restart: {err}", self.spec.noun)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join(self.spec.log_file)
    }

    /// Starts the server and waits until it is ready; why not, when it is not.
    fn spawn(&mut self) -> Result<(), String> {
        let spec = self.spec;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|err| format!("opening the {} log: {err}", spec.noun))?;
        let log_err = log
            .try_clone()
            .map_err(|err| format!("opening the {} log: {err}", spec.noun))?;
        let mut command = Command::new(&self.binary);
        command.current_dir(self.dir.path());
        (spec.configure)(&mut command, self.port, self.dir.path());
        command.stdin(Stdio::null()).stdout(log).stderr(log_err);
        let mut child = command
            .spawn()
            .map_err(|err| format!("running {}: {err}", self.binary.display()))?;
        watch_parent(child.id(), self.dir.path());
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + spec.ready_timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "{} exited with {status} on port {}: {}",
                    spec.program,
                    self.port,
                    self.log_tail()
                ));
            }
            if (spec.ready)(address) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} did not {} on port {} within {:?}: {}",
                    spec.program,
                    spec.readiness,
                    self.port,
                    spec.ready_timeout,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.kill();
    }
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

/// The first file `name` on PATH, else in one of `also_in`.
pub(crate) fn find_binary(
    name: &str,
    also_in: impl IntoIterator<Item = PathBuf>,
) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .chain(also_in)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}
