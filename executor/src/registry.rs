//! Target name to adapter. The registry holds plain [`TargetConfig`](dvt_core::target::TargetConfig)s and connects to a
//! target only when it is first used, so a run that never touches a target never needs
//! its server.

use std::collections::BTreeMap;
use std::sync::Arc;

use dvt_core::target::TargetConfig;
use tokio::sync::OnceCell;

use crate::adapter::{self, Adapter};
use crate::error::{Error, Result};

/// The targets of the active profile, each connected lazily and at most once.
#[derive(Debug, Default)]
pub struct TargetRegistry {
    targets: BTreeMap<String, (TargetConfig, OnceCell<Arc<dyn Adapter>>)>,
    /// The run's `--threads` when it exceeds a profile's `threads`: the connection pools
    /// opened afterwards are sized for it.
    run_threads: std::sync::atomic::AtomicUsize,
}

impl TargetRegistry {
    /// Builds a registry; nothing connects yet.
    pub fn new(targets: BTreeMap<String, TargetConfig>) -> Self {
        TargetRegistry {
            targets: targets
                .into_iter()
                .map(|(name, cfg)| (name, (cfg, OnceCell::new())))
                .collect(),
            run_threads: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Sizes the pools of targets not connected yet for `threads` parallel nodes, when
    /// that is more than their profile's `threads` (`--threads`).
    pub fn set_run_threads(&self, threads: usize) {
        self.run_threads
            .store(threads, std::sync::atomic::Ordering::Relaxed);
    }

    /// The adapter of `target`, connecting on first use. A failed connection is not
    /// cached, so a later call retries.
    pub async fn adapter(&self, target: &str) -> Result<Arc<dyn Adapter>> {
        let (cfg, cell) = self
            .targets
            .get(target)
            .ok_or_else(|| Error::UnknownTarget {
                target: target.to_owned(),
                known: self.names().collect::<Vec<_>>().join(", "),
            })?;
        cell.get_or_try_init(|| async {
            let run_threads = self.run_threads.load(std::sync::atomic::Ordering::Relaxed);
            if run_threads > cfg.threads.unwrap_or(1) {
                let mut sized = cfg.clone();
                sized.threads = Some(run_threads);
                adapter::connect(&sized).await
            } else {
                adapter::connect(cfg).await
            }
        })
        .await
        .map(Arc::clone)
    }

    /// The configuration of `target`, if known.
    pub fn config(&self, target: &str) -> Option<&TargetConfig> {
        self.targets.get(target).map(|(cfg, _)| cfg)
    }

    /// Known target names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.targets.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_target_is_a_coded_error() {
        let registry = TargetRegistry::new(BTreeMap::new());
        let err = registry.adapter("nope").await.expect_err("unknown target");
        assert_eq!(err.code(), "DVT300");
        assert_eq!(err.to_string(), "unknown target `nope` (known targets: )");
    }
}
