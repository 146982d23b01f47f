//! `target/manifest.json` and `target/run_results.json` with dbt's field names.

use serde::Serialize;
use serde_json::{Map, Value as Json, json};

use crate::manifest::Manifest;

/// dbt's manifest schema version these artifacts follow.
pub const MANIFEST_SCHEMA: &str = "https://schemas.getdbt.com/dbt/manifest/v12.json";
/// dbt's run results schema version these artifacts follow.
pub const RUN_RESULTS_SCHEMA: &str = "https://schemas.getdbt.com/dbt/run-results/v6.json";
/// dbt's sources (freshness) schema version.
pub const SOURCES_SCHEMA: &str = "https://schemas.getdbt.com/dbt/sources/v3.json";
/// dbt's catalog schema version.
pub const CATALOG_SCHEMA: &str = "https://schemas.getdbt.com/dbt/catalog/v1.json";

/// The dbt release whose behaviour DVT matches, as Jinja's `dbt_version` answers.
pub const DBT_COMPATIBLE_VERSION: &str = "1.10.0";

/// The `metadata` block every dbt artifact starts with.
pub fn metadata(schema: &str, invocation_id: &str, generated_at: &str) -> Json {
    json!({
        "dbt_schema_version": schema,
        "dbt_version": concat!("dvt-", env!("CARGO_PKG_VERSION")),
        "generated_at": generated_at,
        "invocation_id": invocation_id,
        "env": {},
    })
}

/// A node's `config` as `manifest.json` writes it (with its materialization and target).
pub(crate) fn node_config(n: &crate::manifest::Node) -> Map<String, Json> {
    let mut config = n.config.clone();
    config
        .entry("materialized")
        .or_insert_with(|| json!(n.materialized.as_str()));
    config.insert("target".into(), json!(n.target));
    config
}

/// The manifest as dbt's `manifest.json` (nodes, sources, macros, functions, parent and
/// child maps).
/// Compiled SQL is added by the caller for the nodes it compiled.
pub fn manifest_json(m: &Manifest, invocation_id: &str, generated_at: &str) -> Json {
    let mut nodes = Map::new();
    let mut functions = Map::new();
    for (id, n) in &m.nodes {
        let target = m.target(&n.target);
        let config = node_config(n);
        let checksum = n.checksum(&m.project.root);
        let mut entry = json!({
                "unique_id": id,
                "resource_type": n.resource_type.as_str(),
                "name": n.name,
                "package_name": n.package_name,
                // dbt's `path` is below the resource folder (`staging/a.sql`).
                "path": crate::parse::node_path(m, n),
                "original_file_path": m.package_file_path(n),
                "patch_path": n.patch_path.as_ref().map(|p| m.file_id(p)),
                "fqn": n.fqn,
                "alias": n.relation.identifier,
                "schema": n.relation.schema,
                "database": n.relation.database,
                // Nothing builds an analysis: dbt names no relation.
                "relation_name": (n.resource_type != crate::manifest::ResourceType::Analysis)
                    .then(|| target.dialect().render(&n.relation)),
                "raw_code": n.raw_code,
                "checksum": {"name": checksum.0, "checksum": checksum.1},
                "language": "sql",
                "config": config,
                "tags": n.tags,
                "description": n.description,
                "columns": crate::parse::columns_shape(&n.columns),
                "refs": n.refs.iter().map(|r| json!({"name": r.name, "package": r.package, "version": r.version})).collect::<Vec<_>>(),
                "version": n.version,
                "latest_version": n.latest_version,
                "deprecation_date": n.deprecation_date,
                "sources": n.sources.iter().map(|(s, t)| json!([s, t])).collect::<Vec<_>>(),
                // dbt's shape: `[name]` or `[package, name]` per `function()` call.
                "functions": n.functions.iter().map(|c| match &c.package {
                    Some(p) => json!([p, c.name]),
                    None => json!([c.name]),
                }).collect::<Vec<_>>(),
                "depends_on": {"nodes": n.depends_on, "macros": n.macro_deps()},
                "dvt": {"target": n.target, "adapter_type": target.adapter_type().name(), "path": n.path.as_str(), "materialized": n.materialized.as_str()},
        });
        // dbt mirrors these configs on the node itself (tools read `node.meta`).
        let cfg = |key: &str, default: Json| n.config.get(key).cloned().unwrap_or(default);
        entry["meta"] = cfg("meta", json!({}));
        entry["docs"] = cfg("docs", json!({"show": true, "node_color": null}));
        entry["group"] = n.group();
        if n.resource_type == crate::manifest::ResourceType::Model {
            entry["access"] = cfg("access", json!("protected"));
            entry["time_spine"] = json!(n.time_spine);
            entry["constraints"] = json!(crate::parse::constraints_shape(&n.constraints, true));
            entry["contract"] = json!({
                "enforced": n.contract_enforced(),
                "alias_types": true,
                "checksum": null,
            });
        }
        crate::parse::drop_absent_keys(n, &mut entry);
        // dbt 1.11 writes functions under their own key, with their signature.
        if let Some(f) = &n.function {
            entry["config"]["type"] = json!("scalar");
            entry["config"]["volatility"] = json!(f.volatility.map(|v| v.as_str()));
            entry["arguments"] = f
                .arguments
                .iter()
                .map(|a| {
                    let mut arg = json!({"name": a.name, "data_type": a.data_type, "description": a.description});
                    if let Some(d) = &a.default_value {
                        arg["default_value"] = json!(d);
                    }
                    arg
                })
                .collect();
            entry["returns"] =
                json!({"data_type": f.returns, "description": f.returns_description});
            functions.insert(id.clone(), entry);
        } else {
            nodes.insert(id.clone(), entry);
        }
    }
    let sources: Map<String, Json> = m
        .sources
        .keys()
        .map(|id| (id.clone(), source_json(m, id)))
        .collect();
    let adapter = m.target(&m.default_target).adapter_type().name();
    let macros: Map<String, Json> = m
        .jinja
        .macro_dependencies(adapter)
        .into_iter()
        .map(|(def, depends_on)| {
            let id = def.unique_id();
            let file = m.package_relative(&def.package, &def.file);
            let entry = json!({
                "name": def.name,
                "resource_type": "macro",
                "package_name": def.package,
                "path": file,
                "original_file_path": file,
                "unique_id": id,
                "macro_sql": def.sql,
                "depends_on": {"macros": depends_on},
                "description": "",
                "meta": {},
                "docs": {"show": true, "node_color": null},
                "patch_path": null,
                "arguments": [],
                "supported_languages": null,
                "dvt": {"line": def.line},
            });
            (id, entry)
        })
        .collect();
    let map =
        |edges: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>| -> Json {
            Json::Object(
                edges
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v.iter().collect::<Vec<_>>())))
                    .collect(),
            )
        };
    // Exposures and the semantic layer are not in the build graph, but dbt's maps list
    // them.
    let (mut parents, mut children) = (m.graph.parents.clone(), m.graph.children.clone());
    for (id, depends_on) in m.outside_members() {
        parents.insert(id.clone(), depends_on.iter().cloned().collect());
        children.entry(id.clone()).or_default();
        for dep in depends_on {
            children.entry(dep.clone()).or_default().insert(id.clone());
        }
    }
    let exposures: Map<String, Json> = m
        .exposures
        .iter()
        .map(|(id, e)| (id.clone(), e.to_json(m)))
        .collect();
    let mut meta = metadata(MANIFEST_SCHEMA, invocation_id, generated_at);
    meta["project_name"] = json!(m.project.name);
    meta["adapter_type"] = json!(m.target(&m.default_target).adapter_type().name());
    json!({
        "metadata": meta,
        "nodes": nodes,
        "sources": sources,
        "macros": macros,
        "functions": functions,
        "exposures": exposures,
        "metrics": m.semantic_json("metric"),
        "semantic_models": m.semantic_json("semantic_model"),
        "saved_queries": m.semantic_json("saved_query"),
        "groups": m.groups,
        "selectors": m.selectors.to_json(),
        "disabled": {},
        "parent_map": map(&parents),
        "child_map": map(&children),
    })
}

/// Source table `id` as `manifest.json` writes it.
pub(crate) fn source_json(m: &Manifest, id: &str) -> Json {
    let Some(s) = m.sources.get(id) else {
        return Json::Null;
    };
    json!({
        "unique_id": id,
        "resource_type": "source",
        "source_name": s.source_name,
        "name": s.name,
        "package_name": s.package_name,
        "fqn": s.fqn,
        "tags": s.tags,
        "identifier": s.relation.identifier,
        "schema": s.relation.schema,
        "database": s.relation.database,
        "original_file_path": m.package_relative(&s.package_name, &s.original_file_path),
        "description": s.description,
        "source_description": s.source_description,
        "loaded_at_field": s.freshness.as_ref().and_then(|f| f.loaded_at_field.clone()),
        "relation_name": m.target(&s.connection).dialect().render(&s.relation),
        "dvt": {"connection": s.connection},
    })
}

/// `semantic_manifest.json`, what MetricFlow reads: the semantic models, metrics and
/// saved queries as `manifest.json` has them, less what MetricFlow does not take, and
/// the project's time spines.
pub fn semantic_manifest_json(m: &Manifest) -> Json {
    let pick = |j: &Json, keys: &[&str]| -> Json {
        Json::Object(
            keys.iter()
                .map(|k| ((*k).to_owned(), j.get(*k).cloned().unwrap_or(Json::Null)))
                .collect(),
        )
    };
    let each = |list: &Json, keys: &[&str]| -> Json {
        Json::Array(
            list.as_array()
                .into_iter()
                .flatten()
                .map(|item| pick(item, keys))
                .collect(),
        )
    };
    let meta_only = |j: &Json| json!({"meta": j["config"]["meta"].clone()});
    let mut semantic_models = Vec::new();
    let mut metrics = Vec::new();
    let mut saved_queries = Vec::new();
    for n in m.semantic.values() {
        let j = m.semantic_entry(n);
        match n.resource_type {
            "semantic_model" => {
                let mut out = pick(
                    &j,
                    &[
                        "name",
                        "defaults",
                        "description",
                        "node_relation",
                        "primary_entity",
                        "label",
                        "metadata",
                    ],
                );
                out["entities"] = each(
                    &j["entities"],
                    &[
                        "name",
                        "description",
                        "type",
                        "role",
                        "expr",
                        "metadata",
                        "label",
                        "config",
                    ],
                );
                out["measures"] = each(
                    &j["measures"],
                    &[
                        "name",
                        "agg",
                        "description",
                        "create_metric",
                        "expr",
                        "agg_params",
                        "metadata",
                        "non_additive_dimension",
                        "agg_time_dimension",
                        "label",
                        "config",
                    ],
                );
                out["dimensions"] = each(
                    &j["dimensions"],
                    &[
                        "name",
                        "description",
                        "type",
                        "is_partition",
                        "type_params",
                        "expr",
                        "metadata",
                        "label",
                        "config",
                    ],
                );
                out["config"] = meta_only(&j);
                semantic_models.push(out);
            }
            "metric" => {
                let mut out = pick(
                    &j,
                    &[
                        "name",
                        "description",
                        "type",
                        "filter",
                        "metadata",
                        "label",
                        "time_granularity",
                    ],
                );
                out["type_params"] = pick(
                    &j["type_params"],
                    &[
                        "measure",
                        "numerator",
                        "denominator",
                        "expr",
                        "window",
                        "grain_to_date",
                        "metrics",
                        "conversion_type_params",
                        "cumulative_type_params",
                        "input_measures",
                    ],
                );
                // MetricFlow's cumulative parameters have no `metric`.
                if let Some(c) = out["type_params"]["cumulative_type_params"].as_object_mut() {
                    c.remove("metric");
                }
                out["config"] = meta_only(&j);
                metrics.push(out);
            }
            _ => {
                let mut out = pick(
                    &j,
                    &[
                        "name",
                        "query_params",
                        "description",
                        "metadata",
                        "label",
                        "tags",
                    ],
                );
                let exports: Vec<Json> = j["exports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| {
                        json!({
                            "name": e["name"],
                            "config": pick(&e["config"], &["export_as", "schema_name", "alias"]),
                        })
                    })
                    .collect();
                out["exports"] = json!(exports);
                saved_queries.push(out);
            }
        }
    }
    let relation = |n: &crate::manifest::Node| {
        json!({
            "alias": n.relation.identifier,
            "schema_name": n.relation.schema,
            "database": n.relation.database,
            "relation_name": m.target(&n.target).dialect().render(&n.relation),
        })
    };
    let mut time_spines = Vec::new();
    for n in m.nodes.values() {
        if let Some((column, grain)) = crate::parse::semantic::time_spine_column(n) {
            let custom: Vec<Json> = n
                .time_spine
                .as_ref()
                .and_then(|t| t.get("custom_granularities"))
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .map(|c| json!({"name": c.get("name"), "column_name": c.get("column_name")}))
                .collect();
            time_spines.push(json!({
                "node_relation": relation(n),
                "primary_column": {"name": column, "time_granularity": grain},
                "custom_granularities": custom,
            }));
        }
    }
    // dbt keeps the legacy `metricflow_time_spine` model for MetricFlow's older readers.
    let legacy: Vec<Json> = if semantic_models.is_empty() {
        Vec::new()
    } else {
        m.nodes
            .values()
            .filter(|n| n.name == "metricflow_time_spine" && n.package_name == m.project.name)
            .map(|n| {
                json!({
                    "location": m.target(&n.target).dialect().render(&n.relation),
                    "column_name": "date_day",
                    "grain": "day",
                })
            })
            .take(1)
            .collect()
    };
    json!({
        "semantic_models": semantic_models,
        "metrics": metrics,
        "project_configuration": {
            "time_spine_table_configurations": legacy,
            "metadata": null,
            "dsi_package_version": {"major_version": "0", "minor_version": "9", "patch_version": "0"},
            "time_spines": time_spines,
        },
        "saved_queries": saved_queries,
    })
}

/// Status of one node in `run_results.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Built.
    Success,
    /// Failed.
    Error,
    /// Not run because an upstream node failed.
    Skipped,
    /// A test found no failing rows (or fewer than `warn_if`/`error_if` allow).
    Pass,
    /// A test found failing rows at severity `warn`.
    Warn,
    /// A test found failing rows at severity `error`.
    Fail,
    /// Nothing to do: an exposure in `dvt build`, as dbt 1.10 records it.
    #[serde(rename = "no-op")]
    NoOp,
}

/// One entry of `run_results.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// Node id.
    pub unique_id: String,
    /// Outcome.
    pub status: RunStatus,
    /// Seconds.
    pub execution_time: f64,
    /// `Thread-N`.
    pub thread_id: String,
    /// Message (error text with its code, or `OK`).
    pub message: Option<String>,
    /// Rows written, when known.
    pub rows_affected: Option<u64>,
    /// A test's failing rows (its `fail_calc`).
    pub failures: Option<u64>,
    /// The compiled SQL, when compiled.
    pub compiled_code: Option<String>,
    /// The rendered relation.
    pub relation_name: Option<String>,
    /// `pushdown`, `federated` or `seed`.
    pub path: String,
    /// The target it ran on.
    pub target: String,
    /// Start time (RFC 3339).
    pub started_at: String,
    /// When its compilation ended (RFC 3339), where it compiles.
    pub compiled_at: Option<String>,
    /// End time (RFC 3339).
    pub completed_at: String,
}

/// `run_results.json`.
pub fn run_results_json(
    results: &[RunResult],
    elapsed: f64,
    args: Json,
    invocation_id: &str,
    generated_at: &str,
) -> Json {
    let results: Vec<Json> = results.iter().map(result_json).collect();
    json!({
        "metadata": metadata(RUN_RESULTS_SCHEMA, invocation_id, generated_at),
        "results": results,
        "elapsed_time": elapsed,
        "args": args,
    })
}

/// One result as `run_results.json` writes it (and `on-run-end` hooks read it, with the
/// node added).
pub fn result_json(r: &RunResult) -> Json {
    json!({
                "unique_id": r.unique_id,
                "status": r.status,
                // dbt lists a `compile` stage, then `execute` from its end (code reading
                // `timing`, dbt_artifacts', emits a value per stage). A node that does
                // not compile (a seed) has a compile stage taking no time.
                "timing": [
                    {"name": "compile", "started_at": r.started_at, "completed_at": r.compiled_at.as_ref().unwrap_or(&r.started_at)},
                    {"name": "execute", "started_at": r.compiled_at.as_ref().unwrap_or(&r.started_at), "completed_at": r.completed_at},
                ],
                "thread_id": r.thread_id,
                "execution_time": r.execution_time,
                "adapter_response": match r.rows_affected {
                    Some(n) => json!({"rows_affected": n, "_message": format!("OK {n}")}),
                    None => json!({}),
                },
                "message": r.message,
                "failures": r.failures,
                "compiled": r.compiled_code.is_some(),
                "compiled_code": r.compiled_code,
                "relation_name": r.relation_name,
                "dvt": {"path": r.path, "target": r.target},
    })
}
