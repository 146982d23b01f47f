//! The Jinja layer (minijinja) with dbt's context: `ref`, `source`, `config`, `var`,
//! `env_var`, `this`, `target`, `is_incremental`, `log`, `return` and project macros.
//!
//! A node is rendered twice, as in dbt. The *parse* phase records what the node calls
//! (`ref`, `source`, `config`) with placeholder relations and `execute = false`. The
//! *compile* phase renders real relation names for the node's resolved target and
//! path (DVT's extension point: a federated node sees three-part engine names).
//!
//! Each macro is registered as a template of its own and exposed as a value that
//! renders it on demand, so `return()` always unwinds exactly one macro call. The root
//! project's macros are globals; an installed package's are attributes of a global
//! named after the package (`golden_utils.safe_divide(...)`) and, for the package's own
//! nodes, part of the render context, where they come first (dbt's namespaces; see
//! `docs/architecture.md`, decision aa).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use minijinja::value::{Kwargs, Object, Rest, Value, ValueKind};
use minijinja::{Environment, ErrorKind, State};
use serde_json::{Map, Value as Json};

use crate::error::{Error, Location, Result};

mod calls;
mod database;
mod python;

pub use database::{Connection, Database, DbColumn, QueryTable};
pub(crate) use python::hashable_repr;

/// dbt's built-in macros, as DVT's own macro files: (name shown in errors, text).
const BUILTIN_MACROS: &[(&str, &str)] = &[
    (
        "<dvt>/macros/tests.sql",
        include_str!("../macros/tests.sql"),
    ),
    (
        "<dvt>/macros/cross_db.sql",
        include_str!("../macros/cross_db.sql"),
    ),
    (
        "<dvt>/macros/naming.sql",
        include_str!("../macros/naming.sql"),
    ),
    (
        "<dvt>/macros/relations.sql",
        include_str!("../macros/relations.sql"),
    ),
];

/// Prefixes of environment variables that hold secrets; models may not read them.
pub const SECRET_ENV_PREFIXES: [&str; 2] = ["DVT_ENV_SECRET_", "DBT_ENV_SECRET_"];

const NODE_KEY: &str = "__dvt_node__";
/// The render context's key for the package of the node being rendered (absent for the
/// root project's nodes): `var()` answers with that package's vars.
const PACKAGE_KEY: &str = "__dvt_package__";
/// The render context's key for the macros of that package, which come before the root
/// project's (a [`MacroTable`]).
const LOCALS_KEY: &str = "__dvt_locals__";
/// The namespace of DVT's versions of dbt's built-in macros (`dbt.get_where_subquery`).
const DBT_NAMESPACE: &str = "dbt";
const MISSING_ENV_PREFIX: &str = "DVT110 ";

thread_local! {
    static RETURN_SLOT: RefCell<Option<Value>> = const { RefCell::new(None) };
    /// Macro calls nested on this thread: each call renders in a state of its own, so
    /// minijinja's recursion limit never sees the nesting.
    static MACRO_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Nested macro calls allowed before a render fails (a recursive macro would otherwise
/// overflow the stack). dbt packages nest a few levels; 64 leaves ample room.
pub const MAX_MACRO_DEPTH: usize = 64;

/// Counts one level of macro nesting for as long as it lives.
struct DepthGuard;

impl DepthGuard {
    fn enter(name: &str) -> std::result::Result<Self, minijinja::Error> {
        let depth = MACRO_DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get()
        });
        let guard = DepthGuard;
        if depth > MAX_MACRO_DEPTH {
            return Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "macro `{name}` nests more than {MAX_MACRO_DEPTH} macro calls deep (is it recursive?)"
                ),
            ));
        }
        Ok(guard)
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        MACRO_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// The two rendering phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Record dependencies and configs; relations are placeholders.
    Parse,
    /// Render real relation names.
    Compile,
}

/// A `ref()` call seen while parsing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RefCall {
    /// Package (first of two arguments), if given.
    pub package: Option<String>,
    /// Model or seed name.
    pub name: String,
    /// A versioned model's version (`v=` or `version=`), in its text form: `ref('m', v=2)`
    /// and `ref('m', version='2')` are one call. Without it, `ref()` means the latest.
    pub version: Option<String>,
}

impl RefCall {
    /// `ref('name')` or `ref('package', 'name')`, without a version.
    pub fn new(package: Option<String>, name: impl Into<String>) -> Self {
        RefCall {
            package,
            name: name.into(),
            version: None,
        }
    }
}

/// A version identifier as text: dbt's `v: 2` and `v: '2'` name one version.
pub fn version_text(v: &Value) -> Option<String> {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => None,
        ValueKind::String => v.as_str().map(str::to_owned),
        _ => Some(v.to_string()),
    }
}

/// What a parse-phase render recorded.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// `ref()` calls, in order, without duplicates.
    pub refs: Vec<RefCall>,
    /// `source()` calls as (source, table), without duplicates.
    pub sources: Vec<(String, String)>,
    /// `function()` calls, in order, without duplicates.
    pub functions: Vec<RefCall>,
    /// `config(...)` keys, merged in call order.
    pub config: Map<String, Json>,
    /// `log()` messages (compile phase).
    pub logs: Vec<String>,
    /// Macros the node's own code called (not those called from inside a macro), as
    /// unique ids, in call order, without duplicates: dbt's `depends_on.macros`.
    pub macros: Vec<String>,
}

/// Notes a call of macro `id` made by the node's own code, not from inside another
/// macro, as dbt lists a node's `depends_on.macros`.
pub(crate) fn record_macro_call(state: &State, id: &str) {
    if MACRO_DEPTH.with(std::cell::Cell::get) == 0
        && let Ok(n) = node(state)
    {
        let mut rec = n.record();
        if !rec.macros.iter().any(|m| m == id) {
            rec.macros.push(id.to_owned());
        }
    }
}

/// A relation as Jinja sees it (`this`, and what `ref`/`source` return).
#[derive(Debug, Clone)]
pub struct JinjaRelation {
    /// Database.
    pub database: String,
    /// Schema.
    pub schema: String,
    /// Identifier.
    pub identifier: String,
    /// How it renders in SQL.
    pub rendered: String,
    /// Where it lives, for a node's inputs: introspection and `run_query` go there, which
    /// for a federated model is not the model's own target.
    pub home: Option<InputHome>,
}

/// Where a node's input lives: its target, and how that target's own SQL names it (a
/// federated model names it as the engine does).
#[derive(Debug, Clone)]
pub struct InputHome {
    /// The target holding the relation.
    pub target: String,
    /// The relation rendered for that target's dialect.
    pub native: String,
}

impl Object for JinjaRelation {
    /// A relation is true in a test (`{% if rel %}`), as a Python object is; minijinja
    /// would count a map-like object without keys as empty, so false.
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    /// Its parts, so that two relations are equal, and distinct dict keys, by name.
    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Str(&["database", "schema", "identifier"])
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "database" => Value::from(self.database.clone()),
            "schema" => Value::from(self.schema.clone()),
            "identifier" | "name" | "table" => Value::from(self.identifier.clone()),
            "metadata" => relation_metadata(),
            _ => return None,
        })
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.rendered)
    }

    /// `render()` keeps the name this node reads it by; `incorporate`, `include` and
    /// `quote` give a relation built from the parts, as `api.Relation.create` would.
    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> std::result::Result<Value, minijinja::Error> {
        if method == "render" {
            return Ok(Value::from(self.rendered.clone()));
        }
        let database = Some(self.database.clone()).filter(|d| !d.is_empty());
        python::relation_method(
            state,
            [
                database,
                Some(self.schema.clone()),
                Some(self.identifier.clone()),
            ],
            None,
            method,
            args,
        )
    }
}

/// `relation.metadata`: packages tell a relation from a string by its class name
/// (dbt_utils' `_is_relation` checks that `metadata.type` ends in `Relation`).
pub(crate) fn relation_metadata() -> Value {
    python::str_map([("type", Value::from("BaseRelation"))])
}

/// Relations a node may reference at compile time, already rendered for its path.
#[derive(Debug, Clone, Default)]
pub struct CompileRelations {
    /// By `ref()` call: `ref('name')` and `ref('package', 'name')` are different keys.
    pub refs: BTreeMap<RefCall, JinjaRelation>,
    /// By (source, table).
    pub sources: BTreeMap<(String, String), JinjaRelation>,
    /// By `function()` call: the function's qualified name on the node's target.
    pub functions: BTreeMap<RefCall, JinjaRelation>,
    /// For a pushed-down node, every source table on its target: dbt resolves a
    /// `source()` the parse did not see (one chosen by a query result, as Fivetran's
    /// `union_data` does), so DVT does too where no federation has to plan for it.
    pub unseen_sources: Option<Arc<BTreeMap<(String, String), JinjaRelation>>>,
}

/// The names a parse-phase render may use; any other `ref`/`source` raises an error at
/// the call, so its file and line come from the template engine.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Model and seed names.
    pub refs: std::collections::BTreeSet<String>,
    /// (package, name) of every model and seed, for `ref('package', 'name')`.
    pub qualified_refs: std::collections::BTreeSet<(String, String)>,
    /// (source, table) pairs.
    pub sources: std::collections::BTreeSet<(String, String)>,
    /// Function names.
    pub functions: std::collections::BTreeSet<String>,
    /// (package, name) of every function, for `function('package', 'name')`.
    pub qualified_functions: std::collections::BTreeSet<(String, String)>,
}

/// Marks the error a call to an unknown `ref`/`source`/`function` raises under [`Known`].
pub const UNKNOWN_CALL: &str = "DVT-unknown-call ";

/// Per-render state shared with the Jinja functions.
#[derive(Debug)]
pub struct RenderNode {
    phase: Phase,
    relations: CompileRelations,
    recorded: Mutex<Recorded>,
    known: Option<Known>,
    /// The node's merged config, for `config.get` at compile time.
    config: Map<String, Json>,
    /// What `is_incremental()` answers.
    is_incremental: bool,
    /// The database `run_query` and introspection use (compiling for a run).
    connection: Option<Arc<Connection>>,
    /// Vars that win over the project's (a unit test's `overrides.vars`).
    vars: Map<String, Json>,
    /// See [`RenderInput::federated`].
    federated: bool,
}

impl Object for RenderNode {}

impl RenderNode {
    fn record(&self) -> std::sync::MutexGuard<'_, Recorded> {
        // A poisoned lock only means another render panicked; the data is still usable.
        self.recorded.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn to_value<T: serde::Serialize>(v: T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// A var's value as dbt's `var()` answers it: a string holding Jinja is rendered when it
/// is read, in the caller's context, so `account: "{{ source('stripe', 'account') }}"` in
/// a package's `vars:` resolves (and records the dependency) in the model that reads it,
/// and `"{{ 9 if target.type == 'bigquery' else -1 }}"` sees the node's target. The result
/// is text, as in dbt; other values are returned as they are.
fn render_var(state: &State, value: &Json) -> std::result::Result<Value, minijinja::Error> {
    let Json::String(text) = value else {
        return Ok(to_value(value));
    };
    if !has_render_chars(text) {
        return Ok(Value::from(text.as_str()));
    }
    state
        .env()
        .render_str(&preprocess(text), caller_scope(state))
        .map(Value::from)
}

/// The names of a render's node context that macros see.
const CONTEXT_NAMES: [&str; 5] = ["this", "target", "model", "execute", "thread_id"];

/// Where a render keeps its node context ([`CONTEXT_NAMES`]) as it began: a macro sees
/// the render's `model`, not a caller's argument of that name (a generic test's `model`
/// is the tested relation, while `elementary.get_test_model()` reads the test node).
const CONTEXT_KEY: &str = "__dvt_context__";

/// The caller's node context (`this`, `target`, `model`, `execute` and DVT's own keys),
/// for what renders inside a render: a macro's body, a var's text.
fn caller_scope(state: &State) -> Value {
    let mut values = BTreeMap::new();
    for key in [NODE_KEY, PACKAGE_KEY, LOCALS_KEY, GLOBALS_KEY, CONTEXT_KEY] {
        if let Some(v) = state.lookup(key) {
            values.insert(key, v);
        }
    }
    let context = values.get(CONTEXT_KEY).cloned();
    for key in CONTEXT_NAMES {
        let v = match &context {
            Some(c) => c.get_attr(key).ok().filter(|v| !v.is_undefined()),
            None => state.lookup(key),
        };
        if let Some(v) = v {
            values.insert(key, v);
        }
    }
    Value::from_object(Scope(values))
}

/// dbt's test for a string that needs rendering: any of `{{`, `{%`, `{#`, `}}`, `%}`, `#}`.
fn has_render_chars(text: &str) -> bool {
    ["{{", "{%", "{#", "}}", "%}", "#}"]
        .iter()
        .any(|m| text.contains(m))
}

fn node(state: &State) -> std::result::Result<Arc<RenderNode>, minijinja::Error> {
    state
        .lookup(NODE_KEY)
        .and_then(|v| v.downcast_object::<RenderNode>())
        .ok_or_else(|| {
            minijinja::Error::new(
                ErrorKind::InvalidOperation,
                "this function is only available while rendering a node",
            )
        })
}

/// What a node render needs besides its template.
#[derive(Debug, Clone)]
pub struct RenderInput {
    /// Phase.
    pub phase: Phase,
    /// Template name (the node's file, relative to the project).
    pub template: String,
    /// The node's file, for error locations.
    pub file: PathBuf,
    /// `this` (`None` in a unit test without a `this` fixture, as in dbt).
    pub this: Option<JinjaRelation>,
    /// `target` (a mapping).
    pub target: Json,
    /// `model` (a mapping).
    pub model: Json,
    /// Relations for the compile phase.
    pub relations: CompileRelations,
    /// In the parse phase: the only names `ref`/`source` may use (none checked when
    /// `None`).
    pub known: Option<Known>,
    /// What `is_incremental()` answers: the model is incremental, its relation exists
    /// as a table and no full refresh was asked for (the runner knows; parsing says no).
    pub is_incremental: bool,
    /// The database `run_query`, `statement` and `adapter.get_relation` query (`None`
    /// while parsing, and when compiling without connecting).
    pub connection: Option<Arc<Connection>>,
    /// Vars that win over the project's and `--vars` (a unit test's `overrides.vars`).
    pub vars: Map<String, Json>,
    /// The node's package when it belongs to an installed package (`None`: the root
    /// project). Its own macros then come before the root project's for unqualified
    /// calls, and `var()` answers with the package's vars, as in dbt.
    pub package: Option<String>,
    /// The node's SQL runs in DVT's engine (a federated node): `adapter.dispatch` then
    /// tries `datafusion__<name>` first, so dbt's cross-database macros write SQL the
    /// engine plans rather than the target database's.
    pub federated: bool,
    /// More context values: on-run-end's `results` and `schemas`, `flags`.
    pub globals: Map<String, Json>,
}

/// One macro as the project defines it.
#[derive(Debug, Clone)]
pub struct MacroDef {
    /// Its package: the root project's name, an installed package's, or `dbt` for DVT's
    /// built-ins.
    pub package: String,
    /// Its name (`test_<name>` for a `{% test %}` block).
    pub name: String,
    /// Its file, relative to the root project (built-ins: `macros/<file>.sql`).
    pub file: PathBuf,
    /// The line of its `{% macro %}` tag.
    pub line: usize,
    /// The block as written: dbt's `macro_sql`.
    pub sql: String,
}

impl MacroDef {
    /// `macro.<package>.<name>`.
    pub fn unique_id(&self) -> String {
        format!("macro.{}.{}", self.package, self.name)
    }
}

/// The macros and vars of the root project or of one installed package, for
/// [`JinjaEnv::with_packages`].
#[derive(Debug, Clone, Default)]
pub struct PackageMacros {
    /// The project's name (`dbt_project.yml` `name:`).
    pub name: String,
    /// Its macro files: (path relative to the root project, text).
    pub macro_files: Vec<(PathBuf, String)>,
    /// What `var()` answers in its nodes (and in the macros they call).
    pub vars: Map<String, Json>,
}

/// A package's macros by name, as Jinja sees them: the render context of the package's
/// nodes falls back to it, and the global named after the package is it, so
/// `golden_utils.safe_divide(...)` looks the macro up and calls it.
#[derive(Debug, Default)]
struct MacroTable {
    macros: BTreeMap<String, Value>,
    /// dbt's own namespace: a call it has no macro for goes to the context's function of
    /// that name (`dbt.run_query(...)`, which elementary calls to skip its override).
    context_fallback: bool,
}

impl MacroTable {
    fn new(macros: BTreeMap<String, Value>) -> Self {
        MacroTable {
            macros,
            context_fallback: false,
        }
    }
}

impl Object for MacroTable {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.macros
            .get(key.as_str()?)
            .map(|m| Value::from_object(PyMacro(m.clone())))
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> std::result::Result<Value, minijinja::Error> {
        match self.macros.get(method) {
            Some(m) => m.call(state, args),
            None if self.context_fallback => {
                match state.env().globals().find(|(name, _)| *name == method) {
                    Some((_, f)) => f.call(state, args),
                    None => Err(minijinja::Error::new(
                        ErrorKind::UnknownMethod,
                        format!("dbt has no macro `{method}`"),
                    )),
                }
            }
            None => Err(minijinja::Error::new(
                ErrorKind::UnknownMethod,
                format!("this package has no macro `{method}`"),
            )),
        }
    }
}

/// A macro read as a value (`dbt.type_timestamp`, not called): truthy, as a Python
/// function is, so `dbt.type_timestamp or dbt_utils.type_timestamp` (elementary) picks
/// the first; minijinja's own macro value reads as an empty, false mapping.
#[derive(Debug)]
struct PyMacro(Value);

impl Object for PyMacro {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Plain
    }

    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0
            .get_attr(key.as_str()?)
            .ok()
            .filter(|v| !v.is_undefined())
    }

    fn call(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        args: &[Value],
    ) -> std::result::Result<Value, minijinja::Error> {
        self.0.call(state, args)
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// dbt's `builtins`: the context's own `ref`, `source`, `config` and `function`, which
/// a project that overrides `ref` with a macro calls (`builtins.ref(name)`).
/// `builtins.ref.config` is dbt's runtime configuration, of which DVT gives what
/// packages read (elementary): `project_name`, `vars`, `cli_vars`, `args`,
/// `dependencies` (each package's `version`).
#[derive(Debug)]
struct Builtins {
    runtime_config: Value,
}

impl Object for Builtins {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "ref" => Some(Value::from_object(BuiltinRef {
                runtime_config: self.runtime_config.clone(),
            })),
            "source" => Some(Value::from_function(source_fn)),
            "function" => Some(Value::from_function(function_fn)),
            "config" => Some(Value::from_object(ConfigFn)),
            _ => None,
        }
    }
}

/// `builtins.ref`: callable as `ref`, with the runtime configuration as `.config`.
#[derive(Debug)]
struct BuiltinRef {
    runtime_config: Value,
}

impl Object for BuiltinRef {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Plain
    }

    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        (key.as_str()? == "config").then(|| self.runtime_config.clone())
    }

    fn call(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        args: &[Value],
    ) -> std::result::Result<Value, minijinja::Error> {
        let (names, kwargs): (Rest<String>, Kwargs) = minijinja::value::from_args(args)?;
        ref_fn(state, names, kwargs)
    }
}

/// Every macro by package, for `adapter.dispatch` and `var()`.
#[derive(Debug, Default)]
struct Registry {
    /// The root project's name.
    root: String,
    /// Macros by package: the root project, each installed package, and `dbt` (DVT's
    /// built-in macros).
    tables: BTreeMap<String, Arc<MacroTable>>,
    /// What dbt's dispatch finds without a namespace: built-ins, then packages, then the
    /// root project, later ones winning.
    flat: BTreeMap<String, Value>,
    /// `dispatch:` of the root project: namespace -> packages to search, in order.
    dispatch: BTreeMap<String, Vec<String>>,
    /// `var()` for the root project's nodes (and outside any node).
    root_vars: Arc<Map<String, Json>>,
    /// `var()` for each installed package's nodes.
    vars: BTreeMap<String, Arc<Map<String, Json>>>,
}

/// The context of one render: `this`, `target`, `model`, `execute` and DVT's own keys;
/// names it lacks fall back to the node's package macros (when the node belongs to a
/// package), then to the environment's globals (the root project's macros, built-ins,
/// package namespaces). This is dbt's lookup order for a node of a package.
#[derive(Debug)]
struct Scope(BTreeMap<&'static str, Value>);

/// Where a render's extra context values ([`RenderInput::globals`]) live, so macros it
/// calls see them too.
const GLOBALS_KEY: &str = "__dvt_globals";

impl Object for Scope {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        if let Some(v) = self.0.get(key) {
            return Some(v.clone());
        }
        if let Some(v) = self
            .0
            .get(GLOBALS_KEY)
            .and_then(|g| g.get_attr(key).ok())
            .filter(|v| !v.is_undefined())
        {
            return Some(v);
        }
        self.0
            .get(LOCALS_KEY)?
            .downcast_object_ref::<MacroTable>()?
            .macros
            .get(key)
            .cloned()
    }
}

/// The project's Jinja environment: node templates plus macros.
pub struct JinjaEnv {
    env: Environment<'static>,
    templates: std::collections::BTreeSet<String>,
    macros: BTreeMap<String, (PathBuf, usize)>,
    builtins: std::collections::BTreeSet<String>,
    registry: Arc<Registry>,
    /// Every macro: the root project's, the packages', DVT's built-ins.
    defs: Vec<MacroDef>,
    /// `target` while parsing: the default target's, as dbt renders configs with it.
    parse_target: Json,
    /// The package whose files a parse is reading (`None` for the root project): its
    /// YAML snippets read that package's vars, as dbt renders them.
    parse_package: Option<String>,
}

impl std::fmt::Debug for JinjaEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JinjaEnv")
            .field("templates", &self.templates)
            .finish()
    }
}

impl JinjaEnv {
    /// Builds the environment from macro files (`(relative path, text)`) and vars, for a
    /// project without packages.
    pub fn new(macro_files: &[(PathBuf, String)], vars: Map<String, Json>) -> Result<Self> {
        Self::with_packages(
            PackageMacros {
                name: String::new(),
                macro_files: macro_files.to_vec(),
                vars,
            },
            Vec::new(),
            BTreeMap::new(),
        )
    }

    /// Builds the environment of a project and its installed packages. `dispatch` is the
    /// root project's `dispatch:` (namespace -> search order).
    ///
    /// The root project's macros and DVT's built-ins (those the root project does not
    /// replace) are globals; each package's macros are reachable as `<package>.<macro>`
    /// from everywhere, and unqualified from the package's own nodes, where they come
    /// first (see [`RenderInput::package`]). The root project is a namespace too, and
    /// DVT's built-ins are `dbt.<macro>`.
    pub fn with_packages(
        root: PackageMacros,
        packages: Vec<PackageMacros>,
        dispatch: BTreeMap<String, Vec<String>>,
    ) -> Result<Self> {
        let mut env = base_env(false);
        let mut defs = Vec::new();
        let root_table = add_macros(&mut env, &root.name, &root.macro_files, &mut defs)?;
        let macros: BTreeMap<String, (PathBuf, usize)> = root_table
            .iter()
            .map(|(name, (file, line, _))| (name.clone(), (file.clone(), *line)))
            .collect();
        // DVT's versions of dbt's built-in macros: globals unless the project defines its
        // own, and always `dbt.<name>`.
        let mut builtin_table = BTreeMap::new();
        for (file, text) in BUILTIN_MACROS {
            let split = split_macros(text).map_err(|(line, message)| Error::Jinja {
                location: Location::line(file, line),
                message,
            })?;
            for m in split {
                let template = format!("{file}#{}", m.name);
                let (source, params) = python::variadic(&m.source);
                env.add_template_owned(template.clone(), preprocess(&source))
                    .map_err(|e| jinja_error(&e, Path::new(file)))?;
                builtin_table.insert(
                    m.name.clone(),
                    macro_value(template, DBT_NAMESPACE, &m.name, params),
                );
                defs.push(MacroDef {
                    package: DBT_NAMESPACE.to_owned(),
                    name: m.name,
                    file: PathBuf::from(file.trim_start_matches("<dvt>/")),
                    line: m.line,
                    sql: m.sql,
                });
            }
        }
        let mut builtins = std::collections::BTreeSet::new();
        for (name, value) in &builtin_table {
            if !macros.contains_key(name) {
                builtins.insert(name.clone());
                env.add_global(name.clone(), value.clone());
            }
        }
        for (name, (_, _, value)) in &root_table {
            env.add_global(name.clone(), value.clone());
        }
        let mut registry = Registry {
            root: root.name.clone(),
            dispatch,
            root_vars: Arc::new(root.vars),
            ..Registry::default()
        };
        registry.flat.extend(builtin_table.clone());
        let mut tables = BTreeMap::new();
        for p in packages {
            let table = add_macros(&mut env, &p.name, &p.macro_files, &mut defs)?;
            let table: BTreeMap<String, Value> =
                table.into_iter().map(|(n, (_, _, v))| (n, v)).collect();
            registry.flat.extend(table.clone());
            registry.vars.insert(p.name.clone(), Arc::new(p.vars));
            tables.insert(p.name, Arc::new(MacroTable::new(table)));
        }
        let root_values: BTreeMap<String, Value> = root_table
            .into_iter()
            .map(|(n, (_, _, v))| (n, v))
            .collect();
        registry.flat.extend(root_values.clone());
        tables.insert(root.name.clone(), Arc::new(MacroTable::new(root_values)));
        tables.insert(
            DBT_NAMESPACE.to_owned(),
            Arc::new(MacroTable {
                macros: builtin_table,
                context_fallback: true,
            }),
        );
        // A namespace is a global unless a root macro of that name takes it (dbt looks
        // up the root project's macros before the package namespaces).
        for (name, table) in &tables {
            if !name.is_empty() && !macros.contains_key(name) {
                env.add_global(name.clone(), Value::from_dyn_object(Arc::clone(table)));
            }
        }
        registry.tables = tables;
        let registry = Arc::new(registry);
        env.add_global(
            "adapter",
            Value::from_object(AdapterObject {
                registry: Arc::clone(&registry),
            }),
        );
        let reg = Arc::clone(&registry);
        env.add_function(
            "var",
            move |state: &State,
                  name: String,
                  default: Rest<Value>|
                  -> std::result::Result<Value, minijinja::Error> {
                // `var('x', none)` passes a default of None: present, unlike no default.
                let default = default.first().cloned();
                if let Ok(n) = node(state)
                    && let Some(v) = n.vars.get(&name)
                {
                    return render_var(state, v);
                }
                let package = state.lookup(PACKAGE_KEY);
                let vars = package
                    .as_ref()
                    .and_then(|p| p.as_str())
                    .and_then(|p| reg.vars.get(p))
                    .unwrap_or(&reg.root_vars);
                match vars.get(&name) {
                    Some(j) => render_var(state, j),
                    None => default.ok_or_else(|| {
                        minijinja::Error::new(
                            ErrorKind::UndefinedError,
                            format!("required var `{name}` not found in `vars` or `--vars`"),
                        )
                    }),
                }
            },
        );
        Ok(JinjaEnv {
            env,
            templates: Default::default(),
            macros,
            builtins,
            registry,
            defs,
            parse_target: Json::Object(Map::new()),
            parse_package: None,
        })
    }

    /// Every macro with the macros it calls, as dbt-core lists them in `manifest.json`
    /// (`depends_on.macros`, found by reading each macro's text; see
    /// `jinja/calls.rs`). `adapter` is the default target's type, which picks what
    /// an `adapter.dispatch` in a macro resolves to.
    pub fn macro_dependencies(&self, adapter: &str) -> Vec<(&MacroDef, Vec<String>)> {
        let reg = &self.registry;
        let prefixes = dispatch_prefixes(adapter);
        self.defs
            .iter()
            .map(|def| {
                let mut deps: Vec<String> = Vec::new();
                let mut add = |id: Option<String>| {
                    if let Some(id) = id
                        && !deps.contains(&id)
                    {
                        deps.push(id);
                    }
                };
                for call in calls::static_calls(&def.sql) {
                    let (name, dispatched) = match call {
                        calls::Call::Named(name) => (name, None),
                        calls::Call::Dispatch { name, namespace } => {
                            let found = reg.dispatch(&name, namespace.as_deref(), &prefixes);
                            (name, found.ok().and_then(macro_unique_id))
                        }
                    };
                    // A dispatching macro names itself; dbt leaves that edge out.
                    if name != def.name {
                        let (package, short) = name
                            .split_once('.')
                            .unwrap_or((def.package.as_str(), &name));
                        add(reg.resolve(package, short).and_then(macro_unique_id));
                    }
                    add(dispatched);
                }
                (def, deps)
            })
            .collect()
    }

    /// Sets `target` for parse-phase renders (`config(schema=target.schema ~ '_x')`).
    pub fn set_parse_target(&mut self, target: Json) {
        self.parse_target = target;
    }

    /// Sets the package whose files are being parsed (`None`: the root project).
    pub fn set_parse_package(&mut self, package: Option<String>) {
        self.parse_package = package.filter(|p| *p != self.registry.root);
    }

    /// `target` for parse-phase renders.
    pub fn parse_target(&self) -> &Json {
        &self.parse_target
    }

    /// Offers dbt's `builtins` (see `Builtins`), with `runtime_config` as
    /// `builtins.ref.config`.
    pub fn set_builtins(&mut self, runtime_config: &Json) {
        self.env.add_global(
            "builtins",
            Value::from_object(Builtins {
                runtime_config: to_value(runtime_config),
            }),
        );
    }

    /// Sets a global every later render sees (`graph`, once the project is resolved).
    pub fn set_global(&mut self, name: &'static str, value: &Json) {
        self.env.add_global(name, to_value(value));
    }

    /// [`Self::set_global`] for a mapping code may change, one object for the whole
    /// process as in dbt: packages keep a cache in `graph` (elementary's
    /// `graph.setdefault("elementary", {})`).
    pub fn set_mutable_global(&mut self, name: &'static str, value: &Json) -> Result<()> {
        let value = python::mutable_dict(to_value(value)).map_err(|e| Error::Jinja {
            location: Location::file(Path::new(name)),
            message: e.to_string(),
        })?;
        self.env.add_global(name, value);
        Ok(())
    }

    /// Offers `doc(name)` (and `doc(package, name)`): the text of a `{% docs %}` block.
    pub fn set_docs(&mut self, docs: BTreeMap<String, String>) {
        let docs = Arc::new(docs);
        self.env.add_function(
            "doc",
            move |args: Rest<String>| -> std::result::Result<Value, minijinja::Error> {
                let name = args.last().cloned().unwrap_or_default();
                docs.get(&name)
                    .map(|t| Value::from(t.clone()))
                    .ok_or_else(|| {
                        minijinja::Error::new(
                            ErrorKind::InvalidOperation,
                            format!("doc `{name}` is not defined in any `{{% docs %}}` block"),
                        )
                    })
            },
        );
    }

    /// Whether a call to macro `name` resolves in a node of `package` (`None`: the root
    /// project): qualified as `<namespace>.<name>`, else unqualified (the package's own
    /// macros, the root project's, DVT's built-ins).
    pub fn has_macro(&self, package: Option<&str>, namespace: Option<&str>, name: &str) -> bool {
        self.macro_owner(package, namespace, name, "").is_some()
    }

    /// The package whose macro a call to `name` from a node of `package` runs, in the
    /// order of [`JinjaEnv::has_macro`]: the namespace, the package's own, the root
    /// project's (`root`), DVT's built-ins (dbt's, `dbt`).
    pub fn macro_owner(
        &self,
        package: Option<&str>,
        namespace: Option<&str>,
        name: &str,
        root: &str,
    ) -> Option<String> {
        let in_table = |p: &str| {
            self.registry
                .tables
                .get(p)
                .is_some_and(|t| t.macros.contains_key(name))
        };
        match namespace {
            Some(ns) => in_table(ns).then(|| ns.to_owned()),
            None if package.is_some_and(in_table) => package.map(str::to_owned),
            None if self.macros.contains_key(name) => Some(root.to_owned()),
            None if self.builtins.contains(name) => Some("dbt".to_owned()),
            None => None,
        }
    }

    /// Names of the project's macros, with the file and line that define them.
    pub fn macros(&self) -> &BTreeMap<String, (PathBuf, usize)> {
        &self.macros
    }

    /// Renders a snippet outside any node (a YAML value, a call to a project macro) with
    /// `ctx` as its variables; `var`, `env_var` and project macros are available.
    /// Errors name `location` (the snippet's file and line).
    pub fn render_snippet(&self, text: &str, ctx: &Json, location: &Location) -> Result<String> {
        RETURN_SLOT.with(|s| s.borrow_mut().take());
        let ctx = match (&self.parse_package, ctx) {
            (Some(p), Json::Object(map)) => {
                let mut scoped = map.clone();
                scoped.insert(PACKAGE_KEY.into(), Json::from(p.clone()));
                to_value(&scoped)
            }
            _ => to_value(ctx),
        };
        self.env.render_str(&preprocess(text), ctx).map_err(|e| {
            let mut err = jinja_error(&e, &location.file);
            match &mut err {
                Error::Jinja { location: l, .. } | Error::EnvVarMissing { location: l, .. } => {
                    *l = location.clone();
                }
                _ => {}
            }
            err
        })
    }

    /// Adds a node's template. Syntax errors are reported here, naming file and line.
    pub fn add_node_template(&mut self, file: &Path, text: &str) -> Result<()> {
        let name = file.display().to_string();
        self.env
            .add_template_owned(name.clone(), preprocess(text))
            .map_err(|e| jinja_error(&e, file))?;
        self.templates.insert(name);
        Ok(())
    }

    /// Adds a template under a name of its own (a generic test's), reporting errors in
    /// `file`.
    pub fn add_named_template(&mut self, name: &str, file: &Path, text: &str) -> Result<()> {
        self.env
            .add_template_owned(name.to_owned(), preprocess(text))
            .map_err(|e| jinja_error(&e, file))?;
        self.templates.insert(name.to_owned());
        Ok(())
    }

    /// Renders a node template; returns the SQL and what the render recorded.
    pub fn render(&self, input: RenderInput) -> Result<(String, Recorded)> {
        self.render_with(input, None)
    }

    /// Renders `source` (a hook, not a registered template) in a node's context.
    pub fn render_source(&self, source: &str, input: RenderInput) -> Result<(String, Recorded)> {
        self.render_with(input, Some(source))
    }

    fn render_with(&self, input: RenderInput, source: Option<&str>) -> Result<(String, Recorded)> {
        let node = Arc::new(RenderNode {
            phase: input.phase,
            relations: input.relations,
            recorded: Mutex::new(Recorded::default()),
            known: input.known,
            config: input
                .model
                .get("config")
                .and_then(Json::as_object)
                .cloned()
                .unwrap_or_default(),
            is_incremental: input.is_incremental,
            connection: input.connection,
            vars: input.vars,
            federated: input.federated,
        });
        let mut values = BTreeMap::new();
        values.insert(NODE_KEY, Value::from_dyn_object(Arc::clone(&node)));
        values.insert(
            "this",
            input.this.map_or(Value::from(()), Value::from_object),
        );
        values.insert("target", to_value(&input.target));
        values.insert("model", to_value(&input.model));
        values.insert("execute", Value::from(input.phase == Phase::Compile));
        // dbt's worker thread (`Thread-3`), where the render's database knows the node's;
        // packages keep per-thread state under it (elementary's duration stacks).
        if let Some(t) = node.connection.as_ref().and_then(|c| c.db.thread_id()) {
            values.insert("thread_id", Value::from(t));
        }
        let context: BTreeMap<&'static str, Value> = CONTEXT_NAMES
            .iter()
            .filter_map(|k| Some((*k, values.get(k)?.clone())))
            .collect();
        values.insert(CONTEXT_KEY, Value::from_object(Scope(context)));
        if !input.globals.is_empty() {
            values.insert(GLOBALS_KEY, self.globals_value(input.globals));
        }
        if let Some(p) = input.package.filter(|p| *p != self.registry.root) {
            if let Some(table) = self.registry.tables.get(&p) {
                values.insert(LOCALS_KEY, Value::from_dyn_object(Arc::clone(table)));
            }
            values.insert(PACKAGE_KEY, Value::from(p));
        }
        let ctx = Value::from_object(Scope(values));
        RETURN_SLOT.with(|s| s.borrow_mut().take());
        let rendered = match source {
            Some(text) => self.env.render_str(&preprocess(text), ctx),
            None => self
                .env
                .get_template(&input.template)
                .map_err(|e| jinja_error(&e, &input.file))?
                .render(ctx),
        };
        // dbt parses a node by rendering it with unknown names let through; a node whose
        // `config(enabled=false)` ran before the failure is disabled, and dbt never
        // compiles it (Fivetran's validation tests call `dbt_utils`, which those projects
        // do not install, behind `enabled=var(...)`).
        if rendered.is_err()
            && input.phase == Phase::Parse
            && node
                .record()
                .config
                .get("enabled")
                .and_then(crate::manifest::config_bool)
                == Some(false)
        {
            let recorded = node.record().clone();
            return Ok((String::new(), recorded));
        }
        let sql = rendered.map_err(|e| {
            if RETURN_SLOT.with(|s| s.borrow_mut().take()).is_some() {
                return Error::Jinja {
                    location: Location {
                        file: input.file.clone(),
                        line: e.line().map(crate::error::small),
                        column: None,
                    },
                    message: "`return()` may only be used inside a macro".into(),
                };
            }
            jinja_error(&e, &input.file)
        })?;
        let recorded = node.record().clone();
        Ok((sql, recorded))
    }
}

impl JinjaEnv {
    /// A render's extra values as one map, with a unit test's overrides
    /// ([`MACRO_OVERRIDES`], [`ENV_VAR_OVERRIDES`]) turned into the functions they
    /// replace: `name` or `namespace.name` returning the given value, and `env_var`
    /// answering the given variables first.
    fn globals_value(&self, mut globals: Map<String, Json>) -> Value {
        let macros = globals.remove(MACRO_OVERRIDES);
        let env_vars = globals.remove(ENV_VAR_OVERRIDES);
        let mut out: BTreeMap<String, Value> = globals
            .iter()
            .map(|(k, v)| (k.clone(), to_value(v)))
            .collect();
        let global = |name: &str| self.env.globals().find(|(k, _)| *k == name).map(|(_, v)| v);
        let mut namespaces: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
        for (name, value) in macros
            .as_ref()
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
        {
            // The value as written: text, or a mapping or list the code reads into
            // (audit_helper overrides `_get_comparison_bounds` with a dict).
            let given = to_value(value);
            let f = Value::from_function(move |_: Rest<Value>| given.clone());
            match name.split_once('.') {
                Some((ns, m)) => {
                    namespaces
                        .entry(ns.to_owned())
                        .or_default()
                        .insert(m.to_owned(), f);
                }
                None => {
                    out.insert(name.clone(), f);
                }
            }
        }
        for (ns, overrides) in namespaces {
            let inner = global(&ns).unwrap_or_default();
            out.insert(ns, Value::from_object(Overridden { inner, overrides }));
        }
        if let Some(Json::Object(vars)) = env_vars {
            let vars: BTreeMap<String, String> = vars
                .into_iter()
                .map(|(k, v)| match v {
                    Json::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect();
            let f = move |name: String, default: Option<String>| match vars.get(&name) {
                Some(v) => Ok(v.clone()),
                None => env_var(false, name, default),
            };
            out.insert("env_var".into(), Value::from_function(f));
        }
        Value::from(out)
    }
}

/// A unit test's `overrides.macros` in a render's extra values (name -> returned text).
pub const MACRO_OVERRIDES: &str = "__dvt_macro_overrides";
/// A unit test's `overrides.env_vars` in a render's extra values.
pub const ENV_VAR_OVERRIDES: &str = "__dvt_env_var_overrides";

/// A macro namespace (`dbt`, a package) with some of its macros replaced.
#[derive(Debug)]
struct Overridden {
    inner: Value,
    overrides: BTreeMap<String, Value>,
}

impl Object for Overridden {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        self.overrides
            .get(name)
            .cloned()
            .or_else(|| self.inner.get_attr(name).ok().filter(|v| !v.is_undefined()))
    }

    fn is_true(self: &Arc<Self>) -> bool {
        true
    }
}

/// `env_var(name, default)`: the variable, else the default, else an error (DVT110);
/// a secret variable (`DBT_ENV_SECRET_*`) only where `allow_secret` (profiles.yml).
fn env_var(
    allow_secret: bool,
    name: String,
    default: Option<String>,
) -> std::result::Result<String, minijinja::Error> {
    if !allow_secret && SECRET_ENV_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("secret environment variable `{name}` may only be used in profiles.yml"),
        ));
    }
    match std::env::var(&name) {
        Ok(v) => Ok(v),
        Err(_) => default.ok_or_else(|| {
            minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("{MISSING_ENV_PREFIX}{name}"),
            )
        }),
    }
}

/// Python methods on plain values: minijinja-contrib's, plus `list.pop()` on a list
/// nothing else holds (`(nodes | list).pop()` in dbt-codegen), which returns the item.
fn python_methods(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> std::result::Result<Value, minijinja::Error> {
    // `d.copy()` / `l.copy()`: a new mutable value with the same items (dbt_artifacts
    // copies a node, then updates the copy).
    // dbt's result and node objects have `to_dict()` (elementary's
    // `dbt_object_to_dict(result)`); DVT gives them as dicts already.
    if method == "to_dict" && args.is_empty() && value.kind() == ValueKind::Map {
        return python::mutable_dict(value.clone());
    }
    if method == "copy" && args.is_empty() {
        match value.kind() {
            ValueKind::Seq => {
                return Ok(Value::from_object(MutableList(Mutex::new(
                    value.try_iter()?.collect(),
                ))));
            }
            ValueKind::Map if value.try_iter().is_ok() => {
                // `mutable_dict` builds a new dict from the items.
                return python::mutable_dict(value.clone());
            }
            _ => {}
        }
    }
    if method == "pop" && value.kind() == ValueKind::Seq {
        let items: Vec<Value> = value.try_iter()?.collect();
        let at = match args {
            [] => items.len().checked_sub(1),
            [i] => {
                let i = i64::try_from(i.clone())?;
                let n = items.len() as i64;
                usize::try_from(if i < 0 { n + i } else { i }).ok()
            }
            _ => return Err(minijinja::Error::from(ErrorKind::TooManyArguments)),
        };
        return at.and_then(|i| items.get(i).cloned()).ok_or_else(|| {
            minijinja::Error::new(
                ErrorKind::InvalidOperation,
                "pop from empty list or index out of range",
            )
        });
    }
    if value.kind() == ValueKind::Seq {
        match (method, args) {
            // dbt_expectations finds a column's position with `names.index(name)`.
            ("index", [needle]) => {
                return value
                    .try_iter()?
                    .position(|v| &v == needle)
                    .map(Value::from)
                    .ok_or_else(|| {
                        minijinja::Error::new(
                            ErrorKind::InvalidOperation,
                            format!("{needle} is not in list"),
                        )
                    });
            }
            ("count", [needle]) => {
                return Ok(Value::from(
                    value.try_iter()?.filter(|v| v == needle).count(),
                ));
            }
            _ => {}
        }
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

/// An environment with the functions every phase shares.
fn base_env(allow_secret_env: bool) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_recursion_limit(200);
    // dbt's Jinja is Python's: `d.values()`, `d.items()`, `s.upper()`, `l.append()`...
    env.set_unknown_method_callback(python_methods);
    python::register(&mut env);
    database::register(&mut env);
    env.add_function(MUTABLE_LIST_FN, || {
        Value::from_object(MutableList::default())
    });
    env.add_function(MUTABLE_FN, mutable_value);
    env.add_global(
        "adapter",
        Value::from_object(AdapterObject {
            registry: Arc::default(),
        }),
    );
    env.add_function("env_var", move |name: String, default: Option<String>| {
        env_var(allow_secret_env, name, default)
    });
    env.add_function("ref", ref_fn);
    env.add_function("source", source_fn);
    env.add_function("function", function_fn);
    env.add_global("config", Value::from_object(ConfigFn));
    env.add_function(
        "is_incremental",
        |state: &State, _: Rest<Value>| -> std::result::Result<bool, minijinja::Error> {
            record_macro_call(state, "macro.dbt.is_incremental");
            // Outside a node render (a project hook) nothing is incremental.
            Ok(node(state).is_ok_and(|n| n.is_incremental))
        },
    );
    env.add_function("log", log_fn);
    // dbt's `print`: the text on standard output (codegen prints the YAML it generates).
    env.add_function("print", |v: Value| -> String {
        println!("{v}");
        String::new()
    });
    // dbt's context offers `load_relation(relation)` beside `adapter.load_relation`.
    env.add_function(
        "load_relation",
        |state: &State, args: Rest<Value>| -> std::result::Result<Value, minijinja::Error> {
            // While parsing nothing exists yet, as dbt's stub answers.
            database::introspect(state, "load_relation", &args.0)
                .unwrap_or_else(|| Ok(Value::from(())))
        },
    );
    env.add_function(
        "return",
        // `Rest`, not `Option`: `return(none)` must give None (elementary's caches test
        // `is none`), and an `Option` argument reads `none` as absent.
        |v: Rest<Value>| -> std::result::Result<String, minijinja::Error> {
            let value = v.first().cloned().unwrap_or(Value::from(()));
            RETURN_SLOT.with(|s| *s.borrow_mut() = Some(value));
            Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                "return() called",
            ))
        },
    );
    env
}

/// Renders one string of a config file (`profiles.yml`): only `env_var()` is offered,
/// secrets allowed. Error messages never contain the rendered values.
pub fn render_config_string(text: &str, location: Location) -> Result<String> {
    let env = base_env(true);
    env.render_str(text, ()).map_err(|e| {
        let detail = e.detail().unwrap_or_default();
        if let Some(name) = detail.strip_prefix(MISSING_ENV_PREFIX) {
            Error::EnvVarMissing {
                location: location.clone(),
                name: name.to_owned(),
            }
        } else {
            Error::Jinja {
                location: location.clone(),
                message: detail.to_owned(),
            }
        }
    })
}

fn jinja_error(e: &minijinja::Error, fallback: &Path) -> Error {
    let file = e
        .name()
        // A rendered string (a hook) is `<string>` to the engine: the caller knows better.
        .filter(|n| *n != "<string>")
        .map(|n| PathBuf::from(n.split('#').next().unwrap_or(n)))
        .unwrap_or_else(|| fallback.to_path_buf());
    let location = Location {
        file,
        line: e.line().map(crate::error::small),
        column: None,
    };
    let detail = e
        .detail()
        .map(str::to_owned)
        .unwrap_or_else(|| e.kind().to_string());
    if let Some(name) = detail.strip_prefix(MISSING_ENV_PREFIX) {
        return Error::EnvVarMissing {
            location,
            name: name.to_owned(),
        };
    }
    Error::Jinja {
        location,
        message: format!("{}: {detail}", e.kind()),
    }
}

fn placeholder(name: &str) -> Value {
    Value::from_object(JinjaRelation {
        database: String::new(),
        schema: String::new(),
        identifier: name.to_owned(),
        rendered: format!("__dvt_ref__{name}"),
        home: None,
    })
}

/// The `('name')` or `('package', 'name')` arguments of `ref()` or `function()`.
fn call_args(what: &str, args: Rest<String>) -> std::result::Result<RefCall, minijinja::Error> {
    match args.0.as_slice() {
        [name] => Ok(RefCall::new(None, name.clone())),
        [pkg, name] => Ok(RefCall::new(Some(pkg.clone()), name.clone())),
        _ => Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("{what}() takes one or two arguments"),
        )),
    }
}

fn ref_fn(
    state: &State,
    args: Rest<String>,
    kwargs: Kwargs,
) -> std::result::Result<Value, minijinja::Error> {
    let node = node(state)?;
    let v: Option<Value> = kwargs.get("v")?;
    let version: Option<Value> = kwargs.get("version")?;
    kwargs.assert_all_used()?;
    let version = v.or(version).as_ref().and_then(version_text);
    let RefCall { package, name, .. } = call_args("ref", args)?;
    match node.phase {
        Phase::Parse => {
            if let Some(known) = &node.known {
                let exists = match &package {
                    Some(p) => known.qualified_refs.contains(&(p.clone(), name.clone())),
                    None => known.refs.contains(&name),
                };
                if !exists {
                    return Err(minijinja::Error::new(
                        ErrorKind::InvalidOperation,
                        format!("{UNKNOWN_CALL}ref('{name}')"),
                    ));
                }
            }
            let call = RefCall {
                package,
                name: name.clone(),
                version,
            };
            let mut rec = node.record();
            if !rec.refs.contains(&call) {
                rec.refs.push(call);
            }
            Ok(placeholder(&name))
        }
        Phase::Compile => node
            .relations
            .refs
            .get(&RefCall {
                package,
                name: name.clone(),
                version,
            })
            .map(|r| Value::from_object(r.clone()))
            .ok_or_else(|| {
                minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("`ref('{name}')` was not seen while parsing (is it inside `{{% if execute %}}`?)"),
                )
            }),
    }
}

/// dbt 1.11's `function('name')` / `function('package', 'name')`: records the call while
/// parsing (the node then depends on the function); renders the function's qualified
/// name, quoted for the node's target, when compiling.
fn function_fn(state: &State, args: Rest<String>) -> std::result::Result<Value, minijinja::Error> {
    let node = node(state)?;
    let call = call_args("function", args)?;
    let name = call.name.clone();
    match node.phase {
        Phase::Parse => {
            if let Some(known) = &node.known {
                let exists = match &call.package {
                    Some(p) => known.qualified_functions.contains(&(p.clone(), name.clone())),
                    None => known.functions.contains(&name),
                };
                if !exists {
                    return Err(minijinja::Error::new(
                        ErrorKind::InvalidOperation,
                        format!("{UNKNOWN_CALL}function('{name}')"),
                    ));
                }
            }
            let mut rec = node.record();
            if !rec.functions.contains(&call) {
                rec.functions.push(call);
            }
            Ok(placeholder(&name))
        }
        Phase::Compile => node
            .relations
            .functions
            .get(&call)
            .map(|r| Value::from_object(r.clone()))
            .ok_or_else(|| {
                minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("`function('{name}')` was not seen while parsing (is it inside `{{% if execute %}}`?)"),
                )
            }),
    }
}

fn source_fn(
    state: &State,
    source: String,
    table: String,
) -> std::result::Result<Value, minijinja::Error> {
    let node = node(state)?;
    match node.phase {
        Phase::Parse => {
            let key = (source.clone(), table.clone());
            if let Some(known) = &node.known
                && !known.sources.contains(&key)
            {
                return Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("{UNKNOWN_CALL}source('{source}', '{table}')"),
                ));
            }
            let mut rec = node.record();
            if !rec.sources.contains(&key) {
                rec.sources.push(key);
            }
            Ok(placeholder(&format!("{source}.{table}")))
        }
        Phase::Compile => {
            let key = (source.clone(), table.clone());
            let seen = node.relations.sources.get(&key);
            if seen.is_none() && node.federated {
                // One more input for the federated plan to extract.
                let mut rec = node.record();
                if !rec.sources.contains(&key) {
                    rec.sources.push(key.clone());
                }
            }
            seen.or_else(|| node.relations.unseen_sources.as_ref()?.get(&key))
                .map(|r| Value::from_object(r.clone()))
                .ok_or_else(|| {
                    let why = if node.relations.unseen_sources.is_none() {
                        "; a unit test reads only the inputs it gives"
                    } else if node.federated {
                        "; no source has that name"
                    } else {
                        "; it is not on this model's target"
                    };
                    minijinja::Error::new(
                        ErrorKind::InvalidOperation,
                        format!("`source('{source}', '{table}')` was not seen while parsing{why}"),
                    )
                })
        }
    }
}

fn log_fn(
    state: &State,
    msg: Value,
    _info: Option<Value>,
    kwargs: Kwargs,
) -> std::result::Result<String, minijinja::Error> {
    // `info=True` only changes dbt's log level.
    let _: Option<Value> = kwargs.get("info")?;
    kwargs.assert_all_used()?;
    let node = node(state)?;
    if node.phase == Phase::Compile {
        node.record().logs.push(msg.to_string());
    }
    Ok(String::new())
}

/// `config`: callable as `config(key=value, ...)`, and `config.get(key, default)`.
#[derive(Debug)]
struct ConfigFn;

impl Object for ConfigFn {
    fn call(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        args: &[Value],
    ) -> std::result::Result<Value, minijinja::Error> {
        let node = node(state)?;
        let (_, kwargs): (&[Value], Kwargs) = minijinja::value::from_args(args)?;
        if node.phase == Phase::Parse {
            let mut rec = node.record();
            for key in kwargs.args() {
                let v: Value = kwargs.get(key)?;
                let j = serde_json::to_value(&v).map_err(|e| {
                    minijinja::Error::new(
                        ErrorKind::BadSerialization,
                        format!("config `{key}`: {e}"),
                    )
                })?;
                crate::project::merge_config(&mut rec.config, key, j);
            }
        } else {
            for key in kwargs.args() {
                let _: Value = kwargs.get(key)?;
            }
        }
        Ok(Value::from(""))
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> std::result::Result<Value, minijinja::Error> {
        match method {
            "get" | "require" => {
                let node = node(state)?;
                let (key, default): (String, Option<Value>) = minijinja::value::from_args(args)?;
                let rec = node.record();
                match rec.config.get(&key).or_else(|| node.config.get(&key)) {
                    Some(v) => Ok(to_value(v)),
                    None if method == "get" => Ok(default.unwrap_or(Value::from(()))),
                    None => Err(minijinja::Error::new(
                        ErrorKind::InvalidOperation,
                        format!("config `{key}` is required"),
                    )),
                }
            }
            _ => Err(minijinja::Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// A project macro, rendered from its own template on each call.
#[derive(Debug)]
struct MacroFn {
    template: String,
    name: String,
    /// `macro.<package>.<name>`.
    unique_id: String,
    /// The declared parameters of a macro that reads `varargs`/`kwargs` (see
    /// [`python::variadic`]); extra arguments are packed into those two.
    params: Option<Vec<String>>,
}

impl Object for MacroFn {
    fn call(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        args: &[Value],
    ) -> std::result::Result<Value, minijinja::Error> {
        record_macro_call(state, &self.unique_id);
        let _depth = DepthGuard::enter(&self.name)?;
        // The macro renders in its caller's node context, with the same namespace: in
        // dbt a macro sees the macros of the node being rendered, whichever package
        // defines the macro itself.
        let tmpl = state.env().get_template(&self.template)?;
        let mut captured = tmpl.render_captured(caller_scope(state))?;
        RETURN_SLOT.with(|s| s.borrow_mut().take());
        // A `{% call %}` body is a macro of the caller's render, callable only from it:
        // render it here, once, and hand the macro its text.
        let with_caller = python::render_caller(state, args)?;
        let args = with_caller.as_deref().unwrap_or(args);
        let packed;
        let args = match &self.params {
            Some(params) => {
                packed = python::pack_variadic(params, args)?;
                packed.as_slice()
            }
            None => args,
        };
        match captured.with_state_mut(|st| st.call_macro(&self.name, args)) {
            Ok(out) => Ok(Value::from_safe_string(out)),
            Err(e) => match RETURN_SLOT.with(|s| s.borrow_mut().take()) {
                Some(v) => Ok(v),
                None => Err(e),
            },
        }
    }
}

/// A macro as a Jinja value: a callable rendering its template.
fn macro_value(template: String, package: &str, name: &str, params: Option<Vec<String>>) -> Value {
    Value::from_object(MacroFn {
        template,
        name: name.to_owned(),
        unique_id: format!("macro.{package}.{name}"),
        params,
    })
}

/// One package's macros as templates of `env`: name -> (file, line, callable). A name
/// defined twice in the package is an error.
type MacroDefs = BTreeMap<String, (PathBuf, usize, Value)>;

fn add_macros(
    env: &mut Environment<'static>,
    package: &str,
    files: &[(PathBuf, String)],
    defs: &mut Vec<MacroDef>,
) -> Result<MacroDefs> {
    let mut out: MacroDefs = BTreeMap::new();
    for (file, text) in files {
        let split = split_macros(text).map_err(|(line, message)| Error::Jinja {
            location: Location::line(file, line),
            message,
        })?;
        for m in split {
            if let Some((other, _, _)) = out.get(&m.name) {
                return Err(Error::Jinja {
                    location: Location::line(file, m.line),
                    message: format!(
                        "macro `{}` is defined twice (also in `{}`)",
                        m.name,
                        other.display()
                    ),
                });
            }
            let template = format!("{}#{}", file.display(), m.name);
            let (source, params) = python::variadic(&m.source);
            env.add_template_owned(template.clone(), preprocess(&source))
                .map_err(|e| jinja_error(&e, file))?;
            let value = macro_value(template, package, &m.name, params);
            defs.push(MacroDef {
                package: package.to_owned(),
                name: m.name.clone(),
                file: file.clone(),
                line: m.line,
                sql: m.sql,
            });
            out.insert(m.name, (file.clone(), m.line, value));
        }
    }
    Ok(out)
}

struct SplitMacro {
    name: String,
    line: usize,
    source: String,
    /// The block as written (`{% test %}` included): dbt's `macro_sql`.
    sql: String,
}

/// Splits a macro file into one template per top-level `{% macro %}` block, each padded
/// with the newlines before it so that line numbers stay those of the file.
/// A macro file cut up wrongly: the 1-based line and what is wrong.
type SplitError = (usize, String);

fn split_macros(text: &str) -> std::result::Result<Vec<SplitMacro>, SplitError> {
    let line_at = |at: usize| text[..at].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut depth = 0usize;
    // The open block: where its tag starts and ends, its kind and name.
    let mut open: Option<(usize, usize, &'static str, String)> = None;
    let mut pos = 0;
    // Where the last block's text ended.
    let mut claimed = 0;
    while let Some(off) = text[pos..].find("{%") {
        let tag_start = pos + off;
        // `{%}` is an opening `{%` followed by text, not an empty tag.
        let Some(end_off) = text[tag_start + 2..].find("%}") else {
            return Err((
                line_at(tag_start),
                "a `{%` tag is never closed with `%}`".into(),
            ));
        };
        let tag_end = tag_start + 2 + end_off + 2;
        let inner = text[tag_start + 2..tag_end - 2]
            .trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
        let keyword = inner.split_whitespace().next().unwrap_or("");
        match (keyword, &open) {
            // dbt's `{% test name(...) %}` block is a macro named `test_<name>`.
            ("macro" | "test", None) if depth == 0 => {
                let kind = if keyword == "macro" { "macro" } else { "test" };
                let name = inner[kind.len()..]
                    .trim_start()
                    .split(|c: char| c == '(' || c.is_whitespace())
                    .next()
                    .unwrap_or("")
                    .to_owned();
                open = Some((tag_start, tag_end, kind, name));
                depth = 1;
            }
            ("macro", Some(_)) => depth += 1,
            ("endmacro", Some((_, _, "macro", _))) | ("endtest", Some((_, _, "test", _)))
                if depth == 1 =>
            {
                let Some((s, open_end, kind, name)) = open.take() else {
                    continue;
                };
                depth = 0;
                let line = line_at(s);
                let mut source = "\n".repeat(line - 1);
                // dbt's block reader takes the whitespace a `{%-` or `-%}` strips as part
                // of the block (not what an earlier block already took, nor the file's
                // trailing whitespace).
                let mut from = s;
                if text[s..].starts_with("{%-") {
                    from = text[claimed..s].trim_end().len() + claimed;
                }
                let mut to = tag_end;
                if text[..tag_end].ends_with("-%}") && !text[tag_end..].trim().is_empty() {
                    to = text.len() - text[tag_end..].trim_start().len();
                }
                claimed = to;
                let sql = text[from..to].to_owned();
                if kind == "macro" {
                    source.push_str(&sql);
                    out.push(SplitMacro {
                        name,
                        line,
                        source,
                        sql,
                    });
                } else {
                    // Rewrite only the two tags, keeping their whitespace control and
                    // line breaks, so the body's lines and output stay as written.
                    let open_tag = &text[s..open_end];
                    let at = open_tag.find("test").unwrap_or(0);
                    let rest = open_tag[at + 4..].trim_start();
                    source.push_str(&open_tag[..at]);
                    source.push_str("macro test_");
                    source.push_str(rest);
                    source.push_str(&text[open_end..tag_start]);
                    source.push_str(&text[tag_start..tag_end].replacen("endtest", "endmacro", 1));
                    out.push(SplitMacro {
                        name: format!("test_{name}"),
                        line,
                        source,
                        sql,
                    });
                }
            }
            ("endmacro", Some(_)) if depth > 1 => depth -= 1,
            _ => {}
        }
        pos = tag_end;
    }
    if let Some((s, _, kind, name)) = open {
        return Err((
            line_at(s),
            format!("`{{% {kind} {name} %}}` has no `{{% end{kind} %}}`"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(
        env: &mut JinjaEnv,
        sql: &str,
        phase: Phase,
        relations: CompileRelations,
    ) -> Result<(String, Recorded)> {
        let file = PathBuf::from("models/m.sql");
        env.add_node_template(&file, sql)?;
        env.render(RenderInput {
            phase,
            template: "models/m.sql".into(),
            file,
            this: Some(JinjaRelation {
                database: "d".into(),
                schema: "s".into(),
                identifier: "m".into(),
                rendered: "\"s\".\"m\"".into(),
                home: None,
            }),
            target: serde_json::json!({"name": "dev", "schema": "s"}),
            model: serde_json::json!({"name": "m"}),
            relations,
            known: None,
            is_incremental: false,
            connection: None,
            package: None,
            federated: false,
            globals: Map::new(),
            vars: Map::new(),
        })
    }

    #[test]
    fn macros_call_each_other_and_return_values() {
        let macros = vec![
            (
                PathBuf::from("macros/a.sql"),
                "{% macro double(x) %}{{ return(x * 2) }}{% endmacro %}\n\n{% macro quad(x) %}{{ double(double(x)) }}{% endmacro %}".to_owned(),
            ),
            (
                PathBuf::from("macros/b.sql"),
                "{% macro cents(col) -%}({{ col }} * {{ double(50) }}){%- endmacro %}".to_owned(),
            ),
        ];
        let mut vars = Map::new();
        vars.insert("min".into(), Json::from(3));
        let mut env = JinjaEnv::new(&macros, vars).unwrap();
        let (sql, rec) = render(
            &mut env,
            "{{ config(materialized='table', tags=['a']) }}select {{ cents('amount') }}, {{ quad(2) }}, {{ var('min') }}, {{ var('x', 'dflt') }} from {{ ref('orders') }} join {{ source('shop', 'items') }} -- {{ this }} {{ target.name }} {{ is_incremental() }}",
            Phase::Parse,
            CompileRelations::default(),
        )
        .unwrap();
        assert_eq!(
            sql,
            "select (amount * 100), 8, 3, dflt from __dvt_ref__orders join __dvt_ref__shop.items -- \"s\".\"m\" dev False"
        );
        assert_eq!(rec.refs, vec![RefCall::new(None, "orders")]);
        assert_eq!(rec.sources, vec![("shop".into(), "items".into())]);
        assert_eq!(rec.config["materialized"], "table");
    }

    #[test]
    fn snippets_see_vars_and_macros_but_not_ref() {
        let macros = vec![(
            PathBuf::from("macros/s.sql"),
            "{% macro suffix(x) %}{{ return(x ~ '_s') }}{% endmacro %}".to_owned(),
        )];
        let mut vars = Map::new();
        vars.insert("env".into(), Json::from("prod"));
        let env = JinjaEnv::new(&macros, vars).unwrap();
        let loc = Location::line("models/src.yml", 4);
        let ctx = serde_json::json!({"target": {"schema": "analytics"}});
        let out = env
            .render_snippet("{{ suffix(var('env')) }}_{{ target.schema }}", &ctx, &loc)
            .unwrap();
        assert_eq!(out, "prod_s_analytics");
        let err = env
            .render_snippet("{{ ref('x') }}", &ctx, &loc)
            .unwrap_err();
        assert!(err.to_string().starts_with("models/src.yml:4"), "{err}");
    }

    #[test]
    fn recursive_macros_fail_with_a_coded_error() {
        let macros = vec![(
            PathBuf::from("macros/loop.sql"),
            "{% macro a(n) %}{{ b(n) }}{% endmacro %}\n{% macro b(n) %}{{ a(n + 1) }}{% endmacro %}"
                .to_owned(),
        )];
        let mut env = JinjaEnv::new(&macros, Map::new()).unwrap();
        // A 2 MiB stack, like a tokio worker thread's, must be enough.
        let err = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                render(
                    &mut env,
                    "select {{ a(0) }}",
                    Phase::Parse,
                    CompileRelations::default(),
                )
                .unwrap_err()
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(err.code(), "DVT109");
        assert!(err.to_string().contains("nests more than 64"), "{err}");
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let mut env = JinjaEnv::new(&[], Map::new()).unwrap();
        let err = render(
            &mut env,
            "select 1\nfrom x\n{% if %}",
            Phase::Parse,
            CompileRelations::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "DVT109");
        assert!(err.to_string().starts_with("models/m.sql:3"), "{err}");
    }

    #[test]
    fn macro_errors_point_into_the_macro_file() {
        let macros = vec![(
            PathBuf::from("macros/bad.sql"),
            "\n\n{% macro boom() %}\n{{ ref() }}\n{% endmacro %}".to_owned(),
        )];
        let mut env = JinjaEnv::new(&macros, Map::new()).unwrap();
        let err = render(
            &mut env,
            "select {{ boom() }}",
            Phase::Parse,
            CompileRelations::default(),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("macros/bad.sql:4"), "{err}");
    }

    #[test]
    fn a_disabled_node_may_call_what_is_not_installed() {
        let mut env = JinjaEnv::new(&[], Map::new()).unwrap();
        let text = "select {{ dbt_utils.star(from=ref('m')) }}";
        let (sql, rec) = render(
            &mut env,
            &format!("{{{{ config(enabled=var('on', false)) }}}}{text}"),
            Phase::Parse,
            CompileRelations::default(),
        )
        .unwrap();
        assert_eq!(
            (sql.as_str(), rec.config.get("enabled")),
            ("", Some(&Json::Bool(false)))
        );
        let err = render(&mut env, text, Phase::Parse, CompileRelations::default()).unwrap_err();
        assert!(err.to_string().contains("dbt_utils"), "{err}");
    }

    #[test]
    fn relations_are_relations_to_package_code() {
        // dbt_utils checks `metadata.type`, keys dicts by relation and incorporates `this`.
        let mut env = JinjaEnv::new(&[], Map::new()).unwrap();
        let rel = |name: &str| JinjaRelation {
            database: "d".into(),
            schema: "s".into(),
            identifier: name.into(),
            rendered: format!("\"s\".\"{name}\""),
            home: None,
        };
        let mut relations = CompileRelations::default();
        relations
            .refs
            .insert(RefCall::new(None, "a".to_owned()), rel("a"));
        relations
            .refs
            .insert(RefCall::new(None, "b".to_owned()), rel("b"));
        let out = render(
            &mut env,
            "{% set by = {} %}{% for r in [ref('a'), ref('b'), ref('a')] %}{% do by.update({r: r.identifier}) %}{% endfor %}{{ by | length }}|{{ ref('a').metadata.type.endswith('Relation') }}|{{ this.incorporate(type='table').type }}|{{ this.render() }}|{{ ref('a') == ref('a') }}{{ ref('a') == ref('b') }}",
            Phase::Compile,
            relations,
        )
        .unwrap()
        .0;
        assert_eq!(out, "2|True|table|\"s\".\"m\"|TrueFalse");
    }

    /// `text` rendered while parsing, with `macros` (one file) defined.
    fn parse_render(macros: &str, text: &str) -> String {
        let macros = vec![(PathBuf::from("macros/m.sql"), macros.to_owned())];
        let mut env = JinjaEnv::new(&macros, Map::new()).unwrap();
        render(&mut env, text, Phase::Parse, CompileRelations::default())
            .unwrap()
            .0
    }

    #[test]
    fn macro_defaults_see_earlier_arguments() {
        let out = parse_render(
            "{%- macro src(schema_name, db='d', name=schema_name, label=name ~ '!', n=[1, 2]) -%}\n{{ name }}|{{ label }}|{{ db }}|{{ n | length }}\n{%- endmacro %}",
            "{{ src('raw') }} {{ src('raw', name='other') }} {{ src('raw', label=none) }}",
        );
        assert_eq!(out, "raw|raw!|d|2 other|other!|d|2 raw|None|d|2");
    }

    #[test]
    fn python_builtins_packages_call() {
        let out = parse_render(
            "",
            "{{ (['a', 'b', 'c'] | list).pop() }}{{ ['a', 'b'].pop(0) }}{{ print('to stdout') }}|{{ modules.datetime.datetime(year=2020, month=2, day=3, hour=4) }}|{{ ['x', 'y'].index('y') }}{{ ['x', 'y', 'x'].count('x') }}",
        );
        assert_eq!(out, "ca|2020-02-03 04:00:00|12");
    }

    #[test]
    fn lists_and_dicts_assigned_then_mutated_are_mutable() {
        // dbt_utils' at_least_one: a list literal, or an argument, assigned and grown.
        let out = parse_render(
            "{% macro cols(c, by=[]) %}{% set pruned = [c] %}{% if by %}{%- set pruned = by -%}{% do pruned.append(c) %}{% endif %}{{ return(pruned | join(',') ~ '/' ~ by | join(',')) }}{% endmacro %}",
            "{{ cols('a') }}|{{ cols('a', ['x', 'y']) }}|{% set d = {} %}{% do d.update({'k': []}) %}{% do d['k'].append('v') %}{{ d }}|{{ [] == [] }}{{ ([] + [1]) | length }}{{ '[]' }}|{% set d = {'k': 1} %}{% set e = d %}{% do e.update({'j': 2}) %}{{ d | length }}{{ e | length }}|{% set l = [1, 2, 3] %}{% do l.remove(2) %}{% do l.reverse() %}{{ l }}",
        );
        assert_eq!(out, "a/|x,y,a/x,y,a|{'k': ['v']}|True1[]|22|[3, 1]");
    }

    #[test]
    fn a_macro_may_grow_a_list_argument() {
        // A literal argument becomes mutable; the caller's mutable list is shared, as in
        // Python (Fivetran's add_pass_through_columns grows its caller's list).
        let out = parse_render(
            "{%- macro grow(base, extra=[]) -%}{%- for c in extra %}{% do base.append(c) %}{% endfor -%}{{ return(base) }}{%- endmacro %}",
            "{{ grow(['a'], ['b', 'c']) }}|{% set mine = [] %}{% do grow(mine, ['x']) %}{{ mine }}",
        );
        assert_eq!(out, "['a', 'b', 'c']|['x']");
    }

    #[test]
    fn copies_are_new_and_mutable() {
        let out = parse_render(
            "",
            "{% set d = {'a': 1} %}{% set c = d.copy() %}{% do c.update({'b': 2}) %}{{ d | length }}{{ c | length }}{% for k, v in c.items() %}{{ k }}={{ v }}{% endfor %}|{% set l = [1] %}{% set m = l.copy() %}{% do m.append(2) %}{{ l | length }}{{ m | length }}",
        );
        assert_eq!(out, "12a=1b=2|12");
    }

    #[test]
    fn a_list_literal_is_shared_with_the_macro_growing_it() {
        // hubspot's get_company_columns: the list is built here, grown by another macro.
        let out = parse_render(
            "{%- macro add(base, extra) -%}{%- for c in extra %}{% do base.append(c) %}{% endfor -%}{%- endmacro %}",
            "{% set columns = [{'name': 'id'}, {'name': 'x'}] %}{{ add(columns, [{'name': 'funky'}]) }}{{ columns | map(attribute='name') | join(',') }}|{% set two = [1] + [2] %}{{ two }}",
        );
        assert_eq!(out, "id,x,funky|[1, 2]");
    }

    #[test]
    fn a_macro_read_as_a_value_is_truthy_and_callable() {
        // elementary: `{% set macro = dbt.type_timestamp or dbt_utils.type_timestamp %}`.
        let out = parse_render(
            "{% macro mine() %}{{ return('x') }}{% endmacro %}",
            "{% set m = dbt.type_timestamp or undefined_thing %}{{ m() }}|{{ (dbt.type_int or none) is none }}",
        );
        assert_eq!(out, "timestamp|False");
    }

    #[test]
    fn return_none_is_none() {
        let out = parse_render(
            "{% macro nothing() %}{% do return(none) %}{% endmacro %}{% macro missing() %}{% do return({'a': 1}.get('x', none)) %}{% endmacro %}",
            "{{ nothing() is none }}{{ missing() is none }}{{ nothing() is defined }}|{{ dbt.zip([1], ['a']) | list | length }}",
        );
        // The `dbt` namespace also reaches the context's functions (`dbt.run_query`).
        assert_eq!(out, "TrueTrueTrue|1");
    }

    #[test]
    fn do_takes_any_expression() {
        // Fivetran's add_pass_through_columns: a conditional expression, each side a call;
        // only the side taken runs.
        let out = parse_render(
            "",
            "{% set cols = [] %}{% for c in [{'name': 'a', 'alias': 'x'}, {'name': 'b'}] %}{% do cols.append(c.alias) if c.alias else cols.append(c.name) %}{% endfor %}{{ cols }}|{% do cols.append('z') %}{{ cols | length }}",
        );
        assert_eq!(out, "['x', 'b']|3");
    }
}

/// The function `{% set x = [] %}` is rewritten to call (see [`mutable_literal`]).
const MUTABLE_LIST_FN: &str = "__dvt_list";

/// The rewrites that give minijinja the Python semantics dbt code relies on, applied to
/// each template's tags before the template is added: mutable list and dict literals
/// (below), `"fmt" % args` ([`python::percent_format`]) and date arithmetic
/// ([`python::datetime_ops`]). Each rewrite stays on its line, so error lines hold.
fn preprocess(text: &str) -> String {
    let mutated = mutated_names(text);
    let out = python::rewrite_tags(text, |statement, expr| {
        let expr = match statement {
            true => mutable_literal(expr, &mutated)
                .or_else(|| python::macro_defaults(expr, &mutated, MUTABLE_FN))
                .or_else(|| python::do_statement(expr))
                .unwrap_or_else(|| expr.to_owned()),
            false => expr.to_owned(),
        };
        python::empty_lists(&expr, MUTABLE_LIST_FN)
    });
    python::datetime_ops(&python::percent_format(&out))
}

/// dbt's macros build lists with `{% set cols = [] %}` and `{% do cols.append(c) %}`, a
/// Python mutation minijinja's immutable values cannot do. An empty list literal assigned
/// by `set` becomes a [`MutableList`], a dict literal a mutable dict (dbt code grows it
/// with `update`, `pop`, `setdefault`). `None` when the tag assigns neither.
///
/// Any other value assigned to a name the template later mutates (`{% set cols =
/// [column_name] %}`, `{% set cols = group_by_columns %}` then `cols.append(c)`, as
/// dbt_utils' tests do) is wrapped so that it becomes mutable when it is a list or dict.
fn mutable_literal(expr: &str, mutated: &std::collections::BTreeSet<&str>) -> Option<String> {
    let (name, value) = python::set_assignment(expr)?;
    let value = value.trim();
    if value == "[]" {
        // [`python::empty_lists`] makes it mutable.
        None
    } else if mutated.contains(name)
        && value.chars().all(|c| c.is_alphanumeric() || c == '_')
        && value.starts_with(|c: char| c.is_alphabetic() || c == '_')
        && !matches!(value, "none" | "None" | "true" | "True" | "false" | "False")
    {
        // `b = a` then `b.append(x)` changes `a` too in Python (dbt_utils'
        // at_least_one groups by the list it appended to): make `a` itself mutable and
        // share it.
        let at = expr.rfind(value)?;
        let leading = &expr[..expr.find("set")?];
        Some(format!(
            "{leading}set {value} = {MUTABLE_FN}({value}) %}}{{% set {name} = {value}{}",
            &expr[at + value.len()..]
        ))
    } else if mutated.contains(name) && !value.is_empty() {
        let at = expr.rfind(value)?;
        Some(format!(
            "{}{MUTABLE_FN}({value}){}",
            &expr[..at],
            &expr[at + value.len()..]
        ))
    } else if value.starts_with('{') && value.ends_with('}') {
        let at = expr.find(value)?;
        Some(format!(
            "{}{}({value}){}",
            &expr[..at],
            python::MUTABLE_DICT_FN,
            &expr[at + value.len()..]
        ))
    } else if value.starts_with('[') && value.ends_with(']') && python::is_one_group(value) {
        // A list literal may be grown by a macro it is passed to (Fivetran's
        // `add_pass_through_columns(columns, ...)` appends to the caller's list), which
        // this template's own text does not show.
        let at = expr.find(value)?;
        Some(format!(
            "{}{MUTABLE_FN}({value}){}",
            &expr[..at],
            &expr[at + value.len()..]
        ))
    } else {
        None
    }
}

/// The function wrapping a value assigned to a name the template mutates.
const MUTABLE_FN: &str = "__dvt_mutable";

/// Names a template calls a mutating list or dict method on (`x.append(`, `x.pop(`...).
fn mutated_names(text: &str) -> std::collections::BTreeSet<&str> {
    const METHODS: [&str; 8] = [
        "append(",
        "extend(",
        "insert(",
        "pop(",
        "remove(",
        "update(",
        "setdefault(",
        "clear(",
    ];
    let mut names = std::collections::BTreeSet::new();
    for (dot, _) in text.match_indices('.') {
        let after = &text[dot + 1..];
        if !METHODS.iter().any(|m| after.starts_with(m)) {
            continue;
        }
        let before = &text[..dot];
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let name = &before[start..];
        if !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()) {
            names.insert(name);
        }
    }
    names
}

/// A list or dict as its mutable form, sharing it when it already is one (Python's
/// `b = a` aliases); any other value unchanged.
fn mutable_value(v: Value) -> std::result::Result<Value, minijinja::Error> {
    use minijinja::value::ValueKind;
    let own = v.downcast_object_ref::<MutableList>().is_some()
        || v.downcast_object_ref::<python::MutableDict>().is_some();
    match v.kind() {
        _ if own => Ok(v),
        ValueKind::Seq => Ok(Value::from_object(MutableList(Mutex::new(
            v.try_iter()?.collect(),
        )))),
        // Objects that are not plain dicts (relations) cannot be listed and stay as they are.
        ValueKind::Map if v.try_iter().is_ok() => python::mutable_dict(v),
        _ => Ok(v),
    }
}

/// A list Jinja code may grow: `append`, `extend`, `insert`, `pop`; otherwise it reads
/// like any sequence (loops, filters, `length`, indexing).
#[derive(Debug, Default)]
struct MutableList(Mutex<Vec<Value>>);

impl MutableList {
    fn items(&self) -> std::sync::MutexGuard<'_, Vec<Value>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Object for MutableList {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let items = self.items();
        let i = i64::try_from(key.clone()).ok()?;
        let i = if i < 0 { items.len() as i64 + i } else { i };
        usize::try_from(i).ok().and_then(|i| items.get(i).cloned())
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(self.items().clone())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> std::result::Result<Value, minijinja::Error> {
        let mut items = self.items();
        match (method, args) {
            ("append", [v]) => items.push(v.clone()),
            ("extend", [v]) => items.extend(v.try_iter()?),
            ("insert", [i, v]) => {
                let i = usize::try_from(i.clone())?.min(items.len());
                items.insert(i, v.clone());
            }
            ("remove", [v]) => match items.iter().position(|x| x == v) {
                Some(i) => {
                    items.remove(i);
                }
                None => {
                    return Err(minijinja::Error::new(
                        ErrorKind::InvalidOperation,
                        format!("list.remove({v}): not in list"),
                    ));
                }
            },
            ("clear", []) => items.clear(),
            ("reverse", []) => items.reverse(),
            ("pop", []) => return Ok(items.pop().unwrap_or_default()),
            ("pop", [i]) => {
                let i = usize::try_from(i.clone())?;
                if i >= items.len() {
                    return Err(minijinja::Error::new(
                        ErrorKind::InvalidOperation,
                        "pop index out of range",
                    ));
                }
                return Ok(items.remove(i));
            }
            _ => {
                return Err(minijinja::Error::from(ErrorKind::UnknownMethod));
            }
        }
        Ok(Value::from(()))
    }
}

impl Registry {
    /// The macro `name` called from a macro or node of `package`, as dbt-core's
    /// `MacroResolver.get_macro` finds it: the package's own, else the one of that name
    /// every node sees (the root project's, a package's, a built-in).
    fn resolve(&self, package: &str, name: &str) -> Option<&Value> {
        self.tables
            .get(package)
            .and_then(|t| t.macros.get(name))
            .or_else(|| self.flat.get(name))
    }

    /// What `adapter.dispatch(name, namespace)` picks for an adapter whose macro
    /// prefixes are `prefixes` (most specific first), or every candidate it looked for.
    ///
    /// dbt's search: for each package of the order, `<prefix>__name` for each prefix. The
    /// order is the root project's `dispatch:` entry for the namespace, else [root
    /// project, namespace] when the namespace is a package, else every macro (later
    /// packages, then the root, winning).
    fn dispatch(
        &self,
        name: &str,
        namespace: Option<&str>,
        prefixes: &[&str],
    ) -> std::result::Result<&Value, Vec<String>> {
        let order: Vec<Option<&str>> = match namespace {
            None => vec![None],
            Some(ns) => match self.dispatch.get(ns) {
                Some(order) => order.iter().map(|p| Some(p.as_str())).collect(),
                None if self.tables.contains_key(ns) => vec![Some(self.root.as_str()), Some(ns)],
                None => vec![None],
            },
        };
        let mut searched = Vec::new();
        for package in &order {
            for prefix in prefixes {
                let candidate = format!("{prefix}__{name}");
                let found = match package {
                    None => self.flat.get(&candidate),
                    Some(p) => self.tables.get(*p).and_then(|t| t.macros.get(&candidate)),
                };
                if let Some(m) = found {
                    return Ok(m);
                }
                searched.push(match package {
                    None => format!("`{candidate}`"),
                    Some(p) => format!("`{p}.{candidate}`"),
                });
            }
        }
        Err(searched)
    }
}

/// The prefixes `adapter.dispatch` tries on an adapter, most specific first.
fn dispatch_prefixes(kind: &str) -> Vec<&str> {
    match kind {
        "mariadb" => vec!["mariadb", "mysql", "default"],
        other => vec![other, "default"],
    }
}

/// A macro value's `macro.<package>.<name>`.
fn macro_unique_id(v: &Value) -> Option<String> {
    v.downcast_object_ref::<MacroFn>()
        .map(|m| m.unique_id.clone())
}

/// dbt's `adapter` object, for what needs no database: `quote`, `dispatch`, `type`.
/// Introspection (`get_relation`, `get_columns_in_relation`, ...) answers empty while
/// parsing, as dbt's parse-time stubs do, and is a clear error when compiling, since
/// DVT compiles without connecting.
#[derive(Debug)]
struct AdapterObject {
    /// The macros dispatch searches.
    registry: Arc<Registry>,
}

impl AdapterObject {
    fn adapter_type(state: &State<'_, '_>) -> String {
        python::adapter_type(state)
    }
}

impl Object for AdapterObject {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> std::result::Result<Value, minijinja::Error> {
        let kind = Self::adapter_type(state);
        let executing = state.lookup("execute").is_some_and(|v| v.is_true());
        const INTROSPECTION: [&str; 13] = [
            "get_relation",
            "load_relation",
            "already_exists",
            "get_columns_in_relation",
            "get_missing_columns",
            "list_relations_without_caching",
            "drop_relation",
            "truncate_relation",
            "check_schema_exists",
            "list_schemas",
            "create_schema",
            "drop_schema",
            "rename_relation",
        ];
        match method {
            "type" => Ok(Value::from(kind)),
            // Each DVT statement commits on its own; dbt code that commits explicitly
            // (elementary's uploads) has nothing left to commit.
            "commit" => Ok(Value::from(())),
            "quote" => {
                let (name,): (String,) = minijinja::value::from_args(args)?;
                Ok(Value::from(python::quote_ident(&kind, &name)))
            }
            // What a materialization writes into `create table (...)` for a contract.
            "render_raw_columns_constraints" | "render_raw_model_constraints" => {
                let columns = method == "render_raw_columns_constraints";
                let (given, kwargs): (Option<Value>, Kwargs) = minijinja::value::from_args(args)?;
                let keyword: Option<Value> = kwargs.get(if columns {
                    "raw_columns"
                } else {
                    "raw_constraints"
                })?;
                kwargs.assert_all_used()?;
                let raw = serde_json::to_value(given.or(keyword).unwrap_or_default())
                    .unwrap_or(Json::Null);
                let list = |j: &Json| j.as_array().cloned().unwrap_or_default();
                let to = |c: &Json| c.get("to").and_then(Json::as_str).map(str::to_owned);
                let out: Vec<String> = if columns {
                    raw.as_object()
                        .into_iter()
                        .flat_map(|m| m.values())
                        .map(|col| {
                            let name = col["name"].as_str().unwrap_or_default();
                            let name = if col["quote"].as_bool() == Some(true) {
                                python::quote_ident(&kind, name)
                            } else {
                                name.to_owned()
                            };
                            let data_type = col["data_type"].as_str().unwrap_or_default();
                            std::iter::once(format!("{name} {data_type}"))
                                .chain(list(&col["constraints"]).iter().filter_map(|c| {
                                    crate::constraints::column_ddl(c, to(c).as_deref())
                                }))
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .collect()
                } else {
                    list(&raw)
                        .iter()
                        .filter_map(|c| crate::constraints::model_ddl(c, to(c).as_deref()))
                        .collect()
                };
                Ok(Value::from(out))
            }
            "dispatch" => {
                let (name, namespace, kwargs): (String, Option<String>, Kwargs) =
                    minijinja::value::from_args(args)?;
                let keyword: Option<String> = kwargs.get("macro_namespace")?;
                kwargs.assert_all_used()?;
                let namespace = namespace.or(keyword);
                if let Some((ns, short)) = name.split_once('.') {
                    return Err(minijinja::Error::new(
                        ErrorKind::InvalidOperation,
                        format!(
                            "adapter.dispatch: the macro name `{name}` must not contain a `.`; write `adapter.dispatch('{short}', macro_namespace='{ns}')`"
                        ),
                    ));
                }
                let mut prefixes = dispatch_prefixes(&kind);
                if node(state).is_ok_and(|n| n.federated) {
                    prefixes.insert(0, "datafusion");
                }
                match self
                    .registry
                    .dispatch(&name, namespace.as_deref(), &prefixes)
                {
                    Ok(m) => Ok(m.clone()),
                    Err(searched) => Err(minijinja::Error::new(
                        ErrorKind::UndefinedError,
                        format!(
                            "adapter.dispatch: no macro `{name}` found within namespace `{}`; searched for {}",
                            namespace.as_deref().unwrap_or("None"),
                            searched.join(", ")
                        ),
                    )),
                }
            }
            m if INTROSPECTION.contains(&m)
                && let Some(answer) = database::introspect(state, m, args) =>
            {
                answer
            }
            m if INTROSPECTION.contains(&m) && !executing => {
                // Parsing: dbt's stubs answer "nothing there".
                Ok(
                    if m.starts_with("get_columns")
                        || m.starts_with("list")
                        || m == "get_missing_columns"
                    {
                        Value::from(Vec::<Value>::new())
                    } else if m == "already_exists" || m == "check_schema_exists" {
                        Value::from(false)
                    } else {
                        Value::from(())
                    },
                )
            }
            m if INTROSPECTION.contains(&m) => Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "adapter.{m}() reads the database while compiling, which DVT does not do yet"
                ),
            )),
            _ => Err(minijinja::Error::from(ErrorKind::UnknownMethod)),
        }
    }
}
