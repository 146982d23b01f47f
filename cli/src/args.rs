//! Command-line arguments (clap stays in this crate).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// DVT: dbt with transparent federation across databases.
#[derive(Debug, Parser)]
#[command(name = "dvt", version, about)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags shared by the commands that load a project.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// The project folder (holding `dbt_project.yml`).
    #[arg(long, global = true, default_value = ".")]
    pub project_dir: PathBuf,
    /// Folder holding `profiles.yml` (else `$DVT_PROFILES_DIR`, the project, `~/.dvt`, `~/.dbt`).
    #[arg(long, global = true)]
    pub profiles_dir: Option<PathBuf>,
    /// Force every node onto this target (a profile output).
    #[arg(long, short = 't', global = true)]
    pub target: Option<String>,
    /// Variables as a YAML mapping, e.g. `{key: value}`.
    #[arg(long, global = true)]
    pub vars: Option<String>,
}

/// Node selection flags.
#[derive(Debug, Clone, Args, Default)]
pub struct Selection {
    /// Nodes to include (names, `+` operators, `tag:`, `path:`; commas intersect).
    #[arg(long, short = 's', num_args = 1.., alias = "models", short_alias = 'm')]
    pub select: Vec<String>,
    /// Nodes to leave out.
    #[arg(long, num_args = 1..)]
    pub exclude: Vec<String>,
    /// A selection named in `selectors.yml`, instead of `--select`/`--exclude`.
    #[arg(long, conflicts_with_all = ["select", "exclude"])]
    pub selector: Option<String>,
    /// Which tests come with the nodes they read: `eager` (any of them selected),
    /// `cautious` (all), `buildable` (all, or their ancestors), `empty` (none).
    #[arg(long, value_parser = indirect_selection, default_value = "eager")]
    pub indirect_selection: dvt_core::select::Indirect,
    /// The folder of an earlier `manifest.json` (DVT's or dbt's), for `state:new` and
    /// `state:modified` selectors.
    #[arg(long)]
    pub state: Option<PathBuf>,
}

fn indirect_selection(text: &str) -> Result<dvt_core::select::Indirect, String> {
    dvt_core::select::Indirect::parse(text)
        .ok_or_else(|| "expected `eager`, `cautious`, `buildable` or `empty`".to_owned())
}

impl Selection {
    /// The selection flags as the library takes them.
    pub fn criteria(&self) -> dvt_core::select::Criteria {
        dvt_core::select::Criteria {
            select: self.select.clone(),
            exclude: self.exclude.clone(),
            selector: self.selector.clone(),
            indirect: self.indirect_selection,
        }
    }
}

/// Flags of the commands that build things.
#[derive(Debug, Clone, Args)]
pub struct Execution {
    /// Nodes built in parallel, at least 1 (default: the target's `threads`, else 1).
    #[arg(long, value_parser = at_least_one)]
    pub threads: Option<usize>,
    /// Rebuild incremental models from scratch (unless their config says
    /// `full_refresh: false`); tables and views are always rebuilt.
    #[arg(long, short = 'f')]
    pub full_refresh: bool,
    /// The compute federated models run on (a name in `computes.yml`; default: its
    /// `target:`, else the built-in local engine).
    #[arg(long)]
    pub compute: Option<String>,
    /// The staging bucket federated models extract into (a name in `buckets.yml`).
    #[arg(long)]
    pub bucket: Option<String>,
    /// Where microbatch models' batches start (`YYYY-MM-DD[ HH:MM:SS]`, UTC).
    #[arg(long, value_parser = timestamp)]
    pub event_time_start: Option<chrono::NaiveDateTime>,
    /// Where microbatch models' batches end, exclusive (`YYYY-MM-DD[ HH:MM:SS]`, UTC).
    #[arg(long, value_parser = timestamp)]
    pub event_time_end: Option<chrono::NaiveDateTime>,
    /// Stop at the first failure instead of skipping only its descendants.
    #[arg(long, short = 'x')]
    pub fail_fast: bool,
    /// Build with every `ref()` and `source()` reading no rows: checks the SQL and
    /// creates the relations, empty.
    #[arg(long)]
    pub empty: bool,
    /// Read parents this run does not build, and that do not exist on their target,
    /// where the `--state` manifest's run built them.
    #[arg(long)]
    pub defer: bool,
    /// With `--defer`: read unbuilt parents from the state's relations even where they
    /// exist here.
    #[arg(long, requires = "defer")]
    pub favor_state: bool,
    /// Keep the run's staged extracts (`<bucket>/<invocation id>/`) after a successful
    /// run too; a failed run always keeps them, for inspection, and names them (DVT005).
    #[arg(long)]
    pub keep_staging: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new project that runs on the embedded default (SQLite, no server).
    Init {
        /// Project name (also the folder created).
        name: String,
    },
    /// Install the packages of `packages.yml` / `dependencies.yml` into `dbt_packages/`
    /// (local paths, git repositories on disk, tarballs; no package hub is reachable).
    Deps {
        /// The project folder (holding `dbt_project.yml`).
        #[arg(long, default_value = ".")]
        project_dir: PathBuf,
    },
    /// Delete the folders of `clean-targets:` in `dbt_project.yml` (default: the target
    /// path); list `dbt_packages` there to remove the installed packages too.
    Clean {
        /// The project folder (holding `dbt_project.yml`).
        #[arg(long, default_value = ".")]
        project_dir: PathBuf,
        /// Only folders inside the project (the default).
        #[arg(long, conflicts_with = "no_clean_project_files_only")]
        clean_project_files_only: bool,
        /// Also folders outside the project.
        #[arg(long)]
        no_clean_project_files_only: bool,
    },
    /// Check the project, the profile and every target's connection.
    Debug {
        #[command(flatten)]
        common: Common,
    },
    /// Parse the project and write `target/manifest.json`.
    Parse {
        #[command(flatten)]
        common: Common,
    },
    /// Compile models to `target/compiled/`, showing each node's target and path.
    Compile {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        selection: Selection,
        /// SQL to compile instead of the project's nodes (may use `ref`, `source` and
        /// macros); its SQL is printed, as the engine or its target would run it.
        #[arg(long)]
        inline: Option<String>,
        /// Compile every `ref()` and `source()` as reading no rows, as `--empty` builds.
        #[arg(long)]
        empty: bool,
    },
    /// List nodes with their target and execution path.
    #[command(alias = "list")]
    Ls {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        selection: Selection,
        /// Only nodes of these kinds (`model`, `seed`, `snapshot`, `test`, `function`,
        /// `analysis`, `source`, `exposure`, `metric`, `semantic_model`, `saved_query`);
        /// analyses are listed only when named.
        #[arg(long = "resource-type", alias = "resource-types", num_args = 1.., value_parser = ["model", "seed", "snapshot", "test", "function", "analysis", "source", "exposure", "metric", "semantic_model", "saved_query"])]
        resource_types: Vec<String>,
        /// One line per node: DVT's table (default: the selector, target and path), or
        /// dbt's `selector`, `name`, `path` or `json`.
        #[arg(long, short = 'o', value_parser = ["table", "selector", "name", "path", "json"], default_value = "table")]
        output: String,
    },
    /// Build models (pushed down or federated).
    Run {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        execution: Execution,
    },
    /// Load seeds (CSV) into their targets.
    Seed {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        execution: Execution,
    },
    /// Run data tests (generic tests from property YAML, singular tests in `tests/`).
    Test {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        execution: Execution,
    },
    /// Take snapshots: record how the rows of each snapshot's query change over time.
    Snapshot {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        execution: Execution,
    },
    /// Create views of the models, seeds and snapshots an earlier run built (`--state`)
    /// where this target lacks them (`--full-refresh`: everywhere), as `dbt clone`.
    Clone {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        execution: Execution,
    },
    /// Build seeds, functions, models and snapshots and run their tests, in DAG order.
    Build {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        execution: Execution,
    },
    /// Preview a node's rows (a federated model is computed, not materialized).
    Show {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        selection: Selection,
        /// SQL to preview instead of a node (may use `ref` and `source`).
        #[arg(long)]
        inline: Option<String>,
        /// Rows to show.
        #[arg(long, default_value_t = 5)]
        limit: usize,
        /// The compute a federated node is previewed on (a name in `computes.yml`;
        /// default: the node's `compute:`, else the file's `target:`, else local).
        #[arg(long)]
        compute: Option<String>,
        /// The staging bucket a federated node extracts into (a name in `buckets.yml`;
        /// default: the node's `bucket:`, else the file's `target:`).
        #[arg(long)]
        bucket: Option<String>,
    },
    /// Documentation: `dvt docs generate` (manifest, catalog and the website `index.html`), `dvt docs serve`.
    Docs {
        #[command(subcommand)]
        command: DocsCommand,
    },
    /// Source commands: `dvt source freshness`.
    Source {
        #[command(subcommand)]
        command: SourceCommand,
    },
    /// Re-run the nodes of the last `run`, `seed`, `test`, `snapshot` or `build` that
    /// failed or were skipped, with its flags (`target/run_results.json`); `--vars` must
    /// be given again.
    Retry {
        #[command(flatten)]
        common: Common,
    },
    /// Run a macro, as dbt's `run-operation`: its queries (`run_query`, `statement`) run
    /// on the default target, or on `--target`.
    RunOperation {
        #[command(flatten)]
        common: Common,
        /// The macro: `name`, or `package.name` for a package's.
        #[arg(value_name = "MACRO")]
        macro_name: String,
        /// The macro's arguments, a YAML mapping: `'{table: orders, days: 3}'`.
        #[arg(long)]
        args: Option<String>,
    },
    /// Check that every target is reachable, create missing schemas, check the bucket.
    Sync {
        #[command(flatten)]
        common: Common,
    },
}

/// A count of at least 1 (`--threads 0` would build nothing).
fn timestamp(s: &str) -> Result<chrono::NaiveDateTime, String> {
    dvt_core::incremental::parse_timestamp(s)
        .ok_or_else(|| format!("`{s}` is not a date or timestamp (YYYY-MM-DD[ HH:MM:SS])"))
}

fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

/// `dvt source ...`.
#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Check how recently each source table received rows (`freshness:` with
    /// `loaded_at_field:`), where the source lives; writes `target/sources.json`.
    Freshness {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        selection: Selection,
        /// Where to write the results (default `target/sources.json`).
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
}

/// `dvt docs ...`.
#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// Write `target/manifest.json`, `target/catalog.json` (each relation's type,
    /// owner, comment and columns, asked of the target holding it) and
    /// `target/index.html`, the documentation website (DVT's own page: it needs no
    /// server, and `dvt docs serve` serves it).
    Generate {
        #[command(flatten)]
        common: Common,
        /// Write a catalog without asking the databases.
        #[arg(long)]
        empty_catalog: bool,
        /// Accepted for dbt's command lines; DVT does not compile for the catalog.
        #[arg(long)]
        no_compile: bool,
        /// Also write `target/static_index.html`, as dbt does (DVT's `index.html` holds
        /// its data already, so the two are the same page).
        #[arg(long = "static")]
        static_page: bool,
    },
    /// Serve the target folder (`index.html` from `dvt docs generate`) over HTTP until
    /// interrupted.
    Serve {
        #[command(flatten)]
        common: Common,
        /// The port (0: any free one; the address is printed).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Accepted for dbt's command lines; DVT prints the address instead of opening
        /// a browser.
        #[arg(long, overrides_with = "no_browser")]
        browser: bool,
        /// Accepted for dbt's command lines.
        #[arg(long)]
        no_browser: bool,
    },
}
