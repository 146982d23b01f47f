#![doc = "DVT core: project loading, Jinja, manifest, DAG, selection and routing. No network I/O."]
#![warn(missing_docs)]

pub mod dialect;
pub mod secret;
pub mod seed;
pub mod target;
pub mod error;
pub mod jinja;
pub mod profile;
pub mod project;
pub mod graph;
pub mod manifest;
pub mod resolve;
pub mod select;
pub mod artifacts;
