//! `dvt docs generate`: `target/catalog.json`, what each database says about the
//! relations the project builds and reads (type, owner, comment, columns with their
//! declared types), asked once per (target, schema) on the target holding them.

use std::collections::BTreeMap;

use dvt_core::dialect::Dialect;
use dvt_core::manifest::{Manifest, Materialization, ResourceType};
use serde_json::{Map, Value as Json, json};

use crate::introspect::{table, text};
use crate::registry::TargetRegistry;

/// A relation to describe, under its (target, schema): unique id, identifier, and
/// whether it is a source.
type Wanted = (String, String, bool);

/// One relation as its database describes it.
#[derive(Debug, Default)]
struct Described {
    kind: String,
    comment: Json,
    owner: Json,
    columns: Map<String, Json>,
}

/// dbt's `catalog.json` for `m`'s models, seeds, snapshots and sources. A relation that
/// does not exist (not built yet) is left out, as dbt leaves it out; a target that
/// cannot be asked is named in `errors`.
pub async fn catalog_json(
    m: &Manifest,
    registry: &TargetRegistry,
    invocation_id: &str,
    generated_at: &str,
) -> Json {
    let mut wanted: BTreeMap<(String, String), Vec<Wanted>> = BTreeMap::new();
    for n in m.nodes.values() {
        let built = matches!(
            n.resource_type,
            ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
        ) && n.materialized != Materialization::Ephemeral;
        if built {
            wanted
                .entry((n.target.clone(), n.relation.schema.clone()))
                .or_default()
                .push((n.unique_id.clone(), n.relation.identifier.clone(), false));
        }
    }
    for s in m.sources.values() {
        wanted
            .entry((s.connection.clone(), s.relation.schema.clone()))
            .or_default()
            .push((s.unique_id.clone(), s.relation.identifier.clone(), true));
    }
    let mut nodes = Map::new();
    let mut sources = Map::new();
    let mut errors = Vec::new();
    for ((target, schema), relations) in wanted {
        let described = match describe_schema(registry, &target, &schema).await {
            Ok(d) => d,
            Err(e) => {
                errors.push(Json::from(format!(
                    "{target}.{schema}: {}: {}",
                    e.code(),
                    e.message_chain()
                )));
                continue;
            }
        };
        let database = m.target(&target).database();
        for (unique_id, identifier, is_source) in relations {
            let found = described.get(&identifier).or_else(|| {
                described
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&identifier))
                    .map(|(_, v)| v)
            });
            let Some(d) = found else {
                continue;
            };
            let entry = json!({
                "metadata": {
                    "type": d.kind,
                    "schema": schema,
                    "name": identifier,
                    "database": database,
                    "comment": d.comment,
                    "owner": d.owner,
                },
                "columns": d.columns,
                "stats": {"has_stats": {
                    "id": "has_stats",
                    "label": "Has Stats?",
                    "value": false,
                    "include": false,
                    "description": "Indicates whether there are statistics for this table",
                }},
                "unique_id": unique_id,
                "dvt": {"target": target},
            });
            if is_source {
                sources.insert(unique_id, entry);
            } else {
                nodes.insert(unique_id, entry);
            }
        }
    }
    let mut out = empty_catalog_json(invocation_id, generated_at);
    out["nodes"] = Json::Object(nodes);
    out["sources"] = Json::Object(sources);
    out["errors"] = if errors.is_empty() {
        Json::Null
    } else {
        Json::Array(errors)
    };
    out
}

/// A catalog with no relations (`dvt docs generate --empty-catalog`).
pub fn empty_catalog_json(invocation_id: &str, generated_at: &str) -> Json {
    json!({
        "metadata": dvt_core::artifacts::metadata(dvt_core::artifacts::CATALOG_SCHEMA, invocation_id, generated_at),
        "nodes": {},
        "sources": {},
        "errors": null,
    })
}

/// Every relation of `schema` on `target` with its columns.
async fn describe_schema(
    registry: &TargetRegistry,
    target: &str,
    schema: &str,
) -> crate::error::Result<BTreeMap<String, Described>> {
    let adapter = registry.adapter(target).await?;
    let lit = format!("'{}'", schema.replace('\'', "''"));
    // Columns: relation, type, comment, owner, column, column type, position, comment.
    let sql = match adapter.dialect() {
        Dialect::Postgres => format!(
            "select c.relname::text, case c.relkind when 'v' then 'VIEW' when 'm' then 'MATERIALIZED VIEW' else 'BASE TABLE' end, \
             obj_description(c.oid, 'pg_class'), pg_get_userbyid(c.relowner)::text, a.attname::text, \
             format_type(a.atttypid, a.atttypmod), a.attnum::int, col_description(c.oid, a.attnum) \
             from pg_class c join pg_namespace n on n.oid = c.relnamespace \
             join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped \
             where n.nspname = {lit} and c.relkind in ('r', 'v', 'm', 'p', 'f') order by 1, 7"
        ),
        Dialect::Mysql => format!(
            "select t.table_name, t.table_type, nullif(t.table_comment, ''), null, c.column_name, \
             c.column_type, c.ordinal_position, nullif(c.column_comment, '') \
             from information_schema.tables t join information_schema.columns c \
             on c.table_schema = t.table_schema and c.table_name = t.table_name \
             where t.table_schema = {lit} order by 1, 7"
        ),
        _ => "select m.name, case m.type when 'view' then 'VIEW' else 'BASE TABLE' end, null, null, \
              p.name, p.type, p.cid + 1, null from sqlite_master m join pragma_table_info(m.name) p \
              where m.type in ('table', 'view') and m.name not like 'sqlite_%' order by 1, 7"
            .to_owned(),
    };
    let batches = crate::federation::collect_stream(adapter.query(&sql).await?).await?;
    let mut out: BTreeMap<String, Described> = BTreeMap::new();
    for row in table(&batches).rows {
        let [
            relation,
            kind,
            comment,
            owner,
            column,
            column_type,
            index,
            column_comment,
        ] = row.as_slice()
        else {
            continue;
        };
        let d = out.entry(text(relation)).or_insert_with(|| Described {
            kind: text(kind),
            comment: comment.clone(),
            owner: owner.clone(),
            columns: Map::new(),
        });
        let name = text(column);
        d.columns.insert(
            name.clone(),
            json!({
                "type": text(column_type),
                "index": index,
                "name": name,
                "comment": column_comment,
            }),
        );
    }
    Ok(out)
}
