//! gitlab-registry-usage-rest: tells the administrators of a GitLab container registry where
//! their disk space goes, through a secured RESTful HAL API.
//!
//! One module per concept (ARCHITECTURE.md draws the arrows): [`service`] is the daemon (it
//! wires the others and supervises them); [`config`] reads the INI file; [`registry`] is the
//! collector: it crawls the registry, builds [`snapshot`]s, keeps the last one on disk
//! (`registry::state`) and reports on itself (`registry::status`); [`snapshot`] is the
//! immutable data and its arithmetic (sizes, namespaces, freeable bytes); [`hal`] renders it
//! as HAL JSON and HTML; [`cleanup`] is the clean-up what-if over a snapshot and its views;
//! [`server`] routes requests to those renderings (render cache, dashboard, `/health`),
//! guarded by [`auth`] (LDAP login, JWTs, login guards); [`http`] is the connection layer it
//! runs on (poller, worker pool, limits, parsing, IP networks, percent-encoding);
//! [`metrics`] is `/metrics`; [`tls`] is which CAs outgoing TLS trusts; `service::doctor` is
//! `--check-config`; [`demo`] is `--demo`'s built-in registry; [`storage`] scans the
//! registry's own storage (read-only) for what its garbage collection would free.
//! Dependencies point inward: `snapshot`, `hal`, `cleanup` and `metrics` do no I/O (no
//! sockets, files, clocks or threads).

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
