//! dbt's compilation: a node's Jinja rendered with real relation names, `this`,
//! `target` and `model`, and ephemeral models inlined as `__dbt__cte__` CTEs. How each
//! input is named for the reading engine is DVT's ([`crate::resolve::render_input`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::dialect::{Dialect, Relation};
use crate::error::{Error, Location, Result};
use crate::jinja::{CompileRelations, InputHome, JinjaRelation, Phase, RenderInput};
use crate::manifest::{CompiledNode, Manifest, Materialization, Node, ResourceType, Warning};
use crate::parse::{new_node, parse_render, resolve_deps, source_ids};
use crate::resolve::{self, ExecPath};
use crate::sql;

mod unit;

pub use unit::fixture_rows;

/// The cache behind [`Manifest::sources_by_target`]: target (or `""` for the federated
/// engine) -> (source, table) -> the table as a node there names it.
pub(crate) type SourcesByTarget =
    std::sync::Mutex<BTreeMap<String, std::sync::Arc<BTreeMap<(String, String), JinjaRelation>>>>;

/// What the runner knows when it compiles a node, beyond the manifest.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CompileOptions {
    /// What `is_incremental()` answers.
    pub is_incremental: bool,
    /// A microbatch's `[start, end)`, rendered as SQL timestamps: every `ref()` to a
    /// model with an `event_time` config reads only the rows inside it, as dbt does.
    pub event_time_window: Option<(String, String)>,
    /// The database `run_query`, `statement` and the adapter's introspection use; `None`
    /// compiles without connecting (they answer as while parsing, or fail clearly).
    pub database: Option<std::sync::Arc<dyn crate::jinja::Database>>,
    /// Vars that win over the project's (a unit test's `overrides.vars`).
    pub vars: serde_json::Map<String, Json>,
    /// `--empty`: every `ref()` and `source()` reads no rows (dbt's
    /// `(select * from x where false limit 0)`), so a build checks the SQL and the
    /// schema without moving data.
    pub empty: bool,
    /// `--defer`: unbuilt parents missing on their target are read from the state's.
    pub defer: Option<std::sync::Arc<crate::manifest::Defer>>,
    /// Extra render values: a unit test's macro and `env_var` overrides
    /// ([`crate::jinja::MACRO_OVERRIDES`], [`crate::jinja::ENV_VAR_OVERRIDES`]).
    pub globals: serde_json::Map<String, Json>,
}

impl CompileOptions {
    /// Options for an incremental build (`is_incremental()` true or not).
    pub fn incremental(is_incremental: bool) -> Self {
        CompileOptions {
            is_incremental,
            event_time_window: None,
            database: None,
            vars: serde_json::Map::new(),
            empty: false,
            defer: None,
            globals: serde_json::Map::new(),
        }
    }
}

/// The DDL of a contracted model's constraints ([`Manifest::contract_constraints`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContractConstraints {
    /// By column: the constraints written after its type, in order.
    pub columns: BTreeMap<String, Vec<String>>,
    /// The table constraints, after the columns.
    pub table: Vec<crate::constraints::TableConstraint>,
}

impl Manifest {
    /// Compiles a node for its target and execution path, with `is_incremental()` false.
    pub fn compile(&self, unique_id: &str) -> Result<CompiledNode> {
        self.compile_with(unique_id, &CompileOptions::default())
    }

    /// Compiles a node for its target and execution path.
    ///
    /// `ref()`s to ephemeral models render as `__dbt__cte__<name>` and their SQL,
    /// compiled for this node's target and path, is prepended as CTEs (dependencies
    /// first), as dbt does; on the federated path the ephemeral model's inputs become
    /// this node's inputs, so it is inlined into the federated plan. When an
    /// incremental model reads its own relation (`{{ this }}`) on the federated path,
    /// that relation is an input too.
    pub fn compile_with(&self, unique_id: &str, opts: &CompileOptions) -> Result<CompiledNode> {
        let host = &self.nodes[unique_id];
        let mut ctes: Vec<(String, String)> = Vec::new();
        let mut inputs = Vec::new();
        let mut logs = Vec::new();
        if let Some(spec) = host.test.as_ref().and_then(|t| t.unit.as_ref()) {
            return self.compile_unit_test(host, spec, opts);
        }
        let no_fixtures = BTreeMap::new();
        let mut state = CompileState {
            ctes: &mut ctes,
            inputs: &mut inputs,
            logs: &mut logs,
            opts,
            fixtures: &no_fixtures,
        };
        let sql = self.compile_for(unique_id, host, &mut state, 0)?;
        let dialect = match host.path {
            ExecPath::Federated => Dialect::Datafusion,
            ExecPath::Pushdown => self.target(&host.target).dialect(),
        };
        let sql = sql::inject_ctes(dialect, &sql, &ctes);
        let mut warnings = Vec::new();
        if host.path == ExecPath::Federated {
            let unaliased =
                sql::unaliased_expressions(Dialect::Datafusion, &sql).unwrap_or_default();
            if !unaliased.is_empty() {
                warnings.push(Warning {
                    code: "DVT003",
                    message: format!(
                        "{}: model `{}` is federated and selects {} without an alias; the engine names such columns differently from the databases (`sum(x)` vs `sum`), so alias them to keep the same column names on every path",
                        host.original_file_path.display(),
                        host.name,
                        unaliased
                            .iter()
                            .map(|e| format!("`{e}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        Ok(CompiledNode {
            sql,
            inputs,
            logs,
            warnings,
            fixtures: Vec::new(),
        })
    }

    /// An enforced contract's constraints as the DDL `node`'s table is created with on
    /// its target: per column, what follows the column's type; then the table
    /// constraints. A foreign key's `to:` is named as the relation it references, which
    /// must be on the same target (a database cannot reference another's table).
    pub fn contract_constraints(&self, node: &Node) -> Result<ContractConstraints> {
        let dialect = self.target(&node.target).dialect();
        let referenced = |c: &Json| -> Result<Option<String>> {
            let Some(to) = c.get("to").and_then(Json::as_str).filter(|t| !t.is_empty()) else {
                return Ok(None);
            };
            let bad = |message: String| Error::InvalidConfig {
                location: Location::file(
                    node.patch_path.as_ref().unwrap_or(&node.original_file_path),
                ),
                key: "constraints".into(),
                message,
            };
            let id = match crate::parse::deps::call_text(to) {
                Some(crate::parse::deps::CallText::Ref(call)) => {
                    self.names.resolve(&call, &node.package_name).ok().cloned()
                }
                Some(crate::parse::deps::CallText::Source(source, table)) => node
                    .depends_on
                    .iter()
                    .find(|id| {
                        self.sources
                            .get(*id)
                            .is_some_and(|s| s.source_name == source && s.name == table)
                    })
                    .cloned(),
                None => None,
            };
            let Some((target, relation)) = id.as_deref().and_then(|id| self.relation_of(id)) else {
                return Err(bad(format!(
                    "model `{}`: the foreign key's `to: {to}` names no model, seed or source",
                    node.name
                )));
            };
            if target != node.target {
                return Err(bad(format!(
                    "model `{}` is built on target `{}` but its foreign key's `to: {to}` is on `{target}`; a foreign key references a table of the same database",
                    node.name, node.target
                )));
            }
            // SQLite takes no schema in a foreign key's table: the table is in the
            // referencing table's own database.
            Ok(Some(if dialect == Dialect::Sqlite {
                dialect.quote(&relation.identifier)
            } else {
                dialect.render(relation)
            }))
        };
        let mut out = ContractConstraints::default();
        for (name, props) in &node.columns {
            let mut ddl = Vec::new();
            for c in props
                .get("constraints")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let to = referenced(c)?;
                ddl.extend(crate::constraints::column_ddl(c, to.as_deref()));
            }
            out.columns.insert(name.clone(), ddl);
        }
        for c in &node.constraints {
            let to = referenced(c)?;
            out.table
                .extend(crate::constraints::model_constraint(c, to.as_deref()));
        }
        Ok(out)
    }

    /// Every source a node may name though its parse did not see it, named as the node
    /// names it and with the target holding it: for a pushed-down node, the sources on
    /// its target; for a federated one, all of them in the engine's names (a `source()`
    /// of one becomes one more input of the plan).
    fn unseen_sources(
        &self,
        path: ExecPath,
        target: &str,
    ) -> std::sync::Arc<BTreeMap<(String, String), JinjaRelation>> {
        // No target is named by an empty string, so it keys the engine's names.
        let cache_key = match path {
            ExecPath::Pushdown => target.to_owned(),
            ExecPath::Federated => String::new(),
        };
        let mut cache = self
            .sources_by_target
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let made = cache.entry(cache_key).or_insert_with(|| {
            let mut out = BTreeMap::new();
            for s in self.sources.values() {
                if path == ExecPath::Pushdown && s.connection != target {
                    continue;
                }
                let key = (s.source_name.clone(), s.name.clone());
                // The root project's source wins over a package's of the same name.
                if out.contains_key(&key) && s.package_name != self.project.name {
                    continue;
                }
                let config = self.target(&s.connection);
                let native = config.dialect().render(&s.relation);
                let rendered = match path {
                    ExecPath::Pushdown => native.clone(),
                    ExecPath::Federated => {
                        resolve::render_input(path, Dialect::Datafusion, &s.connection, &s.relation)
                    }
                };
                out.insert(
                    key,
                    JinjaRelation {
                        database: s
                            .relation
                            .database
                            .clone()
                            .unwrap_or_else(|| config.database()),
                        schema: s.relation.schema.clone(),
                        identifier: s.relation.identifier.clone(),
                        rendered,
                        home: Some(InputHome {
                            target: s.connection.clone(),
                            native,
                        }),
                    },
                );
            }
            std::sync::Arc::new(out)
        });
        std::sync::Arc::clone(made)
    }

    /// Renders `unique_id` as part of `host` (itself, or an ephemeral model it reads).
    fn compile_for(
        &self,
        unique_id: &str,
        host: &Node,
        state: &mut CompileState<'_>,
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
        // Each input as this node reads it, by unique id; `ref()` calls map onto them.
        let mut by_id: BTreeMap<&str, JinjaRelation> = BTreeMap::new();
        // dbt adds an ephemeral input's CTE when its `ref()` runs, so CTEs come in the
        // order the SQL first names them.
        let mut first_ref: BTreeMap<String, usize> = BTreeMap::new();
        for (at, call) in node.refs.iter().enumerate() {
            if let Ok(id) = self.names.resolve(call, &node.package_name) {
                first_ref.entry(id.clone()).or_insert(at);
            }
        }
        let mut deps: Vec<&String> = node.depends_on.iter().collect();
        deps.sort_by_key(|id| first_ref.get(id.as_str()).copied().unwrap_or(usize::MAX));
        for dep in deps {
            if let Some(jr) = state.fixtures.get(dep) {
                if let Some(s) = self.sources.get(dep) {
                    relations
                        .sources
                        .insert((s.source_name.clone(), s.name.clone()), jr.clone());
                }
                by_id.insert(dep, jr.clone());
                continue;
            }
            // A function is named, not read: its qualified name on the node's target.
            if let Some(f) = self.nodes.get(dep)
                && f.resource_type == ResourceType::Function
            {
                by_id.insert(
                    dep,
                    JinjaRelation {
                        database: f
                            .relation
                            .database
                            .clone()
                            .unwrap_or_else(|| target.database()),
                        schema: f.relation.schema.clone(),
                        identifier: f.relation.identifier.clone(),
                        rendered: target.dialect().render(&f.relation),
                        home: None,
                    },
                );
                continue;
            }
            if let Some(e) = self.nodes.get(dep)
                && e.materialized == Materialization::Ephemeral
            {
                // dbt names the CTE after the relation the model would be (its alias;
                // `<name>_v<n>` for a version), not after the model.
                let name = format!("__dbt__cte__{}", e.relation.identifier);
                if !state.ctes.iter().any(|(n, _)| *n == name) {
                    let sql = self.compile_for(dep, host, state, depth + 1)?;
                    state.ctes.push((name.clone(), sql));
                }
                by_id.insert(
                    dep,
                    JinjaRelation {
                        database: String::new(),
                        schema: String::new(),
                        identifier: name.clone(),
                        rendered: name,
                        home: None,
                    },
                );
                continue;
            }
            let Some((dep_target, rel)) = self.relation_of(dep) else {
                continue;
            };
            let deferred = self.deferred(dep, dep_target, rel, state.opts);
            let rel = deferred.as_ref().unwrap_or(rel);
            if host.path == ExecPath::Federated {
                state.add_input(dep_target, rel);
            }
            let mut rendered = resolve::render_input(host.path, target.dialect(), dep_target, rel);
            let mut native = self.target(dep_target).dialect().render(rel);
            let event_time = match self.sources.get(dep) {
                Some(s) => s.event_time.clone(),
                None => self
                    .nodes
                    .get(dep)
                    .and_then(|n| n.config.get("event_time"))
                    .and_then(Json::as_str)
                    .map(str::to_owned),
            };
            narrow_input(
                &mut rendered,
                &mut native,
                &rel.identifier,
                event_time.as_deref(),
                state.opts,
            );
            let jr = JinjaRelation {
                database: rel
                    .database
                    .clone()
                    .unwrap_or_else(|| self.target(dep_target).database()),
                schema: rel.schema.clone(),
                identifier: rel.identifier.clone(),
                rendered,
                home: Some(InputHome {
                    target: dep_target.to_owned(),
                    native,
                }),
            };
            if let Some(s) = self.sources.get(dep) {
                relations
                    .sources
                    .insert((s.source_name.clone(), s.name.clone()), jr.clone());
            }
            by_id.insert(dep, jr);
        }
        for call in &node.refs {
            if let Ok(id) = self.names.resolve(call, &node.package_name)
                && let Some(jr) = by_id.get(id.as_str())
            {
                relations.refs.insert(call.clone(), jr.clone());
            }
        }
        for call in &node.functions {
            if let Ok(id) = self.names.resolve_function(call, &node.package_name)
                && let Some(jr) = by_id.get(id.as_str())
            {
                relations.functions.insert(call.clone(), jr.clone());
            }
        }
        if state.fixtures.is_empty() {
            let unseen = self.unseen_sources(host.path, &host.target);
            // A source the parse did not see reads what a seen one would: no rows under
            // `--empty`, a microbatch's window of it.
            relations.unseen_sources = Some(
                if state.opts.empty || state.opts.event_time_window.is_some() {
                    std::sync::Arc::new(
                        unseen
                            .iter()
                            .map(|(key, jr)| {
                                let event_time = self
                                    .sources
                                    .values()
                                    .find(|s| s.source_name == key.0 && s.name == key.1)
                                    .and_then(|s| s.event_time.clone());
                                let mut jr = jr.clone();
                                let mut native = jr
                                    .home
                                    .as_ref()
                                    .map(|h| h.native.clone())
                                    .unwrap_or_default();
                                narrow_input(
                                    &mut jr.rendered,
                                    &mut native,
                                    &jr.identifier,
                                    event_time.as_deref(),
                                    state.opts,
                                );
                                if let Some(h) = jr.home.as_mut() {
                                    h.native = native;
                                }
                                (key.clone(), jr)
                            })
                            .collect(),
                    )
                } else {
                    unseen
                },
            );
        }
        // In a unit test, dbt renders the model as the test: `model` is the unit test
        // node and `this` is `None`, unless a `this` fixture stands for the table.
        let unit_test = host.test.as_ref().is_some_and(|t| {
            t.unit.is_some() && t.attached_node.as_deref() == Some(node.unique_id.as_str())
        });
        let mut this = Some(self.this_relation(node, &host.target));
        if let Some(fixture) = state.fixtures.get(&node.unique_id) {
            this = Some(fixture.clone());
        } else if unit_test {
            this = None;
        } else if host.path == ExecPath::Federated
            && state.opts.is_incremental
            && let Some(this) = &mut this
        {
            // The incremental filter reads the model's own table on its target.
            state.add_input(&host.target, &node.relation);
            this.rendered =
                resolve::render_input(host.path, target.dialect(), &host.target, &node.relation);
        }
        let model = if unit_test {
            let mut m = model_context(host);
            m["resource_type"] = Json::from("unit_test");
            m["config"]["materialized"] = Json::from("unit");
            // A unit test node has no version (undefined, where a model's is `None`).
            if let Some(m) = m.as_object_mut() {
                m.remove("version");
                m.remove("latest_version");
            }
            m
        } else {
            // dbt's `model` is the whole node: a test's `attached_node`, `test_metadata`
            // and `column_name` too (elementary's tests match exposures by
            // `model.attached_node`).
            let mut m = model_context(node);
            if let (Json::Object(own), Some(Json::Object(full))) =
                (&mut m, self.graph_node(&node.unique_id))
            {
                for (k, v) in full {
                    match (k.as_str(), own.get_mut(&k), v) {
                        // A package node's file is given within its package, as in dbt.
                        ("original_file_path", _, v) => {
                            own.insert(k, v);
                        }
                        // dbt's config defaults under the node's own (a test's severity).
                        ("config", Some(Json::Object(mine)), Json::Object(theirs)) => {
                            for (ck, cv) in theirs {
                                mine.entry(ck).or_insert(cv);
                            }
                        }
                        (_, Some(_), _) => {}
                        (_, None, v) => {
                            own.insert(k, v);
                        }
                    }
                }
            }
            m
        };
        let (sql, recorded) = self.jinja.render(RenderInput {
            phase: Phase::Compile,
            template: node.template.clone(),
            file: node.original_file_path.clone(),
            this,
            target: resolve::target_context(&self.profile, &host.target),
            model,
            relations,
            known: None,
            is_incremental: state.opts.is_incremental,
            connection: state.opts.database.as_ref().map(|db| {
                std::sync::Arc::new(crate::jinja::Connection::new(
                    std::sync::Arc::clone(db),
                    host.target.clone(),
                ))
            }),
            package: Some(node.package_name.clone()),
            vars: state.opts.vars.clone(),
            federated: host.path == ExecPath::Federated,
            globals: state.opts.globals.clone(),
        })?;
        state.logs.extend(recorded.logs);
        // Sources the render named that the parse had not seen (see `unseen_sources`).
        if host.path == ExecPath::Federated {
            for (source, table) in &recorded.sources {
                let found = self
                    .sources
                    .values()
                    .filter(|s| s.source_name == *source && s.name == *table)
                    .min_by_key(|s| s.package_name != self.project.name);
                if let Some(s) = found {
                    state.add_input(&s.connection, &s.relation);
                }
            }
        }
        let dialect = match host.path {
            ExecPath::Federated => Dialect::Datafusion,
            ExecPath::Pushdown => target.dialect(),
        };
        Ok(sql::strip_trailing_semicolons(dialect, sql.trim()))
    }

    /// The SQL of a node's `pre-hook`s or `post-hook`s (`key`), rendered in the node's
    /// context (`this`, `target`, `model`) for its target, in the order dbt runs them:
    /// the project file's first, the node's own last. A hook is a string or a mapping
    /// with `sql:` (its `transaction:` flag changes nothing here: DVT runs each hook as a
    /// statement of its own, outside the build's swap).
    ///
    /// With `database`, a hook's Jinja may query the node's target (`run_query`), as in dbt.
    pub fn compile_hooks(
        &self,
        unique_id: &str,
        key: &str,
        database: Option<std::sync::Arc<dyn crate::jinja::Database>>,
    ) -> Result<Vec<String>> {
        let node = &self.nodes[unique_id];
        let Some(Json::Array(items)) = node.config.get(key) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in items {
            let text = match item {
                Json::String(s) => s.clone(),
                Json::Object(m) => match m.get("sql") {
                    Some(Json::String(s)) => s.clone(),
                    _ => continue,
                },
                _ => continue,
            };
            let (sql, _) = self.jinja.render_source(
                &text,
                RenderInput {
                    phase: Phase::Compile,
                    template: node.template.clone(),
                    file: node.original_file_path.clone(),
                    this: Some(self.this_relation(node, &node.target)),
                    target: resolve::target_context(&self.profile, &node.target),
                    model: model_context(node),
                    relations: CompileRelations::default(),
                    known: None,
                    is_incremental: false,
                    connection: database.clone().map(|db| {
                        std::sync::Arc::new(crate::jinja::Connection::new(db, node.target.clone()))
                    }),
                    package: Some(node.package_name.clone()),
                    federated: false,
                    globals: serde_json::Map::new(),
                    vars: serde_json::Map::new(),
                },
            )?;
            let sql = sql.trim();
            if !sql.is_empty() {
                out.push(sql.to_owned());
            }
        }
        Ok(out)
    }

    /// Renders one `on-run-start`/`on-run-end` hook of the project for the default
    /// target. `extra` adds variables (`flags`, and `results`/`schemas` at the end);
    /// with `database`, the hook's Jinja may query it (`run_query`, `statement`,
    /// introspection), as dbt's hooks may. Returns the SQL and the hook's `log()` lines.
    pub fn compile_project_hook(
        &self,
        text: &str,
        package: &str,
        extra: &Json,
        database: Option<std::sync::Arc<dyn crate::jinja::Database>>,
    ) -> Result<(String, Vec<String>)> {
        let file = match self.packages.get(package) {
            Some(p) if package != self.project.name => &p.file,
            _ => &self.project.file,
        };
        self.render_in(
            text,
            (package != self.project.name).then_some(package),
            &self.default_target,
            extra,
            database,
            file,
        )
    }

    /// Renders `text` outside any node, on `target`: a project hook, or the macro call of
    /// `dvt run-operation`. In context: `target`, `project_name`, `extra`'s values, and,
    /// with `database`, queries on `target`. `file` is where errors point when the
    /// template engine names no file. Returns the trimmed output and the `log()` lines.
    pub fn render_operation(
        &self,
        text: &str,
        target: &str,
        extra: &Json,
        database: Option<std::sync::Arc<dyn crate::jinja::Database>>,
        file: &Path,
    ) -> Result<(String, Vec<String>)> {
        self.render_in(text, None, target, extra, database, file)
    }

    /// [`Self::render_operation`] in `package`'s context (its macros first, its vars), for
    /// a package's own `on-run-*` hooks; `None` is the root project.
    fn render_in(
        &self,
        text: &str,
        package: Option<&str>,
        target: &str,
        extra: &Json,
        database: Option<std::sync::Arc<dyn crate::jinja::Database>>,
        file: &Path,
    ) -> Result<(String, Vec<String>)> {
        let mut globals = serde_json::Map::new();
        globals.insert("project_name".into(), Json::from(self.project.name.clone()));
        if let Json::Object(m) = extra {
            globals.extend(m.clone());
        }
        let (out, recorded) = self.jinja.render_source(
            text,
            RenderInput {
                phase: Phase::Compile,
                template: file.display().to_string(),
                file: file.to_path_buf(),
                this: None,
                target: resolve::target_context(&self.profile, target),
                model: Json::Object(serde_json::Map::new()),
                relations: CompileRelations::default(),
                known: None,
                is_incremental: false,
                connection: database
                    .map(|db| std::sync::Arc::new(crate::jinja::Connection::new(db, target))),
                package: package.map(str::to_owned),
                federated: false,
                globals,
                vars: serde_json::Map::new(),
            },
        )?;
        Ok((out.trim().to_owned(), recorded.logs))
    }

    /// Where `--defer` reads parent `dep` from instead of `rel`: the state manifest's
    /// relation, when the run does not build `dep` and `rel` does not exist on its target
    /// (always, with `--favor-state`). Sources and ephemeral models are never deferred.
    fn deferred(
        &self,
        dep: &str,
        dep_target: &str,
        rel: &Relation,
        opts: &CompileOptions,
    ) -> Option<Relation> {
        let defer = opts.defer.as_ref()?;
        if defer.selected.contains(dep) || !self.nodes.contains_key(dep) {
            return None;
        }
        let theirs = defer.state.nodes.get(dep)?.relation.clone()?;
        if !defer.favor_state {
            let db = opts.database.as_ref()?;
            let exists = db
                .relation_type(dep_target, &rel.schema, &rel.identifier)
                .ok()?
                .is_some();
            if exists {
                return None;
            }
        }
        Some(Relation {
            quoting: rel.quoting,
            ..theirs
        })
    }

    /// `this`: the node's own relation, rendered for the target `on` (the node's, or
    /// that of the model an ephemeral node is inlined into).
    fn this_relation(&self, node: &Node, on: &str) -> JinjaRelation {
        let target = self.target(on);
        JinjaRelation {
            database: target.database(),
            schema: node.relation.schema.clone(),
            identifier: node.relation.identifier.clone(),
            rendered: target.dialect().render(&node.relation),
            home: None,
        }
    }

    /// Adds an ad-hoc model (`dvt show --inline`) and returns its unique id. It is routed
    /// like any model: pushed down when its inputs share a target, else federated.
    pub fn add_inline(&mut self, sql: &str) -> Result<String> {
        let name = "inline_query".to_owned();
        let file = PathBuf::from("<inline>");
        let unique_id = format!("sql_operation.{}.{name}", self.project.name);
        self.jinja.add_node_template(&file, sql)?;
        let recorded = parse_render(&self.jinja, &file, &name, &unique_id, &self.project.name)?;
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
        node.functions = recorded.functions;
        node.config
            .insert("materialized".into(), Json::from("table"));
        resolve_deps(
            &self.jinja,
            &mut node,
            &self.names,
            &source_ids(&self.sources),
        )?;
        self.nodes.insert(unique_id.clone(), node);
        resolve::resolve_target(self, &unique_id)?;
        resolve::resolve_path(self, &unique_id);
        resolve::check_node_function_calls(self, &unique_id)?;
        Ok(unique_id)
    }
}

/// What one compilation accumulates across the ephemeral models it inlines.
struct CompileState<'a> {
    ctes: &'a mut Vec<(String, String)>,
    inputs: &'a mut Vec<(String, Relation)>,
    logs: &'a mut Vec<String>,
    opts: &'a CompileOptions,
    /// Inputs replaced by a unit test's fixtures: unique id -> the fixture's CTE.
    fixtures: &'a BTreeMap<String, JinjaRelation>,
}

impl CompileState<'_> {
    fn add_input(&mut self, target: &str, relation: &Relation) {
        // The engine names an input `<target>.<schema>.<identifier>`: a source and a seed
        // (or two sources) over one table are one input, whatever else their relations say.
        let same = |(t, r): &(String, Relation)| {
            t == target && r.schema == relation.schema && r.identifier == relation.identifier
        };
        if !self.inputs.iter().any(same) {
            self.inputs.push((target.to_owned(), relation.clone()));
        }
    }
}

/// `model` as a node's Jinja sees it (and `node` in dbt's naming macros).
pub(crate) fn model_context(node: &Node) -> Json {
    serde_json::json!({
        "name": node.name,
        "unique_id": node.unique_id,
        "package_name": node.package_name,
        "resource_type": node.resource_type.as_str(),
        "config": node.config,
        "tags": node.config.get("tags").map(crate::project::as_string_list).unwrap_or_default(),
        "fqn": node.fqn,
        "original_file_path": node.original_file_path,
        "version": node.version,
        "latest_version": node.latest_version,
    })
}

/// Narrows an input as dbt does, in the model's SQL (`rendered`) and in queries where
/// the input lives (`native`): a microbatch reads one window of an input that declares
/// its event time; `--empty` reads no rows.
fn narrow_input(
    rendered: &mut String,
    native: &mut String,
    identifier: &str,
    event_time: Option<&str>,
    opts: &CompileOptions,
) {
    if let (Some((start, end)), Some(column)) = (&opts.event_time_window, event_time) {
        let window = |name: &str| {
            format!(
                "(select * from {name} where {column} >= '{start}' and {column} < '{end}') _dbt_et_filter_subq_{identifier}"
            )
        };
        *rendered = window(rendered);
        *native = window(native);
    }
    if opts.empty {
        let none = |name: &str| {
            format!("(select * from {name} where false limit 0) _dbt_limit_subq_{identifier}")
        };
        *rendered = none(rendered);
        *native = none(native);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_microbatch_window_narrows_sources_and_models_with_an_event_time() {
        let m = crate::manifest::tests::load(
            &[
                ("dbt_project.yml", "name: p\nprofile: p\n"),
                (
                    "profiles.yml",
                    "p:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/p.db}\n",
                ),
                (
                    "models/src.yml",
                    "sources:\n  - name: raw\n    config: {event_time: happened_at}\n    tables:\n      - name: clicks\n      - name: users\n        config: {event_time: null}\n",
                ),
                ("models/up.sql", "{{ config(event_time='ts') }}select 1 as id"),
                (
                    "models/mb.sql",
                    "select * from {{ source('raw', 'clicks') }} join {{ source('raw', 'users') }} using (id) join {{ ref('up') }} using (id)",
                ),
            ],
            "",
        )
        .expect("loads");
        let opts = CompileOptions {
            event_time_window: Some(("2020-01-01".into(), "2020-01-02".into())),
            ..CompileOptions::default()
        };
        let sql = m.compile_with("model.p.mb", &opts).expect("compiles").sql;
        assert!(
            sql.contains("(select * from \"main\".\"clicks\" where happened_at >= '2020-01-01' and happened_at < '2020-01-02') _dbt_et_filter_subq_clicks"),
            "{sql}"
        );
        assert!(
            sql.contains("where ts >= '2020-01-01' and ts < '2020-01-02'"),
            "{sql}"
        );
        // A table's `event_time: null` turns off its source's.
        assert!(sql.contains("join \"main\".\"users\" using"), "{sql}");
    }
}
