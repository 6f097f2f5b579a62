//! gitlab-registry-usage-rest: tells the administrators of a GitLab container registry where
//! their disk space goes, through a secured RESTful HAL API.
//!
//! The modules mirror the architecture: [`config`] reads the INI file; [`registry`] crawls the
//! registry and builds [`snapshot`]s, which [`state`] keeps on disk; [`server`] answers HTTP
//! with [`hal`] renderings of the current snapshot (kept per snapshot by [`cache`]), guarded
//! by [`auth`]; [`demo`] is a built-in registry for `--demo`. [`health`] is what the
//! collector reports about itself; [`timefmt`] converts RFC 3339 times. [`cleanup`] is the
//! clean-up dry run (GitLab's tag-deletion rules over a snapshot), [`cleanup_view`] its JSON
//! and HTML. [`base64`] and [`percent`] are the two encodings several boundaries share.
//! Dependencies point inward:
//! `snapshot`, `hal`, `cache`, `cleanup`, `cleanup_view`, `health`, `timefmt`, `base64` and
//! `percent` do no I/O at all.

#![forbid(unsafe_code)]

pub mod auth;
pub mod base64;
pub mod cache;
pub mod cleanup;
pub mod cleanup_view;
pub mod config;
pub mod demo;
pub mod hal;
pub mod health;
pub mod percent;
pub mod registry;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod timefmt;
