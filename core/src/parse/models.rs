//! Models: one SQL file each, rendered once in the parse phase to learn its `ref`s,
//! `source`s and `config()`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value as Json};

use super::data_tests::TestDecl;
use super::deps::parse_render;
use super::files::{fqn, stem, walk};
use super::properties::Props;
use crate::dialect::Relation;
use crate::error::{Error, Location, Result};
use crate::jinja::{JinjaEnv, RefCall};
use crate::manifest::{Materialization, Node, ResourceType};
use crate::project::{ProjectConfig, as_string_list, merge_config};
use crate::resolve::ExecPath;

pub(super) mod versions;

/// The nodes `ref()` can name: name -> package -> unique id, and the disabled ones
/// ((package, name) -> file), with the root project's name for dbt's search order. The
/// functions `function()` can name are kept apart the same way: dbt resolves the two
/// calls in separate namespaces, so a model and a function may share a name.
#[derive(Debug, Default, Clone)]
pub(crate) struct Names {
    pub(crate) root: String,
    pub(crate) by_name: BTreeMap<String, BTreeMap<String, String>>,
    pub(crate) disabled: BTreeMap<(String, String), PathBuf>,
    pub(crate) functions: BTreeMap<String, BTreeMap<String, String>>,
    pub(crate) disabled_functions: BTreeMap<(String, String), PathBuf>,
    /// The versions of each versioned model: (package, name) -> version -> unique id;
    /// `by_name` holds its latest version.
    pub(crate) versions: BTreeMap<(String, String), BTreeMap<String, String>>,
}

/// Why a `ref()` resolves to no node.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RefMiss {
    /// No enabled node has the name (in the package named, if one is).
    Missing,
    /// Unqualified, not in the root project nor the caller's package, and in several
    /// others.
    Ambiguous(Vec<String>),
}

impl Names {
    /// The node `name` of `package`.
    pub(crate) fn get(&self, package: &str, name: &str) -> Option<&String> {
        self.by_name.get(name)?.get(package)
    }

    pub(crate) fn insert(&mut self, package: &str, name: String, unique_id: String) {
        self.by_name
            .entry(name)
            .or_default()
            .insert(package.to_owned(), unique_id);
    }

    pub(crate) fn disable(&mut self, package: &str, name: String, file: PathBuf) {
        self.disabled.insert((package.to_owned(), name), file);
    }

    /// The node a `ref()` call of a node of `caller` (a package name) names. dbt's
    /// search: the package named, if one is; else the root project, the caller's own
    /// package, then any package. Where dbt takes whichever package it parsed first,
    /// DVT refuses a name several other packages have.
    pub(crate) fn resolve(&self, call: &RefCall, caller: &str) -> Result<&String, RefMiss> {
        let (package, latest) = search(&self.by_name, &self.root, call, caller)?;
        let Some(v) = &call.version else {
            return Ok(latest);
        };
        self.versions
            .get(&(package.clone(), call.name.clone()))
            .and_then(|by_version| by_version.get(v))
            .ok_or(RefMiss::Missing)
    }

    /// The versions `name` has in any package, for an error's hint.
    pub(crate) fn versions_of(&self, name: &str) -> Vec<String> {
        self.versions
            .iter()
            .filter(|((_, n), _)| n == name)
            .flat_map(|(_, by_version)| by_version.keys().cloned())
            .collect()
    }

    /// The file of a disabled node the call could mean, for the error's hint.
    pub(crate) fn disabled_file(&self, call: &RefCall) -> Option<&PathBuf> {
        disabled_match(&self.disabled, call)
    }

    /// The function `function()` named by a node of `caller`, searched as `ref()` is.
    pub(crate) fn resolve_function(
        &self,
        call: &RefCall,
        caller: &str,
    ) -> Result<&String, RefMiss> {
        search(&self.functions, &self.root, call, caller).map(|(_, id)| id)
    }

    /// The file of a disabled function the call could mean, for the error's hint.
    pub(crate) fn disabled_function_file(&self, call: &RefCall) -> Option<&PathBuf> {
        disabled_match(&self.disabled_functions, call)
    }
}

/// dbt's search for a `ref()` or `function()` name in `map` (name -> package -> id): the
/// package found and the id.
fn search<'a>(
    map: &'a BTreeMap<String, BTreeMap<String, String>>,
    root: &str,
    call: &RefCall,
    caller: &str,
) -> Result<(&'a String, &'a String), RefMiss> {
    let Some(by_package) = map.get(&call.name) else {
        return Err(RefMiss::Missing);
    };
    let in_package = |p: &str| by_package.get_key_value(p);
    if let Some(p) = &call.package {
        return in_package(p).ok_or(RefMiss::Missing);
    }
    if let Some(found) = in_package(root).or_else(|| in_package(caller)) {
        return Ok(found);
    }
    match by_package.iter().collect::<Vec<_>>().as_slice() {
        [] => Err(RefMiss::Missing),
        [one] => Ok(*one),
        _ => Err(RefMiss::Ambiguous(by_package.keys().cloned().collect())),
    }
}

fn disabled_match<'a>(
    disabled: &'a BTreeMap<(String, String), PathBuf>,
    call: &RefCall,
) -> Option<&'a PathBuf> {
    disabled
        .iter()
        .find(|((p, n), _)| *n == call.name && call.package.as_ref().is_none_or(|c| c == p))
        .map(|(_, f)| f)
}

/// For a node of an installed package, the root project's folder configs for it
/// (`models: {<package>: ...}`), applied last: in dbt they win over the package's own
/// folder configs, its property files and `config()` calls.
/// Who a node file is, for [`file_config`].
pub(crate) struct FileNode<'a> {
    pub(crate) project: &'a ProjectConfig,
    pub(crate) root: Option<&'a ProjectConfig>,
    /// The folder configs of its resource type in `dbt_project.yml` (`models:`, ...).
    pub(crate) tree: fn(&ProjectConfig) -> &Json,
    pub(crate) file: &'a std::path::Path,
    pub(crate) fqn: &'a [String],
    pub(crate) name: &'a str,
    pub(crate) unique_id: &'a str,
}

/// A node file's config in dbt's order of precedence (the project's folder configs, the
/// property file's `config:`, the file's own `config()` calls, then the root project's
/// folder configs) and what rendering it at parse time recorded; the recorded config is
/// merged and left empty.
pub(crate) fn file_config(
    node: FileNode<'_>,
    jinja: &mut JinjaEnv,
    props_config: Option<&Map<String, Json>>,
) -> Result<(Map<String, Json>, crate::jinja::Recorded)> {
    let project = node.project;
    let mut config = project.folder_config((node.tree)(project), node.fqn);
    for (k, v) in props_config.into_iter().flatten() {
        merge_config(&mut config, k, v.clone());
    }
    let mut recorded = parse_render(jinja, node.file, node.name, node.unique_id, &project.name)?;
    for (k, v) in std::mem::take(&mut recorded.config) {
        merge_config(&mut config, &k, v);
    }
    apply_root_configs(node.root, node.tree, node.fqn, &mut config);
    Ok((config, recorded))
}

pub(crate) fn apply_root_configs(
    root: Option<&ProjectConfig>,
    tree: fn(&ProjectConfig) -> &Json,
    fqn: &[String],
    config: &mut Map<String, Json>,
) {
    if let Some(root) = root {
        for (k, v) in root.root_config_for_package(tree(root), fqn) {
            merge_config(config, &k, v);
        }
    }
}

/// Parses every model file under the model paths.
pub(super) fn parse(
    project: &ProjectConfig,
    root: Option<&ProjectConfig>,
    jinja: &mut JinjaEnv,
    props: &mut BTreeMap<String, Props>,
    nodes: &mut BTreeMap<String, Node>,
    names: &mut Names,
    tests: &mut Vec<TestDecl>,
) -> Result<()> {
    let mut files = Vec::new();
    for dir in &project.model_paths {
        for file in walk(&project.root, dir, &["sql"])? {
            files.push((dir, file));
        }
    }
    let stems: std::collections::BTreeSet<String> = files.iter().map(|(_, f)| stem(f)).collect();
    let mut versioned = versions::by_file(props, &stems)?;
    for (dir, file) in files {
        let text = super::read(&project.root, &file)?;
        let mut name = stem(&file);
        let mut fqn = fqn(&project.name, dir, &file);
        let mut unique_id = format!("model.{}.{name}", project.name);
        let version = versioned.remove(&name);
        let node_props = match &version {
            Some(v) => {
                // dbt names a version after its model: `model.<project>.<name>.v<v>`,
                // fqn `[..., <name>, v<v>]`.
                name = v.model.clone();
                unique_id = format!("model.{}.{name}.v{}", project.name, v.text);
                fqn.pop();
                fqn.extend([name.clone(), format!("v{}", v.text)]);
                props.get(&name).map(|p| v.props(p))
            }
            None => props.remove(&name),
        };
        jinja.add_node_template(&file, &text)?;
        let (config, recorded) = file_config(
            FileNode {
                project,
                root,
                tree: |p| &p.models,
                file: &file,
                fqn: &fqn,
                name: &name,
                unique_id: &unique_id,
            },
            jinja,
            node_props.as_ref().map(|p| &p.node.config),
        )?;
        if config.get("enabled") == Some(&Json::Bool(false)) {
            if let (Some(p), None) = (node_props, &version) {
                props.insert(name.clone(), p);
            }
            names.disable(&project.name, name, file);
            continue;
        }
        if let Some(other) = nodes.get(&unique_id) {
            return Err(Error::DuplicateNode {
                location: Location::file(&file),
                kind: "model",
                name,
                other: other.original_file_path.clone(),
            });
        }
        match &version {
            Some(v) => {
                names
                    .versions
                    .entry((project.name.clone(), name.clone()))
                    .or_default()
                    .insert(v.text.clone(), unique_id.clone());
                if v.is_latest {
                    names.insert(&project.name, name.clone(), unique_id.clone());
                }
                if let Some(p) = &node_props {
                    tests.extend(v.test_declarations(&unique_id, p));
                }
            }
            None => {
                names.insert(&project.name, name.clone(), unique_id.clone());
                if let Some(p) = &node_props {
                    tests.extend(test_declarations(&unique_id, &name, p));
                }
            }
        }
        let entry = node_props.as_ref().map(Props::location);
        let mut node = rendered_node(
            unique_id.clone(),
            ResourceType::Model,
            name,
            &project.name,
            file,
            fqn,
            text,
            config,
            node_props,
            recorded,
        );
        super::deps::add_hook_macros(jinja, &mut node);
        if let Some(entry) = entry {
            check_constraints(&mut node, entry)?;
        }
        if let Some(v) = version {
            node.version = Some(v.v);
            node.latest_version = Some(v.latest);
        }
        nodes.insert(unique_id, node);
    }
    if let Some(missing) = versioned.into_values().next() {
        return Err(missing.no_file());
    }
    // The versioned models' properties served every version.
    props.retain(|_, p| p.node.versions.is_empty());
    Ok(())
}

/// Parses every analysis file under the analysis paths: compiled like a model (its
/// `ref()`s make it a child of what it reads) and never built. As in dbt-core, its fqn
/// is `[project, "analysis", folders..., name]` and it takes its configs from the
/// project's `models:` tree under that fqn; `ref()` cannot name it.
pub(super) fn parse_analyses(
    project: &ProjectConfig,
    root: Option<&ProjectConfig>,
    jinja: &mut JinjaEnv,
    props: &mut BTreeMap<String, Props>,
    nodes: &mut BTreeMap<String, Node>,
) -> Result<()> {
    for dir in &project.analysis_paths {
        for file in walk(&project.root, dir, &["sql"])? {
            let text = super::read(&project.root, &file)?;
            let name = stem(&file);
            let mut fqn = fqn(&project.name, dir, &file);
            fqn.insert(1, "analysis".to_owned());
            let unique_id = format!("analysis.{}.{name}", project.name);
            let node_props = props.remove(&name);
            jinja.add_node_template(&file, &text)?;
            let (config, recorded) = file_config(
                FileNode {
                    project,
                    root,
                    tree: |p| &p.models,
                    file: &file,
                    fqn: &fqn,
                    name: &name,
                    unique_id: &unique_id,
                },
                jinja,
                node_props.as_ref().map(|p| &p.node.config),
            )?;
            if config.get("enabled") == Some(&Json::Bool(false)) {
                continue;
            }
            if let Some(other) = nodes.get(&unique_id) {
                return Err(Error::DuplicateNode {
                    location: Location::file(&file),
                    kind: "analysis",
                    name,
                    other: other.original_file_path.clone(),
                });
            }
            let node = rendered_node(
                unique_id.clone(),
                ResourceType::Analysis,
                name,
                &project.name,
                file,
                fqn,
                text,
                config,
                node_props,
                recorded,
            );
            nodes.insert(unique_id, node);
        }
    }
    Ok(())
}

/// dbt's checks of a model's constraints, and the `ref()`/`source()` of each foreign
/// key's `to:` added to the model's calls (it depends on what it references):
/// with an enforced contract every constraint has a known type; a primary key is
/// declared on one column or on the model, once.
fn check_constraints(node: &mut Node, entry: Location) -> Result<()> {
    let bad = |message: String| Error::InvalidConfig {
        location: entry.clone(),
        key: "constraints".into(),
        message,
    };
    let column_constraints: Vec<(&String, &Json)> = node
        .columns
        .iter()
        .flat_map(|(name, c)| {
            c.get("constraints")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .map(move |k| (name, k))
        })
        .collect();
    if node.contract_enforced() {
        for c in crate::constraints::all(&node.constraints, &node.columns) {
            let kind = crate::constraints::kind(c);
            if !crate::constraints::TYPES.contains(&kind) {
                return Err(bad(format!(
                    "model `{}` has a constraint of type `{kind}`; the type must be one of {}",
                    node.name,
                    crate::constraints::TYPES.join(", ")
                )));
            }
        }
    }
    let pk_columns: Vec<&str> = column_constraints
        .iter()
        .filter(|(_, k)| crate::constraints::kind(k) == "primary_key")
        .map(|(name, _)| name.as_str())
        .collect();
    if pk_columns.len() > 1 {
        return Err(bad(format!(
            "model `{}` declares a primary key on {} columns ({}); a primary key over several columns is a model constraint (`constraints: [{{type: primary_key, columns: [...]}}]` beside `columns:`)",
            node.name,
            pk_columns.len(),
            pk_columns.join(", ")
        )));
    }
    if !pk_columns.is_empty()
        && node
            .constraints
            .iter()
            .any(|c| crate::constraints::kind(c) == "primary_key")
    {
        return Err(bad(format!(
            "model `{}` declares its primary key both on column `{}` and as a model constraint; keep one",
            node.name, pk_columns[0]
        )));
    }
    let targets: Vec<String> =
        crate::constraints::foreign_key_targets(&node.constraints, &node.columns)
            .map(str::to_owned)
            .collect();
    for to in targets {
        match super::deps::call_text(&to) {
            Some(super::deps::CallText::Ref(call)) => node.refs.push(call),
            Some(super::deps::CallText::Source(s, t)) => node.sources.push((s, t)),
            None => {
                return Err(bad(format!(
                    "model `{}`: a foreign key's `to: {to}` is not `ref('...')` or `source('...', '...')`",
                    node.name
                )));
            }
        }
    }
    Ok(())
}

/// The generic tests declared in a model's or seed's properties.
pub(super) fn test_declarations(unique_id: &str, name: &str, p: &Props) -> Vec<TestDecl> {
    super::data_tests::declarations(
        unique_id,
        format!("ref('{name}')"),
        name.to_owned(),
        false,
        &p.node.data_tests,
        &p.node.columns,
        &p.file,
        &p.tree,
        &[
            crate::yaml::PathSeg::Key(p.section),
            crate::yaml::PathSeg::Index(p.index),
        ],
    )
}

/// [`new_node`] for a node rendered while parsing: its `ref()`, `source()` and
/// `function()` calls and the macros it called are what the render recorded.
#[allow(clippy::too_many_arguments)]
pub(crate) fn rendered_node(
    unique_id: String,
    resource_type: ResourceType,
    name: String,
    package: &str,
    file: PathBuf,
    fqn: Vec<String>,
    raw_code: String,
    config: Map<String, Json>,
    props: Option<Props>,
    recorded: crate::jinja::Recorded,
) -> Node {
    let mut node = new_node(
        unique_id,
        resource_type,
        name,
        package,
        file,
        fqn,
        raw_code,
        config,
        props,
        recorded.refs,
        recorded.sources,
    );
    node.functions = recorded.functions;
    node.macros = recorded.macros;
    node
}

/// A node as parsed, before DVT resolves its target, relation and path.
#[allow(clippy::too_many_arguments)]
pub(crate) fn new_node(
    unique_id: String,
    resource_type: ResourceType,
    name: String,
    package: &str,
    file: PathBuf,
    fqn: Vec<String>,
    raw_code: String,
    config: Map<String, Json>,
    props: Option<Props>,
    refs: Vec<RefCall>,
    sources: Vec<(String, String)>,
) -> Node {
    let tags = config.get("tags").map(as_string_list).unwrap_or_default();
    let file_template = file.display().to_string();
    let patch_path = props.as_ref().map(|p| p.file.clone());
    let deprecation_date = props
        .as_ref()
        .and_then(|p| p.node.deprecation_date.as_ref())
        .and_then(deprecation_instant);
    let time_spine = props
        .as_ref()
        .and_then(|p| p.node.time_spine.clone())
        .filter(Json::is_object)
        .map(|mut t| {
            if let Some(o) = t.as_object_mut() {
                o.entry("custom_granularities")
                    .or_insert(Json::Array(Vec::new()));
            }
            t
        });
    let constraints = props
        .as_ref()
        .map(|p| p.node.constraints.clone())
        .unwrap_or_default();
    let (description, columns) = match props {
        Some(p) => {
            let cols = p
                .node
                .columns
                .into_iter()
                .filter_map(|c| {
                    let name = c.get("name")?.as_str()?.to_owned();
                    Some((name, c))
                })
                .collect();
            (p.node.description.unwrap_or_default(), cols)
        }
        None => (String::new(), Map::new()),
    };
    Node {
        unique_id,
        resource_type,
        name,
        package_name: package.to_owned(),
        original_file_path: file,
        fqn,
        // dbt strips a file's contents before keeping them as `raw_code` and hashing
        // them for `checksum`: `state:modified` against a dbt-core manifest compares
        // equal text only if DVT does too.
        raw_code: raw_code.trim().to_owned(),
        config,
        materialized: match resource_type {
            ResourceType::Seed => Materialization::Seed,
            ResourceType::Model => Materialization::View,
            ResourceType::Test => Materialization::Test,
            ResourceType::Snapshot => Materialization::Snapshot,
            ResourceType::Function => Materialization::Function,
            // dbt's default, though nothing builds one.
            ResourceType::Analysis => Materialization::View,
        },
        tags,
        description,
        columns,
        patch_path,
        refs,
        sources,
        functions: Vec::new(),
        depends_on: Vec::new(),
        target: String::new(),
        relation: Relation::new("", ""),
        path: ExecPath::Pushdown,
        template: file_template,
        test: None,
        function: None,
        version: None,
        latest_version: None,
        time_spine,
        deprecation_date,
        constraints,
        macros: Vec::new(),
        checksum_once: std::sync::OnceLock::new(),
    }
}

/// A package's property entry for a name the package has no enabled node of: dbt-core
/// then patches the enabled node of that name `ref()` finds in the root project
/// (dbt_project_evaluator documents its exceptions seed, which a project disables and
/// replaces with its own, that way), unless that node has its own entry. Its
/// description, columns and file apply; its configs apply to a seed as a property
/// file's do (over `dbt_project.yml`'s); to a model or snapshot only where the node's
/// own configs are silent, since DVT no longer tells a `config()` call's keys from the
/// project file's at this point. The entry's tests are the package's.
pub(crate) fn patch_other_project(node: &mut Node, p: Props, tests: &mut Vec<TestDecl>) {
    tests.extend(test_declarations(&node.unique_id, &node.name, &p));
    for (k, v) in &p.node.config {
        if node.resource_type == ResourceType::Seed || !node.config.contains_key(k) {
            merge_config(&mut node.config, k, v.clone());
        }
    }
    node.tags = node
        .config
        .get("tags")
        .map(as_string_list)
        .unwrap_or_default();
    node.description = p.node.description.unwrap_or_default();
    node.columns = p
        .node
        .columns
        .into_iter()
        .filter_map(|c| Some((c.get("name")?.as_str()?.to_owned(), c)))
        .collect();
    node.patch_path = Some(p.file);
}

/// A `deprecation_date:` as dbt keeps it: an ISO 8601 instant with its offset, a date
/// or a time without one being UTC (`2024-01-01` is `2024-01-01T00:00:00+00:00`).
pub(crate) fn deprecation_instant(v: &Json) -> Option<String> {
    let text = match v {
        Json::String(s) => s.clone(),
        Json::Null => return None,
        other => other.to_string(),
    };
    crate::manifest::parse_instant(&text)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
}
