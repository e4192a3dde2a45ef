//! Outgoing e-mail: the [`Mailer`] port and its two adapters.
//!
//! - [`SmtpMailer`]: SMTP through lettre, configured by one URL (`SOCIALDEVS_SMTP_URL`):
//!   `smtp://host:587?tls=required` (STARTTLS, refusing a server without it),
//!   `smtps://host:465` (TLS from the first byte), `smtp://host:25` (plain: a relay on the same
//!   host, or a development catcher such as Mailpit), with `user:password@` when the server
//!   wants a login. Certificates are checked against the system's roots.
//! - [`FileMailer`]: for development, when no SMTP server is configured: each message is
//!   written as an `.eml` file in one folder (any mail client or text editor opens it), and
//!   the log says which file.
//!
//! Every message is plain text. Sends are counted in [`SENT_TOTAL`] by `transport` and
//! `outcome`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Metric: messages handed to the mail transport, by `transport` (`smtp`, `file`) and
/// `outcome` (`sent`, `failed`).
pub const SENT_TOTAL: &str = "socialdevs_mail_sent_total";

/// The sender when none is configured.
pub const DEFAULT_FROM: &str = "SocialDevs <no-reply@localhost>";

/// How long one SMTP command may take before the send fails.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// One plain-text message to one recipient.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The body, plain text.
    pub text: String,
}

/// Sends mail. A failed send is an error the caller can report as "try again".
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `mail`, or fails saying why.
    async fn send(&self, mail: &Mail) -> anyhow::Result<()>;
    /// `smtp` or `file`, for logs and metrics.
    fn transport(&self) -> &'static str;
}

/// Whether `address` is one a message can be sent to (a bare `local@domain` that the mail
/// library accepts); the reason when not.
pub fn check_address(address: &str) -> Result<(), String> {
    address
        .parse::<lettre::Address>()
        .map(drop)
        .map_err(|e| e.to_string())
}

fn message(from: &Mailbox, mail: &Mail) -> anyhow::Result<Message> {
    let to: Mailbox = mail
        .to
        .parse()
        .with_context(|| format!("the recipient {:?} is not an address", mail.to))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(mail.text.clone())
        .context("building the message")
}

fn parse_from(from: &str) -> anyhow::Result<Mailbox> {
    from.parse()
        .with_context(|| format!("the sender {from:?} is not a mailbox (`Name <a@b.example>`)"))
}

fn count(transport: &'static str, result: &anyhow::Result<()>) {
    let outcome = if result.is_ok() { "sent" } else { "failed" };
    metrics::counter!(SENT_TOTAL, "transport" => transport, "outcome" => outcome).increment(1);
}

/// Sends through an SMTP server.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// A mailer for the server at `url` (see the module documentation), sending as `from`.
    /// Nothing is connected until the first send; call it inside a Tokio runtime (its
    /// connection pool lives there).
    pub fn from_url(url: &str, from: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .context(
                "SOCIALDEVS_SMTP_URL is not an SMTP URL (smtp://host:port or smtps://host:port)",
            )?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Self {
            transport,
            from: parse_from(from)?,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> anyhow::Result<()> {
        let result = async {
            let message = message(&self.from, mail)?;
            self.transport
                .send(message)
                .await
                .context("the SMTP server did not take the message")?;
            Ok(())
        }
        .await;
        count("smtp", &result);
        result
    }

    fn transport(&self) -> &'static str {
        "smtp"
    }
}

/// Writes each message as an `.eml` file in a folder (development).
pub struct FileMailer {
    transport: AsyncFileTransport<Tokio1Executor>,
    dir: PathBuf,
    from: Mailbox,
}

impl FileMailer {
    /// A mailer writing into `dir` (created if missing), sending as `from`.
    pub fn new(dir: &Path, from: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the mail folder {}", dir.display()))?;
        Ok(Self {
            transport: AsyncFileTransport::new(dir),
            dir: dir.to_path_buf(),
            from: parse_from(from)?,
        })
    }

    /// The folder the messages go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: &Mail) -> anyhow::Result<()> {
        let result = async {
            let id = self
                .transport
                .send(message(&self.from, mail)?)
                .await
                .context("writing the message file")?;
            let file = self.dir.join(format!("{id}.eml"));
            tracing::info!(file = %file.display(), subject = %mail.subject,
                "mail written to a file (no SMTP server is configured: set SOCIALDEVS_SMTP_URL)");
            Ok(())
        }
        .await;
        count("file", &result);
        result
    }

    fn transport(&self) -> &'static str {
        "file"
    }
}

#[cfg(test)]
mod tests {
    use socialdevs_testkit::smtp::SmtpServer;

    use super::*;

    fn mail(to: &str) -> Mail {
        Mail {
            to: to.into(),
            subject: "Confirm your address — SocialDevs".into(),
            text: "Open this link:\nhttp://localhost:8080/verify-email?token=abc\n.\nA line that is a dot."
                .into(),
        }
    }

    fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
        message
            .lines()
            .take_while(|l| !l.is_empty())
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
    }

    #[tokio::test]
    async fn smtp_delivers_the_message_to_the_server() {
        let server = SmtpServer::start();
        let mailer = SmtpMailer::from_url(&server.url(), "SocialDevs <no-reply@socialdevs.test>")
            .expect("mailer");
        mailer.send(&mail("ada@example.com")).await.expect("sent");
        let received = server.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(received.len(), 1, "{received:?}");
        assert_eq!(received[0].from, "no-reply@socialdevs.test");
        assert_eq!(received[0].to, ["ada@example.com"]);
        let mail = &received[0];
        assert_eq!(mail.header("To").as_deref(), Some("ada@example.com"));
        assert_eq!(
            mail.header("From").as_deref(),
            Some("SocialDevs <no-reply@socialdevs.test>")
        );
        assert!(mail.header("Subject").is_some(), "{}", mail.text());
        let body = mail.body();
        assert!(
            body.contains("verify-email?token=abc"),
            "the body arrives: {body}"
        );
        assert!(
            body.contains("\r\n.\r\nA line that is a dot."),
            "a line holding only a dot survives the DATA transfer: {body}"
        );
    }

    #[tokio::test]
    async fn smtp_fails_when_the_server_refuses_or_is_gone() {
        let server = SmtpServer::start();
        let mailer = SmtpMailer::from_url(&server.url(), DEFAULT_FROM).expect("mailer");
        server.refuse_mail(true);
        let err = mailer.send(&mail("ada@example.com")).await.unwrap_err();
        assert!(format!("{err:#}").contains("451"), "{err:#}");
        server.refuse_mail(false);
        mailer
            .send(&mail("ada@example.com"))
            .await
            .expect("taken again");
        assert_eq!(server.received().len(), 1);

        let port = server.port();
        drop(server);
        let gone = SmtpMailer::from_url(&format!("smtp://127.0.0.1:{port}"), DEFAULT_FROM)
            .expect("mailer");
        // Wait for the listener to close: the dropped server stops on its next accept.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(gone.send(&mail("ada@example.com")).await.is_err());
    }

    #[tokio::test]
    async fn bad_configuration_is_refused_at_start() {
        assert!(SmtpMailer::from_url("http://mail.example.com", DEFAULT_FROM).is_err());
        assert!(SmtpMailer::from_url("smtp://127.0.0.1:25", "not a mailbox").is_err());
        assert!(SmtpMailer::from_url("smtp://127.0.0.1:25", DEFAULT_FROM).is_ok());
        assert!(SmtpMailer::from_url("smtps://mail.example.com", DEFAULT_FROM).is_ok());
    }

    #[tokio::test]
    async fn the_file_sink_writes_one_message_file_each() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mailer = FileMailer::new(&dir.path().join("mail"), DEFAULT_FROM).expect("mailer");
        mailer
            .send(&mail("ada@example.com"))
            .await
            .expect("written");
        mailer
            .send(&mail("linus@example.com"))
            .await
            .expect("written");
        let files: Vec<_> = std::fs::read_dir(mailer.dir())
            .expect("folder")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(files.len(), 2, "{files:?}");
        let texts: Vec<String> = files
            .iter()
            .map(|f| std::fs::read_to_string(f).expect("read"))
            .collect();
        assert!(texts
            .iter()
            .any(|t| header(t, "To") == Some("linus@example.com")));
        assert!(texts.iter().all(|t| t.contains("verify-email?token=abc")));
    }

    #[test]
    fn addresses_are_checked_before_anything_is_sent() {
        assert!(check_address("ada@example.com").is_ok());
        assert!(check_address("ada").is_err());
        assert!(check_address("ada@").is_err());
        assert!(check_address("Ada <ada@example.com>").is_err());
    }
}
