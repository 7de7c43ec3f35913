//! The admin endpoint (`dogstatsd_admin_host`, default loopback):
//! `GET /metrics` (Prometheus text), `GET /healthz` (liveness),
//! `GET /readyz` (every configured listener bound), `POST /flush` (flush
//! every bucket now, the serverless path), and traffic capture:
//! `POST /capture?duration=30s` (`&compressed=false` optional),
//! `POST /capture/stop`, `GET /capture` (JSON status). A deliberately
//! tiny HTTP/1.1 responder: one request per connection, bounded request
//! size and time.
//!
//! Who may do what: the three read-only endpoints answer anyone who can
//! reach the address; every other one needs `Authorization: Bearer
//! TOKEN` ([`super::token`]), else 401. A request carrying `Origin`, or a
//! `Host` that is neither the bound address nor `localhost[:PORT]`, is a
//! browser being used against us (cross-site request, DNS rebinding):
//! 403, whatever the endpoint. Bound to an unspecified address (`0.0.0.0`)
//! any IP-literal `Host` is accepted (what probes and scrapers send; DNS
//! rebinding needs a name).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::engine::FlushHandle;
use super::telemetry::Telemetry;
use super::token::Token;
use crate::capture::{Capture, StartError};

/// Capture length when `POST /capture` names none (the Agent's default).
const DEFAULT_CAPTURE: Duration = Duration::from_secs(60);

/// Largest request head read.
const MAX_REQUEST: usize = 8 * 1024;
/// Time a client has to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What the endpoint serves from.
#[derive(Clone)]
pub(crate) struct AdminState {
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) queue_len: Arc<dyn Fn() -> usize + Send + Sync>,
    pub(crate) flush: FlushHandle,
    pub(crate) capture: Capture,
    pub(crate) token: Token,
    /// What keeps the daemon from being ready (empty: ready).
    pub(crate) not_ready: Arc<dyn Fn() -> Vec<String> + Send + Sync>,
    /// The endpoint's bound address (for the `Host` check).
    pub(crate) bound: SocketAddr,
}

/// Largest number of headers parsed.
const MAX_HEADERS: usize = 32;

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) method: String,
    /// The path, query string removed.
    pub(crate) path: String,
    host: Option<String>,
    origin: bool,
    /// The bytes after `Bearer `.
    bearer: Option<Vec<u8>>,
}

/// What parsing a partial head found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    Complete(Head),
    Partial,
    Invalid,
}

/// Parses a request head (request line and headers).
pub(crate) fn parse_head(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Invalid,
    }
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Parsed::Invalid;
    };
    let mut head = Head {
        method: method.to_string(),
        path: target.split('?').next().unwrap_or(target).to_string(),
        host: None,
        origin: false,
        bearer: None,
    };
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("host") {
            head.host = std::str::from_utf8(h.value)
                .ok()
                .map(|v| v.trim().to_string());
        } else if h.name.eq_ignore_ascii_case("origin") {
            head.origin = true;
        } else if h.name.eq_ignore_ascii_case("authorization") {
            let v = h.value.trim_ascii();
            if v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ") {
                head.bearer = Some(v[7..].trim_ascii().to_vec());
            }
        }
    }
    Parsed::Complete(head)
}

/// Is `host` (a `Host` header) one this endpoint answers to?
pub(crate) fn host_allowed(host: &str, bound: SocketAddr) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        // `[::1]:8080`, `127.0.0.1:8080`, `localhost:8080`
        Some((n, p)) if !p.contains(']') && (!n.contains(':') || n.ends_with(']')) => {
            match p.parse::<u16>() {
                Ok(p) => (n, Some(p)),
                Err(_) => return false,
            }
        }
        _ => (host, None),
    };
    if port.is_some_and(|p| p != bound.port()) {
        return false;
    }
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let ip = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    match ip.parse::<IpAddr>() {
        Ok(ip) => bound.ip().is_unspecified() || ip == bound.ip(),
        Err(_) => false,
    }
}

/// Does this endpoint need the token?
fn needs_token(path: &str) -> bool {
    !matches!(path, "/metrics" | "/healthz" | "/readyz")
}

/// Serves until `cancel`.
pub(crate) fn spawn(
    listener: TcpListener,
    state: AdminState,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) {
    let conns = tracker.clone();
    tracker.spawn(async move {
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let state = state.clone();
                        conns.spawn(async move {
                            let _ = tokio::time::timeout(READ_TIMEOUT * 2, serve(stream, state)).await;
                        });
                    }
                    Err(e) => {
                        tracing::debug!("admin accept: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
            }
        }
    });
}

/// The value of `name` in the request line's query string, if present.
pub(crate) fn query_param(head: &[u8], name: &str) -> Option<String> {
    let line = head.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let target = line.split(' ').nth(1)?;
    let (_, query) = target.split_once('?')?;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| v.to_string())
    })
}

/// `POST /capture`: (status, JSON body).
fn start_capture(head: &[u8], capture: &Capture) -> (&'static str, String) {
    let bad = |msg: String| {
        (
            "400 Bad Request",
            serde_json::json!({ "error": msg }).to_string(),
        )
    };
    let duration = match query_param(head, "duration") {
        None => DEFAULT_CAPTURE,
        Some(d) => match crate::intake::cli::parse_duration(&d) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => return bad("duration must be positive".into()),
            Err(e) => return bad(e),
        },
    };
    let compressed = match query_param(head, "compressed").as_deref() {
        None => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(other) => return bad(format!("compressed: expected true or false, got {other:?}")),
    };
    match capture.start(Some(duration), compressed) {
        Ok(st) => ("200 OK", serde_json::to_string(&st).unwrap_or_default()),
        Err(e @ StartError::Running(_)) => (
            "409 Conflict",
            serde_json::json!({ "error": e.to_string() }).to_string(),
        ),
        Err(e @ (StartError::NoPath | StartError::TooLong { .. })) => bad(e.to_string()),
        Err(e) => (
            "500 Internal Server Error",
            serde_json::json!({ "error": e.to_string() }).to_string(),
        ),
    }
}

async fn serve(mut stream: TcpStream, state: AdminState) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let req = loop {
        let n = tokio::time::timeout(READ_TIMEOUT, stream.read(&mut chunk))
            .await
            .map_err(|_| std::io::ErrorKind::TimedOut)??;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
        match parse_head(&head) {
            Parsed::Complete(req) => break req,
            Parsed::Invalid => {
                return respond(
                    &mut stream,
                    "400 Bad Request",
                    "text/plain",
                    "bad request\n",
                )
                .await;
            }
            Parsed::Partial => {}
        }
        if head.len() > MAX_REQUEST {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            )
            .await;
        }
    };
    if req.origin {
        state.telemetry.admin_forbidden();
        let body = "cross-origin requests are refused\n";
        return respond(&mut stream, "403 Forbidden", "text/plain", body).await;
    }
    if !req
        .host
        .as_deref()
        .is_some_and(|h| host_allowed(h, state.bound))
    {
        state.telemetry.admin_forbidden();
        let body = "Host must be the bound address or localhost\n";
        return respond(&mut stream, "403 Forbidden", "text/plain", body).await;
    }
    if needs_token(&req.path)
        && !req
            .bearer
            .as_deref()
            .is_some_and(|b| state.token.matches(b))
    {
        state.telemetry.admin_unauthorized();
        let body =
            "missing or wrong token (Authorization: Bearer, see dogstatsd_admin_token_file)\n";
        return respond_with(
            &mut stream,
            "401 Unauthorized",
            "WWW-Authenticate: Bearer\r\n",
            "text/plain",
            body,
        )
        .await;
    }
    let (method, path) = (req.method, req.path);
    match (method.as_str(), path.as_str()) {
        ("GET", "/metrics") => {
            let body = state.telemetry.render((state.queue_len)());
            respond(&mut stream, "200 OK", super::telemetry::CONTENT_TYPE, &body).await
        }
        ("GET", "/healthz") => respond(&mut stream, "200 OK", "text/plain", "ok\n").await,
        ("GET", "/readyz") => {
            let missing = (state.not_ready)();
            if missing.is_empty() {
                respond(&mut stream, "200 OK", "text/plain", "ready\n").await
            } else {
                let body = format!("not ready: {}\n", missing.join("; "));
                respond(&mut stream, "503 Service Unavailable", "text/plain", &body).await
            }
        }
        ("POST", "/capture") => {
            let (status, body) = start_capture(&head, &state.capture);
            respond(&mut stream, status, "application/json", &body).await
        }
        ("POST", "/capture/stop") => {
            let capture = state.capture.clone();
            let done = tokio::task::spawn_blocking(move || capture.stop())
                .await
                .ok()
                .flatten();
            match done {
                Some(st) => {
                    let body = serde_json::to_string(&st).unwrap_or_default();
                    respond(&mut stream, "200 OK", "application/json", &body).await
                }
                None => {
                    let body = r#"{"error":"no capture is running"}"#;
                    respond(&mut stream, "409 Conflict", "application/json", body).await
                }
            }
        }
        ("GET", "/capture") => {
            let body = serde_json::to_string(&state.capture.status()).unwrap_or_default();
            respond(&mut stream, "200 OK", "application/json", &body).await
        }
        ("POST", "/flush") => {
            let flush = state.flush.clone();
            let done = tokio::task::spawn_blocking(move || flush.flush_now(Duration::from_secs(2)))
                .await
                .unwrap_or(false);
            if done {
                respond(&mut stream, "200 OK", "text/plain", "flushed\n").await
            } else {
                respond(
                    &mut stream,
                    "503 Service Unavailable",
                    "text/plain",
                    "stopping\n",
                )
                .await
            }
        }
        (_, "/metrics" | "/healthz" | "/readyz" | "/flush" | "/capture" | "/capture/stop") => {
            respond(&mut stream, "405 Method Not Allowed", "text/plain", "").await
        }
        _ => respond(&mut stream, "404 Not Found", "text/plain", "not found\n").await,
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    respond_with(stream, status, "", content_type, body).await
}

/// [`respond`] with extra header lines (each ending in CRLF).
async fn respond_with(
    stream: &mut TcpStream,
    status: &str,
    extra: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        let Parsed::Complete(h) = parse_head(
            b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nauthorization: bearer  abc \r\n\r\n",
        ) else {
            panic!()
        };
        assert_eq!((h.method.as_str(), h.path.as_str()), ("GET", "/metrics"));
        assert_eq!(h.host.as_deref(), Some("a"));
        assert_eq!(h.bearer.as_deref(), Some(&b"abc"[..]));
        assert!(!h.origin);
        assert_eq!(
            parse_head(b"GET /metrics HTTP/1.1\r\nHost: a\r\n"),
            Parsed::Partial
        );
        assert_eq!(parse_head(b"\xff\xfe\r\n\r\n"), Parsed::Invalid);
        let Parsed::Complete(h) =
            parse_head(b"POST /flush HTTP/1.1\r\nOrigin: http://evil\r\n\r\n")
        else {
            panic!()
        };
        assert!(h.origin && h.host.is_none() && h.bearer.is_none());
    }

    #[test]
    fn hosts() {
        let lo: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        for ok in ["127.0.0.1:5000", "127.0.0.1", "localhost", "LOCALHOST:5000"] {
            assert!(host_allowed(ok, lo), "{ok}");
        }
        for bad in [
            "127.0.0.1:5001",
            "evil.example",
            "evil.example:5000",
            "10.0.0.1:5000",
            "localhost:x",
            "",
        ] {
            assert!(!host_allowed(bad, lo), "{bad}");
        }
        let any: SocketAddr = "0.0.0.0:5000".parse().unwrap();
        assert!(host_allowed("10.1.2.3:5000", any));
        assert!(!host_allowed("rebind.example:5000", any));
        let v6: SocketAddr = "[::1]:5000".parse().unwrap();
        assert!(host_allowed("[::1]:5000", v6));
        assert!(host_allowed("[::1]", v6));
        assert!(!host_allowed("[::2]:5000", v6));
    }

    #[test]
    fn query_params() {
        let head = b"POST /capture?duration=30s&compressed=false HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(query_param(head, "duration").as_deref(), Some("30s"));
        assert_eq!(query_param(head, "compressed").as_deref(), Some("false"));
        assert_eq!(query_param(head, "other"), None);
        assert_eq!(
            query_param(b"POST /capture HTTP/1.1\r\n\r\n", "duration"),
            None
        );
    }
}
