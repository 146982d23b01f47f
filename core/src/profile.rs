//! `profiles.yml`: lookup, `env_var()` rendering and outputs (targets).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::error::{Error, Location, Result, read_to_string, yaml_error};
use crate::jinja;
use crate::secret::Secret;
use crate::target::{Connection, MysqlConfig, PostgresConfig, SqliteConfig, TargetConfig};

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
}

impl Profile {
    /// Loads `profile_name` from `file`, rendering `env_var()` in every string.
    /// Relative SQLite paths resolve against `project_root`.
    pub fn load(file: &Path, profile_name: &str, project_root: &Path) -> Result<Self> {
        let text = read_to_string(file)?;
        let doc: Json = serde_yaml_ng::from_str(&text).map_err(|e| yaml_error(file, &e))?;
        let Json::Object(mut top) = doc else {
            return Err(Error::Yaml {
                location: Location::file(file),
                message: "profiles.yml must be a mapping of profile names".into(),
            });
        };
        let Some(raw) = top.remove(profile_name) else {
            let known: Vec<&String> = top.keys().filter(|k| *k != "config").collect();
            return Err(Error::Profile {
                message: format!(
                    "{}: profile `{profile_name}` not found; it has: {}",
                    file.display(),
                    join(known)
                ),
            });
        };
        let raw = render_strings(raw, file, &text)?;
        let Json::Object(raw) = raw else {
            return Err(Error::Yaml {
                location: Location::line(file, line_of(&text, profile_name)),
                message: format!("profile `{profile_name}` must be a mapping"),
            });
        };
        let Some(Json::Object(outputs_raw)) = raw.get("outputs") else {
            return Err(Error::Yaml {
                location: Location::line(file, line_of(&text, profile_name)),
                message: format!("profile `{profile_name}` has no `outputs` mapping"),
            });
        };
        let mut outputs = BTreeMap::new();
        for (name, out) in outputs_raw {
            let loc = Location::line(file, line_of(&text, &format!("{name}:")));
            outputs.insert(name.clone(), parse_output(name, out, loc, project_root)?);
        }
        let default_target = match raw.get("target") {
            Some(Json::String(t)) => t.clone(),
            _ if outputs.len() == 1 => outputs.keys().next().cloned().unwrap_or_default(),
            _ => {
                return Err(Error::Yaml {
                    location: Location::line(file, line_of(&text, profile_name)),
                    message: format!("profile `{profile_name}` has no `target`"),
                });
            }
        };
        let profile = Profile {
            name: profile_name.to_owned(),
            file: file.to_path_buf(),
            default_target,
            outputs,
        };
        profile.check_target(&profile.default_target, Location::file(file))?;
        Ok(profile)
    }

    /// Checks that `name` is an output, with a coded error naming `location` if not.
    pub fn check_target(&self, name: &str, location: Location) -> Result<&TargetConfig> {
        self.outputs.get(name).ok_or_else(|| Error::UnknownTarget {
            location,
            name: name.to_owned(),
            profile: self.name.clone(),
            known: join(self.outputs.keys()),
        })
    }
}

fn join<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    items
        .into_iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first line of `text` containing `needle`, 1-based (1 when absent).
pub(crate) fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or(1)
}

fn render_strings(v: Json, file: &Path, text: &str) -> Result<Json> {
    Ok(match v {
        Json::String(s) if s.contains("{{") || s.contains("{%") => {
            let loc = Location::line(file, line_of(text, &s));
            Json::String(jinja::render_config_string(&s, loc)?)
        }
        Json::Array(items) => Json::Array(
            items
                .into_iter()
                .map(|i| render_strings(i, file, text))
                .collect::<Result<_>>()?,
        ),
        Json::Object(map) => Json::Object(
            map.into_iter()
                .map(|(k, v)| Ok((k, render_strings(v, file, text)?)))
                .collect::<Result<_>>()?,
        ),
        other => other,
    })
}

fn parse_output(
    name: &str,
    out: &Json,
    loc: Location,
    project_root: &Path,
) -> Result<TargetConfig> {
    let Json::Object(map) = out else {
        return Err(Error::Yaml {
            location: loc,
            message: format!("output `{name}` must be a mapping"),
        });
    };
    let get = |keys: &[&str]| -> Option<String> {
        keys.iter().find_map(|k| match map.get(*k) {
            Some(Json::String(s)) => Some(s.clone()),
            Some(Json::Number(n)) => Some(n.to_string()),
            Some(Json::Bool(b)) => Some(b.to_string()),
            _ => None,
        })
    };
    let missing = |key: &str| Error::Yaml {
        location: loc.clone(),
        message: format!("output `{name}` needs `{key}`"),
    };
    let port = |default: u16| -> Result<u16> {
        match get(&["port"]) {
            None => Ok(default),
            Some(p) => p.parse().map_err(|_| Error::Yaml {
                location: loc.clone(),
                message: format!("output `{name}`: `port` must be a number, got `{p}`"),
            }),
        }
    };
    let threads = match get(&["threads"]) {
        None => None,
        Some(t) => Some(t.parse().map_err(|_| Error::Yaml {
            location: loc.clone(),
            message: format!("output `{name}`: `threads` must be a number"),
        })?),
    };
    let adapter = get(&["type"]).ok_or_else(|| missing("type"))?;
    let (schema, connection) = match adapter.as_str() {
        "postgres" | "postgresql" => (
            get(&["schema"]).unwrap_or_else(|| "public".into()),
            Connection::Postgres(PostgresConfig {
                host: get(&["host"]).unwrap_or_else(|| "localhost".into()),
                port: port(5432)?,
                user: get(&["user", "username"]).ok_or_else(|| missing("user"))?,
                password: Secret::new(get(&["password", "pass"]).unwrap_or_default()),
                dbname: get(&["dbname", "database"]).ok_or_else(|| missing("dbname"))?,
            }),
        ),
        "mysql" | "mariadb" => (
            get(&["schema", "database"]).ok_or_else(|| missing("schema"))?,
            Connection::Mysql(MysqlConfig {
                server: get(&["server", "host"]).unwrap_or_else(|| "localhost".into()),
                port: port(3306)?,
                username: get(&["username", "user"]).ok_or_else(|| missing("username"))?,
                password: Secret::new(get(&["password", "pass"]).unwrap_or_default()),
            }),
        ),
        "sqlite" => {
            let path = get(&["path"])
                .or_else(|| match map.get("schemas_and_paths") {
                    Some(Json::Object(m)) => m.get("main").and_then(|v| v.as_str()).map(Into::into),
                    _ => None,
                })
                .ok_or_else(|| missing("path"))?;
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
                location: loc,
                output: name.to_owned(),
                adapter: other.to_owned(),
            });
        }
    };
    let secret_keys = ["password", "pass", "token", "private_key", "keyfile_json"];
    let extra = map
        .iter()
        .filter(|(k, _)| !secret_keys.contains(&k.as_str()))
        .filter_map(|(k, v)| match v {
            Json::String(s) => Some((k.clone(), s.clone())),
            Json::Number(n) => Some((k.clone(), n.to_string())),
            Json::Bool(b) => Some((k.clone(), b.to_string())),
            _ => None,
        })
        .collect();
    Ok(TargetConfig {
        name: name.to_owned(),
        schema,
        threads,
        connection,
        extra,
    })
}

/// Renders a `--vars` string (YAML) into a mapping.
pub fn parse_cli_vars(text: &str) -> Result<Map<String, Json>> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_yaml_ng::from_str::<Json>(text) {
        Ok(Json::Object(m)) => Ok(m),
        Ok(_) => Err(Error::InvalidVars {
            message: "expected a YAML mapping such as `{key: value}`".into(),
        }),
        Err(e) => Err(Error::InvalidVars {
            message: e.to_string(),
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
}
