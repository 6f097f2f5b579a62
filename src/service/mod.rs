//! The daemon: builds the application from a configuration, loads the state file, starts the
//! HTTP server and the collector, supervises them until a signal (or until one of them ends by
//! itself) and stops them in order. `main` parses the command line and calls [`run_config`] or
//! [`run_demo`]; tests and `--demo` drive the same [`Service`].
//!
//! This module owns the wiring and the exit statuses, nothing else: what a request gets is
//! `server`'s, what a crawl does is `registry`'s. It must not parse arguments or print usage.

pub mod doctor;
pub mod logging;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use signal_hook::iterator::Signals;

use crate::auth::jwt::Tokens;
use crate::auth::ldap::LdapAuthenticator;
use crate::auth::{Authenticator, FailureLimiter, LoginGate};
use crate::config::{self, Config};
use crate::history::store::HistoryStore;
use crate::metrics::Metrics;
use crate::registry::state;
use crate::registry::status::CollectorStatus;
use crate::server::{self, App, SnapshotCell, StorageCell};
use crate::snapshot::Snapshot;
use crate::{cleanup, demo, http, registry, storage};

/// Exit status when the collector thread died (sysexits.h `EX_SOFTWARE`): systemd restarts
/// the service (only 78, a configuration error, is not retried).
pub const EX_SOFTWARE: u8 = 70;

/// `EX_CONFIG` from sysexits.h: the unit's `RestartPreventExitStatus=` names it.
pub const EX_CONFIG: u8 = 78;

/// Failures that end the program, each with a message for the operator and an exit status.
#[derive(Debug)]
pub enum ServiceError {
    /// The configuration cannot work: exit 78 (`EX_CONFIG`); systemd does not restart.
    Config(config::ConfigError),
    /// Settings that parse but cannot work (LDAP transport): also 78.
    Settings(String),
    /// Start-up or run-time failure (a port in use, the HTTP server failing): exit 1, and
    /// systemd restarts the service.
    Setup(String),
}

impl ServiceError {
    /// The process's exit status for this failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            ServiceError::Config(_) | ServiceError::Settings(_) => ExitCode::from(EX_CONFIG),
            ServiceError::Setup(_) => ExitCode::FAILURE,
        }
    }
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceError::Config(e) => write!(f, "{e}"),
            ServiceError::Settings(e) | ServiceError::Setup(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for ServiceError {}

impl From<config::ConfigError> for ServiceError {
    fn from(e: config::ConfigError) -> Self {
        ServiceError::Config(e)
    }
}

/// Runs the service from the configuration file at `path` until SIGTERM or SIGINT.
pub fn run_config(path: &Path) -> Result<ExitCode, ServiceError> {
    let cfg = Config::load(path)?;
    logging::init(cfg.general.debug);
    cfg.check_secret(path)?;
    report_config_warnings(&cfg, path);
    let ldap = LdapAuthenticator::new(&cfg.ldap)
        .map_err(|e| ServiceError::Settings(format!("{}: {e}", path.display())))?;
    let signals = signals()?;
    let service = Service::start(
        cfg,
        Arc::new(ldap),
        "check [general] socket_host and socket_port",
    )?;
    service.run_until_signal(signals)
}

/// `--demo`: the real service and collector against a built-in registry, on loopback only.
pub fn run_demo(port: u16) -> Result<ExitCode, ServiceError> {
    logging::init(false);
    let signals = signals()?;
    let demo = demo::start(port).map_err(|e| ServiceError::Setup(e.to_string()))?;
    let auth = Arc::new(demo::DemoAuthenticator::new(&demo));
    let service = Service::start(demo.config.clone(), auth, "choose another port with --port")?;
    println!("{}", demo::banner(&demo, &service.local_addr().to_string()));
    service.run_until_signal(signals)
}

fn report_config_warnings(cfg: &Config, path: &Path) {
    if let Ok(text) = std::fs::read_to_string(path) {
        if let Ok(ini) = config::parse_ini(&text, path) {
            for k in config::unknown_keys(&ini) {
                log::warn!(
                    "{}: unknown setting {k} is ignored (a typo?)",
                    path.display()
                );
            }
        }
    }
    for w in cfg.warnings() {
        log::warn!("{w}");
    }
}

/// Why a running service stopped, and the exit status that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Asked to (a signal, or [`Service::stop`]): exit 0.
    Requested,
    /// The collector thread ended by itself: the data would only get older (exit 70).
    CollectorEnded,
    /// The connection layer failed (exit 1).
    ServerFailed(String),
}

impl Stopped {
    /// The process's exit status.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Stopped::Requested => ExitCode::SUCCESS,
            Stopped::CollectorEnded => ExitCode::from(EX_SOFTWARE),
            Stopped::ServerFailed(_) => ExitCode::FAILURE,
        }
    }
}

/// A started service: the HTTP server and, when a registry is configured, the collector;
/// with `[storage] driver`, the storage scan thread.
pub struct Service {
    running: server::Running,
    collector: Option<JoinHandle<()>>,
    stop_collector: crossbeam_channel::Sender<()>,
    /// Dropped to stop the storage scan thread (not waited for: it ends between scans).
    stop_scanner: crossbeam_channel::Sender<()>,
}

impl Service {
    /// Loads the state file, builds the application, binds the port and starts the collector.
    /// `port_hint` says what to change when the address cannot be had.
    pub fn start(
        cfg: Config,
        authenticator: Arc<dyn Authenticator>,
        port_hint: &str,
    ) -> Result<Service, ServiceError> {
        if !cfg.registry.state_file.as_os_str().is_empty() {
            state::check_directory(&cfg.registry.state_file)
                .map_err(|e| ServiceError::Settings(e.to_string()))?;
        }
        let initial = load_state(&cfg);
        let app = Arc::new(build_app(&cfg, authenticator));
        if let Some(s) = &initial {
            app.snapshot.set(s.clone());
            // A first history point from the state file; the same crawl is never recorded twice.
            app.history.record(s, unix_now());
        }
        let g = &cfg.general;
        let limits = g.limits;
        raise_fd_limit(limits.max_connections);
        let running = server::start(
            app.clone(),
            &g.socket_host,
            g.socket_port,
            g.workers,
            limits,
        )
        .map_err(|e| {
            ServiceError::Setup(format!(
                "cannot listen on {}: {} ({port_hint})",
                e.addr, e.reason
            ))
        })?;
        log::info!(
            "listening on http://{}{}/ with {} workers",
            running.local_addr(),
            g.server_prefix,
            g.workers
        );
        let (stop_collector, stop_rx) = crossbeam_channel::bounded::<()>(1);
        // Each published crawl wakes the storage scan (a pending wake-up is enough).
        let (crawled_tx, crawled_rx) = crossbeam_channel::bounded::<()>(1);
        let collector = match start_collector(&cfg, &app, initial, crawled_tx, stop_rx) {
            Ok(c) => c,
            Err(e) => return Err(abandon(running, format!("cannot start the collector: {e}"))),
        };
        let (stop_scanner, stop_scan_rx) = crossbeam_channel::bounded::<()>(1);
        let crawled = collector.is_some().then_some(crawled_rx);
        if let Err(e) = start_scanner(&cfg, &app, crawled, stop_scan_rx) {
            return Err(abandon(
                running,
                format!("cannot start the storage scan: {e}"),
            ));
        }
        Ok(Service {
            running,
            collector,
            stop_collector,
            stop_scanner,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.running.local_addr()
    }

    /// Waits until `stop_requested` says so (polled every 100 ms), or until the collector
    /// thread or the connection layer ends by itself.
    pub fn supervise(&self, mut stop_requested: impl FnMut() -> bool) -> Stopped {
        loop {
            if stop_requested() {
                return Stopped::Requested;
            }
            if self.collector.as_ref().is_some_and(|c| c.is_finished()) {
                log::error!(
                    "the collector thread has ended (see the error above): the data would only \
                     get older, so the service exits with status {EX_SOFTWARE} for the service \
                     manager to restart it"
                );
                return Stopped::CollectorEnded;
            }
            if let Ok(why) = self.running.failed().try_recv() {
                log::error!(
                    "the HTTP server failed ({why}): the service exits with status 1 for the \
                     service manager to restart it"
                );
                return Stopped::ServerFailed(why);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Supervises until SIGTERM or SIGINT (registered by [`signals`]), then stops; the exit
    /// status says why it stopped.
    pub fn run_until_signal(self, mut signals: Signals) -> Result<ExitCode, ServiceError> {
        let why = self.supervise(|| match signals.pending().next() {
            Some(sig) => {
                log::info!("received signal {sig}; finishing in-flight requests");
                true
            }
            None => false,
        });
        self.stop();
        Ok(why.exit_code())
    }

    /// Stops the server (in-flight requests get 5 s) and the collector (2 s: it checks its
    /// stop channel between requests; a slow registry is not waited for).
    pub fn stop(self) {
        drop(self.stop_collector);
        drop(self.stop_scanner);
        self.running.shutdown(Duration::from_secs(5));
        if let Some(c) = self.collector {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !c.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        log::info!("stopped");
    }
}

/// SIGTERM and SIGINT, caught from now on: registered before anything can block, so an
/// early signal is not lost.
pub fn signals() -> Result<Signals, ServiceError> {
    Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT])
        .map_err(|e| ServiceError::Setup(format!("cannot install signal handlers: {e}")))
}

/// Stops the server that a failed start leaves behind; `why` is the start's error.
fn abandon(running: server::Running, why: String) -> ServiceError {
    running.shutdown(Duration::from_secs(1));
    ServiceError::Setup(why)
}

/// The collector thread, when a registry is configured; each crawl it publishes is sent on
/// `crawled`.
fn start_collector(
    cfg: &Config,
    app: &Arc<App>,
    initial: Option<Arc<Snapshot>>,
    crawled: crossbeam_channel::Sender<()>,
    stop: crossbeam_channel::Receiver<()>,
) -> std::io::Result<Option<JoinHandle<()>>> {
    if cfg.registry.registry_base_url.is_empty() {
        return Ok(None);
    }
    // The collector publishes straight into the cell the workers read.
    let cell_app = app.clone();
    registry::spawn_collector(
        cfg.registry.clone(),
        initial,
        move |snap| {
            cell_app.snapshot.set(snap.clone());
            // After publishing: readers never wait for the history file.
            cell_app.history.record(&snap, unix_now());
            let _ = crawled.try_send(());
        },
        app.status.clone(),
        stop,
    )
    .map(Some)
}

/// The storage scan thread, with `[storage] driver` set; `crawled` (with a collector) wakes
/// it after each crawl.
fn start_scanner(
    cfg: &Config,
    app: &Arc<App>,
    crawled: Option<crossbeam_channel::Receiver<()>>,
    stop: crossbeam_channel::Receiver<()>,
) -> std::io::Result<()> {
    if cfg.storage.driver == config::StorageDriver::Off {
        return Ok(());
    }
    let (a, b) = (app.clone(), app.clone());
    storage::spawn_scanner(
        cfg.storage.clone(),
        crawled,
        stop,
        cfg.registry.update_interval,
        move || a.snapshot.get(),
        move |result| b.storage.publish(result),
    )
    .map(|_| ())
}

/// The application the workers share, from the configuration.
fn build_app(cfg: &Config, authenticator: Arc<dyn Authenticator>) -> App {
    App {
        prefix: cfg.general.server_prefix.clone(),
        tokens: Tokens::new(cfg.jwt.secret_key.as_bytes(), cfg.jwt.auth_token_expires)
            .with_not_before(cfg.jwt.not_before),
        authenticator,
        limiter: FailureLimiter::new(
            cfg.ldap.max_failures_per_minute,
            cfg.ldap.max_tracked_clients,
        ),
        rechecks: crate::auth::recheck::Rechecks::new(
            cfg.ldap.recheck_interval.as_secs(),
            cfg.ldap.recheck_grace.as_secs(),
            cfg.ldap.max_tracked_clients,
        ),
        user_limiter: FailureLimiter::new(
            cfg.ldap.max_failures_per_user,
            cfg.ldap.max_tracked_clients,
        ),
        gate: LoginGate::new(cfg.ldap.max_concurrent),
        trusted_proxies: cfg.general.trusted_proxies.clone(),
        snapshot: SnapshotCell::new(cfg.general.cache_budget),
        status: Arc::new(
            CollectorStatus::new(!cfg.registry.registry_base_url.is_empty())
                .with_interval(cfg.registry.update_interval),
        ),
        update_interval: cfg.registry.update_interval,
        metrics: Metrics {
            enabled: cfg.metrics.enabled,
            bearer_token: cfg.metrics.bearer_token.clone(),
            ..Metrics::default()
        },
        cors_origins: cfg.general.cors_allowed_origins.clone(),
        streams: server::StreamGate::new(cfg.general.max_streams),
        cleanup_limits: cleanup::Limits {
            regex_size_limit: cfg.general.cleanup_regex_size_limit,
        },
        storage: Arc::new(StorageCell::new(
            cfg.storage.driver != config::StorageDriver::Off,
        )),
        history: Arc::new(HistoryStore::open(
            &cfg.registry.state_file,
            cfg.history.keep,
        )),
    }
}

/// The wall clock in Unix seconds (the history's thinning is measured against it).
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The snapshot from the state file, if there is a usable one; removes the temporary files
/// that interrupted saves left beside it.
fn load_state(cfg: &Config) -> Option<Arc<Snapshot>> {
    let p = cfg.registry.state_file.as_path();
    if p.as_os_str().is_empty() {
        return None;
    }
    let removed = state::remove_stale_temporaries(p);
    if removed > 0 {
        log::info!(
            "removed {removed} temporary file(s) that interrupted saves left beside {}",
            p.display()
        );
    }
    match state::load(p) {
        Ok(Some(s)) => {
            log::info!(
                "loaded {} repositories, {} tags from {} (collected at {})",
                s.repositories.len(),
                s.tag_count(),
                p.display(),
                s.timestamp
            );
            Some(Arc::new(s))
        }
        Ok(None) => None,
        Err(e) => {
            log::warn!("ignoring the state file: {e}; the first crawl will replace it");
            None
        }
    }
}

/// Raises the open-files limit to its hard limit, and says so when even that is below what
/// `max_connections` needs (the layer then closes idle connections to accept new ones).
fn raise_fd_limit(max_connections: usize) {
    match http::raise_fd_limit() {
        Ok(n) if n < max_connections as u64 + 64 => log::warn!(
            "only {n} open files allowed, fewer than [general] max_connections ({max_connections}) needs; raise LimitNOFILE (or ulimit -n)"
        ),
        Ok(n) => log::debug!("open files limit: {n}"),
        Err(e) => log::warn!("cannot raise the open files limit: {e}"),
    }
}
