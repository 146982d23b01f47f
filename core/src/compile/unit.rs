//! Compiling a unit test: the model's SQL with each `given` input replaced by a CTE of
//! its fixture rows, as dbt does. Values are cast to the input relation's column types
//! when a database connection is open and the relation exists (missing columns become
//! typed NULLs); otherwise they go in as literals.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use super::CompileState;
use crate::compile::CompileOptions;
use crate::dialect::Dialect;
use crate::error::{Error, Location, Result};
use crate::jinja::JinjaRelation;
use crate::manifest::{CompiledNode, Manifest, Node};
use crate::sql;

impl Manifest {
    pub(super) fn compile_unit_test(
        &self,
        host: &Node,
        spec: &Json,
        opts: &CompileOptions,
    ) -> Result<CompiledNode> {
        let bad = |message: String| Error::InvalidConfig {
            location: Location::file(&host.original_file_path),
            key: "given".into(),
            message: format!("unit test `{}`: {message}", host.name),
        };
        let model_id = host
            .test
            .as_ref()
            .and_then(|t| t.attached_node.clone())
            .ok_or_else(|| bad("no model".into()))?;
        let model = &self.nodes[&model_id];
        let dialect = self.target(&host.target).dialect();
        let mut fixtures: BTreeMap<String, JinjaRelation> = BTreeMap::new();
        let mut fixture_ctes: Vec<(String, String)> = Vec::new();
        let mut fixture_order: Vec<usize> = Vec::new();
        let mut fixture_files: Vec<(String, String)> = Vec::new();
        for given in spec["given"].as_array().into_iter().flatten() {
            let input = given["input"]
                .as_str()
                .ok_or_else(|| bad("each `given` needs an `input`".into()))?;
            let dep = self
                .input_id(model, input)
                .ok_or_else(|| bad(format!("`{input}` is not an input of `{}`", model.name)))?;
            let (dep_target, rel) = self
                .relation_of(&dep)
                .ok_or_else(|| bad(format!("`{input}` has no relation")))?;
            let name = format!("__dbt__cte__{}", rel.identifier);
            let input_name = self
                .nodes
                .get(&dep)
                .map(|n| n.name.clone())
                .or_else(|| self.sources.get(&dep).map(|s| s.name.clone()))
                .unwrap_or_default();
            let given_rows = self
                .fixture_value(given)
                .map_err(|e| bad(format!("`{input}`: {e}")))?;
            let body = match given["format"].as_str().unwrap_or("dict") {
                "sql" => {
                    let text = given_rows.as_str().ok_or_else(|| {
                        bad(format!(
                            "`{input}`: `format: sql` needs `rows:` as SQL or a `fixture:` file"
                        ))
                    })?;
                    // dbt compiles a SQL fixture as it compiles a model: Jinja in it
                    // (macros, `var`, `target`) renders.
                    if text.contains("{{") || text.contains("{%") {
                        self.render_operation(
                            text,
                            &host.target,
                            &Json::Object(Map::new()),
                            opts.database.clone(),
                            &host.original_file_path,
                        )?
                        .0
                    } else {
                        text.to_owned()
                    }
                }
                format => {
                    let rows = fixture_rows(format, &given_rows)
                        .map_err(|e| bad(format!("`{input}`: {e}")))?;
                    // The input's types, in the dialect the test runs in (a federated
                    // model's input may live in another database).
                    let from = self.target(dep_target).dialect();
                    let typed = opts
                        .database
                        .as_ref()
                        .and_then(|db| db.columns(dep_target, &rel.schema, &rel.identifier).ok())
                        .filter(|c| !c.is_empty())
                        .map(|cols| {
                            cols.into_iter()
                                .map(|c| (c.name, translate_type(from, dialect, &c.data_type)))
                                .collect::<Vec<_>>()
                        });
                    let columns = typed.unwrap_or_else(|| {
                        let mut names: Vec<(String, Option<String>)> = Vec::new();
                        for r in &rows {
                            for k in r.keys() {
                                if !names.iter().any(|(n, _)| n == k) {
                                    names.push((k.clone(), None));
                                }
                            }
                        }
                        names
                    });
                    format!(
                        "-- Fixture for {input_name}\n{}",
                        fixture_sql(dialect, &columns, &rows)
                    )
                }
            };
            // dbt puts the `this` fixture first, then the others in the order the model
            // calls `ref()`/`source()` (whatever order `given` lists them in).
            let called = model
                .refs
                .iter()
                .position(|r| self.names.resolve(r, &model.package_name).ok() == Some(&dep))
                .or_else(|| {
                    let s = self.sources.get(&dep)?;
                    let at = model
                        .sources
                        .iter()
                        .position(|(src, t)| *src == s.source_name && *t == s.name)?;
                    Some(model.refs.len() + at)
                });
            let order = if dep == model_id {
                0
            } else {
                1 + called.unwrap_or(usize::MAX - 1)
            };
            fixture_order.push(order);
            fixture_ctes.push((name.clone(), body.clone()));
            fixture_files.push((input_name, body));
            fixtures.insert(
                dep,
                JinjaRelation {
                    database: String::new(),
                    schema: String::new(),
                    identifier: name.clone(),
                    rendered: name,
                    home: None,
                },
            );
        }
        let mut ctes: Vec<(String, String)> = Vec::new();
        let mut inputs = Vec::new();
        let mut logs = Vec::new();
        let mut unit_opts = opts.clone();
        unit_opts.is_incremental = spec["overrides"]["macros"]["is_incremental"]
            .as_bool()
            .unwrap_or(false);
        if let Some(vars) = spec["overrides"]["vars"].as_object() {
            unit_opts.vars.extend(vars.clone());
        }
        // Other macros overridden return the given text; `env_var` answers the given
        // variables first.
        if let Some(macros) = spec["overrides"]["macros"].as_object() {
            let mut macros = macros.clone();
            macros.remove("is_incremental");
            if !macros.is_empty() {
                unit_opts
                    .globals
                    .insert(crate::jinja::MACRO_OVERRIDES.into(), Json::Object(macros));
            }
        }
        if let Some(env) = spec["overrides"]["env_vars"].as_object() {
            unit_opts.globals.insert(
                crate::jinja::ENV_VAR_OVERRIDES.into(),
                Json::Object(env.clone()),
            );
        }
        let mut state = CompileState {
            ctes: &mut ctes,
            inputs: &mut inputs,
            logs: &mut logs,
            opts: &unit_opts,
            fixtures: &fixtures,
        };
        let rendered = self.compile_for(&model_id, host, &mut state, 0)?;
        let mut ordered: Vec<(usize, (String, String))> =
            fixture_order.into_iter().zip(fixture_ctes).collect();
        ordered.sort_by_key(|(order, _)| *order);
        let mut fixture_ctes: Vec<(String, String)> =
            ordered.into_iter().map(|(_, cte)| cte).collect();
        fixture_ctes.extend(ctes);
        Ok(CompiledNode {
            sql: sql::inject_ctes(dialect, &rendered, &fixture_ctes),
            inputs,
            logs,
            warnings: Vec::new(),
            fixtures: fixture_files,
        })
    }

    /// The unique id of `ref('x')`, `ref('pkg', 'x')`, `ref('x', v=2)` or
    /// `source('s', 't')` among `model`'s inputs, or the model itself for `this` (an
    /// incremental model's own table).
    fn input_id(&self, model: &Node, input: &str) -> Option<String> {
        let input = input.trim();
        if input == "this" {
            return Some(model.unique_id.clone());
        }
        let id = match crate::parse::call_text(input)? {
            crate::parse::CallText::Ref(call) => {
                self.names.resolve(&call, &model.package_name).ok()?.clone()
            }
            crate::parse::CallText::Source(source, table) => self
                .sources
                .values()
                .find(|s| s.source_name == source && s.name == table)?
                .unique_id
                .clone(),
        };
        model.depends_on.contains(&id).then_some(id)
    }
}

impl Manifest {
    /// A `given` or `expect` entry's rows: `rows:` as written, or the text of its
    /// `fixture:` file, `<name>.csv` (`format: csv`) or `<name>.sql` (`format: sql`)
    /// under a `fixtures/` folder of the project's test paths, as dbt looks it up.
    pub fn fixture_value(&self, entry: &Json) -> std::result::Result<Json, String> {
        let Some(name) = entry["fixture"].as_str() else {
            return Ok(entry["rows"].clone());
        };
        let ext = match entry["format"].as_str().unwrap_or("dict") {
            "csv" => "csv",
            "sql" => "sql",
            other => {
                return Err(format!(
                    "`fixture: {name}` needs `format: csv` or `format: sql`, not `{other}`"
                ));
            }
        };
        let wanted = format!("{name}.{ext}");
        for dir in &self.project.test_paths {
            let root = self.project.root.join(dir).join("fixtures");
            let mut stack = vec![root];
            while let Some(d) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&d) else {
                    continue;
                };
                let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
                entries.sort();
                for path in entries {
                    if path.is_dir() {
                        stack.push(path);
                    } else if path
                        .file_name()
                        .is_some_and(|f| f.to_string_lossy() == wanted)
                    {
                        return std::fs::read_to_string(&path)
                            .map(Json::from)
                            .map_err(|e| format!("cannot read `{}`: {e}", path.display()));
                    }
                }
            }
        }
        Err(format!(
            "no fixture file `{wanted}` in a `fixtures/` folder of the test paths ({})",
            self.project.test_paths.join(", ")
        ))
    }
}

/// The rows of a fixture: `dict` (a list of mappings) or `csv` (text with a header;
/// an empty field is NULL).
pub fn fixture_rows(
    format: &str,
    rows: &Json,
) -> std::result::Result<Vec<Map<String, Json>>, String> {
    match format {
        "dict" => rows
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| {
                        r.as_object()
                            .cloned()
                            .ok_or_else(|| format!("row {r} is not a mapping"))
                    })
                    .collect()
            })
            .unwrap_or_else(|| Ok(Vec::new())),
        "csv" => {
            let text = rows
                .as_str()
                .ok_or("`format: csv` needs `rows:` as CSV text")?;
            let mut reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .from_reader(text.as_bytes());
            let header: Vec<String> = reader
                .headers()
                .map_err(|e| e.to_string())?
                .iter()
                .map(str::to_owned)
                .collect();
            reader
                .records()
                .map(|r| {
                    let r = r.map_err(|e| e.to_string())?;
                    Ok(header
                        .iter()
                        .zip(r.iter())
                        .map(|(h, v)| {
                            let v = if v.is_empty() || v.eq_ignore_ascii_case("null") {
                                Json::Null
                            } else {
                                Json::from(v)
                            };
                            (h.clone(), v)
                        })
                        .collect())
                })
                .collect()
        }
        other => Err(format!("`format: {other}` is not `dict`, `csv` or `sql`")),
    }
}

/// A `select` of fixture rows (`union all`), each value cast to its column's type when
/// known; no rows is an empty `select` of the columns.
fn fixture_sql(
    dialect: Dialect,
    columns: &[(String, Option<String>)],
    rows: &[Map<String, Json>],
) -> String {
    let literal = |v: Option<&Json>| match v {
        None | Some(Json::Null) => "null".to_owned(),
        // Python's spelling, as dbt writes a YAML boolean into the fixture's SQL.
        Some(Json::Bool(b)) => if *b { "True" } else { "False" }.to_owned(),
        Some(Json::Number(n)) => n.to_string(),
        Some(Json::String(s)) => format!("'{}'", s.replace('\'', "''")),
        Some(other) => format!("'{}'", other.to_string().replace('\'', "''")),
    };
    let select = |row: Option<&Map<String, Json>>| {
        let cells: Vec<String> = columns
            .iter()
            .map(|(name, ty)| {
                let value = literal(row.and_then(|r| {
                    r.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v)
                }));
                let value = match ty {
                    Some(t) => format!("cast({value} as {})", cast_type(dialect, t)),
                    None => value,
                };
                format!("{value} as {}", dialect.quote(name))
            })
            .collect();
        format!("select {}", cells.join(", "))
    };
    if rows.is_empty() {
        return format!("{} where 1 = 0", select(None));
    }
    rows.iter()
        .map(|r| select(Some(r)))
        .collect::<Vec<_>>()
        .join("\nunion all\n")
}

/// A column type of a `from` database as a type `to` can cast to: itself in the same
/// dialect, else its family's type there (`None` when the family is unknown: the value
/// then goes in as a literal).
fn translate_type(from: Dialect, to: Dialect, ty: &str) -> Option<String> {
    if from == to {
        return Some(ty.to_owned());
    }
    let t = ty.to_ascii_lowercase();
    let params = t.find('(').map(|i| &t[i..]).unwrap_or_default();
    let family = family(&t)?;
    Some(
        match (to, family) {
            (Dialect::Postgres, "bool") => "boolean",
            (Dialect::Postgres, "int") => "bigint",
            (Dialect::Postgres, "decimal") => return Some(format!("numeric{params}")),
            (Dialect::Postgres, "float") => "double precision",
            (Dialect::Postgres, "timestamp") => "timestamp",
            (Dialect::Postgres, "text") => "text",
            (Dialect::Mysql, "bool" | "int") => "signed",
            (Dialect::Mysql, "decimal") => return Some(format!("decimal{params}")),
            (Dialect::Mysql, "float") => "double",
            (Dialect::Mysql, "timestamp") => "datetime(6)",
            (Dialect::Mysql, "text") => "char",
            (Dialect::Sqlite, "bool" | "int") => "integer",
            (Dialect::Sqlite, "decimal") => "numeric",
            (Dialect::Sqlite, "float") => "real",
            (Dialect::Sqlite, "date" | "timestamp" | "text") => "text",
            (_, "date") => "date",
            _ => return None,
        }
        .to_owned(),
    )
}

/// A catalogue type name usable in `cast(... as T)`: MySQL casts only to a few type
/// families, whatever the column's own type.
fn cast_type(dialect: Dialect, ty: &str) -> String {
    if dialect != Dialect::Mysql {
        return ty.to_owned();
    }
    match family(&ty.to_ascii_lowercase()) {
        Some("bool" | "int") => "signed",
        Some("decimal") => "decimal(65, 30)",
        Some("float") => "double",
        Some("date") => "date",
        Some("timestamp") => "datetime(6)",
        _ => "char",
    }
    .into()
}

/// The family of a lower-case column type name, whichever database named it: `bool`,
/// `int`, `decimal`, `float`, `date`, `timestamp` or `text`.
fn family(t: &str) -> Option<&'static str> {
    Some(if t.starts_with("tinyint(1)") || t.starts_with("bool") {
        "bool"
    } else if t.contains("int") {
        "int"
    } else if t.contains("decimal") || t.contains("numeric") {
        "decimal"
    } else if t.contains("float") || t.contains("double") || t == "real" {
        "float"
    } else if t == "date" {
        "date"
    } else if t.contains("datetime") || t.contains("timestamp") {
        "timestamp"
    } else if t.contains("char") || t.contains("text") || t == "string" || t == "json" {
        "text"
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_types_cross_to_the_dialect_the_test_runs_in() {
        let t = |from, to, ty| translate_type(from, to, ty);
        assert_eq!(
            t(Dialect::Mysql, Dialect::Mysql, "longtext").as_deref(),
            Some("longtext")
        );
        assert_eq!(
            t(Dialect::Mysql, Dialect::Postgres, "longtext").as_deref(),
            Some("text")
        );
        assert_eq!(
            t(Dialect::Mysql, Dialect::Postgres, "decimal(10,2)").as_deref(),
            Some("numeric(10,2)")
        );
        assert_eq!(
            t(Dialect::Mysql, Dialect::Postgres, "tinyint(1)").as_deref(),
            Some("boolean")
        );
        assert_eq!(
            t(
                Dialect::Postgres,
                Dialect::Mysql,
                "timestamp without time zone"
            )
            .as_deref(),
            Some("datetime(6)")
        );
        assert_eq!(
            t(Dialect::Postgres, Dialect::Sqlite, "date").as_deref(),
            Some("text")
        );
        assert_eq!(
            t(Dialect::Sqlite, Dialect::Postgres, "INTEGER").as_deref(),
            Some("bigint")
        );
        assert_eq!(t(Dialect::Postgres, Dialect::Mysql, "uuid"), None);
    }
}
