//! Errors of project loading, parsing and compilation, each with a stable `DVTnnn` code.
//!
//! Every variant that comes from a file carries the file (relative to the project
//! folder where possible) and the line when one is known. Codes are registered in
//! [`crate::codes`] (which renders `docs/errors.md`); tooling matches on them, so a
//! code never changes meaning.

use std::path::PathBuf;

/// A location in a project file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, relative to the project folder when it lies inside it.
    pub file: PathBuf,
    /// 1-based line, when known (u32 keeps every `Result` of this crate small).
    pub line: Option<u32>,
    /// 1-based column, when known.
    pub column: Option<u32>,
}

impl Location {
    /// A location without a line.
    pub fn file(file: impl Into<PathBuf>) -> Self {
        Location {
            file: file.into(),
            line: None,
            column: None,
        }
    }

    /// A location with a line.
    pub fn line(file: impl Into<PathBuf>, line: usize) -> Self {
        Location {
            file: file.into(),
            line: Some(small(line)),
            column: None,
        }
    }
}

/// A line or column number as stored in a [`Location`] (saturating).
pub fn small(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        Ok(())
    }
}

/// An error of dvt-core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// No `dbt_project.yml` (or `dvt_project.yml`) in the project folder.
    #[error("no `dbt_project.yml` found in `{dir}`")]
    ProjectNotFound {
        /// The folder searched.
        dir: PathBuf,
    },
    /// A YAML file does not parse, or does not have the expected shape.
    #[error("{location}: invalid YAML: {message}")]
    Yaml {
        /// Where.
        location: Location,
        /// What the parser said.
        message: String,
    },
    /// No `profiles.yml` could be found, or the profile is missing from it.
    #[error("{message}")]
    Profile {
        /// What is wrong, naming the file and profile.
        message: String,
    },
    /// A target name is not an output of the profile.
    #[error("{location}: unknown target `{name}`; the profile `{profile}` has: {known}")]
    UnknownTarget {
        /// Where the name was used (the CLI, a model, a source).
        location: Location,
        /// The unknown name.
        name: String,
        /// The profile.
        profile: String,
        /// The outputs it has, comma separated.
        known: String,
    },
    /// A source is declared twice with different connections.
    #[error(
        "{location}: source `{source_name}` is declared with connection `{first}` and again with `{second}`"
    )]
    ConflictingSourceConnection {
        /// The second declaration.
        location: Location,
        /// `source.table` or source name.
        source_name: String,
        /// Connection of the first declaration.
        first: String,
        /// Connection of the second declaration.
        second: String,
    },
    /// `ref()` names a model or seed that does not exist.
    #[error("{location}: `ref('{name}')` in `{node}` names no model or seed{hint}")]
    UnknownRef {
        /// Where the call is.
        location: Location,
        /// The node calling `ref`.
        node: String,
        /// The missing name.
        name: String,
        /// More about the name (e.g. that it is disabled), or empty.
        hint: String,
    },
    /// `source()` names a source table that does not exist.
    #[error(
        "{location}: `source('{source_name}', '{table}')` in `{node}` names no declared source table"
    )]
    UnknownSource {
        /// Where the call is.
        location: Location,
        /// The node calling `source`.
        node: String,
        /// Source name.
        source_name: String,
        /// Table name.
        table: String,
    },
    /// The DAG has a cycle.
    #[error("{location}: dependency cycle: {cycle}")]
    Cycle {
        /// A file on the cycle.
        location: Location,
        /// The cycle, as `a -> b -> a`.
        cycle: String,
    },
    /// A Jinja template does not parse or fails to render.
    #[error("{location}: jinja error: {message}")]
    Jinja {
        /// Where.
        location: Location,
        /// What minijinja said.
        message: String,
    },
    /// `env_var()` names an unset variable and gives no default.
    #[error("{location}: environment variable `{name}` is not set and `env_var()` has no default")]
    EnvVarMissing {
        /// Where.
        location: Location,
        /// The variable.
        name: String,
    },
    /// A selector given to `--select` or `--exclude` is not understood.
    #[error("invalid selector `{selector}`: {reason}")]
    InvalidSelector {
        /// The selector.
        selector: String,
        /// Why.
        reason: String,
    },
    /// `--vars` is not a YAML mapping.
    #[error("invalid `--vars`: {message}")]
    InvalidVars {
        /// What is wrong.
        message: String,
    },
    /// `type:` of a profile output is not supported.
    #[error(
        "{location}: output `{output}` has unsupported type `{adapter}`; supported: postgres, mysql, sqlite"
    )]
    UnsupportedAdapter {
        /// The profiles file.
        location: Location,
        /// The output.
        output: String,
        /// The type given.
        adapter: String,
    },
    /// Two nodes of the same kind share a name.
    #[error("{location}: {kind} `{name}` is defined twice (also in `{other}`)")]
    DuplicateNode {
        /// The second definition.
        location: Location,
        /// model, seed.
        kind: &'static str,
        /// The name.
        name: String,
        /// The first definition's file.
        other: PathBuf,
    },
    /// A `ref()` to a model its `access` keeps from the referring node: a `private` model
    /// outside its group, or a `private`/`protected` model of a package with
    /// `restrict-access: true` from outside the package.
    #[error("{location}: {message}")]
    RestrictedRef {
        /// Where the referring node is defined.
        location: Location,
        /// dbt's words: which node named which, and the group or package the model is
        /// kept to.
        message: String,
    },
    /// `selectors.yml` is malformed: a bad definition, an unknown key, a second default.
    #[error("{location}: invalid selector definition: {message}")]
    SelectorFile {
        /// Where in `selectors.yml`.
        location: Location,
        /// What is wrong.
        message: String,
    },
    /// `state:modified` found a breaking change to a versioned model's enforced contract.
    #[error(
        "{location}: breaking change to the enforced contract of versioned model `{node}` (compared with `--state`): {changes}; create a new version instead"
    )]
    ContractBreakingChange {
        /// The model's file.
        location: Location,
        /// The model's unique id.
        node: String,
        /// What broke.
        changes: String,
    },
    /// A config value is invalid (unknown materialization, wrong type).
    #[error("{location}: invalid config `{key}`: {message}")]
    InvalidConfig {
        /// Where the node is defined.
        location: Location,
        /// The config key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A seed CSV row has a different number of fields than the header.
    #[error(
        "{location}: ragged CSV row: expected {expected} fields as in the header, found {found}"
    )]
    RaggedCsv {
        /// File, line and column of the row.
        location: Location,
        /// Fields in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// A seed CSV file is malformed, or a value does not fit its `column_types`.
    #[error("{location}: invalid CSV: {message}")]
    Csv {
        /// File, line and column.
        location: Location,
        /// What is wrong.
        message: String,
    },
    /// A relation or schema name is longer than its target allows.
    #[error("{location}: {what} `{name}` is too long: {limit}")]
    IdentifierTooLong {
        /// Where the node is defined.
        location: Location,
        /// `relation name`, `schema name`.
        what: &'static str,
        /// The name.
        name: String,
        /// The length and the limit, e.g. `70 bytes; target `pg` (postgres) allows at
        /// most 63`.
        limit: String,
    },
    /// A data test names a generic test no macro defines.
    #[error(
        "{location}: unknown generic test `{name}`: no macro `{macro_name}` in the project, its packages or dbt's built-in tests"
    )]
    UnknownTest {
        /// The test's entry in its property file.
        location: Location,
        /// The test as written (`unique`, `dbt_utils.expression_is_true`).
        name: String,
        /// The macro it needs (`test_unique`).
        macro_name: String,
    },
    /// A compute of `computes.yml`, or the file's shape, is invalid.
    #[error("{location}: {message}")]
    InvalidCompute {
        /// The key or value at fault.
        location: Location,
        /// What is wrong, naming the compute or profile; never a rendered value.
        message: String,
    },
    /// A bucket of `buckets.yml`, or the file's shape, is invalid.
    #[error("{location}: {message}")]
    InvalidBucket {
        /// The key or value at fault.
        location: Location,
        /// What is wrong, naming the bucket or profile; never a rendered value.
        message: String,
    },
    /// A compute name is not defined for the active profile.
    #[error("{location}: unknown compute `{name}`; {defined}")]
    UnknownCompute {
        /// Where the name was used (`--compute`, a model, `target:` of `computes.yml`).
        location: Location,
        /// The unknown name.
        name: String,
        /// The computes that exist and where they come from.
        defined: String,
    },
    /// A bucket name is not defined for the active profile.
    #[error("{location}: unknown bucket `{name}`; {defined}")]
    UnknownBucket {
        /// Where the name was used (`--bucket`, a model, `target:` of `buckets.yml`).
        location: Location,
        /// The unknown name.
        name: String,
        /// The buckets that exist and where they come from.
        defined: String,
    },
    /// A Ballista compute is paired with a folder bucket not declared shared.
    #[error(
        "{}compute `{compute}` runs on a ballista cluster, whose executors cannot read bucket `{bucket}`, a folder on this machine; declare the bucket `shared: true` if every executor mounts it at the same path, or use an s3 bucket",
        located(.location.as_ref())
    )]
    BucketNotShared {
        /// Where the bucket is defined; `None` for the built-in `local` bucket.
        location: Option<Location>,
        /// The compute.
        compute: String,
        /// The bucket.
        bucket: String,
    },
    /// `packages.yml` or `dependencies.yml` is not a list of package entries DVT reads.
    #[error("{location}: invalid package entry: {message}")]
    InvalidPackages {
        /// The entry or key at fault.
        location: Location,
        /// What is wrong.
        message: String,
    },
    /// A package entry names the dbt package hub, which DVT cannot reach.
    #[error(
        "{location}: package `{package}` comes from the dbt package hub, which DVT cannot reach (there is no network access here); vendor the package and install it with `local:` (a folder), `git:` (a repository on disk) or `tarball:` (a file)"
    )]
    PackageHubUnreachable {
        /// The entry.
        location: Location,
        /// `owner/name` as written.
        package: String,
    },
    /// A package entry needs the network (an `http(s)://`, `ssh://` or `host:path` URL).
    #[error(
        "{location}: {kind} package `{url}` is on the network, which DVT cannot reach (no network or package hub is reachable here); use a repository or file on disk (a path or a `file://` URL)"
    )]
    PackageNetworkUnreachable {
        /// The entry.
        location: Location,
        /// `git`, `tarball` or `private`.
        kind: &'static str,
        /// The URL as written (rendered).
        url: String,
    },
    /// A package could not be installed (missing path, failed `git`, unreadable tarball).
    #[error("{location}: cannot install {package}: {message}")]
    PackageInstall {
        /// The entry.
        location: Location,
        /// The entry, described (`local package `../x``).
        package: String,
        /// What failed.
        message: String,
    },
    /// Packages depend on each other in a circle.
    #[error("{location}: packages depend on each other in a cycle: {cycle}")]
    PackageCycle {
        /// The entry that closes the cycle.
        location: Location,
        /// The cycle, as `a -> b -> a`.
        cycle: String,
    },
    /// An unqualified `ref()` matches nodes of several packages.
    #[error(
        "{location}: `ref('{name}')` in `{node}` is ambiguous: packages {packages} each have a node `{name}`; write `ref('<package>', '{name}')`"
    )]
    AmbiguousRef {
        /// Where the node is defined.
        location: Location,
        /// The node calling `ref`.
        node: String,
        /// The name.
        name: String,
        /// The packages, quoted and comma separated.
        packages: String,
    },
    /// Two packages (or a package and the root project) have the same name.
    #[error("{location}: package `{name}` {message}")]
    DuplicatePackage {
        /// The second package's `dbt_project.yml`, or its entry.
        location: Location,
        /// The name.
        name: String,
        /// What it clashes with.
        message: String,
    },
    /// `packages.yml` lists more packages than the install folder holds.
    #[error(
        "{location}: {specified} package(s) are specified but only {installed} are installed in `{install_path}`; run `dvt deps` to install them"
    )]
    PackagesNotInstalled {
        /// `packages.yml` or `dependencies.yml`.
        location: Location,
        /// Entries in the file.
        specified: usize,
        /// Packages found in the install folder.
        installed: usize,
        /// The install folder (`dbt_packages`).
        install_path: String,
    },
    /// `function()` names a user-defined function that does not exist.
    #[error("{location}: `function('{name}')` in `{node}` {problem}")]
    UnknownFunction {
        /// Where the call is.
        location: Location,
        /// The node calling `function`.
        node: String,
        /// The name as called.
        name: String,
        /// Why it resolves to no function: none has the name (and maybe why), or
        /// several packages have one.
        problem: String,
    },
    /// `dvt retry` has no previous run to repeat.
    #[error("nothing to retry: {why}")]
    NothingToRetry {
        /// Why.
        why: String,
    },
    /// `dvt run-operation` names a macro that does not exist.
    #[error("no macro `{name}` to run{hint}")]
    UnknownMacro {
        /// The name given.
        name: String,
        /// What might be meant.
        hint: String,
    },
    /// A model, test or snapshot breaks a routing rule (e.g. nested ephemerals too deep).
    #[error("{location}: {message}")]
    Routing {
        /// Where the node is defined.
        location: Location,
        /// Which rule.
        message: String,
    },
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { .. } => "DVT100",
            Error::ProjectNotFound { .. } => "DVT101",
            Error::Yaml { .. } => "DVT102",
            Error::Profile { .. } => "DVT103",
            Error::UnknownTarget { .. } => "DVT104",
            Error::ConflictingSourceConnection { .. } => "DVT105",
            Error::UnknownRef { .. } => "DVT106",
            Error::UnknownSource { .. } => "DVT107",
            Error::Cycle { .. } => "DVT108",
            Error::Jinja { .. } => "DVT109",
            Error::EnvVarMissing { .. } => "DVT110",
            Error::InvalidSelector { .. } => "DVT111",
            Error::InvalidVars { .. } => "DVT112",
            Error::UnsupportedAdapter { .. } => "DVT113",
            Error::DuplicateNode { .. } => "DVT114",
            Error::InvalidConfig { .. } => "DVT115",
            Error::Routing { .. } => "DVT116",
            Error::IdentifierTooLong { .. } => "DVT117",
            Error::UnknownTest { .. } => "DVT118",
            Error::InvalidCompute { .. } => "DVT120",
            Error::InvalidBucket { .. } => "DVT121",
            Error::UnknownCompute { .. } => "DVT122",
            Error::UnknownBucket { .. } => "DVT123",
            Error::BucketNotShared { .. } => "DVT124",
            Error::InvalidPackages { .. } => "DVT125",
            Error::PackageHubUnreachable { .. } => "DVT126",
            Error::PackageNetworkUnreachable { .. } => "DVT127",
            Error::PackageInstall { .. } => "DVT128",
            Error::PackageCycle { .. } => "DVT129",
            Error::AmbiguousRef { .. } => "DVT130",
            Error::DuplicatePackage { .. } => "DVT131",
            Error::PackagesNotInstalled { .. } => "DVT132",
            Error::UnknownFunction { .. } => "DVT133",
            Error::UnknownMacro { .. } => "DVT134",
            Error::NothingToRetry { .. } => "DVT135",
            Error::RestrictedRef { .. } => "DVT136",
            Error::SelectorFile { .. } => "DVT137",
            Error::ContractBreakingChange { .. } => "DVT138",
            Error::RaggedCsv { .. } => "DVT200",
            Error::Csv { .. } => "DVT201",
        }
    }

    /// The registry entry of [`Error::code`] (tests check every variant has one).
    pub fn doc(&self) -> &'static crate::codes::CodeDoc {
        crate::codes::lookup(self.code()).expect("every error code is in `codes::CODES`")
    }
}

/// `file:line:col: ` before a message, or nothing without a location.
fn located(location: Option<&Location>) -> String {
    location.map(|l| format!("{l}: ")).unwrap_or_default()
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Reads a file to a string, naming the path on failure.
pub fn read_to_string(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
