//! The command line: `serve`, `migrate`, `keygen`, `seed`, `openapi`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use socialdevs_platform::telemetry::{self, LogFormat};

use crate::config::Settings;
use crate::{keys, seed, Application};

/// SocialDevs: micro-blogging for developers.
#[derive(Debug, Parser)]
#[command(name = "socialdevs", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP services (all-in-one by default).
    Serve {
        /// Settings.
        #[command(flatten)]
        settings: Settings,
    },
    /// Apply every service's database migrations (as SOCIALDEVS_MIGRATE_DATABASE_URL, else
    /// SOCIALDEVS_DATABASE_URL), then exit.
    Migrate {
        /// PostgreSQL: then create or update each service's login role, the one its own URL
        /// names (SOCIALDEVS_USERS_DATABASE_URL, ..._POSTS_..., ..._NOTIFICATIONS_...,
        /// ..._EVENTS_...; the password too, when the URL has one), and grant it the use of
        /// its schema and nothing else. Idempotent; the migration role needs CREATEROLE.
        #[arg(long, env = "SOCIALDEVS_MIGRATE_GRANT_ROLES", action = clap::ArgAction::Set,
              default_value_t = false, default_missing_value = "true", num_args = 0..=1,
              value_parser = clap::builder::BoolishValueParser::new())]
        grant_roles: bool,
        /// Settings.
        #[command(flatten)]
        settings: Settings,
    },
    /// Write a new Ed25519 key pair for access tokens (jwt_private.pem, jwt_public.pem) and
    /// the secret services sign their calls to each other with (internal.secret).
    Keygen {
        /// Folder to write the key pair into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Fill the database with a realistic demo graph of users, follows, posts and likes.
    Seed {
        /// How many users.
        #[arg(long, default_value_t = 50)]
        users: u32,
        /// How many posts.
        #[arg(long, default_value_t = 500)]
        posts: u32,
        /// Settings.
        #[command(flatten)]
        settings: Settings,
    },
    /// Exit 0 when the local process answers ready (for container health checks, where the
    /// image has no shell or curl).
    Healthcheck {
        /// Settings (the port comes from SOCIALDEVS_LISTEN / SOCIALDEVS_SERVICES).
        #[command(flatten)]
        settings: Settings,
        /// Check liveness (/healthz) instead of readiness (/readyz).
        #[arg(long)]
        live: bool,
    },
    /// Print the merged OpenAPI document.
    Openapi {
        /// Settings.
        #[command(flatten)]
        settings: Settings,
    },
}

fn log_format(settings: Option<&Settings>) -> LogFormat {
    settings
        .and_then(|s| s.log_format.as_deref())
        .and_then(LogFormat::parse)
        .unwrap_or_else(LogFormat::detect)
}

fn init_logs(settings: Option<&Settings>) {
    telemetry::init(log_format(settings));
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { settings } => {
            let telemetry = telemetry::init_with(log_format(Some(&settings)), &settings.traces());
            let served = async {
                Application::build(settings)
                    .await?
                    .run_until_stopped()
                    .await
            };
            let result = served.await;
            // Send the spans still buffered, also when serving failed.
            telemetry.shutdown().await;
            result
        }
        Command::Migrate {
            settings,
            grant_roles,
        } => {
            init_logs(Some(&settings));
            for line in crate::storage::migrate(&settings, grant_roles).await? {
                println!("{line}");
            }
            Ok(())
        }
        Command::Keygen { out, force } => {
            init_logs(None);
            let private = out.join(keys::PRIVATE_KEY_FILE);
            let public = out.join(keys::PUBLIC_KEY_FILE);
            if keys::write_key_pair(&out, force)? {
                println!("wrote {} and {}", private.display(), public.display());
            } else {
                println!(
                    "kept the existing {} and {} (pass --force to replace them)",
                    private.display(),
                    public.display()
                );
            }
            let secret = out.join(keys::INTERNAL_SECRET_FILE);
            if keys::write_internal_secret(&out, force)? {
                println!("wrote {}", secret.display());
            } else {
                println!("kept the existing {}", secret.display());
            }
            Ok(())
        }
        Command::Seed {
            users,
            posts,
            settings,
        } => {
            init_logs(Some(&settings));
            seed::run(&settings, users, posts).await
        }
        Command::Healthcheck { settings, live } => {
            let port = settings
                .listen_addr()
                .rsplit(':')
                .next()
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or_else(|| settings.services.default_port());
            let path = if live { "/healthz" } else { "/readyz" };
            let (status, body) = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                fetch(&format!("127.0.0.1:{port}"), path),
            )
            .await
            .map_err(|_| anyhow::anyhow!("no answer from 127.0.0.1:{port}{path} within 5 s"))??;
            anyhow::ensure!(status == 200, "{path} answered {status}: {body}");
            println!("{path}: {body}");
            Ok(())
        }
        Command::Openapi { mut settings } => {
            settings.listen = Some("127.0.0.1:0".into());
            let dir = tempdir_for_openapi()?;
            settings.data_dir = dir.clone();
            settings.database_url = None;
            let app = Application::build(settings).await?;
            let port = app.port();
            let server = tokio::spawn(app.run_until(std::future::pending()));
            let answer = fetch(&format!("127.0.0.1:{port}"), "/api/v1/openapi.json").await;
            server.abort();
            let _ = std::fs::remove_dir_all(&dir);
            println!("{}", answer?.1);
            Ok(())
        }
    }
}

fn tempdir_for_openapi() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("socialdevs-openapi-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A minimal HTTP/1.1 GET (status and body), so these commands need no HTTP client.
async fn fetch(addr: &str, path: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
