//! gitlab-registry-usage-rest: tells the administrators of a GitLab container registry where
//! their disk space goes, through a secured RESTful HAL API.
//!
//! The modules mirror the architecture: [`config`] reads the INI file; [`registry`] crawls the
//! registry and builds [`snapshot`]s, which [`state`] keeps on disk; [`server`] answers
//! requests with [`hal`] renderings of the current snapshot (kept per snapshot by [`cache`]),
//! guarded by [`auth`], and serves the browser [`dashboard`] built into the binary; [`http`]
//! is the connection layer it runs on (sockets, threads, limits), as do the [`demo`] registry
//! for `--demo` and the tests' fake registries. [`doctor`] is `--check-config`, which tries
//! what the service will need; [`logging`] formats what goes to stderr (journal or
//! timestamped). [`usage`] computes namespaces and freeable ("exclusive") sizes for each
//! snapshot. [`health`] is what the collector reports about itself and the `/health` verdict;
//! [`metrics`] counts HTTP requests and writes the Prometheus exposition; [`cleanup`] is the
//! clean-up dry run (GitLab's tag-deletion rules over a snapshot), [`cleanup_view`] its JSON
//! and HTML; [`timefmt`] converts RFC 3339 times; [`ipnet`] is IP networks
//! (`trusted_proxies`). [`percent`] fixes the API's percent-encoding rules (on the
//! `percent-encoding` crate). Dependencies point inward: `snapshot`, `usage`, `hal`, `cache`,
//! `cleanup`, `cleanup_view`, `health`, `metrics`, `timefmt`, `ipnet`, `dashboard` and
//! `percent` do no I/O.

#![forbid(unsafe_code)]

pub mod auth;
pub mod cache;
pub mod cleanup;
pub(crate) mod cleanup_view;
pub mod config;
pub(crate) mod dashboard;
pub mod demo;
pub mod doctor;
pub mod hal;
pub mod health;
pub mod http;
pub(crate) mod ipnet;
pub mod logging;
pub mod metrics;
pub mod percent;
pub mod registry;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod storage;
pub mod timefmt;
pub mod usage;
