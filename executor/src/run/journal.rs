//! A run's journal: `.dvt/runs/<invocation id>.jsonl`, written before the run creates
//! anything it must clean up (staged relations, staged extracts). A run that ends removes
//! its journal; one killed with `kill -9` leaves it, and the next run of the project
//! finds it, sees that its process is gone, and drops what it recorded.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dvt_core::dialect::Relation;
use serde::{Deserialize, Serialize};

use crate::adapter::replace::StagedNames;
use crate::registry::TargetRegistry;
use crate::staging::Staging;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Entry {
    /// The process that owns the run.
    Owner {
        pid: u32,
        /// The process start time (Linux `/proc/<pid>/stat` field 22), so a reused pid is
        /// not mistaken for the owner.
        started: Option<u64>,
        invocation_id: String,
    },
    /// A relation the run may create and must drop if it dies.
    Staged { target: String, relation: Relation },
    /// Tables the run's cluster loads may create in `schema`, all named `prefix...`
    /// (one per partition and attempt, so not known in advance).
    StagedPrefix {
        target: String,
        relation: Relation,
        prefix: String,
    },
}

/// The journal of the running invocation.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl Journal {
    /// Starts the journal of `invocation_id` in `dir` (`.dvt/runs`).
    pub fn open(dir: &Path, invocation_id: &str) -> std::io::Result<Self> {
        crate::staging::create_private_dir(dir)?;
        let path = dir.join(format!("{invocation_id}.jsonl"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let journal = Journal {
            path,
            file: Mutex::new(file),
        };
        journal.append(&Entry::Owner {
            pid: std::process::id(),
            started: process_start(std::process::id()),
            invocation_id: invocation_id.to_owned(),
        })?;
        Ok(journal)
    }

    fn append(&self, entry: &Entry) -> std::io::Result<()> {
        let mut line = serde_json::to_string(entry).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(line.as_bytes())?;
        // The record must be on disk before the relation exists.
        file.sync_data()
    }

    /// Records the staged and backup relations of a replace before it starts.
    pub fn record_staged(&self, target: &str, names: &StagedNames) -> std::io::Result<()> {
        for relation in [&names.staged, &names.backup] {
            self.append(&Entry::Staged {
                target: target.to_owned(),
                relation: relation.clone(),
            })?;
        }
        Ok(())
    }

    /// Records the prefix of the staging tables executors may load for `relation`.
    pub fn record_staged_prefix(
        &self,
        target: &str,
        relation: &Relation,
        prefix: &str,
    ) -> std::io::Result<()> {
        self.append(&Entry::StagedPrefix {
            target: target.to_owned(),
            relation: relation.clone(),
            prefix: prefix.to_owned(),
        })
    }

    /// Ends the journal: the run cleaned up after itself.
    pub fn close(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The start time of a process, when the OS tells (Linux).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after its `)` are plain.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that wrote a journal may still be running.
fn alive(pid: u32, started: Option<u64>) -> bool {
    if !Path::new("/proc").is_dir() {
        // Without /proc nothing can be told apart: never clean up another run's work.
        return true;
    }
    match process_start(pid) {
        None => false,
        Some(now) => started.is_none_or(|s| s == now),
    }
}

/// What [`collect_garbage`] removed.
#[derive(Debug, Default)]
pub struct Collected {
    /// Invocations whose leftovers were removed.
    pub runs: Vec<String>,
    /// Relations dropped, as `target.schema.identifier`.
    pub relations: Vec<String>,
}

/// Removes what runs killed before they could clean up left behind: the relations their
/// journals recorded and their staged extracts. Journals of live runs are left alone. A
/// relation that cannot be dropped now (its target is down) keeps its journal for the
/// next run.
pub async fn collect_garbage(
    dir: &Path,
    registry: &TargetRegistry,
    staging: &Staging,
) -> Collected {
    let mut out = Collected::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut owner = None;
        let mut staged = Vec::new();
        let mut prefixes = Vec::new();
        for line in text.lines() {
            match serde_json::from_str::<Entry>(line) {
                Ok(Entry::Owner {
                    pid,
                    started,
                    invocation_id,
                }) => owner = Some((pid, started, invocation_id)),
                Ok(Entry::Staged { target, relation }) => staged.push((target, relation)),
                Ok(Entry::StagedPrefix {
                    target,
                    relation,
                    prefix,
                }) => prefixes.push((target, relation, prefix)),
                // A line cut short by the kill: the entry was never acted on.
                Err(_) => {}
            }
        }
        let Some((pid, started, invocation_id)) = owner else {
            continue;
        };
        if alive(pid, started) {
            continue;
        }
        let mut complete = true;
        for (target, relation, prefix) in prefixes {
            let found: crate::Result<Vec<Relation>> = async {
                let adapter = registry.adapter(&target).await?;
                adapter.tables_with_prefix(&relation.schema, &prefix).await
            }
            .await;
            match found {
                Ok(tables) => staged.extend(tables.into_iter().map(|t| {
                    (
                        target.clone(),
                        Relation {
                            identifier: t.identifier,
                            ..relation.clone()
                        },
                    )
                })),
                Err(e) => {
                    tracing::warn!(%target, prefix, error = %e, "cannot list a killed run's load tables yet");
                    complete = false;
                }
            }
        }
        for (target, relation) in staged {
            let dropped: crate::Result<bool> = async {
                let adapter = registry.adapter(&target).await?;
                let existed = adapter.relation_kind(&relation).await?.is_some();
                adapter.drop_relation(&relation).await?;
                Ok(existed)
            }
            .await;
            match dropped {
                Ok(true) => out.relations.push(format!(
                    "{target}.{}.{}",
                    relation.schema, relation.identifier
                )),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(%target, %relation, error = %e, "cannot drop a killed run's staged relation yet");
                    complete = false;
                }
            }
        }
        let _ = staging.remove_run(&invocation_id).await;
        if complete {
            let _ = std::fs::remove_file(&path);
            out.runs.push(invocation_id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_its_own_process_and_not_a_dead_one() {
        let me = std::process::id();
        assert!(alive(me, process_start(me)));
        // A start time that is not this process's: a reused pid.
        assert!(!alive(me, process_start(me).map(|s| s + 1)));
        assert!(!alive(u32::MAX - 1, None));
    }
}
