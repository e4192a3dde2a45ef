//! Real PostgreSQL for tests.
//!
//! [`database`] gives each test its own database on a shared server: the server named by
//! `SOCIALDEVS_TEST_DATABASE_URL` (any database on it; the tests create their own), or else
//! one throwaway cluster per test process, made with `initdb` in a temporary folder and
//! started on a free port, which a watchdog stops and removes when the process exits.
//! [`PgCluster`] is such a cluster owned by one test, for tests that stop and restart it.
//!
//! Without the server binaries the tests fail and say what to install; they never skip.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{bail, Context};
use sqlx::{Connection, Executor, PgConnection};

/// The environment variable naming an existing server for the tests.
pub const TEST_DATABASE_URL: &str = "SOCIALDEVS_TEST_DATABASE_URL";

const INSTALL_HINT: &str = "PostgreSQL server binaries (initdb, pg_ctl) were not found: install \
     them (Debian/Ubuntu: `sudo apt-get install postgresql`) or set SOCIALDEVS_TEST_DATABASE_URL \
     to a server the tests may create databases on";

/// A database of its own for one test. With an external server it is dropped afterwards.
#[derive(Debug)]
pub struct TestDatabase {
    /// Connection URL of the new database.
    pub url: String,
    name: String,
    admin_url: String,
    drop_on_exit: bool,
}

/// A fresh, empty database on the shared test server.
pub async fn database() -> anyhow::Result<TestDatabase> {
    let server = shared_server()?;
    TestDatabase::create(&server.admin_url, server.external).await
}

impl TestDatabase {
    /// A fresh, empty database on the server at `admin_url`.
    pub async fn create(admin_url: &str, drop_on_exit: bool) -> anyhow::Result<Self> {
        let name = format!("socialdevs_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("connecting to the test server at {}", redact(admin_url)))?;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .with_context(|| format!("creating the test database {name}"))?;
        admin.close().await.ok();
        Ok(Self {
            url: with_database(admin_url, &name)?,
            name,
            admin_url: admin_url.to_owned(),
            drop_on_exit,
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name of this test's role `suffix`: `<database>_<suffix>`, so tests sharing a server
    /// (roles are the server's, not a database's) never meet each other's roles. Such roles
    /// are dropped with the database.
    pub fn role_name(&self, suffix: &str) -> String {
        let name = format!("{}_{suffix}", self.name);
        assert!(
            name.len() <= 63,
            "the role name {name} is longer than PostgreSQL keeps"
        );
        name
    }

    /// This database's URL as the login role `suffix` ([`Self::role_name`]) with `password`;
    /// the role itself is not created here.
    pub fn role_url(&self, suffix: &str, password: &str) -> String {
        let (scheme, rest) = self
            .url
            .split_once("://")
            .unwrap_or(("postgres", &self.url));
        let host = rest.split_once('@').map_or(rest, |(_, host)| host);
        format!("{scheme}://{}:{password}@{host}", self.role_name(suffix))
    }

    /// Creates the login role `suffix` ([`Self::role_name`]) with `attributes` (e.g.
    /// `CREATEROLE`) and the right to create schemas in this database, as a migration role
    /// has; its URL.
    pub async fn create_migration_role(&self, suffix: &str) -> anyhow::Result<String> {
        let role = self.role_name(suffix);
        let mut admin = PgConnection::connect(&self.url).await?;
        admin
            .execute(
                format!(
                    "CREATE ROLE {role} LOGIN CREATEROLE PASSWORD 'migrate'; \
                     GRANT CREATE ON DATABASE {} TO {role}",
                    self.name
                )
                .as_str(),
            )
            .await
            .with_context(|| format!("creating the role {role}"))?;
        admin.close().await.ok();
        Ok(self.role_url(suffix, "migrate"))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if !self.drop_on_exit {
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a runtime; do the async work on a thread with its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let mut admin = PgConnection::connect(&admin_url).await?;
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await?;
                // The test's roles (`<name>_*`), whose rights went with the database.
                let roles: Vec<String> = sqlx::query_scalar(
                    "SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1)",
                )
                .bind(format!("{name}_"))
                .fetch_all(&mut admin)
                .await?;
                for role in roles {
                    admin
                        .execute(format!("DROP ROLE IF EXISTS \"{role}\"").as_str())
                        .await?;
                }
                anyhow::Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("note: could not drop the test database {}", self.name);
        }
    }
}

struct SharedServer {
    admin_url: String,
    external: bool,
}

fn shared_server() -> anyhow::Result<&'static SharedServer> {
    static SERVER: OnceLock<Result<SharedServer, String>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            if let Ok(url) = std::env::var(TEST_DATABASE_URL) {
                if !url.trim().is_empty() {
                    return Ok(SharedServer {
                        admin_url: url,
                        external: true,
                    });
                }
            }
            PgCluster::start()
                .map(|cluster| {
                    let server = SharedServer {
                        admin_url: cluster.admin_url(),
                        external: false,
                    };
                    // Lives as long as the process; the watchdog cleans up after it.
                    std::mem::forget(cluster);
                    server
                })
                .map_err(|err| format!("{err:#}"))
        })
        .as_ref()
        .map_err(|message| anyhow::anyhow!("{message}"))
}

/// A throwaway PostgreSQL cluster in a temporary folder, on a free port of 127.0.0.1.
///
/// Stopped and removed when dropped, and by a watchdog when the test process exits (statics
/// are never dropped).
#[derive(Debug)]
pub struct PgCluster {
    dir: PathBuf,
    bindir: PathBuf,
    port: u16,
    as_postgres_user: bool,
}

impl PgCluster {
    /// Creates and starts a cluster (about a second).
    pub fn start() -> anyhow::Result<Self> {
        let bindir = server_bindir()?;
        let as_postgres_user = running_as_root()?;
        let dir = tempfile::Builder::new()
            .prefix("socialdevs-pg-")
            .tempdir()
            .context("creating a folder for the test cluster")?
            .keep();
        let mut cluster = Self {
            dir,
            bindir,
            port: 0,
            as_postgres_user,
        };
        if as_postgres_user {
            run(Command::new("chown").arg("postgres:").arg(&cluster.dir))
                .context("handing the cluster folder to the postgres user")?;
        }
        let initdb = cluster
            .command("initdb")
            .arg("-D")
            .arg(cluster.data_dir())
            .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
            .arg("--locale=C")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .context("running initdb")?;
        if !initdb.status.success() {
            bail!(
                "initdb failed: {}",
                String::from_utf8_lossy(&initdb.stderr).trim()
            );
        }
        cluster.watch_parent()?;
        let mut last_error = None;
        for _ in 0..5 {
            cluster.port = free_port()?;
            match cluster.start_server() {
                Ok(()) => return Ok(cluster),
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("the test cluster did not start")))
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of the `postgres` maintenance database.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast shutdown: open sessions are ended).
    pub fn stop(&self) -> anyhow::Result<()> {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "stop"]))
        .context("stopping the test cluster")
    }

    /// Starts the stopped server again on the same port.
    pub fn restart(&self) -> anyhow::Result<()> {
        self.start_server()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn start_server(&self) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=400",
            self.port,
            self.dir.display()
        );
        // The server inherits pg_ctl's output: keep it off the test's pipes.
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-o", &options, "-l"])
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "30", "start"]))
        .with_context(|| format!("starting the test cluster on port {}", self.port))
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bindir.join(program);
        if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// A detached shell that stops the server and removes the folder once this process ends.
    fn watch_parent(&self) -> anyhow::Result<()> {
        let stop = format!(
            "{} -D '{}' -m immediate stop",
            self.bindir.join("pg_ctl").display(),
            self.data_dir().display()
        );
        let stop = if self.as_postgres_user {
            format!("runuser -u postgres -- {stop}")
        } else {
            stop
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; \
             rm -rf '{dir}'",
            pid = std::process::id(),
            dir = self.dir.display()
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the cluster watchdog")?;
        Ok(())
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("running {command:?}"))?;
    if !output.success() {
        bail!("{command:?} exited with {output}");
    }
    Ok(())
}

/// Where `initdb` and `pg_ctl` live: `SOCIALDEVS_TEST_PG_BINDIR`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian), else `PATH`.
fn server_bindir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SOCIALDEVS_TEST_PG_BINDIR") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
                    let bin = entry.path().join("bin");
                    bin.join("initdb").exists().then_some((version, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths).find(|dir| Path::new(dir).join("initdb").exists())
        })
        .ok_or_else(|| anyhow::anyhow!(INSTALL_HINT))
}

fn running_as_root() -> anyhow::Result<bool> {
    let output = Command::new("id")
        .arg("-u")
        .output()
        .context("running `id -u`")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// A port that was free a moment ago, and that this process has not handed out before: tests
/// running side by side each start servers on ports found here, and two of them given the
/// same port would talk to each other's servers.
pub fn free_port() -> anyhow::Result<u16> {
    static HANDED_OUT: std::sync::Mutex<Option<std::collections::HashSet<u16>>> =
        std::sync::Mutex::new(None);
    for _ in 0..1_000 {
        let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
        let port = listener.local_addr()?.port();
        let mut handed_out = HANDED_OUT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if handed_out.get_or_insert_with(Default::default).insert(port) {
            return Ok(port);
        }
    }
    anyhow::bail!("no free port that was not handed out before")
}

/// `url` with its database name replaced.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").context("a postgres:// URL")? + 3;
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

/// Waits until a TCP connection to `port` succeeds or `timeout` passes.
pub async fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://u:p@h:5/db?sslmode=disable", "t1").unwrap(),
            "postgres://u:p@h:5/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h", "t2").unwrap(),
            "postgres://h/t2"
        );
    }

    #[tokio::test]
    async fn gives_each_test_an_empty_database() {
        let a = database().await.unwrap();
        let b = database().await.unwrap();
        assert_ne!(a.url, b.url);
        let mut conn = PgConnection::connect(&a.url).await.unwrap();
        let name: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(name, a.name());
    }
}
