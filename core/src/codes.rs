//! The registry of every warning and error code DVT prints.
//!
//! One table, [`CODES`](crate::codes::CODES), sorted by code: what each code means, its typical cause and
//! its fix. Every crate's `Error::code()` returns a code listed here (tests in each
//! crate construct one value of every variant and look it up), and `docs/errors.md`
//! is rendered from this table by [`markdown`](crate::codes::markdown); the test
//! `docs_errors_md_matches_the_registry` fails when the file drifts, and rewrites it
//! when `DVT_UPDATE_GOLDEN=1` is set.
//!
//! A code never changes meaning: scripts match on it. Retire a code by leaving it
//! here with a title saying so, never by reusing it.

/// Whether a code is printed as `warning[..]` or `error[..]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// Printed as `warning[DVTnnn]`; does not change the exit code.
    Warning,
    /// Printed as `error[DVTnnn]`; the command fails.
    Error,
}

/// The documentation of one code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeDoc {
    /// `DVTnnn`.
    pub code: &'static str,
    /// Warning or error.
    pub kind: CodeKind,
    /// What the code means, as one sentence.
    pub title: &'static str,
    /// What usually causes it.
    pub cause: &'static str,
    /// What the user does about it.
    pub fix: &'static str,
}

/// An internal error: a bug in DVT (also the code of an error that carries none).
pub const INTERNAL: &str = "DVT399";

/// Invalid command-line usage (exit code 2).
pub const USAGE: &str = "DVT400";

/// Every code, sorted. Ranges: `DVT0xx` warnings, `DVT1xx` project, parse and compile
/// errors, `DVT2xx` seed CSV errors, `DVT3xx` execution errors, `DVT4xx` command line.
pub const CODES: &[CodeDoc] = &[
    CodeDoc {
        code: "DVT001",
        kind: CodeKind::Warning,
        title: "A federated model configured as `view` is built as a `table`.",
        cause: "A view cannot span databases; the model reads inputs from another target.",
        fix: "Set `materialized='table'` on the model to silence it, or move its inputs onto its target so it becomes a pushdown view.",
    },
    CodeDoc {
        code: "DVT002",
        kind: CodeKind::Warning,
        title: "A source without `connection:` in a project with several targets.",
        cause: "The source is read from the effective default target (`--target` if given, else the profile's default), which may not be where the table lives.",
        fix: "Add `connection: <target>` to the source.",
    },
    CodeDoc {
        code: "DVT003",
        kind: CodeKind::Warning,
        title: "A federated model selects an expression without an alias.",
        cause: "`select sum(amount) from ...` on the federated path: the engine names the column `sum(amount)` where PostgreSQL says `sum` and MySQL `sum(amount)`, so the table's column names would depend on the path the model takes.",
        fix: "Alias every expression: `sum(amount) as total`.",
    },
    CodeDoc {
        code: "DVT004",
        kind: CodeKind::Warning,
        title: "A model or seed name contains a space.",
        cause: "A file such as `models/my model.sql`; dbt deprecates such names, and every SQL statement must quote them.",
        fix: "Rename the file, e.g. `my_model.sql`.",
    },
    CodeDoc {
        code: "DVT005",
        kind: CodeKind::Warning,
        title: "A run's staged extracts were kept in the staging bucket.",
        cause: "The run failed or was cancelled, so what it extracted from its sources stays for inspection (the warning names the run's folder or prefix and its objects); or removing them after a successful run failed (the message says why).",
        fix: "Inspect the objects if useful, then delete them (`rm -r` the folder, or delete the prefix in the bucket). `--keep-staging` keeps them after successful runs too.",
    },
    CodeDoc {
        code: "DVT006",
        kind: CodeKind::Warning,
        title: "A Python model is not built.",
        cause: "A `.py` file under the model paths: dbt runs Python models on warehouses with a Python runtime (Snowflake, Databricks, BigQuery); DVT builds SQL models only, on every target.",
        fix: "Rewrite the model in SQL, or build it with dbt where it runs; models that `ref()` it fail until it exists (DVT106).",
    },
    CodeDoc {
        code: "DVT007",
        kind: CodeKind::Warning,
        title: "A selection criterion matches no node.",
        cause: "A `--select`/`--exclude` value (or one of its comma-joined parts) names no enabled node, source or exposure: a typo, a disabled model, a tag nobody has.",
        fix: "Check the name with `dvt ls --select <it>`; the run goes on with what the other criteria select.",
    },
    CodeDoc {
        code: "DVT008",
        kind: CodeKind::Warning,
        title: "A model past its `deprecation_date`, or a reference to one.",
        cause: "A model (or model version) whose `deprecation_date:` is in the past is still in the project, or a node `ref()`s it (dbt's DeprecatedModel and DeprecatedReference).",
        fix: "Move the readers to the model's newer version and remove or disable the deprecated one.",
    },
    CodeDoc {
        code: "DVT009",
        kind: CodeKind::Warning,
        title: "An unversioned model's enforced contract broke since the `--state` manifest.",
        cause: "`state:modified` (or `state:modified.contract`) compared a model whose contract the state enforced: the contract is no longer enforced, a column is gone, a column's `data_type` changed, or the model was deleted, renamed or disabled (dbt's UnversionedBreakingChange). Whatever reads the model may break.",
        fix: "If readers depend on it, version the model (`versions:`) and keep the old contract in the old version; otherwise tell its readers.",
    },
    CodeDoc {
        code: "DVT010",
        kind: CodeKind::Warning,
        title: "A contracted model's constraints are ignored: its materialization builds no table.",
        cause: "The model's contract declares constraints but it is a `view` or `ephemeral` model, whose SQL has no place for them (dbt's UnsupportedConstraintMaterialization).",
        fix: "Materialize the model as `table` or `incremental`, or test the rule with a data test (`unique`, `not_null`, `relationships`); set `warn_unsupported: false` on the constraint once that is understood.",
    },
    CodeDoc {
        code: "DVT100",
        kind: CodeKind::Error,
        title: "A file or folder cannot be read.",
        cause: "Wrong path, missing file, permissions.",
        fix: "Check the path printed and its permissions.",
    },
    CodeDoc {
        code: "DVT101",
        kind: CodeKind::Error,
        title: "No `dbt_project.yml` (or `dvt_project.yml`) in the project folder.",
        cause: "Running outside the project, or a wrong `--project-dir`.",
        fix: "`cd` into the project or pass `--project-dir`.",
    },
    CodeDoc {
        code: "DVT102",
        kind: CodeKind::Error,
        title: "Invalid YAML, at `file:line:col`.",
        cause: "Bad indentation, tabs, a duplicate key, unquoted `{{ }}` in YAML, a key of the wrong type (`name: 5`, `models: []`).",
        fix: "Fix the YAML at the position printed; quote values that start with `{`.",
    },
    CodeDoc {
        code: "DVT103",
        kind: CodeKind::Error,
        title: "`profiles.yml` not found, or the profile is missing from it.",
        cause: "`profile:` in `dbt_project.yml` names a profile that no `profiles.yml` on the lookup path defines.",
        fix: "Put `profiles.yml` in `--profiles-dir`, `$DVT_PROFILES_DIR`, the project folder, `~/.dvt/` or `~/.dbt/`, with the profile named in `dbt_project.yml`.",
    },
    CodeDoc {
        code: "DVT104",
        kind: CodeKind::Error,
        title: "Unknown target.",
        cause: "`--target`, the profile's `target:`, a model's `target:` config, a seed's `+target` or a source's `connection:` names no output of the profile.",
        fix: "Use one of the outputs the message lists, or add that output to `profiles.yml`.",
    },
    CodeDoc {
        code: "DVT105",
        kind: CodeKind::Error,
        title: "Conflicting source connections.",
        cause: "The same source is declared twice (e.g. in two YAML files) with different `connection:` values.",
        fix: "Keep one `connection:` per source.",
    },
    CodeDoc {
        code: "DVT106",
        kind: CodeKind::Error,
        title: "Unknown `ref()`.",
        cause: "A typo, or the model/seed was deleted or disabled (`enabled: false`).",
        fix: "Fix the name; `dvt ls` lists the nodes.",
    },
    CodeDoc {
        code: "DVT107",
        kind: CodeKind::Error,
        title: "Unknown `source()`.",
        cause: "The source or table is not declared in any `models/**/*.yml`.",
        fix: "Declare it under `sources:` or fix the name.",
    },
    CodeDoc {
        code: "DVT108",
        kind: CodeKind::Error,
        title: "Dependency cycle.",
        cause: "Models that `ref()` each other, directly or through others; the message prints the cycle `a -> b -> a`.",
        fix: "Break the cycle, e.g. by moving shared logic into a third model.",
    },
    CodeDoc {
        code: "DVT109",
        kind: CodeKind::Error,
        title: "Jinja syntax or render error, at `file:line`.",
        cause: "Unclosed `{% %}` or `{{ }}`, an unknown macro or variable, a macro calling itself without end, `return()` outside a macro, a secret environment variable read by a model, a macro raising an error.",
        fix: "Fix the template at the line printed.",
    },
    CodeDoc {
        code: "DVT110",
        kind: CodeKind::Error,
        title: "Environment variable missing.",
        cause: "`env_var('X')` without a default and `X` unset.",
        fix: "Export the variable or give a default: `env_var('X', 'value')`.",
    },
    CodeDoc {
        code: "DVT111",
        kind: CodeKind::Error,
        title: "Invalid selector.",
        cause: "Malformed `--select`/`--exclude` (bad graph operator, unknown method, empty value, a method's value it does not take), a `--selector` name `selectors.yml` does not define, or a `state:`/`result:`/`source_status:` method without the `--state` artifacts it reads.",
        fix: "See the selector syntax in the README (`name`, `+name`, `2+name`, `name+1`, `@name`, `tag:x`, `path:x`, `config.materialized:x`, `a,b`); `dvt ls --selector x` shows what a named selector picks.",
    },
    CodeDoc {
        code: "DVT112",
        kind: CodeKind::Error,
        title: "Invalid `--vars`.",
        cause: "The value is not a YAML mapping.",
        fix: "Pass a mapping: `--vars '{key: value}'`.",
    },
    CodeDoc {
        code: "DVT113",
        kind: CodeKind::Error,
        title: "Unsupported adapter type.",
        cause: "`type:` of a profile output is not `postgres`, `mysql` (or `mariadb`) or `sqlite`.",
        fix: "Use a supported type.",
    },
    CodeDoc {
        code: "DVT114",
        kind: CodeKind::Error,
        title: "Duplicate node.",
        cause: "Two models (or a model and a seed) share a name, e.g. the same file name in two folders; or two property entries describe one model, seed or snapshot (in one project, or in the root project and the package that has the node).",
        fix: "Rename one, or merge the two entries into one.",
    },
    CodeDoc {
        code: "DVT115",
        kind: CodeKind::Error,
        title: "Invalid config.",
        cause: "Unknown or unsupported materialization (DVT builds `table`, `view`, `incremental`, `materialized_view`, `ephemeral`), a config value of the wrong type, a function without `returns: {data_type}` or with an argument lacking `name` or `data_type`, a Python or non-`scalar` function.",
        fix: "Use `table`, `view` or `ephemeral`, or fix the value.",
    },
    CodeDoc {
        code: "DVT116",
        kind: CodeKind::Error,
        title: "A routing rule is broken.",
        cause: "Ephemeral models nested more than 64 deep; a model calling a `function()` while federated (the engine cannot call a database's function) or on another target than the function's; a function reading relations of another target; or another rule of `docs/routing.md`.",
        fix: "Materialize one of the nested ephemeral models; keep a model that calls a function, and what it reads, on the function's target.",
    },
    CodeDoc {
        code: "DVT117",
        kind: CodeKind::Error,
        title: "A relation or schema name is longer than its target allows.",
        cause: "A long model name, `alias` or custom schema on PostgreSQL (63 bytes, which it would silently truncate) or MySQL/MariaDB (64 characters).",
        fix: "Shorten the name, or set a shorter `alias` or `schema`.",
    },
    CodeDoc {
        code: "DVT118",
        kind: CodeKind::Error,
        title: "A data test names a generic test that does not exist.",
        cause: "An entry of `data_tests:` (or `tests:`) whose name is not a built-in test (`unique`, `not_null`, `accepted_values`, `relationships`) nor a `{% test %}` block of the project or its packages; often a typo, or a package test whose package is not installed (`dvt deps`).",
        fix: "Correct the name, define the test in `macros/` or `tests/generic/`, or install the package that provides it.",
    },
    CodeDoc {
        code: "DVT120",
        kind: CodeKind::Error,
        title: "Invalid `computes.yml`, at `file:line:col`.",
        cause: "An unknown or missing `type` (a compute is `local` or `ballista`), a key the compute's type does not take (often a typo), a missing `scheduler`, a value of the wrong form (`threads: 0`, `memory_limit: 4 gigs`, a `scheduler` that is not `df://host:port`), or a profile entry that is not `{target: <name>, computes: {...}}`.",
        fix: "Fix the key or value at the position printed; the message lists the keys expected there. Sizes are written `4GiB`, `512MiB`, `2GB` or in bytes.",
    },
    CodeDoc {
        code: "DVT121",
        kind: CodeKind::Error,
        title: "Invalid `buckets.yml`, at `file:line:col`.",
        cause: "An unknown or missing `type` (a bucket is `filesystem`, `s3`, `gcs` or `azure`), a key the bucket's type does not take, a missing `bucket`, `container` or `account`, a bucket name written as a URL, an `endpoint` that is not `http(s)://host[:port]`, half a key pair (`access_key_id` without `secret_access_key`), or `shared: false` on an object store.",
        fix: "Fix the key or value at the position printed; the message lists the keys expected there. Leave credentials out to take them from the environment, or give them with `env_var()`.",
    },
    CodeDoc {
        code: "DVT122",
        kind: CodeKind::Error,
        title: "Unknown compute.",
        cause: "`--compute`, a model's `compute:` config or the `target:` of `computes.yml` names no compute of the active profile. Without a `computes.yml` entry for the profile (in the folder of `profiles.yml`) only the built-in `local` exists.",
        fix: "Use one of the computes the message lists, or define it under the profile's `computes:` in `computes.yml` beside `profiles.yml`.",
    },
    CodeDoc {
        code: "DVT123",
        kind: CodeKind::Error,
        title: "Unknown bucket.",
        cause: "`--bucket`, a model's `bucket:` config or the `target:` of `buckets.yml` names no bucket of the active profile. Without a `buckets.yml` entry for the profile (in the folder of `profiles.yml`) only the built-in `local` exists.",
        fix: "Use one of the buckets the message lists, or define it under the profile's `buckets:` in `buckets.yml` beside `profiles.yml`.",
    },
    CodeDoc {
        code: "DVT124",
        kind: CodeKind::Error,
        title: "A `ballista` compute cannot stage in a folder only this machine has.",
        cause: "The chosen compute is `type: ballista` and the chosen bucket is a `filesystem` bucket not declared `shared: true` (the built-in `local` bucket is one): executors on other machines would not find the staged parts.",
        fix: "Declare the bucket `shared: true` if every executor mounts the folder at the same path, or choose an `s3` bucket (`--bucket`, or `target:` in `buckets.yml`).",
    },
    CodeDoc {
        code: "DVT125",
        kind: CodeKind::Error,
        title: "Invalid `packages.yml` or `dependencies.yml` entry, at `file:line:col`.",
        cause: "`packages:` is not a list, an entry has none of `local`, `git`, `tarball`, `package` (or two of them), a key the entry's kind does not take (often a typo), a `tarball:` without `name:`, a value that is not text, `projects:` (dbt Mesh) in `dependencies.yml`, or packages listed in both files.",
        fix: "Fix the entry at the position printed; the message lists the keys expected there.",
    },
    CodeDoc {
        code: "DVT126",
        kind: CodeKind::Error,
        title: "A package comes from the dbt package hub, which DVT cannot reach.",
        cause: "An entry `package: owner/name` with `version:`: installing it needs hub.getdbt.com, and DVT has no network access.",
        fix: "Vendor the package (a folder, a repository or a tarball on disk) and list it with `local:`, `git:` or `tarball:` instead.",
    },
    CodeDoc {
        code: "DVT127",
        kind: CodeKind::Error,
        title: "A package is on the network, which DVT cannot reach.",
        cause: "A `git:` entry with an `https://`, `ssh://`, `git://` or `host:path` URL, a `tarball:` with an `http(s)://` URL, or a `private:` entry: DVT installs packages only from disk.",
        fix: "Clone or download the package onto this machine and point the entry at it: a path or `file://` URL for `git:` and `tarball:`, or use `local:`.",
    },
    CodeDoc {
        code: "DVT128",
        kind: CodeKind::Error,
        title: "A package cannot be installed.",
        cause: "A `local:` path that does not exist, a folder without `dbt_project.yml`, `git` missing or failing (unknown revision, not a repository), a `subdirectory:` that does not exist, an unreadable or malformed tarball, a tarball whose project name differs from `name:`.",
        fix: "Read the cause in the message and fix the entry or the package; nothing in the install folder changed.",
    },
    CodeDoc {
        code: "DVT129",
        kind: CodeKind::Error,
        title: "Packages depend on each other in a cycle.",
        cause: "A package's own `packages.yml` lists, directly or through others, a package that lists it (or the root project); the message prints the cycle `a -> b -> a`.",
        fix: "Remove one of the entries that close the cycle.",
    },
    CodeDoc {
        code: "DVT130",
        kind: CodeKind::Error,
        title: "An unqualified `ref()` matches nodes of several packages.",
        cause: "`ref('name')` names no node of the root project or of the calling node's own package, and two or more installed packages each have a node of that name.",
        fix: "Name the package: `ref('<package>', 'name')`.",
    },
    CodeDoc {
        code: "DVT131",
        kind: CodeKind::Error,
        title: "Two packages have the same name.",
        cause: "Two entries (or an entry and a package's own dependency) install different packages that are both named so in their `dbt_project.yml`, two folders of the install folder hold projects of one name, or a package is named like the root project.",
        fix: "Keep one of the packages, or rename one in its `dbt_project.yml`.",
    },
    CodeDoc {
        code: "DVT132",
        kind: CodeKind::Error,
        title: "Packages are specified but not installed.",
        cause: "`packages.yml` (or `dependencies.yml`) lists more packages than the install folder (`dbt_packages`, or `packages-install-path`) holds: `dvt deps` has not run since the file changed, or the folder was deleted.",
        fix: "Run `dvt deps`.",
    },
    CodeDoc {
        code: "DVT133",
        kind: CodeKind::Error,
        title: "Unknown `function()`.",
        cause: "A typo, the function's SQL file under `function-paths` (default `functions/`) was deleted or disabled (`enabled: false`), or an unqualified name that several packages define.",
        fix: "Fix the name, or name the package (`function('<package>', 'name')`); `dvt ls --resource-type function` lists the functions.",
    },
    CodeDoc {
        code: "DVT134",
        kind: CodeKind::Error,
        title: "Unknown macro for `dvt run-operation`.",
        cause: "A typo, a macro in a file outside the macro paths (default `macros/`), or a package's macro named without its package.",
        fix: "Fix the name, or name the package (`dvt run-operation <package>.<macro>`).",
    },
    CodeDoc {
        code: "DVT135",
        kind: CodeKind::Error,
        title: "Nothing to retry.",
        cause: "`dvt retry` found no `target/run_results.json` (no command ran in this project, or `target/` was removed), or the last command was not one it repeats (`run`, `seed`, `test`, `snapshot`, `build`).",
        fix: "Run the command itself; `dvt retry` then repeats what failed or was skipped.",
    },
    CodeDoc {
        code: "DVT136",
        kind: CodeKind::Error,
        title: "A `ref()` to a model whose `access` does not allow it.",
        cause: "The model is `access: private` and the referring node is not in its `group` (a generic test belongs to the group of the node it tests), or the model belongs to a package with `restrict-access: true` and is `private` or `protected`, named from outside the package.",
        fix: "Put the referring node in the model's group (`group:`), make the model `protected` or `public`, or read a public model instead.",
    },
    CodeDoc {
        code: "DVT137",
        kind: CodeKind::Error,
        title: "`selectors.yml` is malformed.",
        cause: "A selector without `name:` or `definition:`, an unknown key, a definition that is a list, two `exclude:` in one `union`/`intersection`, `method: selector` naming a selector not defined above it, a bad criterion, or two selectors with `default: true`.",
        fix: "Fix the entry at the line printed; the syntax is dbt's YAML selectors (`union`, `intersection`, `exclude`, `method`/`value`, `parents`, `children`, `childrens_parents`, `*_depth`, `indirect_selection`).",
    },
    CodeDoc {
        code: "DVT138",
        kind: CodeKind::Error,
        title: "A versioned model's enforced contract broke since the `--state` manifest.",
        cause: "`state:modified` (or `state:modified.contract`) compared a model whose contract the state enforced: the contract is no longer enforced, a column is gone, a column's `data_type` changed, or the model was deleted, renamed or disabled (unless past its `deprecation_date`). Readers of a versioned model rely on its contract, so dbt refuses the change.",
        fix: "Keep this version's contract as it was and add a new version (`versions:`) with the changed columns; or, if no one reads it, bump `latest_version` after a deprecation period.",
    },
    CodeDoc {
        code: "DVT200",
        kind: CodeKind::Error,
        title: "Ragged CSV row, at `file:line:col` (the column is the first missing or extra field).",
        cause: "A row with more or fewer fields than the header, usually an unquoted comma.",
        fix: "Quote fields containing the delimiter (`\"Smith, Jane\"`) or fix the row.",
    },
    CodeDoc {
        code: "DVT201",
        kind: CodeKind::Error,
        title: "Invalid CSV, at `file:line` (`:col` for a bad header field).",
        cause: "An empty file, an empty or repeated header field, broken quoting, invalid UTF-8. (A `column_types` entry naming a column the header lacks is ignored, as in dbt.)",
        fix: "Fix the file. A value the database cannot convert to a `column_types` type fails the load with DVT304.",
    },
    CodeDoc {
        code: "DVT300",
        kind: CodeKind::Error,
        title: "Connection to a target failed.",
        cause: "Server down, wrong host/port/credentials, SQLite file not writable, the executor process could not reach its scheduler.",
        fix: "`dvt debug` checks every output; fix `profiles.yml` or start the server.",
    },
    CodeDoc {
        code: "DVT301",
        kind: CodeKind::Error,
        title: "SQL failed on a target.",
        cause: "An error in a pushdown model's SQL, a missing table, permissions; the message names the target, what DVT was doing and the database's own message.",
        fix: "Fix the model (check `target/compiled/`) or the grants.",
    },
    CodeDoc {
        code: "DVT302",
        kind: CodeKind::Error,
        title: "Federation planning failed.",
        cause: "A federated model's SQL is not valid DataFusion SQL (dialect syntax such as `::` casts or backticks, an unknown function or column).",
        fix: "Write federated models in standard SQL (`cast(x as double)`); see `target/compiled/`.",
    },
    CodeDoc {
        code: "DVT303",
        kind: CodeKind::Error,
        title: "Federation execution failed.",
        cause: "A source query failed while streaming, a type that cannot be converted, out of memory.",
        fix: "Read the cause in the message; reduce the data read or fix the source.",
    },
    CodeDoc {
        code: "DVT304",
        kind: CodeKind::Error,
        title: "Bulk load failed.",
        cause: "The destination rejected rows (types, lengths), MySQL/MariaDB without `local_infile=1`, permissions.",
        fix: "Fix the data or types; on MariaDB run `SET GLOBAL local_infile=1`.",
    },
    CodeDoc {
        code: "DVT305",
        kind: CodeKind::Error,
        title: "Staging failed.",
        cause: "`.dvt/staging/` not writable, disk full; an S3 bucket unreachable, missing, or refusing the credentials (from `buckets.yml` or the `AWS_*` environment).",
        fix: "Free space or fix permissions; for S3, check the bucket's `endpoint`, `region`, `path_style` and credentials (`dvt debug` writes a probe object).",
    },
    CodeDoc {
        code: "DVT306",
        kind: CodeKind::Error,
        title: "Unsupported feature.",
        cause: "Something the target or this version of DVT does not support (the message names it), such as staging into a `gcs` or `azure` bucket.",
        fix: "Avoid the feature, or open an issue.",
    },
    CodeDoc {
        code: "DVT307",
        kind: CodeKind::Error,
        title: "A data test failed.",
        cause: "The test's query returned failing rows (`Got N results, configured to fail if != 0`) at severity `error`; in `dvt build` the nodes that read the tested node are skipped.",
        fix: "Look at the failing rows (`target/compiled/` holds the test's query; `store_failures: true` keeps them in `<schema>_dbt_test__audit`), fix the data or the model, or set `severity: warn`.",
    },
    CodeDoc {
        code: "DVT308",
        kind: CodeKind::Error,
        title: "The run was cancelled while the node ran.",
        cause: "Ctrl-C, or a `cancel` of the run; with `--fail-fast`, another node failed.",
        fix: "Run the command again; nodes that finished keep their results.",
    },
    CodeDoc {
        code: "DVT309",
        kind: CodeKind::Error,
        title: "An incremental model's columns no longer match its table.",
        cause: "The model selects columns its table lacks, lacks columns the table has, or changed a column's type, and its `on_schema_change` is `fail`.",
        fix: "Rebuild the table with `--full-refresh`, or set `on_schema_change` to `append_new_columns` (add new columns) or `sync_all_columns` (add, drop and retype).",
    },
    CodeDoc {
        code: "DVT310",
        kind: CodeKind::Error,
        title: "A model's enforced contract does not match its columns.",
        cause: "`contract: {enforced: true}` lists columns (names, `data_type`) that differ from what the model's SQL returns: a column missing on either side, or one without a `data_type`.",
        fix: "Make the property file's `columns:` list every column the model returns, each with its `data_type`, or turn the contract off.",
    },
    CodeDoc {
        code: INTERNAL,
        kind: CodeKind::Error,
        title: "Internal error.",
        cause: "A bug in DVT.",
        fix: "Please file a bug with the command, the message and, if possible, the project.",
    },
    CodeDoc {
        code: USAGE,
        kind: CodeKind::Error,
        title: "Invalid command-line usage.",
        cause: "Unknown command or flag, a missing argument, a value of the wrong type, conflicting flags.",
        fix: "`dvt --help`, `dvt <command> --help`.",
    },
];

/// The documentation of `code`, if it is registered.
pub fn lookup(code: &str) -> Option<&'static CodeDoc> {
    CODES
        .binary_search_by(|c| c.code.cmp(code))
        .ok()
        .map(|i| &CODES[i])
}

/// The sections of `docs/errors.md`: heading, and the first digit of their codes.
const SECTIONS: [(&str, &[u8]); 4] = [
    ("Warnings", b"0"),
    ("Project, parse and compile errors (dvt-core)", b"12"),
    ("Execution errors (dvt-executor)", b"3"),
    ("Command line", b"4"),
];

/// `docs/errors.md`, rendered from [`CODES`].
pub fn markdown() -> String {
    let mut out = String::from(
        "# Warning and error codes

<!-- Generated from core/src/codes.rs: edit the registry there, then run
     DVT_UPDATE_GOLDEN=1 cargo test -p dvt-core docs_errors_md_matches_the_registry -->

Every warning and error DVT prints starts with a stable code. A code never
changes meaning, so scripts may match on it. Errors that come from a file name
the file and, when known, the line and column (`models/x.sql:12:5`). The process
exits 1 when a command fails on the project or a node, 2 on bad command-line
usage (or when DVT cannot start); warnings do not change the exit code.

Ranges: `DVT0xx` warnings, `DVT1xx` project/parse/compile errors,
`DVT2xx` seed CSV errors, `DVT3xx` execution errors, `DVT4xx` command line.
",
    );
    for (heading, digits) in SECTIONS {
        out.push_str(&format!(
            "\n## {heading}\n\n| code | meaning | typical cause | fix |\n|---|---|---|---|\n"
        ));
        for c in CODES
            .iter()
            .filter(|c| digits.contains(&c.code.as_bytes()[3]))
        {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                c.code,
                cell(c.title),
                cell(c.cause),
                cell(c.fix)
            ));
        }
    }
    out
}

/// A table cell: `|` would end the cell early.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    #[test]
    fn codes_are_unique_sorted_and_well_formed() {
        for pair in CODES.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "`{}` must come before `{}`, once",
                pair[0].code,
                pair[1].code
            );
        }
        for c in CODES {
            let digits = c.code.strip_prefix("DVT").unwrap_or_default();
            assert!(
                digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit()),
                "`{}` is not `DVTnnn`",
                c.code
            );
            let warning_range = digits.starts_with('0');
            assert_eq!(
                c.kind == CodeKind::Warning,
                warning_range,
                "`{}`: warnings are DVT0xx, errors DVT1xx and up",
                c.code
            );
            assert!(
                SECTIONS
                    .iter()
                    .any(|(_, d)| d.contains(&digits.as_bytes()[0])),
                "`{}` belongs to no section of docs/errors.md",
                c.code
            );
            for text in [c.title, c.cause, c.fix] {
                assert!(
                    !text.is_empty() && !text.contains('\n'),
                    "`{}`: {text:?}",
                    c.code
                );
            }
            assert_eq!(lookup(c.code), Some(c));
        }
        assert_eq!(lookup(&format!("DVT{}", 999)), None);
    }

    /// One value of every variant of [`crate::error::Error`]. The match below has no
    /// wildcard, so a new variant does not compile until it is added here (and so
    /// checked against the registry).
    fn every_core_error() -> Vec<crate::error::Error> {
        use crate::error::{Error, Location};
        let at = || Location::line("models/m.sql", 1);
        let all = vec![
            Error::Io {
                path: "x".into(),
                source: std::io::Error::other("x"),
            },
            Error::ProjectNotFound { dir: ".".into() },
            Error::Yaml {
                location: at(),
                message: "x".into(),
            },
            Error::Profile {
                message: "x".into(),
            },
            Error::UnknownTarget {
                location: at(),
                name: "x".into(),
                profile: "p".into(),
                known: "a".into(),
            },
            Error::ConflictingSourceConnection {
                location: at(),
                source_name: "s".into(),
                first: "a".into(),
                second: "b".into(),
            },
            Error::UnknownRef {
                location: at(),
                node: "n".into(),
                name: "x".into(),
                hint: String::new(),
            },
            Error::UnknownSource {
                location: at(),
                node: "n".into(),
                source_name: "s".into(),
                table: "t".into(),
            },
            Error::Cycle {
                location: at(),
                cycle: "a -> a".into(),
            },
            Error::Jinja {
                location: at(),
                message: "x".into(),
            },
            Error::EnvVarMissing {
                location: at(),
                name: "X".into(),
            },
            Error::InvalidSelector {
                selector: "x".into(),
                reason: "x".into(),
            },
            Error::InvalidVars {
                message: "x".into(),
            },
            Error::UnsupportedAdapter {
                location: at(),
                output: "o".into(),
                adapter: "oracle".into(),
            },
            Error::DuplicateNode {
                location: at(),
                kind: "model",
                name: "m".into(),
                other: "models/a/m.sql".into(),
            },
            Error::InvalidConfig {
                location: at(),
                key: "k".into(),
                message: "x".into(),
            },
            Error::RaggedCsv {
                location: at(),
                expected: 2,
                found: 3,
            },
            Error::Csv {
                location: at(),
                message: "x".into(),
            },
            Error::IdentifierTooLong {
                location: at(),
                what: "relation name",
                name: "x".into(),
                limit: "x".into(),
            },
            Error::Routing {
                location: at(),
                message: "x".into(),
            },
            Error::UnknownTest {
                location: at(),
                name: "x".into(),
                macro_name: "test_x".into(),
            },
            Error::InvalidCompute {
                location: at(),
                message: "x".into(),
            },
            Error::InvalidBucket {
                location: at(),
                message: "x".into(),
            },
            Error::UnknownCompute {
                location: at(),
                name: "x".into(),
                defined: "x".into(),
            },
            Error::UnknownBucket {
                location: at(),
                name: "x".into(),
                defined: "x".into(),
            },
            Error::BucketNotShared {
                location: None,
                compute: "c".into(),
                bucket: "b".into(),
            },
            Error::InvalidPackages {
                location: at(),
                message: "x".into(),
            },
            Error::PackageHubUnreachable {
                location: at(),
                package: "a/b".into(),
            },
            Error::PackageNetworkUnreachable {
                location: at(),
                kind: "git",
                url: "https://x".into(),
            },
            Error::PackageInstall {
                location: at(),
                package: "x".into(),
                message: "x".into(),
            },
            Error::PackageCycle {
                location: at(),
                cycle: "a -> a".into(),
            },
            Error::AmbiguousRef {
                location: at(),
                node: "n".into(),
                name: "x".into(),
                packages: "`a`, `b`".into(),
            },
            Error::DuplicatePackage {
                location: at(),
                name: "x".into(),
                message: "x".into(),
            },
            Error::PackagesNotInstalled {
                location: at(),
                specified: 2,
                installed: 1,
                install_path: "dbt_packages".into(),
            },
            Error::UnknownFunction {
                location: at(),
                node: "n".into(),
                name: "x".into(),
                problem: "names no function".into(),
            },
            Error::UnknownMacro {
                name: "x".into(),
                hint: String::new(),
            },
            Error::NothingToRetry { why: "x".into() },
            Error::RestrictedRef {
                location: at(),
                message: "x".into(),
            },
            Error::SelectorFile {
                location: at(),
                message: "x".into(),
            },
            Error::ContractBreakingChange {
                location: at(),
                node: "x".into(),
                changes: "x".into(),
            },
        ];
        for e in &all {
            match e {
                Error::Io { .. }
                | Error::ProjectNotFound { .. }
                | Error::Yaml { .. }
                | Error::Profile { .. }
                | Error::UnknownTarget { .. }
                | Error::ConflictingSourceConnection { .. }
                | Error::UnknownRef { .. }
                | Error::UnknownSource { .. }
                | Error::Cycle { .. }
                | Error::Jinja { .. }
                | Error::EnvVarMissing { .. }
                | Error::InvalidSelector { .. }
                | Error::InvalidVars { .. }
                | Error::UnsupportedAdapter { .. }
                | Error::DuplicateNode { .. }
                | Error::InvalidConfig { .. }
                | Error::RaggedCsv { .. }
                | Error::Csv { .. }
                | Error::IdentifierTooLong { .. }
                | Error::Routing { .. }
                | Error::UnknownTest { .. }
                | Error::InvalidCompute { .. }
                | Error::InvalidBucket { .. }
                | Error::UnknownCompute { .. }
                | Error::UnknownBucket { .. }
                | Error::BucketNotShared { .. }
                | Error::InvalidPackages { .. }
                | Error::PackageHubUnreachable { .. }
                | Error::PackageNetworkUnreachable { .. }
                | Error::PackageInstall { .. }
                | Error::PackageCycle { .. }
                | Error::AmbiguousRef { .. }
                | Error::DuplicatePackage { .. }
                | Error::PackagesNotInstalled { .. }
                | Error::UnknownFunction { .. }
                | Error::UnknownMacro { .. }
                | Error::NothingToRetry { .. }
                | Error::RestrictedRef { .. }
                | Error::SelectorFile { .. }
                | Error::ContractBreakingChange { .. } => {}
            }
        }
        all
    }

    #[test]
    fn every_core_error_code_is_a_registered_error() {
        let mut seen = std::collections::BTreeSet::new();
        for e in every_core_error() {
            let doc = e.doc();
            assert_eq!(doc.code, e.code());
            assert_eq!(doc.kind, CodeKind::Error, "{e:?}");
            assert!(seen.insert(e.code()), "two variants share `{}`", e.code());
        }
    }

    /// Source files of the workspace (`.rs` under each crate's `src` and `tests`).
    fn workspace_sources() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut out = Vec::new();
        let mut stack: Vec<PathBuf> = ["core", "executor", "scheduler", "cli", "tests"]
            .iter()
            .flat_map(|c| [root.join(c).join("src"), root.join(c).join("tests")])
            .collect();
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }

    /// `"DVTnnn` literals in `text`, as `DVTnnn`.
    fn code_literals(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find("\"DVT") {
            let code = rest.get(i + 1..i + 7).unwrap_or_default();
            if code.len() == 6 && code[3..].bytes().all(|b| b.is_ascii_digit()) {
                out.push(code);
            }
            rest = &rest[i + 4..];
        }
        out
    }

    #[test]
    fn every_code_literal_in_the_workspace_is_registered() {
        let files = workspace_sources();
        assert!(
            files.iter().any(|f| f.ends_with("core/src/codes.rs")),
            "the walk found the sources"
        );
        let mut missing = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            for code in code_literals(&text) {
                if lookup(code).is_none() {
                    missing.push(format!("{code} in {}", f.display()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "codes used but not in core/src/codes.rs `CODES`:\n{}",
            missing.join("\n")
        );
        assert_eq!(
            code_literals("x \"DVT001\" \"DVT_X\" \"DVT12\""),
            ["DVT001"]
        );
    }

    #[test]
    fn docs_errors_md_matches_the_registry() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/errors.md");
        let want = markdown();
        if std::env::var("DVT_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
            std::fs::write(&path, &want).expect("write docs/errors.md");
            return;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/errors.md is out of date with core/src/codes.rs; run\n  DVT_UPDATE_GOLDEN=1 cargo test -p dvt-core docs_errors_md_matches_the_registry\nand review the diff"
        );
    }
}
