//! Finding a project's files and naming nodes after them.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A node's name: its file name without extension.
pub(crate) fn stem(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `[project, folders below the resource path..., name]`.
/// A property-file resource's fqn start: the project, then the file's folders below its
/// resource folder (`models/staging/x.yml` gives `[p, staging]`).
pub(crate) fn folder_fqn(project: &crate::project::ProjectConfig, file: &Path) -> Vec<String> {
    let mut fqn = vec![project.name.clone()];
    let in_package = file.strip_prefix(&project.package_dir).unwrap_or(file);
    if let Some(parent) = in_package.parent() {
        fqn.extend(
            parent
                .iter()
                .skip(1)
                .map(|c| c.to_string_lossy().into_owned()),
        );
    }
    fqn
}

pub(crate) fn fqn(project: &str, dir: &str, file: &Path) -> Vec<String> {
    let mut out = vec![project.to_owned()];
    if let Ok(rel) = file.strip_prefix(dir)
        && let Some(parent) = rel.parent()
    {
        out.extend(parent.iter().map(|c| c.to_string_lossy().into_owned()));
    }
    out.push(stem(file));
    out
}

/// Files under `root/dir` with one of `exts`, relative to `root`, sorted.
pub(crate) fn walk(root: &Path, dir: &str, exts: &[&str]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let base = root.join(dir);
    if !base.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![base];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| Error::Io {
            path: d.clone(),
            source,
        })?;
        for e in entries {
            let e = e.map_err(|source| Error::Io {
                path: d.clone(),
                source,
            })?;
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| exts.contains(&x))
            {
                out.push(p.strip_prefix(root).unwrap_or(&p).to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}
