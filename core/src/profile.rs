//! `profiles.yml`: lookup, `env_var()` rendering and outputs (targets).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::error::{Error, Location, Result, read_to_string};
use crate::jinja;
use crate::secret::Secret;
use crate::target::{Connection, MysqlConfig, PostgresConfig, SqliteConfig, TargetConfig};
use crate::yaml::{self, Yaml, YamlValue};

/// Where to look for `profiles.yml`.
#[derive(Debug, Clone, Default)]
pub struct ProfileLookup {
    /// `--profiles-dir`.
    pub profiles_dir: Option<PathBuf>,
    /// `$DVT_PROFILES_DIR` (falls back to `$DBT_PROFILES_DIR`).
    pub env_dir: Option<PathBuf>,
    /// The user's home folder (for `~/.dvt` and `~/.dbt`).
    pub home: Option<PathBuf>,
}

impl ProfileLookup {
    /// The lookup the process environment implies.
    pub fn from_env(profiles_dir: Option<PathBuf>) -> Self {
        let env_dir = std::env::var_os("DVT_PROFILES_DIR")
            .or_else(|| std::env::var_os("DBT_PROFILES_DIR"))
            .map(PathBuf::from);
        ProfileLookup {
            profiles_dir,
            env_dir,
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }

    /// The folders searched, in order.
    pub fn candidates(&self, project_root: &Path) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        dirs.extend(self.profiles_dir.clone());
        dirs.extend(self.env_dir.clone());
        dirs.push(project_root.to_path_buf());
        if let Some(home) = &self.home {
            dirs.push(home.join(".dvt"));
            dirs.push(home.join(".dbt"));
        }
        dirs
    }

    /// Finds `profiles.yml`. An explicit `--profiles-dir` or env folder must hold one.
    pub fn find(&self, project_root: &Path) -> Result<PathBuf> {
        for (i, dir) in self.candidates(project_root).iter().enumerate() {
            let file = dir.join("profiles.yml");
            if file.is_file() {
                return Ok(file);
            }
            let explicit = i == 0 && (self.profiles_dir.is_some() || self.env_dir.is_some());
            if explicit {
                return Err(Error::Profile {
                    message: format!("no `profiles.yml` in `{}`", dir.display()),
                });
            }
        }
        let searched: Vec<String> = self
            .candidates(project_root)
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        Err(Error::Profile {
            message: format!("no `profiles.yml` found; searched: {}", searched.join(", ")),
        })
    }
}

/// The active profile: its outputs and default target.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Profile name.
    pub name: String,
    /// The file it came from.
    pub file: PathBuf,
    /// `target:` of the profile (the default output).
    pub default_target: String,
    /// Every output, by name.
    pub outputs: BTreeMap<String, TargetConfig>,
    /// Outputs that could not be read (an unset `env_var()`, an adapter DVT does not
    /// have), as written. dbt reads only the output a run uses, so a profile shared
    /// with Snowflake or BigQuery outputs still works; using one of these gives the
    /// error it has.
    unusable: BTreeMap<String, UnusableOutput>,
}

/// An output kept unread, to give its error when a run asks for it.
#[derive(Debug, Clone)]
struct UnusableOutput {
    key: Yaml,
    raw: Yaml,
    file: PathBuf,
    project_root: PathBuf,
}

impl Profile {
    /// Loads `profile_name` from `file`, rendering `env_var()` in every string.
    /// Relative SQLite paths resolve against `project_root`.
    ///
    /// Values keep their text as written (`password: 1.10` is `1.10`, not the
    /// number 1.1), and every error points at the node it is about.
    pub fn load(file: &Path, profile_name: &str, project_root: &Path) -> Result<Self> {
        let text = read_to_string(file)?;
        let doc = yaml::parse(file, &text)?;
        if !matches!(doc.value, YamlValue::Map(_)) {
            return Err(doc.error(file, "`profiles.yml` must be a mapping of profile names"));
        }
        let Some((key, raw)) = doc.entry(profile_name) else {
            let known: Vec<&str> = doc
                .entries()
                .iter()
                .map(|(k, _)| k.key_text())
                .filter(|k| *k != "config")
                .collect();
            return Err(Error::Profile {
                message: format!(
                    "{}: profile `{profile_name}` not found; it has: {}",
                    file.display(),
                    join(known)
                ),
            });
        };
        let mut raw = raw.clone();
        // Outputs are rendered one by one below, so that one needing an unset
        // variable does not stop a run that uses another.
        if let YamlValue::Map(entries) = &mut raw.value {
            for (k, v) in entries.iter_mut() {
                if k.key_text() != "outputs" {
                    render_strings(v, file)?;
                }
            }
        }
        if !matches!(raw.value, YamlValue::Map(_)) {
            return Err(raw.error(file, format!("profile `{profile_name}` must be a mapping")));
        }
        let outputs_raw = match raw.get("outputs") {
            Some(o) if matches!(o.value, YamlValue::Map(_)) => o,
            Some(o) => {
                return Err(o.error(
                    file,
                    format!("`outputs` of profile `{profile_name}` must be a mapping"),
                ));
            }
            None => {
                return Err(key.error(
                    file,
                    format!("profile `{profile_name}` has no `outputs` mapping"),
                ));
            }
        };
        let mut outputs = BTreeMap::new();
        let mut unusable = BTreeMap::new();
        for (name, out) in outputs_raw.entries() {
            match render_output(name, out, file, project_root) {
                Ok(output) => {
                    outputs.insert(name.key_text().to_owned(), output);
                }
                Err(_) => {
                    unusable.insert(
                        name.key_text().to_owned(),
                        UnusableOutput {
                            key: name.clone(),
                            raw: out.clone(),
                            file: file.to_path_buf(),
                            project_root: project_root.to_path_buf(),
                        },
                    );
                }
            }
        }
        let target = raw.get("target").filter(|t| !t.is_null());
        let default_target = match target {
            Some(t) => t
                .as_str()
                .ok_or_else(|| t.error(file, "`target` must be a string"))?
                .to_owned(),
            None if outputs_raw.entries().len() == 1 => {
                outputs_raw.entries()[0].0.key_text().to_owned()
            }
            None => {
                return Err(key.error(file, format!("profile `{profile_name}` has no `target`")));
            }
        };
        let profile = Profile {
            name: profile_name.to_owned(),
            file: file.to_path_buf(),
            default_target,
            outputs,
            unusable,
        };
        let target_location = target.map_or_else(|| key.location(file), |t| t.location(file));
        profile.check_target(&profile.default_target, target_location)?;
        Ok(profile)
    }

    /// Checks that `name` is an output, with a coded error naming `location` if not.
    /// Names of the outputs that could not be read; [`Profile::check_target`] gives
    /// each one's error.
    pub fn unusable_outputs(&self) -> impl Iterator<Item = &str> {
        self.unusable.keys().map(String::as_str)
    }

    /// An output that could not be read gives its own error here.
    pub fn check_target(&self, name: &str, location: Location) -> Result<&TargetConfig> {
        if let Some(t) = self.outputs.get(name) {
            return Ok(t);
        }
        if let Some(u) = self.unusable.get(name) {
            render_output(&u.key, &u.raw, &u.file, &u.project_root)?;
        }
        let mut known: Vec<&str> = self.outputs.keys().map(String::as_str).collect();
        known.extend(self.unusable.keys().map(String::as_str));
        known.sort_unstable();
        Err(Error::UnknownTarget {
            location,
            name: name.to_owned(),
            profile: self.name.clone(),
            known: join(known),
        })
    }
}

fn join<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items
        .into_iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders Jinja (`env_var()`) in every scalar value, pointing errors at that
/// scalar. Keys are not rendered, as in dbt.
fn render_strings(node: &mut Yaml, file: &Path) -> Result<()> {
    let location = node.location(file);
    match &mut node.value {
        YamlValue::Scalar { text, quoted } if text.contains("{{") || text.contains("{%") => {
            *text = jinja::render_config_string(text, location)?;
            // What the template renders to is a value, never a YAML null.
            *quoted = true;
        }
        YamlValue::Seq(items) => {
            for item in items {
                render_strings(item, file)?;
            }
        }
        YamlValue::Map(entries) => {
            for (_, value) in entries {
                render_strings(value, file)?;
            }
        }
        YamlValue::Null | YamlValue::Scalar { .. } => {}
    }
    Ok(())
}

/// Renders one output's strings, then builds it.
fn render_output(key: &Yaml, out: &Yaml, file: &Path, project_root: &Path) -> Result<TargetConfig> {
    let mut out = out.clone();
    render_strings(&mut out, file)?;
    parse_output(key, &out, file, project_root)
}

/// Builds one output from its (rendered) node. Errors about the output as a whole
/// point at its key, errors about one value at that value.
fn parse_output(key: &Yaml, out: &Yaml, file: &Path, project_root: &Path) -> Result<TargetConfig> {
    let name = key.key_text();
    if !matches!(out.value, YamlValue::Map(_)) {
        return Err(out.error(file, format!("output `{name}` must be a mapping")));
    }
    // The first of `keys` with a non-null value, as its text and node.
    let get = |keys: &[&str]| -> Result<Option<(String, &Yaml)>> {
        for k in keys {
            match out.get(k) {
                None => {}
                Some(v) => match &v.value {
                    YamlValue::Null => {}
                    YamlValue::Scalar { text, .. } => return Ok(Some((text.clone(), v))),
                    YamlValue::Seq(_) | YamlValue::Map(_) => {
                        return Err(v.error(
                            file,
                            format!("output `{name}`: `{k}` must be a single value"),
                        ));
                    }
                },
            }
        }
        Ok(None)
    };
    let text = |keys: &[&str]| -> Result<Option<String>> { Ok(get(keys)?.map(|(t, _)| t)) };
    let missing = |k: &str| key.error(file, format!("output `{name}` needs `{k}`"));
    let port = |default: u16| -> Result<u16> {
        Ok(number(get(&["port"])?, file, name, "port")?.unwrap_or(default))
    };
    let threads = number(get(&["threads"])?, file, name, "threads")?;
    let (adapter, adapter_node) = get(&["type"])?.ok_or_else(|| missing("type"))?;
    let (schema, connection) = match adapter.as_str() {
        "postgres" | "postgresql" => (
            text(&["schema"])?.unwrap_or_else(|| "public".into()),
            Connection::Postgres(PostgresConfig {
                host: text(&["host"])?.unwrap_or_else(|| "localhost".into()),
                port: port(5432)?,
                user: text(&["user", "username"])?.ok_or_else(|| missing("user"))?,
                password: Secret::new(text(&["password", "pass"])?.unwrap_or_default()),
                dbname: text(&["dbname", "database"])?.ok_or_else(|| missing("dbname"))?,
            }),
        ),
        "mysql" | "mariadb" => (
            text(&["schema", "database"])?.ok_or_else(|| missing("schema"))?,
            Connection::Mysql(MysqlConfig {
                server: text(&["server", "host"])?.unwrap_or_else(|| "localhost".into()),
                port: port(3306)?,
                username: text(&["username", "user"])?.ok_or_else(|| missing("username"))?,
                password: Secret::new(text(&["password", "pass"])?.unwrap_or_default()),
            }),
        ),
        "sqlite" => {
            let path = match text(&["path"])? {
                Some(p) => p,
                None => out
                    .get("schemas_and_paths")
                    .and_then(|m| m.get("main"))
                    .and_then(Yaml::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| missing("path"))?,
            };
            let path = PathBuf::from(path);
            let path = if path.is_absolute() {
                path
            } else {
                project_root.join(path)
            };
            ("main".to_owned(), Connection::Sqlite(SqliteConfig { path }))
        }
        other => {
            return Err(Error::UnsupportedAdapter {
                location: adapter_node.location(file),
                output: name.to_owned(),
                adapter: other.to_owned(),
            });
        }
    };
    let secret_keys = ["password", "pass", "token", "private_key", "keyfile_json"];
    let extra = out
        .entries()
        .iter()
        .filter(|(k, _)| !secret_keys.contains(&k.key_text()))
        .filter_map(|(k, v)| Some((k.key_text().to_owned(), v.as_str()?.to_owned())))
        .collect();
    Ok(TargetConfig {
        name: name.to_owned(),
        schema,
        threads,
        connection,
        extra,
    })
}

/// A number written as `found`'s text (`port: 05432` is 5432), with an error at
/// its node when it is not one.
fn number<T: std::str::FromStr>(
    found: Option<(String, &Yaml)>,
    file: &Path,
    output: &str,
    key: &str,
) -> Result<Option<T>> {
    found
        .map(|(text, node)| {
            text.trim().parse().map_err(|_| {
                node.error(
                    file,
                    format!("output `{output}`: `{key}` must be a number, got `{text}`"),
                )
            })
        })
        .transpose()
}

/// Renders a `--vars` string (YAML) into a mapping, resolving values with the
/// YAML 1.2 core schema (`{n: 3}` gives the number 3).
pub fn parse_cli_vars(text: &str) -> Result<Map<String, Json>> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    let doc = yaml::parse(Path::new("--vars"), text).map_err(|e| match e {
        Error::Yaml { location, message } => Error::InvalidVars {
            message: match (location.line, location.column) {
                (Some(line), Some(column)) => format!("{message} at line {line}, column {column}"),
                _ => message,
            },
        },
        other => other,
    })?;
    match doc.to_json() {
        Json::Object(m) => Ok(m),
        _ => Err(Error::InvalidVars {
            message: "expected a YAML mapping such as `{key: value}`".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_use_dbt_field_names_and_aliases() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("profiles.yml");
        std::fs::write(
            &f,
            "p:\n  target: pg\n  outputs:\n    pg: {type: postgres, host: h, user: u, password: s3cret, dbname: d, schema: s, threads: 4}\n    my: {type: mysql, server: m, port: '3307', username: r, schema: db}\n    lite: {type: sqlite, path: a.db}\n    my2: {type: mariadb, host: m2, user: r2, database: db2}\n",
        )
        .unwrap();
        let p = Profile::load(&f, "p", dir.path()).unwrap();
        assert_eq!(p.default_target, "pg");
        let pg = &p.outputs["pg"];
        assert_eq!(pg.threads, Some(4));
        assert!(!format!("{pg:?}").contains("s3cret"));
        assert!(!pg.extra.contains_key("password"));
        let Connection::Mysql(my) = &p.outputs["my"].connection else {
            panic!()
        };
        assert_eq!((my.server.as_str(), my.port), ("m", 3307));
        assert_eq!(p.outputs["my2"].schema, "db2");
        let Connection::Sqlite(l) = &p.outputs["lite"].connection else {
            panic!()
        };
        assert_eq!(l.path, dir.path().join("a.db"));
    }

    #[test]
    fn unknown_default_target_is_coded() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("profiles.yml");
        std::fs::write(
            &f,
            "p:\n  target: nope\n  outputs:\n    a: {type: sqlite, path: a.db}\n",
        )
        .unwrap();
        let err = Profile::load(&f, "p", dir.path()).unwrap_err();
        assert_eq!(err.code(), "DVT104");
    }

    fn load(text: &str, profile: &str) -> (tempfile::TempDir, Result<Profile>) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("profiles.yml");
        std::fs::write(&f, text).unwrap();
        let p = Profile::load(&f, profile, dir.path());
        (dir, p)
    }

    /// Code, line and column of a located error.
    fn at(err: &Error) -> (&'static str, Option<u32>, Option<u32>) {
        let location = match err {
            Error::Yaml { location, .. }
            | Error::UnknownTarget { location, .. }
            | Error::UnsupportedAdapter { location, .. }
            | Error::EnvVarMissing { location, .. }
            | Error::Jinja { location, .. } => location,
            other => panic!("no location: {other}"),
        };
        (err.code(), location.line, location.column)
    }

    #[test]
    fn an_output_that_cannot_be_read_fails_only_when_used() {
        // dbt_utils' integration-test profile: one usable output beside warehouses
        // DVT has no adapter for, configured from variables this machine lacks.
        let text = "it:\n  target: pg\n  outputs:\n    pg: {type: postgres, user: u, dbname: d, port: \"{{ '6432' | as_number }}\"}\n    rs:\n      type: redshift\n      host: \"{{ env_var('DVT_TEST_UNSET_RS_HOST') }}\"\n    sf: {type: snowflake, account: a}\n";
        let (_dir, p) = load(text, "it");
        let p = p.unwrap();
        assert_eq!(
            p.check_target("pg", Location::file("t")).unwrap().dialect(),
            crate::dialect::Dialect::Postgres
        );
        let Connection::Postgres(pg) = &p.outputs["pg"].connection else {
            panic!()
        };
        assert_eq!(pg.port, 6432);
        let err = p.check_target("rs", Location::file("t")).unwrap_err();
        assert_eq!(at(&err), ("DVT110", Some(7), Some(13)), "{err}");
        let err = p.check_target("sf", Location::file("t")).unwrap_err();
        assert_eq!(at(&err).0, "DVT113", "{err}");
        let err = p.check_target("nope", Location::file("t")).unwrap_err();
        assert!(err.to_string().contains("`pg`, `rs`, `sf`"), "{err}");
        // The default target itself unreadable fails at load, as before.
        let (_dir, err) = load(&text.replace("target: pg", "target: rs"), "it");
        assert_eq!(at(&err.unwrap_err()).0, "DVT110");
    }

    fn password(t: &TargetConfig) -> &str {
        match &t.connection {
            Connection::Postgres(c) => c.password.expose(),
            Connection::Mysql(c) => c.password.expose(),
            Connection::Sqlite(_) => "",
        }
    }

    #[test]
    fn values_keep_their_text() {
        let (_dir, p) = load(
            "p:\n  target: a\n  outputs:\n    a: {type: postgres, user: u, dbname: d, password: 1.10, port: 05432, threads: 4, sslmode: yes}\n    b: {type: postgres, user: u, dbname: d, password: 007}\n    c: {type: postgres, user: u, dbname: 1.0, password: yes}\n    d: {type: mysql, user: u, schema: s, password: '1.10'}\n    e: {type: postgres, user: 0x10, dbname: d, password: ~}\n",
            "p",
        );
        let p = p.unwrap();
        assert_eq!(password(&p.outputs["a"]), "1.10");
        assert_eq!(password(&p.outputs["b"]), "007");
        assert_eq!(password(&p.outputs["c"]), "yes");
        assert_eq!(password(&p.outputs["d"]), "1.10");
        assert_eq!(password(&p.outputs["e"]), "");
        let a = &p.outputs["a"];
        let Connection::Postgres(pg) = &a.connection else {
            panic!("postgres expected")
        };
        assert_eq!((pg.port, a.threads), (5432, Some(4)));
        assert_eq!(a.extra["sslmode"], "yes");
        assert_eq!(a.extra["port"], "05432");
        assert_eq!(p.outputs["c"].database(), "1.0");
        let Connection::Postgres(e) = &p.outputs["e"].connection else {
            panic!("postgres expected")
        };
        assert_eq!(e.user, "0x10");
    }

    #[test]
    fn anchors_and_merge_keys_share_defaults() {
        let text = "_defaults: &pg\n  type: postgres\n  host: db.internal\n  port: 6432\n  user: svc\n  password: 1.10\n  threads: 2\nshop:\n  target: dev\n  outputs:\n    dev:\n      <<: *pg\n      dbname: dev\n    prod:\n      <<: *pg\n      dbname: prod\n      threads: 8\n";
        let (_dir, p) = load(text, "shop");
        let p = p.unwrap();
        for (name, db, threads) in [("dev", "dev", 2), ("prod", "prod", 8)] {
            let t = &p.outputs[name];
            let Connection::Postgres(pg) = &t.connection else {
                panic!("postgres expected")
            };
            assert_eq!(
                (pg.host.as_str(), pg.port, pg.user.as_str()),
                ("db.internal", 6432, "svc")
            );
            assert_eq!((pg.dbname.as_str(), t.threads), (db, Some(threads)));
            assert_eq!(password(t), "1.10");
        }
        // An error in the shared defaults points where the value is written.
        let (_dir, err) = load(&text.replace("port: 6432", "port: x"), "shop");
        assert_eq!(at(&err.unwrap_err()), ("DVT102", Some(4), Some(9)));
    }

    #[test]
    fn the_faulty_one_of_two_equal_names_is_located() {
        let text = "a:\n  target: dev\n  outputs:\n    dev: {type: sqlite, path: a.db}\nb:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      user: u\n      dbname: d\n      port: '5432x'\n";
        let (_dir, p) = load(text, "a");
        assert!(p.is_ok());
        let (_dir, err) = load(text, "b");
        let err = err.unwrap_err();
        assert_eq!(at(&err), ("DVT102", Some(12), Some(13)));
        assert!(
            err.to_string()
                .contains("`port` must be a number, got `5432x`"),
            "{err}"
        );
        // A missing key points at the output's key, the second `dev`.
        let text = text.replace("'5432x'", "5433");
        let (_dir, err) = load(&text.replace("      dbname: d\n", ""), "b");
        assert_eq!(at(&err.unwrap_err()), ("DVT102", Some(8), Some(5)));
        // An unknown adapter points at its `type` value.
        let (_dir, err) = load(&text.replace("type: postgres", "type: oracle"), "b");
        assert_eq!(at(&err.unwrap_err()), ("DVT113", Some(9), Some(13)));
        // An unknown default target points at `target:` of the right profile.
        let (_dir, err) = load(&text.replace("b:\n  target: dev", "b:\n  target: prd"), "b");
        assert_eq!(at(&err.unwrap_err()), ("DVT104", Some(6), Some(11)));
        // A profile without outputs points at its name.
        let (_dir, err) = load("a:\n  target: x\n", "a");
        assert_eq!(at(&err.unwrap_err()), ("DVT102", Some(1), Some(1)));
    }

    #[test]
    fn env_var_errors_point_at_their_scalar() {
        let text = "p:\n  target: a\n  outputs:\n    a:\n      type: postgres\n      user: \"{{ env_var('DVT_TEST_SURELY_UNSET_7F3A', 'fallback') }}\"\n      dbname: \"{{ env_var('DVT_TEST_SURELY_UNSET_7F3A') }}\"\n";
        let (_dir, err) = load(text, "p");
        assert_eq!(at(&err.unwrap_err()), ("DVT110", Some(7), Some(15)));
        let (_dir, p) = load(&text.replace("7F3A')", "7F3A', 'db')"), "p");
        let p = p.unwrap();
        let Connection::Postgres(pg) = &p.outputs["a"].connection else {
            panic!("postgres expected")
        };
        assert_eq!((pg.user.as_str(), pg.dbname.as_str()), ("fallback", "db"));
        // A rendered `target:` selects the output.
        let (_dir, p) = load(
            "p:\n  target: \"{{ env_var('DVT_TEST_SURELY_UNSET_7F3A', 'b') }}\"\n  outputs:\n    a: {type: sqlite, path: a.db}\n    b: {type: sqlite, path: b.db}\n",
            "p",
        );
        assert_eq!(p.unwrap().default_target, "b");
    }

    #[test]
    fn broken_files_are_located_errors() {
        for (text, line) in [
            ("p:\n  outputs:\n    a: {type: sqlite, path: a.db\n", 4),
            ("p:\n  outputs:\n\ta: {type: sqlite}\n", 3),
            (
                "p:\n  outputs:\n    a: {type: sqlite, path: é.db}\n    a: {type: sqlite}\n",
                4,
            ),
            ("p:\n  outputs: [a]\n", 2),
            ("- p\n", 1),
        ] {
            let (_dir, err) = load(text, "p");
            let err = err.unwrap_err();
            assert_eq!(
                (at(&err).0, at(&err).1),
                ("DVT102", Some(line)),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn cli_vars_resolve_scalars() {
        let vars = parse_cli_vars("{n: 3, f: 1.10, s: '007', b: true, l: [1, x]}").unwrap();
        assert_eq!(
            Json::Object(vars),
            serde_json::json!({"n": 3, "f": 1.1, "s": "007", "b": true, "l": [1, "x"]})
        );
        assert!(parse_cli_vars("  ").unwrap().is_empty());
        let err = parse_cli_vars("{a: 1").unwrap_err();
        assert_eq!(err.code(), "DVT112");
        assert!(err.to_string().contains(" at line "), "{err}");
        assert_eq!(parse_cli_vars("[1]").unwrap_err().code(), "DVT112");
        assert_eq!(parse_cli_vars("{a: 1, a: 2}").unwrap_err().code(), "DVT112");
    }
}
