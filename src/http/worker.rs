//! The worker threads: each takes a connection whose request head is complete, parses it,
//! calls the handler, writes the answer, and hands the connection back to the poller (or
//! closes it). Pipelined requests already received are answered in order, up to
//! [`PIPELINE_BATCH`] per turn. Workers never wait for a client to send: reading heads is the
//! poller's job, so a slow client costs a buffer, never a thread.
//!
//! A panic while answering closes that one connection; the worker lives on (the handler's
//! own wrapper turns a panic in a handler into a 500 before it gets here).

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

use crossbeam_channel::Sender;
use mio::net::TcpStream;

use super::parse::{self, Parsed};
use super::response::{self, Exchange, Pending, Sent};
use super::{Handler, Limits};

/// Requests answered in one turn before the connection goes back to the queue, so that one
/// client pipelining many requests cannot keep a worker to itself.
pub(crate) const PIPELINE_BATCH: usize = 32;

/// A connection with a complete head (or a head to refuse) at the start of `buf`.
pub(crate) struct Job {
    pub(crate) idx: usize,
    pub(crate) stream: TcpStream,
    pub(crate) buf: Vec<u8>,
    pub(crate) peer: SocketAddr,
}

/// The bounded queue of connections ready for a worker. A mutex and a condition variable
/// rather than a channel: an idle worker sleeps at once instead of spinning and yielding
/// first (crossbeam-channel's receive did: 0.4 sched_yield per request, and 60 % more
/// requests per second at 16 connections without it).
pub(crate) struct Jobs {
    queue: Mutex<(VecDeque<Job>, bool)>,
    ready: Condvar,
    capacity: usize,
}

impl Jobs {
    pub(crate) fn new(capacity: usize) -> Jobs {
        Jobs {
            queue: Mutex::new((VecDeque::with_capacity(capacity), false)),
            ready: Condvar::new(),
            capacity,
        }
    }

    /// Queues `job` unless the queue is full (then it comes back).
    pub(crate) fn try_send(&self, job: Job) -> Result<(), Job> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if q.0.len() >= self.capacity {
            return Err(job);
        }
        q.0.push_back(job);
        drop(q);
        self.ready.notify_one();
        Ok(())
    }

    /// No more jobs: workers finish what is queued, then end.
    pub(crate) fn close(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.ready.notify_all();
    }

    /// The next job; `None` once closed and empty.
    fn recv(&self) -> Option<Job> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(job) = q.0.pop_front() {
                return Some(job);
            }
            if q.1 {
                return None;
            }
            q = self.ready.wait(q).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A connection coming back to the poller.
pub(crate) enum Back {
    /// The response is sent and the connection stays open; `buf` holds what has already
    /// arrived of the next request.
    Idle {
        idx: usize,
        stream: TcpStream,
        buf: Vec<u8>,
    },
    /// The socket's buffer filled: the poller sends the rest, then goes on as
    /// `pending.keep_alive` says.
    Write {
        idx: usize,
        stream: TcpStream,
        buf: Vec<u8>,
        pending: Pending,
    },
    /// Answered, and our side is shut down: the poller discards what the client still sends
    /// for a moment (so the answer is not lost to a reset), then closes.
    Linger { idx: usize, stream: TcpStream },
    /// The worker closed the connection.
    Closed { idx: usize },
}

/// What the server, the poller and the workers tell each other without a message.
#[derive(Default)]
pub(crate) struct Flags {
    /// A shutdown has begun: responses say `Connection: close`.
    pub(crate) stopping: AtomicBool,
    /// Set by the poller while it may be blocked in `poll`; whoever clears it wakes it.
    pub(crate) poller_asleep: AtomicBool,
    /// Set by the poller when it needs every connection back at once (bytes are waiting on
    /// one that is away, connections queue for a worker, or it is stopping). Otherwise a
    /// connection coming back idle or closed waits for the poller's next turn (at most
    /// `poller::TICK`): the next request on it raises an event anyway.
    pub(crate) poller_wants_all: AtomicBool,
}

/// What every worker shares.
pub(crate) struct Shared {
    pub(crate) handler: Handler,
    pub(crate) limits: Limits,
    pub(crate) flags: Arc<Flags>,
    pub(crate) back: Sender<Back>,
    pub(crate) waker: Arc<mio::Waker>,
}

impl Shared {
    fn give_back(&self, b: Back) {
        // Idle with bytes of the next request already here (a pipelining client beyond
        // PIPELINE_BATCH) needs the poller as much as an unfinished write does.
        let urgent = match &b {
            Back::Write { .. } | Back::Linger { .. } => true,
            Back::Idle { buf, .. } => !buf.is_empty(),
            Back::Closed { .. } => false,
        };
        // After the poller has gone, the connection is simply dropped (closed). A busy
        // poller looks at the channel before it sleeps again: no wake-up needed then.
        if self.back.send(b).is_err() {
            return;
        }
        let wanted = urgent
            || self.flags.stopping.load(Ordering::SeqCst)
            || self.flags.poller_wants_all.load(Ordering::SeqCst);
        if wanted && self.flags.poller_asleep.swap(false, Ordering::SeqCst) {
            let _ = self.waker.wake();
        }
    }
}

/// The `Date` header's text, formatted once per second.
struct DateCache {
    secs: u64,
    text: String,
}

impl DateCache {
    fn get(&mut self) -> &str {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if now != self.secs || self.text.is_empty() {
            self.secs = now;
            self.text = httpdate::fmt_http_date(SystemTime::now());
        }
        &self.text
    }
}

/// Makes sure the poller hears about a connection even if answering it panicked.
struct Ticket<'a> {
    idx: usize,
    shared: &'a Shared,
    settled: bool,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.shared.give_back(Back::Closed { idx: self.idx });
        }
    }
}

/// A worker's life: jobs until the poller drops its end of the queue. A panic that escapes
/// a job (a bug in this layer) is logged and the loop starts again, so the pool never shrinks.
pub(crate) fn run(shared: &Shared, jobs: &Jobs) {
    loop {
        let result = catch_unwind(AssertUnwindSafe(|| work(shared, jobs)));
        if result.is_ok() {
            return;
        }
        log::error!("bug: an HTTP worker panicked outside a request; it starts again");
    }
}

fn work(shared: &Shared, jobs: &Jobs) {
    let mut date = DateCache {
        secs: 0,
        text: String::new(),
    };
    while let Some(job) = jobs.recv() {
        let mut ticket = Ticket {
            idx: job.idx,
            shared,
            settled: false,
        };
        match catch_unwind(AssertUnwindSafe(|| serve(shared, job, &mut date))) {
            Ok(back) => {
                ticket.settled = true;
                shared.give_back(back);
            }
            Err(_) => log::error!("bug: a panic in the HTTP layer; that connection is closed"),
        }
    }
}

/// Answers the requests at the start of `job.buf`.
fn serve(shared: &Shared, job: Job, date: &mut DateCache) -> Back {
    let Job {
        idx,
        stream,
        mut buf,
        peer,
    } = job;
    let limits = &shared.limits;
    for _ in 0..PIPELINE_BATCH {
        let parsed = parse::parse_head(
            &buf,
            limits.max_request_head,
            limits.max_headers,
            Some(peer.ip()),
        );
        let (resp, head_only, http10, keep_alive) = match parsed {
            Parsed::Partial => return Back::Idle { idx, stream, buf },
            Parsed::Reject(r) => {
                log::debug!("refused a request from {peer}: {} {r:?}", r.status());
                let resp = response::error_response(r.status(), r.message());
                (resp, false, false, false)
            }
            Parsed::Complete { head, len } => {
                buf.drain(..len);
                let resp = (shared.handler)(&head.request);
                let keep = head.keep_alive && !shared.flags.stopping.load(Ordering::Relaxed);
                (resp, head.request.method == "HEAD", head.http10, keep)
            }
        };
        let ex = Exchange {
            head_only,
            http10,
            keep_alive,
            deadline: Instant::now() + limits.write_timeout,
        };
        match response::send(&stream, resp, ex, date.get()) {
            Sent::Done { keep_alive: true } if buf.is_empty() => {
                return Back::Idle { idx, stream, buf }
            }
            Sent::Done { keep_alive: true } => {}
            Sent::Done { keep_alive: false } => {
                let _ = stream.shutdown(std::net::Shutdown::Write);
                return Back::Linger { idx, stream };
            }
            Sent::Pending(pending) => {
                return Back::Write {
                    idx,
                    stream,
                    buf,
                    pending,
                }
            }
            Sent::Broken => return Back::Closed { idx },
        }
    }
    Back::Idle { idx, stream, buf }
}
