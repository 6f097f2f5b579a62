//! The poller: one thread that owns the listening socket and every connection that is not
//! with a worker — idle keep-alive connections, connections whose request head is still
//! arriving, responses a slow client has not taken yet, and connections being closed. It
//! accepts, reads heads into bounded buffers, enforces every timeout and the connection limits
//! (in all and per client), and queues connections with a complete head for the workers.
//!
//! Under pressure (`max_connections` reached) the longest-idle connection is closed first;
//! with none idle, the oldest half-sent head of the client holding the most connections, so a
//! flood of slow heads from one place cannot lock everyone else out.
//!
//! It must never block (no handler code, no blocking I/O) and never stop accepting for good:
//! an accept error either is retried at once or pauses accepting briefly. Connections are
//! edge-triggered; a connection coming back from a worker is read once at once, since bytes
//! that arrived while it was away raised no new event.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::Receiver;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::ipnet::IpNet;
use super::parse::{self, Reject};
use super::response::{self, Pending};
use super::worker::{Back, Flags, Job, Jobs};
use super::Limits;

/// The client a connection is counted under: its IPv4 address or its IPv6 /64 (one host
/// usually has a whole /64).
fn client_of(peer: &SocketAddr) -> IpNet {
    IpNet::of(peer.ip(), 64)
}

pub(crate) const LISTENER: Token = Token(0);
pub(crate) const WAKER: Token = Token(1);
/// Connection `i` is registered as `Token(i + FIRST)`.
const FIRST: usize = 2;

/// How long, and for how many bytes, a closing connection is drained so that the client
/// reads our last answer instead of a reset (unread bytes at close make the kernel send RST).
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;
/// The longest the poller sleeps: connections handed back without a wake-up (idle or closed,
/// see `worker::Flags::poller_wants_all`) get their timers within this.
pub(crate) const TICK: Duration = Duration::from_millis(250);
/// Pause after an accept error that closing an idle connection cannot cure.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

// errno values that `io::ErrorKind` does not name.
use libc::{EMFILE, ENFILE, EPROTO};

enum Phase {
    /// No byte of the next request yet (a fresh connection or after a response).
    Idle,
    /// Part of a head has arrived.
    Head,
    /// The rest of a response the client has not taken yet.
    Writing(Pending),
    /// Our side is shut down; discarding what arrives until the client closes.
    Draining { left: usize },
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    buf: Vec<u8>,
    phase: Phase,
    /// When this phase ends (the key in `Poller::deadlines`).
    deadline: Instant,
    /// Since when the connection is idle (the key in `Poller::idle`), if it is.
    idle_since: Option<Instant>,
    /// The socket had nothing more to read after our last read (it returned fewer bytes than
    /// asked, or none): anything arriving since raises an event, so no read is needed
    /// before one. Saves a read per keep-alive request.
    drained: bool,
}

enum Slot {
    Free,
    Here(Conn),
    /// With a worker (or queued for one). `unread`: bytes may be waiting that raised no event
    /// we acted on (not drained when handed off, or an event came while away).
    Away {
        peer: SocketAddr,
        unread: bool,
    },
}

/// A burst of one kind of trouble ends after this long without it.
const BURST_QUIET: Duration = Duration::from_secs(10);

/// Counts one kind of trouble (out of descriptors, accept failing, connections refused) so
/// that a burst is logged once when it starts and once when it is over, not once per error.
#[derive(Default)]
struct Burst {
    count: u64,
    last: Option<Instant>,
}

impl Burst {
    /// Counts one occurrence; true if it starts a burst (the caller logs it).
    fn hit(&mut self, now: Instant) -> bool {
        self.count += 1;
        self.last.replace(now).is_none()
    }

    /// When the burst will be over if nothing more happens.
    fn quiet_at(&self) -> Option<Instant> {
        self.last.map(|t| t + BURST_QUIET)
    }

    /// The count of a burst that is over.
    fn end_if_quiet(&mut self, now: Instant) -> Option<u64> {
        if self.quiet_at()? > now {
            return None;
        }
        self.last = None;
        Some(std::mem::take(&mut self.count))
    }
}

pub(crate) struct Poller {
    pub(crate) poll: Poll,
    pub(crate) listener: Option<TcpListener>,
    pub(crate) limits: Limits,
    pub(crate) jobs: Arc<Jobs>,
    pub(crate) back: Receiver<Back>,
    /// Carries the shutdown deadline.
    pub(crate) stop: Receiver<Instant>,
    /// Shared with the workers (see `worker::Flags`).
    pub(crate) flags: Arc<Flags>,
    /// Connections away with a worker on which bytes may be waiting unread.
    unread_away: usize,
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// Connections in `slots` that are not `Free`.
    live: usize,
    deadlines: BTreeSet<(Instant, usize)>,
    idle: BTreeSet<(Instant, usize)>,
    queued: VecDeque<Job>,
    scratch: Vec<u8>,
    accept_paused_until: Option<Instant>,
    out_of_fds: Burst,
    accept_failing: Burst,
    refused_busy: Burst,
    refused_client: Burst,
    /// Open connections (here or away) per client; entries at zero are removed.
    clients: HashMap<IpNet, usize>,
    stop_deadline: Option<Instant>,
}

impl Poller {
    pub(crate) fn new(
        poll: Poll,
        listener: TcpListener,
        limits: Limits,
        jobs: Arc<Jobs>,
        back: Receiver<Back>,
        stop: Receiver<Instant>,
        flags: Arc<Flags>,
    ) -> Poller {
        Poller {
            poll,
            listener: Some(listener),
            scratch: vec![0; limits.max_request_head.clamp(1024, 64 * 1024)],
            limits,
            jobs,
            back,
            stop,
            flags,
            unread_away: 0,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            deadlines: BTreeSet::new(),
            idle: BTreeSet::new(),
            queued: VecDeque::new(),
            accept_paused_until: None,
            out_of_fds: Burst::default(),
            accept_failing: Burst::default(),
            refused_busy: Burst::default(),
            refused_client: Burst::default(),
            clients: HashMap::new(),
            stop_deadline: None,
        }
    }

    /// Runs until a shutdown completes (`Ok`) or polling itself fails (`Err`).
    pub(crate) fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let mut timeout = self.next_wakeup().map_or(TICK, |t| {
                t.saturating_duration_since(Instant::now()).min(TICK)
            });
            let wants_all =
                self.unread_away > 0 || !self.queued.is_empty() || self.stop_deadline.is_some();
            self.flags
                .poller_wants_all
                .store(wants_all, Ordering::SeqCst);
            // Announce the sleep first, then look: a connection handed back in between either
            // is seen here or wakes the poll.
            self.flags.poller_asleep.store(true, Ordering::SeqCst);
            if !self.back.is_empty() {
                timeout = Duration::ZERO;
            }
            let polled = self.poll.poll(&mut events, Some(timeout));
            self.flags.poller_asleep.store(false, Ordering::SeqCst);
            match polled {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(t) => self.on_event(t - FIRST),
                }
            }
            while let Ok(b) = self.back.try_recv() {
                self.on_back(b);
            }
            if let Ok(deadline) = self.stop.try_recv() {
                self.begin_stop(deadline);
            }
            self.feed_workers();
            let now = Instant::now();
            self.expire(now);
            self.end_bursts(now);
            if self.accept_paused_until.is_some_and(|t| t <= now) {
                self.accept_paused_until = None;
                self.accept();
            }
            if let Some(d) = self.stop_deadline {
                if self.live == 0 {
                    return Ok(());
                }
                if d <= now {
                    log::warn!(
                        "{} connections were still busy at the end of the shutdown grace time",
                        self.live
                    );
                    return Ok(());
                }
            }
        }
    }

    fn next_wakeup(&self) -> Option<Instant> {
        [
            self.deadlines.first().map(|(t, _)| *t),
            self.accept_paused_until,
            self.stop_deadline,
            self.out_of_fds.quiet_at(),
            self.accept_failing.quiet_at(),
            self.refused_busy.quiet_at(),
            self.refused_client.quiet_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ---------------------------------------------------------------- accepting

    fn accept(&mut self) {
        while self.accept_paused_until.is_none() {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => self.admit(stream, peer),
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => return,
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => {}
                    _ if e.raw_os_error() == Some(EPROTO) => {}
                    _ if matches!(e.raw_os_error(), Some(EMFILE | ENFILE)) => {
                        let now = Instant::now();
                        if self.out_of_fds.hit(now) {
                            log::warn!(
                                "out of file descriptors ({e}): closing idle connections to accept new ones (raise LimitNOFILE or lower [general] max_connections)"
                            );
                        }
                        if !self.evict_idle() {
                            self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                        }
                    }
                    _ => {
                        let now = Instant::now();
                        if self.accept_failing.hit(now) {
                            log::warn!("accepting a connection failed: {e}; retrying");
                        }
                        self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                    }
                },
            }
        }
    }

    /// Logs the end of each burst of trouble that has been quiet for [`BURST_QUIET`].
    fn end_bursts(&mut self, now: Instant) {
        if let Some(n) = self.out_of_fds.end_if_quiet(now) {
            log::info!(
                "out of file descriptors {n} times in the last burst; now accepting normally"
            );
        }
        if let Some(n) = self.accept_failing.end_if_quiet(now) {
            log::info!("accepting failed {n} times in the last burst; now accepting normally");
        }
        if let Some(n) = self.refused_busy.end_if_quiet(now) {
            log::info!("{n} connections were refused with 503 in the last burst (max_connections)");
        }
        if let Some(n) = self.refused_client.end_if_quiet(now) {
            log::info!(
                "{n} connections were refused with 503 in the last burst (max_connections_per_client)"
            );
        }
    }

    fn admit(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        let client = client_of(&peer);
        let per_client = self.limits.max_connections_per_client;
        if self.clients.get(&client).copied().unwrap_or(0) >= per_client
            && !self.evict_idle_of(client)
        {
            if self.refused_client.hit(Instant::now()) {
                log::warn!(
                    "[general] max_connections_per_client ({per_client}) reached by {client} and none of its connections idle: its new connections get 503"
                );
            }
            refuse(&stream, Reject::ClientBusy);
            return;
        }
        if self.live >= self.limits.max_connections && !self.evict_idle() && !self.evict_head() {
            if self.refused_busy.hit(Instant::now()) {
                log::warn!(
                    "[general] max_connections ({}) reached and none idle: new connections get 503",
                    self.limits.max_connections
                );
            }
            refuse(&stream, Reject::Busy);
            return;
        }
        let _ = stream.set_nodelay(true);
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot::Free);
                self.slots.len() - 1
            }
        };
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut stream, Token(idx + FIRST), Interest::READABLE)
        {
            log::warn!("cannot watch a new connection: {e}");
            self.free.push(idx);
            return;
        }
        let now = Instant::now();
        let deadline = now + self.limits.header_timeout;
        self.slots[idx] = Slot::Here(Conn {
            stream,
            peer,
            buf: Vec::new(),
            phase: Phase::Idle,
            deadline,
            idle_since: Some(now),
            // Registering reports bytes that are already there.
            drained: true,
        });
        self.live += 1;
        *self.clients.entry(client).or_insert(0) += 1;
        self.deadlines.insert((deadline, idx));
        self.idle.insert((now, idx));
    }

    /// Closes the longest-idle connection; false if none is idle.
    fn evict_idle(&mut self) -> bool {
        match self.idle.first().copied() {
            Some((_, idx)) => {
                self.close(idx);
                true
            }
            None => false,
        }
    }

    /// Closes the longest-idle connection of `client`; false if none of its is idle.
    fn evict_idle_of(&mut self, client: IpNet) -> bool {
        let found = self
            .idle
            .iter()
            .find_map(|&(_, idx)| match &self.slots[idx] {
                Slot::Here(c) if client_of(&c.peer) == client => Some(idx),
                _ => None,
            });
        found.map(|idx| self.close(idx)).is_some()
    }

    /// Under pressure with nothing idle: closes the oldest half-sent head of the client that
    /// holds the most connections (with 503); false if no head is arriving anywhere. Scans
    /// every slot, which only happens when `max_connections` is reached.
    fn evict_head(&mut self) -> bool {
        let clients = &self.clients;
        let victim = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(idx, slot)| match slot {
                Slot::Here(c) if matches!(c.phase, Phase::Head) => {
                    let held = clients.get(&client_of(&c.peer)).copied().unwrap_or(0);
                    Some((held, std::cmp::Reverse(c.deadline), idx))
                }
                _ => None,
            })
            .max();
        let Some((_, _, idx)) = victim else {
            return false;
        };
        if let Some(c) = self.conn(idx) {
            log::debug!(
                "closing a half-sent request head from {} to make room",
                c.peer
            );
            refuse(&c.stream, Reject::Busy);
        }
        self.close(idx);
        true
    }

    /// One connection of `peer` fewer.
    fn forget(&mut self, peer: &SocketAddr) {
        let client = client_of(peer);
        if let Some(n) = self.clients.get_mut(&client) {
            *n -= 1;
            if *n == 0 {
                self.clients.remove(&client);
            }
        }
    }

    // ---------------------------------------------------------------- connection states

    fn conn(&mut self, idx: usize) -> Option<&mut Conn> {
        match self.slots.get_mut(idx) {
            Some(Slot::Here(c)) => Some(c),
            _ => None,
        }
    }

    fn set_deadline(&mut self, idx: usize, at: Instant) {
        if let Some(Slot::Here(c)) = self.slots.get_mut(idx) {
            self.deadlines.remove(&(c.deadline, idx));
            c.deadline = at;
            self.deadlines.insert((at, idx));
        }
    }

    fn set_idle(&mut self, idx: usize, since: Option<Instant>) {
        if let Some(Slot::Here(c)) = self.slots.get_mut(idx) {
            if let Some(old) = c.idle_since.take() {
                self.idle.remove(&(old, idx));
            }
            if let Some(s) = since {
                self.idle.insert((s, idx));
            }
            c.idle_since = since;
        }
    }

    fn close(&mut self, idx: usize) {
        if let Some(slot) = self.slots.get_mut(idx) {
            let peer = match std::mem::replace(slot, Slot::Free) {
                Slot::Here(c) => {
                    self.deadlines.remove(&(c.deadline, idx));
                    if let Some(s) = c.idle_since {
                        self.idle.remove(&(s, idx));
                    }
                    // Dropping the stream closes it, which also removes it from the poll.
                    Some(c.peer)
                }
                Slot::Away { peer, .. } => Some(peer),
                Slot::Free => None,
            };
            if let Some(peer) = peer {
                self.forget(&peer);
            }
            self.live -= 1;
            self.free.push(idx);
        }
    }

    fn on_event(&mut self, idx: usize) {
        match self.slots.get_mut(idx) {
            Some(Slot::Away { unread, .. }) if !*unread => {
                *unread = true;
                self.unread_away += 1;
            }
            Some(Slot::Here(c)) => c.drained = false,
            _ => {}
        }
        // Readiness flags are hints: whatever the phase wants is tried, non-blocking.
        match self.conn(idx).map(|c| &c.phase) {
            Some(Phase::Idle | Phase::Head) => self.read_head(idx),
            Some(Phase::Writing(_)) => self.write_rest(idx),
            Some(Phase::Draining { .. }) => self.drain(idx),
            None => {}
        }
    }

    /// Reads what has arrived of a head, never more than `max_request_head` in all.
    fn read_head(&mut self, idx: usize) {
        let max = self.limits.max_request_head;
        let header_timeout = self.limits.header_timeout;
        loop {
            let Some(Slot::Here(c)) = self.slots.get_mut(idx) else {
                return;
            };
            let room = max.saturating_sub(c.buf.len()).min(self.scratch.len());
            if room == 0 {
                return self.hand_off(idx);
            }
            let got = (&c.stream).read(&mut self.scratch[..room]);
            match got {
                Ok(0) => return self.close(idx),
                Ok(n) => {
                    c.drained = n < room;
                    c.buf.extend_from_slice(&self.scratch[..n]);
                    let line_end = self.scratch[..n].contains(&b'\n');
                    if matches!(c.phase, Phase::Idle) {
                        c.phase = Phase::Head;
                        self.set_idle(idx, None);
                        self.set_deadline(idx, Instant::now() + header_timeout);
                    }
                    let Some(Slot::Here(c)) = self.slots.get(idx) else {
                        return;
                    };
                    if line_end && parse::ready(&c.buf, max, self.limits.max_headers) {
                        return self.hand_off(idx);
                    }
                    if c.drained {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Some(c) = self.conn(idx) {
                        c.drained = true;
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(idx),
            }
        }
    }

    fn hand_off(&mut self, idx: usize) {
        let Some(slot @ Slot::Here(_)) = self.slots.get_mut(idx) else {
            return;
        };
        let away = match slot {
            Slot::Here(c) => Slot::Away {
                peer: c.peer,
                unread: !c.drained,
            },
            _ => return,
        };
        let Slot::Here(c) = std::mem::replace(slot, away) else {
            return;
        };
        if !c.drained {
            self.unread_away += 1;
        }
        self.deadlines.remove(&(c.deadline, idx));
        if let Some(s) = c.idle_since {
            self.idle.remove(&(s, idx));
        }
        self.queued.push_back(Job {
            idx,
            stream: c.stream,
            buf: c.buf,
            peer: c.peer,
        });
    }

    fn feed_workers(&mut self) {
        while let Some(job) = self.queued.pop_front() {
            if let Err(job) = self.jobs.try_send(job) {
                self.queued.push_front(job);
                return;
            }
        }
    }

    fn on_back(&mut self, b: Back) {
        match b {
            Back::Closed { idx } => {
                if let Some(slot @ Slot::Away { .. }) = self.slots.get_mut(idx) {
                    if let Slot::Away { unread: true, .. } = slot {
                        self.unread_away -= 1;
                    }
                    if let Slot::Away { peer, .. } = std::mem::replace(slot, Slot::Free) {
                        self.forget(&peer);
                    }
                    self.live -= 1;
                    self.free.push(idx);
                }
            }
            Back::Idle { idx, stream, buf } => {
                if self.put_back(idx, stream, buf, Phase::Idle) {
                    self.resume(idx);
                }
            }
            Back::Write {
                idx,
                stream,
                buf,
                pending,
            } => {
                let deadline = pending.deadline;
                if self.put_back(idx, stream, buf, Phase::Writing(pending)) {
                    self.set_deadline(idx, deadline);
                    if let Some(Slot::Here(c)) = self.slots.get_mut(idx) {
                        let token = Token(idx + FIRST);
                        let interest = Interest::READABLE | Interest::WRITABLE;
                        if self
                            .poll
                            .registry()
                            .reregister(&mut c.stream, token, interest)
                            .is_err()
                        {
                            return self.close(idx);
                        }
                    }
                    self.write_rest(idx);
                }
            }
            Back::Linger { idx, stream } => {
                if self.put_back(idx, stream, Vec::new(), Phase::Draining { left: 0 }) {
                    self.linger(idx);
                }
            }
        }
    }

    /// Puts a connection from a worker back in its slot; false if the slot was not waiting.
    fn put_back(&mut self, idx: usize, stream: TcpStream, buf: Vec<u8>, phase: Phase) -> bool {
        let Some(slot) = self.slots.get_mut(idx) else {
            return false;
        };
        let Slot::Away { peer, unread } = *slot else {
            return false;
        };
        if unread {
            self.unread_away -= 1;
        }
        let now = Instant::now();
        *slot = Slot::Here(Conn {
            stream,
            peer,
            // An idle connection keeps no buffer.
            buf: if buf.is_empty() { Vec::new() } else { buf },
            phase,
            deadline: now,
            idle_since: None,
            drained: !unread,
        });
        self.deadlines.insert((now, idx));
        true
    }

    /// After a response: wait for the next request, or answer one that is already here.
    fn resume(&mut self, idx: usize) {
        if self.stop_deadline.is_some() {
            return self.close(idx);
        }
        let (max, max_headers) = (self.limits.max_request_head, self.limits.max_headers);
        let now = Instant::now();
        let Some(c) = self.conn(idx) else { return };
        if c.buf.is_empty() {
            c.phase = Phase::Idle;
            let keepalive = self.limits.keepalive_timeout;
            self.set_idle(idx, Some(now));
            self.set_deadline(idx, now + keepalive);
        } else {
            c.phase = Phase::Head;
            let ready = parse::ready(&c.buf, max, max_headers);
            self.set_deadline(idx, now + self.limits.header_timeout);
            if ready {
                return self.hand_off(idx);
            }
        }
        if self.conn(idx).is_some_and(|c| !c.drained) {
            self.read_head(idx);
        }
    }

    fn write_rest(&mut self, idx: usize) {
        let Some(Slot::Here(c)) = self.slots.get_mut(idx) else {
            return;
        };
        let Phase::Writing(p) = &mut c.phase else {
            return;
        };
        match p.write_to(&c.stream) {
            Ok(false) => {}
            Ok(true) => {
                let keep_alive = p.keep_alive;
                let token = Token(idx + FIRST);
                if self
                    .poll
                    .registry()
                    .reregister(&mut c.stream, token, Interest::READABLE)
                    .is_err()
                {
                    return self.close(idx);
                }
                if keep_alive {
                    self.resume(idx);
                } else {
                    let _ = c.stream.shutdown(std::net::Shutdown::Write);
                    self.linger(idx);
                }
            }
            Err(_) => self.close(idx),
        }
    }

    /// Our answer is complete and our side shut down: drain briefly, then close.
    fn linger(&mut self, idx: usize) {
        if self.stop_deadline.is_some() {
            return self.close(idx);
        }
        let Some(c) = self.conn(idx) else { return };
        c.phase = Phase::Draining { left: LINGER_BYTES };
        c.buf = Vec::new();
        self.set_deadline(idx, Instant::now() + LINGER_TIME);
        self.drain(idx);
    }

    fn drain(&mut self, idx: usize) {
        loop {
            let Some(Slot::Here(c)) = self.slots.get_mut(idx) else {
                return;
            };
            let Phase::Draining { left } = &mut c.phase else {
                return;
            };
            let room = (*left).min(self.scratch.len());
            if room == 0 {
                return self.close(idx);
            }
            match (&c.stream).read(&mut self.scratch[..room]) {
                Ok(0) => return self.close(idx),
                Ok(n) => *left -= n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(idx),
            }
        }
    }

    // ---------------------------------------------------------------- time

    fn expire(&mut self, now: Instant) {
        while let Some(&(t, idx)) = self.deadlines.first() {
            if t > now {
                return;
            }
            match self.conn(idx) {
                Some(c) => {
                    if matches!(c.phase, Phase::Head) {
                        log::debug!("request head from {} timed out", c.peer);
                        refuse(&c.stream, Reject::Timeout);
                    }
                    self.close(idx);
                }
                None => {
                    // Cannot happen (every entry belongs to a connection here); do not spin.
                    self.deadlines.remove(&(t, idx));
                }
            }
        }
    }

    // ---------------------------------------------------------------- stopping

    fn begin_stop(&mut self, deadline: Instant) {
        self.stop_deadline = Some(deadline);
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        let waiting: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                matches!(
                    &self.slots[i],
                    Slot::Here(Conn {
                        phase: Phase::Idle | Phase::Head | Phase::Draining { .. },
                        ..
                    })
                )
            })
            .collect();
        for idx in waiting {
            self.close(idx);
        }
        self.flags.stopping.store(true, Ordering::SeqCst);
    }
}

impl Drop for Poller {
    /// However the poller ends, the workers end after the jobs already queued.
    fn drop(&mut self) {
        self.jobs.close();
    }
}

/// Answers a refusal the poller decides on its own (408, 503) in one non-blocking write; a
/// client that cannot take a few hundred bytes at once does not get it.
fn refuse(stream: &TcpStream, why: Reject) {
    let bytes = response::closing_bytes(
        response::error_response(why.status(), why.message()),
        &httpdate::fmt_http_date(SystemTime::now()),
    );
    let mut w = stream;
    let _ = w.write(&bytes);
}
