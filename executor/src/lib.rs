#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

/// One adapter per database behind the [`adapter::Adapter`] trait.
pub mod adapter;
/// `dvt docs generate`'s `catalog.json`.
pub mod catalog;
/// Ballista extension codecs for DVT's table provider and scan node.
pub mod codec;
/// Errors with stable `DVTnnn` codes.
pub mod error;
/// The federation engine: extract, stage and compute on DataFusion or Ballista.
pub mod federation;
/// `dvt source freshness`.
pub mod freshness;
/// The database a node's Jinja queries while compiling.
pub mod introspect;
/// The `dvt-executor` process: a Ballista executor with DVT's codecs.
pub mod process;
/// Target name to lazily connected adapter.
pub mod registry;
/// The run loop shared by `dvt` and the scheduler: DAG walk, runners, events, artifacts.
pub mod run;
/// Seeds as Arrow streams, so they load through the bulk loaders.
pub mod seed;
/// The staging bucket federated inputs are written to.
pub mod staging;

pub use error::{Error, Result};
pub use process::start_executor_process;
