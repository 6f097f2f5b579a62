//! The layer in-process, on a loopback socket: the body kinds the API does not use yet
//! (streams with and without a length, raw answers), HEAD of a stream, pipelining across body
//! kinds, and a stop that lets a request in flight finish. The attacks and limits are tested
//! through the binary (`tests/connection.rs`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use super::*;

fn server(handler: Handler) -> Server {
    let listener = bind("127.0.0.1", 0).unwrap();
    let opts = Options {
        workers: 2,
        limits: Limits::default(),
        name: "http-test".into(),
    };
    Server::start(listener, opts, handler).unwrap()
}

fn routes() -> Handler {
    Arc::new(|req: &Request| match req.url.as_str() {
        "/bytes" => Response::typed(200, "text/plain", b"hello".to_vec()),
        "/shared" => Response::new(200, Body::Shared(Arc::from(&b"shared"[..]))),
        "/stream" => Response::new(
            200,
            Body::stream(None, |w| {
                w.write_all(b"abc")?;
                w.write_all(&[b'x'; 40_000])?;
                w.write_all(b"def")
            }),
        ),
        "/sized" => Response::new(200, Body::stream(Some(6), |w| w.write_all(b"sized!"))),
        "/short" => Response::new(200, Body::stream(Some(10), |w| w.write_all(b"short"))),
        "/raw" => Response::new(
            200,
            Body::Raw(Box::new(|w| {
                w.write_all(b"HTTP/1.1 299 Raw\r\n\r\nanything")
            })),
        ),
        "/slow" => {
            std::thread::sleep(Duration::from_millis(500));
            Response::new(200, b"late".to_vec())
        }
        "/panic" => panic!("handler bug"),
        _ => Response::new(404, Body::empty()),
    })
}

/// Sends `raw` and reads until the server closes (or 3 s pass).
fn exchange(s: &Server, raw: &[u8]) -> String {
    let mut c = TcpStream::connect(s.local_addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn dechunk(mut b: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = b.split_once("\r\n").unwrap();
        let n = usize::from_str_radix(size, 16).unwrap();
        if n == 0 {
            assert_eq!(rest, "\r\n", "the last chunk ends the body");
            return out;
        }
        out.push_str(&rest[..n]);
        b = rest[n..].strip_prefix("\r\n").unwrap();
    }
}

#[test]
fn fixed_and_streamed_bodies() {
    let s = server(routes());
    let r = exchange(
        &s,
        b"GET /bytes HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: "));
    assert!(
        r.ends_with("Content-Length: 5\r\nConnection: close\r\n\r\nhello"),
        "{r}"
    );
    let r = exchange(
        &s,
        b"GET /shared HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert!(r.ends_with("\r\n\r\nshared"));
    let r = exchange(
        &s,
        b"GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    let body = dechunk(body);
    assert_eq!(body.len(), 40_006);
    assert!(body.starts_with("abcxx") && body.ends_with("xxdef"));
    // HTTP/1.0 cannot take chunks: the body ends with the connection
    let r = exchange(&s, b"GET /stream HTTP/1.0\r\n\r\n");
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    assert!(!head.contains("Transfer-Encoding") && head.contains("Connection: close"));
    assert_eq!(body.len(), 40_006);
    let r = exchange(
        &s,
        b"GET /sized HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert!(r.contains("Content-Length: 6\r\n") && r.ends_with("\r\n\r\nsized!"));
}

#[test]
fn head_of_a_stream_states_its_length_and_never_runs_it() {
    let s = server(routes());
    let r = exchange(
        &s,
        b"HEAD /sized HTTP/1.1\r\nHost: a\r\n\r\nHEAD /stream HTTP/1.1\r\nHost: a\r\n\r\nGET /bytes HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    let parts: Vec<&str> = r.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(parts.len(), 3, "{r}");
    assert!(parts[0].contains("Content-Length: 6\r\n") && parts[0].ends_with("\r\n\r\n"));
    assert!(!parts[1].contains("Content-Length") && !parts[1].contains("Transfer-Encoding"));
    assert!(parts[1].ends_with("\r\n\r\n"));
    assert!(parts[2].ends_with("hello"));
}

#[test]
fn pipelined_requests_are_answered_in_order_across_body_kinds() {
    let s = server(routes());
    let r = exchange(
        &s,
        b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\nGET /bytes HTTP/1.1\r\nHost: a\r\n\r\nGET /nothing HTTP/1.1\r\nHost: a\r\n\r\nGET /shared HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    let statuses: Vec<&str> = r
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &r[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "200", "404", "200"]);
    let (a, b) = (
        r.find("3\r\ndef\r\n0\r\n").unwrap(),
        r.find("hello").unwrap(),
    );
    assert!(a < b && b < r.find("shared").unwrap());
}

#[test]
fn a_long_pipeline_is_answered_in_turns_without_waiting() {
    let s = server(routes());
    let mut raw = b"GET /bytes HTTP/1.1\r\nHost: a\r\n\r\n".repeat(199);
    raw.extend_from_slice(b"GET /bytes HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let started = std::time::Instant::now();
    let r = exchange(&s, &raw);
    assert_eq!(r.matches("HTTP/1.1 200 OK").count(), 200);
    // seven turns of PIPELINE_BATCH: none may wait for the poller's tick
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_short_stream_a_raw_answer_and_a_panic_close_the_connection() {
    let s = server(routes());
    // five bytes of ten: the client sees a truncated body and the end of the connection
    let r = exchange(
        &s,
        b"GET /short HTTP/1.1\r\nHost: a\r\n\r\nGET /bytes HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert!(
        r.contains("Content-Length: 10\r\n") && r.ends_with("short"),
        "{r}"
    );
    let r = exchange(
        &s,
        b"GET /raw HTTP/1.1\r\nHost: a\r\n\r\nGET /bytes HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(r, "HTTP/1.1 299 Raw\r\n\r\nanything");
    let r = exchange(&s, b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r, "");
    // the workers live on
    let r = exchange(
        &s,
        b"GET /bytes HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert!(r.ends_with("hello"));
}

#[test]
fn a_stop_lets_a_request_in_flight_finish_and_refuses_new_ones() {
    let s = server(routes());
    let addr = s.local_addr();
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let idle = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    s.shutdown(Duration::from_secs(5));
    let mut out = String::new();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = c.read_to_string(&mut out);
    assert!(
        out.contains("Connection: close\r\n") && out.ends_with("late"),
        "{out}"
    );
    let mut idle = idle;
    let mut rest = Vec::new();
    idle.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    assert_eq!(
        idle.read_to_end(&mut rest).unwrap_or(1),
        0,
        "closed without a word"
    );
    assert!(TcpStream::connect(addr).is_err(), "no longer accepting");
}

#[test]
fn limits_defaults() {
    let l = Limits::default();
    assert_eq!((l.max_request_head, l.max_headers), (16 * 1024, 100));
    assert_eq!(l.max_connections, 10_000);
    assert_eq!(l.header_timeout, Duration::from_secs(10));
    assert_eq!(l.keepalive_timeout, Duration::from_secs(60));
    assert_eq!(l.write_timeout, Duration::from_secs(30));
    assert!(bind("::1", 0).is_ok() || bind("127.0.0.1", 0).is_ok());
}
