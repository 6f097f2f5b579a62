//! The `gitlab-registry-usage-rest` binary: parses the command line and calls the library's
//! [`service`] (the daemon), [`doctor`] (`--check-config`) or the printing switches. It wires
//! nothing itself, so everything it starts can be driven by tests through the library.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use argh::FromArgs;
use gitlab_registry_usage_rest::config;

use gitlab_registry_usage_rest::service::{self, doctor, logging};

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

/// Failures that end the program: the service's (exit 1 or 78), or a bad command line (2).
#[derive(Debug)]
enum MainError {
    Service(service::ServiceError),
    Usage(String),
}

impl std::fmt::Display for MainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MainError::Service(e) => write!(f, "{e}"),
            MainError::Usage(e) => f.write_str(e),
        }
    }
}

impl From<service::ServiceError> for MainError {
    fn from(e: service::ServiceError) -> Self {
        MainError::Service(e)
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
                MainError::Service(e) => e.exit_code(),
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
        return Ok(service::run_demo(args.port.unwrap_or(5000))?);
    }
    if args.check_config {
        let opts = doctor::Options {
            offline: args.offline,
        };
        return Ok(ExitCode::from(doctor::run(&args.config_file, opts)));
    }
    Ok(service::run_config(&args.config_file)?)
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
