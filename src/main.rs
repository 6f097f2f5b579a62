//! The `gitlab-registry-usage-rest` binary: parses the command line, loads the configuration,
//! and wires the threads together (HTTP workers, the collector, the snapshot hand-over, signal
//! handling). All behaviour lives in the library's modules; nothing here is worth testing
//! except through the binary itself.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use argh::FromArgs;
use gitlab_registry_usage_rest::auth::jwt::Tokens;
use gitlab_registry_usage_rest::auth::ldap::LdapAuthenticator;
use gitlab_registry_usage_rest::auth::{Authenticator, FailureLimiter, LoginGate};
use gitlab_registry_usage_rest::config::{self, Config};
use gitlab_registry_usage_rest::metrics::Metrics;
use gitlab_registry_usage_rest::registry::state;
use gitlab_registry_usage_rest::registry::status::CollectorStatus;
use gitlab_registry_usage_rest::server::{self, App, SnapshotCell};
use gitlab_registry_usage_rest::{cleanup, demo, doctor, http, logging, registry};

/// Serves the disk usage of a GitLab container registry through a secured RESTful HAL API.
#[derive(FromArgs)]
struct Args {
    /// the configuration file (default: /etc/gitlab_registry_usage_rest.conf)
    #[argh(option, short = 'c', default = "PathBuf::from(config::DEFAULT_PATH)")]
    config_file: PathBuf,

    /// print a complete, commented default configuration file and exit
    #[argh(switch)]
    print_default_config: bool,

    /// check the configuration file and what it points at (port, state directory, LDAP,
    /// registry), print what the service would do, and exit (0: no errors; 78: the
    /// configuration is wrong; 1: something it points at is)
    #[argh(switch)]
    check_config: bool,

    /// with --check-config: skip the checks that use the network (LDAP and the registry)
    #[argh(switch)]
    offline: bool,

    /// run on a built-in demo registry with a demo login (no config file, LDAP or GitLab needed)
    #[argh(switch)]
    demo: bool,

    /// the port of the demo's API on 127.0.0.1 (default: 5000; only with --demo)
    #[argh(option)]
    port: Option<u16>,

    /// print the version and exit
    #[argh(switch, short = 'V')]
    version: bool,
}

/// Exit status when the collector thread died (sysexits.h EX_SOFTWARE): systemd restarts
/// the service (only 78, a configuration error, is not retried).
const EX_SOFTWARE: u8 = 70;

/// `EX_CONFIG` from sysexits.h: the unit's `RestartPreventExitStatus=` names it.
const EX_CONFIG: u8 = 78;

/// Failures that end the program, each with a message for the operator and an exit status.
#[derive(Debug)]
enum MainError {
    /// The configuration cannot work: exit 78 (`EX_CONFIG`); systemd does not restart.
    Config(config::ConfigError),
    /// Settings that parse but cannot work (LDAP transport): also 78.
    Settings(String),
    /// Start-up or run-time failure (a port in use, the HTTP server failing): exit 1, and
    /// systemd restarts the service.
    Setup(String),
    /// Bad command line: exit 2.
    Usage(String),
}

impl std::fmt::Display for MainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MainError::Config(e) => write!(f, "{e}"),
            MainError::Settings(e) | MainError::Setup(e) | MainError::Usage(e) => f.write_str(e),
        }
    }
}

impl From<config::ConfigError> for MainError {
    fn from(e: config::ConfigError) -> Self {
        MainError::Config(e)
    }
}

/// argh matches words exactly; the original (argparse) also took `--config-file=F` and `-cF`,
/// which deployed units use, so split those before argh sees them.
fn split_joined_options(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut literal = false;
    for a in args {
        if literal {
            out.push(a.clone());
        } else if a == "--" {
            literal = true;
            out.push(a.clone());
        } else if let Some(v) = a.strip_prefix("--config-file=") {
            out.extend(["--config-file".to_string(), v.to_string()]);
        } else if let Some(v) = a
            .strip_prefix("-c")
            .filter(|v| !v.is_empty() && !a.starts_with("--"))
        {
            out.extend(["-c".to_string(), v.to_string()]);
        } else {
            out.push(a.clone());
        }
    }
    out
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let rest = split_joined_options(argv.get(1..).unwrap_or(&[]));
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let args = match Args::from_args(&["gitlab-registry-usage-rest"], &rest) {
        Ok(a) => a,
        Err(early) => {
            return if early.status.is_ok() {
                println!("{}", early.output);
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "{}\nRun gitlab-registry-usage-rest --help for usage.",
                    early.output
                );
                ExitCode::from(2)
            };
        }
    };
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            // In the log's style, whether or not logging is set up yet.
            logging::print(log::Level::Error, &e);
            match e {
                MainError::Usage(_) => ExitCode::from(2),
                MainError::Config(_) | MainError::Settings(_) => ExitCode::from(EX_CONFIG),
                MainError::Setup(_) => ExitCode::FAILURE,
            }
        }
    }
}

fn run(args: Args) -> Result<ExitCode, MainError> {
    if args.version {
        println!(
            "gitlab-registry-usage-rest, version {}",
            env!("CARGO_PKG_VERSION")
        );
        return Ok(ExitCode::SUCCESS);
    }
    if args.print_default_config {
        print!("{}", config::default_config_text());
        return Ok(ExitCode::SUCCESS);
    }
    if args.port.is_some() && !args.demo {
        return Err(MainError::Usage(
            "--port applies to --demo only; the service's port is [general] socket_port".into(),
        ));
    }
    if args.offline && !args.check_config {
        return Err(MainError::Usage(
            "--offline applies to --check-config only".into(),
        ));
    }
    if args.demo {
        return run_demo(args.port.unwrap_or(5000));
    }
    let path = args.config_file;
    if args.check_config {
        let opts = doctor::Options {
            offline: args.offline,
        };
        return Ok(ExitCode::from(doctor::run(&path, opts)));
    }
    let cfg = Config::load(&path)?;
    logging::init(cfg.general.debug);
    cfg.check_secret(&path)?;
    report_config_warnings(&cfg, &path);
    let ldap = LdapAuthenticator::new(&cfg.ldap)
        .map_err(|e| MainError::Settings(format!("{}: {e}", path.display())))?;
    serve(
        cfg,
        Arc::new(ldap),
        |_| {},
        "check [general] socket_host and socket_port",
    )
}

/// `--demo`: the real service and collector against a built-in registry, on loopback only.
fn run_demo(port: u16) -> Result<ExitCode, MainError> {
    logging::init(false);
    let demo = demo::start(port).map_err(|e| MainError::Setup(e.to_string()))?;
    let auth = Arc::new(demo::DemoAuthenticator::new(&demo));
    let cfg = demo.config.clone();
    serve(
        cfg,
        auth,
        |listen| println!("{}", demo::banner(&demo, listen)),
        "choose another port with --port",
    )
}

fn report_config_warnings(cfg: &Config, path: &std::path::Path) {
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

/// Runs the service until SIGTERM or SIGINT.
/// `on_listening` gets the bound address once the server accepts connections; `port_hint`
/// says what to change when the address cannot be had.
fn serve(
    cfg: Config,
    authenticator: Arc<dyn Authenticator>,
    on_listening: impl FnOnce(&str),
    port_hint: &str,
) -> Result<ExitCode, MainError> {
    if let Some(p) = state_path(&cfg) {
        let removed = state::remove_stale_temporaries(p);
        if removed > 0 {
            log::info!(
                "removed {removed} temporary file(s) that interrupted saves left beside {}",
                p.display()
            );
        }
    }
    let initial = match state_path(&cfg) {
        None => None,
        Some(p) => match state::load(p) {
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
        },
    };

    let app = Arc::new(App {
        prefix: cfg.general.server_prefix.clone(),
        tokens: Tokens::new(cfg.jwt.secret_key.as_bytes(), cfg.jwt.auth_token_expires),
        authenticator,
        limiter: FailureLimiter::new(
            cfg.ldap.max_failures_per_minute,
            cfg.ldap.max_tracked_clients,
        ),
        gate: LoginGate::new(cfg.ldap.max_concurrent),
        trusted_proxies: cfg.general.trusted_proxies.clone(),
        snapshot: SnapshotCell::new(cfg.general.cache_budget),
        status: Arc::new(CollectorStatus::new(
            !cfg.registry.registry_base_url.is_empty(),
        )),
        update_interval: cfg.registry.update_interval,
        metrics: Metrics {
            enabled: cfg.metrics.enabled,
            bearer_token: cfg.metrics.bearer_token.clone(),
            ..Metrics::default()
        },
        cleanup_limits: cleanup::Limits {
            regex_size_limit: cfg.general.cleanup_regex_size_limit,
        },
    });
    if let Some(s) = &initial {
        app.snapshot.set(s.clone());
    }

    // Register signals before anything can block, so an early SIGTERM is not lost.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .map_err(|e| MainError::Setup(format!("cannot install signal handlers: {e}")))?;

    let g = &cfg.general;
    let limits = http::Limits {
        max_request_head: g.max_request_head,
        max_headers: g.max_headers,
        header_timeout: g.header_timeout,
        keepalive_timeout: g.keepalive_timeout,
        write_timeout: g.write_timeout,
        max_connections: g.max_connections,
    };
    raise_fd_limit(limits.max_connections);
    let running = server::start(
        app.clone(),
        &g.socket_host,
        g.socket_port,
        g.workers,
        limits,
    )
    .map_err(|e| {
        MainError::Setup(format!(
            "cannot listen on {}: {} ({port_hint})",
            e.addr, e.reason
        ))
    })?;
    let shown = running.local_addr().to_string();
    log::info!(
        "listening on http://{shown}{}/ with {} workers",
        g.server_prefix,
        g.workers
    );
    on_listening(&shown);

    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
    let collector = if cfg.registry.registry_base_url.is_empty() {
        None
    } else {
        // The collector publishes straight into the cell the workers read.
        let cell_app = app.clone();
        Some(
            registry::spawn_collector(
                cfg.registry.clone(),
                initial,
                move |snap| cell_app.snapshot.set(snap),
                app.status.clone(),
                stop_rx,
            )
            .map_err(|e| MainError::Setup(format!("cannot start the collector: {e}")))?,
        )
    };

    // Until SIGTERM/SIGINT, or until the collector thread or the connection layer ends by
    // itself: a service whose collector is gone would serve ever older data, one whose
    // connection layer failed would answer nobody, so it exits for systemd to restart it.
    let exit = loop {
        if let Some(sig) = signals.pending().next() {
            log::info!("received signal {sig}; finishing in-flight requests");
            break ExitCode::SUCCESS;
        }
        if collector.as_ref().is_some_and(|c| c.is_finished()) {
            log::error!(
                "the collector thread has ended (see the error above): the data would only get \
                 older, so the service exits with status {EX_SOFTWARE} for the service manager \
                 to restart it"
            );
            break ExitCode::from(EX_SOFTWARE);
        }
        if let Ok(why) = running.failed().try_recv() {
            log::error!(
                "the HTTP server failed ({why}): the service exits with status 1 for the \
                 service manager to restart it"
            );
            break ExitCode::FAILURE;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(stop_tx);
    running.shutdown(Duration::from_secs(5));
    if let Some(c) = collector {
        // The collector checks its stop channel between requests; don't wait on a slow one.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while !c.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    log::info!("stopped");
    Ok(exit)
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

fn state_path(cfg: &Config) -> Option<&std::path::Path> {
    let p = cfg.registry.state_file.as_path();
    (!p.as_os_str().is_empty()).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn joined_options_are_split() {
        assert_eq!(
            split_joined_options(&s(&["--config-file=/etc/x.conf"])),
            s(&["--config-file", "/etc/x.conf"])
        );
        assert_eq!(
            split_joined_options(&s(&["-c/etc/x.conf"])),
            s(&["-c", "/etc/x.conf"])
        );
        assert_eq!(
            split_joined_options(&s(&["-c", "/etc/x.conf"])),
            s(&["-c", "/etc/x.conf"])
        );
        assert_eq!(
            split_joined_options(&s(&["--check-config"])),
            s(&["--check-config"])
        );
        assert_eq!(split_joined_options(&s(&["--", "-cx"])), s(&["--", "-cx"]));
    }
}
