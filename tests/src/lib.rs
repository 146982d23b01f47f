//! Cross-crate integration tests of DVT live in `tests/it`: they load real projects with
//! dvt-core and run them through dvt-executor against the real servers. End-to-end tests
//! of the `dvt` binary live in `cli/tests/it`, where cargo exposes the binary's path.
#![warn(missing_docs)]
