//! `dbt_project.yml`: the project file, with dbt's keys and folder-level configs.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value as Json};

use crate::error::{Error, Result, read_to_string};
use crate::yaml::{self, PathSeg, YamlValue};

/// The names the project file may have, in lookup order.
pub const PROJECT_FILE_NAMES: [&str; 2] = ["dbt_project.yml", "dvt_project.yml"];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawProject {
    name: String,
    profile: Option<String>,
    #[serde(default, alias = "source-paths")]
    model_paths: Option<Vec<String>>,
    #[serde(default, alias = "data-paths")]
    seed_paths: Option<Vec<String>>,
    #[serde(default)]
    macro_paths: Option<Vec<String>>,
    #[serde(default)]
    test_paths: Option<Vec<String>>,
    #[serde(default)]
    snapshot_paths: Option<Vec<String>>,
    #[serde(default)]
    function_paths: Option<Vec<String>>,
    #[serde(default)]
    analysis_paths: Option<Vec<String>>,
    #[serde(default)]
    target_path: Option<String>,
    #[serde(default)]
    vars: Option<Json>,
    #[serde(default)]
    models: Option<Json>,
    #[serde(default)]
    seeds: Option<Json>,
    #[serde(default)]
    snapshots: Option<Json>,
    #[serde(default, alias = "tests")]
    data_tests: Option<Json>,
    #[serde(default)]
    functions: Option<Json>,
    #[serde(default)]
    quoting: Option<Json>,
    #[serde(default)]
    on_run_start: Option<Json>,
    #[serde(default)]
    on_run_end: Option<Json>,
    #[serde(default)]
    packages_install_path: Option<String>,
    #[serde(default)]
    clean_targets: Option<Vec<String>>,
    #[serde(default)]
    dispatch: Option<Vec<RawDispatch>>,
    #[serde(default)]
    restrict_access: Option<bool>,
}

/// One entry of `dispatch:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDispatch {
    macro_namespace: String,
    search_order: Vec<String>,
}

/// Where `dvt deps` installs packages unless `packages-install-path:` says otherwise.
pub const DEFAULT_PACKAGES_INSTALL_PATH: &str = "dbt_packages";

/// A loaded `dbt_project.yml`.
#[derive(Debug, Clone)]
pub struct ProjectConfig {
    /// The project folder (absolute).
    pub root: PathBuf,
    /// The project file, relative to `root`.
    pub file: PathBuf,
    /// `name:`.
    pub name: String,
    /// `version:` as text.
    pub version: Option<String>,
    /// `profile:` (defaults to the project name).
    pub profile: String,
    /// `model-paths:`.
    pub model_paths: Vec<String>,
    /// `seed-paths:`.
    pub seed_paths: Vec<String>,
    /// `macro-paths:`.
    pub macro_paths: Vec<String>,
    /// `test-paths:`.
    pub test_paths: Vec<String>,
    /// `snapshot-paths:`.
    pub snapshot_paths: Vec<String>,
    /// `function-paths:` (dbt 1.11), default `functions`.
    pub function_paths: Vec<String>,
    /// `analysis-paths:`, default `analyses`.
    pub analysis_paths: Vec<String>,
    /// `target-path:` (where artifacts go), default `target`.
    pub target_path: String,
    /// Project-level `vars:` (global keys, then the keys scoped to this project).
    pub vars: Map<String, Json>,
    /// `vars:` as written: global keys and every package's scope (`{golden_utils: {..}}`),
    /// from which a package's nodes take the keys scoped to their package.
    pub declared_vars: Map<String, Json>,
    /// The `models:` tree of folder configs.
    pub models: Json,
    /// The `seeds:` tree of folder configs.
    pub seeds: Json,
    /// The `snapshots:` tree of folder configs.
    pub snapshots: Json,
    /// The `data_tests:` (or `tests:`) tree of folder configs.
    pub data_tests: Json,
    /// The `functions:` tree of folder configs.
    pub functions: Json,
    /// `quoting:`: which parts of relation names are quoted.
    pub quoting: crate::dialect::Quoting,
    /// `on-run-start:` hooks (Jinja text), in order.
    pub on_run_start: Vec<String>,
    /// `on-run-end:` hooks (Jinja text), in order.
    pub on_run_end: Vec<String>,
    /// `packages-install-path:`, where `dvt deps` installs packages (default
    /// `dbt_packages`), relative to the project folder.
    pub packages_install_path: String,
    /// `clean-targets:`, the folders `dvt clean` removes (default: the target path).
    pub clean_targets: Vec<String>,
    /// `dispatch:`: macro namespace -> the packages `adapter.dispatch` searches, in order.
    pub dispatch: std::collections::BTreeMap<String, Vec<String>>,
    /// `restrict-access:`: a package's `private` and `protected` models may be named
    /// only from inside the package.
    pub restrict_access: bool,
    /// For an installed package, its folder relative to the root project
    /// (`dbt_packages/golden_utils`), which every path above starts with; empty for the
    /// root project.
    pub package_dir: PathBuf,
}

impl ProjectConfig {
    /// Loads the project file from `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let root = std::path::absolute(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let file = PROJECT_FILE_NAMES
            .iter()
            .map(PathBuf::from)
            .find(|f| root.join(f).is_file())
            .ok_or_else(|| Error::ProjectNotFound { dir: root.clone() })?;
        let text = read_to_string(&root.join(&file))?;
        let (raw, tree): (RawProject, _) = yaml::from_yaml_with_tree(&file, &text)?;
        if raw.name.trim().is_empty() {
            let at = tree.locate(&file, &[PathSeg::Key("name")]);
            return Err(Error::Yaml {
                location: at,
                message: "`name` must not be empty".into(),
            });
        }
        // `version: 1.10` is the text `1.10`, not the number 1.1, so it is read from
        // the tree rather than from the resolved value.
        let version = match tree.get("version") {
            None => None,
            Some(v) => match &v.value {
                YamlValue::Null => None,
                YamlValue::Scalar { text, .. } => Some(text.clone()),
                YamlValue::Seq(_) | YamlValue::Map(_) => {
                    return Err(v.error(&file, "`version` must be a string"));
                }
            },
        };
        // dbt rejects `models: []`; ignoring it would silently drop every folder config.
        for (key, value) in [
            ("models", &raw.models),
            ("seeds", &raw.seeds),
            ("snapshots", &raw.snapshots),
            ("data_tests", &raw.data_tests),
            ("functions", &raw.functions),
        ] {
            if value
                .as_ref()
                .is_some_and(|v| !v.is_object() && !v.is_null())
            {
                return Err(Error::Yaml {
                    location: tree.locate(&file, &[PathSeg::Key(key)]),
                    message: format!("`{key}` must be a mapping of folder configs"),
                });
            }
        }
        let mut vars = Map::new();
        let declared_vars = match &raw.vars {
            Some(Json::Object(v)) => v.clone(),
            _ => Map::new(),
        };
        if let Some(v) = raw.vars {
            let Json::Object(top) = v else {
                return Err(Error::Yaml {
                    location: tree.locate(&file, &[PathSeg::Key("vars")]),
                    message: "`vars` must be a mapping".into(),
                });
            };
            let mut scoped = None;
            for (k, v) in top {
                if k == raw.name && v.is_object() {
                    scoped = Some(v);
                } else {
                    vars.insert(k, v);
                }
            }
            if let Some(Json::Object(s)) = scoped {
                vars.extend(s);
            }
        }
        let mut dispatch = std::collections::BTreeMap::new();
        for (i, d) in raw.dispatch.into_iter().flatten().enumerate() {
            if dispatch
                .insert(d.macro_namespace.clone(), d.search_order)
                .is_some()
            {
                return Err(Error::Yaml {
                    location: tree.locate(&file, &[PathSeg::Key("dispatch"), PathSeg::Index(i)]),
                    message: format!(
                        "`dispatch` lists macro namespace `{}` twice",
                        d.macro_namespace
                    ),
                });
            }
        }
        let target_path = raw.target_path.unwrap_or_else(|| "target".into());
        let default_clean = target_path.clone();
        Ok(ProjectConfig {
            root,
            file,
            profile: raw.profile.unwrap_or_else(|| raw.name.clone()),
            name: raw.name,
            version,
            model_paths: raw.model_paths.unwrap_or_else(|| vec!["models".into()]),
            seed_paths: raw.seed_paths.unwrap_or_else(|| vec!["seeds".into()]),
            macro_paths: raw.macro_paths.unwrap_or_else(|| vec!["macros".into()]),
            test_paths: raw.test_paths.unwrap_or_else(|| vec!["tests".into()]),
            snapshot_paths: raw
                .snapshot_paths
                .unwrap_or_else(|| vec!["snapshots".into()]),
            function_paths: raw
                .function_paths
                .unwrap_or_else(|| vec!["functions".into()]),
            analysis_paths: raw
                .analysis_paths
                .unwrap_or_else(|| vec!["analyses".into()]),
            target_path,
            vars,
            declared_vars,
            models: raw.models.unwrap_or(Json::Null),
            seeds: raw.seeds.unwrap_or(Json::Null),
            snapshots: raw.snapshots.unwrap_or(Json::Null),
            data_tests: raw.data_tests.unwrap_or(Json::Null),
            functions: raw.functions.unwrap_or(Json::Null),
            quoting: crate::dialect::Quoting::default().with(raw.quoting.as_ref()),
            on_run_start: raw
                .on_run_start
                .as_ref()
                .map(as_string_list)
                .unwrap_or_default(),
            on_run_end: raw
                .on_run_end
                .as_ref()
                .map(as_string_list)
                .unwrap_or_default(),
            packages_install_path: raw
                .packages_install_path
                .unwrap_or_else(|| DEFAULT_PACKAGES_INSTALL_PATH.into()),
            clean_targets: raw.clean_targets.unwrap_or_else(|| vec![default_clean]),
            dispatch,
            restrict_access: raw.restrict_access.unwrap_or(false),
            package_dir: PathBuf::new(),
        })
    }

    /// Loads an installed package from `dir` (relative to `root`, the root project's
    /// folder), re-based on the root project: its file and resource paths start with
    /// `dir`, so its nodes' files are named relative to the root project as every other
    /// file is (`dbt_packages/golden_utils/models/pkg_calendar.sql`).
    pub fn load_package(root: &Path, dir: &Path) -> Result<Self> {
        let mut p = Self::load(&root.join(dir))?;
        let prefix = |paths: &mut Vec<String>| {
            for path in paths.iter_mut() {
                *path = dir.join(&*path).display().to_string();
            }
        };
        prefix(&mut p.model_paths);
        prefix(&mut p.seed_paths);
        prefix(&mut p.macro_paths);
        prefix(&mut p.test_paths);
        prefix(&mut p.snapshot_paths);
        prefix(&mut p.function_paths);
        prefix(&mut p.analysis_paths);
        p.root = root.to_path_buf();
        p.file = dir.join(&p.file);
        p.package_dir = dir.to_path_buf();
        Ok(p)
    }

    /// Whether this is an installed package rather than the root project.
    pub fn is_package(&self) -> bool {
        !self.package_dir.as_os_str().is_empty()
    }

    /// The configs that apply to a node from the project file's folder tree
    /// (`models:` or `seeds:`), deeper folders overriding shallower ones.
    ///
    /// `fqn` is the node's fully qualified name: project name, folders, node name.
    pub fn folder_config(&self, tree: &Json, fqn: &[String]) -> Map<String, Json> {
        folder_config(tree, fqn, Some(&self.name))
    }

    /// The root project's folder configs for a node of an installed package (`models:
    /// {golden_utils: {+schema: utils}}`). dbt applies them last, over the package's own
    /// folder configs, property files and `config()` calls; its top-level `+` keys apply
    /// to every package too.
    pub fn root_config_for_package(&self, tree: &Json, fqn: &[String]) -> Map<String, Json> {
        folder_config(tree, fqn, None)
    }
}

/// dbt's search of a folder-config tree along a node's fqn: each level's `+key` entries,
/// deeper levels overriding. The top level's own keys apply only to nodes of `owner`
/// (the tree's project) when it is given.
fn folder_config(tree: &Json, fqn: &[String], owner: Option<&str>) -> Map<String, Json> {
    let mut out = Map::new();
    let mut level = tree;
    for (depth, part) in fqn.iter().enumerate() {
        let Json::Object(map) = level else { break };
        if depth > 0 || owner.is_none_or(|o| o == part) {
            apply_level(&mut out, map);
        }
        match map.get(part.as_str()) {
            Some(next @ Json::Object(_)) => level = next,
            _ => return out,
        }
    }
    if let Json::Object(map) = level {
        apply_level(&mut out, map);
    }
    out
}

/// Applies one level of a folder-config tree: `+key` entries, and plain keys whose
/// values are not mappings (dbt's older spelling).
fn apply_level(out: &mut Map<String, Json>, level: &Map<String, Json>) {
    for (key, value) in level {
        if let Some(k) = key.strip_prefix('+') {
            merge_config(out, k, value.clone());
        } else if !value.is_object() {
            merge_config(out, key, value.clone());
        }
    }
}

/// Merges one config key the way dbt does: `tags` accumulate, mappings merge, other
/// keys replace.
pub fn merge_config(out: &mut Map<String, Json>, key: &str, value: Json) {
    // Hooks accumulate from the project file down to the model, as in dbt, under one
    // spelling (`pre_hook` in `config()` calls, `pre-hook` in YAML).
    let hook = match key {
        "pre-hook" | "pre_hook" => Some("pre-hook"),
        "post-hook" | "post_hook" => Some("post-hook"),
        _ => None,
    };
    if let Some(hook) = hook {
        let mut items = match out.remove(hook) {
            Some(Json::Array(items)) => items,
            Some(Json::Null) | None => Vec::new(),
            Some(one) => vec![one],
        };
        match value {
            Json::Array(new) => items.extend(new),
            Json::Null => {}
            one => items.push(one),
        }
        out.insert(hook.to_owned(), Json::Array(items));
        return;
    }
    match (key, out.get_mut(key), value) {
        ("tags", Some(existing), value) => {
            let mut tags = as_string_list(existing);
            for t in as_string_list(&value) {
                if !tags.contains(&t) {
                    tags.push(t);
                }
            }
            *existing = Json::Array(tags.into_iter().map(Json::String).collect());
        }
        (_, Some(Json::Object(existing)), Json::Object(new)) => existing.extend(new),
        (_, _, value) => {
            out.insert(key.to_owned(), value);
        }
    }
}

/// A string or a list of strings as a list.
pub fn as_string_list(v: &Json) -> Vec<String> {
    match v {
        Json::String(s) => vec![s.clone()],
        Json::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_configs_nest_and_tags_accumulate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("dbt_project.yml"),
            "name: shop\nprofile: p\nvars: {a: 1, shop: {b: 2}}\nmodels:\n  shop:\n    +materialized: view\n    +tags: [x]\n    staging:\n      +materialized: table\n      +tags: y\n",
        )
        .unwrap();
        let p = ProjectConfig::load(dir.path()).unwrap();
        assert_eq!(p.vars.get("a"), Some(&Json::from(1)));
        assert_eq!(p.vars.get("b"), Some(&Json::from(2)));
        let fqn: Vec<String> = ["shop", "staging", "stg_orders"].map(String::from).into();
        let c = p.folder_config(&p.models, &fqn);
        assert_eq!(c["materialized"], "table");
        assert_eq!(c["tags"], serde_json::json!(["x", "y"]));
        let fqn: Vec<String> = ["shop", "marts", "m"].map(String::from).into();
        assert_eq!(p.folder_config(&p.models, &fqn)["materialized"], "view");
    }

    #[test]
    fn malformed_yaml_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("dbt_project.yml"),
            "name: x\nmodels: [\n  a: b\n",
        )
        .unwrap();
        let err = ProjectConfig::load(dir.path()).unwrap_err();
        assert_eq!(err.code(), "DVT102");
        let msg = err.to_string();
        assert!(msg.starts_with("dbt_project.yml:"), "{msg}");
    }

    fn load(text: &str) -> Result<ProjectConfig> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dbt_project.yml"), text).unwrap();
        ProjectConfig::load(dir.path())
    }

    #[test]
    fn version_keeps_its_text() {
        for (written, text) in [
            ("1.10", "1.10"),
            ("'2.0'", "2.0"),
            ("1", "1"),
            ("1.0.0", "1.0.0"),
        ] {
            let p = load(&format!("name: x\nversion: {written}\n")).unwrap();
            assert_eq!(p.version.as_deref(), Some(text));
        }
        assert_eq!(load("name: x\nversion:\n").unwrap().version, None);
        let err = load("name: x\nversion: [1]\n").unwrap_err();
        assert!(
            err.to_string().starts_with("dbt_project.yml:2:10: "),
            "{err}"
        );
    }

    #[test]
    fn shape_errors_point_at_the_value() {
        let err = load("name: x\nmodel-paths: models\n").unwrap_err();
        assert_eq!(err.code(), "DVT102");
        assert!(
            err.to_string()
                .starts_with("dbt_project.yml:2:14: invalid YAML: model-paths: invalid type"),
            "{err}"
        );
        let err = load("profile: p\nname: ''\n").unwrap_err();
        assert!(
            err.to_string().starts_with("dbt_project.yml:2:7: "),
            "{err}"
        );
        for key in ["models", "seeds"] {
            let err = load(&format!("name: x\n{key}: []\n")).unwrap_err();
            assert_eq!(err.code(), "DVT102");
            assert!(
                err.to_string()
                    .starts_with(&format!("dbt_project.yml:2:{}: ", key.len() + 3)),
                "{err}"
            );
        }
        assert!(load("name: x\nmodels:\nseeds: {}\n").is_ok());
        let err = load("name: x\nvars: [a]\n").unwrap_err();
        assert!(
            err.to_string().starts_with("dbt_project.yml:2:7: "),
            "{err}"
        );
    }
}
