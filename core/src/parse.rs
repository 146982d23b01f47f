//! dbt's parsing: read the project and profile, the macros and property YAML, render
//! every model once in the parse phase to learn its `ref`s, `source`s and `config`,
//! then build the DAG. One module per resource type; DVT's part (targets, connections,
//! paths) is called from [`crate::resolve`] at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Location, Result, read_to_string};
use crate::graph::Graph;
use crate::jinja::{JinjaEnv, PackageMacros};
use crate::manifest::{LoadOptions, Manifest, Node, ResourceType, SourceTable};
use crate::profile::Profile;
use crate::project::ProjectConfig;
use crate::resolve;
use serde_json::Value as Json;

mod data_tests;
pub(crate) mod deps;
mod exposures;
mod files;
mod functions;
mod groups;
mod models;
mod properties;
mod seeds;
pub(crate) mod semantic;
mod snapshots;
mod sources;
mod unit_tests;

pub(crate) use deps::{CallText, call_text, parse_render, resolve_deps, source_ids};
pub(crate) use models::versions::{compare as compare_versions, version_text};
pub(crate) use models::{Names, new_node};

impl Manifest {
    /// Loads and parses the project and its installed packages (every project in
    /// `dbt_packages/`, or `packages-install-path:`; `dvt deps` puts them there).
    pub fn load(opts: &LoadOptions) -> Result<Manifest> {
        let mut project = ProjectConfig::load(&opts.project_dir)?;
        // dbt renders `dbt_project.yml` before anything reads it: `profile:` with
        // `env_var` and the command line's vars, the folder configs (below) also with
        // `target`. Hooks and `vars:` stay text: they render when they are used.
        let project_loc = Location::file(&project.file);
        let bare = JinjaEnv::new(&[], opts.vars.clone())?;
        let empty = serde_json::json!({});
        if project.profile.contains("{{") || project.profile.contains("{%") {
            project.profile = bare
                .render_snippet(&project.profile, &empty, &project_loc)?
                .trim()
                .to_owned();
        }
        let mut packages = crate::packages::load_installed(&project)?;
        let root = project.root.clone();
        let profiles_file = opts.profiles.find(&root)?;
        let profile = Profile::load(&profiles_file, &project.profile, &root)?;
        if let Some(t) = &opts.target {
            profile.check_target(t, Location::file("--target"))?;
        }
        let default_target = opts
            .target
            .clone()
            .unwrap_or_else(|| profile.default_target.clone());
        // `vars:` stay text here: as in dbt, `var()` renders a value when a node reads it,
        // in that node's context (see `render_var` in jinja.rs).
        let mut vars = project.vars.clone();
        vars.extend(opts.vars.clone());

        let root_macros = PackageMacros {
            name: project.name.clone(),
            macro_files: macro_files(&project)?,
            vars,
        };
        let package_macros = packages
            .values()
            .map(|p| {
                Ok(PackageMacros {
                    name: p.name.clone(),
                    macro_files: macro_files(p)?,
                    vars: package_vars(&project, p, &opts.vars),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut jinja =
            JinjaEnv::with_packages(root_macros, package_macros, project.dispatch.clone())?;
        let macros = jinja.macros().clone();
        // Parsing may read `builtins.ref.config` already (elementary's configs do).
        let dependencies: serde_json::Map<String, Json> = packages
            .values()
            .map(|p| (p.name.clone(), serde_json::json!({ "version": p.version })))
            .collect();
        jinja.set_builtins(&serde_json::json!({
            "project_name": project.name,
            "vars": project.vars,
            "cli_vars": opts.vars,
            "args": {},
            "dependencies": dependencies,
        }));
        // While parsing, dbt's `graph` is still empty, but there (packages cache in it).
        jinja.set_mutable_global("graph", &serde_json::json!({}))?;
        // dbt's `thread_id` names the worker thread; DVT's renders are not tied to one,
        // so it answers as dbt does outside a node's thread.
        jinja.set_global("thread_id", &Json::from("MainThread"));
        let ctx = serde_json::json!({
            "target": resolve::target_context(&profile, &default_target),
        });
        jinja.set_parse_target(ctx["target"].clone());
        for p in std::iter::once(&mut project).chain(packages.values_mut()) {
            jinja.set_parse_package(Some(p.name.clone()));
            let loc = Location::file(&p.file);
            for tree in [
                &mut p.models,
                &mut p.seeds,
                &mut p.snapshots,
                &mut p.data_tests,
                &mut p.functions,
            ] {
                render_tree(&jinja, tree, &ctx, &loc)?;
            }
        }

        let mut warnings = Vec::new();
        let mut exposure_decls = Vec::new();
        let mut group_decls = Vec::new();
        let mut semantic_decls = semantic::Decls::default();
        let mut sources: BTreeMap<String, SourceTable> = BTreeMap::new();
        let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
        let mut names = Names {
            root: project.name.clone(),
            ..Names::default()
        };
        // The root project first, then each package, whose nodes the root project's
        // folder configs override.
        let scopes =
            std::iter::once((&project, None)).chain(packages.values().map(|p| (p, Some(&project))));
        let mut root_patches = RootPatches::default();
        for (p, root_project) in scopes {
            let mut state = ParseState {
                jinja: &mut jinja,
                nodes: &mut nodes,
                sources: &mut sources,
                names: &mut names,
                warnings: &mut warnings,
                exposures: &mut exposure_decls,
                groups: &mut group_decls,
                semantic: &mut semantic_decls,
                root_patches: &mut root_patches,
            };
            parse_project(p, root_project, &profile, &default_target, &ctx, &mut state)?;
        }
        jinja.set_parse_package(None);
        // Tests the root project's property files declare on packages' nodes belong to
        // the root project, as in dbt (`test.<root>.not_null_<package model>_id`).
        data_tests::generic(&project, None, &mut jinja, &root_patches.tests, &mut nodes)?;
        // dbt builds `.py` models on warehouses with a Python runtime; DVT runs SQL only,
        // so a Python model is said to be left out rather than silently missing.
        for dir in &project.model_paths {
            for file in files::walk(&project.root, dir, &["py"])? {
                warnings.push(crate::manifest::Warning {
                    code: "DVT006",
                    message: format!(
                        "{}: Python models are not supported; `{}` is not built, and a model that refs it fails with DVT106",
                        file.display(),
                        file.file_stem().unwrap_or_default().to_string_lossy()
                    ),
                });
            }
        }
        for node in nodes.values() {
            if node.name.contains(' ') {
                warnings.push(crate::manifest::Warning {
                    code: "DVT004",
                    message: format!(
                        "{}: {} name `{}` contains a space; dbt deprecates such names and every statement must quote them",
                        node.original_file_path.display(),
                        node.resource_type.as_str(),
                        node.name
                    ),
                });
            }
        }

        // Dependencies: refs to nodes, sources to source tables.
        let source_ids = source_ids(&sources);
        for node in nodes.values_mut() {
            resolve_deps(&jinja, node, &names, &source_ids)?;
        }
        deprecations(&nodes, &mut warnings);
        let semantic = semantic::resolve(&semantic_decls, &names)?;
        semantic::check_time_spine(&semantic, &nodes)?;
        let exposures = exposures::resolve(&exposure_decls, &names, &source_ids, &semantic)?;
        let groups = groups::resolve(&group_decls)?;
        let projects: Vec<&ProjectConfig> =
            std::iter::once(&project).chain(packages.values()).collect();
        groups::check(&mut nodes, &exposures, &groups, &projects)?;
        let graph = Graph::new(nodes.iter().map(|(id, n)| (id, &n.depends_on)));
        if let Some(cycle) = graph.find_cycle() {
            let file = nodes
                .get(&cycle[0])
                .map(|n| n.original_file_path.clone())
                .unwrap_or_default();
            return Err(Error::Cycle {
                location: Location::file(file),
                cycle: cycle.join(" -> "),
            });
        }

        let selectors = crate::select::Selectors::load(&project.root, &|text, loc| {
            jinja.render_snippet(text, &ctx, loc)
        })?;
        let mut manifest = Manifest {
            selectors,
            semantic,
            project,
            profile,
            target_override: opts.target.clone(),
            default_target,
            nodes,
            sources,
            exposures,
            groups,
            graph,
            warnings,
            macros,
            packages,
            jinja,
            names,
            state: None,
            sources_by_target: Default::default(),
            graph_nodes: BTreeMap::new(),
        };
        // A package's semantic nodes name their file inside the package, as dbt does.
        for s in manifest.semantic.values_mut() {
            if let Some(p) = manifest.packages.get(&s.package_name)
                && let Ok(file) = s.original_file_path.strip_prefix(&p.package_dir)
            {
                s.json["original_file_path"] = Json::from(file.display().to_string());
                s.json["path"] = Json::from(below_resource_folder(file));
            }
        }
        resolve::resolve(&mut manifest)?;
        let notes = constraint_warnings(&manifest);
        manifest.warnings.extend(notes);
        let docs = read_docs(&manifest.project)?;
        manifest.jinja.set_docs(docs);
        let graph = graph_context(&manifest);
        manifest.jinja.set_mutable_global("graph", &graph)?;
        for key in ["nodes", "functions"] {
            if let Some(Json::Object(entries)) = graph.get(key) {
                manifest
                    .graph_nodes
                    .extend(entries.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        let name = Json::from(manifest.project.name.clone());
        manifest.jinja.set_global("project_name", &name);
        // The dbt release whose behaviour DVT matches (its goldens come from dbt-core
        // 1.10): packages parse this as numbers to choose their code paths
        // (`dbt_version.split('.')`); DVT's own version is in the artifacts' metadata.
        manifest.jinja.set_global(
            "dbt_version",
            &Json::from(crate::artifacts::DBT_COMPATIBLE_VERSION),
        );

        // dbt's `dbt_metadata_envs`: `DBT_ENV_CUSTOM_ENV_<NAME>` variables by `<NAME>`,
        // which users set to label runs (never secrets: those are `DBT_ENV_SECRET_`).
        let custom: serde_json::Map<String, Json> = std::env::vars()
            .filter_map(|(k, v)| {
                k.strip_prefix("DBT_ENV_CUSTOM_ENV_")
                    .map(|name| (name.to_owned(), Json::from(v)))
            })
            .collect();
        manifest
            .jinja
            .set_global("dbt_metadata_envs", &Json::Object(custom));
        Ok(manifest)
    }
}

/// The root project's property entries naming no node of its own (`models: - name:
/// stg_stripe__account` to test or document a package's model), offered to each
/// package in turn, and the tests they declare on packages' nodes.
#[derive(Default)]
struct RootPatches {
    models: BTreeMap<String, properties::Props>,
    seeds: BTreeMap<String, properties::Props>,
    snapshots: BTreeMap<String, properties::Props>,
    tests: Vec<data_tests::TestDecl>,
}

/// Lends the root project's unmatched entries to a package's `own` entries (both
/// describing one name is an error, as in dbt); [`take_back`] takes back what the
/// package left. Returns the names lent and records the files they came from.
fn lend_patches(
    own: &mut BTreeMap<String, properties::Props>,
    lent: &mut BTreeMap<String, properties::Props>,
    files: &mut std::collections::BTreeSet<PathBuf>,
) -> Result<std::collections::BTreeSet<String>> {
    let mut names = std::collections::BTreeSet::new();
    for (name, p) in std::mem::take(lent) {
        match own.entry(name) {
            // The package describes the same name: dbt refuses a second entry.
            std::collections::btree_map::Entry::Occupied(e) => {
                return Err(p.duplicate_of(e.get()));
            }
            std::collections::btree_map::Entry::Vacant(e) => {
                files.insert(p.file.clone());
                names.insert(e.key().clone());
                e.insert(p);
            }
        }
    }
    Ok(names)
}

fn take_back(
    own: &mut BTreeMap<String, properties::Props>,
    lent: &mut BTreeMap<String, properties::Props>,
    names: std::collections::BTreeSet<String>,
) {
    for name in names {
        if let Some(p) = own.remove(&name) {
            lent.insert(name, p);
        }
    }
}

/// One entry of a top-level list in a property file (`exposures:`, `groups:`) as
/// written, with the project declaring it.
pub(super) struct YamlEntry {
    pub(super) spec: Json,
    pub(super) file: PathBuf,
    pub(super) tree: std::sync::Arc<crate::yaml::Yaml>,
    pub(super) index: usize,
    pub(super) package: String,
    /// dbt's fqn up to the entry's name: the package and the file's folders below its
    /// resource folder.
    pub(super) fqn_prefix: Vec<String>,
}

impl YamlEntry {
    /// Where `path` (below the entry) is written, the entry being under `section`.
    pub(super) fn at(&self, section: &str, path: &[crate::yaml::PathSeg<'_>]) -> Location {
        let mut full = vec![
            crate::yaml::PathSeg::Key(section),
            crate::yaml::PathSeg::Index(self.index),
        ];
        full.extend_from_slice(path);
        self.tree.locate(&self.file, &full)
    }
}

/// What parsing one project (the root or a package) adds to.
struct ParseState<'a> {
    jinja: &'a mut JinjaEnv,
    nodes: &'a mut BTreeMap<String, Node>,
    sources: &'a mut BTreeMap<String, SourceTable>,
    names: &'a mut Names,
    warnings: &'a mut Vec<crate::manifest::Warning>,
    exposures: &'a mut Vec<YamlEntry>,
    groups: &'a mut Vec<YamlEntry>,
    semantic: &'a mut semantic::Decls,
    root_patches: &'a mut RootPatches,
}

/// Parses the property files, sources, functions, models, seeds, snapshots and data tests of one
/// project: the root project (`root` is `None`) or an installed package (`root` is the
/// root project, whose folder configs win over the package's).
fn parse_project(
    project: &ProjectConfig,
    root: Option<&ProjectConfig>,
    profile: &Profile,
    default_target: &str,
    ctx: &Json,
    st: &mut ParseState<'_>,
) -> Result<()> {
    st.jinja.set_parse_package(Some(project.name.clone()));
    let mut props = properties::read(project)?;
    // dbt renders the configs of property files at parse time, as the project's.
    for p in props
        .models
        .values_mut()
        .chain(props.seeds.values_mut())
        .chain(props.snapshots.values_mut())
        .chain(props.analyses.values_mut())
    {
        let mut config = Json::Object(std::mem::take(&mut p.node.config));
        render_tree(st.jinja, &mut config, ctx, &Location::file(&p.file))?;
        if let Json::Object(c) = config {
            p.node.config = c;
        }
        for v in &mut p.node.versions {
            if let Some(config) = v.get_mut("config") {
                render_tree(st.jinja, config, ctx, &Location::file(&p.file))?;
            }
        }
        // A column's `data_type` renders too (a contract typed per adapter:
        // `"{{ 'UInt8' if target.type == 'clickhouse' else 'integer' }}"`).
        for column in &mut p.node.columns {
            if let Some(data_type) = column.get_mut("data_type") {
                render_tree(st.jinja, data_type, ctx, &Location::file(&p.file))?;
            }
        }
    }
    for f in props.functions.values_mut() {
        let mut config = Json::Object(std::mem::take(&mut f.props.config));
        render_tree(st.jinja, &mut config, ctx, &Location::file(&f.file))?;
        if let Json::Object(c) = config {
            f.props.config = c;
        }
    }
    // A package's nodes may take properties the root project wrote for them.
    let mut lent_files = std::collections::BTreeSet::new();
    let lent = match root {
        Some(_) => Some((
            lend_patches(
                &mut props.models,
                &mut st.root_patches.models,
                &mut lent_files,
            )?,
            lend_patches(
                &mut props.seeds,
                &mut st.root_patches.seeds,
                &mut lent_files,
            )?,
            lend_patches(
                &mut props.snapshots,
                &mut st.root_patches.snapshots,
                &mut lent_files,
            )?,
        )),
        None => None,
    };
    let mut test_decls = Vec::new();
    st.sources.extend(sources::parse(
        project,
        profile,
        default_target,
        st.jinja,
        &props.sources,
        st.warnings,
        &mut test_decls,
    )?);
    functions::parse(
        project,
        root,
        st.jinja,
        &mut props.functions,
        st.nodes,
        st.names,
    )?;
    models::parse(
        project,
        root,
        st.jinja,
        &mut props.models,
        st.nodes,
        st.names,
        &mut test_decls,
    )?;
    seeds::parse(
        project,
        root,
        &mut props.seeds,
        st.nodes,
        st.names,
        &mut test_decls,
    )?;
    snapshots::parse(
        project,
        root,
        st.jinja,
        &mut props.snapshots,
        st.nodes,
        st.names,
        &mut test_decls,
    )?;
    models::parse_analyses(project, root, st.jinja, &mut props.analyses, st.nodes)?;
    match lent {
        Some((models, seeds, snapshots)) => {
            take_back(&mut props.models, &mut st.root_patches.models, models);
            take_back(&mut props.seeds, &mut st.root_patches.seeds, seeds);
            take_back(
                &mut props.snapshots,
                &mut st.root_patches.snapshots,
                snapshots,
            );
            let (theirs, mine): (Vec<_>, Vec<_>) = test_decls
                .into_iter()
                .partition(|d| lent_files.contains(&d.file));
            st.root_patches.tests.extend(theirs);
            test_decls = mine;
            if let Some(root) = root {
                for (kind, left) in [
                    (ResourceType::Model, &mut props.models),
                    (ResourceType::Seed, &mut props.seeds),
                    (ResourceType::Snapshot, &mut props.snapshots),
                ] {
                    for (name, p) in std::mem::take(left) {
                        let node = st
                            .names
                            .get(&root.name, &name)
                            .and_then(|id| st.nodes.get_mut(id))
                            .filter(|n| n.resource_type == kind && n.patch_path.is_none());
                        if let Some(node) = node {
                            models::patch_other_project(node, p, &mut test_decls);
                        }
                    }
                }
            }
        }
        None => {
            st.root_patches.models = std::mem::take(&mut props.models);
            st.root_patches.seeds = std::mem::take(&mut props.seeds);
            st.root_patches.snapshots = std::mem::take(&mut props.snapshots);
        }
    }
    data_tests::parse(project, root, st.jinja, &test_decls, st.nodes, st.names)?;
    let entries = |list: Vec<(Json, PathBuf, std::sync::Arc<crate::yaml::Yaml>, usize)>| {
        list.into_iter().map(|(spec, file, tree, index)| YamlEntry {
            fqn_prefix: files::folder_fqn(project, &file),
            spec,
            file,
            tree,
            index,
            package: project.name.clone(),
        })
    };
    st.exposures
        .extend(entries(std::mem::take(&mut props.exposures)));
    st.groups.extend(entries(std::mem::take(&mut props.groups)));
    st.semantic
        .semantic_models
        .extend(entries(std::mem::take(&mut props.semantic_models)));
    st.semantic
        .metrics
        .extend(entries(std::mem::take(&mut props.metrics)));
    st.semantic
        .saved_queries
        .extend(entries(std::mem::take(&mut props.saved_queries)));
    unit_tests::parse(project, &props.unit_tests, st.nodes, st.names)
}

/// A project's macro files: its macro paths and `<test path>/generic/` (where `{% test %}`
/// blocks may live), relative to the root project.
fn macro_files(project: &ProjectConfig) -> Result<Vec<(PathBuf, String)>> {
    let generic_test_dirs: Vec<String> = project
        .test_paths
        .iter()
        .map(|t| format!("{t}/generic"))
        .collect();
    let mut out = Vec::new();
    for dir in project.macro_paths.iter().chain(&generic_test_dirs) {
        for file in files::walk(&project.root, dir, &["sql"])? {
            let text = read_to_string(&project.root.join(&file))?;
            out.push((file, text));
        }
    }
    Ok(out)
}

/// What `var()` answers in a package's nodes, as dbt merges it: the package's own `vars:`,
/// then the root project's (every key, then those scoped to the package), then `--vars`.
fn package_vars(
    root: &ProjectConfig,
    package: &ProjectConfig,
    cli: &serde_json::Map<String, Json>,
) -> serde_json::Map<String, Json> {
    let mut vars = package.vars.clone();
    vars.extend(root.declared_vars.clone());
    if let Some(Json::Object(scoped)) = root.declared_vars.get(&package.name) {
        vars.extend(scoped.clone());
    }
    vars.extend(cli.clone());
    vars
}

/// The `{% docs name %} ... {% enddocs %}` blocks of the `.md` files under the project's
/// model, seed, snapshot, function and macro paths (dbt's default `docs-paths`), by name.
fn read_docs(project: &ProjectConfig) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let dirs = project
        .model_paths
        .iter()
        .chain(&project.seed_paths)
        .chain(&project.snapshot_paths)
        .chain(&project.function_paths)
        .chain(&project.macro_paths);
    for dir in dirs {
        for file in files::walk(&project.root, dir, &["md"])? {
            let text = read_to_string(&project.root.join(&file))?;
            let mut rest = text.as_str();
            while let Some(start) = rest.find("{%") {
                let Some(end) = rest[start..].find("%}") else {
                    break;
                };
                let tag = rest[start + 2..start + end]
                    .trim_matches(|c: char| c == '-' || c.is_whitespace());
                let after = &rest[start + end + 2..];
                let mut words = tag.split_whitespace();
                if words.next() == Some("docs")
                    && let Some(name) = words.next()
                    && let Some(close) = after
                        .find("{% enddocs %}")
                        .or_else(|| after.find("{%- enddocs %}"))
                {
                    out.insert(name.to_owned(), after[..close].trim().to_owned());
                    rest = &after[close..];
                    continue;
                }
                rest = after;
            }
        }
    }
    Ok(out)
}

/// A node as dbt's `graph.nodes` (and an `on-run-end` hook's `results[i].node`) holds it.
/// Removes from a node's `graph`/`manifest.json` entry the keys dbt's class for its
/// resource type does not have: only models are versioned, have `access`, a deprecation
/// date, a time spine and model constraints; a seed has no code to compile (no `refs`,
/// `sources`, `language`, `contract`). Packages tell "absent" (undefined, rendered as
/// nothing) from `None` (rendered `None`): dbt_project_evaluator's `stg_nodes` does.
pub(crate) fn drop_absent_keys(n: &Node, entry: &mut Json) {
    let Some(entry) = entry.as_object_mut() else {
        return;
    };
    if n.resource_type != ResourceType::Model {
        for key in [
            "access",
            "version",
            "latest_version",
            "deprecation_date",
            "time_spine",
            "constraints",
        ] {
            entry.remove(key);
        }
    }
    if n.resource_type == ResourceType::Seed {
        for key in ["refs", "sources", "language", "contract", "metrics"] {
            entry.remove(key);
        }
    }
}

pub(crate) fn graph_node(m: &Manifest, n: &Node) -> Json {
    let description = m.render_description(n, &n.description);
    // dbt_artifacts stores it for each node.
    let checksum = n.checksum(&m.project.root);
    let mut config = n.config.clone();
    config
        .entry("materialized")
        .or_insert_with(|| Json::from(n.materialized.as_str()));
    config
        .entry("meta")
        .or_insert_with(|| serde_json::json!({}));
    config
        .entry("tags")
        .or_insert_with(|| serde_json::json!([]));
    // dbt's config defaults, which packages read off `graph` (dbt_project_evaluator).
    config.entry("enabled").or_insert(Json::Bool(true));
    // dbt's tests have no `on_schema_change` (their `TestConfig` is not a `NodeConfig`).
    if n.resource_type != ResourceType::Test {
        config
            .entry("on_schema_change")
            .or_insert_with(|| Json::from("ignore"));
    }
    // The rest of dbt's `NodeConfig` defaults: code reading `node.config.full_refresh is
    // none` (dbt_artifacts) needs `None`, not undefined.
    for key in [
        "alias",
        "schema",
        "database",
        "full_refresh",
        "unique_key",
        "incremental_strategy",
        "event_time",
        "group",
    ] {
        config.entry(key).or_insert(Json::Null);
    }
    for key in ["persist_docs", "quoting", "column_types", "grants"] {
        config.entry(key).or_insert_with(|| serde_json::json!({}));
    }
    config
        .entry("docs")
        .or_insert_with(|| serde_json::json!({"show": true, "node_color": null}));
    // A data test's `TestConfig` defaults (elementary records them per test).
    if n.resource_type == ResourceType::Test && n.test.as_ref().is_some_and(|t| t.unit.is_none()) {
        for (key, value) in [
            ("severity", Json::from("ERROR")),
            ("warn_if", Json::from("!= 0")),
            ("error_if", Json::from("!= 0")),
            ("fail_calc", Json::from("count(*)")),
            ("store_failures", Json::Null),
            ("where", Json::Null),
            ("limit", Json::Null),
        ] {
            config.entry(key).or_insert(value);
        }
    }
    let path = node_path(m, n);
    // A generic test's arguments as dbt records them: with the tested `model` (and
    // `column_name`) it adds to the ones written.
    let test_kwargs = n.test.as_ref().map(|t| {
        let mut kwargs = t.kwargs.clone();
        if let Some(c) = &t.column_name {
            kwargs
                .entry("column_name")
                .or_insert_with(|| Json::from(c.clone()));
        }
        let tested = t.attached_node.as_deref().and_then(|id| {
            if let Some(s) = m.sources.get(id) {
                return Some(format!("source('{}', '{}')", s.source_name, s.name));
            }
            m.nodes.get(id).map(|a| format!("ref('{}')", a.name))
        });
        if let Some(tested) = tested {
            kwargs
                .entry("model")
                .or_insert_with(|| Json::from(format!("{{{{ get_where_subquery({tested}) }}}}")));
        }
        kwargs
    });
    let mut entry = serde_json::json!({
        "unique_id": n.unique_id,
        "name": n.name,
        "resource_type": n.resource_type.as_str(),
        "package_name": n.package_name,
        // Relative to the package's own folder, as dbt gives a package node's.
        "original_file_path": m.package_file_path(n),
        "path": path,
        "fqn": n.fqn,
        "config": config,
        "tags": n.tags,
        "description": description,
        "database": n.relation.database,
        "schema": n.relation.schema,
        "alias": n.relation.identifier,
        "identifier": n.relation.identifier,
        "columns": columns_shape(&n.columns),
        "depends_on": { "nodes": n.depends_on, "macros": n.parsed_macro_deps() },
        "version": n.version,
        "latest_version": n.latest_version,
        "meta": n.config.get("meta").cloned().unwrap_or_else(|| serde_json::json!({})),
        // dbt-codegen rewrites a model from its source text.
        "raw_code": n.raw_code,
        "checksum": {"name": checksum.0, "checksum": checksum.1},
        "language": "sql",
        "access": n.config.get("access").cloned().unwrap_or_else(|| Json::from(
            if n.resource_type == ResourceType::Model { "protected" } else { "" }
        )),
        "group": n.group(),
        "contract": {
            "enforced": n.contract_enforced(),
        },
        "deprecation_date": n.deprecation_date,
        "time_spine": n.time_spine,
        "constraints": constraints_shape(&n.constraints, true),
        "metrics": [],
        "doc_blocks": [],
        "column_name": n.test.as_ref().and_then(|t| t.column_name.clone()),
        "attached_node": n.test.as_ref().and_then(|t| t.attached_node.clone()),
        "test_metadata": n.test.as_ref().and_then(|t| t.generic.as_ref().map(|g| serde_json::json!({
            "name": g.rsplit('.').next().unwrap_or(g),
            "namespace": g.split_once('.').map(|(ns, _)| ns),
            "kwargs": test_kwargs,
        }))),
    });
    drop_absent_keys(n, &mut entry);
    entry
}

impl Manifest {
    /// Sets dbt's `invocation_id` for every later render (the run's id, which
    /// `run_results.json` carries too).
    pub fn set_invocation_id(&mut self, invocation_id: &str) {
        self.jinja
            .set_global("invocation_id", &Json::from(invocation_id));
    }

    /// dbt's `flags` for the command this manifest serves (`flags.WHICH` is what
    /// packages test to tell `dvt test` from `dvt run`), from the load on.
    pub fn set_flags(&mut self, which: &str, full_refresh: bool) {
        self.jinja.set_global(
            "flags",
            &serde_json::json!({
                "FULL_REFRESH": full_refresh,
                "STORE_FAILURES": false,
                "WHICH": which,
            }),
        );
    }

    /// The node `unique_id` as dbt's `graph.nodes` holds it.
    pub fn graph_node(&self, unique_id: &str) -> Option<Json> {
        // A node added after the load (`compile --inline`) is built now.
        match self.graph_nodes.get(unique_id) {
            Some(j) => Some(j.clone()),
            None => self.nodes.get(unique_id).map(|n| graph_node(self, n)),
        }
    }
}

/// dbt's `graph` variable: every node and source with its resolved config, relation and
/// rendered description, for models that inspect the project (`graph.nodes.values()`).
fn graph_context(m: &Manifest) -> Json {
    let mut nodes = serde_json::Map::new();
    let mut functions = serde_json::Map::new();
    for n in m.nodes.values() {
        // dbt keeps functions beside the nodes, under `graph.functions`.
        let into = if n.resource_type == ResourceType::Function {
            &mut functions
        } else {
            &mut nodes
        };
        into.insert(n.unique_id.clone(), graph_node(m, n));
    }
    let mut sources = serde_json::Map::new();
    for s in m.sources.values() {
        sources.insert(s.unique_id.clone(), {
            let loaded_at_field = s.freshness.as_ref().and_then(|f| f.loaded_at_field.clone());
            let freshness = s.freshness.as_ref().map(|f| {
                let age = |a: Option<crate::manifest::FreshnessAge>| {
                    a.map(|a| serde_json::json!({"count": a.count, "period": a.period}))
                };
                serde_json::json!({
                    "warn_after": age(f.warn_after),
                    "error_after": age(f.error_after),
                    "filter": f.filter,
                })
            });
            serde_json::json!({
                "unique_id": s.unique_id,
                "name": s.name,
                "source_name": s.source_name,
                "resource_type": "source",
                "package_name": s.package_name,
                "original_file_path": m.package_relative(&s.package_name, &s.original_file_path),
                "path": m.package_relative(&s.package_name, &s.original_file_path),
                "fqn": s.fqn,
                "database": s.relation.database,
                "schema": s.relation.schema,
                "identifier": s.relation.identifier,
                "description": s.description,
                "source_description": s.source_description,
                "columns": columns_shape(&s.columns),
                "loaded_at_field": loaded_at_field,
                "freshness": freshness,
                "loader": "",
                "meta": {},
                "tags": s.tags,
                "config": {
                    "enabled": true,
                    "freshness": freshness,
                    "loaded_at_field": loaded_at_field,
                },
                "relation_name": m.target(&s.connection).dialect().render(&s.relation),
            })
        });
    }
    let exposures: serde_json::Map<String, Json> = m
        .exposures
        .values()
        .map(|e| {
            let mut j = e.to_json(m);
            j["path"] = Json::from(below_resource_folder(&e.original_file_path));
            (e.unique_id.clone(), j)
        })
        .collect();
    serde_json::json!({
        "nodes": nodes,
        "sources": sources,
        "functions": functions,
        "exposures": exposures,
        "metrics": m.semantic_json("metric"),
        "semantic_models": m.semantic_json("semantic_model"),
        "saved_queries": m.semantic_json("saved_query"),
        "groups": m.groups,
    })
}

/// Columns as dbt's manifest and `graph` show them: every field of its `ColumnInfo`
/// (what is written kept), without the tests declared on them.
pub(crate) fn columns_shape(columns: &serde_json::Map<String, Json>) -> Json {
    let shaped = columns.iter().map(|(name, col)| {
        let mut out = col.as_object().cloned().unwrap_or_default();
        out.remove("data_tests");
        out.remove("tests");
        out.entry("name")
            .or_insert_with(|| Json::from(name.clone()));
        for (key, default) in [
            ("description", Json::from("")),
            ("meta", serde_json::json!({})),
            ("data_type", Json::Null),
            ("constraints", serde_json::json!([])),
            ("quote", Json::Null),
            ("tags", serde_json::json!([])),
            ("granularity", Json::Null),
            ("doc_blocks", serde_json::json!([])),
        ] {
            out.entry(key).or_insert(default);
        }
        let config = serde_json::json!({"meta": out["meta"].clone(), "tags": out["tags"].clone()});
        out.entry("config").or_insert(config);
        if let Some(Json::Array(constraints)) = out.get_mut("constraints") {
            *constraints = constraints_shape(constraints, false);
        }
        (name.clone(), Json::Object(out))
    });
    Json::Object(shaped.collect())
}

/// Constraints with every field of dbt's `ColumnLevelConstraint` (or, for a model's own,
/// `ModelLevelConstraint`: with `columns`), in its order.
pub(crate) fn constraints_shape(constraints: &[Json], model_level: bool) -> Vec<Json> {
    constraints
        .iter()
        .map(|c| {
            let Json::Object(given) = c else {
                return c.clone();
            };
            let mut given = given.clone();
            let mut full = serde_json::Map::new();
            for (key, default) in [
                ("type", Json::Null),
                ("name", Json::Null),
                ("expression", Json::Null),
                ("warn_unenforced", Json::Bool(true)),
                ("warn_unsupported", Json::Bool(true)),
                ("to", Json::Null),
                ("to_columns", serde_json::json!([])),
            ] {
                full.insert(key.into(), given.remove(key).unwrap_or(default));
            }
            if model_level {
                full.insert(
                    "columns".into(),
                    given
                        .remove("columns")
                        .unwrap_or_else(|| serde_json::json!([])),
                );
            }
            full.extend(given);
            Json::Object(full)
        })
        .collect()
}

/// dbt's warning about the constraints of a contracted model whose materialization builds
/// no table (UnsupportedConstraintMaterialization): they are ignored. A constraint with
/// `warn_unsupported: false` is quiet, as in dbt. (dbt's other warning, a type the
/// database does not enforce, has no case on DVT's databases: see `crate::constraints`.)
fn constraint_warnings(m: &Manifest) -> Vec<crate::manifest::Warning> {
    let mut out = Vec::new();
    for n in m.nodes.values() {
        let enforced = n.resource_type == ResourceType::Model && n.contract_enforced();
        let builds = matches!(
            n.materialized,
            crate::manifest::Materialization::Table | crate::manifest::Materialization::Incremental
        );
        if !enforced || builds {
            continue;
        }
        let warned = crate::constraints::all(&n.constraints, &n.columns)
            .any(|c| c.get("warn_unsupported").and_then(Json::as_bool) != Some(false));
        if warned {
            let file = n.patch_path.as_ref().unwrap_or(&n.original_file_path);
            out.push(crate::manifest::Warning {
                code: "DVT010",
                message: format!(
                    "{}: constraints are not supported for {} materializations and will be ignored (model `{}`); set `warn_unsupported: false` on a constraint to silence this",
                    file.display(),
                    n.materialized.as_str(),
                    n.name
                ),
            });
        }
    }
    out
}

/// dbt's warnings about deprecated models: one for each model past its
/// `deprecation_date`, one for each node that reads such a model.
fn deprecations(nodes: &BTreeMap<String, Node>, warnings: &mut Vec<crate::manifest::Warning>) {
    let now = chrono::Utc::now();
    let past = |n: &Node| {
        n.deprecation_date
            .as_deref()
            .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
            .filter(|d| *d < now)
            .map(|_| n.deprecation_date.clone().unwrap_or_default())
    };
    for n in nodes.values() {
        if let Some(date) = past(n) {
            warnings.push(crate::manifest::Warning {
                code: "DVT008",
                message: format!(
                    "Model {} has passed its deprecation date of {date}. This model should be disabled or removed.",
                    n.unique_id
                ),
            });
        }
    }
    for n in nodes.values() {
        for dep in &n.depends_on {
            if let Some(date) = nodes.get(dep).and_then(past) {
                warnings.push(crate::manifest::Warning {
                    code: "DVT008",
                    message: format!(
                        "While compiling '{}': Found a reference to {dep}, which was deprecated on '{date}'.",
                        n.name
                    ),
                });
            }
        }
    }
}

/// dbt's `path` of a node: its file below its resource folder; a generic test's is its
/// name, an analysis's is under `analysis/` (dbt's folder for compiling it).
pub(crate) fn node_path(m: &Manifest, n: &Node) -> String {
    match n.test.as_ref() {
        Some(t) if t.generic.is_some() => format!("{}.sql", n.name),
        _ if n.resource_type == ResourceType::Analysis => {
            format!("analysis/{}", below_resource_folder(m.package_file_path(n)))
        }
        _ => below_resource_folder(m.package_file_path(n)),
    }
}

/// A file below the resource folder it was found in (`models/staging/a.sql` is
/// `staging/a.sql`).
pub(crate) fn below_resource_folder(file: &Path) -> String {
    let mut parts = file.components();
    parts.next();
    parts.as_path().display().to_string()
}

/// A project-relative file's text.
pub(crate) fn read(root: &Path, file: &Path) -> Result<String> {
    read_to_string(&root.join(file))
}

/// Renders every string of a `dbt_project.yml` subtree that holds Jinja, in place, except
/// hooks (`pre-hook`, `post-hook`), which render when they run. A rendered `true`/`false`
/// becomes a boolean, as dbt's YAML renderer does for `+enabled: "{{ ... }}"`.
fn render_tree(jinja: &JinjaEnv, value: &mut Json, ctx: &Json, loc: &Location) -> Result<()> {
    match value {
        Json::String(text) if text.contains("{{") || text.contains("{%") => {
            let out = jinja.render_snippet(text, ctx, loc)?;
            *value = match out.trim() {
                "True" | "true" => Json::Bool(true),
                "False" | "false" => Json::Bool(false),
                other => Json::String(other.to_owned()),
            };
        }
        Json::Array(items) => {
            for item in items {
                render_tree(jinja, item, ctx, loc)?;
            }
        }
        Json::Object(map) => {
            for (k, v) in map.iter_mut() {
                let key = k.trim_start_matches('+');
                if matches!(key, "pre-hook" | "post-hook" | "pre_hook" | "post_hook") {
                    continue;
                }
                render_tree(jinja, v, ctx, loc)?;
            }
        }
        _ => {}
    }
    Ok(())
}
