//! The admin endpoint on a loopback port: `GET /metrics` (Prometheus
//! text), `GET /healthz`, `POST /flush` (flush every bucket now, the
//! serverless path), and traffic capture: `POST /capture?duration=30s`
//! (`&compressed=false` optional), `POST /capture/stop`, `GET /capture`
//! (JSON status). A deliberately tiny HTTP/1.1 responder: one request
//! per connection, bounded request size and time.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::engine::FlushHandle;
use super::telemetry::Telemetry;
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

/// The method and path of a request head, if it is complete.
pub(crate) fn request_line(head: &[u8]) -> Option<(&str, &str)> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&head[..end]).ok()?;
    let mut parts = head.lines().next()?.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    Some((method, target.split('?').next().unwrap_or(target)))
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
        Err(e @ StartError::NoPath) => bad(e.to_string()),
        Err(e) => (
            "500 Internal Server Error",
            serde_json::json!({ "error": e.to_string() }).to_string(),
        ),
    }
}

async fn serve(mut stream: TcpStream, state: AdminState) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let (method, path) = loop {
        let n = tokio::time::timeout(READ_TIMEOUT, stream.read(&mut chunk))
            .await
            .map_err(|_| std::io::ErrorKind::TimedOut)??;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some((m, p)) = request_line(&head) {
            break (m.to_string(), p.to_string());
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
    match (method.as_str(), path.as_str()) {
        ("GET", "/metrics") => {
            let body = state.telemetry.render((state.queue_len)());
            respond(&mut stream, "200 OK", super::telemetry::CONTENT_TYPE, &body).await
        }
        ("GET", "/healthz") => respond(&mut stream, "200 OK", "text/plain", "ok\n").await,
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
        (_, "/metrics" | "/healthz" | "/flush" | "/capture" | "/capture/stop") => {
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
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
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
    fn request_lines() {
        assert_eq!(
            request_line(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
            Some(("GET", "/metrics"))
        );
        assert_eq!(request_line(b"GET /metrics HTTP/1.1\r\nHost: a\r\n"), None);
        assert_eq!(request_line(b"\xff\xfe\r\n\r\n"), None);
        assert_eq!(request_line(b"\r\n\r\n"), None);
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
