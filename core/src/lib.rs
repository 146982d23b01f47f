#![doc = "DVT core: project loading, Jinja, manifest, DAG, selection and routing. No network I/O."]
#![warn(missing_docs)]

pub mod artifacts;
pub mod dialect;
pub mod error;
pub mod graph;
pub mod jinja;
pub mod manifest;
pub mod profile;
pub mod project;
pub mod resolve;
pub mod secret;
pub mod seed;
pub mod select;
pub mod target;
