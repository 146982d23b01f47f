//! The manifest: every node of the project, parsed, configured and routed.
//!
//! The types live here; how dbt builds them is in [`crate::parse`] (one module per
//! resource type) and [`crate::compile`]; what DVT adds (each node's target and execution
//! path) is in [`crate::resolve`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::dialect::Relation;
use crate::graph::Graph;
use crate::jinja::{JinjaEnv, RefCall};
use crate::profile::{Profile, ProfileLookup};
use crate::project::ProjectConfig;
use crate::resolve::ExecPath;
use crate::target::TargetConfig;

/// The kind of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceType {
    /// A SQL model.
    Model,
    /// A CSV seed.
    Seed,
    /// A data test: generic (declared in property YAML) or singular (`tests/*.sql`).
    Test,
    /// A snapshot: `{% snapshot %}` blocks under `snapshots/`, or YAML with `relation:`.
    Snapshot,
    /// A user-defined SQL function (dbt 1.11): one SQL file under `function-paths`, its
    /// signature in property YAML, created on its target and called with `function()`.
    Function,
    /// An analysis: a SQL file under `analysis-paths`, compiled (by `compile`) and never
    /// run.
    Analysis,
}

impl ResourceType {
    /// dbt's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Model => "model",
            ResourceType::Seed => "seed",
            ResourceType::Test => "test",
            ResourceType::Snapshot => "snapshot",
            ResourceType::Function => "function",
            ResourceType::Analysis => "analysis",
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
    /// `materialized_view` (PostgreSQL).
    MaterializedView,
    /// `incremental`: built once, then changed by its `incremental_strategy`.
    Incremental,
    /// `ephemeral`: not built; inlined as a CTE into the models that read it.
    Ephemeral,
    /// `seed` (seeds only).
    Seed,
    /// `test` (data tests only): a query returning failing rows.
    Test,
    /// `snapshot` (snapshots only): type-2 history of a query's rows.
    Snapshot,
    /// `function` (functions only): a SQL function created on the target.
    Function,
}

impl Materialization {
    /// dbt's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Materialization::Table => "table",
            Materialization::View => "view",
            Materialization::MaterializedView => "materialized_view",
            Materialization::Incremental => "incremental",
            Materialization::Ephemeral => "ephemeral",
            Materialization::Seed => "seed",
            Materialization::Test => "test",
            Materialization::Snapshot => "snapshot",
            Materialization::Function => "function",
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

/// A boolean config value as dbt accepts it: `true`/`false`, or that text in any case
/// (a value rendered from `"{{ ... }}"` arrives as text). `None` for anything else.
pub fn config_bool(v: &Json) -> Option<bool> {
    match v {
        Json::Bool(b) => Some(*b),
        Json::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Json::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
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
    /// The name of the project or installed package the node belongs to.
    pub package_name: String,
    /// File relative to the root project's folder, also for a package's node
    /// (`dbt_packages/golden_utils/models/pkg_calendar.sql`); dbt's path, relative to
    /// the package, is [`Manifest::package_file_path`].
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
    /// `function()` calls (package and name, as `ref()`'s).
    pub functions: Vec<RefCall>,
    /// Unique ids this node depends on (nodes, functions and sources), sorted.
    pub depends_on: Vec<String>,
    /// The resolved target.
    pub target: String,
    /// Where the node materializes.
    pub relation: Relation,
    /// How the node executes.
    pub path: ExecPath,
    /// The name of the node's template in the Jinja environment: its file, or for a
    /// generic test `<property file>#<unique id>` (several tests share one file).
    pub template: String,
    /// What a data test tests (`None` for other nodes).
    pub test: Option<TestInfo>,
    /// A function's signature (`None` for other nodes).
    pub function: Option<FunctionInfo>,
    /// A versioned model's version (`v:` as written, a number or a string).
    pub version: Option<Json>,
    /// The latest version of a versioned model.
    pub latest_version: Option<Json>,
    /// A model's `time_spine:` property (MetricFlow's time spine), as dbt writes it
    /// (`standard_granularity_column`, `custom_granularities`).
    pub time_spine: Option<Json>,
    /// `deprecation_date:` as dbt keeps it (`2024-01-01T00:00:00+00:00`).
    pub deprecation_date: Option<String>,
    /// A model's own `constraints:` as written (a foreign key's `to:` still a
    /// `ref()`/`source()` call); its columns' are under [`Node::columns`].
    pub constraints: Vec<Json>,
    /// The macros its own code calls (see [`crate::jinja::Recorded::macros`]); a generic
    /// test's are its test macro's (see [`Node::macro_deps`]).
    pub macros: Vec<String>,
    /// [`Node::checksum`], worked out once: `graph`, `state:` selection and
    /// `manifest.json` all read it, and a seed's costs a read of its file.
    pub(crate) checksum_once: std::sync::OnceLock<(&'static str, String)>,
}

impl Node {
    /// Whether the node's `contract: {enforced: true}`.
    pub fn contract_enforced(&self) -> bool {
        contract_enforced(self.config.get("contract"))
    }

    /// The relation name without an `alias`: the name, or `<name>_v<v>` for a version
    /// of a versioned model (dbt's `generate_alias_name`).
    pub fn default_alias(&self) -> String {
        match self.version_text() {
            Some(v) => format!("{}_v{}", self.name, v.replace('.', "_")),
            None => self.name.clone(),
        }
    }

    /// A versioned model's version as text (`2`, `1.5`, `beta`).
    pub fn version_text(&self) -> Option<String> {
        self.version.as_ref().and_then(crate::parse::version_text)
    }

    /// Its model's latest version as text.
    pub fn latest_version_text(&self) -> Option<String> {
        self.latest_version
            .as_ref()
            .and_then(crate::parse::version_text)
    }

    /// dbt's `checksum`: the SHA-256 of the node's file (a seed's file is read; one
    /// over 1 MiB is identified by its path, as dbt does).
    pub fn checksum(&self, root: &Path) -> (&'static str, String) {
        use crate::sql::sha256_hex;
        self.checksum_once
            .get_or_init(|| {
                if self.resource_type == ResourceType::Seed {
                    let path = root.join(&self.original_file_path);
                    return match std::fs::read(&path) {
                        Ok(bytes) if bytes.len() <= 1 << 20 => ("sha256", sha256_hex(&bytes)),
                        _ => ("path", self.original_file_path.display().to_string()),
                    };
                }
                ("sha256", sha256_hex(self.raw_code.as_bytes()))
            })
            .clone()
    }
}

/// A user-defined function's signature and kind, from its property YAML and config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInfo {
    /// `arguments:`, in order.
    pub arguments: Vec<FunctionArgument>,
    /// `returns: {data_type}`.
    pub returns: String,
    /// `returns: {description}`.
    pub returns_description: Option<String>,
    /// `volatility` config: `deterministic`, `stable` or `non-deterministic`; `None`
    /// leaves the database's default, as dbt does.
    pub volatility: Option<FunctionVolatility>,
}

/// One argument of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionArgument {
    /// Its name, as the body uses it.
    pub name: String,
    /// Its SQL type, in the target's own spelling.
    pub data_type: String,
    /// `description:`.
    pub description: Option<String>,
    /// `default_value:` as SQL text (PostgreSQL only).
    pub default_value: Option<String>,
}

/// dbt's function volatility.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionVolatility {
    /// Same arguments, same result, always (`IMMUTABLE`, `DETERMINISTIC`).
    Deterministic,
    /// Same result within one statement (`STABLE`).
    Stable,
    /// May differ on every call (`VOLATILE`, `NOT DETERMINISTIC`).
    NonDeterministic,
}

impl FunctionVolatility {
    /// dbt's name.
    pub fn as_str(self) -> &'static str {
        match self {
            FunctionVolatility::Deterministic => "deterministic",
            FunctionVolatility::Stable => "stable",
            FunctionVolatility::NonDeterministic => "non-deterministic",
        }
    }
}

/// What a data test tests.
#[derive(Debug, Clone, PartialEq)]
pub struct TestInfo {
    /// The generic test's name (`unique`, `accepted_values`, a `{% test %}` block's
    /// name); `None` for a singular test.
    pub generic: Option<String>,
    /// The model, seed or source the test is attached to.
    pub attached_node: Option<String>,
    /// The column it tests, if any.
    pub column_name: Option<String>,
    /// The generic test's arguments as written (without `config`).
    pub kwargs: Map<String, Json>,
    /// A unit test's spec (`given`, `expect`, `overrides`) as written; `None` for data
    /// tests.
    pub unit: Option<Json>,
    /// A unit test's place among the project's unit tests as declared: dbt runs a
    /// model's unit tests in that order.
    pub declared_at: usize,
    /// The group of the node a generic test is attached to, which dbt gives the test
    /// (not its config).
    pub group: Option<Json>,
    /// A generic test's macro (`macro.dbt.test_unique`), which dbt lists first in its
    /// `depends_on.macros` (dbt_project_evaluator tells tests apart by it).
    pub test_macro: Option<String>,
}

impl Node {
    /// The node's group: its `group` config, or a generic test's attached node's.
    pub fn group(&self) -> Json {
        self.config
            .get("group")
            .filter(|g| !g.is_null())
            .or_else(|| self.test.as_ref().and_then(|t| t.group.as_ref()))
            .cloned()
            .unwrap_or(Json::Null)
    }

    /// `depends_on.macros` as dbt's parse leaves it, which is what `graph` holds while
    /// a run renders: a generic test's macro, and `get_where_subquery` when dbt renders
    /// the test's arguments (all but its own `not_null` and `unique`); for other nodes,
    /// the macros their own code and hooks call.
    pub fn parsed_macro_deps(&self) -> Vec<String> {
        match self.test.as_ref().and_then(|t| t.test_macro.as_ref()) {
            Some(m) if m == "macro.dbt.test_not_null" || m == "macro.dbt.test_unique" => {
                vec![m.clone()]
            }
            Some(m) => vec![m.clone(), "macro.dbt.get_where_subquery".to_owned()],
            None => self.macros.clone(),
        }
    }

    /// dbt's `depends_on.macros` in `manifest.json` after a run: a generic test's macro
    /// and the materialization macros dbt's test run calls; for other nodes, the macros
    /// their own code calls.
    pub fn macro_deps(&self) -> Vec<String> {
        match self.test.as_ref().and_then(|t| t.test_macro.as_ref()) {
            Some(m) => [
                m.as_str(),
                "macro.dbt.get_where_subquery",
                "macro.dbt.get_limit_subquery_sql",
                "macro.dbt.should_store_failures",
                "macro.dbt.statement",
            ]
            .map(str::to_owned)
            .to_vec(),
            // A singular test: its own calls, then what dbt's test materialization adds.
            None if self.test.as_ref().is_some_and(|t| t.unit.is_none()) => {
                let mut out = self.macros.clone();
                for m in [
                    "macro.dbt.get_limit_subquery_sql",
                    "macro.dbt.should_store_failures",
                    "macro.dbt.statement",
                ] {
                    if !out.iter().any(|x| x == m) {
                        out.push(m.to_owned());
                    }
                }
                out
            }
            None => self.macros.clone(),
        }
    }

    /// Whether this node is a data test.
    pub fn is_test(&self) -> bool {
        self.resource_type == ResourceType::Test
    }

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
    /// The project or package declaring it.
    pub package_name: String,
    /// Source name.
    pub source_name: String,
    /// dbt's fqn: the package, the property file's folders below the model path, the
    /// source and the table.
    pub fqn: Vec<String>,
    /// The source's and the table's `tags:` (and their configs'), without repeats.
    pub tags: Vec<String>,
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
    /// `partition_by:`: the integer column a federated extract splits by, instead of
    /// the default (`ctid` on PostgreSQL, `rowid` on SQLite, a one-column integer
    /// primary key on MySQL).
    pub partition_by: Option<String>,
    /// `partitions:`: how many ranges a federated extract splits into; `1` turns it off.
    pub partitions: Option<usize>,
    /// `event_time` config: a microbatch model reading the source reads one window.
    pub event_time: Option<String>,
    /// `freshness:` with its `loaded_at_field`, for `dvt source freshness`.
    pub freshness: Option<Freshness>,
    /// `columns:` as declared, by name (what `graph.sources` shows packages).
    pub columns: Map<String, Json>,
    /// The source's own `description:` (the table's is `description`), as dbt keeps
    /// them apart.
    pub source_description: String,
}

/// A source table's freshness rule (`freshness:` and `loaded_at_field:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    /// The column (or SQL expression) holding when a row was loaded. Without one dbt
    /// would ask the warehouse's metadata, which none of DVT's targets offers:
    /// `dvt source freshness` reports that table as an error (parsing accepts it, as
    /// dbt's does).
    pub loaded_at_field: Option<String>,
    /// Older than this is a warning.
    pub warn_after: Option<FreshnessAge>,
    /// Older than this is an error.
    pub error_after: Option<FreshnessAge>,
    /// `filter:`, a SQL condition limiting the rows measured.
    pub filter: Option<String>,
}

/// `{count: 12, period: hour}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreshnessAge {
    /// How many periods.
    pub count: u64,
    /// `minute`, `hour` or `day`, in seconds.
    pub period_seconds: u64,
    /// The period's name, as written.
    pub period: &'static str,
}

impl FreshnessAge {
    /// The age in seconds.
    pub fn seconds(&self) -> u64 {
        self.count * self.period_seconds
    }
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
    /// Models, seeds, snapshots, tests and functions by unique id.
    pub nodes: BTreeMap<String, Node>,
    /// Source tables by unique id.
    pub sources: BTreeMap<String, SourceTable>,
    /// Exposures (dashboards, applications reading the project) by unique id. They are
    /// not built and not in [`Manifest::graph`]; `+exposure:name` selects what they read.
    pub exposures: BTreeMap<String, Exposure>,
    /// Groups (`groups:`) by unique id, as dbt's `manifest.json` shows them.
    pub groups: BTreeMap<String, Json>,
    /// The DAG.
    pub graph: Graph,
    /// Warnings found while loading, in order.
    pub warnings: Vec<Warning>,
    /// Project macros: name -> (file, line).
    pub macros: BTreeMap<String, (PathBuf, usize)>,
    /// The installed packages (`dbt_packages/*`) by name, their project files re-based
    /// on the root project ([`ProjectConfig::load_package`]).
    pub packages: BTreeMap<String, ProjectConfig>,
    pub(crate) jinja: JinjaEnv,
    /// What `ref()` can name, for compiling and for inline queries.
    pub(crate) names: crate::parse::Names,
    /// `--state`: the nodes of an earlier `manifest.json`, for `state:` selectors.
    pub state: Option<State>,
    /// The named selections of `selectors.yml`.
    pub selectors: crate::select::Selectors,
    /// Semantic models, metrics and saved queries by unique id: parsed, listed and
    /// selectable, never built.
    pub semantic: BTreeMap<String, crate::parse::semantic::SemanticNode>,
    /// Every source table on a target, as a pushed-down node there names it (and all of
    /// them as the federated engine names them), built the first time a compile needs
    /// it (see `CompileRelations::unseen_sources`).
    pub(crate) sources_by_target: crate::compile::SourcesByTarget,
    /// Every node's `graph` entry as the load built it (see [`Manifest::graph_node`]),
    /// so a compile's `model` and an `on-run-end` result do not build it again.
    pub(crate) graph_nodes: BTreeMap<String, Json>,
}

/// What `state:` selectors compare against: each node of an earlier `manifest.json`
/// (DVT's or dbt-core's) by unique id.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Unique id -> the node as that manifest records it.
    pub nodes: BTreeMap<String, StateNode>,
    /// `run_results.json` beside it, if any: unique id -> status (`result:` selectors).
    pub results: Option<BTreeMap<String, String>>,
    /// `sources.json` beside it, if any (`source_status:` selectors).
    pub sources: Option<SourceFreshness>,
    /// This project's own `sources.json` (its target path), the side `source_status:`
    /// compares with [`State::sources`].
    pub sources_current: Option<SourceFreshness>,
    /// The manifest's sources and exposures as it writes them, by unique id.
    pub others: BTreeMap<String, Json>,
    /// Each macro's text (`macro_sql`) by unique id; `None` when the manifest does not
    /// record macros' text (one written by DVT before it did), so none can be compared.
    pub macros: Option<BTreeMap<String, String>>,
    /// Written by DVT, so its built-in macros are DVT's and comparable with this run's
    /// (a dbt-core manifest's `macro.dbt.*` are dbt-core's own).
    pub by_dvt: bool,
}

/// A `sources.json`: each source's newest load time, and the sources whose freshness
/// check failed to run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceFreshness {
    /// Unique id -> `max_loaded_at`.
    pub loaded: BTreeMap<String, chrono::DateTime<chrono::Utc>>,
    /// Sources whose check ended in `runtime error`.
    pub failed: std::collections::BTreeSet<String>,
}

impl SourceFreshness {
    /// Reads `file` when it exists.
    pub fn load(file: &Path) -> crate::error::Result<Option<SourceFreshness>> {
        if !file.is_file() {
            return Ok(None);
        }
        let json = read_artifact(file, "sources.json")?;
        let mut out = SourceFreshness::default();
        for r in json["results"].as_array().into_iter().flatten() {
            let Some(id) = r["unique_id"].as_str() else {
                continue;
            };
            match r["max_loaded_at"].as_str().and_then(parse_instant) {
                Some(at) => {
                    out.loaded
                        .insert(id.to_owned(), at.with_timezone(&chrono::Utc));
                }
                None => {
                    out.failed.insert(id.to_owned());
                }
            }
        }
        Ok(Some(out))
    }
}

/// A time as dbt and DVT write it (artifacts, `deprecation_date:`): RFC 3339 with its
/// offset, or a date or date and time without one, which is UTC.
pub fn parse_instant(text: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t);
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .map(|t| t.and_utc().fixed_offset())
}

/// Reads a JSON artifact, naming it in the error when it is not JSON.
fn read_artifact(file: &Path, what: &str) -> crate::error::Result<Json> {
    let text = crate::error::read_to_string(file)?;
    serde_json::from_str(&text).map_err(|e| crate::error::Error::InvalidVars {
        message: format!("(here `--state`) {} is not a {what}: {e}", file.display()),
    })
}

/// Whether a `contract:` config (a node's, or a manifest entry's) is enforced.
pub fn contract_enforced(contract: Option<&Json>) -> bool {
    contract
        .and_then(|c| c.get("enforced"))
        .and_then(Json::as_bool)
        .unwrap_or(false)
}

/// One node of a state manifest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateNode {
    /// `checksum.checksum`: the file's SHA-256 (dbt's).
    pub checksum: Option<String>,
    /// `config`.
    pub config: Json,
    /// Where it was built: `database`, `schema`, `alias` (for `--defer`).
    pub relation: Option<Relation>,
    /// The node as the manifest writes it (`fqn`, `description`, `columns`,
    /// `contract`, ... for `state:modified`).
    pub entry: Json,
}

/// `--defer`: nodes a run does not build are read where the state manifest's run built
/// them, when they are missing here (or always, with `--favor-state`).
#[derive(Debug, Clone, Default)]
pub struct Defer {
    /// The state manifest.
    pub state: State,
    /// The nodes this run builds (never deferred).
    pub selected: std::collections::BTreeSet<String>,
    /// `--favor-state`: defer even when the node exists here.
    pub favor_state: bool,
}

impl State {
    /// Reads `dir/manifest.json` (or `dir` itself when it is a file).
    pub fn load(dir: &Path) -> crate::error::Result<State> {
        let file = if dir.is_dir() {
            dir.join("manifest.json")
        } else {
            dir.to_path_buf()
        };
        let json = read_artifact(&file, "manifest")?;
        let nodes = json["nodes"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(id, n)| {
                (
                    id.clone(),
                    StateNode {
                        checksum: n["checksum"]["checksum"].as_str().map(str::to_owned),
                        config: n["config"].clone(),
                        relation: match (n["schema"].as_str(), n["alias"].as_str()) {
                            (Some(schema), Some(alias)) => Some(Relation {
                                database: n["database"].as_str().map(str::to_owned),
                                ..Relation::new(schema, alias)
                            }),
                            _ => None,
                        },
                        entry: n.clone(),
                    },
                )
            })
            .collect();
        let others = ["sources", "exposures"]
            .iter()
            .flat_map(|key| json[*key].as_object().into_iter().flatten())
            .map(|(id, entry)| (id.clone(), entry.clone()))
            .collect();
        let macro_sql: BTreeMap<String, String> = json["macros"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(id, m)| Some((id.clone(), m["macro_sql"].as_str()?.to_owned())))
            .collect();
        let macros = (!macro_sql.is_empty()).then_some(macro_sql);
        let by_dvt = json["metadata"]["dbt_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("dvt-"));
        let beside = |name: &str| file.with_file_name(name);
        let results = if beside("run_results.json").is_file() {
            let json = read_artifact(&beside("run_results.json"), "run_results.json")?;
            let statuses = json["results"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| {
                    Some((
                        r["unique_id"].as_str()?.to_owned(),
                        r["status"].as_str()?.to_owned(),
                    ))
                })
                .collect();
            Some(statuses)
        } else {
            None
        };
        Ok(State {
            nodes,
            results,
            sources: SourceFreshness::load(&beside("sources.json"))?,
            sources_current: None,
            others,
            macros,
            by_dvt,
        })
    }
}

/// An exposure: something outside the project that reads its relations.
#[derive(Debug, Clone)]
pub struct Exposure {
    /// `exposure.<project>.<name>`.
    pub unique_id: String,
    /// Its name.
    pub name: String,
    /// The project or package declaring it.
    pub package_name: String,
    /// `type:` (`dashboard`, `notebook`, `analysis`, `ml`, `application`).
    pub kind: String,
    /// `owner:` as written (`name`, `email`).
    pub owner: Json,
    /// `label:`, `description:`, `url:`, `maturity:`.
    pub label: Option<String>,
    /// Description.
    pub description: String,
    /// Where it lives.
    pub url: Option<String>,
    /// `low`, `medium` or `high`.
    pub maturity: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// `meta:`.
    pub meta: Json,
    /// The unique ids of the models, seeds, snapshots and sources it reads.
    pub depends_on: Vec<String>,
    /// The YAML file declaring it.
    pub original_file_path: PathBuf,
    /// Its name's place in the project: `[project, folders..., name]`.
    pub fqn: Vec<String>,
}

impl Exposure {
    /// The exposure as dbt's `manifest.json` and `graph.exposures` show it.
    pub fn to_json(&self, m: &Manifest) -> Json {
        // A package's exposure names its file inside the package; `path` is below the
        // resource folder, as dbt writes both.
        let file = m.package_relative(&self.package_name, &self.original_file_path);
        // dbt's `Owner` always has both keys.
        let mut owner = self.owner.clone();
        if let Some(o) = owner.as_object_mut() {
            for key in ["email", "name"] {
                o.entry(key).or_insert(Json::Null);
            }
        }
        serde_json::json!({
            "unique_id": self.unique_id,
            "resource_type": "exposure",
            "name": self.name,
            "package_name": self.package_name,
            "original_file_path": file,
            "path": crate::parse::below_resource_folder(file),
            "fqn": self.fqn,
            "type": self.kind,
            "owner": owner,
            "label": self.label,
            "description": self.description,
            "url": self.url,
            "maturity": self.maturity,
            "tags": self.tags,
            "meta": self.meta,
            "depends_on": {"nodes": self.depends_on, "macros": []},
            "config": {"enabled": true},
        })
    }
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
    /// Coded warnings about this node's SQL (e.g. DVT003).
    pub warnings: Vec<Warning>,
    /// A unit test's fixtures, (input name, SQL), which dbt also writes out as files
    /// (see [`Manifest::fixture_path`]).
    pub fixtures: Vec<(String, String)>,
}

impl Manifest {
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

    /// Absolute path of a project-relative file.
    pub fn path(&self, rel: &Path) -> PathBuf {
        self.project.root.join(rel)
    }

    /// `manifest.json`'s (and `graph`'s) `metrics`, `semantic_models` or `saved_queries`.
    pub fn semantic_json(&self, resource_type: &str) -> Json {
        Json::Object(
            self.semantic
                .values()
                .filter(|n| n.resource_type == resource_type)
                .map(|n| (n.unique_id.clone(), self.semantic_entry(n)))
                .collect(),
        )
    }

    /// One semantic node's entry, with what depends on where things are built: a
    /// semantic model's `node_relation`, an export's schema and database.
    pub fn semantic_entry(&self, n: &crate::parse::semantic::SemanticNode) -> Json {
        let mut j = n.json.clone();
        let target = self.target(&self.default_target);
        if let Some(model) = n.model.as_ref().and_then(|id| self.nodes.get(id)) {
            let dialect = self.target(&model.target).dialect();
            j["node_relation"] = serde_json::json!({
                "alias": model.relation.identifier,
                "schema_name": model.relation.schema,
                "database": model.relation.database,
                "relation_name": dialect.render(&model.relation),
            });
        }
        if let Some(exports) = j.get_mut("exports").and_then(Json::as_array_mut) {
            for e in exports {
                let config = &mut e["config"];
                if config["schema_name"].is_null() {
                    config["schema_name"] = Json::from(target.schema.clone());
                }
                config["database"] = Json::from(target.database());
            }
        }
        j
    }

    /// What sits outside the build graph and reads from it — exposures, semantic
    /// models, metrics, saved queries — with what each reads (dbt's graph has them).
    pub fn outside_members(&self) -> impl Iterator<Item = (&String, &Vec<String>)> {
        self.exposures
            .iter()
            .map(|(id, e)| (id, &e.depends_on))
            .chain(self.semantic.iter().map(|(id, n)| (id, &n.depends_on)))
    }

    /// A node's file as dbt names it (`original_file_path` in dbt's `manifest.json`):
    /// relative to its own package's folder for a package's node
    /// (`models/pkg_calendar.sql`), the same as [`Node::original_file_path`] otherwise.
    pub fn package_file_path<'a>(&self, node: &'a Node) -> &'a Path {
        self.package_relative(&node.package_name, &node.original_file_path)
    }

    /// dbt's id of a project file: `<package>://<path inside that package>`, the package
    /// being the one whose folder holds `path` (relative to the root project).
    pub fn file_id(&self, path: &Path) -> String {
        self.packages
            .iter()
            .find_map(|(name, p)| {
                let inside = path.strip_prefix(&p.package_dir).ok()?;
                Some(format!("{name}://{}", inside.display()))
            })
            .unwrap_or_else(|| format!("{}://{}", self.project.name, path.display()))
    }

    /// `path` (relative to the root project) relative to `package`'s folder when it is
    /// an installed package's, as dbt names a package's files.
    pub fn package_relative<'a>(&self, package: &str, path: &'a Path) -> &'a Path {
        self.packages
            .get(package)
            .and_then(|p| path.strip_prefix(&p.package_dir).ok())
            .unwrap_or(path)
    }

    /// A description of `node` (its own or a column's) with its Jinja rendered, as dbt
    /// renders descriptions; one DVT cannot render (`doc()` blocks) stays as written.
    pub fn render_description(&self, node: &Node, text: &str) -> String {
        if !(text.contains("{{") || text.contains("{%")) {
            return text.to_owned();
        }
        let ctx = serde_json::json!({
            "target": crate::resolve::target_context(&self.profile, &node.target)
        });
        self.jinja
            .render_snippet(
                text,
                &ctx,
                &crate::error::Location::file(&node.original_file_path),
            )
            .unwrap_or_else(|_| text.to_owned())
    }

    /// Where dbt writes the SQL of a unit test's fixture for `input`: beside the test's
    /// property file's compiled tests, `compiled/<package>/<property file>/<input>.sql`.
    pub fn fixture_path(&self, unique_id: &str, input: &str) -> Option<PathBuf> {
        let node = self.nodes.get(unique_id)?;
        Some(
            Path::new("compiled")
                .join(&node.package_name)
                .join(self.package_file_path(node))
                .join(format!("{input}.sql")),
        )
    }

    /// Where dbt writes a node's compiled SQL, relative to the target folder:
    /// `compiled/<package>/<file in the package>`, then `<alias>.sql` under a generic
    /// test's property file (several tests share it) and `<name>.sql` under a snapshot's
    /// file (several blocks share it). A package's nodes are under the package's name
    /// (`compiled/golden_utils/models/pkg_calendar.sql`), as dbt writes them.
    pub fn compiled_path(&self, unique_id: &str) -> Option<PathBuf> {
        let node = self.nodes.get(unique_id)?;
        let mut path = Path::new("compiled")
            .join(&node.package_name)
            .join(self.package_file_path(node));
        let test = node.test.as_ref();
        if let Some(model) = test
            .filter(|t| t.unit.is_some())
            .and_then(|t| self.nodes.get(t.attached_node.as_ref()?))
        {
            // dbt: under the property file, the model's folder, then the test's name.
            if let Some(dir) = self.package_file_path(model).parent() {
                path = path.join(dir);
            }
            path = path.join(format!("{}.sql", node.name));
        } else if test.is_some_and(|t| t.generic.is_some()) {
            path = path.join(format!("{}.sql", node.relation.identifier));
        }
        if node.resource_type == ResourceType::Snapshot {
            path = path.join(format!("{}.sql", node.name));
        }
        Some(path)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::Result;

    /// A manifest of a project made of `files`, with `--vars` `vars`.
    pub(crate) fn load(files: &[(&str, &str)], vars: &str) -> Result<Manifest> {
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
        // dbt-postgres names relations with the target's database.
        assert_eq!(sql, "select * from \"d\".\"lake_pg\".\"t_1\"");
    }

    #[test]
    fn a_naming_override_may_fall_back_on_dbts_default() {
        let m = load(
            &[
                ("dbt_project.yml", PROJECT),
                ("profiles.yml", PROFILES),
                (
                    "macros/schema.sql",
                    "{% macro generate_schema_name(custom_schema_name, node) -%}{%- if node.name == 'a' -%}fixed{%- else -%}{{ default__generate_schema_name(custom_schema_name, node) }}{%- endif -%}{%- endmacro %}\n{% macro generate_alias_name(custom_alias_name=none, node=none) -%}{{ dbt.default__generate_alias_name(custom_alias_name, node) }}_x{%- endmacro %}",
                ),
                ("models/a.sql", "select 1 as x"),
                ("models/b.sql", "{{ config(schema='mart') }}select 1 as x"),
                ("models/c.sql", "select 1 as x"),
            ],
            "",
        )
        .unwrap();
        let rel = |id: &str| {
            let r = &m.nodes[id].relation;
            (r.schema.clone(), r.identifier.clone())
        };
        assert_eq!(rel("model.p.a"), ("fixed".into(), "a_x".into()));
        assert_eq!(rel("model.p.b"), ("analytics_mart".into(), "b_x".into()));
        assert_eq!(rel("model.p.c"), ("analytics".into(), "c_x".into()));
    }

    #[test]
    fn database_config_and_generate_database_name() {
        // The target's own database, named by config or by a project's macro, is fine
        // and shows in `this`.
        let m = load(
            &[
                ("dbt_project.yml", PROJECT),
                ("profiles.yml", PROFILES),
                (
                    "macros/db.sql",
                    "{% macro generate_database_name(custom_database_name, node) -%}{{ (custom_database_name or target.database) | upper | lower }}{%- endmacro %}",
                ),
                ("models/a.sql", "{{ config(database='D') }}select '{{ this.database }}' as db"),
                ("models/b.sql", "select * from {{ ref('a') }}"),
            ],
            "",
        )
        .unwrap();
        assert_eq!(m.nodes["model.p.a"].relation.database.as_deref(), Some("d"));
        assert_eq!(m.compile("model.p.a").unwrap().sql, "select 'd' as db");
        assert_eq!(
            m.compile("model.p.b").unwrap().sql,
            "select * from \"d\".\"analytics\".\"a\""
        );
        // Another database cannot be written over this target's connection.
        let err = load(
            &[
                ("dbt_project.yml", PROJECT),
                ("profiles.yml", PROFILES),
                (
                    "models/a.sql",
                    "{{ config(database='other') }}select 1 as x",
                ),
            ],
            "",
        )
        .unwrap_err();
        assert_eq!(err.code(), "DVT115");
        let text = err.to_string();
        assert!(text.contains("a.sql") && text.contains("`other`"), "{text}");
    }

    #[test]
    fn a_source_and_its_tables_keep_their_own_descriptions() {
        let m = load(
            &[
                ("dbt_project.yml", PROJECT),
                ("profiles.yml", PROFILES),
                (
                    "models/src.yml",
                    "sources:\n  - name: raw\n    description: the raw feed\n    tables:\n      - name: a\n      - name: b\n        description: table b\n",
                ),
            ],
            "",
        )
        .unwrap();
        let a = &m.sources["source.p.raw.a"];
        assert_eq!(
            (a.description.as_str(), a.source_description.as_str()),
            ("", "the raw feed")
        );
        assert_eq!(m.sources["source.p.raw.b"].description, "table b");
    }

    #[test]
    fn column_data_types_render_at_parse_time() {
        let m = load(
            &[
                ("dbt_project.yml", PROJECT),
                ("profiles.yml", PROFILES),
                ("models/m.sql", "select 1 as id"),
                (
                    "models/p.yml",
                    "models:\n  - name: m\n    columns:\n      - name: id\n        data_type: \"{{ 'UInt8' if target.type == 'clickhouse' else 'integer' }}\"\n",
                ),
            ],
            "",
        )
        .unwrap();
        assert_eq!(m.nodes["model.p.m"].columns["id"]["data_type"], "integer");
    }

    #[test]
    fn graph_and_python_methods_are_available_at_compile_time() {
        let m = load(
            &[
                ("dbt_project.yml", PROJECT),
                ("profiles.yml", PROFILES),
                ("seeds/zeta.csv", "id\n1\n"),
                ("seeds/alpha.csv", "id\n1\n"),
                (
                    "models/m.sql",
                    "{% if execute %}select '{{ graph.nodes.values() | selectattr('resource_type', 'equalto', 'seed') | map(attribute='name') | sort | join(',') }}' as seeds, '{{ 'x'.upper() }}' as up, '{{ {'k': 1}.items() | list | length }}' as n, '{{ (graph.nodes.values() | selectattr('name', 'equalto', 'm') | list).pop().raw_code[:12] }}' as raw{% endif %}",
                ),
            ],
            "",
        )
        .unwrap();
        assert_eq!(
            m.compile("model.p.m").unwrap().sql,
            "select 'alpha,zeta' as seeds, 'X' as up, '1' as n, '{% if execut' as raw"
        );
    }

    #[test]
    fn lists_set_empty_grow_with_append_as_in_dbt() {
        let m = load(
            &[
                ("dbt_project.yml", PROJECT),
                ("profiles.yml", PROFILES),
                (
                    "macros/cols.sql",
                    "{% macro cols(n) -%}\n{%- set out = [] -%}\n{%- for i in range(n) %}{% do out.append('c' ~ i) %}{% endfor -%}\n{{ return(out) }}\n{%- endmacro %}",
                ),
                (
                    "models/m.sql",
                    "{%- set extra = [] -%}{% do extra.extend(['y', 'z']) %}{% do extra.insert(0, 'x') %}select '{{ cols(3) | join(',') }}' as c, {{ cols(2) | length }} as n, '{{ extra | join('') }}' as e, '{{ extra[-1] }}' as last",
                ),
            ],
            "",
        )
        .unwrap();
        assert_eq!(
            m.compile("model.p.m").unwrap().sql,
            "select 'c0,c1,c2' as c, 2 as n, 'xyz' as e, 'z' as last"
        );
    }

    #[test]
    fn adapter_dispatch_and_quote_without_a_database() {
        let m = load(
            &[
                ("dbt_project.yml", PROJECT),
                ("profiles.yml", PROFILES),
                (
                    "macros/cast.sql",
                    "{% macro my_cast(x) %}{{ return(adapter.dispatch('my_cast')(x)) }}{% endmacro %}\n{% macro default__my_cast(x) %}cast({{ x }} as text){% endmacro %}\n{% macro postgres__my_cast(x) %}{{ x }}::text{% endmacro %}\n{% macro default__only_default() %}d{% endmacro %}",
                ),
                (
                    "models/m.sql",
                    "select {{ my_cast('a') }} as c, {{ adapter.quote('We\"ird') }} as q, '{{ adapter.dispatch('only_default')() }}' as d",
                ),
                (
                    "models/intro.sql",
                    "{% set r = adapter.get_relation(database=this.database, schema=this.schema, identifier='x') %}select {{ 1 if r is none else 2 }} as n",
                ),
            ],
            "",
        )
        .unwrap();
        assert_eq!(
            m.compile("model.p.m").unwrap().sql,
            "select a::text as c, \"We\"\"ird\" as q, 'd' as d"
        );
        // Parsing got dbt's stub answer; compiling needs the database DVT does not read.
        let err = m.compile("model.p.intro").unwrap_err().to_string();
        assert!(err.contains("adapter.get_relation()"), "{err}");
    }

    /// A package's materialization writes a contract's DDL with these two adapter
    /// methods; they write what DVT's own builds write.
    #[test]
    fn adapter_renders_a_contracts_constraints() {
        let m = load(
            &[
                ("dbt_project.yml", PROJECT),
                ("profiles.yml", PROFILES),
                (
                    "models/m.sql",
                    "{% set cols = {'id': {'name': 'id', 'data_type': 'int', 'constraints': [{'type': 'not_null'}, {'type': 'check', 'expression': 'id > 0'}]}, 'Odd': {'name': 'Odd', 'data_type': 'text', 'quote': true, 'constraints': []}} %}\n{% set model_level = [{'type': 'primary_key', 'columns': ['id', 'Odd'], 'name': 'k'}, {'type': 'check'}] %}\nselect '{{ adapter.render_raw_columns_constraints(raw_columns=cols) | join(' | ') }}' as c, '{{ adapter.render_raw_model_constraints(model_level) | join(' | ') }}' as m",
                ),
            ],
            "",
        )
        .unwrap();
        assert_eq!(
            m.compile("model.p.m").unwrap().sql,
            "select 'id int not null check (id > 0) | \"Odd\" text' as c, 'constraint k primary key (id, Odd)' as m"
        );
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
            "with __dbt__cte__e1 as (\nselect id from \"my\".\"shop\".\"b\"\n),  __dbt__cte__e2 as (\nselect e1.id from __dbt__cte__e1 e1 join \"pg\".\"analytics\".\"a\" a on a.id = e1.id\n) select * from __dbt__cte__e2"
        );
        let targets: Vec<&str> = fed.inputs.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(targets, ["my", "pg"]);
        let push = m.compile("model.p.push").unwrap();
        assert_eq!(
            push.sql,
            "with __dbt__cte__e3 as (\nselect id from \"d\".\"analytics\".\"a\"\n), x as (select 1 as one) select * from x, __dbt__cte__e3"
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
