//! The collector: crawls the container registry (GitLab's token flow, the Distribution / OCI
//! API) on a `std::thread`, builds a [`Snapshot`] per crawl and publishes it as an `Arc`
//! through a channel.
//!
//! It never serves HTTP and never replaces good data with a failed crawl's.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::config;
use crate::snapshot::Snapshot;

/// Starts the collector thread. `previous` is the snapshot being served (from the state
/// file), `publish` takes each new snapshot, and a message on (or the closing of) `stop`
/// ends the loop.
pub fn spawn_collector(
    cfg: config::Registry,
    previous: Option<Arc<Snapshot>>,
    publish: Sender<Arc<Snapshot>>,
    stop: Receiver<()>,
) -> std::io::Result<JoinHandle<()>> {
    let _ = (cfg, previous, publish);
    std::thread::Builder::new()
        .name("collector".into())
        .spawn(move || {
            log::warn!("the collector is not implemented yet; serving the state file only");
            let _ = stop.recv();
        })
}
