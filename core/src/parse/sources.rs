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
            sources.insert(
                unique_id.clone(),
                SourceTable {
                    unique_id,
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
                    description: t
                        .description
                        .clone()
                        .or(src.description.clone())
                        .unwrap_or_default(),
                    partition_by,
                    partitions,
                },
            );
        }
    }
    Ok(sources)
}
