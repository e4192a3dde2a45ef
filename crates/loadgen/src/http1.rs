//! The measured requests' client: one keep-alive HTTP/1.1 connection per worker on hyper's
//! connection API, with nothing between the request and the socket (no pool, no redirects,
//! no URL parsing per request). It costs the machine a fraction of what a general-purpose
//! client does, which matters when the load generator shares the cores of the server it
//! measures.

use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use http_body_util::{BodyExt, Full};

/// Where the requests go: the server's address and the base URL's path.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`, to connect to and to send as `Host`.
    authority: String,
    host: HeaderValue,
    /// The base URL's path without its trailing slash (`""` at the root).
    prefix: String,
}

impl Target {
    /// The target of `base_url` (`http://host[:port][/prefix]`).
    pub fn new(base_url: &str) -> anyhow::Result<Self> {
        let uri: Uri = base_url
            .parse()
            .map_err(|e| anyhow::anyhow!("{base_url:?} is not a URL: {e}"))?;
        anyhow::ensure!(
            uri.scheme_str() == Some("http"),
            "the measured requests go over plain HTTP/1.1: give an http:// base URL (the \
             server's or the edge's plain port), not {base_url:?}"
        );
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow::anyhow!("{base_url:?} has no host"))?;
        let host = HeaderValue::from_str(authority.as_str())?;
        let authority = match authority.port_u16() {
            Some(_) => authority.to_string(),
            None => format!("{}:80", authority.host()),
        };
        Ok(Self {
            authority,
            host,
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// A request for `path_and_query` (from the API's root, starting with `/`), with a
    /// bearer token and, for a body, `application/json`.
    pub fn request(
        &self,
        method: Method,
        path_and_query: &str,
        token: &str,
        json: Option<Vec<u8>>,
    ) -> anyhow::Result<Request<Full<Bytes>>> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path_and_query}", self.prefix))
            .header(HOST, self.host.clone())
            .header(AUTHORIZATION, format!("Bearer {token}"));
        let body = match json {
            Some(json) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(json))
            }
            None => Full::new(Bytes::new()),
        };
        Ok(builder.body(body)?)
    }
}

/// One keep-alive connection, opened on first use and again after it failed or closed.
#[derive(Default)]
pub struct Connection {
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    /// Sends `request` and reads the whole answer: its status, or `Err` on a transport
    /// failure (the connection is then dropped and the next request opens a new one).
    /// Cancelling the future drops the connection too: its state is unknown.
    pub async fn send(
        &mut self,
        target: &Target,
        request: Request<Full<Bytes>>,
    ) -> Result<u16, ()> {
        // Taken for the exchange: a cancelled or failed one leaves no connection behind.
        let mut sender = match self.sender.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => connect(target).await?,
        };
        sender.ready().await.map_err(drop)?;
        let response = sender.send_request(request).await.map_err(drop)?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            frame.map_err(drop)?;
        }
        self.sender = Some(sender);
        Ok(status)
    }
}

async fn connect(target: &Target) -> Result<SendRequest<Full<Bytes>>, ()> {
    let stream = TcpStream::connect(&target.authority).await.map_err(drop)?;
    stream.set_nodelay(true).map_err(drop)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(drop)?;
    // The connection's I/O runs as a task of its own; it ends when the sender is dropped
    // or the server closes.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_keep_the_base_path_and_default_the_port() {
        let t = Target::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.prefix, "");
        let r = t
            .request(Method::GET, "/api/v1/timeline/home?limit=20", "tok", None)
            .unwrap();
        assert_eq!(r.uri(), "/api/v1/timeline/home?limit=20");
        assert_eq!(r.headers()[HOST], "127.0.0.1:8080");
        assert_eq!(r.headers()[AUTHORIZATION], "Bearer tok");
        assert!(r.headers().get(CONTENT_TYPE).is_none());

        let t = Target::new("http://edge.local/socialdevs/").unwrap();
        assert_eq!(t.authority, "edge.local:80");
        assert_eq!(t.host, "edge.local");
        let r = t
            .request(Method::POST, "/api/v1/posts", "tok", Some(b"{}".to_vec()))
            .unwrap();
        assert_eq!(r.uri(), "/socialdevs/api/v1/posts");
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
    }

    /// A server that answers each connection's first request `200` and then closes it.
    async fn one_answer_per_connection() -> (Target, tokio::task::JoinHandle<usize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = Target::new(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let server = tokio::spawn(async move {
            let mut accepted = 0;
            while accepted < 3 {
                let (mut socket, _) = listener.accept().await.unwrap();
                accepted += 1;
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = socket.read(&mut buf).await.unwrap();
                    request.extend_from_slice(&buf[..n]);
                }
                socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await
                    .unwrap();
                drop(socket);
            }
            accepted
        });
        (target, server)
    }

    #[tokio::test]
    async fn a_closed_connection_is_opened_again_for_the_next_request() {
        let (target, server) = one_answer_per_connection().await;
        let mut connection = Connection::default();
        for _ in 0..3 {
            let request = target.request(Method::GET, "/", "tok", None).unwrap();
            // The server may close before or after hyper sees the answer end: either the
            // exchange succeeds, or it fails once and the next one reconnects.
            let mut status = connection.send(&target, request).await;
            if status.is_err() {
                let request = target.request(Method::GET, "/", "tok", None).unwrap();
                status = connection.send(&target, request).await;
            }
            assert_eq!(status, Ok(200));
        }
        assert_eq!(server.await.unwrap(), 3);
    }

    #[tokio::test]
    async fn nothing_listening_is_a_transport_failure() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = Target::new(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        drop(listener);
        let request = target.request(Method::GET, "/", "tok", None).unwrap();
        assert_eq!(Connection::default().send(&target, request).await, Err(()));
    }

    #[test]
    fn refuses_what_it_cannot_speak() {
        assert!(Target::new("https://example.org").is_err());
        assert!(Target::new("not a url").is_err());
    }
}
