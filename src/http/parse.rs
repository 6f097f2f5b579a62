//! Request heads: from bytes received to a [`Request`] or a reason to refuse it. Pure: no
//! sockets, no clock. The poller asks [`ready`] whether a buffer holds something a worker must
//! act on; a worker calls [`parse_head`] to get the request, how many bytes it used, and how
//! the connection goes on after the answer.
//!
//! The API takes no request bodies: a head that announces one (`Content-Length` above zero,
//! any `Transfer-Encoding`) is refused, and the body is never read, so no byte of it can be
//! taken for the next request (request smuggling).

use super::Request;

/// The members of a comma-separated header list (`Accept`, `Accept-Encoding`), lower-cased,
/// each with its weight (`;q=`, RFC 9110 section 12.4.2): 1 when absent or unreadable.
pub fn weighted(list: &str) -> impl Iterator<Item = (String, f32)> + '_ {
    list.split(',').map(|item| {
        let mut parts = item.split(';');
        let value = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        (value, q)
    })
}

/// What a buffer holds.
#[derive(Debug)]
pub enum Parsed {
    /// The head is not complete yet (and still below the size limit).
    Partial,
    /// A complete head of `len` bytes; pipelined bytes may follow.
    Complete { head: Head, len: usize },
    /// A head that must be refused; the connection closes after the answer.
    Reject(Reject),
}

/// A request head and what it says about the connection.
#[derive(Debug)]
pub struct Head {
    pub request: Request,
    /// The client can take another response on this connection (HTTP/1.1 without
    /// `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`).
    pub(crate) keep_alive: bool,
    /// HTTP/1.0: no chunked responses.
    pub(crate) http10: bool,
}

/// Why a head is refused; each maps to a status and closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Not HTTP/1.x syntax, raw bytes outside ASCII, or a bad `Content-Length` (400).
    Malformed,
    /// The head is longer than `max_request_head` (431).
    HeadTooLarge,
    /// More than `max_headers` header lines (431).
    TooManyHeaders,
    /// A request body (413).
    Body,
    /// `Transfer-Encoding` on a request (400).
    TransferEncoding,
    /// No request line within `header_timeout` (408); decided by the poller, not the parser.
    Timeout,
    /// `max_connections` reached and no idle connection to close (503).
    Busy,
    /// `max_connections_per_client` reached by this client, none of its connections idle (503).
    ClientBusy,
    /// An HTTP/1.1 request without `Host`, or any request with more than one (400).
    Host,
}

impl Reject {
    pub fn status(self) -> u16 {
        match self {
            Reject::Malformed | Reject::TransferEncoding | Reject::Host => 400,
            Reject::HeadTooLarge | Reject::TooManyHeaders => 431,
            Reject::Body => 413,
            Reject::Timeout => 408,
            Reject::Busy | Reject::ClientBusy => 503,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Reject::Malformed => "The request is not valid HTTP/1.1.",
            Reject::HeadTooLarge => "The request head is too large.",
            Reject::TooManyHeaders => "The request has too many header fields.",
            Reject::Body => "This API takes no request body.",
            Reject::TransferEncoding => "This API takes no request body (Transfer-Encoding).",
            Reject::Timeout => "The request head did not arrive in time.",
            Reject::Busy => "The server has too many connections; try again shortly.",
            Reject::ClientBusy => "Too many connections from your address; try again shortly.",
            Reject::Host => "An HTTP/1.1 request needs exactly one Host header field.",
        }
    }
}

/// Header slots kept on the stack; a larger `max_headers` takes them from the heap.
const STACK_HEADERS: usize = 128;

/// Room for exactly `max` headers (httparse reports `TooManyHeaders` beyond it).
fn header_space<'a, 'b>(
    stack: &'a mut [httparse::Header<'b>; STACK_HEADERS],
    heap: &'a mut Vec<httparse::Header<'b>>,
    max: usize,
) -> &'a mut [httparse::Header<'b>] {
    if max <= STACK_HEADERS {
        &mut stack[..max]
    } else {
        heap.resize(max, httparse::EMPTY_HEADER);
        heap
    }
}

/// Whether `buf` needs a worker: a complete head, a head to refuse, or `max_head` bytes
/// without the end of a head. Cheap enough for the poller to call after each read that
/// brought a line end.
pub fn ready(buf: &[u8], max_head: usize, max_headers: usize) -> bool {
    if buf.len() >= max_head {
        return true;
    }
    let mut stack: [httparse::Header<'_>; STACK_HEADERS] = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut heap = Vec::new();
    let mut req = httparse::Request::new(header_space(&mut stack, &mut heap, max_headers));
    !matches!(req.parse(buf), Ok(httparse::Status::Partial))
}

/// Parses the head at the start of `buf`. `peer` goes into the request as is.
pub fn parse_head(
    buf: &[u8],
    max_head: usize,
    max_headers: usize,
    peer: Option<std::net::IpAddr>,
) -> Parsed {
    let mut stack: [httparse::Header<'_>; STACK_HEADERS] = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut heap = Vec::new();
    let mut req = httparse::Request::new(header_space(&mut stack, &mut heap, max_headers));
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= max_head => {
            return Parsed::Reject(Reject::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => return Parsed::Reject(Reject::TooManyHeaders),
        Err(_) => return Parsed::Reject(Reject::Malformed),
    };
    if len > max_head {
        return Parsed::Reject(Reject::HeadTooLarge);
    }
    match build(&req, peer) {
        Ok(head) => Parsed::Complete { head, len },
        Err(r) => Parsed::Reject(r),
    }
}

/// Printable ASCII only (httparse lets bytes above 0x7F through in targets and values).
fn visible_ascii(b: &[u8]) -> bool {
    b.iter().all(|&c| (0x21..0x7f).contains(&c))
}

fn value_ascii(b: &[u8]) -> bool {
    b.iter().all(|&c| c == b'\t' || (0x20..0x7f).contains(&c))
}

fn build(req: &httparse::Request<'_, '_>, peer: Option<std::net::IpAddr>) -> Result<Head, Reject> {
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(Reject::Malformed);
    };
    if !visible_ascii(target.as_bytes()) {
        return Err(Reject::Malformed);
    }
    let mut content_length: Option<u64> = None;
    let mut close = false;
    let mut keep_alive = false;
    let mut hosts = 0usize;
    let mut headers = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        if !value_ascii(h.value) {
            return Err(Reject::Malformed);
        }
        // Checked to be ASCII just above.
        let value = String::from_utf8_lossy(h.value).trim().to_string();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = value.parse::<u64>().map_err(|_| Reject::Malformed)?;
            if !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Reject::Malformed);
            }
            if content_length.is_some_and(|c| c != n) {
                return Err(Reject::Malformed);
            }
            content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Reject::TransferEncoding);
        } else if h.name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        }
        headers.push((h.name.to_string(), value));
    }
    if content_length.is_some_and(|n| n > 0) {
        return Err(Reject::Body);
    }
    let http10 = version == 0;
    // RFC 9112 section 3.2: HTTP/1.1 requires one Host; two are never acceptable.
    if hosts > 1 || (hosts == 0 && !http10) {
        return Err(Reject::Host);
    }
    Ok(Head {
        request: Request {
            method: method.to_string(),
            url: target.to_string(),
            headers,
            peer,
        },
        keep_alive: !close && (!http10 || keep_alive),
        http10,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Parsed {
        parse_head(s, 16 * 1024, 100, None)
    }

    fn reject(s: &[u8]) -> Reject {
        match parse(s) {
            Parsed::Reject(r) => r,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(s)),
        }
    }

    fn head(s: &[u8]) -> (Head, usize) {
        match parse(s) {
            Parsed::Complete { head, len } => (head, len),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(s)),
        }
    }

    #[test]
    fn a_plain_get_and_pipelining() {
        let raw =
            b"GET /repositories?x=1 HTTP/1.1\r\nHost: a\r\nAccept:  */* \r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n";
        let (h, len) = head(raw);
        assert_eq!(h.request.method, "GET");
        assert_eq!(h.request.url, "/repositories?x=1");
        assert_eq!(h.request.header("accept"), Some("*/*"));
        assert!(h.keep_alive && !h.http10);
        assert_eq!(&raw[len..], b"GET / HTTP/1.1\r\nHost: a\r\n");
        assert!(matches!(parse(&raw[len..]), Parsed::Partial));
        assert!(ready(raw, 16 * 1024, 100));
        assert!(!ready(&raw[len..], 16 * 1024, 100));
    }

    #[test]
    fn connection_semantics() {
        assert!(
            !head(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                .0
                .keep_alive
        );
        assert!(
            !head(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n")
                .0
                .keep_alive
        );
        let (h, _) = head(b"GET / HTTP/1.0\r\n\r\n");
        assert!(!h.keep_alive && h.http10);
        assert!(
            head(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .0
                .keep_alive
        );
    }

    #[test]
    fn methods_are_kept_as_sent() {
        assert_eq!(
            head(b"head / HTTP/1.1\r\nHost: a\r\n\r\n").0.request.method,
            "head"
        );
    }

    #[test]
    fn bodies_are_refused() {
        assert_eq!(
            reject(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"),
            Reject::Body
        );
        assert_eq!(
            reject(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1125899906842624\r\n\r\n"),
            Reject::Body
        );
        // beyond u64: not a number we accept
        assert_eq!(
            reject(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            Reject::Malformed
        );
        assert_eq!(
            reject(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"),
            Reject::Malformed
        );
        assert_eq!(
            reject(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n"),
            Reject::Malformed
        );
        assert_eq!(
            reject(b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            Reject::TransferEncoding
        );
        let (h, _) = head(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
        assert!(h.keep_alive);
    }

    #[test]
    fn malformed_heads() {
        // Request lines it does not take: a raw non-ASCII target, HTTP/2, a control
        // character in the method, a TLS hello.
        let lines = [
            &b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/2.0\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET\x01 / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        ];
        // Header lines it does not take: a raw non-ASCII value, a space in the name, a bare CR.
        let headers = [
            &b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
        ];
        for raw in lines.into_iter().chain(headers) {
            let shown = String::from_utf8_lossy(raw);
            assert_eq!(reject(raw), Reject::Malformed, "{shown:?}");
        }
    }

    #[test]
    fn size_and_count_limits() {
        let mut big = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        big.resize(300, b'a');
        assert!(matches!(
            parse_head(&big, 300, 100, None),
            Parsed::Reject(Reject::HeadTooLarge)
        ));
        assert!(ready(&big, 300, 100));
        assert!(matches!(parse_head(&big, 301, 100, None), Parsed::Partial));
        let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..4 {
            many.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        assert!(matches!(
            parse_head(&many, 1000, 4, None),
            Parsed::Reject(Reject::TooManyHeaders)
        ));
        many.extend_from_slice(b"\r\n");
        assert!(matches!(
            parse_head(&many, 1000, 5, None),
            Parsed::Complete { .. }
        ));
        // beyond the stack's header slots
        let mut lots = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..149 {
            lots.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        lots.extend_from_slice(b"\r\n");
        assert!(matches!(
            parse_head(&lots, 16384, 150, None),
            Parsed::Complete { .. }
        ));
        assert!(matches!(
            parse_head(&lots, 16384, 149, None),
            Parsed::Reject(Reject::TooManyHeaders)
        ));
        assert!(ready(&lots, 16384, 149));
    }

    #[test]
    fn host_is_required_exactly_once_in_http11() {
        // RFC 9112 section 3.2: 400 for an HTTP/1.1 request without Host or with more than
        // one; HTTP/1.0 clients may omit it.
        assert_eq!(reject(b"GET / HTTP/1.1\r\n\r\n"), Reject::Host);
        assert_eq!(
            reject(b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"),
            Reject::Host
        );
        assert_eq!(
            reject(b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"),
            Reject::Host
        );
        assert!(head(b"GET / HTTP/1.0\r\n\r\n").0.http10);
        assert!(head(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").0.keep_alive);
        assert_eq!(Reject::Host.status(), 400);
    }

    #[test]
    fn statuses() {
        assert_eq!(Reject::HeadTooLarge.status(), 431);
        assert_eq!(Reject::TooManyHeaders.status(), 431);
        assert_eq!(Reject::Body.status(), 413);
        assert_eq!(Reject::Timeout.status(), 408);
        assert_eq!(Reject::Busy.status(), 503);
        assert_eq!(Reject::Malformed.status(), 400);
    }
}
