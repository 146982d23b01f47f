//! dbt packages: `dvt deps` installs the entries of `packages.yml` (or
//! `dependencies.yml`) into the project's install folder (`dbt_packages/`, or
//! `packages-install-path:`), one folder per package named after its `dbt_project.yml`,
//! and records them in `package-lock.yml`. [`crate::manifest::Manifest::load`] then
//! reads every project in that folder as a package.
//!
//! DVT has no network access, so packages come from disk only: `local:` folders,
//! `git:` repositories on disk (cloned with the `git` command line, restricted to its
//! `file` protocol) and `tarball:` files. Hub entries (`package: owner/name`) and network
//! URLs fail with a coded error before anything is fetched.
//!
//! Everything is fetched into a staging folder inside the install folder first; only
//! when every package (and every package's own dependencies) is fetched are they
//! renamed into place, each replacing its old copy. A failure leaves the install folder
//! as it was.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha1::Digest;

use crate::error::{Error, Location, Result, read_to_string};
use crate::project::ProjectConfig;
use crate::yaml::{self, Yaml, YamlValue};

/// The files that list a project's packages, in lookup order (dbt reads both; only one
/// may list packages).
pub const PACKAGE_FILES: [&str; 2] = ["packages.yml", "dependencies.yml"];

/// The file `dvt deps` writes beside `dbt_project.yml`, recording what it installed.
pub const LOCK_FILE: &str = "package-lock.yml";

/// Where a package comes from, as its entry says (Jinja rendered).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PackageSource {
    /// `local: <path>`: a folder, relative to the root project.
    Local {
        /// The path as written.
        path: String,
    },
    /// `git: <path or file:// URL>`: a repository on disk.
    Git {
        /// The repository as written.
        url: String,
        /// `revision:`: a branch, tag or commit; the repository's default branch if absent.
        revision: Option<String>,
        /// `subdirectory:`: where the package lives inside the repository.
        subdirectory: Option<String>,
    },
    /// `tarball: <path or file:// URL>` with `name:`.
    Tarball {
        /// The file as written.
        url: String,
        /// `name:`, which must be the project name inside.
        name: String,
    },
}

impl PackageSource {
    /// The entry as a message names it: ``local package `../utils` ``.
    pub fn describe(&self) -> String {
        match self {
            PackageSource::Local { path } => format!("local package `{path}`"),
            PackageSource::Git { url, .. } => format!("git package `{url}`"),
            PackageSource::Tarball { url, .. } => format!("tarball `{url}`"),
        }
    }

    /// What identifies the package before it is fetched: two entries with the same key
    /// install the same package once.
    fn key(&self, root: &Path) -> String {
        match self {
            PackageSource::Local { path } => {
                let p = root.join(path);
                let p = std::fs::canonicalize(&p).unwrap_or(p);
                format!("local:{}", p.display())
            }
            PackageSource::Git {
                url,
                revision,
                subdirectory,
            } => format!(
                "git:{url}@{}/{}",
                revision.as_deref().unwrap_or(""),
                subdirectory.as_deref().unwrap_or("")
            ),
            PackageSource::Tarball { url, .. } => format!("tarball:{url}"),
        }
    }
}

/// A package `dvt deps` installed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstalledPackage {
    /// The package's name (its `dbt_project.yml` `name:`), also its folder's name.
    pub name: String,
    /// Its entry.
    pub source: PackageSource,
    /// Its folder, relative to the project (`dbt_packages/golden_utils`).
    pub path: PathBuf,
    /// For a `git:` package, the commit checked out.
    pub commit: Option<String>,
    /// The package whose own `packages.yml` listed it; `None` for the root project's.
    pub required_by: Option<String>,
}

/// One entry of a packages file, with where it is written.
#[derive(Debug, Clone)]
struct Entry {
    source: PackageSource,
    location: Location,
}

impl Entry {
    fn fail(&self, message: impl Into<String>) -> Error {
        Error::PackageInstall {
            location: self.location.clone(),
            package: self.source.describe(),
            message: message.into(),
        }
    }
}

/// The packages file of the project folder `dir` that lists packages, parsed: its
/// name and tree. `None` when neither file lists any.
fn packages_file(dir: &Path) -> Result<Option<(&'static str, Yaml)>> {
    let mut found: Option<(&'static str, Yaml)> = None;
    for name in PACKAGE_FILES {
        let path = dir.join(name);
        if !path.is_file() {
            continue;
        }
        let tree = yaml::parse(Path::new(name), &read_to_string(&path)?)?;
        if name == "dependencies.yml"
            && let Some(projects) = tree.get("projects")
            && !projects.is_null()
        {
            return Err(Error::InvalidPackages {
                location: projects.location(Path::new(name)),
                message: "`projects:` (dbt Mesh cross-project references) is not supported; list packages under `packages:`".into(),
            });
        }
        let Some(list) = tree.get("packages") else {
            continue;
        };
        if found.is_some() {
            return Err(Error::InvalidPackages {
                location: list.location(Path::new(name)),
                message: "packages are listed in both `packages.yml` and `dependencies.yml`; keep them in one".into(),
            });
        }
        found = Some((name, tree));
    }
    Ok(found)
}

/// How many packages the project at `root` lists, and in which file (for the check that
/// they are installed). `None` when it lists none.
pub(crate) fn declared_count(root: &Path) -> Result<Option<(PathBuf, usize)>> {
    Ok(packages_file(root)?.map(|(name, tree)| {
        let n = match tree.get("packages").map(|p| &p.value) {
            Some(YamlValue::Seq(items)) => items.len(),
            _ => 0,
        };
        (PathBuf::from(name), n)
    }))
}

/// The entries of the packages file in `dir`; errors name the file as `shown/<file>`.
fn read_entries(dir: &Path, shown: &Path, base: &Path) -> Result<Vec<Entry>> {
    let Some((name, tree)) = packages_file(dir)? else {
        return Ok(Vec::new());
    };
    let file = shown.join(name);
    let list = tree
        .get("packages")
        .expect("packages_file keeps files with `packages:`");
    let items = match &list.value {
        YamlValue::Null => return Ok(Vec::new()),
        YamlValue::Seq(items) => items,
        _ => {
            return Err(Error::InvalidPackages {
                location: list.location(&file),
                message: "`packages` must be a list of entries".into(),
            });
        }
    };
    items
        .iter()
        .map(|item| {
            Ok(Entry {
                source: parse_entry(item, &file, base)?,
                location: item.location(&file),
            })
        })
        .collect()
}

/// The kinds of entry dbt knows and the keys each takes.
const KINDS: [(&str, &[&str]); 5] = [
    ("local", &["local"]),
    ("git", &["git", "revision", "subdirectory", "warn-unpinned"]),
    ("tarball", &["tarball", "name"]),
    ("package", &["package", "version", "install-prerelease"]),
    (
        "private",
        &[
            "private",
            "revision",
            "subdirectory",
            "provider",
            "warn-unpinned",
        ],
    ),
];

/// Reads one entry, rendering Jinja in its values (`{{ env_var('X') }}`, secrets
/// allowed, as in `profiles.yml`). Hub and network entries fail here, before anything
/// is fetched. `base` is the folder relative paths start from (the root project).
fn parse_entry(item: &Yaml, file: &Path, base: &Path) -> Result<PackageSource> {
    let bad = |at: &Yaml, message: String| Error::InvalidPackages {
        location: at.location(file),
        message,
    };
    if !matches!(item.value, YamlValue::Map(_)) {
        return Err(bad(
            item,
            "an entry is a mapping such as `local: ../my_package` or `git: /path/to/repo`".into(),
        ));
    }
    let kinds: Vec<&(&str, &[&str])> = KINDS
        .iter()
        .filter(|(k, _)| item.get(k).is_some())
        .collect();
    let (kind, keys) = match kinds.as_slice() {
        [one] => **one,
        [] => {
            return Err(bad(
                item,
                "an entry needs one of `local`, `git`, `tarball` or `package`".into(),
            ));
        }
        many => {
            return Err(bad(
                item,
                format!(
                    "an entry has one kind, this one has {}",
                    many.iter()
                        .map(|(k, _)| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            ));
        }
    };
    for (k, _) in item.entries() {
        if !keys.contains(&k.key_text()) {
            return Err(bad(
                k,
                format!(
                    "`{}` is not a key of a `{kind}:` entry; expected {}",
                    k.key_text(),
                    keys.iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    // A text value, rendered.
    let text = |key: &str| -> Result<Option<String>> {
        let Some(v) = item.get(key) else {
            return Ok(None);
        };
        let raw = match &v.value {
            YamlValue::Scalar { text, .. } => text,
            YamlValue::Null => return Ok(None),
            _ => return Err(bad(v, format!("`{key}` must be text"))),
        };
        if raw.contains("{{") || raw.contains("{%") {
            crate::jinja::render_config_string(raw, v.location(file)).map(Some)
        } else {
            Ok(Some(raw.clone()))
        }
    };
    let required = |key: &str| -> Result<String> {
        text(key)?.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
            bad(
                item.get(key).unwrap_or(item),
                format!("`{key}` must name the package"),
            )
        })
    };
    let network = |kind: &'static str, url: String| Error::PackageNetworkUnreachable {
        location: item.location(file),
        kind,
        url,
    };
    match kind {
        "local" => Ok(PackageSource::Local {
            path: required("local")?,
        }),
        "git" => {
            let url = required("git")?;
            if on_disk(&url, base).is_none() {
                return Err(network("git", url));
            }
            Ok(PackageSource::Git {
                url,
                revision: text("revision")?,
                subdirectory: text("subdirectory")?,
            })
        }
        "tarball" => {
            let url = required("tarball")?;
            if on_disk(&url, base).is_none() {
                return Err(network("tarball", url));
            }
            let name = text("name")?
                .filter(|n| !n.trim().is_empty())
                .ok_or_else(|| {
                    bad(
                        item,
                        "a `tarball:` entry needs `name:`, the package's project name".into(),
                    )
                })?;
            Ok(PackageSource::Tarball { url, name })
        }
        "package" => Err(Error::PackageHubUnreachable {
            location: item.location(file),
            package: required("package")?,
        }),
        _ => Err(network("private", required("private")?)),
    }
}

/// The path of a repository or file on disk (`file://` URL or path, relative ones from
/// `base`), or `None` for a network URL: any other `scheme://`, or git's scp-like
/// `[user@]host:path` (a colon before the first slash).
fn on_disk(url: &str, base: &Path) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Some(PathBuf::from(rest));
    }
    if url.contains("://") {
        return None;
    }
    if let Some(colon) = url.find(':')
        && !url[..colon].contains('/')
    {
        return None;
    }
    Some(base.join(url))
}

/// Installs the packages the project at `project_dir` lists (and theirs, transitively)
/// into its install folder, replacing older copies, and writes `package-lock.yml`.
/// Returns them in install order (a package before the packages it lists).
pub fn install(project_dir: &Path) -> Result<Vec<InstalledPackage>> {
    let project = ProjectConfig::load(project_dir)?;
    let root = project.root.clone();
    let entries = read_entries(&root, Path::new(""), &root)?;
    if entries.is_empty() {
        // As `dbt deps` without packages: nothing to install, nothing touched.
        return Ok(Vec::new());
    }
    let install_dir = root.join(&project.packages_install_path);
    create_dir_all(&install_dir)?;
    let staging = install_dir.join(format!(".dvt-deps-{}", std::process::id()));
    if staging.exists() {
        remove_dir_all(&staging)?;
    }
    create_dir_all(&staging)?;
    let mut installer = Installer {
        root: &root,
        staging: &staging,
        root_name: &project.name,
        staged: Vec::new(),
    };
    let outcome = (|| {
        let mut stack = Vec::new();
        for e in &entries {
            installer.fetch(e, None, &mut stack)?;
        }
        installer.commit(&install_dir, &project.packages_install_path)
    })();
    // The staging folder holds only copies and replaced installs: never user data.
    let cleanup = remove_dir_all(&staging);
    let installed = outcome?;
    cleanup?;
    write_lock(&root, &installed)?;
    Ok(installed)
}

/// `dvt clean`: removes the folders of `clean-targets:` (default: the target path), as
/// dbt does; returns those that existed. With `project_files_only` (dbt's default), a
/// folder outside the project is refused rather than removed.
pub fn clean(project_dir: &Path, project_files_only: bool) -> Result<Vec<PathBuf>> {
    let project = ProjectConfig::load(project_dir)?;
    let root = project
        .root
        .canonicalize()
        .unwrap_or_else(|_| project.root.clone());
    let mut removed = Vec::new();
    for target in &project.clean_targets {
        let dir = project.root.join(target);
        let inside = match dir.canonicalize() {
            Ok(full) => full.starts_with(&root) && full != root,
            // Not there: judged by its words (`..` climbs out).
            Err(_) => {
                let rel = Path::new(target);
                rel.is_relative()
                    && !rel
                        .components()
                        .any(|c| matches!(c, std::path::Component::ParentDir))
            }
        };
        if !inside && project_files_only {
            return Err(Error::InvalidConfig {
                location: Location::file(&project.file),
                key: "clean-targets".into(),
                message: format!(
                    "`{target}` is outside the project (or is the project itself); `dvt clean --no-clean-project-files-only` removes it anyway"
                ),
            });
        }
        if dir.exists() {
            remove_dir_all(&dir)?;
            removed.push(dir);
        }
    }
    Ok(removed)
}

/// The installed packages of `project`: every folder of its install folder holding a
/// `dbt_project.yml` (or `dvt_project.yml`), relative to the project, sorted. Hidden
/// folders (a `dvt deps` in progress) are skipped.
pub fn installed_dirs(project: &ProjectConfig) -> Result<Vec<PathBuf>> {
    let rel = PathBuf::from(&project.packages_install_path);
    let dir = project.root.join(&rel);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let io = |source| Error::Io {
        path: dir.clone(),
        source,
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(io)? {
        let e = e.map_err(io)?;
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let has_project = crate::project::PROJECT_FILE_NAMES
            .iter()
            .any(|f| e.path().join(f).is_file());
        if has_project {
            out.push(rel.join(name));
        }
    }
    out.sort();
    Ok(out)
}

/// A package fetched into the staging folder.
struct Staged {
    package: InstalledPackage,
    dir: PathBuf,
    key: String,
}

struct Installer<'a> {
    root: &'a Path,
    staging: &'a Path,
    root_name: &'a str,
    staged: Vec<Staged>,
}

impl Installer<'_> {
    /// Fetches `entry` and, depth first, the packages it lists. `stack` holds the (key,
    /// name) of the packages being fetched above it, to refuse a cycle.
    fn fetch(
        &mut self,
        entry: &Entry,
        required_by: Option<&str>,
        stack: &mut Vec<(String, String)>,
    ) -> Result<()> {
        let key = entry.source.key(self.root);
        let cycle = |from: usize, last: &str| {
            let mut names: Vec<&str> = vec![self.root_name];
            names.extend(stack[from..].iter().map(|(_, n)| n.as_str()));
            names.push(last);
            Error::PackageCycle {
                location: entry.location.clone(),
                cycle: names.join(" -> "),
            }
        };
        if let Some(i) = stack.iter().position(|(k, _)| *k == key) {
            return Err(cycle(i, &stack[i].1));
        }
        if self.staged.iter().any(|s| s.key == key) {
            return Ok(());
        }
        let dir = self.staging.join(self.staged.len().to_string());
        let (project, commit) = match &entry.source {
            PackageSource::Local { path } => self.fetch_local(entry, path, &dir)?,
            PackageSource::Git {
                url,
                revision,
                subdirectory,
            } => self.fetch_git(
                entry,
                url,
                revision.as_deref(),
                subdirectory.as_deref(),
                &dir,
            )?,
            PackageSource::Tarball { url, name } => self.fetch_tarball(entry, url, name, &dir)?,
        };
        let name = project.name.clone();
        if name == self.root_name {
            return Err(cycle(0, &name));
        }
        if let Some(i) = stack.iter().position(|(_, n)| *n == name) {
            return Err(cycle(i, &name));
        }
        if let Some(other) = self.staged.iter().find(|s| s.package.name == name) {
            return Err(Error::DuplicatePackage {
                location: entry.location.clone(),
                name,
                message: format!(
                    "is installed twice from different places: {} and {}",
                    other.package.source.describe(),
                    entry.source.describe()
                ),
            });
        }
        let shown = PathBuf::from(match &entry.source {
            PackageSource::Local { path } => path.clone(),
            PackageSource::Git {
                url, subdirectory, ..
            } => match subdirectory {
                Some(s) => format!("{url}/{s}"),
                None => url.clone(),
            },
            PackageSource::Tarball { url, .. } => url.clone(),
        });
        // dbt resolves a package's own `local:` paths against the root project too.
        let deps = read_entries(&dir, &shown, self.root)?;
        self.staged.push(Staged {
            package: InstalledPackage {
                name: name.clone(),
                source: entry.source.clone(),
                path: PathBuf::new(),
                commit,
                required_by: required_by.map(str::to_owned),
            },
            dir,
            key: key.clone(),
        });
        stack.push((key, name.clone()));
        for dep in &deps {
            self.fetch(dep, Some(&name), stack)?;
        }
        stack.pop();
        Ok(())
    }

    /// Copies a folder, without what is not the package (its `target/`, its own
    /// installed packages, logs, `.git`).
    fn fetch_local(
        &self,
        entry: &Entry,
        path: &str,
        dir: &Path,
    ) -> Result<(ProjectConfig, Option<String>)> {
        let src = self.root.join(path);
        if !src.is_dir() {
            return Err(entry.fail(format!(
                "`{}` is not a folder (relative paths start at the root project)",
                src.display()
            )));
        }
        let project = load_project(entry, &src)?;
        if project.name == self.root_name {
            // The root project itself: say "cycle" before copying a project into itself.
            return Ok((project, None));
        }
        let skip = [
            project.target_path.as_str(),
            project.packages_install_path.as_str(),
            "logs",
            ".git",
            ".dvt",
        ];
        // A package folder holding the root project (`local: ..`) would otherwise copy
        // the install folder, staging included, into itself.
        let install_dir = self.staging.parent().unwrap_or(self.staging);
        let install_dir =
            std::fs::canonicalize(install_dir).unwrap_or_else(|_| install_dir.to_path_buf());
        copy_tree(&src, dir, &skip, Some(&install_dir))
            .map_err(|e| entry.fail(format!("copying it failed: {e}")))?;
        Ok((project, None))
    }

    /// Clones a repository on disk, checks out `revision` and keeps `subdirectory`.
    fn fetch_git(
        &self,
        entry: &Entry,
        url: &str,
        revision: Option<&str>,
        subdirectory: Option<&str>,
        dir: &Path,
    ) -> Result<(ProjectConfig, Option<String>)> {
        let repo = on_disk(url, self.root).ok_or_else(|| entry.fail("not on disk"))?;
        if !repo.exists() {
            return Err(entry.fail(format!("`{}` does not exist", repo.display())));
        }
        let clone = dir.with_extension("clone");
        git(
            entry,
            None,
            &[
                OsStr::new("clone"),
                OsStr::new("--quiet"),
                repo.as_os_str(),
                clone.as_os_str(),
            ],
        )?;
        if let Some(rev) = revision {
            git(
                entry,
                Some(&clone),
                &[
                    OsStr::new("checkout"),
                    OsStr::new("--quiet"),
                    OsStr::new(rev),
                ],
            )?;
        }
        let commit = git(
            entry,
            Some(&clone),
            &[OsStr::new("rev-parse"), OsStr::new("HEAD")],
        )?;
        let package_root = match subdirectory {
            Some(s) => clone.join(s),
            None => clone.clone(),
        };
        if !package_root.is_dir() {
            return Err(entry.fail(format!(
                "the repository has no folder `{}`",
                subdirectory.unwrap_or_default()
            )));
        }
        rename(&package_root, dir)?;
        if clone.exists() {
            remove_dir_all(&clone)?;
        }
        let git_dir = dir.join(".git");
        if git_dir.exists() {
            remove_dir_all(&git_dir)?;
        }
        Ok((load_project(entry, dir)?, Some(commit)))
    }

    /// Unpacks a `.tar.gz` (or plain `.tar`) file; the package is its top folder, or the
    /// archive itself when `dbt_project.yml` is at its top.
    fn fetch_tarball(
        &self,
        entry: &Entry,
        url: &str,
        name: &str,
        dir: &Path,
    ) -> Result<(ProjectConfig, Option<String>)> {
        let file = on_disk(url, self.root).ok_or_else(|| entry.fail("not on disk"))?;
        let bytes = std::fs::read(&file)
            .map_err(|e| entry.fail(format!("cannot read `{}`: {e}", file.display())))?;
        let unpacked = dir.with_extension("tar");
        let result = if bytes.starts_with(&[0x1f, 0x8b]) {
            tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice())).unpack(&unpacked)
        } else {
            tar::Archive::new(bytes.as_slice()).unpack(&unpacked)
        };
        result.map_err(|e| {
            entry.fail(format!(
                "`{}` is not a readable tarball: {e}",
                file.display()
            ))
        })?;
        let has_project = |d: &Path| {
            crate::project::PROJECT_FILE_NAMES
                .iter()
                .any(|f| d.join(f).is_file())
        };
        let package_root = if has_project(&unpacked) {
            unpacked.clone()
        } else {
            let dirs: Vec<PathBuf> = std::fs::read_dir(&unpacked)
                .map_err(|source| Error::Io {
                    path: unpacked.clone(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect();
            match dirs.as_slice() {
                [one] => one.clone(),
                _ => {
                    return Err(entry.fail(
                        "the tarball holds no `dbt_project.yml` at its top or in its one top folder",
                    ));
                }
            }
        };
        rename(&package_root, dir)?;
        if unpacked.exists() {
            remove_dir_all(&unpacked)?;
        }
        let project = load_project(entry, dir)?;
        if project.name != name {
            return Err(entry.fail(format!(
                "it holds project `{}`, not `{name}` as `name:` says",
                project.name
            )));
        }
        Ok((project, None))
    }

    /// Moves every staged package into the install folder, replacing older copies.
    fn commit(self, install_dir: &Path, install_path: &str) -> Result<Vec<InstalledPackage>> {
        let mut out = Vec::new();
        for s in self.staged {
            let target = install_dir.join(&s.package.name);
            if std::fs::symlink_metadata(&target).is_ok() {
                // Moved aside, not deleted, so the rename below never meets a folder;
                // the staging folder (and the old copy with it) is removed afterwards.
                rename(
                    &target,
                    &self.staging.join(format!("old-{}", s.package.name)),
                )?;
            }
            rename(&s.dir, &target)?;
            let mut package = s.package;
            package.path = Path::new(install_path).join(&package.name);
            out.push(package);
        }
        Ok(out)
    }
}

/// A fetched package's project file; without one it is no package.
fn load_project(entry: &Entry, dir: &Path) -> Result<ProjectConfig> {
    let project = ProjectConfig::load(dir).map_err(|e| match e {
        Error::ProjectNotFound { .. } => entry.fail("it has no `dbt_project.yml`"),
        other => entry.fail(format!("its `dbt_project.yml` is invalid: {other}")),
    })?;
    // The name becomes a folder name and a Jinja namespace.
    if !project
        .name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        || project.name.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(entry.fail(format!(
            "its project name `{}` is not a name of letters, digits and `_`",
            project.name
        )));
    }
    Ok(project)
}

/// Runs `git` with only its `file` protocol allowed (local paths and `file://`), so no
/// configuration (`url.<x>.insteadOf`) can send it to the network; returns its output.
fn git(entry: &Entry, cwd: Option<&Path>, args: &[&OsStr]) -> Result<String> {
    let mut cmd = Command::new("git");
    if let Some(dir) = cwd {
        cmd.arg("-C").arg(dir);
    }
    cmd.args([
        "-c",
        "protocol.allow=never",
        "-c",
        "protocol.file.allow=always",
        "-c",
        "advice.detachedHead=false",
    ])
    .args(args)
    .env("GIT_TERMINAL_PROMPT", "0")
    .stdin(Stdio::null());
    let shown = args
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let out = cmd
        .output()
        .map_err(|e| entry.fail(format!("cannot run `git`: {e}")))?;
    if !out.status.success() {
        return Err(entry.fail(format!(
            "`git {shown}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Copies `src` into `dst` (created), following symbolic links, leaving out the top-level
/// entries named in `skip` and the folder `avoid` (canonical) wherever it appears.
fn copy_tree(src: &Path, dst: &Path, skip: &[&str], avoid: Option<&Path>) -> std::io::Result<()> {
    // (source folder, destination folder, depth): the depth bounds a symlink loop.
    let mut stack = vec![(src.to_path_buf(), dst.to_path_buf(), 0usize)];
    while let Some((from, to, depth)) = stack.pop() {
        if depth > 64 {
            return Err(std::io::Error::other(format!(
                "`{}` nests more than 64 folders deep (a symbolic link loop?)",
                from.display()
            )));
        }
        std::fs::create_dir_all(&to)?;
        for e in std::fs::read_dir(&from)? {
            let e = e?;
            let name = e.file_name();
            if depth == 0
                && skip
                    .iter()
                    .any(|s| OsStr::new(s.trim_end_matches('/')) == name)
            {
                continue;
            }
            let path = e.path();
            if std::fs::metadata(&path)?.is_dir() {
                if avoid.is_some() && std::fs::canonicalize(&path).ok().as_deref() == avoid {
                    continue;
                }
                stack.push((path, to.join(&name), depth + 1));
            } else {
                std::fs::copy(&path, to.join(&name))?;
            }
        }
    }
    Ok(())
}

/// Writes `package-lock.yml` (dbt's shape) atomically: every installed package with its
/// entry, a git package pinned to the commit installed, and the sha1 of the packages
/// file it was installed from.
fn write_lock(root: &Path, installed: &[InstalledPackage]) -> Result<()> {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut out = String::from("packages:\n");
    for p in installed {
        match &p.source {
            PackageSource::Local { path } => out.push_str(&format!("  - local: {}\n", q(path))),
            PackageSource::Git {
                url,
                revision,
                subdirectory,
            } => {
                out.push_str(&format!("  - git: {}\n", q(url)));
                if let Some(r) = p.commit.as_ref().or(revision.as_ref()) {
                    out.push_str(&format!("    revision: {}\n", q(r)));
                }
                if let Some(s) = subdirectory {
                    out.push_str(&format!("    subdirectory: {}\n", q(s)));
                }
            }
            PackageSource::Tarball { url, .. } => {
                out.push_str(&format!("  - tarball: {}\n", q(url)))
            }
        }
        out.push_str(&format!("    name: {}\n", q(&p.name)));
    }
    let mut hasher = sha1::Sha1::new();
    for name in PACKAGE_FILES {
        if let Ok(bytes) = std::fs::read(root.join(name)) {
            hasher.update(&bytes);
        }
    }
    let hash: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    out.push_str(&format!("sha1_hash: {hash}\n"));
    let path = root.join(LOCK_FILE);
    let tmp = root.join(format!(".{LOCK_FILE}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, out).map_err(|source| Error::Io {
        path: tmp.clone(),
        source,
    })?;
    rename(&tmp, &path)
}

fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })
}

fn remove_dir_all(dir: &Path) -> Result<()> {
    std::fs::remove_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|source| Error::Io {
        path: from.to_path_buf(),
        source,
    })
}

/// The installed packages' project files, keyed by name, for [`crate::parse`]: each
/// re-based on the root project. Two folders holding one name, or a package named
/// like the root project, are errors.
pub(crate) fn load_installed(root: &ProjectConfig) -> Result<BTreeMap<String, ProjectConfig>> {
    let mut out: BTreeMap<String, ProjectConfig> = BTreeMap::new();
    for dir in installed_dirs(root)? {
        let p = ProjectConfig::load_package(&root.root, &dir)?;
        let clash = if p.name == root.name {
            Some("has the name of the root project".to_owned())
        } else {
            out.get(&p.name).map(|other| {
                format!(
                    "is installed twice, also in `{}`",
                    other.package_dir.display()
                )
            })
        };
        if let Some(message) = clash {
            return Err(Error::DuplicatePackage {
                location: Location::file(&p.file),
                name: p.name,
                message,
            });
        }
        out.insert(p.name.clone(), p);
    }
    if let Some((file, specified)) = declared_count(&root.root)?
        && specified > out.len()
    {
        return Err(Error::PackagesNotInstalled {
            location: Location::file(file),
            specified,
            installed: out.len(),
            install_path: root.packages_install_path.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
