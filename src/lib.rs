//! gitlab-registry-usage-rest: tells the administrators of a GitLab container registry where
//! their disk space goes, through a secured RESTful HAL API.
//!
//! One module per concept (ARCHITECTURE.md draws the arrows): [`service`] is the daemon (it
//! wires the others and supervises them; `service::doctor` is `--check-config`); [`config`]
//! reads the INI file; [`registry`] is the collector: it crawls the registry and GitLab's
//! projects, builds [`snapshot`]s, keeps the last one on disk (`registry::state`) and reports
//! on itself (`registry::status`); [`snapshot`] is the immutable data and its arithmetic
//! (sizes, namespaces, freeable bytes, projects); [`history`] keeps past crawls for `since=`
//! and `/history`; [`storage`] reads the registry's own storage as garbage-collect would;
//! [`hal`] renders snapshots as HAL JSON and HTML; [`cleanup`] is the clean-up what-if and
//! the projects' policies; [`server`] routes requests to those renderings (render cache,
//! dashboard, `/health`, `/storage`), guarded by [`auth`] (LDAP login, JWTs, login guards);
//! [`http`] is the connection layer it runs on (poller, worker pool, limits, parsing, IP
//! networks, percent-encoding); [`metrics`] is `/metrics`; [`tls`] is which CAs outgoing TLS
//! trusts; [`demo`] is `--demo`'s in-process registry. Dependencies point inward: `snapshot`,
//! `hal`, `cleanup`, `metrics` and `history`'s core do no I/O (no sockets, files, clocks or
//! threads).

#![forbid(unsafe_code)]

pub mod auth;
pub mod cleanup;
pub mod config;
pub mod demo;
pub mod hal;
pub mod history;
pub mod http;
pub mod metrics;
pub mod registry;
pub mod server;
pub mod service;
pub mod snapshot;
pub mod storage;
pub mod tls;
