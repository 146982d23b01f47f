//! DVT's executor: adapters for each database, the federation engine on DataFusion, the
//! staging bucket, bulk loaders and the Ballista extension codecs.
//!
//! Everything here is driven through a [`registry::TargetRegistry`] of plain
//! [`dvt_core::target::TargetConfig`]s: a plan crossing a process boundary names targets,
//! never connections, and each process connects with its own credentials.
#![warn(missing_docs)]

/// One adapter per database behind the [`adapter::Adapter`] trait.
pub mod adapter;
/// Ballista extension codecs for DVT's table provider and scan node.
pub mod codec;
/// Errors with stable `DVTnnn` codes.
pub mod error;
/// The federation engine: extract, stage and compute on DataFusion or Ballista.
pub mod federation;
/// Target name to lazily connected adapter.
pub mod registry;
/// Seeds as Arrow streams, so they load through the bulk loaders.
pub mod seed;
/// The staging bucket federated inputs are written to.
pub mod staging;

pub use error::{Error, Result};
