//! A real SMTP server for tests, in the test's own process.
//!
//! [`SmtpServer::start`] listens on a free port of 127.0.0.1 and speaks SMTP through `mailin`
//! (the protocol state machine of the mailin server: greeting, EHLO, MAIL, RCPT, DATA with
//! dot-unstuffing, QUIT), one thread per connection. Every message it accepts is kept as
//! [`ReceivedMail`]: the envelope and the raw message, for the test to read. Nothing is relayed.
//!
//! [`SmtpServer::refuse_mail`] makes it answer every `MAIL FROM` with a 451 (a server that is
//! up but cannot take mail now), for tests of what a sender does then.

// Test support: a server that cannot start is a failed test, with a message saying why.
#![allow(clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mailin::{Action, Handler, Response, SessionBuilder};

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The message as sent (headers and body, dot-unstuffed).
    pub data: Vec<u8>,
}

impl ReceivedMail {
    /// The message as sent, headers and body, as text (lossy for invalid UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// The value of the first header called `name` (any case), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = self.text();
        let (head, _) = text.split_once("\r\n\r\n")?;
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.split("\r\n").find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }

    /// The body as a reader sees it: decoded from quoted-printable when it was sent so (a
    /// sender's choice for lines longer than 78 characters, such as links).
    pub fn body(&self) -> String {
        let text = self.text();
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let quoted = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if quoted {
            quoted_printable::decode(body, quoted_printable::ParseMode::Robust)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_else(|_| body.to_owned())
        } else {
            body.to_owned()
        }
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<ReceivedMail>>,
    refusing: AtomicBool,
}

impl Shared {
    fn received(&self) -> MutexGuard<'_, Vec<ReceivedMail>> {
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running SMTP server for one test; it stops taking connections when dropped.
pub struct SmtpServer {
    port: u16,
    shared: Arc<Shared>,
    stopped: Arc<AtomicBool>,
}

impl SmtpServer {
    /// Starts a server on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("the test SMTP server cannot listen on 127.0.0.1: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the test SMTP server has no address: {e}"))
            .port();
        let shared = Arc::new(Shared::default());
        let stopped = Arc::new(AtomicBool::new(false));
        let (accepting, stop) = (shared.clone(), stopped.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let shared = accepting.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        Self {
            port,
            shared,
            stopped,
        }
    }

    /// `smtp://127.0.0.1:PORT` (plain SMTP, no TLS, no authentication).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message accepted so far, oldest first.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.shared.received().clone()
    }

    /// Refuses (451) or takes again every new message.
    pub fn refuse_mail(&self, refuse: bool) {
        self.shared.refusing.store(refuse, Ordering::SeqCst);
    }

    /// Waits up to `timeout` until `count` messages have arrived; returns them (fewer when the
    /// time ran out).
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= count || Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One connection's session: the envelope and data of the message in progress.
struct Session {
    shared: Arc<Shared>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Session {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        if self.shared.refusing.load(Ordering::SeqCst) {
            return mailin::response::Response::custom(451, "try again later".into());
        }
        self.from = from.to_owned();
        self.to.clear();
        mailin::response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        self.to.push(to.to_owned());
        mailin::response::OK
    }

    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> Response {
        self.data.clear();
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.shared.received().push(ReceivedMail {
            from: std::mem::take(&mut self.from),
            to: std::mem::take(&mut self.to),
            data: std::mem::take(&mut self.data),
        });
        mailin::response::OK
    }
}

fn serve(stream: TcpStream, shared: &Arc<Shared>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(peer) = stream.peer_addr() else { return };
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let handler = Session {
        shared: shared.clone(),
        from: String::new(),
        to: Vec::new(),
        data: Vec::new(),
    };
    let mut session = SessionBuilder::new("socialdevs-test-smtp").build(peer.ip(), handler);
    if write(&mut writer, &session.greeting()).is_err() {
        return;
    }
    let mut reader = BufReader::new(stream);
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let response = session.process(&line);
        match response.action {
            Action::NoReply => {}
            Action::Reply => {
                if write(&mut writer, &response).is_err() {
                    return;
                }
            }
            Action::Close | Action::UpgradeTls => {
                let _ = write(&mut writer, &response);
                return;
            }
        }
    }
}

fn write(out: &mut TcpStream, response: &Response) -> std::io::Result<()> {
    response.write_to(out)?;
    out.flush()
}
