//! `computes.yml` and `buckets.yml`: the engines that run federated models and the
//! buckets their inputs are staged in.
//!
//! Both files sit in the folder `profiles.yml` was found in
//! ([`ProfileLookup::find`](crate::profile::ProfileLookup::find)) and are keyed by
//! profile name, in the original DVT's shape:
//!
//! ```yaml
//! my_profile:
//!   target: local              # the default; `local` when omitted
//!   computes:
//!     local: {type: local, threads: 4, memory_limit: 4GiB, spill_dir: .dvt/spill}
//!     cluster: {type: ballista, scheduler: "df://127.0.0.1:50050"}
//! ```
//!
//! `buckets.yml` has the same shape with `buckets:` (`filesystem`, `s3`, `gcs`,
//! `azure`).
//!
//! A missing file, an empty one, and one without an entry for the active profile all
//! mean the same: only the built-ins exist, the `local` compute (in-process DataFusion
//! with its defaults) and the `local` bucket (the folder `.dvt/staging` of the
//! project). The built-ins stay defined next to a file's own entries, so
//! `--compute local` always works, unless the file defines its own `local`, which
//! replaces the built-in.
//!
//! Reading is strict: an unknown key, a missing one, an unknown `type` or a `target:`
//! naming nothing defined is an error at its line, never a silent fallback. Values
//! may use `{{ env_var('X') }}`; an empty or null value of an optional key leaves it
//! unset, so `region: "{{ env_var('AWS_REGION', '') }}"` defers to the environment.
//! Credentials are held in [`Secret`](crate::secret::Secret)s, and error messages
//! show a rendered value's template, never what it rendered to.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Location, Result};
use crate::jinja;
use crate::profile::Profile;
use crate::secret::Secret;
use crate::yaml::{self, Yaml, YamlValue};

/// The file of named computes, next to `profiles.yml`.
pub const COMPUTES_FILE: &str = "computes.yml";

/// The file of named staging buckets, next to `profiles.yml`.
pub const BUCKETS_FILE: &str = "buckets.yml";

/// The name of the built-in compute and of the built-in bucket.
pub const BUILTIN: &str = "local";

/// The built-in bucket's folder, relative to the project.
pub const DEFAULT_STAGING_DIR: &str = ".dvt/staging";

/// One named compute: the engine a federated model runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputeConfig {
    /// The name under `computes:` (`local` for the built-in).
    pub name: String,
    /// What the engine is.
    pub kind: ComputeKind,
    /// Where it is defined; `None` for the built-in.
    pub location: Option<Location>,
}

/// The engine of a compute (`type:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComputeKind {
    /// `type: local`: DataFusion in the `dvt` process. Unset values take the engine's
    /// defaults.
    Local {
        /// `threads`: target partitions; at least 1.
        threads: Option<usize>,
        /// `memory_limit` in bytes (`4GiB`, `512MiB`, `2GB`, `1073741824`); at least 1.
        memory_limit: Option<u64>,
        /// `spill_dir`, absolute (resolved against the project folder when relative).
        spill_dir: Option<PathBuf>,
    },
    /// `type: ballista`: a Ballista cluster.
    Ballista {
        /// `scheduler`, as written: `df://host:port`.
        scheduler: String,
    },
}

impl ComputeKind {
    /// The `type:` that selects this kind.
    pub fn type_name(&self) -> &'static str {
        match self {
            ComputeKind::Local { .. } => "local",
            ComputeKind::Ballista { .. } => "ballista",
        }
    }
}

impl ComputeConfig {
    /// The built-in `local` compute: in-process, every setting at its default.
    pub fn builtin() -> Self {
        ComputeConfig {
            name: BUILTIN.to_owned(),
            kind: ComputeKind::Local {
                threads: None,
                memory_limit: None,
                spill_dir: None,
            },
            location: None,
        }
    }
}

/// One named staging bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketConfig {
    /// The name under `buckets:` (`local` for the built-in).
    pub name: String,
    /// Whether every executor of a cluster reaches the same data: `shared:` for a
    /// `filesystem` bucket (default false), always true for an object store.
    pub shared: bool,
    /// Where the data lives.
    pub kind: BucketKind,
    /// Where it is defined; `None` for the built-in.
    pub location: Option<Location>,
}

/// The store of a bucket (`type:`). Names follow `object_store`'s configuration keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketKind {
    /// `type: filesystem`: a folder.
    Filesystem {
        /// `path`, absolute (resolved against the project folder when relative);
        /// default `.dvt/staging`.
        path: PathBuf,
    },
    /// `type: s3`: Amazon S3 or an S3-compatible server (MinIO, Ceph, R2).
    S3 {
        /// `bucket`: the bucket's name, without `s3://`.
        bucket: String,
        /// `prefix`: the folder inside the bucket, without leading or trailing `/`;
        /// empty for the bucket's root.
        prefix: String,
        /// `endpoint`: `http(s)://host[:port]` of an S3-compatible server; `None` for AWS.
        endpoint: Option<String>,
        /// `region`; `None` leaves it to the environment.
        region: Option<String>,
        /// `access_key_id`; `None` takes credentials from the environment
        /// (`AWS_*` variables, instance or pod identity).
        access_key_id: Option<Secret>,
        /// `secret_access_key`; set exactly when `access_key_id` is.
        secret_access_key: Option<Secret>,
        /// `session_token` of temporary credentials; only with `access_key_id`.
        session_token: Option<Secret>,
        /// `allow_http`: whether plain HTTP is allowed; default true exactly when
        /// `endpoint` starts with `http://`.
        allow_http: bool,
        /// `path_style`: `endpoint/bucket/key` rather than `bucket.endpoint/key`;
        /// default true when an endpoint is set (S3-compatible servers rarely serve
        /// bucket subdomains), false for AWS.
        path_style: bool,
    },
    /// `type: gcs`: Google Cloud Storage.
    Gcs {
        /// `bucket`: the bucket's name, without `gs://`.
        bucket: String,
        /// `prefix`, as for S3.
        prefix: String,
        /// `service_account_path`: a service-account JSON file, absolute (resolved
        /// against the project folder when relative).
        service_account_path: Option<PathBuf>,
        /// `service_account_key`: the service-account JSON itself. At most one of the
        /// two is set; neither takes credentials from the environment.
        service_account_key: Option<Secret>,
    },
    /// `type: azure`: Azure Blob Storage.
    Azure {
        /// `container`.
        container: String,
        /// `account`: the storage account.
        account: String,
        /// `prefix`, as for S3.
        prefix: String,
        /// `access_key` of the account; `None` takes credentials from the environment.
        access_key: Option<Secret>,
    },
}

impl BucketKind {
    /// The `type:` that selects this kind.
    pub fn type_name(&self) -> &'static str {
        match self {
            BucketKind::Filesystem { .. } => "filesystem",
            BucketKind::S3 { .. } => "s3",
            BucketKind::Gcs { .. } => "gcs",
            BucketKind::Azure { .. } => "azure",
        }
    }
}

impl BucketConfig {
    /// The built-in `local` bucket: the project's `.dvt/staging`, not shared.
    pub fn builtin(project_root: &Path) -> Self {
        BucketConfig {
            name: BUILTIN.to_owned(),
            shared: false,
            kind: BucketKind::Filesystem {
                path: project_root.join(DEFAULT_STAGING_DIR),
            },
            location: None,
        }
    }
}

/// The computes of the active profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computes {
    /// The compute used when neither `--compute` nor a model's `compute:` names one:
    /// `target:` of the profile's entry, else `local`.
    pub default: String,
    /// Every compute, the built-in `local` included (unless the file replaces it).
    pub by_name: BTreeMap<String, ComputeConfig>,
    /// The profile.
    pub profile: String,
    /// The file the profile's entry came from; `None` when only the built-in exists.
    pub file: Option<PathBuf>,
}

impl Computes {
    /// Only the built-in `local` compute.
    pub fn builtin(profile: &str) -> Self {
        Computes {
            default: BUILTIN.to_owned(),
            by_name: BTreeMap::from([(BUILTIN.to_owned(), ComputeConfig::builtin())]),
            profile: profile.to_owned(),
            file: None,
        }
    }

    /// Reads `profile`'s entry of `computes.yml` in `dir` (the folder of
    /// `profiles.yml`). A missing file, or one without an entry for the profile, gives
    /// [`Computes::builtin`]. Relative `spill_dir`s resolve against `project_root`.
    pub fn load(dir: &Path, profile: &str, project_root: &Path) -> Result<Self> {
        let Some(loaded) = load_file(dir, profile, Kind::Compute, |name, fields| {
            parse_compute(name, fields, project_root)
        })?
        else {
            return Ok(Computes::builtin(profile));
        };
        let mut computes = Computes::builtin(profile);
        computes.by_name.extend(loaded.entries);
        computes.file = Some(loaded.file);
        if let Some((name, location)) = loaded.target {
            computes.resolve_at(Some(&name), location)?;
            computes.default = name;
        }
        Ok(computes)
    }

    /// The compute called `name`, or the default for `None`. An unknown name is
    /// DVT122 located at `--compute`: the only caller without a file position is
    /// the command line (a model's `compute:` goes through [`Computes::resolve_at`]).
    pub fn resolve(&self, name: Option<&str>) -> Result<&ComputeConfig> {
        self.resolve_at(name, Location::file("--compute"))
    }

    /// Like [`Computes::resolve`], with an unknown name located at `location`.
    pub fn resolve_at(&self, name: Option<&str>, location: Location) -> Result<&ComputeConfig> {
        let name = name.unwrap_or(&self.default);
        self.by_name.get(name).ok_or_else(|| Error::UnknownCompute {
            location,
            name: name.to_owned(),
            defined: defined(
                Kind::Compute,
                &self.profile,
                self.file.as_deref(),
                &self.by_name,
            ),
        })
    }
}

/// The staging buckets of the active profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    /// The bucket used when neither `--bucket` nor a model's `bucket:` names one:
    /// `target:` of the profile's entry, else `local`.
    pub default: String,
    /// Every bucket, the built-in `local` included (unless the file replaces it).
    pub by_name: BTreeMap<String, BucketConfig>,
    /// The profile.
    pub profile: String,
    /// The file the profile's entry came from; `None` when only the built-in exists.
    pub file: Option<PathBuf>,
}

impl Buckets {
    /// Only the built-in `local` bucket, in `project_root`'s `.dvt/staging`.
    pub fn builtin(profile: &str, project_root: &Path) -> Self {
        Buckets {
            default: BUILTIN.to_owned(),
            by_name: BTreeMap::from([(BUILTIN.to_owned(), BucketConfig::builtin(project_root))]),
            profile: profile.to_owned(),
            file: None,
        }
    }

    /// Reads `profile`'s entry of `buckets.yml` in `dir` (the folder of
    /// `profiles.yml`). A missing file, or one without an entry for the profile, gives
    /// [`Buckets::builtin`]. Relative paths resolve against `project_root`.
    pub fn load(dir: &Path, profile: &str, project_root: &Path) -> Result<Self> {
        let Some(loaded) = load_file(dir, profile, Kind::Bucket, |name, fields| {
            parse_bucket(name, fields, project_root)
        })?
        else {
            return Ok(Buckets::builtin(profile, project_root));
        };
        let mut buckets = Buckets::builtin(profile, project_root);
        buckets.by_name.extend(loaded.entries);
        buckets.file = Some(loaded.file);
        if let Some((name, location)) = loaded.target {
            buckets.resolve_at(Some(&name), location)?;
            buckets.default = name;
        }
        Ok(buckets)
    }

    /// The bucket called `name`, or the default for `None`. An unknown name is
    /// DVT123 located at `--bucket` (a model's `bucket:` goes through
    /// [`Buckets::resolve_at`]).
    pub fn resolve(&self, name: Option<&str>) -> Result<&BucketConfig> {
        self.resolve_at(name, Location::file("--bucket"))
    }

    /// Like [`Buckets::resolve`], with an unknown name located at `location`.
    pub fn resolve_at(&self, name: Option<&str>, location: Location) -> Result<&BucketConfig> {
        let name = name.unwrap_or(&self.default);
        self.by_name.get(name).ok_or_else(|| Error::UnknownBucket {
            location,
            name: name.to_owned(),
            defined: defined(
                Kind::Bucket,
                &self.profile,
                self.file.as_deref(),
                &self.by_name,
            ),
        })
    }
}

/// The computes and buckets of the active profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationConfig {
    /// `computes.yml`.
    pub computes: Computes,
    /// `buckets.yml`.
    pub buckets: Buckets,
}

impl FederationConfig {
    /// Reads both files from the folder `profile` was loaded from, for that profile.
    ///
    /// They live beside `profiles.yml` rather than in the project because they
    /// describe the same thing: where this user's (or this deployment's) data and
    /// machines are. A project runs unchanged on a laptop and on a cluster whose
    /// mounted profiles folder holds a Ballista compute and an S3 bucket.
    pub fn load(profile: &Profile, project_root: &Path) -> Result<Self> {
        let dir = profile.file.parent().unwrap_or(Path::new(""));
        Ok(FederationConfig {
            computes: Computes::load(dir, &profile.name, project_root)?,
            buckets: Buckets::load(dir, &profile.name, project_root)?,
        })
    }
}

/// Refuses to stage for a Ballista compute in a folder only this machine has: its
/// executors run elsewhere and would not find the parts (DVT124).
pub fn check_pairing(compute: &ComputeConfig, bucket: &BucketConfig) -> Result<()> {
    let cluster = matches!(compute.kind, ComputeKind::Ballista { .. });
    let folder = matches!(bucket.kind, BucketKind::Filesystem { .. });
    if cluster && folder && !bucket.shared {
        return Err(Error::BucketNotShared {
            location: bucket.location.clone(),
            compute: compute.name.clone(),
            bucket: bucket.name.clone(),
        });
    }
    Ok(())
}

/// Parses a byte size: a whole number of bytes, or a number (fractions allowed) and
/// a unit, decimal (`KB`, `MB`, `GB`, `TB`) or binary (`KiB`, `MiB`, `GiB`, `TiB`),
/// case-insensitive, optionally separated by spaces. Fractions of a byte are
/// dropped. `None` when the text is not a size or does not fit in 64 bits.
pub fn parse_byte_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let multiplier: u128 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "mb" => 1000u128.pow(2),
        "gb" => 1000u128.pow(3),
        "tb" => 1000u128.pow(4),
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return None,
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    // Both parts are digits only, at least one is not empty, and a number of bytes
    // without a unit has no fraction.
    if !digits_only(whole)
        || !digits_only(fraction)
        || (whole.is_empty() && fraction.is_empty())
        || (multiplier == 1 && number.contains('.'))
        || fraction.len() > 18
    {
        return None;
    }
    // `"".parse()` fails, and an empty part counts as zero (`.5MiB`).
    let parse = |digits: &str| -> Option<u128> {
        if digits.is_empty() {
            Some(0)
        } else {
            digits.parse().ok()
        }
    };
    let scale = 10u128.pow(u32::try_from(fraction.len()).ok()?);
    // At most 18 fraction digits times a 2^40 multiplier: no overflow.
    let fraction_bytes = parse(fraction)? * multiplier / scale;
    let bytes = parse(whole)?
        .checked_mul(multiplier)?
        .checked_add(fraction_bytes)?;
    u64::try_from(bytes).ok()
}

/// Why `url` is not a Ballista scheduler address `df://host:port`, if it is not.
fn check_scheduler_url(url: &str) -> std::result::Result<(), String> {
    const SHAPE: &str = "write it as `df://host:port`";
    let Some(rest) = url.strip_prefix("df://") else {
        return Err(format!("must start with `df://`; {SHAPE}"));
    };
    let (host_ok, port) = match rest.strip_prefix('[') {
        // An IPv6 address, `[::1]:50050`.
        Some(v6) => match v6.split_once(']') {
            Some((host, after)) => {
                let ipv6_char = |c: char| c.is_ascii_hexdigit() || c == ':';
                let ok = !host.is_empty() && host.chars().all(ipv6_char);
                (ok, after.strip_prefix(':'))
            }
            None => (false, None),
        },
        None => {
            let (host, port) = match rest.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            };
            let host_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
            (!host.is_empty() && host.chars().all(host_char), port)
        }
    };
    if !host_ok {
        return Err(format!("has no valid host; {SHAPE}"));
    }
    let Some(port) = port else {
        return Err(format!("has no port; {SHAPE}"));
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err(format!("has no valid port (1 to 65535); {SHAPE}")),
    }
}

/// Which of the two files is being read: the error variant and the words of messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Compute,
    Bucket,
}

impl Kind {
    fn file_name(self) -> &'static str {
        match self {
            Kind::Compute => COMPUTES_FILE,
            Kind::Bucket => BUCKETS_FILE,
        }
    }

    /// The profile entry's key holding the named entries.
    fn section(self) -> &'static str {
        match self {
            Kind::Compute => "computes",
            Kind::Bucket => "buckets",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Compute => "compute",
            Kind::Bucket => "bucket",
        }
    }

    fn invalid(self, location: Location, message: String) -> Error {
        match self {
            Kind::Compute => Error::InvalidCompute { location, message },
            Kind::Bucket => Error::InvalidBucket { location, message },
        }
    }
}

/// What an unknown-name error says exists.
fn defined<T>(
    kind: Kind,
    profile: &str,
    file: Option<&Path>,
    by_name: &BTreeMap<String, T>,
) -> String {
    let names = by_name
        .keys()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match file {
        Some(file) => format!(
            "the profile `{profile}` has: {names} (from `{}`)",
            file.display()
        ),
        None => format!(
            "the profile `{profile}` has no entry in a `{}` beside `profiles.yml`, so only the built-in {names} exists",
            kind.file_name()
        ),
    }
}

/// The active profile's entry of one file.
struct Loaded<T> {
    file: PathBuf,
    /// `target:`, rendered, and where it is written.
    target: Option<(String, Location)>,
    entries: BTreeMap<String, T>,
}

/// Reads `profile`'s entry of `kind`'s file in `dir`, building each named entry with
/// `parse_entry`. `None` when the file is missing or empty or has no such entry.
fn load_file<T>(
    dir: &Path,
    profile: &str,
    kind: Kind,
    mut parse_entry: impl FnMut(&str, &mut Fields<'_>) -> Result<T>,
) -> Result<Option<Loaded<T>>> {
    let file = dir.join(kind.file_name());
    // Reading rather than asking whether the file exists first: a file that exists
    // but cannot be read is an error, not a missing file.
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::Io { path: file, source }),
    };
    let doc = yaml::parse(&file, &text)?;
    match &doc.value {
        YamlValue::Null => return Ok(None),
        YamlValue::Map(_) => {}
        YamlValue::Scalar { .. } | YamlValue::Seq(_) => {
            return Err(kind.invalid(
                doc.location(&file),
                format!("`{}` must be a mapping of profile names", kind.file_name()),
            ));
        }
    }
    let Some((key, entry)) = doc.entry(profile) else {
        return Ok(None);
    };
    if !matches!(entry.value, YamlValue::Map(_)) {
        return Err(kind.invalid(
            entry.location(&file),
            format!(
                "profile `{profile}` must be a mapping: `{{target: <name>, {}: {{...}}}}`",
                kind.section()
            ),
        ));
    }
    let mut fields = Fields::new(entry, key, &file, kind, format!("profile `{profile}`"));
    let target = fields
        .scalar("target")?
        .map(|t| (t.text, t.node.location(&file)));
    let section = fields.take(kind.section());
    fields.finish()?;
    let mut entries = BTreeMap::new();
    if let Some(section) = section {
        let items = match &section.value {
            YamlValue::Map(items) => items.as_slice(),
            YamlValue::Null => &[],
            YamlValue::Scalar { .. } | YamlValue::Seq(_) => {
                return Err(kind.invalid(
                    section.location(&file),
                    format!(
                        "`{}` of profile `{profile}` must be a mapping of {} names",
                        kind.section(),
                        kind.noun()
                    ),
                ));
            }
        };
        for (key, value) in items {
            let name = key.key_text();
            if name.trim().is_empty() {
                return Err(kind.invalid(
                    key.location(&file),
                    format!("a {} name must not be empty", kind.noun()),
                ));
            }
            if !matches!(value.value, YamlValue::Map(_)) {
                return Err(kind.invalid(
                    value.location(&file),
                    format!("{} `{name}` must be a mapping with a `type`", kind.noun()),
                ));
            }
            let mut fields =
                Fields::new(value, key, &file, kind, format!("{} `{name}`", kind.noun()));
            let parsed = parse_entry(name, &mut fields)?;
            fields.finish()?;
            entries.insert(name.to_owned(), parsed);
        }
    }
    Ok(Some(Loaded {
        file,
        target,
        entries,
    }))
}

/// A scalar value, rendered.
struct Scalar<'a> {
    /// The text after `env_var()` rendering.
    text: String,
    node: &'a Yaml,
    /// Whether `text` came from a template: messages then show the template.
    rendered: bool,
}

impl Scalar<'_> {
    /// The value for a message: a rendered value could be a secret, so its template
    /// is shown instead.
    fn shown(&self) -> String {
        let written = self.node.as_str().unwrap_or_default();
        if self.rendered {
            format!("`{written}` (as rendered)")
        } else {
            format!("`{written}`")
        }
    }
}

/// The keys of one mapping being read. Each read marks its key as known, and
/// [`Fields::finish`] rejects the rest, so a misspelt key is an error at its line
/// and the message can list the keys that were expected.
struct Fields<'a> {
    node: &'a Yaml,
    /// The key naming the mapping: missing keys are reported there.
    key: &'a Yaml,
    file: &'a Path,
    kind: Kind,
    /// How messages name the mapping, e.g. compute `cluster`.
    what: String,
    known: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    fn new(node: &'a Yaml, key: &'a Yaml, file: &'a Path, kind: Kind, what: String) -> Self {
        Fields {
            node,
            key,
            file,
            kind,
            what,
            known: Vec::new(),
        }
    }

    fn error_at(&self, node: &Yaml, message: String) -> Error {
        self.kind.invalid(
            node.location(self.file),
            format!("{}: {message}", self.what),
        )
    }

    /// The node of `key`, marking the key known; `None` when absent or null.
    fn take(&mut self, key: &'static str) -> Option<&'a Yaml> {
        self.known.push(key);
        self.node.get(key).filter(|v| !v.is_null())
    }

    /// The rendered value of `key`; `None` when absent, null or empty.
    fn scalar(&mut self, key: &'static str) -> Result<Option<Scalar<'a>>> {
        let Some(node) = self.take(key) else {
            return Ok(None);
        };
        let YamlValue::Scalar { text, .. } = &node.value else {
            return Err(self.error_at(node, format!("`{key}` must be a single value")));
        };
        let templated = text.contains("{{") || text.contains("{%");
        let text = if templated {
            jinja::render_config_string(text, node.location(self.file))?
        } else {
            text.clone()
        };
        if text.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(Scalar {
            text,
            node,
            rendered: templated,
        }))
    }

    fn string(&mut self, key: &'static str) -> Result<Option<String>> {
        Ok(self.scalar(key)?.map(|s| s.text.trim().to_owned()))
    }

    fn required(&mut self, key: &'static str) -> Result<Scalar<'a>> {
        match self.scalar(key)? {
            Some(s) => Ok(s),
            None => Err(self.error_at(self.key, format!("needs `{key}`"))),
        }
    }

    fn secret(&mut self, key: &'static str) -> Result<Option<Secret>> {
        // Not trimmed: a credential is used exactly as written.
        Ok(self.scalar(key)?.map(|s| Secret::new(s.text)))
    }

    fn bool(&mut self, key: &'static str) -> Result<Option<(bool, &'a Yaml)>> {
        let Some(s) = self.scalar(key)? else {
            return Ok(None);
        };
        match s.text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Some((true, s.node))),
            "false" => Ok(Some((false, s.node))),
            _ => Err(self.error_at(
                s.node,
                format!("`{key}` must be `true` or `false`, got {}", s.shown()),
            )),
        }
    }

    /// A path, absolute: relative ones resolve against `root`.
    fn path(&mut self, key: &'static str, root: &Path) -> Result<Option<PathBuf>> {
        Ok(self.string(key)?.map(|p| {
            let p = PathBuf::from(p);
            if p.is_absolute() { p } else { root.join(p) }
        }))
    }

    /// `prefix`: a folder inside a bucket, without surrounding `/`.
    fn prefix(&mut self) -> Result<String> {
        let Some(s) = self.scalar("prefix")? else {
            return Ok(String::new());
        };
        let prefix = s.text.trim().trim_matches('/');
        let bad_segment = |seg: &str| seg.is_empty() || seg == "." || seg == "..";
        if !prefix.is_empty() && prefix.split('/').any(bad_segment) {
            return Err(self.error_at(
                s.node,
                format!(
                    "`prefix` must be a folder path such as `dvt/staging`, without `.`, `..` or empty segments, got {}",
                    s.shown()
                ),
            ));
        }
        Ok(prefix.to_owned())
    }

    /// A bucket or container name, written bare.
    fn bucket_name(&mut self, key: &'static str, scheme: &str) -> Result<String> {
        let s = self.required(key)?;
        let name = s.text.trim();
        if name.contains("://") || name.contains('/') || name.chars().any(char::is_whitespace) {
            return Err(self.error_at(
                s.node,
                format!(
                    "`{key}` is the name alone, without `{scheme}` or a folder (put the folder in `prefix`), got {}",
                    s.shown()
                ),
            ));
        }
        Ok(name.to_owned())
    }

    /// Rejects every key not read, at the key's position.
    fn finish(&self) -> Result<()> {
        for (key, _) in self.node.entries() {
            let name = key.key_text();
            if !self.known.contains(&name) {
                let expected = self
                    .known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(self.error_at(
                    key,
                    format!("unknown key `{name}`; expected one of {expected}"),
                ));
            }
        }
        Ok(())
    }
}

fn parse_compute(
    name: &str,
    fields: &mut Fields<'_>,
    project_root: &Path,
) -> Result<ComputeConfig> {
    let ty = fields.required("type")?;
    let kind = match ty.text.trim() {
        "local" => {
            let threads = match fields.scalar("threads")? {
                None => None,
                Some(s) => match s.text.trim().parse::<usize>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => {
                        return Err(fields.error_at(
                            s.node,
                            format!(
                                "`threads` must be a whole number of at least 1, got {}",
                                s.shown()
                            ),
                        ));
                    }
                },
            };
            let memory_limit = match fields.scalar("memory_limit")? {
                None => None,
                Some(s) => match parse_byte_size(&s.text) {
                    Some(n) if n > 0 => Some(n),
                    _ => {
                        return Err(fields.error_at(
                            s.node,
                            format!(
                                "`memory_limit` must be a size such as `4GiB`, `512MiB`, `2GB` or a number of bytes, got {}",
                                s.shown()
                            ),
                        ));
                    }
                },
            };
            ComputeKind::Local {
                threads,
                memory_limit,
                spill_dir: fields.path("spill_dir", project_root)?,
            }
        }
        "ballista" => {
            let s = fields.required("scheduler")?;
            let scheduler = s.text.trim().to_owned();
            if let Err(why) = check_scheduler_url(&scheduler) {
                return Err(
                    fields.error_at(s.node, format!("`scheduler` {why}, got {}", s.shown()))
                );
            }
            ComputeKind::Ballista { scheduler }
        }
        _ => {
            return Err(fields.error_at(
                ty.node,
                format!(
                    "unknown type {}; a compute is `local` or `ballista`",
                    ty.shown()
                ),
            ));
        }
    };
    Ok(ComputeConfig {
        name: name.to_owned(),
        kind,
        location: Some(fields.key.location(fields.file)),
    })
}

fn parse_bucket(name: &str, fields: &mut Fields<'_>, project_root: &Path) -> Result<BucketConfig> {
    let ty = fields.required("type")?;
    let shared = fields.bool("shared")?;
    let kind = match ty.text.trim() {
        "filesystem" => BucketKind::Filesystem {
            path: fields
                .path("path", project_root)?
                .unwrap_or_else(|| project_root.join(DEFAULT_STAGING_DIR)),
        },
        "s3" => parse_s3(fields)?,
        "gcs" => {
            let bucket = fields.bucket_name("bucket", "gs://")?;
            let prefix = fields.prefix()?;
            let service_account_path = fields.path("service_account_path", project_root)?;
            let service_account_key = fields.secret("service_account_key")?;
            if service_account_path.is_some() && service_account_key.is_some() {
                return Err(fields.error_at(
                    fields.key,
                    "sets both `service_account_path` and `service_account_key`; keep one".into(),
                ));
            }
            BucketKind::Gcs {
                bucket,
                prefix,
                service_account_path,
                service_account_key,
            }
        }
        "azure" => BucketKind::Azure {
            container: fields.bucket_name("container", "az://")?,
            account: fields.bucket_name("account", "https://")?,
            prefix: fields.prefix()?,
            access_key: fields.secret("access_key")?,
        },
        _ => {
            return Err(fields.error_at(
                ty.node,
                format!(
                    "unknown type {}; a bucket is `filesystem`, `s3`, `gcs` or `azure`",
                    ty.shown()
                ),
            ));
        }
    };
    let folder = matches!(kind, BucketKind::Filesystem { .. });
    let shared = match shared {
        Some((false, node)) if !folder => {
            return Err(fields.error_at(
                node,
                format!(
                    "`shared: false` does not apply to an object store (`{}`), which every executor reaches; remove it",
                    kind.type_name()
                ),
            ));
        }
        Some((value, _)) => value,
        None => !folder,
    };
    Ok(BucketConfig {
        name: name.to_owned(),
        shared,
        kind,
        location: Some(fields.key.location(fields.file)),
    })
}

fn parse_s3(fields: &mut Fields<'_>) -> Result<BucketKind> {
    let bucket = fields.bucket_name("bucket", "s3://")?;
    let prefix = fields.prefix()?;
    let endpoint = match fields.scalar("endpoint")? {
        None => None,
        Some(s) => {
            let url = s.text.trim().trim_end_matches('/').to_owned();
            let host = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            if host.is_none_or(|h| h.is_empty() || h.contains('/')) {
                return Err(fields.error_at(
                    s.node,
                    format!(
                        "`endpoint` must be `http://host[:port]` or `https://host[:port]`, got {}",
                        s.shown()
                    ),
                ));
            }
            Some(url)
        }
    };
    let region = fields.string("region")?;
    let access_key_id = fields.secret("access_key_id")?;
    let secret_access_key = fields.secret("secret_access_key")?;
    let session_token = fields.secret("session_token")?;
    let plain_http = endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("http://"));
    let allow_http = match fields.bool("allow_http")? {
        Some((false, node)) if plain_http => {
            return Err(fields.error_at(
                node,
                "`allow_http: false` contradicts an `http://` endpoint; use `https://` or remove `allow_http`".into(),
            ));
        }
        Some((value, _)) => value,
        None => plain_http,
    };
    let path_style = match fields.bool("path_style")? {
        Some((value, _)) => value,
        None => endpoint.is_some(),
    };
    let credentials = match (&access_key_id, &secret_access_key, &session_token) {
        (Some(_), None, _) => Some("sets `access_key_id` without `secret_access_key`"),
        (None, Some(_), _) => Some("sets `secret_access_key` without `access_key_id`"),
        (None, None, Some(_)) => {
            Some("sets `session_token` without `access_key_id` and `secret_access_key`")
        }
        _ => None,
    };
    if let Some(problem) = credentials {
        return Err(fields.error_at(
            fields.key,
            format!(
                "{problem}; set both keys, or neither to take credentials from the environment"
            ),
        ));
    }
    Ok(BucketKind::S3 {
        bucket,
        prefix,
        endpoint,
        region,
        access_key_id,
        secret_access_key,
        session_token,
        allow_http,
        path_style,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder holding `profiles.yml`'s neighbours, and a separate project folder.
    struct Dirs {
        profiles: tempfile::TempDir,
        project: tempfile::TempDir,
    }

    fn dirs(computes: Option<&str>, buckets: Option<&str>) -> Dirs {
        let d = Dirs {
            profiles: tempfile::tempdir().unwrap(),
            project: tempfile::tempdir().unwrap(),
        };
        if let Some(text) = computes {
            std::fs::write(d.profiles.path().join(COMPUTES_FILE), text).unwrap();
        }
        if let Some(text) = buckets {
            std::fs::write(d.profiles.path().join(BUCKETS_FILE), text).unwrap();
        }
        d
    }

    fn computes(text: &str) -> (Dirs, Result<Computes>) {
        let d = dirs(Some(text), None);
        let c = Computes::load(d.profiles.path(), "p", d.project.path());
        (d, c)
    }

    fn buckets(text: &str) -> (Dirs, Result<Buckets>) {
        let d = dirs(None, Some(text));
        let b = Buckets::load(d.profiles.path(), "p", d.project.path());
        (d, b)
    }

    /// Code, line, column and message of a located error.
    fn at(err: &Error) -> (&'static str, Option<u32>, Option<u32>, String) {
        let location = match err {
            Error::InvalidCompute { location, .. }
            | Error::InvalidBucket { location, .. }
            | Error::UnknownCompute { location, .. }
            | Error::UnknownBucket { location, .. }
            | Error::EnvVarMissing { location, .. }
            | Error::Jinja { location, .. }
            | Error::Yaml { location, .. } => location,
            other => panic!("no location: {other}"),
        };
        (err.code(), location.line, location.column, err.to_string())
    }

    fn s3(b: &BucketConfig) -> (&str, &str, Option<&str>, Option<&str>, bool, bool) {
        let BucketKind::S3 {
            bucket,
            prefix,
            endpoint,
            region,
            allow_http,
            path_style,
            ..
        } = &b.kind
        else {
            panic!("s3 expected: {b:?}")
        };
        (
            bucket,
            prefix,
            endpoint.as_deref(),
            region.as_deref(),
            *allow_http,
            *path_style,
        )
    }

    fn s3_keys(b: &BucketConfig) -> [Option<&str>; 3] {
        let BucketKind::S3 {
            access_key_id,
            secret_access_key,
            session_token,
            ..
        } = &b.kind
        else {
            panic!("s3 expected: {b:?}")
        };
        [access_key_id, secret_access_key, session_token].map(|s| s.as_ref().map(Secret::expose))
    }

    #[test]
    fn the_issue_examples_parse() {
        let (d, c) = computes(
            "my_profile: {target: local, computes: {local: {type: local, threads: 4, memory_limit: 4GiB, spill_dir: .dvt/spill}, cluster: {type: ballista, scheduler: \"df://127.0.0.1:50050\"}}}\n",
        );
        // The example's profile is `my_profile`; `p` has no entry.
        assert_eq!(c.unwrap(), Computes::builtin("p"));
        let c = Computes::load(d.profiles.path(), "my_profile", d.project.path()).unwrap();
        assert_eq!(c.default, "local");
        assert_eq!(c.file, Some(d.profiles.path().join(COMPUTES_FILE)));
        assert_eq!(c.by_name.keys().collect::<Vec<_>>(), ["cluster", "local"]);
        let local = c.resolve(None).unwrap();
        assert_eq!(
            local.kind,
            ComputeKind::Local {
                threads: Some(4),
                memory_limit: Some(4 << 30),
                spill_dir: Some(d.project.path().join(".dvt/spill")),
            }
        );
        assert_eq!(local.location.as_ref().unwrap().line, Some(1));
        let cluster = c.resolve(Some("cluster")).unwrap();
        assert_eq!(
            cluster.kind,
            ComputeKind::Ballista {
                scheduler: "df://127.0.0.1:50050".into()
            }
        );
        assert_eq!(cluster.kind.type_name(), "ballista");

        let (d, b) = buckets(
            "p:\n  target: lake\n  buckets:\n    scratch: {type: filesystem, path: /mnt/shared/dvt, shared: true}\n    lake:\n      type: s3\n      bucket: dvt-staging\n      prefix: /runs/dev/\n      endpoint: http://127.0.0.1:9000/\n      region: us-east-1\n      access_key_id: minio\n      secret_access_key: minio123\n    gcs: {type: gcs, bucket: g, service_account_path: keys/sa.json}\n    az: {type: azure, container: c, account: acct, prefix: x, access_key: k}\n",
        );
        let b = b.unwrap();
        assert_eq!(b.default, "lake");
        assert_eq!(
            b.by_name.keys().collect::<Vec<_>>(),
            ["az", "gcs", "lake", "local", "scratch"]
        );
        let lake = b.resolve(None).unwrap();
        assert!(lake.shared);
        assert_eq!(
            s3(lake),
            (
                "dvt-staging",
                "runs/dev",
                Some("http://127.0.0.1:9000"),
                Some("us-east-1"),
                true,
                true
            )
        );
        assert_eq!(s3_keys(lake), [Some("minio"), Some("minio123"), None]);
        let scratch = b.resolve(Some("scratch")).unwrap();
        assert_eq!(
            (scratch.shared, &scratch.kind),
            (
                true,
                &BucketKind::Filesystem {
                    path: "/mnt/shared/dvt".into()
                }
            )
        );
        assert_eq!(
            b.resolve(Some("gcs")).unwrap().kind,
            BucketKind::Gcs {
                bucket: "g".into(),
                prefix: String::new(),
                service_account_path: Some(d.project.path().join("keys/sa.json")),
                service_account_key: None,
            }
        );
        let az = b.resolve(Some("az")).unwrap();
        assert_eq!(
            (az.shared, &az.kind),
            (
                true,
                &BucketKind::Azure {
                    container: "c".into(),
                    account: "acct".into(),
                    prefix: "x".into(),
                    access_key: Some(Secret::new("k")),
                }
            )
        );
    }

    #[test]
    fn missing_files_give_the_builtins() {
        let d = dirs(None, None);
        let c = Computes::load(d.profiles.path(), "p", d.project.path()).unwrap();
        assert_eq!(c, Computes::builtin("p"));
        assert_eq!(c.resolve(None).unwrap(), &ComputeConfig::builtin());
        let b = Buckets::load(d.profiles.path(), "p", d.project.path()).unwrap();
        let local = b.resolve(None).unwrap();
        assert_eq!(local.name, "local");
        assert!(!local.shared);
        assert_eq!(
            local.kind,
            BucketKind::Filesystem {
                path: d.project.path().join(".dvt/staging")
            }
        );
        // Unknown names say what exists and why; the command line is the location.
        let err = c.resolve(Some("cluster")).unwrap_err();
        let (code, line, _, message) = at(&err);
        assert_eq!((code, line), ("DVT122", None));
        assert!(
            message.starts_with("--compute: unknown compute `cluster`; the profile `p` has no entry in a `computes.yml`"),
            "{message}"
        );
        let err = b
            .resolve_at(Some("lake"), Location::line("models/m.sql", 3))
            .unwrap_err();
        assert_eq!(at(&err).0, "DVT123");
        assert!(
            at(&err)
                .3
                .starts_with("models/m.sql:3: unknown bucket `lake`")
        );
    }

    #[test]
    fn a_profile_without_an_entry_is_like_a_missing_file() {
        for text in [
            "",
            "# nothing yet\n",
            "other:\n  computes:\n    c: {type: ballista, scheduler: 'df://h:1'}\n",
            // Another profile's mistakes are not this profile's business.
            "other:\n  computes:\n    c: {type: spark}\n",
        ] {
            let (_d, c) = computes(text);
            assert_eq!(c.unwrap(), Computes::builtin("p"), "{text:?}");
            let (d, b) = buckets(&text.replace("computes", "buckets"));
            assert_eq!(
                b.unwrap(),
                Buckets::builtin("p", d.project.path()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn builtins_stay_beside_the_files_entries_unless_replaced() {
        let (_d, c) = computes(
            "p:\n  target: c\n  computes:\n    c: {type: ballista, scheduler: 'df://h:1'}\n",
        );
        let c = c.unwrap();
        assert_eq!(c.resolve(None).unwrap().name, "c");
        assert_eq!(c.resolve(Some("local")).unwrap(), &ComputeConfig::builtin());
        // Without `target:` the default is `local`, here the file's own.
        let (_d, c) = computes("p:\n  computes:\n    local: {type: local, threads: 2}\n");
        let c = c.unwrap();
        assert_eq!(c.default, "local");
        assert_eq!(c.by_name.len(), 1);
        assert!(matches!(
            c.resolve(None).unwrap().kind,
            ComputeKind::Local {
                threads: Some(2),
                ..
            }
        ));
        // `computes:` may be absent or empty: only `target:` is then meaningful.
        let (_d, c) = computes("p:\n  target: local\n  computes:\n");
        assert_eq!(c.unwrap().by_name.len(), 1);
    }

    #[test]
    fn values_render_env_var() {
        let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it for tests");
        let (_d, c) = computes(
            "p:\n  target: \"{{ env_var('DVT_TEST_SURELY_UNSET_C0DE', 'big') }}\"\n  computes:\n    big:\n      type: local\n      threads: \"{{ env_var('DVT_TEST_SURELY_UNSET_C0DE', '8') }}\"\n      spill_dir: \"{{ env_var('CARGO_MANIFEST_DIR') }}/spill\"\n",
        );
        let c = c.unwrap();
        assert_eq!(c.default, "big");
        assert_eq!(
            c.resolve(None).unwrap().kind,
            ComputeKind::Local {
                threads: Some(8),
                memory_limit: None,
                spill_dir: Some(Path::new(&manifest_dir).join("spill")),
            }
        );
        // An empty rendering leaves an optional key unset.
        let (_d, b) = buckets(
            "p:\n  buckets:\n    s:\n      type: s3\n      bucket: b\n      region: \"{{ env_var('DVT_TEST_SURELY_UNSET_C0DE', '') }}\"\n      access_key_id: \"{{ env_var('DVT_TEST_SURELY_UNSET_C0DE', '') }}\"\n",
        );
        let b = b.unwrap();
        let s = b.resolve(Some("s")).unwrap();
        assert_eq!(s3(s).3, None);
        assert_eq!(s3_keys(s), [None, None, None]);
        // A missing variable without a default is DVT110 at its scalar.
        let (_d, err) = buckets(
            "p:\n  buckets:\n    s:\n      type: s3\n      bucket: b\n      secret_access_key: \"{{ env_var('DVT_TEST_SURELY_UNSET_C0DE') }}\"\n",
        );
        let (code, line, column, _) = at(&err.unwrap_err());
        assert_eq!((code, line, column), ("DVT110", Some(6), Some(26)));
    }

    #[test]
    fn secrets_never_print() {
        let secret = "wJalrXUtnFEMI-K7MDENG";
        let text = format!(
            "p:\n  buckets:\n    s:\n      type: s3\n      bucket: b\n      access_key_id: \"{{{{ env_var('DVT_TEST_SURELY_UNSET_C0DE', 'AKIA-{secret}') }}}}\"\n      secret_access_key: \"{{{{ env_var('DVT_TEST_SURELY_UNSET_C0DE', '{secret}') }}}}\"\n      session_token: {secret}-token\n    g: {{type: gcs, bucket: g, service_account_key: '{{\"private_key\": \"{secret}\"}}'}}\n    a: {{type: azure, container: c, account: a, access_key: {secret}}}\n"
        );
        let (_d, b) = buckets(&text);
        let b = b.unwrap();
        assert_eq!(
            s3_keys(b.resolve(Some("s")).unwrap()),
            [
                Some(format!("AKIA-{secret}").as_str()),
                Some(secret),
                Some(format!("{secret}-token").as_str())
            ]
        );
        let debug = format!("{b:?}");
        assert!(!debug.contains(secret), "{debug}");
        assert!(debug.contains("Secret(***)"), "{debug}");
        // Errors in a bucket holding secrets name keys, never values.
        for broken in [
            text.replace("session_token:", "session_tokn:"),
            text.replace("      access_key_id:", "      #"),
            text.replace("bucket: b", "bucket: [b]"),
            text.replace("type: azure,", "type: azure, shared: false,"),
            text.replace(
                "service_account_key:",
                "service_account_path: x, service_account_key:",
            ),
        ] {
            let (_d, err) = buckets(&broken);
            let err = err.unwrap_err();
            assert_eq!(err.code(), "DVT121", "{err}");
            for shown in [err.to_string(), format!("{err:?}")] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
    }

    #[test]
    fn byte_sizes() {
        for (text, bytes) in [
            ("4GiB", 4 << 30),
            ("512MiB", 512 << 20),
            ("2GB", 2_000_000_000),
            ("1073741824", 1 << 30),
            ("1.5 gib", 3 << 29),
            ("0.5KB", 500),
            (" 10 kib ", 10_240),
            ("3tb", 3_000_000_000_000),
            ("7b", 7),
            ("16TiB", 16 << 40),
            (".5MiB", 1 << 19),
            ("18446744073709551615", u64::MAX),
        ] {
            assert_eq!(parse_byte_size(text), Some(bytes), "{text:?}");
        }
        for text in [
            "",
            "GiB",
            "4 gigs",
            "4G",
            "-1",
            "1.5",
            "1..5GiB",
            "4GiB4",
            "1e3",
            "18446744073709551616",
            "20000000TiB",
            ".",
        ] {
            assert_eq!(parse_byte_size(text), None, "{text:?}");
        }
    }

    #[test]
    fn scheduler_urls() {
        for url in [
            "df://127.0.0.1:50050",
            "df://scheduler.dvt.svc.cluster.local:50050",
            "df://[::1]:50050",
            "df://my_host:1",
        ] {
            assert_eq!(check_scheduler_url(url), Ok(()), "{url}");
        }
        for (url, why) in [
            ("http://h:50050", "must start with `df://`"),
            ("df://:50050", "has no valid host"),
            ("df://h", "has no port"),
            ("df://h:", "has no valid port"),
            ("df://h:0", "has no valid port"),
            ("df://h:65536", "has no valid port"),
            ("df://h:+80", "has no valid port"),
            ("df://h:50050/x", "has no valid port"),
            ("df://u@h:50050", "has no valid host"),
            ("df://[::1]", "has no port"),
            ("df://[zz]:1", "has no valid host"),
            ("df://[::1:1", "has no valid host"),
        ] {
            let err = check_scheduler_url(url).unwrap_err();
            assert!(err.starts_with(why), "{url}: {err}");
        }
    }

    #[test]
    fn every_compute_error_is_coded_and_located() {
        let base = "p:\n  target: c\n  computes:\n    c:\n      type: local\n      threads: 4\n";
        for (text, want) in [
            // The file's shape.
            (
                "- p\n".to_owned(),
                ("DVT120", 1, 1, "must be a mapping of profile names"),
            ),
            (
                "p: [c]\n".into(),
                ("DVT120", 1, 4, "profile `p` must be a mapping"),
            ),
            (
                "p:\n  computes: [c]\n".into(),
                ("DVT120", 2, 13, "must be a mapping of compute names"),
            ),
            (
                "p:\n  computs: {}\n".into(),
                (
                    "DVT120",
                    2,
                    3,
                    "profile `p`: unknown key `computs`; expected one of `target`, `computes`",
                ),
            ),
            (
                "p:\n  target: [a]\n".into(),
                ("DVT120", 2, 11, "`target` must be a single value"),
            ),
            (
                "p:\n  computes:\n    c: local\n".into(),
                (
                    "DVT120",
                    3,
                    8,
                    "compute `c` must be a mapping with a `type`",
                ),
            ),
            (
                "p:\n  computes:\n    '': {type: local}\n".into(),
                ("DVT120", 3, 5, "name must not be empty"),
            ),
            // One compute.
            (
                base.replace("      type: local\n", ""),
                ("DVT120", 4, 5, "compute `c`: needs `type`"),
            ),
            (
                base.replace("type: local", "type: spark"),
                (
                    "DVT120",
                    5,
                    13,
                    "unknown type `spark`; a compute is `local` or `ballista`",
                ),
            ),
            (
                base.replace("threads: 4", "threds: 4"),
                (
                    "DVT120",
                    6,
                    7,
                    "unknown key `threds`; expected one of `type`, `threads`, `memory_limit`, `spill_dir`",
                ),
            ),
            (
                base.replace("threads: 4", "scheduler: 'df://h:1'"),
                ("DVT120", 6, 7, "unknown key `scheduler`"),
            ),
            (
                base.replace("threads: 4", "threads: 0"),
                (
                    "DVT120",
                    6,
                    16,
                    "`threads` must be a whole number of at least 1, got `0`",
                ),
            ),
            (
                base.replace("threads: 4", "threads: four"),
                ("DVT120", 6, 16, "got `four`"),
            ),
            (
                base.replace("threads: 4", "memory_limit: 4 gigs"),
                (
                    "DVT120",
                    6,
                    21,
                    "`memory_limit` must be a size such as `4GiB`",
                ),
            ),
            (
                base.replace("threads: 4", "memory_limit: 0GiB"),
                ("DVT120", 6, 21, "`memory_limit` must be a size"),
            ),
            (
                base.replace("threads: 4", "spill_dir: {a: b}"),
                ("DVT120", 6, 19, "`spill_dir` must be a single value"),
            ),
            (
                base.replace("type: local\n      threads: 4", "type: ballista"),
                ("DVT120", 4, 5, "compute `c`: needs `scheduler`"),
            ),
            (
                base.replace(
                    "type: local\n      threads: 4",
                    "type: ballista\n      scheduler: h:50050",
                ),
                (
                    "DVT120",
                    6,
                    18,
                    "`scheduler` must start with `df://`; write it as `df://host:port`, got `h:50050`",
                ),
            ),
            (
                base.replace(
                    "type: local\n      threads: 4",
                    "type: ballista\n      scheduler: 'df://h:1'\n      threads: 4",
                ),
                (
                    "DVT120",
                    7,
                    7,
                    "unknown key `threads`; expected one of `type`, `scheduler`",
                ),
            ),
            // The default.
            (
                base.replace("target: c", "target: cluster"),
                (
                    "DVT122",
                    2,
                    11,
                    "unknown compute `cluster`; the profile `p` has: `c`, `local` (from `",
                ),
            ),
            // Syntax stays the YAML parser's.
            (
                base.replace("threads: 4", "threads: [4"),
                ("DVT102", 7, 1, "invalid YAML"),
            ),
        ] {
            let (_d, err) = computes(&text);
            let err = err.unwrap_err();
            let (code, line, column, message) = at(&err);
            assert_eq!(
                (code, line, column),
                (want.0, Some(want.1), Some(want.2)),
                "{text:?}: {message}"
            );
            assert!(message.contains(want.3), "{text:?}: {message}");
        }
    }

    #[test]
    fn every_bucket_error_is_coded_and_located() {
        let base = "p:\n  target: s\n  buckets:\n    s:\n      type: s3\n      bucket: b\n";
        for (text, want) in [
            ("p:\n  buckets: x\n".to_owned(), ("DVT121", 2, 12, "must be a mapping of bucket names")),
            ("p:\n  computes: {}\n".into(), ("DVT121", 2, 3, "profile `p`: unknown key `computes`; expected one of `target`, `buckets`")),
            (base.replace("      type: s3\n", ""), ("DVT121", 4, 5, "bucket `s`: needs `type`")),
            (base.replace("type: s3", "type: hdfs"), ("DVT121", 5, 13, "unknown type `hdfs`; a bucket is `filesystem`, `s3`, `gcs` or `azure`")),
            (base.replace("      bucket: b\n", ""), ("DVT121", 4, 5, "bucket `s`: needs `bucket`")),
            (base.replace("bucket: b", "bucket: s3://b/dvt"), ("DVT121", 6, 15, "`bucket` is the name alone, without `s3://`")),
            (base.replace("bucket: b", "bucket: b\n      endpoint_url: http://h"), ("DVT121", 7, 7, "unknown key `endpoint_url`; expected one of `type`, `shared`, `bucket`, `prefix`, `endpoint`, `region`, `access_key_id`, `secret_access_key`, `session_token`, `allow_http`, `path_style`")),
            (base.replace("bucket: b", "bucket: b\n      endpoint: minio:9000"), ("DVT121", 7, 17, "`endpoint` must be `http://host[:port]` or `https://host[:port]`, got `minio:9000`")),
            (base.replace("bucket: b", "bucket: b\n      endpoint: http://h:9000\n      allow_http: false"), ("DVT121", 8, 19, "`allow_http: false` contradicts an `http://` endpoint")),
            (base.replace("bucket: b", "bucket: b\n      path_style: yes"), ("DVT121", 7, 19, "`path_style` must be `true` or `false`, got `yes`")),
            (base.replace("bucket: b", "bucket: b\n      prefix: a/../b"), ("DVT121", 7, 15, "`prefix` must be a folder path")),
            (base.replace("bucket: b", "bucket: b\n      access_key_id: k"), ("DVT121", 4, 5, "sets `access_key_id` without `secret_access_key`")),
            (base.replace("bucket: b", "bucket: b\n      secret_access_key: k"), ("DVT121", 4, 5, "sets `secret_access_key` without `access_key_id`")),
            (base.replace("bucket: b", "bucket: b\n      session_token: k"), ("DVT121", 4, 5, "sets `session_token` without")),
            (base.replace("bucket: b", "bucket: b\n      shared: false"), ("DVT121", 7, 15, "`shared: false` does not apply to an object store (`s3`)")),
            (base.replace("type: s3\n      bucket: b", "type: filesystem\n      bucket: b"), ("DVT121", 6, 7, "unknown key `bucket`; expected one of `type`, `shared`, `path`")),
            (base.replace("type: s3\n      bucket: b", "type: filesystem\n      shared: maybe"), ("DVT121", 6, 15, "`shared` must be `true` or `false`")),
            (base.replace("type: s3\n      bucket: b", "type: gcs\n      bucket: g\n      service_account_path: a.json\n      service_account_key: '{}'"), ("DVT121", 4, 5, "sets both `service_account_path` and `service_account_key`")),
            (base.replace("type: s3\n      bucket: b", "type: azure\n      container: c"), ("DVT121", 4, 5, "bucket `s`: needs `account`")),
            (base.replace("type: s3\n      bucket: b", "type: azure\n      container: c\n      account: a\n      bucket: b"), ("DVT121", 8, 7, "unknown key `bucket`; expected one of `type`, `shared`, `container`, `account`, `prefix`, `access_key`")),
            (base.replace("target: s", "target: lake"), ("DVT123", 2, 11, "unknown bucket `lake`; the profile `p` has: `local`, `s` (from `")),
        ] {
            let (_d, err) = buckets(&text);
            let err = err.unwrap_err();
            let (code, line, column, message) = at(&err);
            assert_eq!(
                (code, line, column),
                (want.0, Some(want.1), Some(want.2)),
                "{text:?}: {message}"
            );
            assert!(message.contains(want.3), "{text:?}: {message}");
        }
    }

    #[test]
    fn s3_defaults_follow_the_endpoint() {
        let (_d, b) = buckets(
            "p:\n  buckets:\n    aws: {type: s3, bucket: a}\n    minio: {type: s3, bucket: m, endpoint: 'http://minio:9000'}\n    r2: {type: s3, bucket: r, endpoint: 'https://acct.r2.cloudflarestorage.com', path_style: false}\n    vhost: {type: s3, bucket: v, allow_http: true, path_style: true}\n",
        );
        let b = b.unwrap();
        let get = |n: &str| s3(b.resolve(Some(n)).unwrap());
        assert_eq!(get("aws"), ("a", "", None, None, false, false));
        assert_eq!(
            get("minio"),
            ("m", "", Some("http://minio:9000"), None, true, true)
        );
        assert_eq!(
            get("r2"),
            (
                "r",
                "",
                Some("https://acct.r2.cloudflarestorage.com"),
                None,
                false,
                false
            )
        );
        assert_eq!(get("vhost"), ("v", "", None, None, true, true));
    }

    #[test]
    fn check_pairing_refuses_a_private_folder_for_ballista() {
        let (d, b) = buckets(
            "p:\n  buckets:\n    nfs: {type: filesystem, path: /mnt/dvt, shared: true}\n    tmp:\n      type: filesystem\n      path: /tmp/dvt\n    s3: {type: s3, bucket: b}\n",
        );
        let b = b.unwrap();
        let cluster = ComputeConfig {
            name: "cluster".into(),
            kind: ComputeKind::Ballista {
                scheduler: "df://h:50050".into(),
            },
            location: None,
        };
        let local = ComputeConfig::builtin();
        for name in ["local", "nfs", "tmp", "s3"] {
            let bucket = b.resolve(Some(name)).unwrap();
            assert!(check_pairing(&local, bucket).is_ok(), "{name}");
            let paired = check_pairing(&cluster, bucket);
            assert_eq!(paired.is_ok(), matches!(name, "nfs" | "s3"), "{name}");
        }
        let err = check_pairing(&cluster, b.resolve(Some("tmp")).unwrap()).unwrap_err();
        assert_eq!(err.code(), "DVT124");
        let message = err.to_string();
        let file = d.profiles.path().join(BUCKETS_FILE);
        assert!(
            message.starts_with(&format!(
                "{}:4:5: compute `cluster` runs on a ballista cluster, whose executors cannot read bucket `tmp`",
                file.display()
            )),
            "{message}"
        );
        assert!(
            message.contains("declare the bucket `shared: true`")
                && message.contains("or use an s3 bucket"),
            "{message}"
        );
        // The built-in bucket has no file position.
        let err = check_pairing(&cluster, b.resolve(None).unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("compute `cluster` runs on a ballista cluster, whose executors cannot read bucket `local`"),
            "{err}"
        );
    }

    #[test]
    fn files_are_read_beside_profiles_yml() {
        let d = dirs(
            Some(
                "p:\n  target: cluster\n  computes:\n    cluster: {type: ballista, scheduler: 'df://h:50050'}\n",
            ),
            Some("p:\n  buckets:\n    local: {type: filesystem, path: stage}\n"),
        );
        let profiles = d.profiles.path().join("profiles.yml");
        std::fs::write(
            &profiles,
            "p:\n  target: a\n  outputs:\n    a: {type: sqlite, path: a.db}\n",
        )
        .unwrap();
        // A `computes.yml` in the project folder is not read: the profiles folder is.
        std::fs::write(d.project.path().join(COMPUTES_FILE), "p: [broken]\n").unwrap();
        let profile = Profile::load(&profiles, "p", d.project.path()).unwrap();
        let config = FederationConfig::load(&profile, d.project.path()).unwrap();
        assert_eq!(config.computes.resolve(None).unwrap().name, "cluster");
        let local = config.buckets.resolve(None).unwrap();
        assert_eq!(
            (&local.kind, local.location.is_some()),
            (
                &BucketKind::Filesystem {
                    path: d.project.path().join("stage")
                },
                true
            )
        );
        // The file's own `local` replaced the built-in, so the pairing check sees it.
        let err = check_pairing(
            config.computes.resolve(None).unwrap(),
            config.buckets.resolve(None).unwrap(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "DVT124");
    }

    #[test]
    fn an_unreadable_file_is_not_a_missing_one() {
        let d = dirs(None, None);
        std::fs::create_dir(d.profiles.path().join(COMPUTES_FILE)).unwrap();
        let err = Computes::load(d.profiles.path(), "p", d.project.path()).unwrap_err();
        assert_eq!(err.code(), "DVT100");
    }
}
