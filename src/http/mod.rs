//! The connection layer: a small HTTP/1.1 server — one poller thread on `mio` and a fixed pool
//! of worker threads, no async runtime. The API, the `--demo` registry and the tests' fake
//! registries all run on it.
//!
//! What it owns: the listening socket, every connection, the bytes on the wire (request heads
//! parsed with `httparse`, status line, `Date`, framing, keep-alive, pipelining) and every
//! limit ([`Limits`]). The poller (`poller.rs`) accepts, reads request heads into buffers of
//! at most `max_request_head` bytes, keeps idle connections (a descriptor and no thread each),
//! enforces the timeouts, `max_connections` and `max_connections_per_client`, and finishes writing responses that a slow
//! client does not take at once. Workers (`worker.rs`) take connections whose head is complete
//! through a bounded queue, call the [`Handler`], write the answer with a total deadline,
//! and hand keep-alive connections back through a channel (waking the poller with a
//! `mio::Waker` only when it needs them at once).
//!
//! What it must not do: know any route or resource (handlers do), read a request body (the
//! API takes none: such requests are refused and the connection closed), hold a thread per
//! connection, block the poller, or ever stop accepting for good — accept errors are retried
//! (`EMFILE`: the longest-idle connection is closed first). If the poller itself fails, the
//! owner is told through [`Server::failed`] and must exit, so a supervisor restarts it rather
//! than a process lives on answering nobody.

pub(crate) mod ipnet;
pub mod parse;
pub mod percent;
mod poller;
pub mod response;
mod worker;

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

pub use response::{Body, Response, WriteFn};

/// The parts of a request a handler sees.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// As sent (methods are case-sensitive: `head` is not `HEAD`).
    pub method: String,
    /// The request target as sent: path and query, still percent-encoded.
    pub url: String,
    /// Names as sent, values without surrounding white space.
    pub headers: Vec<(String, String)>,
    pub(crate) peer: Option<IpAddr>,
}

impl Request {
    /// The first header of that name (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Answers requests; called on worker threads, so it must not panic (wrap it if it might:
/// a panic here only closes the connection).
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// The limits that protect the server from its clients; all are `[general]` config keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line and headers), in bytes: beyond, 431 and close.
    pub max_request_head: usize,
    /// Most header lines in one request: beyond, 431 and close.
    pub max_headers: usize,
    /// The whole head must arrive within this, counted from its first byte (or from accepting
    /// the connection): else 408 and close.
    pub header_timeout: Duration,
    /// An idle keep-alive connection is closed after this.
    pub keepalive_timeout: Duration,
    /// A response must be taken by the client within this, in all: else the connection closes.
    pub write_timeout: Duration,
    /// Open connections at most: beyond, the longest-idle one is closed; with none idle,
    /// new connections get 503 and close.
    pub max_connections: usize,
    /// Open connections from one client (an IPv4 address or an IPv6 /64) at most: beyond,
    /// that client's longest-idle connection is closed; with none idle, 503 and close.
    pub max_connections_per_client: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_request_head: 16 * 1024,
            max_headers: 100,
            header_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            max_connections_per_client: 256,
        }
    }
}

/// How a server runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub workers: usize,
    pub limits: Limits,
    /// Prefix of the thread names (`NAME-poller`, `NAME-0`, ...).
    pub name: String,
}

/// A listening TCP socket for `host:port` (IPv6 literals with or without brackets), with
/// `SO_REUSEADDR`. No socket timeouts: deadlines are the layer's job (on Linux, `SO_RCVTIMEO`
/// on a listener also times out `accept()`).
pub fn bind(host: &str, port: u16) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let sa = addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the host name has no address")
    })?;
    let socket = Socket::new(Domain::for_address(sa), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&sa.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Raises the soft limit on open files to the hard limit (systemd's default soft limit, 1024,
/// is far below `max_connections`). Returns the limit now in force.
pub fn raise_fd_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Connections with a complete request head that may wait for a worker in the queue.
const JOB_QUEUE: usize = 1024;

/// A running server. Dropping it stops it (with a short grace time).
pub struct Server {
    addr: SocketAddr,
    flags: Arc<worker::Flags>,
    stop: Sender<Instant>,
    waker: Arc<mio::Waker>,
    poller: Option<JoinHandle<()>>,
    failed: Receiver<String>,
}

impl Server {
    /// Serves `listener` with `handler` until [`Server::shutdown`].
    pub fn start(
        listener: std::net::TcpListener,
        opts: Options,
        handler: Handler,
    ) -> io::Result<Server> {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let mut listener = mio::net::TcpListener::from_std(listener);
        let poll = mio::Poll::new()?;
        poll.registry()
            .register(&mut listener, poller::LISTENER, mio::Interest::READABLE)?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), poller::WAKER)?);
        let workers = opts.workers.max(1);
        // Room for every connection that is usually ready at once, so the poller seldom keeps
        // a queue of its own (which makes it want a wake-up for each connection handed back).
        let jobs = Arc::new(worker::Jobs::new(JOB_QUEUE.max(workers * 4)));
        let (back_tx, back_rx) = crossbeam_channel::unbounded();
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
        let (failed_tx, failed) = crossbeam_channel::bounded(1);
        let flags = Arc::new(worker::Flags::default());
        let shared = Arc::new(worker::Shared {
            handler,
            limits: opts.limits,
            flags: flags.clone(),
            back: back_tx,
            waker: waker.clone(),
        });
        for i in 0..workers {
            let (shared, queue) = (shared.clone(), jobs.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("{}-{i}", opts.name))
                .spawn(move || worker::run(&shared, &queue));
            if let Err(e) = spawned {
                jobs.close(); // the workers already started end
                return Err(e);
            }
        }
        let p = poller::Poller::new(
            poll,
            listener,
            opts.limits,
            jobs,
            back_rx,
            stop_rx,
            flags.clone(),
        );
        let poller = std::thread::Builder::new()
            .name(format!("{}-poller", opts.name))
            .spawn(move || {
                let why = match catch_unwind(AssertUnwindSafe(|| p.run())) {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => format!("polling failed: {e}"),
                    Err(_) => "the poller panicked".to_string(),
                };
                log::error!("the HTTP server stopped working: {why}");
                let _ = failed_tx.send(why);
            })?;
        Ok(Server {
            addr,
            flags,
            stop: stop_tx,
            waker,
            poller: Some(poller),
            failed,
        })
    }

    /// The address actually bound (useful with port 0).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Receives one message if the poller fails; the server then answers nobody, and the
    /// process should exit non-zero.
    pub(crate) fn failed(&self) -> &Receiver<String> {
        &self.failed
    }

    /// Stops accepting, closes idle connections, lets requests in flight finish within
    /// `grace`, and returns when the poller has stopped.
    pub(crate) fn shutdown(mut self, grace: Duration) {
        self.stop_within(grace);
    }

    fn stop_within(&mut self, grace: Duration) {
        let Some(poller) = self.poller.take() else {
            return;
        };
        self.flags.stopping.store(true, Ordering::SeqCst);
        let _ = self.stop.try_send(Instant::now() + grace);
        let _ = self.waker.wake();
        let _ = poller.join();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_within(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests;
