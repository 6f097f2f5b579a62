//! gitlab-registry-usage-rest: tells the administrators of a GitLab container registry where
//! their disk space goes, through a secured RESTful HAL API.
//!
//! The modules mirror the architecture: [`config`] reads the INI file; [`registry`] crawls the
//! registry and builds [`snapshot`]s, which [`state`] keeps on disk; [`server`] answers
//! requests with [`hal`] renderings of the current snapshot (kept per snapshot by [`cache`]),
//! guarded by [`auth`]; [`http`] is the connection layer it runs on (sockets, threads,
//! limits), as do the [`demo`] registry for `--demo` and the tests' fake registries. [`health`] is what the
//! collector reports about itself; [`timefmt`] converts RFC 3339 times. [`percent`] fixes the
//! API's percent-encoding rules (on the `percent-encoding` crate). Dependencies point inward:
//! `snapshot`, `hal`, `cache`, `health`, `timefmt` and `percent` do no I/O at all.

#![forbid(unsafe_code)]

pub mod auth;
pub mod cache;
pub mod config;
pub mod demo;
pub mod hal;
pub mod health;
pub mod http;
pub mod percent;
pub mod registry;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod timefmt;
