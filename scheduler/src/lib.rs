//! dvt-scheduler
