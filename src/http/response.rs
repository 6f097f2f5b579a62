//! Responses on the wire: the [`Response`] and [`Body`] types handlers return, the status line
//! and headers the layer adds (`Date`, `Content-Length` or chunked framing, `Connection`), and
//! writing with a total deadline per response.
//!
//! A fixed body (`Bytes`, `Shared`) is written without blocking: what the socket does not take
//! at once goes back to the poller as a [`Pending`] write, so a client that reads slowly holds
//! a file descriptor, never a worker. A `Stream` body is produced while it is written, so its
//! worker writes it blocking, each write bounded by what is left of `write_timeout`.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, IoSlice, Write};
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;

/// Writes a body (or, for [`Body::Raw`], everything) to the connection.
pub type WriteFn = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

/// A response body.
pub enum Body {
    /// Owned bytes.
    Bytes(Vec<u8>),
    /// Bytes shared with a cache: written from the shared buffer, never copied.
    Shared(Arc<[u8]>),
    /// Produced while it is written. With `len`, the layer sends `Content-Length` and closes
    /// the connection if the function writes a different number of bytes; without, it uses
    /// chunked transfer coding (HTTP/1.1) or ends the body by closing (HTTP/1.0). An error
    /// from the function closes the connection, so the client sees a truncated response.
    /// For `HEAD` the function is not called.
    Stream { len: Option<u64>, write: WriteFn },
    /// No status line and no headers from the layer: the function writes whatever it wants
    /// (the fault-injecting test registries: hangs, truncated or garbage answers) and the
    /// connection is closed afterwards. Bounded by `write_timeout` like any response. Only
    /// with the `test-hooks` feature, which the tests enable: the product never sends one.
    #[cfg(feature = "test-hooks")]
    Raw(WriteFn),
}

impl Body {
    pub(crate) fn empty() -> Body {
        Body::Bytes(Vec::new())
    }

    /// A streamed body (see [`Body::Stream`]).
    pub fn stream(
        len: Option<u64>,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()> + Send + 'static,
    ) -> Body {
        Body::Stream {
            len,
            write: Box::new(write),
        }
    }

    /// The body's length when known before it is written.
    pub fn len(&self) -> Option<u64> {
        match self {
            Body::Bytes(b) => Some(b.len() as u64),
            Body::Shared(b) => Some(b.len() as u64),
            Body::Stream { len, .. } => *len,
            #[cfg(feature = "test-hooks")]
            Body::Raw(_) => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The bytes of a fixed body; `None` for a stream or raw body.
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        match self {
            Body::Bytes(b) => Some(b),
            Body::Shared(b) => Some(b),
            Body::Stream { .. } => None,
            #[cfg(feature = "test-hooks")]
            Body::Raw(_) => None,
        }
    }

    /// All of the body in memory (a stream is run into a buffer); for tests and tools.
    #[cfg(test)]
    pub(crate) fn into_vec(self) -> io::Result<Vec<u8>> {
        match self {
            Body::Bytes(b) => Ok(b),
            Body::Shared(b) => Ok(b.to_vec()),
            Body::Stream { write, .. } => {
                let mut out = Vec::new();
                write(&mut out)?;
                Ok(out)
            }
            #[cfg(feature = "test-hooks")]
            Body::Raw(write) => {
                let mut out = Vec::new();
                write(&mut out)?;
                Ok(out)
            }
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Body::Shared(b) => write!(f, "Shared({} bytes)", b.len()),
            Body::Stream { len, .. } => write!(f, "Stream(len {len:?})"),
            #[cfg(feature = "test-hooks")]
            Body::Raw(_) => f.write_str("Raw"),
        }
    }
}

/// Fixed bodies compare by content; streams never compare equal.
impl PartialEq for Body {
    fn eq(&self, other: &Body) -> bool {
        match (self.bytes(), other.bytes()) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body::Bytes(v)
    }
}

/// What a handler answers. The layer adds `Date`, the framing headers and `Connection`;
/// handlers must not set those (any they set are dropped).
#[derive(Debug, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(Cow<'static, str>, String)>,
    pub body: Body,
}

impl Response {
    pub fn new(status: u16, body: impl Into<Body>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A response whose first header is its `Content-Type`.
    pub(crate) fn typed(status: u16, content_type: &str, body: impl Into<Body>) -> Response {
        Response::new(status, body).with("Content-Type", content_type)
    }

    /// The response with one more header.
    pub(crate) fn with(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The standard reason phrase, or a neutral one.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// How the body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// 1xx, 204, 304: no body and no length.
    NoBody,
    Length(u64),
    Chunked,
    /// HTTP/1.0 with an unknown length: the body ends when the connection closes.
    UntilClose,
    /// `HEAD` of a stream of unknown length: no length header, no body.
    Unknown,
}

/// What the request asked of the response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exchange {
    /// `HEAD`: headers only, with the length a `GET` would have.
    pub(crate) head_only: bool,
    pub(crate) http10: bool,
    /// Whether the connection stays open after this response (decided by the caller; the
    /// layer may still close it, see [`Sent`]).
    pub(crate) keep_alive: bool,
    /// When the whole response must have been taken by the client.
    pub(crate) deadline: Instant,
}

/// What became of a response.
pub(crate) enum Sent {
    /// All of it is on the wire; `keep_alive` says whether the connection may go on.
    Done { keep_alive: bool },
    /// The socket's buffer is full: the poller writes the rest (fixed bodies only).
    Pending(Pending),
    /// The connection is unusable (a write failed or timed out, a stream failed, a raw
    /// body): close it.
    Broken,
}

fn status_has_body(status: u16) -> bool {
    !(status < 200 || status == 204 || status == 304)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn valid_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

/// The status line and headers.
fn head_bytes(
    status: u16,
    headers: &[(Cow<'static, str>, String)],
    date: &str,
    framing: Framing,
    keep_alive: bool,
    http10: bool,
) -> Vec<u8> {
    let mut h = Vec::with_capacity(256);
    let _ = write!(h, "HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        let ours = ["content-length", "transfer-encoding", "connection", "date"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n));
        if ours || !valid_name(name) || !valid_value(value) {
            log::debug!("dropped response header {name:?}");
            continue;
        }
        let _ = write!(h, "{name}: {value}\r\n");
    }
    let _ = write!(h, "Date: {date}\r\n");
    match framing {
        Framing::Length(n) => {
            let _ = write!(h, "Content-Length: {n}\r\n");
        }
        Framing::Chunked => h.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::NoBody | Framing::UntilClose | Framing::Unknown => {}
    }
    if !keep_alive {
        h.extend_from_slice(b"Connection: close\r\n");
    } else if http10 {
        h.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    h.extend_from_slice(b"\r\n");
    h
}

/// A fixed body as the poller keeps it while the client is slow to take it.
enum Fixed {
    None,
    Bytes(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl Fixed {
    fn as_slice(&self) -> &[u8] {
        match self {
            Fixed::None => &[],
            Fixed::Bytes(b) => b,
            Fixed::Shared(b) => b,
        }
    }
}

/// The unsent rest of a response with a fixed body.
pub(crate) struct Pending {
    head: Vec<u8>,
    body: Fixed,
    /// Bytes of head and body already sent.
    sent: usize,
    pub(crate) keep_alive: bool,
    pub(crate) deadline: Instant,
}

impl Pending {
    /// Writes without blocking until done (`Ok(true)`) or the socket is full (`Ok(false)`).
    pub(crate) fn write_to(&mut self, stream: &TcpStream) -> io::Result<bool> {
        let body = self.body.as_slice();
        let total = self.head.len() + body.len();
        while self.sent < total {
            let (h, b) = if self.sent < self.head.len() {
                (&self.head[self.sent..], body)
            } else {
                (&[][..], &body[self.sent - self.head.len()..])
            };
            let mut w = stream;
            match w.write_vectored(&[IoSlice::new(h), IoSlice::new(b)]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

/// A small answer from the layer itself (400, 408, 413, 431, 503): JSON like the API's 404s.
pub fn error_response(status: u16, message: &str) -> Response {
    let body = serde_json::to_vec(&serde_json::json!({ "message": message })).unwrap_or_default();
    Response::typed(status, "application/json", body)
}

/// The bytes of a small, fixed response that closes the connection (the poller writes these
/// itself when it refuses a connection or a late head).
pub fn closing_bytes(resp: Response, date: &str) -> Vec<u8> {
    let body = resp.body.bytes().unwrap_or_default().to_vec();
    let mut out = head_bytes(
        resp.status,
        &resp.headers,
        date,
        Framing::Length(body.len() as u64),
        false,
        false,
    );
    out.extend_from_slice(&body);
    out
}

/// Sends `resp` on `stream` (non-blocking) as `ex` asks.
pub(crate) fn send(stream: &TcpStream, resp: Response, ex: Exchange, date: &str) -> Sent {
    let Response {
        status,
        headers,
        body,
    } = resp;
    let with_body = status_has_body(status);
    let (framing, fixed, stream_fn) = match body {
        #[cfg(feature = "test-hooks")]
        Body::Raw(write) => return send_raw(stream, write, ex.deadline),
        Body::Bytes(b) => (Framing::Length(b.len() as u64), Fixed::Bytes(b), None),
        Body::Shared(b) => (Framing::Length(b.len() as u64), Fixed::Shared(b), None),
        Body::Stream {
            len: Some(n),
            write,
        } => (Framing::Length(n), Fixed::None, Some(write)),
        Body::Stream { len: None, write } => {
            let framing = if ex.head_only {
                Framing::Unknown
            } else if ex.http10 {
                Framing::UntilClose
            } else {
                Framing::Chunked
            };
            (framing, Fixed::None, Some(write))
        }
    };
    let framing = if with_body { framing } else { Framing::NoBody };
    let keep_alive = ex.keep_alive && framing != Framing::UntilClose;
    let head = head_bytes(status, &headers, date, framing, keep_alive, ex.http10);
    let sends_body = with_body && !ex.head_only;
    match stream_fn {
        Some(write) if sends_body => {
            match send_stream(stream, &head, write, framing, ex.deadline) {
                Ok(()) => Sent::Done { keep_alive },
                Err(e) => {
                    log::debug!("a streamed response ended early: {e}");
                    Sent::Broken
                }
            }
        }
        _ => {
            let mut p = Pending {
                head,
                body: if sends_body { fixed } else { Fixed::None },
                sent: 0,
                keep_alive,
                deadline: ex.deadline,
            };
            match p.write_to(stream) {
                Ok(true) => Sent::Done { keep_alive },
                Ok(false) => Sent::Pending(p),
                Err(_) => Sent::Broken,
            }
        }
    }
}

/// Puts the socket in blocking mode for the guard's life (each write then waits at most
/// what is left until the deadline), and back to non-blocking for the poller.
struct Blocking<'a>(socket2::SockRef<'a>);

impl<'a> Blocking<'a> {
    fn new(stream: &'a TcpStream) -> io::Result<Blocking<'a>> {
        let s = socket2::SockRef::from(stream);
        s.set_nonblocking(false)?;
        Ok(Blocking(s))
    }
}

impl Drop for Blocking<'_> {
    fn drop(&mut self) {
        let _ = self.0.set_nonblocking(true);
    }
}

/// Buffered, deadline-bound writes of a streamed body (with chunk framing when asked).
struct DeadlineWriter<'a> {
    stream: &'a TcpStream,
    sock: &'a socket2::SockRef<'a>,
    deadline: Instant,
    buf: Vec<u8>,
    chunked: bool,
    written: u64,
    limit: Option<u64>,
}

const STREAM_BUFFER: usize = 32 * 1024;

impl DeadlineWriter<'_> {
    /// Writes all of `data`, each write waiting at most what is left until the deadline.
    fn put(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "write_timeout passed",
                ));
            }
            self.sock.set_write_timeout(Some(left))?;
            let mut w = self.stream;
            match w.write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => data = &data[n..],
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        if self.chunked {
            let mut frame = Vec::with_capacity(buf.len() + 12);
            let _ = write!(frame, "{:x}\r\n", buf.len());
            frame.extend_from_slice(&buf);
            frame.extend_from_slice(b"\r\n");
            self.put(&frame)?;
        } else {
            self.put(&buf)?;
        }
        self.buf = buf;
        self.buf.clear();
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        self.flush_buf()?;
        if let Some(n) = self.limit {
            if self.written != n {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the body has {} bytes, not the {n} announced", self.written),
                ));
            }
        }
        if self.chunked {
            self.put(b"0\r\n\r\n")?;
        }
        Ok(())
    }
}

impl Write for DeadlineWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some(n) = self.limit {
            if self.written + data.len() as u64 > n {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the body is longer than the {n} bytes announced"),
                ));
            }
        }
        if self.buf.len() + data.len() > STREAM_BUFFER {
            self.flush_buf()?;
        }
        if data.len() >= STREAM_BUFFER {
            // Large writes go out directly (as one chunk when chunked).
            if self.chunked {
                let mut frame = Vec::with_capacity(12);
                let _ = write!(frame, "{:x}\r\n", data.len());
                self.put(&frame)?;
                self.put(data)?;
                self.put(b"\r\n")?;
            } else {
                self.put(data)?;
            }
        } else {
            self.buf.extend_from_slice(data);
        }
        self.written += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_buf()
    }
}

fn send_stream(
    stream: &TcpStream,
    head: &[u8],
    write: WriteFn,
    framing: Framing,
    deadline: Instant,
) -> io::Result<()> {
    let blocking = Blocking::new(stream)?;
    let mut w = DeadlineWriter {
        stream,
        sock: &blocking.0,
        deadline,
        buf: Vec::with_capacity(STREAM_BUFFER),
        chunked: false,
        written: 0,
        limit: match framing {
            Framing::Length(n) => Some(n),
            _ => None,
        },
    };
    // The head is never framed as a chunk; with a length it goes out with the first bytes
    // of the body.
    w.buf.extend_from_slice(head);
    if framing == Framing::Chunked {
        w.flush_buf()?;
        w.chunked = true;
    }
    write(&mut w)?;
    w.finish()
}

#[cfg(feature = "test-hooks")]
fn send_raw(stream: &TcpStream, write: WriteFn, deadline: Instant) -> Sent {
    let Ok(blocking) = Blocking::new(stream) else {
        return Sent::Broken;
    };
    let mut w = DeadlineWriter {
        stream,
        sock: &blocking.0,
        deadline,
        buf: Vec::new(),
        chunked: false,
        written: 0,
        limit: None,
    };
    if let Err(e) = write(&mut w).and_then(|()| w.flush_buf()) {
        log::debug!("a raw response ended early: {e}");
    }
    Sent::Broken
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(h: Vec<u8>) -> String {
        String::from_utf8(h).unwrap()
    }

    #[test]
    fn heads() {
        let hs = vec![
            ("Content-Type".into(), "application/json".to_string()),
            ("Content-Length".into(), "999".to_string()),
            ("Bad Name".into(), "x".to_string()),
            ("X-Split".into(), "a\r\nInjected: yes".to_string()),
        ];
        let h = text(head_bytes(200, &hs, "D", Framing::Length(5), true, false));
        assert_eq!(
            h,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: D\r\nContent-Length: 5\r\n\r\n"
        );
        let h = text(head_bytes(404, &[], "D", Framing::Chunked, false, false));
        assert!(
            h.contains("Transfer-Encoding: chunked\r\n") && h.contains("Connection: close\r\n")
        );
        let h = text(head_bytes(204, &[], "D", Framing::NoBody, true, true));
        assert!(!h.contains("Content-Length") && h.contains("Connection: keep-alive\r\n"));
    }

    #[test]
    fn bodies() {
        assert_eq!(
            Body::from(b"abc".to_vec()),
            Body::Shared(Arc::from(&b"abc"[..]))
        );
        assert_ne!(
            Body::stream(None, |_| Ok(())),
            Body::stream(None, |_| Ok(()))
        );
        let s = Body::stream(Some(3), |w| w.write_all(b"xyz"));
        assert_eq!(s.len(), Some(3));
        assert_eq!(s.into_vec().unwrap(), b"xyz");
        assert!(Body::empty().is_empty());
    }

    #[test]
    fn closing_answers() {
        let b = text(closing_bytes(error_response(431, "too big"), "D"));
        assert!(b.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(b.contains("Connection: close\r\n"));
        assert!(b.ends_with("\r\n\r\n{\"message\":\"too big\"}"));
    }
}
