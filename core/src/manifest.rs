//! The manifest: every node of the project, parsed, configured and routed.
//!
//! Loading follows dbt's phases: read the project and profile, parse macros and
//! property YAML, render every model once in the parse phase to learn its `ref`s,
//! `source`s and `config`, then resolve targets and relations, build the DAG and pick
//! each model's execution path (DVT's routing, in [`crate::resolve`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value as Json};

use crate::dialect::{Dialect, Relation};
use crate::error::{Error, Location, Result, read_to_string};
use crate::graph::Graph;
use crate::jinja::{
    CompileRelations, JinjaEnv, JinjaRelation, Phase, Recorded, RefCall, RenderInput,
};
use crate::profile::{Profile, ProfileLookup};
use crate::project::{ProjectConfig, as_string_list, merge_config};
use crate::resolve::{self, ExecPath};
use crate::target::TargetConfig;
use crate::yaml::{
    self,
    PathSeg::{Index, Key},
};

/// The kind of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceType {
    /// A SQL model.
    Model,
    /// A CSV seed.
    Seed,
}

impl ResourceType {
    /// dbt's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Model => "model",
            ResourceType::Seed => "seed",
        }
    }
}

/// How a model is materialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Materialization {
    /// `table`.
    Table,
    /// `view`.
    View,
    /// `ephemeral`: not built; inlined as a CTE into the models that read it.
    Ephemeral,
    /// `seed` (seeds only).
    Seed,
}

impl Materialization {
    /// dbt's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Materialization::Table => "table",
            Materialization::View => "view",
            Materialization::Ephemeral => "ephemeral",
            Materialization::Seed => "seed",
        }
    }
}

/// A coded warning found while loading (printed by the CLI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// `DVT001`, ...
    pub code: &'static str,
    /// The message.
    pub message: String,
}

/// A model or seed.
#[derive(Debug, Clone)]
pub struct Node {
    /// `model.<project>.<name>` or `seed.<project>.<name>`.
    pub unique_id: String,
    /// Model or seed.
    pub resource_type: ResourceType,
    /// Name (file stem).
    pub name: String,
    /// Project name.
    pub package_name: String,
    /// File relative to the project folder.
    pub original_file_path: PathBuf,
    /// Project, folders, name.
    pub fqn: Vec<String>,
    /// Raw SQL (models) or empty (seeds).
    pub raw_code: String,
    /// Merged config (project folders < property YAML < `config()`).
    pub config: Map<String, Json>,
    /// The materialization actually used (after DVT001 adjustments).
    pub materialized: Materialization,
    /// Tags.
    pub tags: Vec<String>,
    /// Description from property YAML.
    pub description: String,
    /// Columns from property YAML (name -> properties).
    pub columns: Map<String, Json>,
    /// The property YAML file describing the node, if any.
    pub patch_path: Option<PathBuf>,
    /// `ref()` calls.
    pub refs: Vec<RefCall>,
    /// `source()` calls.
    pub sources: Vec<(String, String)>,
    /// Unique ids this node depends on (nodes and sources), sorted.
    pub depends_on: Vec<String>,
    /// The resolved target.
    pub target: String,
    /// Where the node materializes.
    pub relation: Relation,
    /// How the node executes.
    pub path: ExecPath,
}

impl Node {
    /// The seed options from this node's config (`delimiter`, `column_types`).
    pub fn seed_options(&self) -> crate::seed::SeedOptions {
        let mut opts = crate::seed::SeedOptions::default();
        if let Some(Json::String(d)) = self.config.get("delimiter")
            && let Some(b) = d.as_bytes().first()
        {
            opts.delimiter = *b;
        }
        if let Some(Json::Object(types)) = self.config.get("column_types") {
            for (k, v) in types {
                if let Some(t) = v.as_str() {
                    opts.column_types.insert(k.clone(), t.to_owned());
                }
            }
        }
        opts
    }
}

/// A table of a declared source.
#[derive(Debug, Clone)]
pub struct SourceTable {
    /// `source.<project>.<source>.<table>`.
    pub unique_id: String,
    /// Source name.
    pub source_name: String,
    /// Table name.
    pub name: String,
    /// The remote relation.
    pub relation: Relation,
    /// The target the source lives on.
    pub connection: String,
    /// The YAML file declaring it.
    pub original_file_path: PathBuf,
    /// Description.
    pub description: String,
}

/// Options for [`Manifest::load`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The project folder.
    pub project_dir: PathBuf,
    /// Where `profiles.yml` is looked up.
    pub profiles: ProfileLookup,
    /// `--target`: forces every node onto this target.
    pub target: Option<String>,
    /// `--vars`.
    pub vars: Map<String, Json>,
}

/// The parsed project.
#[derive(Debug)]
pub struct Manifest {
    /// The project file.
    pub project: ProjectConfig,
    /// The active profile.
    pub profile: Profile,
    /// `--target`, if given.
    pub target_override: Option<String>,
    /// The target used when nothing else says: `--target`, else the profile's.
    pub default_target: String,
    /// Models and seeds by unique id.
    pub nodes: BTreeMap<String, Node>,
    /// Source tables by unique id.
    pub sources: BTreeMap<String, SourceTable>,
    /// The DAG.
    pub graph: Graph,
    /// Warnings found while loading, in order.
    pub warnings: Vec<Warning>,
    /// Project macros: name -> (file, line).
    pub macros: BTreeMap<String, (PathBuf, usize)>,
    pub(crate) jinja: JinjaEnv,
}

/// A node compiled for its target and path.
#[derive(Debug, Clone)]
pub struct CompiledNode {
    /// The SQL: target dialect (pushdown) or engine SQL with three-part names (federated).
    pub sql: String,
    /// Remote relations a federated node reads: (target, relation).
    pub inputs: Vec<(String, Relation)>,
    /// `log()` messages.
    pub logs: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct PropertyFile {
    #[serde(default)]
    models: Vec<NodeProps>,
    #[serde(default)]
    seeds: Vec<NodeProps>,
    #[serde(default)]
    sources: Vec<SourceProps>,
}

#[derive(Debug, Default, Deserialize)]
struct NodeProps {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    config: Map<String, Json>,
    #[serde(default)]
    columns: Vec<Json>,
}

#[derive(Debug, Default, Deserialize)]
struct SourceProps {
    name: String,
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    database: Option<String>,
    #[serde(default)]
    connection: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tables: Vec<SourceTableProps>,
}

#[derive(Debug, Default, Deserialize)]
struct SourceTableProps {
    name: String,
    #[serde(default)]
    identifier: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

struct Props {
    node: NodeProps,
    file: PathBuf,
}

impl Manifest {
    /// Loads and parses the project.
    pub fn load(opts: &LoadOptions) -> Result<Manifest> {
        let project = ProjectConfig::load(&opts.project_dir)?;
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
        let mut vars = project.vars.clone();
        vars.extend(opts.vars.clone());

        let mut macro_files = Vec::new();
        for dir in &project.macro_paths {
            for file in walk(&root, dir, &["sql"])? {
                let text = read_to_string(&root.join(&file))?;
                macro_files.push((file, text));
            }
        }
        let mut jinja = JinjaEnv::new(&macro_files, vars)?;
        let macros = jinja.macros().clone();

        let mut warnings = Vec::new();
        let mut model_props: BTreeMap<String, Props> = BTreeMap::new();
        let mut seed_props: BTreeMap<String, Props> = BTreeMap::new();
        let mut sources: BTreeMap<String, SourceTable> = BTreeMap::new();
        let mut source_connections: BTreeMap<String, (String, PathBuf)> = BTreeMap::new();
        let yaml_dirs: Vec<&String> = project
            .model_paths
            .iter()
            .chain(&project.seed_paths)
            .collect();
        for dir in yaml_dirs {
            for file in walk(&root, dir, &["yml", "yaml"])? {
                let text = read_to_string(&root.join(&file))?;
                let (props, tree): (Option<PropertyFile>, yaml::Yaml) =
                    yaml::from_yaml_with_tree(&file, &text)?;
                let props = props.unwrap_or_default();
                for m in props.models {
                    model_props.insert(
                        m.name.clone(),
                        Props {
                            node: m,
                            file: file.clone(),
                        },
                    );
                }
                for s in props.seeds {
                    seed_props.insert(
                        s.name.clone(),
                        Props {
                            node: s,
                            file: file.clone(),
                        },
                    );
                }
                for (i, src) in props.sources.into_iter().enumerate() {
                    let loc = tree.locate(&file, &[Key("sources"), Index(i), Key("name")]);
                    let connection = match &src.connection {
                        Some(c) => {
                            profile.check_target(c, loc.clone())?;
                            c.clone()
                        }
                        None => {
                            if profile.outputs.len() > 1 {
                                warnings.push(Warning {
                                    code: "DVT002",
                                    message: format!(
                                        "{loc}: source `{}` has no `connection:`; reading it from the default target `{default_target}`",
                                        src.name
                                    ),
                                });
                            }
                            default_target.clone()
                        }
                    };
                    if let Some((first, _)) = source_connections.get(&src.name)
                        && *first != connection
                    {
                        return Err(Error::ConflictingSourceConnection {
                            location: loc,
                            source_name: src.name.clone(),
                            first: first.clone(),
                            second: connection,
                        });
                    }
                    source_connections.insert(src.name.clone(), (connection.clone(), file.clone()));
                    let target = &profile.outputs[&connection];
                    // dbt renders Jinja in source properties (`schema: "{{ env_var(..) }}"`).
                    let ctx =
                        serde_json::json!({ "target": target_context(&profile, &connection) });
                    let render =
                        |v: Option<&String>, at: &[yaml::PathSeg<'_>]| -> Result<Option<String>> {
                            match v {
                                Some(raw) if raw.contains("{{") || raw.contains("{%") => {
                                    let at = tree.locate(&file, at);
                                    jinja.render_snippet(raw, &ctx, &at).map(Some)
                                }
                                other => Ok(other.cloned()),
                            }
                        };
                    let schema = match target.dialect() {
                        Dialect::Sqlite => "main".to_owned(),
                        _ => render(
                            src.schema.as_ref(),
                            &[Key("sources"), Index(i), Key("schema")],
                        )?
                        .unwrap_or_else(|| src.name.clone()),
                    };
                    let database = render(
                        src.database.as_ref(),
                        &[Key("sources"), Index(i), Key("database")],
                    )?;
                    for (j, t) in src.tables.into_iter().enumerate() {
                        let identifier = render(
                            t.identifier.as_ref(),
                            &[
                                Key("sources"),
                                Index(i),
                                Key("tables"),
                                Index(j),
                                Key("identifier"),
                            ],
                        )?;
                        let unique_id = format!("source.{}.{}.{}", project.name, src.name, t.name);
                        sources.insert(
                            unique_id.clone(),
                            SourceTable {
                                unique_id,
                                source_name: src.name.clone(),
                                relation: Relation {
                                    database: database.clone(),
                                    schema: schema.clone(),
                                    identifier: identifier.unwrap_or_else(|| t.name.clone()),
                                },
                                name: t.name,
                                connection: connection.clone(),
                                original_file_path: file.clone(),
                                description: t
                                    .description
                                    .or(src.description.clone())
                                    .unwrap_or_default(),
                            },
                        );
                    }
                }
            }
        }

        let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
        let mut by_name: BTreeMap<String, String> = BTreeMap::new();
        for dir in &project.model_paths {
            for file in walk(&root, dir, &["sql"])? {
                let text = read_to_string(&root.join(&file))?;
                let name = stem(&file);
                let fqn = fqn(&project.name, dir, &file);
                let unique_id = format!("model.{}.{name}", project.name);
                if let Some(other) = nodes.get(&unique_id) {
                    return Err(Error::DuplicateNode {
                        location: Location::file(&file),
                        kind: "model",
                        name,
                        other: other.original_file_path.clone(),
                    });
                }
                jinja.add_node_template(&file, &text)?;
                let mut config = project.folder_config(&project.models, &fqn);
                let props = model_props.remove(&name);
                if let Some(p) = &props {
                    for (k, v) in &p.node.config {
                        merge_config(&mut config, k, v.clone());
                    }
                }
                let recorded = parse_render(&jinja, &file, &name, &unique_id)?;
                for (k, v) in recorded.config {
                    merge_config(&mut config, &k, v);
                }
                if config.get("enabled") == Some(&Json::Bool(false)) {
                    continue;
                }
                by_name.insert(name.clone(), unique_id.clone());
                nodes.insert(
                    unique_id.clone(),
                    new_node(
                        unique_id,
                        ResourceType::Model,
                        name,
                        &project.name,
                        file,
                        fqn,
                        text,
                        config,
                        props,
                        recorded.refs,
                        recorded.sources,
                    ),
                );
            }
        }
        for dir in &project.seed_paths {
            for file in walk(&root, dir, &["csv"])? {
                let name = stem(&file);
                let fqn = fqn(&project.name, dir, &file);
                let unique_id = format!("seed.{}.{name}", project.name);
                if let Some(other_id) = by_name.get(&name) {
                    return Err(Error::DuplicateNode {
                        location: Location::file(&file),
                        kind: "seed",
                        name,
                        other: nodes[other_id].original_file_path.clone(),
                    });
                }
                let mut config = project.folder_config(&project.seeds, &fqn);
                let props = seed_props.remove(&name);
                if let Some(p) = &props {
                    for (k, v) in &p.node.config {
                        merge_config(&mut config, k, v.clone());
                    }
                }
                if config.get("enabled") == Some(&Json::Bool(false)) {
                    continue;
                }
                by_name.insert(name.clone(), unique_id.clone());
                nodes.insert(
                    unique_id.clone(),
                    new_node(
                        unique_id,
                        ResourceType::Seed,
                        name,
                        &project.name,
                        file,
                        fqn,
                        String::new(),
                        config,
                        props,
                        Vec::new(),
                        Vec::new(),
                    ),
                );
            }
        }

        // Dependencies: refs to nodes, sources to source tables.
        let source_ids = source_ids(&sources);
        for node in nodes.values_mut() {
            resolve_deps(node, &by_name, &source_ids)?;
        }
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

        let mut manifest = Manifest {
            project,
            profile,
            target_override: opts.target.clone(),
            default_target,
            nodes,
            sources,
            graph,
            warnings,
            macros,
            jinja,
        };
        resolve::resolve(&mut manifest)?;
        Ok(manifest)
    }

    /// The configuration of a target (must exist: targets are validated at load).
    pub fn target(&self, name: &str) -> &TargetConfig {
        &self.profile.outputs[name]
    }

    /// The node or source table behind a unique id: its target and relation.
    pub fn relation_of(&self, unique_id: &str) -> Option<(&str, &Relation)> {
        if let Some(n) = self.nodes.get(unique_id) {
            return Some((&n.target, &n.relation));
        }
        self.sources
            .get(unique_id)
            .map(|s| (s.connection.as_str(), &s.relation))
    }

    /// Compiles a node for its target and execution path.
    ///
    /// `ref()`s to ephemeral models render as `__dbt__cte__<name>` and their SQL,
    /// compiled for this node's target and path, is prepended as CTEs (dependencies
    /// first), as dbt does; on the federated path the ephemeral model's inputs become
    /// this node's inputs, so it is inlined into the federated plan.
    pub fn compile(&self, unique_id: &str) -> Result<CompiledNode> {
        let host = &self.nodes[unique_id];
        let mut ctes: Vec<(String, String)> = Vec::new();
        let mut inputs = Vec::new();
        let mut logs = Vec::new();
        let sql = self.compile_for(unique_id, host, &mut ctes, &mut inputs, &mut logs, 0)?;
        Ok(CompiledNode {
            sql: with_ctes(&sql, &ctes),
            inputs,
            logs,
        })
    }

    /// Renders `unique_id` as part of `host` (itself, or an ephemeral model it reads).
    fn compile_for(
        &self,
        unique_id: &str,
        host: &Node,
        ctes: &mut Vec<(String, String)>,
        inputs: &mut Vec<(String, Relation)>,
        logs: &mut Vec<String>,
        depth: usize,
    ) -> Result<String> {
        let node = &self.nodes[unique_id];
        if depth > 64 {
            return Err(Error::Routing {
                location: Location::file(&node.original_file_path),
                message: "ephemeral models nest more than 64 deep".into(),
            });
        }
        let target = self.target(&host.target);
        let mut relations = CompileRelations::default();
        for dep in &node.depends_on {
            if let Some(e) = self.nodes.get(dep)
                && e.materialized == Materialization::Ephemeral
            {
                let name = format!("__dbt__cte__{}", e.name);
                if !ctes.iter().any(|(n, _)| *n == name) {
                    let sql = self.compile_for(dep, host, ctes, inputs, logs, depth + 1)?;
                    ctes.push((name.clone(), sql));
                }
                relations.refs.insert(
                    e.name.clone(),
                    JinjaRelation {
                        database: String::new(),
                        schema: String::new(),
                        identifier: name.clone(),
                        rendered: name,
                    },
                );
                continue;
            }
            let Some((dep_target, rel)) = self.relation_of(dep) else {
                continue;
            };
            let rendered = match host.path {
                ExecPath::Federated => {
                    let input = (dep_target.to_owned(), rel.clone());
                    if !inputs.contains(&input) {
                        inputs.push(input);
                    }
                    format!(
                        "{}.{}.{}",
                        Dialect::Datafusion.quote(dep_target),
                        Dialect::Datafusion.quote(&rel.schema),
                        Dialect::Datafusion.quote(&rel.identifier)
                    )
                }
                ExecPath::Pushdown => target.dialect().render(rel),
            };
            let jr = JinjaRelation {
                database: rel
                    .database
                    .clone()
                    .unwrap_or_else(|| self.target(dep_target).database()),
                schema: rel.schema.clone(),
                identifier: rel.identifier.clone(),
                rendered,
            };
            if let Some(n) = self.nodes.get(dep) {
                relations.refs.insert(n.name.clone(), jr);
            } else if let Some(s) = self.sources.get(dep) {
                relations
                    .sources
                    .insert((s.source_name.clone(), s.name.clone()), jr);
            }
        }
        let this = JinjaRelation {
            database: target.database(),
            schema: node.relation.schema.clone(),
            identifier: node.relation.identifier.clone(),
            rendered: target.dialect().render(&node.relation),
        };
        let (sql, recorded) = self.jinja.render(RenderInput {
            phase: Phase::Compile,
            template: node.original_file_path.display().to_string(),
            file: node.original_file_path.clone(),
            this,
            target: self.target_context(&host.target),
            model: serde_json::json!({
                "name": node.name,
                "unique_id": node.unique_id,
                "config": node.config,
                "original_file_path": node.original_file_path,
            }),
            relations,
        })?;
        logs.extend(recorded.logs);
        Ok(sql.trim().trim_end_matches(';').trim_end().to_owned())
    }

    /// The targets a model really reads from: its inputs' targets, looking through
    /// ephemeral models to what they read.
    pub fn input_targets(&self, unique_id: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut stack = vec![unique_id.to_owned()];
        let mut seen = BTreeSet::new();
        while let Some(id) = stack.pop() {
            let Some(node) = self.nodes.get(&id) else {
                continue;
            };
            for dep in &node.depends_on {
                match self.nodes.get(dep) {
                    Some(e) if e.materialized == Materialization::Ephemeral => {
                        if seen.insert(dep.clone()) {
                            stack.push(dep.clone());
                        }
                    }
                    _ => {
                        if let Some((t, _)) = self.relation_of(dep) {
                            out.insert(t.to_owned());
                        }
                    }
                }
            }
        }
        out
    }

    /// `target` as Jinja sees it for a node on `name`.
    pub fn target_context(&self, name: &str) -> Json {
        target_context(&self.profile, name)
    }

    /// Adds an ad-hoc model (`dvt show --inline`) and returns its unique id. It is routed
    /// like any model: pushed down when its inputs share a target, else federated.
    pub fn add_inline(&mut self, sql: &str) -> Result<String> {
        let name = "inline_query".to_owned();
        let file = PathBuf::from("<inline>");
        let unique_id = format!("sql_operation.{}.{name}", self.project.name);
        self.jinja.add_node_template(&file, sql)?;
        let recorded = parse_render(&self.jinja, &file, &name, &unique_id)?;
        let fqn = vec![self.project.name.clone(), name.clone()];
        let mut node = new_node(
            unique_id.clone(),
            ResourceType::Model,
            name,
            &self.project.name,
            file,
            fqn,
            sql.to_owned(),
            recorded.config,
            None,
            recorded.refs,
            recorded.sources,
        );
        node.config
            .insert("materialized".into(), Json::from("table"));
        let by_name: BTreeMap<String, String> = self
            .nodes
            .values()
            .map(|n| (n.name.clone(), n.unique_id.clone()))
            .collect();
        resolve_deps(&mut node, &by_name, &source_ids(&self.sources))?;
        self.nodes.insert(unique_id.clone(), node);
        resolve::resolve_target(self, &unique_id)?;
        resolve::resolve_path(self, &unique_id);
        Ok(unique_id)
    }

    /// Absolute path of a project-relative file.
    pub fn path(&self, rel: &Path) -> PathBuf {
        self.project.root.join(rel)
    }
}

/// Prepends CTEs to a query, merging them into its own `WITH` when it has one.
fn with_ctes(sql: &str, ctes: &[(String, String)]) -> String {
    if ctes.is_empty() {
        return sql.to_owned();
    }
    let defs = ctes
        .iter()
        .map(|(name, body)| format!("{name} as (\n{body}\n)"))
        .collect::<Vec<_>>()
        .join(",\n");
    let lower = sql.trim_start().to_ascii_lowercase();
    let body = sql.trim_start();
    if lower.starts_with("with recursive ") {
        format!(
            "with recursive {defs},\n{}",
            &body["with recursive ".len()..]
        )
    } else if lower.starts_with("with ") || lower.starts_with("with\n") {
        format!("with {defs},\n{}", &body[5..])
    } else {
        format!("with {defs}\n{body}")
    }
}

/// `target` as Jinja sees it for a node on output `name` of `profile`.
fn target_context(profile: &Profile, name: &str) -> Json {
    let t = &profile.outputs[name];
    let mut m = Map::new();
    for (k, v) in &t.extra {
        m.insert(k.clone(), Json::String(v.clone()));
    }
    m.insert("name".into(), Json::from(t.name.clone()));
    m.insert("target_name".into(), Json::from(t.name.clone()));
    m.insert("schema".into(), Json::from(t.schema.clone()));
    m.insert("type".into(), Json::from(t.adapter_type().name()));
    m.insert("database".into(), Json::from(t.database()));
    m.insert("profile_name".into(), Json::from(profile.name.clone()));
    m.insert("threads".into(), Json::from(t.threads.unwrap_or(1)));
    Json::Object(m)
}

/// Renders a model in the parse phase (placeholder relations, `execute = false`) to
/// learn its `ref`s, `source`s and `config()`.
fn parse_render(jinja: &JinjaEnv, file: &Path, name: &str, unique_id: &str) -> Result<Recorded> {
    let (_, recorded) = jinja.render(RenderInput {
        phase: Phase::Parse,
        template: file.display().to_string(),
        file: file.to_path_buf(),
        this: JinjaRelation {
            database: String::new(),
            schema: String::new(),
            identifier: name.to_owned(),
            rendered: "__dvt_this__".into(),
        },
        target: Json::Object(Map::new()),
        model: serde_json::json!({"name": name, "unique_id": unique_id}),
        relations: CompileRelations::default(),
    })?;
    Ok(recorded)
}

/// Source tables by (source, table) name.
fn source_ids(sources: &BTreeMap<String, SourceTable>) -> BTreeMap<(String, String), String> {
    sources
        .values()
        .map(|s| ((s.source_name.clone(), s.name.clone()), s.unique_id.clone()))
        .collect()
}

/// Turns a node's `ref` and `source` calls into the unique ids it depends on.
fn resolve_deps(
    node: &mut Node,
    by_name: &BTreeMap<String, String>,
    source_ids: &BTreeMap<(String, String), String>,
) -> Result<()> {
    let mut deps = BTreeSet::new();
    for r in &node.refs {
        let Some(id) = by_name.get(&r.name) else {
            return Err(Error::UnknownRef {
                location: Location::line(
                    &node.original_file_path,
                    call_line(&node.raw_code, "ref", &r.name),
                ),
                node: node.unique_id.clone(),
                name: r.name.clone(),
            });
        };
        deps.insert(id.clone());
    }
    for (s, t) in &node.sources {
        let Some(id) = source_ids.get(&(s.clone(), t.clone())) else {
            return Err(Error::UnknownSource {
                location: Location::line(
                    &node.original_file_path,
                    call_line(&node.raw_code, "source", t),
                ),
                node: node.unique_id.clone(),
                source_name: s.clone(),
                table: t.clone(),
            });
        };
        deps.insert(id.clone());
    }
    node.depends_on = deps.into_iter().collect();
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn new_node(
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
    let patch_path = props.as_ref().map(|p| p.file.clone());
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
        raw_code,
        config,
        materialized: match resource_type {
            ResourceType::Seed => Materialization::Seed,
            ResourceType::Model => Materialization::View,
        },
        tags,
        description,
        columns,
        patch_path,
        refs,
        sources,
        depends_on: Vec::new(),
        target: String::new(),
        relation: Relation::new("", ""),
        path: ExecPath::Pushdown,
    }
}

/// The line of the first `func(` call naming `arg` (1 when not found, e.g. in a macro).
fn call_line(raw: &str, func: &str, arg: &str) -> usize {
    let call = format!("{func}(");
    raw.lines()
        .position(|l| {
            l.contains(&call)
                && (l.contains(&format!("'{arg}'")) || l.contains(&format!("\"{arg}\"")))
        })
        .map(|i| i + 1)
        .unwrap_or(1)
}

fn stem(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `[project, folders below the resource path..., name]`.
fn fqn(project: &str, dir: &str, file: &Path) -> Vec<String> {
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
fn walk(root: &Path, dir: &str, exts: &[&str]) -> Result<Vec<PathBuf>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[(&str, &str)], vars: &str) -> Result<Manifest> {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        Manifest::load(&LoadOptions {
            project_dir: dir.path().to_path_buf(),
            profiles: ProfileLookup::default(),
            target: None,
            vars: crate::profile::parse_cli_vars(vars)?,
        })
    }

    const PROJECT: &str = "name: p\nprofile: p\n";
    const PROFILES: &str = "p:\n  target: pg\n  outputs:\n    pg: {type: postgres, host: h, user: u, dbname: d, schema: analytics}\n";

    #[test]
    fn generate_schema_name_override_and_jinja_in_source_properties() {
        let m = load(
            &[
                ("dbt_project.yml", PROJECT),
                ("profiles.yml", PROFILES),
                (
                    "macros/schema.sql",
                    "{% macro generate_schema_name(custom_schema_name, node) -%}\n{%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}\n{%- endmacro %}",
                ),
                (
                    "models/src.yml",
                    "version: 2\nsources:\n  - name: raw\n    schema: \"{{ var('src', 'landing') }}_{{ target.name }}\"\n    tables:\n      - name: t\n        identifier: \"t_{{ var('v', 1) }}\"\n",
                ),
                ("models/a.sql", "{{ config(schema='mart') }}select * from {{ source('raw', 't') }}"),
                ("models/b.sql", "select * from {{ ref('a') }}"),
            ],
            "{src: lake}",
        )
        .unwrap();
        assert_eq!(m.nodes["model.p.a"].relation.schema, "mart");
        assert_eq!(m.nodes["model.p.b"].relation.schema, "analytics");
        let s = &m.sources["source.p.raw.t"].relation;
        assert_eq!(
            (s.schema.as_str(), s.identifier.as_str()),
            ("lake_pg", "t_1")
        );
        let sql = m.compile("model.p.a").unwrap().sql;
        assert_eq!(sql, "select * from \"lake_pg\".\"t_1\"");
    }

    #[test]
    fn ephemeral_models_are_inlined_and_routed_through() {
        let profiles = "p:\n  target: pg\n  outputs:\n    pg: {type: postgres, host: h, user: u, dbname: d, schema: analytics}\n    my: {type: mysql, server: h, username: u, schema: shop}\n";
        let m = load(
            &[
                ("dbt_project.yml", PROJECT),
                ("profiles.yml", profiles),
                ("seeds/a.csv", "id\n1\n"),
                ("seeds/b.csv", "id\n1\n"),
                ("seeds/props.yml", "version: 2\nseeds:\n  - name: b\n    config: {target: my}\n"),
                ("models/e1.sql", "{{ config(materialized='ephemeral') }}select id from {{ ref('b') }};"),
                ("models/e2.sql", "{{ config(materialized='ephemeral') }}select e1.id from {{ ref('e1') }} e1 join {{ ref('a') }} a on a.id = e1.id"),
                ("models/e3.sql", "{{ config(materialized='ephemeral') }}select id from {{ ref('a') }}"),
                ("models/fed.sql", "select * from {{ ref('e2') }}"),
                ("models/push.sql", "with x as (select 1 as one) select * from x, {{ ref('e3') }}"),
            ],
            "",
        )
        .unwrap();
        assert_eq!(
            m.nodes["model.p.e1"].materialized,
            Materialization::Ephemeral
        );
        assert_eq!(m.nodes["model.p.fed"].path, ExecPath::Federated);
        assert_eq!(m.nodes["model.p.push"].path, ExecPath::Pushdown);
        let fed = m.compile("model.p.fed").unwrap();
        assert_eq!(
            fed.sql,
            "with __dbt__cte__e1 as (\nselect id from \"my\".\"shop\".\"b\"\n),\n__dbt__cte__e2 as (\nselect e1.id from __dbt__cte__e1 e1 join \"pg\".\"analytics\".\"a\" a on a.id = e1.id\n)\nselect * from __dbt__cte__e2"
        );
        let targets: Vec<&str> = fed.inputs.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(targets, ["my", "pg"]);
        let push = m.compile("model.p.push").unwrap();
        assert_eq!(
            push.sql,
            "with __dbt__cte__e3 as (\nselect id from \"analytics\".\"a\"\n),\nx as (select 1 as one) select * from x, __dbt__cte__e3"
        );
        assert!(push.inputs.is_empty());
    }

    #[test]
    fn default_schema_naming_appends_custom_schema() {
        let m = load(
            &[
                (
                    "dbt_project.yml",
                    "name: p\nprofile: p\nmodels:\n  p:\n    marts:\n      +schema: mart\n",
                ),
                ("profiles.yml", PROFILES),
                ("models/marts/a.sql", "select 1 as x"),
            ],
            "",
        )
        .unwrap();
        assert_eq!(m.nodes["model.p.a"].relation.schema, "analytics_mart");
    }

    #[test]
    fn missing_env_var_in_source_properties_names_the_line() {
        let err = load(
            &[
                ("dbt_project.yml", PROJECT),
                ("profiles.yml", PROFILES),
                (
                    "models/src.yml",
                    "version: 2\nsources:\n  - name: raw\n    schema: \"{{ env_var('DVT_TEST_SURELY_UNSET') }}\"\n    tables: [{name: t}]\n",
                ),
            ],
            "",
        )
        .unwrap_err();
        assert_eq!(err.code(), "DVT110");
        assert!(err.to_string().starts_with("models/src.yml:4"), "{err}");
    }
}
