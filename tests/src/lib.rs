//! Fixtures and helpers for DVT integration tests.
