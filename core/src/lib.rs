#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

/// `manifest.json` and `run_results.json`.
pub mod artifacts;
/// The registry of warning and error codes, rendered into `docs/errors.md`.
pub mod codes;
/// dbt's compilation: Jinja with real relations, ephemeral models as CTEs.
pub mod compile;
/// `computes.yml` and `buckets.yml`: federation engines and staging buckets.
pub mod compute;
/// dbt's constraints as DDL.
pub mod constraints;
/// SQL dialects: identifier quoting and relation names.
pub mod dialect;
/// Errors with stable `DVTnnn` codes and file locations.
pub mod error;
/// The DAG: topological order, ancestors, descendants, cycles.
pub mod graph;
/// dbt's incremental strategies as data and SQL text.
pub mod incremental;
/// minijinja with dbt's context.
pub mod jinja;
/// Every node of the project, parsed, configured and routed.
pub mod manifest;
/// dbt packages: `dvt deps` installs `packages.yml` entries from disk.
pub mod packages;
/// dbt's parsing: project, properties, macros, one module per resource type.
pub mod parse;
/// `profiles.yml`.
pub mod profile;
/// `dbt_project.yml`.
pub mod project;
/// Target resolution and execution paths.
pub mod resolve;
/// Values that never print themselves.
pub mod secret;
/// Seed CSV parsing and type inference.
pub mod seed;
/// `--select` and `--exclude`.
pub mod select;
/// dbt's snapshots as data and SQL text.
pub mod snapshot;
/// Splicing and wrapping user SQL on its tokens.
pub mod sql;
/// Connection settings of a profile output.
pub mod target;
/// A YAML loader keeping node positions and scalar text.
pub mod yaml;
