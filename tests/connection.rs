//! The connection layer through the real binary: each attack of the issue "The connection
//! layer" (idle death, descriptor exhaustion, huge or endless heads, bodies, smuggling,
//! slow clients), each limit of `[general]`, and HTTP/1.1 semantics. Every test ends with the
//! process alive, answering the next request, its RSS grown by less than 64 MiB, and at most
//! one response per request. Timeouts are shortened through the config; no test sleeps more
//! than 15 s.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::json;
use support::service::{request, Options, Service};

/// A state with one repository, so authenticated requests get 200.
fn small_state() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "version": 1,
        "timestamp": 1795438748.0,
        "repositories": [{"name": "g/p", "tags": [{"name": "latest", "digest": "sha256:a",
            "media_type": "application/vnd.docker.distribution.manifest.v2+json", "blobs": ["b"]}]}],
        "blobs": {"b": 10}
    }))
    .unwrap()
}

/// A state whose `/repositories?embed=true` is several megabytes.
fn big_state(repos: usize, tags: usize) -> Vec<u8> {
    let repositories: Vec<_> = (0..repos)
        .map(|r| {
            let tags: Vec<_> = (0..tags)
                .map(|t| {
                    json!({"name": format!("tag-{t}"), "digest": format!("sha256:{r}-{t}"),
                    "media_type": "application/vnd.docker.distribution.manifest.v2+json",
                    "blobs": [format!("b{r}-{t}"), "shared"]})
                })
                .collect();
            json!({"name": format!("group-{}/project-{r}", r % 50), "tags": tags})
        })
        .collect();
    let mut blobs = serde_json::Map::new();
    blobs.insert("shared".into(), json!(1000));
    for r in 0..repos {
        for t in 0..tags {
            blobs.insert(format!("b{r}-{t}"), json!(r * 1000 + t));
        }
    }
    serde_json::to_vec(&json!({"version": 1, "timestamp": 1795438748.0,
        "repositories": repositories, "blobs": blobs}))
    .unwrap()
}

/// Options with `general` in `[general]` and the small state.
fn options(general: &str) -> Options {
    Options {
        general: general.into(),
        state: Some(small_state()),
        ..Options::default()
    }
}

/// Options with `general` in `[general]` and a state whose `/repositories?embed=true` is
/// more than 8 MiB.
fn big(general: &str) -> Options {
    Options {
        general: general.into(),
        state: Some(big_state(6000, 10)),
        ..Options::default()
    }
}

fn service(general: &str) -> Service {
    Service::start(options(general))
}

fn addr(s: &Service) -> SocketAddr {
    s.addr.parse().unwrap()
}

/// What came back on a connection.
struct Exchange {
    data: Vec<u8>,
    /// The server closed the connection (EOF or reset).
    closed: bool,
}

impl Exchange {
    /// The status of every response in `data`, in order.
    fn statuses(&self) -> Vec<u16> {
        let d = &self.data;
        (0..d.len().saturating_sub(12))
            .filter(|&i| {
                d[i..].starts_with(b"HTTP/1.1 ")
                    && (i == 0 || d[i - 1] == b'\n' || d[i - 1] == b'}')
            })
            .filter_map(|i| std::str::from_utf8(&d[i + 9..i + 12]).ok()?.parse().ok())
            .collect()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// Reads until the server closes or nothing arrives for `quiet`.
fn read_all(s: &mut TcpStream, quiet: Duration) -> Exchange {
    s.set_read_timeout(Some(quiet)).unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Exchange { data, closed: true },
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Exchange {
                    data,
                    closed: false,
                }
            }
            Err(_) => return Exchange { data, closed: true },
        }
    }
}

/// Sends `bytes` on a new connection and reads what comes back.
fn exchange(s: &Service, bytes: &[u8], quiet: Duration) -> Exchange {
    let mut c = TcpStream::connect(addr(s)).unwrap();
    c.write_all(bytes).unwrap();
    read_all(&mut c, quiet)
}

/// Alive, answering, RSS grown by less than 64 MiB since `rss_before` (KiB).
fn assert_healthy(s: &mut Service, rss_before: u64) {
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "the service exited:\n{}",
        s.log_text()
    );
    let r = s.get("/auth_token", &[]);
    assert_eq!(r.status, 401, "{}", r.text());
    let grown = s.rss_kib().saturating_sub(rss_before);
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB");
}

/// Runs `test` on a service started with `options`, then checks that the service is still
/// healthy (see [`assert_healthy`]).
fn survives(options: Options, test: impl FnOnce(&mut Service)) {
    let mut s = Service::start(options);
    let rss = s.rss_kib();
    test(&mut s);
    assert_healthy(&mut s, rss);
}

/// Asserts that `e` holds exactly one response, of `status`, and that the server closed.
#[track_caller]
fn assert_answered_and_closed(e: &Exchange, status: u16) {
    assert_eq!(e.statuses(), vec![status], "{}", e.text());
    assert!(e.closed);
}

const Q: Duration = Duration::from_millis(1500);

// ------------------------------------------------------------------ the table

#[test]
fn an_idle_server_keeps_accepting_and_idle_connections_are_closed_on_time() {
    survives(
        options("header_timeout = 2 s\nkeepalive_timeout = 3 s\n"),
        |s| {
            // a keep-alive connection after one request, and a connection that never sends
            let mut kept = TcpStream::connect(addr(s)).unwrap();
            kept.write_all(b"GET /auth_token HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let first = read_all(&mut kept, Duration::from_millis(500));
            assert_eq!(first.statuses(), vec![401]);
            assert!(!first.closed);
            let mut silent = TcpStream::connect(addr(s)).unwrap();
            // 12 s of nothing: the old server refused connections for good after 30 s
            std::thread::sleep(Duration::from_secs(12));
            let gone = read_all(&mut kept, Duration::from_millis(200));
            assert!(gone.closed && gone.data.is_empty(), "{}", gone.text());
            let gone = read_all(&mut silent, Duration::from_millis(200));
            assert!(gone.closed && gone.data.is_empty(), "{}", gone.text());
        },
    );
}

#[test]
fn two_thousand_idle_connections_under_ulimit_1024() {
    // The test itself needs more than 2,000 descriptors.
    let limit = rlimit::increase_nofile_limit(8192).unwrap();
    assert!(
        limit >= 2100,
        "this test needs 2,100 open files, the hard limit is {limit}"
    );
    let mut s = Service::start_with_fd_limit(
        Options {
            // all from one address: this test is about descriptors, not the per-client limit
            general: "max_connections_per_client = 10000\n".into(),
            state: Some(small_state()),
            ..Options::default()
        },
        1024,
    );
    let (rss, threads) = (s.rss_kib(), s.threads());
    let mut idle = Vec::new();
    for _ in 0..2000 {
        idle.push(TcpStream::connect(addr(&s)).unwrap());
    }
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..20 {
        let r = request(&s.addr, "GET", "/auth_token", &[]);
        assert_eq!(r.status, 401, "fresh request {i}");
    }
    assert!(
        s.threads() <= threads,
        "{} threads, {threads} at start",
        s.threads()
    );
    let log = s.log_text();
    let warned = log.matches("out of file descriptors").count();
    assert!((1..=3).contains(&warned), "logged {warned} times:\n{log}");
    drop(idle);
    std::thread::sleep(Duration::from_millis(300));
    assert_healthy(&mut s, rss);
}

#[test]
fn a_content_length_of_2_to_the_50_is_413_and_close() {
    survives(options(""), |s| {
        let e = exchange(
            s,
            b"GET /repositories HTTP/1.1\r\nHost: x\r\nContent-Length: 1125899906842624\r\n\r\nabc",
            Q,
        );
        assert_answered_and_closed(&e, 413);
    });
}

#[test]
fn content_length_2_to_the_63_once_per_worker_is_413_each_time() {
    survives(options(""), |s| {
        let conns: Vec<TcpStream> = (0..4)
            .map(|_| {
                let mut c = TcpStream::connect(addr(s)).unwrap();
                c.write_all(
                    b"GET /auth_token HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775808\r\n\r\n",
                )
                .unwrap();
                c
            })
            .collect();
        for mut c in conns {
            let e = read_all(&mut c, Q);
            assert_answered_and_closed(&e, 413);
        }
    });
}

/// Sends `head` and then `filler` repeatedly (up to `total` bytes) from another thread while
/// reading the answer.
fn flood(s: &Service, head: &'static [u8], filler: &'static [u8], total: usize) -> Exchange {
    let c = TcpStream::connect(addr(s)).unwrap();
    let mut w = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        if w.write_all(head).is_err() {
            return;
        }
        let mut sent = 0;
        while sent < total {
            if w.write_all(filler).is_err() {
                return;
            }
            sent += filler.len();
        }
    });
    let mut r = c;
    let e = read_all(&mut r, Duration::from_secs(10));
    drop(r);
    let _ = writer.join();
    e
}

#[test]
fn a_64_mib_header_line_is_431_without_reading_it() {
    survives(options(""), |s| {
        static A: [u8; 65536] = [b'a'; 65536];
        let e = flood(
            s,
            b"GET /auth_token HTTP/1.1\r\nHost: a\r\nX-Big: ",
            &A,
            64 << 20,
        );
        assert_answered_and_closed(&e, 431);
    });
}

#[test]
fn a_hundred_thousand_headers_is_431() {
    survives(options(""), |s| {
        let e = flood(
            s,
            b"GET /auth_token HTTP/1.1\r\nHost: a\r\n",
            b"X: y\r\n",
            600_000,
        );
        assert_answered_and_closed(&e, 431);
    });
}

#[test]
fn a_chunked_body_cannot_smuggle_a_second_request() {
    survives(options(""), |s| {
        let mut req =
            b"GET /auth_token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        req.extend_from_slice(format!("{:x}\r\n", 70_000).as_bytes());
        req.extend(std::iter::repeat_n(b'z', 70_000));
        req.extend_from_slice(b"\r\n0\r\n\r\nGET /repositories HTTP/1.1\r\nHost: x\r\n\r\n");
        let e = exchange(s, &req, Q);
        assert_answered_and_closed(&e, 400);
    });
}

#[test]
fn slow_header_clients_hold_no_threads_and_others_are_answered_fast() {
    // all 300 from one address: this test is about threads, not the per-client limit
    let mut s = service("max_connections_per_client = 1000\n");
    let (rss, threads) = (s.rss_kib(), s.threads());
    let target = addr(&s);
    let slow = std::thread::spawn(move || {
        let mut conns: Vec<TcpStream> = (0..300)
            .map(|_| {
                let mut c = TcpStream::connect(target).unwrap();
                c.write_all(b"GET /auth_token HTTP/1.1\r\nHost: a\r\nX-Slow: ")
                    .unwrap();
                c
            })
            .collect();
        // one byte every 2 s on each, for 8 s
        for _ in 0..4 {
            std::thread::sleep(Duration::from_secs(2));
            for c in &mut conns {
                let _ = c.write_all(b"a");
            }
        }
        conns
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut times = Vec::new();
    let mut max_threads = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(7) {
        let t = Instant::now();
        assert_eq!(request(&s.addr, "GET", "/auth_token", &[]).status, 401);
        times.push(t.elapsed());
        max_threads = max_threads.max(s.threads());
        std::thread::sleep(Duration::from_millis(20));
    }
    times.sort();
    let p99 = times[times.len() * 99 / 100];
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
    assert!(
        max_threads <= threads,
        "{max_threads} threads, {threads} at start"
    );
    let conns = slow.join().unwrap();
    // none of them was answered: their heads never completed
    assert_healthy(&mut s, rss);
    drop(conns);
}

// ------------------------------------------------------------------ the limits

#[test]
fn max_request_head_is_431_and_close() {
    survives(options("max_request_head = 4096\n"), |s| {
        let head = |size: usize| {
            let mut h = b"GET /auth_token HTTP/1.1\r\nHost: a\r\nX-Pad: ".to_vec();
            h.resize(size - 4, b'p');
            h.extend_from_slice(b"\r\n\r\n");
            h
        };
        let e = exchange(s, &head(4096), Q);
        assert_eq!(
            e.statuses(),
            vec![401],
            "a head of exactly the limit is fine"
        );
        let e = exchange(s, &head(4097), Q);
        assert_answered_and_closed(&e, 431);
    });
}

#[test]
fn max_headers_is_431() {
    survives(options("max_headers = 10\n"), |s| {
        let head = |n: usize| {
            let mut h = b"GET /auth_token HTTP/1.1\r\nHost: a\r\n".to_vec();
            for i in 0..n {
                h.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
            }
            h.extend_from_slice(b"\r\n");
            h
        };
        // Host is one of the ten
        assert_eq!(exchange(s, &head(9), Q).statuses(), vec![401]);
        let e = exchange(s, &head(10), Q);
        assert_answered_and_closed(&e, 431);
    });
}

#[test]
fn header_timeout_counts_the_whole_head_not_each_read() {
    survives(options("header_timeout = 2 s\n"), |s| {
        let mut c = TcpStream::connect(addr(s)).unwrap();
        let started = Instant::now();
        c.write_all(b"GET /auth_token HTTP/1.1\r\nHost: a\r\n")
            .unwrap();
        // a byte every 300 ms: each read is quick, the head never ends
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        while started.elapsed() < Duration::from_secs(8) {
            if c.write_all(b"X").is_err() {
                break;
            }
            match c.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => data.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        let took = started.elapsed();
        let e = Exchange { data, closed: true };
        assert_eq!(e.statuses(), vec![408], "{}", e.text());
        assert!(
            took >= Duration::from_millis(1800) && took < Duration::from_secs(6),
            "{took:?}"
        );
    });
}

#[test]
fn keepalive_timeout_closes_idle_connections_only_when_idle_that_long() {
    survives(options("keepalive_timeout = 2 s\n"), |s| {
        let mut c = TcpStream::connect(addr(s)).unwrap();
        for _ in 0..3 {
            c.write_all(b"GET /auth_token HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let e = read_all(&mut c, Duration::from_millis(300));
            assert_eq!(e.statuses(), vec![401]);
            assert!(!e.closed);
            std::thread::sleep(Duration::from_millis(1200));
        }
        std::thread::sleep(Duration::from_millis(1500));
        let e = read_all(&mut c, Duration::from_millis(500));
        assert!(e.closed && e.data.is_empty(), "{}", e.text());
    });
}

/// A connection with a 4 KiB receive buffer that sends `GET target` and then never reads.
fn non_reading_client(s: &Service, target: &str, auth: &str) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr(s).into()).unwrap();
    let mut c: TcpStream = sock.into();
    let get = format!("GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n");
    c.write_all(get.as_bytes()).unwrap();
    c
}

#[test]
fn write_timeout_closes_a_client_that_does_not_read() {
    survives(big("write_timeout = 2 s\n"), |s| {
        let auth = s.bearer();
        let size = s.get_auth("/repositories?embed=true").body.len();
        assert!(size > 8 << 20, "the response is only {size} bytes");
        let mut c = non_reading_client(s, "/repositories?embed=true", &auth);
        // the stuck client holds no worker: others are answered meanwhile
        for _ in 0..10 {
            assert_eq!(s.get("/auth_token", &[]).status, 401);
        }
        std::thread::sleep(Duration::from_secs(4));
        let e = read_all(&mut c, Duration::from_secs(2));
        assert!(e.closed, "the connection is still open");
        assert!(
            e.data.len() < size,
            "got all {} bytes of a {size}-byte body",
            e.data.len()
        );
    });
}

#[test]
fn clients_that_do_not_read_big_streams_leave_health_answering_fast() {
    // The scenario: a body too big for the render cache is streamed; eight clients
    // ask for it (once in full, so it is known as too big) and then stop reading.
    survives(big("write_timeout = 20 s\ncache_budget = 1 MiB\n"), |s| {
        let auth = s.bearer();
        let target = |i: usize| format!("/repositories?embed=true&links=true&x={i}");
        let size = s.get_auth(&target(0)).body.len();
        assert!(size > 8 << 20, "the response is only {size} bytes");
        for i in 1..8 {
            assert_eq!(s.get_auth(&target(i)).body.len(), size);
        }
        let stuck: Vec<TcpStream> = (0..8)
            .map(|i| non_reading_client(s, &target(i), &auth))
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        let mut slowest = Duration::ZERO;
        let tag = "/repositories/group-1%2Fproject-1/tags/tag-1";
        for path in ["/health", tag].repeat(5) {
            let t = Instant::now();
            let get = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
        );
            let e = exchange(s, get.as_bytes(), Duration::from_secs(5));
            slowest = slowest.max(t.elapsed());
            assert_eq!(e.statuses(), vec![200], "{path} after {:?}", t.elapsed());
        }
        eprintln!("slowest /health or tag with 8 stuck streams: {slowest:?}");
        assert!(slowest < Duration::from_secs(1), "{slowest:?}");
        drop(stuck);
    });
}

#[test]
fn max_connections_closes_the_longest_idle_then_the_oldest_half_sent_head() {
    survives(options("max_connections = 5\n"), |s| {
        let mut idle: Vec<TcpStream> = (0..5)
            .map(|_| {
                let c = TcpStream::connect(addr(s)).unwrap();
                std::thread::sleep(Duration::from_millis(50));
                c
            })
            .collect();
        // a sixth: the first (longest idle) is closed to make room
        let e = exchange(
            s,
            b"GET /auth_token HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            Q,
        );
        assert_eq!(e.statuses(), vec![401]);
        let first = read_all(&mut idle[0], Duration::from_millis(500));
        assert!(first.closed && first.data.is_empty());
        drop(idle);
        std::thread::sleep(Duration::from_millis(300));
        // five connections in the middle of a head, none idle: the oldest head gets 503 and is
        // closed to make room for a sixth
        let mut busy: Vec<TcpStream> = (0..5)
            .map(|_| {
                let mut c = TcpStream::connect(addr(s)).unwrap();
                c.write_all(b"GET /auth_token HTTP/1.1\r\nHost: a\r\n")
                    .unwrap();
                std::thread::sleep(Duration::from_millis(50));
                c
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let e = exchange(s, b"GET /auth_token HTTP/1.1\r\nHost: a\r\n\r\n", Q);
        assert_eq!(e.statuses(), vec![401], "{}", e.text());
        let oldest = read_all(&mut busy[0], Duration::from_millis(500));
        assert!(
            oldest.closed && oldest.statuses() == vec![503],
            "{}",
            oldest.text()
        );
        drop(busy);
        std::thread::sleep(Duration::from_millis(300));
    });
}

/// A connection to the service from the local address `from` (loopback is a /8, so
/// 127.0.0.2, 127.0.0.3, ... are other clients).
fn connect_from(s: &Service, from: &str) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{from}:0").parse().unwrap();
    sock.bind(&local.into()).unwrap();
    sock.connect(&addr(s).into()).unwrap();
    sock.into()
}

/// Half-sent heads from `from`, opened one after the other; each connection either stays
/// open or was refused (503 or closed) within `Q`.
fn half_sent(s: &Service, from: &str, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut c = connect_from(s, from);
            let _ = c.write_all(b"GET /auth_token HTTP/1.1\r\nHost: a\r\n");
            c
        })
        .collect()
}

/// `GET /repositories` with the service's token from the local address `from`, on a
/// connection of its own (`Connection: close`).
fn listing_from(s: &Service, from: &str) -> Exchange {
    let mut c = connect_from(s, from);
    let get = format!(
        "GET /repositories HTTP/1.1\r\nHost: a\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        s.bearer()
    );
    c.write_all(get.as_bytes()).unwrap();
    read_all(&mut c, Q)
}

/// How many of `conns` the server still holds open (no byte and no close within a moment).
fn still_open(conns: &mut [TcpStream]) -> usize {
    conns
        .iter_mut()
        .map(|c| read_all(c, Duration::from_millis(20)))
        .filter(|e| !e.closed && e.data.is_empty())
        .count()
}

#[test]
fn one_client_cannot_take_every_connection() {
    survives(
        options("max_connections = 300\nmax_connections_per_client = 50\n"),
        |s| {
            let mut held = half_sent(s, "127.0.0.1", 290);
            std::thread::sleep(Duration::from_millis(300));
            let e = listing_from(s, "127.0.0.2");
            assert_eq!(e.statuses(), vec![200], "{}", e.text());
            // the server holds at most 50 of the first client's connections
            let open = still_open(&mut held);
            assert!(open <= 50, "{open} of 290 half-sent heads held");
            drop(held);
            std::thread::sleep(Duration::from_millis(300));
        },
    );
}

#[test]
fn half_sent_heads_are_closed_under_pressure() {
    survives(
        options("max_connections = 300\nmax_connections_per_client = 50\n"),
        |s| {
            // six clients of 50 half-sent heads each fill max_connections with nothing idle
            let mut held: Vec<TcpStream> = (1..=6)
                .flat_map(|i| half_sent(s, &format!("127.0.0.{i}"), 50))
                .collect();
            std::thread::sleep(Duration::from_millis(300));
            let e = listing_from(s, "127.0.0.9");
            assert_eq!(e.statuses(), vec![200], "{}", e.text());
            assert!(still_open(&mut held) < 300);
            drop(held);
            std::thread::sleep(Duration::from_millis(300));
        },
    );
}

// ------------------------------------------------------------------ HTTP/1.1

#[test]
fn keep_alive_pipelining_head_date_and_connection_close() {
    survives(options(""), |s| {
        let auth = s.bearer();
        // three pipelined requests in one write, answered in order; the last asks to close
        let req = format!(
            "GET /auth_token HTTP/1.1\r\nHost: x\r\n\r\nHEAD /repositories HTTP/1.1\r\nHost: a\r\nAuthorization: {auth}\r\n\r\nGET /repositories HTTP/1.1\r\nHost: a\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
        );
        let e = exchange(s, req.as_bytes(), Q);
        assert_eq!(e.statuses(), vec![401, 200, 200], "{}", e.text());
        assert!(e.closed, "Connection: close is honoured");
        let text = e.text();
        let parts: Vec<&str> = text.split("HTTP/1.1 ").skip(1).collect();
        let length = |p: &str| {
            p.lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map(|v| v.trim().to_string())
        };
        // HEAD: GET's length, no body (the next response follows the blank line at once)
        assert_eq!(length(parts[1]), length(parts[2]));
        assert!(parts[1].ends_with("\r\n\r\n"), "{:?}", parts[1]);
        assert!(parts[2].contains("Connection: close\r\n"));
        for p in &parts {
            let date = p
                .lines()
                .find_map(|l| l.strip_prefix("Date: "))
                .expect("a Date header");
            let when = httpdate::parse_http_date(date.trim()).unwrap();
            let age = std::time::SystemTime::now().duration_since(when).unwrap();
            assert!(age < Duration::from_secs(60));
        }
        // keep-alive is the default in HTTP/1.1
        let mut c = TcpStream::connect(addr(s)).unwrap();
        for _ in 0..3 {
            c.write_all(b"GET /auth_token HTTP/1.1\r\nHost: a\r\n\r\n")
                .unwrap();
            let e = read_all(&mut c, Duration::from_millis(300));
            assert_eq!(e.statuses(), vec![401]);
            assert!(!e.closed);
        }
    });
}

#[test]
fn http_1_0_closes_unless_asked_and_methods_are_case_sensitive() {
    survives(options(""), |s| {
        let e = exchange(s, b"GET /auth_token HTTP/1.0\r\n\r\n", Q);
        assert_answered_and_closed(&e, 401);
        let e = exchange(
            s,
            b"GET /auth_token HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            Duration::from_millis(500),
        );
        assert_eq!(e.statuses(), vec![401]);
        assert!(!e.closed);
        assert!(e.text().contains("Connection: keep-alive\r\n"));
        let auth = s.bearer();
        let e = exchange(
            s,
            format!(
                "head /repositories HTTP/1.1\r\nHost: a\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
            Q,
        );
        assert_eq!(e.statuses(), vec![405], "{}", e.text());
    });
}

#[test]
fn malformed_heads_and_raw_non_ascii_get_400_and_close() {
    survives(options(""), |s| {
        for raw in [
            &b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET /auth_token HTTP/1.1\r\nHost: a\r\nX-Name: J\xf6rg\r\n\r\n",
            b"GET /auth_token HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
            b"GET /auth_token HTTP/9.9\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
            b"GET /auth_token HTTP/1.1\r\nHost: a\r\nContent-Length: 12abc\r\n\r\n",
            b"GET\r\n\r\n",
            // RFC 9112 section 3.2: no Host, or two
            b"GET /auth_token HTTP/1.1\r\n\r\n",
            b"GET /auth_token HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        ] {
            let e = exchange(s, raw, Q);
            assert_eq!(
                e.statuses(),
                vec![400],
                "{:?}: {}",
                String::from_utf8_lossy(raw),
                e.text()
            );
            assert!(e.closed);
        }
    });
}

#[test]
fn sigterm_closes_idle_connections_and_exits_zero_at_once() {
    let mut s = service("");
    let idle: Vec<TcpStream> = (0..50)
        .map(|i| {
            let mut c = TcpStream::connect(addr(&s)).unwrap();
            if i % 2 == 0 {
                c.write_all(b"GET /auth_token HTTP/1.1\r\nHost: a\r\n\r\n")
                    .unwrap();
            } else {
                c.write_all(b"GET /auth_token HTTP/1.1\r\nHost: a\r\n")
                    .unwrap();
            }
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let st = s.terminate(Duration::from_secs(8)).expect("exits");
    assert!(st.success(), "{st:?}\n{}", s.log_text());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(idle);
}
