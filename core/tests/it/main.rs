//! dvt-core's integration tests through its public API, as one binary (one link).
//!
//! `jinja_props.rs` stays a binary of its own: its property cases run on threads with a
//! large stack and take their time; these tests shell out to real databases.

mod cross_db;
