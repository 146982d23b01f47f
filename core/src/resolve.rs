//! DVT's routing: the target of every node and the execution path of every model.
//!
//! Target resolution, highest first: `--target`, the node's `target` config, the
//! profile's default. A model whose inputs all live on its own target is *pushed
//! down* (its SQL runs there, as dbt would run it); otherwise it is *federated*.

use std::collections::BTreeSet;

use serde_json::{Map, Value as Json};

use crate::dialect::{Dialect, Relation};
use crate::error::{Error, Location, Result};
use crate::manifest::{Manifest, Materialization, ResourceType, Warning};
use crate::profile::Profile;

/// How a model executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExecPath {
    /// The SQL runs on the node's own target.
    Pushdown,
    /// Inputs are extracted from other targets and the SQL runs on DVT's engine.
    Federated,
}

impl ExecPath {
    /// Name shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecPath::Pushdown => "pushdown",
            ExecPath::Federated => "federated",
        }
    }
}

/// dbt's default `generate_schema_name`: the target schema, suffixed by a custom
/// schema when one is configured. SQLite has a single schema, `main`.
pub fn schema_name(dialect: Dialect, target_schema: &str, custom: Option<&str>) -> String {
    match (dialect, custom) {
        (Dialect::Sqlite, _) => "main".to_owned(),
        (_, Some(c)) if !c.trim().is_empty() => format!("{target_schema}_{}", c.trim()),
        _ => target_schema.to_owned(),
    }
}

pub(crate) fn resolve(m: &mut Manifest) -> Result<()> {
    let ids: Vec<String> = m.nodes.keys().cloned().collect();
    for id in &ids {
        resolve_target(m, id)?;
    }
    for id in &ids {
        resolve_path(m, id);
    }
    check_function_calls(m)
}

/// Resolves a node's target, materialization and relation.
pub(crate) fn resolve_target(m: &mut Manifest, id: &str) -> Result<()> {
    {
        let node = &m.nodes[id];
        let loc = Location::file(&node.original_file_path);
        let target = match (&m.target_override, node.config.get("target")) {
            (Some(t), _) => t.clone(),
            // A test runs on the target of the node it tests (DESIGN.md).
            (None, None) if node.is_test() => test_target(m, node),
            (None, Some(Json::String(t))) => {
                m.profile.check_target(t, loc.clone())?;
                t.clone()
            }
            (None, Some(other)) => {
                return Err(Error::InvalidConfig {
                    location: loc,
                    key: "target".into(),
                    message: format!("expected a target name, got `{other}`"),
                });
            }
            (None, None) => m.default_target.clone(),
        };
        let tc = &m.profile.outputs[&target];
        let str_config = |key: &str| -> Result<Option<String>> {
            match node.config.get(key) {
                None | Some(Json::Null) => Ok(None),
                Some(Json::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(Error::InvalidConfig {
                    location: loc.clone(),
                    key: key.into(),
                    message: format!("expected a string, got `{other}`"),
                }),
            }
        };
        let materialized = match node.resource_type {
            ResourceType::Seed => Materialization::Seed,
            ResourceType::Test => Materialization::Test,
            ResourceType::Snapshot => Materialization::Snapshot,
            ResourceType::Function => Materialization::Function,
            ResourceType::Analysis => Materialization::View,
            ResourceType::Model => match str_config("materialized")?.as_deref() {
                None | Some("view") => Materialization::View,
                Some("table") => Materialization::Table,
                Some("ephemeral") => Materialization::Ephemeral,
                Some("materialized_view") => Materialization::MaterializedView,
                Some("incremental") => Materialization::Incremental,
                Some(other) => {
                    return Err(Error::InvalidConfig {
                        location: loc,
                        key: "materialized".into(),
                        message: format!(
                            "`{other}` is not supported yet; DVT materializes `table`, `view`, `incremental`, `materialized_view` and `ephemeral`"
                        ),
                    });
                }
            },
        };
        if materialized == Materialization::Snapshot {
            crate::snapshot::SnapshotConfig::from_config(&node.config, &node.original_file_path)?;
        }
        if materialized == Materialization::Incremental {
            // A wrong strategy or key fails the parse, not the model's first run.
            crate::incremental::IncrementalConfig::from_config(
                &node.config,
                &node.original_file_path,
            )?;
        }
        // dbt stores a test's failures (`store_failures`) in `<schema>_dbt_test__audit`.
        let custom = match (str_config("schema")?, node.is_test()) {
            (None, true) => Some("dbt_test__audit".to_owned()),
            (custom, _) => custom,
        };
        // Calls a project's override of one of dbt's naming macros with its custom value.
        let naming_macro = |name: &str, arg: &str, custom: &Option<String>| -> Result<String> {
            let ctx = serde_json::json!({
                "target": target_context(&m.profile, &target),
                arg: custom,
                "node": crate::compile::model_context(node),
            });
            let call = format!("{{{{ {name}({arg}, node) }}}}");
            Ok(m.jinja.render_snippet(&call, &ctx, &loc)?.trim().to_owned())
        };
        // dbt's legacy snapshot config names the schema verbatim, past the naming macro.
        let legacy_schema = match node.resource_type {
            ResourceType::Snapshot if tc.dialect() != Dialect::Sqlite => {
                str_config("target_schema")?
            }
            _ => None,
        };
        let schema = if let Some(s) = legacy_schema {
            s
        } else if tc.dialect() != Dialect::Sqlite && m.macros.contains_key("generate_schema_name") {
            // A project override of dbt's `generate_schema_name` decides, as in dbt.
            naming_macro("generate_schema_name", "custom_schema_name", &custom)?
        } else {
            schema_name(tc.dialect(), &tc.schema, custom.as_deref())
        };
        let alias = str_config("alias")?;
        let identifier = if matches!(
            node.resource_type,
            ResourceType::Model
                | ResourceType::Seed
                | ResourceType::Function
                | ResourceType::Analysis
        ) && m.macros.contains_key("generate_alias_name")
        {
            // A project override of dbt's `generate_alias_name` decides, as in dbt.
            naming_macro("generate_alias_name", "custom_alias_name", &alias)?
        } else {
            alias.unwrap_or_else(|| node.default_alias())
        };
        // PostgreSQL would silently truncate a long name (two models could then share a
        // table); MySQL would fail late. Both are parse-time errors, as in dbt-postgres.
        let dialect = tc.dialect();
        // A unit test builds no relation: its name may be as long as its author likes
        // (audit_helper's are).
        let unit_test = node.test.as_ref().is_some_and(|t| t.unit.is_some());
        let checked: &[(&str, &String)] = if unit_test {
            &[]
        } else {
            &[("relation name", &identifier), ("schema name", &schema)]
        };
        for &(what, name) in checked {
            if let (false, Some((max, unit))) =
                (dialect.identifier_fits(name), dialect.identifier_limit())
            {
                let len = match unit {
                    crate::dialect::LengthUnit::Bytes => name.len(),
                    crate::dialect::LengthUnit::Chars => name.chars().count(),
                };
                return Err(Error::IdentifierTooLong {
                    location: loc,
                    what,
                    name: name.clone(),
                    limit: format!(
                        "{len} {unit}; target `{target}` ({dialect}) allows at most {max}"
                    ),
                });
            }
        }
        // dbt's `database` config and `generate_database_name`: a connection reaches one
        // database, so any other name is refused here rather than failing at run time.
        let custom_database = str_config("database")?;
        let database = if m.macros.contains_key("generate_database_name") {
            naming_macro(
                "generate_database_name",
                "custom_database_name",
                &custom_database,
            )?
        } else {
            custom_database.unwrap_or_else(|| tc.database())
        };
        if database != tc.database() && !node.is_test() {
            return Err(Error::InvalidConfig {
                location: loc,
                key: "database".into(),
                message: format!(
                    "target `{target}` connects to database `{}`, so `{database}` cannot be written from it; add an output for that database to profiles.yml and choose it with `target:`",
                    tc.database()
                ),
            });
        }
        let relation = Relation {
            database: Some(database),
            schema,
            identifier,
            // dbt quotes a function's name fully whatever `quoting:` says, where it is
            // created and where `function()` calls it.
            quoting: if node.resource_type == ResourceType::Function {
                crate::dialect::Quoting::default()
            } else {
                m.project.quoting
            },
        };
        let node = m.nodes.get_mut(id).expect("id comes from the map");
        node.target = target;
        node.relation = relation;
        node.materialized = materialized;
    }
    Ok(())
}

/// The target a test runs on: that of the node it is attached to (a generic test), or
/// of the first node or source it reads (a singular test), else the default.
fn test_target(m: &Manifest, node: &crate::manifest::Node) -> String {
    let attached = node.test.as_ref().and_then(|t| t.attached_node.clone());
    attached
        .iter()
        .chain(&node.depends_on)
        .find_map(|id| m.relation_of(id).map(|(t, _)| t.to_owned()))
        .unwrap_or_else(|| m.default_target.clone())
}

/// Chooses a model's execution path from where its inputs live (after every target is
/// resolved). A federated `view` becomes a table with warning DVT001.
pub(crate) fn resolve_path(m: &mut Manifest, id: &str) {
    {
        let node = &m.nodes[id];
        if !matches!(
            node.resource_type,
            ResourceType::Model | ResourceType::Test | ResourceType::Snapshot
        ) {
            return;
        }
        // Ephemeral models are inlined, so what counts is where they read from.
        let all_local = m.input_targets(id).iter().all(|t| *t == node.target);
        let path = if all_local {
            ExecPath::Pushdown
        } else {
            ExecPath::Federated
        };
        let mut warning = None;
        let node = m.nodes.get_mut(id).expect("id comes from the map");
        node.path = path;
        // What the project configured stays in the config (`graph`, `manifest.json`, as
        // dbt shows it); what DVT builds is `materialized`.
        node.config
            .entry("materialized")
            .or_insert_with(|| Json::from(node.materialized.as_str()));
        // Only PostgreSQL has materialized views; elsewhere, and across databases, the
        // closest thing is a table (a materialized view is a stored query result too).
        if node.materialized == Materialization::MaterializedView
            && (path == ExecPath::Federated
                || m.profile.outputs[&node.target].dialect() != Dialect::Postgres)
        {
            node.materialized = Materialization::Table;
            warning = Some(Warning {
                code: "DVT001",
                message: format!(
                    "{}: model `{}` is configured as `materialized_view`, which {}; it is built as a table on `{}`",
                    node.original_file_path.display(),
                    node.name,
                    if path == ExecPath::Federated {
                        "cannot span databases"
                    } else {
                        "only PostgreSQL has"
                    },
                    node.target
                ),
            });
        }
        if path == ExecPath::Federated && node.materialized == Materialization::View {
            node.materialized = Materialization::Table;
            warning = Some(Warning {
                code: "DVT001",
                message: format!(
                    "{}: model `{}` is configured as `view` but reads from other targets; a view cannot span databases, so it is built as a table on `{}`",
                    node.original_file_path.display(),
                    node.name,
                    node.target
                ),
            });
        }
        m.warnings.extend(warning);
    }
}

/// A function exists only inside the database it is created in, so every node calling
/// one (itself, or through the ephemeral models inlined into it) must run its SQL on the
/// function's target: pushed down there, not federated (DataFusion cannot call a
/// database's function). A function's own body runs inside its database too, so what it
/// reads must live there.
fn check_function_calls(m: &Manifest) -> Result<()> {
    for id in m.nodes.keys() {
        check_node_function_calls(m, id)?;
    }
    Ok(())
}

/// [`check_function_calls`] for one node.
pub(crate) fn check_node_function_calls(m: &Manifest, id: &str) -> Result<()> {
    let node = &m.nodes[id];
    // An ephemeral model is checked as part of each node it is inlined into.
    if node.materialized == Materialization::Ephemeral {
        return Ok(());
    }
    {
        let loc = || Location::file(&node.original_file_path);
        let kind = node.resource_type.as_str();
        if node.resource_type == ResourceType::Function {
            let elsewhere: Vec<String> = m
                .input_targets(&node.unique_id)
                .into_iter()
                .filter(|t| *t != node.target)
                .collect();
            if !elsewhere.is_empty() {
                return Err(Error::Routing {
                    location: loc(),
                    message: format!(
                        "function `{}` is created on target `{}` but reads relations on {}; a function's body runs inside its own database, so what it reads must live there",
                        node.name,
                        node.target,
                        quoted_list(&elsewhere)
                    ),
                });
            }
        }
        for (function, via) in m.functions_called(&node.unique_id) {
            let f = &m.nodes[&function];
            let through = via
                .map(|e| format!(" (through ephemeral model `{}`)", m.nodes[&e].name))
                .unwrap_or_default();
            if node.path == ExecPath::Federated {
                let targets: Vec<String> = m.input_targets(&node.unique_id).into_iter().collect();
                return Err(Error::Routing {
                    location: loc(),
                    message: format!(
                        "{kind} `{}` calls function `{}`{through} but is federated (it reads from {}); the federation engine cannot call a function that exists only inside the database of target `{}`, so a model calling a function must read only relations on that target and be pushed down there",
                        node.name,
                        f.name,
                        quoted_list(&targets),
                        f.target
                    ),
                });
            }
            if f.target != node.target {
                return Err(Error::Routing {
                    location: loc(),
                    message: format!(
                        "{kind} `{}` runs on target `{}` but calls function `{}`{through}, which is created on target `{}`; a database calls only its own functions, so set the function's `target:` to `{}` (or give the {kind} that target)",
                        node.name, node.target, f.name, f.target, node.target
                    ),
                });
            }
        }
    }
    Ok(())
}

fn quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|t| format!("`{t}`")).collect();
    match quoted.len() {
        1 => format!("target {}", quoted[0]),
        _ => format!("targets {}", quoted.join(", ")),
    }
}

/// `target` as Jinja sees it for a node on output `name` of `profile`.
///
/// Only the keys dbt's adapters expose as connection keys reach Jinja: a password, a
/// token or any key a user invents never does, whatever it is called.
pub fn target_context(profile: &Profile, name: &str) -> Json {
    let t = &profile.outputs[name];
    let mut m = Map::new();
    let exposed: &[&str] = match t.adapter_type() {
        crate::target::AdapterType::Postgres => &[
            "host",
            "port",
            "user",
            "dbname",
            "connect_timeout",
            "role",
            "search_path",
            "keepalives_idle",
            "sslmode",
            "sslcert",
            "sslkey",
            "sslrootcert",
            "application_name",
            "retries",
        ],
        crate::target::AdapterType::Mysql => &[
            "server",
            "host",
            "port",
            "username",
            "user",
            "sslmode",
            "sslrootcert",
        ],
        crate::target::AdapterType::Sqlite => &["path", "schema_directory"],
    };
    for (k, v) in &t.extra {
        if exposed.contains(&k.as_str()) {
            m.insert(k.clone(), Json::String(v.clone()));
        }
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

/// How a node reads one of its inputs: the input's relation in the reader's dialect when
/// pushed down, or the engine's three-part name `"<target>"."<schema>"."<identifier>"`
/// when federated (each target is a catalog of the federation engine).
pub fn render_input(path: ExecPath, reader: Dialect, input_target: &str, rel: &Relation) -> String {
    match path {
        ExecPath::Federated => format!(
            "{}.{}.{}",
            Dialect::Datafusion.quote(input_target),
            Dialect::Datafusion.quote(&rel.schema),
            Dialect::Datafusion.quote(&rel.identifier)
        ),
        ExecPath::Pushdown => reader.render(rel),
    }
}

/// The target a source lives on: its `connection:`, else the effective default target
/// (warning DVT002 when the profile has several outputs).
pub(crate) fn source_connection(
    profile: &Profile,
    default_target: &str,
    source: &str,
    connection: Option<&str>,
    location: &Location,
    warnings: &mut Vec<Warning>,
) -> Result<String> {
    match connection {
        Some(c) => {
            profile.check_target(c, location.clone())?;
            Ok(c.to_owned())
        }
        None => {
            if profile.outputs.len() > 1 {
                warnings.push(Warning {
                    code: "DVT002",
                    message: format!(
                        "{location}: source `{source}` has no `connection:`; reading it from the default target `{default_target}`"
                    ),
                });
            }
            Ok(default_target.to_owned())
        }
    }
}

impl Manifest {
    /// Each dependency of `unique_id` and of the ephemeral models inlined into it, at any
    /// depth, with the ephemeral model declaring it (`None`: the node itself). Ephemeral
    /// models are walked into, not listed.
    fn inlined_dependencies(&self, unique_id: &str) -> Vec<(&str, Option<&str>)> {
        let mut out = Vec::new();
        let Some((root, _)) = self.nodes.get_key_value(unique_id) else {
            return out;
        };
        let mut stack: Vec<&str> = vec![root];
        let mut seen = BTreeSet::new();
        while let Some(id) = stack.pop() {
            let Some(node) = self.nodes.get(id) else {
                continue;
            };
            let via = (id != root.as_str()).then_some(id);
            for dep in &node.depends_on {
                match self.nodes.get(dep) {
                    Some(e) if e.materialized == Materialization::Ephemeral => {
                        if seen.insert(dep.as_str()) {
                            stack.push(dep);
                        }
                    }
                    _ => out.push((dep.as_str(), via)),
                }
            }
        }
        out
    }

    /// The targets a model really reads from: its inputs' targets, looking through
    /// ephemeral models to what they read.
    pub fn input_targets(&self, unique_id: &str) -> BTreeSet<String> {
        self.inlined_dependencies(unique_id)
            .into_iter()
            // A function is called, not read: it moves no data between targets
            // ([`check_function_calls`] keeps calls on the caller's own target).
            .filter(|(dep, _)| {
                self.nodes
                    .get(*dep)
                    .is_none_or(|n| n.resource_type != ResourceType::Function)
            })
            .filter_map(|(dep, _)| self.relation_of(dep).map(|(t, _)| t.to_owned()))
            .collect()
    }

    /// The functions a node calls, itself or through the ephemeral models inlined into
    /// it: each function's unique id, with the ephemeral model calling it (`None` when
    /// the node calls it itself).
    pub fn functions_called(&self, unique_id: &str) -> Vec<(String, Option<String>)> {
        let mut out: Vec<(String, Option<String>)> = Vec::new();
        for (dep, via) in self.inlined_dependencies(unique_id) {
            let is_function = self
                .nodes
                .get(dep)
                .is_some_and(|f| f.resource_type == ResourceType::Function);
            if is_function && !out.iter().any(|(d, _)| d == dep) {
                out.push((dep.to_owned(), via.map(str::to_owned)));
            }
        }
        out
    }

    /// `target` as Jinja sees it for a node on `name`.
    pub fn target_context(&self, name: &str) -> Json {
        target_context(&self.profile, name)
    }
}
