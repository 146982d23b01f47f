//! The files every invocation writes under `target/`: `manifest.json`,
//! `run_results.json` and the compiled SQL of each model.

use std::path::{Path, PathBuf};

use dvt_core::artifacts::manifest_json;
use dvt_core::error::Error as CoreError;
use dvt_core::manifest::Manifest;
use serde_json::Value as Json;

use crate::error::Result;

fn io_error(path: &Path, source: std::io::Error) -> crate::Error {
    crate::Error::from(CoreError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `value` as pretty JSON to `path` through a temporary file of its own and a
/// rename, so a reader never sees half an artifact and two concurrent invocations of one
/// project never write into each other's temporary file.
pub fn write_json_atomic(path: &Path, value: &Json) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| crate::Error::internal(format!("serializing `{}`: {e}", path.display())))?;
    write_atomic(path, text.as_bytes())
}

pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    std::fs::write(&tmp, bytes).map_err(|e| io_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error(path, e)
    })
}

/// Writes `target/manifest.json`.
pub fn write_manifest(m: &Manifest, invocation_id: &str) -> Result<PathBuf> {
    let path = m
        .path(Path::new(&m.project.target_path))
        .join("manifest.json");
    write_json_atomic(&path, &manifest_json(m, invocation_id, &now()))?;
    write_semantic_manifest(m)?;
    Ok(path)
}

/// Writes `target/semantic_manifest.json` (MetricFlow's input), as dbt does beside every
/// `manifest.json`.
pub fn write_semantic_manifest(m: &Manifest) -> Result<PathBuf> {
    let path = m
        .path(Path::new(&m.project.target_path))
        .join("semantic_manifest.json");
    write_json_atomic(&path, &dvt_core::artifacts::semantic_manifest_json(m))?;
    Ok(path)
}

/// Writes the compiled SQL of a node where dbt does (`target/compiled/<package>/<file>`,
/// see [`Manifest::compiled_path`]).
pub fn write_compiled(m: &Manifest, unique_id: &str, sql: &str) -> Result<PathBuf> {
    let rel = m.compiled_path(unique_id).ok_or_else(|| {
        crate::Error::internal(format!("no node `{unique_id}` to write compiled SQL for"))
    })?;
    let path = m.path(Path::new(&m.project.target_path)).join(rel);
    write_atomic(&path, format!("{sql}\n").as_bytes())?;
    Ok(path)
}

/// Writes a unit test's fixtures where dbt does ([`Manifest::fixture_path`]).
pub(super) fn write_fixtures(
    m: &Manifest,
    unique_id: &str,
    fixtures: &[(String, String)],
) -> Result<()> {
    for (input, sql) in fixtures {
        if let Some(rel) = m.fixture_path(unique_id, input) {
            let path = m.path(Path::new(&m.project.target_path)).join(rel);
            write_atomic(&path, format!("{sql}\n").as_bytes())?;
        }
    }
    Ok(())
}

/// Writes a text artifact (a compiled hook) atomically, with a final newline.
pub(crate) fn write_text(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, format!("{text}\n").as_bytes())
}

/// The current time as dbt writes it in artifacts.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
