//! Sources: dbt's `sources:` declarations, each table a [`SourceTable`]. Which target a
//! source lives on is DVT's (`connection:`, [`crate::resolve::source_connection`]).

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::data_tests::TestDecl;
use super::properties::SourceDecl;
use crate::dialect::{Dialect, Relation};
use crate::error::{Error, Result};
use crate::jinja::JinjaEnv;
use crate::manifest::{SourceTable, Warning};
use crate::profile::Profile;
use crate::project::ProjectConfig;
use crate::resolve;
use crate::yaml::PathSeg::{self, Index, Key};

/// Builds every declared source table.
pub(super) fn parse(
    project: &ProjectConfig,
    profile: &Profile,
    default_target: &str,
    jinja: &JinjaEnv,
    decls: &[SourceDecl],
    warnings: &mut Vec<Warning>,
    tests: &mut Vec<TestDecl>,
) -> Result<BTreeMap<String, SourceTable>> {
    let mut sources = BTreeMap::new();
    // Source name -> the connection of its first declaration.
    let mut connections: BTreeMap<&str, String> = BTreeMap::new();
    for decl in decls {
        let src = &decl.props;
        let i = decl.index;
        let at = |path: &[PathSeg<'_>]| decl.tree.locate(&decl.file, path);
        let loc = at(&[Key("sources"), Index(i), Key("name")]);
        let connection = resolve::source_connection(
            profile,
            default_target,
            &src.name,
            src.connection.as_deref(),
            &loc,
            warnings,
        )?;
        if let Some(first) = connections.get(src.name.as_str())
            && *first != connection
        {
            return Err(Error::ConflictingSourceConnection {
                location: at(&[Key("sources"), Index(i), Key("connection")]),
                source_name: src.name.clone(),
                first: first.clone(),
                second: connection,
            });
        }
        connections.insert(&src.name, connection.clone());
        let target = &profile.outputs[&connection];
        // dbt renders Jinja in source properties (`schema: "{{ env_var(..) }}"`).
        let ctx = serde_json::json!({ "target": resolve::target_context(profile, &connection) });
        let render = |v: Option<&String>, path: &[PathSeg<'_>]| -> Result<Option<String>> {
            match v {
                Some(raw) if raw.contains("{{") || raw.contains("{%") => {
                    jinja.render_snippet(raw, &ctx, &at(path)).map(Some)
                }
                other => Ok(other.cloned()),
            }
        };
        let schema = match target.dialect() {
            Dialect::Sqlite => "main".to_owned(),
            _ => render(
                src.schema.as_ref(),
                &[Key("sources"), Index(i), Key("schema")],
            )?
            .unwrap_or_else(|| src.name.clone()),
        };
        // dbt-postgres names a source without `database:` in the target's database.
        let database = render(
            src.database.as_ref(),
            &[Key("sources"), Index(i), Key("database")],
        )?
        .or_else(|| (target.dialect() == Dialect::Postgres).then(|| target.database()));
        let source_quoting = project.quoting.with(src.quoting.as_ref());
        for (j, t) in src.tables.iter().enumerate() {
            let identifier = render(
                t.identifier.as_ref(),
                &[
                    Key("sources"),
                    Index(i),
                    Key("tables"),
                    Index(j),
                    Key("identifier"),
                ],
            )?;
            let unique_id = format!("source.{}.{}.{}", project.name, src.name, t.name);
            if let Some(first) = sources.get(&unique_id) {
                let first: &SourceTable = first;
                return Err(Error::DuplicateNode {
                    location: at(&[
                        Key("sources"),
                        Index(i),
                        Key("tables"),
                        Index(j),
                        Key("name"),
                    ]),
                    kind: "source table",
                    name: format!("{}.{}", src.name, t.name),
                    other: first.original_file_path.clone(),
                });
            }
            tests.extend(super::data_tests::declarations(
                &unique_id,
                format!("source('{}', '{}')", src.name, t.name),
                format!("{}_{}", src.name, t.name),
                true,
                &t.data_tests,
                &t.columns,
                &decl.file,
                &decl.tree,
                &[Key("sources"), Index(i), Key("tables"), Index(j)],
            ));
            let config_at = |key: &'static str| {
                at(&[
                    Key("sources"),
                    Index(i),
                    Key("tables"),
                    Index(j),
                    Key("config"),
                    Key(key),
                ])
            };
            let setting = |key: &'static str| {
                [t.config.as_ref(), src.config.as_ref()]
                    .into_iter()
                    .flatten()
                    .find_map(|c| c.get(key).filter(|v| !v.is_null()).cloned())
            };
            let partition_by = match setting("partition_by") {
                None => None,
                Some(Json::String(column)) if !column.trim().is_empty() => Some(column),
                Some(other) => {
                    return Err(Error::InvalidConfig {
                        location: config_at("partition_by"),
                        key: "partition_by".into(),
                        message: format!("expected a column name, found `{other}`"),
                    });
                }
            };
            let partitions = match setting("partitions") {
                None => None,
                Some(v) => match v.as_u64().filter(|n| (1..=4096).contains(n)) {
                    Some(n) => Some(n as usize),
                    None => {
                        return Err(Error::InvalidConfig {
                            location: config_at("partitions"),
                            key: "partitions".into(),
                            message: format!("expected a whole number from 1 to 4096, found `{v}`"),
                        });
                    }
                },
            };
            // A table's `event_time: null` turns off its source's.
            let own_event_time = t.config.as_ref().and_then(|c| c.get("event_time")).cloned();
            let event_time = match own_event_time.or_else(|| setting("event_time")) {
                Some(Json::Null) | None => None,
                Some(Json::String(column)) if !column.trim().is_empty() => Some(column),
                Some(other) => {
                    return Err(Error::InvalidConfig {
                        location: config_at("event_time"),
                        key: "event_time".into(),
                        message: format!("expected a column name, found `{other}`"),
                    });
                }
            };
            // The table's own `freshness:` (even `null`) wins over its config's, then the
            // source's, as in dbt.
            let freshness_at = at(&[Key("sources"), Index(i), Key("tables"), Index(j)]);
            let spec = t
                .freshness
                .clone()
                .or_else(|| setting_in(t.config.as_ref(), "freshness"))
                .or_else(|| src.freshness.clone())
                .or_else(|| setting_in(src.config.as_ref(), "freshness"));
            let loaded_at_field = t
                .loaded_at_field
                .clone()
                .or_else(|| setting_in(t.config.as_ref(), "loaded_at_field").and_then(text))
                .or_else(|| src.loaded_at_field.clone())
                .or_else(|| setting_in(src.config.as_ref(), "loaded_at_field").and_then(text));
            let freshness = freshness(spec.as_ref(), loaded_at_field, &freshness_at)?;
            let mut tags: Vec<String> = Vec::new();
            for list in [
                src.tags.as_ref(),
                setting_in(src.config.as_ref(), "tags").as_ref(),
                t.tags.as_ref(),
                setting_in(t.config.as_ref(), "tags").as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                for tag in crate::project::as_string_list(list) {
                    if !tags.contains(&tag) {
                        tags.push(tag);
                    }
                }
            }
            // dbt's source fqn: package, the YAML file's folders under the model path,
            // source, table.
            let mut fqn = super::files::folder_fqn(project, &decl.file);
            fqn.extend([src.name.clone(), t.name.clone()]);
            sources.insert(
                unique_id.clone(),
                SourceTable {
                    unique_id,
                    fqn,
                    tags,
                    package_name: project.name.clone(),
                    source_name: src.name.clone(),
                    relation: Relation {
                        database: database.clone(),
                        schema: schema.clone(),
                        identifier: identifier.unwrap_or_else(|| t.name.clone()),
                        quoting: source_quoting.with(t.quoting.as_ref()),
                    },
                    name: t.name.clone(),
                    connection: connection.clone(),
                    original_file_path: decl.file.clone(),
                    description: t.description.clone().unwrap_or_default(),
                    source_description: src.description.clone().unwrap_or_default(),
                    partition_by,
                    partitions,
                    event_time,
                    freshness,
                    columns: t
                        .columns
                        .iter()
                        .filter_map(|c| {
                            let name = c.get("name")?.as_str()?.to_owned();
                            let mut col = c.as_object().cloned().unwrap_or_default();
                            col.entry("description").or_insert_with(|| Json::from(""));
                            col.entry("data_type").or_insert(Json::Null);
                            col.entry("meta").or_insert_with(|| serde_json::json!({}));
                            col.entry("tags").or_insert_with(|| serde_json::json!([]));
                            Some((name, Json::Object(col)))
                        })
                        .collect(),
                },
            );
        }
    }
    Ok(sources)
}

fn setting_in(config: Option<&Json>, key: &str) -> Option<Json> {
    config?.get(key).cloned()
}

fn text(v: Json) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// A table's freshness rule from its `freshness:` mapping (`None` or `null`: no rule)
/// and `loaded_at_field`. A bad age is an error at the table's entry.
fn freshness(
    spec: Option<&Json>,
    loaded_at_field: Option<String>,
    location: &crate::error::Location,
) -> Result<Option<crate::manifest::Freshness>> {
    let Some(spec) = spec.filter(|s| !s.is_null()) else {
        return Ok(None);
    };
    let bad = |message: String| Error::InvalidConfig {
        location: location.clone(),
        key: "freshness".into(),
        message,
    };
    let age = |key: &str| -> Result<Option<crate::manifest::FreshnessAge>> {
        let Some(v) = spec.get(key).filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let count = v.get("count").and_then(Json::as_u64);
        let (period, seconds) = match v.get("period").and_then(Json::as_str) {
            Some("minute") => ("minute", 60),
            Some("hour") => ("hour", 3600),
            Some("day") => ("day", 86_400),
            _ => ("", 0),
        };
        match count {
            Some(count) if seconds > 0 => Ok(Some(crate::manifest::FreshnessAge {
                count,
                period_seconds: seconds,
                period,
            })),
            _ => Err(bad(format!(
                "`{key}` needs a whole `count` and a `period` of minute, hour or day, found `{v}`"
            ))),
        }
    };
    let warn_after = age("warn_after")?;
    let error_after = age("error_after")?;
    if warn_after.is_none() && error_after.is_none() {
        return Ok(None);
    }
    Ok(Some(crate::manifest::Freshness {
        loaded_at_field: loaded_at_field.filter(|f| !f.trim().is_empty()),
        warn_after,
        error_after,
        filter: spec.get("filter").and_then(Json::as_str).map(str::to_owned),
    }))
}
