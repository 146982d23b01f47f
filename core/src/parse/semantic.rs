//! dbt's semantic layer resources: `semantic_models:`, `metrics:` and `saved_queries:` in
//! property YAML. Nothing builds them (dbt-core does not either; MetricFlow queries
//! them); they are parsed into dbt's shapes so `manifest.json`, `graph.metrics` and
//! friends, selection (`metric:`, `+semantic_model:x`) and `dvt ls` see them, and their
//! references (a semantic model's `model:`, a metric's measure or input metrics, a saved
//! query's metrics) are checked at parse, with the line of the entry at fault.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value as Json, json};

use super::YamlEntry;
use super::deps::{CallText, call_text};
use super::models::Names;
use crate::error::{Error, Location, Result};
use crate::project::as_string_list;
use crate::yaml::PathSeg;

/// The entries of one project's property files, by section.
#[derive(Default)]
pub(super) struct Decls {
    pub(super) semantic_models: Vec<YamlEntry>,
    pub(super) metrics: Vec<YamlEntry>,
    pub(super) saved_queries: Vec<YamlEntry>,
}

/// A semantic model, metric or saved query.
#[derive(Debug, Clone)]
pub struct SemanticNode {
    /// `semantic_model.<package>.<name>`, `metric...`, `saved_query...`.
    pub unique_id: String,
    /// `semantic_model`, `metric` or `saved_query`.
    pub resource_type: &'static str,
    /// Its name.
    pub name: String,
    /// The project or package declaring it.
    pub package_name: String,
    /// The property file.
    pub original_file_path: PathBuf,
    /// `[package, name]`.
    pub fqn: Vec<String>,
    /// `tags:`.
    pub tags: Vec<String>,
    /// What it reads: a semantic model its model, a metric the semantic models of its
    /// measures or its input metrics, a saved query its metrics.
    pub depends_on: Vec<String>,
    /// A semantic model's model (for `node_relation`, which depends on where the model
    /// is built).
    pub model: Option<String>,
    /// dbt's `manifest.json` entry, but for `node_relation` and an export's database.
    pub json: Json,
}

struct Cx<'a> {
    d: &'a YamlEntry,
    section: &'static str,
}

impl Cx<'_> {
    fn at(&self, path: &[PathSeg<'_>]) -> Location {
        self.d.at(self.section, path)
    }

    fn bad(&self, path: &[PathSeg<'_>], key: &str, message: String) -> Error {
        Error::InvalidConfig {
            location: self.at(path),
            key: key.into(),
            message,
        }
    }

    fn get(&self, key: &str) -> Option<&Json> {
        self.d.spec.get(key).filter(|v| !v.is_null())
    }

    fn text(&self, key: &str) -> Option<String> {
        self.get(key).and_then(Json::as_str).map(str::to_owned)
    }

    fn name(&self, kind: &str) -> Result<String> {
        self.text("name")
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| self.bad(&[], "name", format!("a {kind} needs a `name`")))
    }

    fn config(&self) -> Map<String, Json> {
        self.get("config")
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default()
    }

    fn enabled(&self) -> bool {
        self.config().get("enabled") != Some(&Json::Bool(false))
    }

    fn group(&self) -> Json {
        self.get("group")
            .or_else(|| self.d.spec.get("config").and_then(|c| c.get("group")))
            .cloned()
            .unwrap_or(Json::Null)
    }

    fn common(&self, resource_type: &str, name: &str) -> Map<String, Json> {
        let mut j = Map::new();
        j.insert("name".into(), json!(name));
        j.insert("resource_type".into(), json!(resource_type));
        j.insert("package_name".into(), json!(self.d.package));
        j.insert(
            "path".into(),
            json!(super::below_resource_folder(&self.d.file)),
        );
        j.insert("original_file_path".into(), json!(self.d.file));
        j.insert(
            "unique_id".into(),
            json!(format!("{resource_type}.{}.{name}", self.d.package)),
        );
        j.insert("fqn".into(), json!(self.fqn(name)));
        j
    }

    fn fqn(&self, name: &str) -> Vec<String> {
        let mut fqn = self.d.fqn_prefix.clone();
        fqn.push(name.to_owned());
        fqn
    }

    fn node(
        &self,
        resource_type: &'static str,
        name: String,
        json: Map<String, Json>,
    ) -> SemanticNode {
        let tags = self
            .get("tags")
            .or_else(|| self.d.spec.get("config").and_then(|c| c.get("tags")))
            .map(as_string_list)
            .unwrap_or_default();
        SemanticNode {
            fqn: self.fqn(&name),
            unique_id: format!("{resource_type}.{}.{name}", self.d.package),
            resource_type,
            name,
            package_name: self.d.package.clone(),
            original_file_path: self.d.file.clone(),
            tags,
            depends_on: Vec::new(),
            model: None,
            json: Json::Object(json),
        }
    }
}

fn config_json(cx: &Cx<'_>) -> Json {
    let config = cx.config();
    json!({
        "enabled": true,
        "group": cx.group(),
        "meta": config.get("meta").cloned().unwrap_or_else(|| json!({})),
    })
}

/// An element's `config: {meta}` (its own `meta:` or its config's).
fn element_config(v: &Json) -> Json {
    let meta = v
        .get("meta")
        .or_else(|| v.get("config").and_then(|c| c.get("meta")))
        .cloned()
        .unwrap_or_else(|| json!({}));
    json!({ "meta": meta })
}

/// Fills `keys` of `v` (a mapping) with null where absent, in that order.
fn shaped(v: &Json, keys: &[&str]) -> Map<String, Json> {
    keys.iter()
        .map(|k| ((*k).to_owned(), v.get(*k).cloned().unwrap_or(Json::Null)))
        .collect()
}

/// A scalar as the text dbt keeps (`expr: 1` is `"1"`).
fn scalar_text(v: Option<&Json>) -> Json {
    match v {
        None | Some(Json::Null) => Json::Null,
        Some(Json::String(s)) => json!(s),
        Some(other) => json!(other.to_string()),
    }
}

/// dbt's `WhereFilterIntersection`: one filter or a list of them.
fn filter(v: Option<&Json>) -> Json {
    let templates: Vec<Json> = match v {
        None | Some(Json::Null) => return Json::Null,
        Some(Json::Array(items)) => items.iter().map(|i| scalar_text(Some(i))).collect(),
        Some(other) => vec![scalar_text(Some(other))],
    };
    json!({ "where_filters": templates.into_iter().map(|t| json!({"where_sql_template": t})).collect::<Vec<_>>() })
}

/// `7 days` as `{count: 7, granularity: day}`.
fn window(cx: &Cx<'_>, v: Option<&Json>, path: &[PathSeg<'_>]) -> Result<Json> {
    let Some(text) = v.filter(|v| !v.is_null()) else {
        return Ok(Json::Null);
    };
    let text = text
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| text.to_string());
    let parts: Vec<&str> = text.split_whitespace().collect();
    let parsed = match parts.as_slice() {
        [count, unit] => count.parse::<u64>().ok().map(|c| (c, *unit)),
        _ => None,
    };
    let Some((count, unit)) = parsed else {
        return Err(cx.bad(
            path,
            "window",
            format!("`{text}` is not a window like `7 days` or `1 month`"),
        ));
    };
    let unit = unit.to_ascii_lowercase();
    let granularity = unit.strip_suffix('s').unwrap_or(&unit);
    Ok(json!({"count": count, "granularity": granularity}))
}

fn measure_input(v: &Json) -> Json {
    let (name, spec) = match v {
        Json::String(s) => (json!(s), &Json::Null),
        other => (other.get("name").cloned().unwrap_or(Json::Null), other),
    };
    json!({
        "name": name,
        "filter": filter(spec.get("filter")),
        "alias": spec.get("alias").cloned().unwrap_or(Json::Null),
        "join_to_timespine": spec.get("join_to_timespine").cloned().unwrap_or(json!(false)),
        "fill_nulls_with": spec.get("fill_nulls_with").cloned().unwrap_or(Json::Null),
    })
}

fn metric_input(cx: &Cx<'_>, v: &Json, path: &[PathSeg<'_>]) -> Result<Json> {
    let (name, spec) = match v {
        Json::String(s) => (json!(s), &Json::Null),
        other => (other.get("name").cloned().unwrap_or(Json::Null), other),
    };
    Ok(json!({
        "name": name,
        "filter": filter(spec.get("filter")),
        "alias": spec.get("alias").cloned().unwrap_or(Json::Null),
        "offset_window": window(cx, spec.get("offset_window"), path)?,
        "offset_to_grain": spec.get("offset_to_grain").cloned().unwrap_or(Json::Null),
    }))
}

/// Every semantic model, metric and saved query of `decls`, checked and in dbt's
/// shape. `names` resolves a semantic model's `ref()`.
pub(super) fn resolve(decls: &Decls, names: &Names) -> Result<BTreeMap<String, SemanticNode>> {
    let mut out = BTreeMap::new();
    // Measure name -> (its semantic model's unique id, package).
    let mut measures: BTreeMap<String, String> = BTreeMap::new();
    let mut created = Vec::new();
    for d in &decls.semantic_models {
        let cx = Cx {
            d,
            section: "semantic_models",
        };
        let name = cx.name("semantic model")?;
        if !cx.enabled() {
            continue;
        }
        let model_text = cx.text("model").unwrap_or_default();
        let Some(CallText::Ref(call)) = call_text(&model_text) else {
            return Err(cx.bad(
                &[PathSeg::Key("model")],
                "model",
                format!(
                    "semantic model `{name}` needs `model: ref('<model>')`, found `{model_text}`"
                ),
            ));
        };
        let unique_id = format!("semantic_model.{}.{name}", d.package);
        let Ok(model_id) = names.resolve(&call, &d.package).cloned() else {
            return Err(Error::UnknownRef {
                location: cx.at(&[PathSeg::Key("model")]),
                node: unique_id,
                name: call.name,
                hint: String::new(),
            });
        };
        let list = |key: &str| -> Vec<Json> {
            cx.get(key)
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let entities: Vec<Json> = list("entities")
            .iter()
            .map(|e| {
                let mut j = shaped(e, &["name", "type", "description", "label", "role"]);
                j.insert("expr".into(), scalar_text(e.get("expr")));
                j.insert("config".into(), element_config(e));
                Json::Object(j)
            })
            .collect();
        let mut measure_json = Vec::new();
        for (i, m) in list("measures").iter().enumerate() {
            let Some(measure) = m.get("name").and_then(Json::as_str) else {
                return Err(cx.bad(
                    &[PathSeg::Key("measures"), PathSeg::Index(i)],
                    "measures",
                    "a measure needs a `name`".into(),
                ));
            };
            if let Some(first) = measures.get(measure) {
                return Err(cx.bad(
                    &[PathSeg::Key("measures"), PathSeg::Index(i), PathSeg::Key("name")],
                    "measures",
                    format!("measure `{measure}` is also defined by `{first}`; measure names are unique in a project"),
                ));
            }
            measures.insert(measure.to_owned(), unique_id.clone());
            let mut j = shaped(m, &["name", "agg", "description", "label"]);
            // dbt turns `create_metric: true` into a metric and records the measure
            // as not creating one.
            j.insert("create_metric".into(), json!(false));
            j.insert("expr".into(), scalar_text(m.get("expr")));
            for k in ["agg_params", "non_additive_dimension", "agg_time_dimension"] {
                j.insert(k.into(), m.get(k).cloned().unwrap_or(Json::Null));
            }
            j.insert("config".into(), element_config(m));
            measure_json.push(Json::Object(j));
            if m.get("create_metric") == Some(&Json::Bool(true)) {
                created.push((measure.to_owned(), d));
            }
        }
        let dimensions: Vec<Json> = list("dimensions")
            .iter()
            .map(|dim| {
                let mut j = shaped(dim, &["name", "type", "description", "label"]);
                j.insert(
                    "is_partition".into(),
                    dim.get("is_partition").cloned().unwrap_or(json!(false)),
                );
                let type_params = dim.get("type_params").filter(|t| !t.is_null()).map(|t| {
                    json!({
                        "time_granularity": t.get("time_granularity").cloned().unwrap_or(Json::Null),
                        "validity_params": t.get("validity_params").cloned().unwrap_or(Json::Null),
                    })
                });
                j.insert("type_params".into(), type_params.unwrap_or(Json::Null));
                j.insert("expr".into(), scalar_text(dim.get("expr")));
                j.insert("metadata".into(), Json::Null);
                j.insert("config".into(), element_config(dim));
                Json::Object(j)
            })
            .collect();
        let mut j = cx.common("semantic_model", &name);
        j.insert("model".into(), json!(model_text));
        j.insert(
            "description".into(),
            cx.get("description").cloned().unwrap_or(Json::Null),
        );
        j.insert(
            "label".into(),
            cx.get("label").cloned().unwrap_or(Json::Null),
        );
        j.insert(
            "defaults".into(),
            cx.get("defaults").cloned().unwrap_or(Json::Null),
        );
        j.insert("entities".into(), json!(entities));
        j.insert("measures".into(), json!(measure_json));
        j.insert("dimensions".into(), json!(dimensions));
        j.insert("metadata".into(), Json::Null);
        j.insert(
            "depends_on".into(),
            json!({"macros": [], "nodes": [model_id]}),
        );
        j.insert(
            "refs".into(),
            json!([{"name": call.name, "package": call.package, "version": call.version}]),
        );
        j.insert("config".into(), config_json(&cx));
        j.insert("unrendered_config".into(), json!({}));
        j.insert(
            "primary_entity".into(),
            cx.get("primary_entity").cloned().unwrap_or(Json::Null),
        );
        j.insert("group".into(), cx.group());
        let mut node = cx.node("semantic_model", name, j);
        node.depends_on = vec![model_id.clone()];
        node.model = Some(model_id);
        if out.insert(node.unique_id.clone(), node).is_some() {
            return Err(cx.bad(
                &[PathSeg::Key("name")],
                "name",
                format!("a second semantic model named `{}`", d.spec["name"]),
            ));
        }
    }

    // Metrics in two passes: their shapes first, then what ratio and derived metrics
    // read, which may be declared after them.
    let mut metrics: BTreeMap<String, (Cx<'_>, Map<String, Json>)> = BTreeMap::new();
    for d in &decls.metrics {
        let cx = Cx {
            d,
            section: "metrics",
        };
        let name = cx.name("metric")?;
        if !cx.enabled() {
            continue;
        }
        if metrics.contains_key(&name) {
            return Err(cx.bad(
                &[PathSeg::Key("name")],
                "name",
                format!("a second metric named `{name}`"),
            ));
        }
        let kind = cx.text("type").unwrap_or_default().to_ascii_lowercase();
        if !matches!(
            kind.as_str(),
            "simple" | "ratio" | "cumulative" | "derived" | "conversion"
        ) {
            return Err(cx.bad(
                &[PathSeg::Key("type")],
                "type",
                format!("metric `{name}` needs a `type:` of simple, ratio, cumulative, derived or conversion, found `{kind}`"),
            ));
        }
        let tp = cx.get("type_params").cloned().unwrap_or_else(|| json!({}));
        let tp_at = |k: &'static str| [PathSeg::Key("type_params"), PathSeg::Key(k)];
        let measure = tp
            .get("measure")
            .filter(|m| !m.is_null())
            .map(measure_input);
        if matches!(kind.as_str(), "simple" | "cumulative") && measure.is_none() {
            return Err(cx.bad(
                &tp_at("measure"),
                "type_params",
                format!("{kind} metric `{name}` needs `type_params.measure`"),
            ));
        }
        let input = |k: &'static str| -> Result<Json> {
            match tp.get(k).filter(|v| !v.is_null()) {
                Some(v) => metric_input(&cx, v, &tp_at(k)),
                None => Ok(Json::Null),
            }
        };
        let numerator = input("numerator")?;
        let denominator = input("denominator")?;
        if kind == "ratio" && (numerator.is_null() || denominator.is_null()) {
            return Err(cx.bad(
                &tp_at("numerator"),
                "type_params",
                format!("ratio metric `{name}` needs `numerator` and `denominator`"),
            ));
        }
        let mut inputs = Vec::new();
        for (i, v) in tp
            .get("metrics")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            inputs.push(metric_input(
                &cx,
                v,
                &[
                    PathSeg::Key("type_params"),
                    PathSeg::Key("metrics"),
                    PathSeg::Index(i),
                ],
            )?);
        }
        if kind == "derived" && (inputs.is_empty() || tp.get("expr").is_none()) {
            return Err(cx.bad(
                &tp_at("metrics"),
                "type_params",
                format!("derived metric `{name}` needs `expr` and `metrics`"),
            ));
        }
        let cumulative = match tp.get("cumulative_type_params").filter(|c| !c.is_null()) {
            Some(c) => json!({
                "window": window(&cx, c.get("window").or(tp.get("window")), &tp_at("cumulative_type_params"))?,
                "grain_to_date": c.get("grain_to_date").or(tp.get("grain_to_date")).cloned().unwrap_or(Json::Null),
                "period_agg": c.get("period_agg").cloned().unwrap_or(json!("first")),
                "metric": Json::Null,
            }),
            // dbt gives every cumulative metric these, the legacy `window` and
            // `grain_to_date` of `type_params` moved in.
            None if kind == "cumulative" => json!({
                "window": window(&cx, tp.get("window"), &tp_at("window"))?,
                "grain_to_date": tp.get("grain_to_date").cloned().unwrap_or(Json::Null),
                "period_agg": "first",
                "metric": Json::Null,
            }),
            None => Json::Null,
        };
        let conversion = match tp.get("conversion_type_params").filter(|c| !c.is_null()) {
            Some(c) => json!({
                "base_measure": c.get("base_measure").map(measure_input).unwrap_or(Json::Null),
                "conversion_measure": c.get("conversion_measure").map(measure_input).unwrap_or(Json::Null),
                "entity": c.get("entity").cloned().unwrap_or(Json::Null),
                "calculation": c.get("calculation").cloned().unwrap_or(json!("conversion_rate")),
                "window": window(&cx, c.get("window"), &tp_at("conversion_type_params"))?,
                "constant_properties": c.get("constant_properties").cloned().unwrap_or(Json::Null),
            }),
            None => Json::Null,
        };
        let type_params = json!({
            "measure": measure.clone().unwrap_or(Json::Null),
            "input_measures": [],
            "numerator": numerator,
            "denominator": denominator,
            "expr": scalar_text(tp.get("expr")),
            "window": window(&cx, tp.get("window"), &tp_at("window"))?,
            "grain_to_date": tp.get("grain_to_date").cloned().unwrap_or(Json::Null),
            "metrics": inputs,
            "conversion_type_params": conversion,
            "cumulative_type_params": cumulative,
            "metric_aggregation_params": Json::Null,
        });
        let mut j = cx.common("metric", &name);
        j.insert(
            "description".into(),
            json!(cx.text("description").unwrap_or_default()),
        );
        j.insert(
            "label".into(),
            cx.get("label").cloned().unwrap_or(Json::Null),
        );
        j.insert("type".into(), json!(kind));
        j.insert("type_params".into(), type_params);
        j.insert("filter".into(), filter(cx.get("filter")));
        j.insert("metadata".into(), Json::Null);
        j.insert(
            "time_granularity".into(),
            cx.get("time_granularity").cloned().unwrap_or(Json::Null),
        );
        j.insert(
            "meta".into(),
            cx.get("meta").cloned().unwrap_or_else(|| json!({})),
        );
        j.insert(
            "tags".into(),
            json!(cx.get("tags").map(as_string_list).unwrap_or_default()),
        );
        j.insert("config".into(), config_json(&cx));
        j.insert("unrendered_config".into(), json!({}));
        j.insert("sources".into(), json!([]));
        j.insert("depends_on".into(), json!({"macros": [], "nodes": []}));
        j.insert("refs".into(), json!([]));
        j.insert("metrics".into(), json!([]));
        j.insert("group".into(), cx.group());
        metrics.insert(name, (cx, j));
    }
    for (measure, d) in created {
        if metrics.contains_key(&measure) {
            continue;
        }
        let cx = Cx {
            d,
            section: "semantic_models",
        };
        let mut j = cx.common("metric", &measure);
        j.insert(
            "description".into(),
            json!(format!("Metric created from measure {measure}")),
        );
        j.insert("label".into(), json!(measure));
        j.insert("type".into(), json!("simple"));
        j.insert(
            "type_params".into(),
            json!({
                "measure": measure_input(&json!(measure)), "input_measures": [],
                "numerator": null, "denominator": null, "expr": measure, "window": null,
                "grain_to_date": null, "metrics": [], "conversion_type_params": null,
                "cumulative_type_params": null, "metric_aggregation_params": null,
            }),
        );
        for (k, v) in [
            ("filter", Json::Null),
            ("metadata", Json::Null),
            ("time_granularity", Json::Null),
            ("meta", json!({})),
            ("tags", json!([])),
            (
                "config",
                json!({"enabled": true, "group": null, "meta": {}}),
            ),
            ("unrendered_config", json!({"enabled": true})),
            ("sources", json!([])),
            ("depends_on", json!({"macros": [], "nodes": []})),
            ("refs", json!([])),
            ("metrics", json!([])),
            ("group", Json::Null),
        ] {
            j.insert(k.into(), v);
        }
        metrics.insert(measure, (cx, j));
    }
    // What each metric reads and the measures underneath it, in dbt's order.
    let names_only: Vec<String> = metrics.keys().cloned().collect();
    let mut resolved: BTreeMap<String, (Vec<String>, Vec<Json>)> = BTreeMap::new();
    for name in &names_only {
        resolve_metric(name, &metrics, &measures, &mut resolved, &mut Vec::new())?;
    }
    for (name, (cx, mut j)) in metrics {
        let (depends_on, input_measures) = resolved.remove(&name).unwrap_or_default();
        j["type_params"]["input_measures"] = json!(input_measures);
        j["depends_on"]["nodes"] = json!(depends_on);
        let mut node = cx.node("metric", name, j);
        node.depends_on = depends_on;
        out.insert(node.unique_id.clone(), node);
    }

    for d in &decls.saved_queries {
        let cx = Cx {
            d,
            section: "saved_queries",
        };
        let name = cx.name("saved query")?;
        if !cx.enabled() {
            continue;
        }
        let qp = cx.get("query_params").cloned().unwrap_or_else(|| json!({}));
        let mut depends_on = Vec::new();
        let wanted = qp.get("metrics").map(as_string_list).unwrap_or_default();
        for (i, metric) in wanted.iter().enumerate() {
            let id = out
                .values()
                .find(|n| n.resource_type == "metric" && n.name == *metric)
                .map(|n| n.unique_id.clone());
            let Some(id) = id else {
                return Err(cx.bad(
                    &[
                        PathSeg::Key("query_params"),
                        PathSeg::Key("metrics"),
                        PathSeg::Index(i),
                    ],
                    "query_params",
                    format!("saved query `{name}` names metric `{metric}`, which is not defined"),
                ));
            };
            if !depends_on.contains(&id) {
                depends_on.push(id);
            }
        }
        let config = cx.config();
        let exports: Vec<Json> = cx
            .get("exports")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .map(|e| {
                let written = e.get("config").cloned().unwrap_or_else(|| json!({}));
                json!({
                    "name": e.get("name").cloned().unwrap_or(Json::Null),
                    "config": {
                        "export_as": written.get("export_as").or_else(|| config.get("export_as")).cloned().unwrap_or(Json::Null),
                        "schema_name": written.get("schema").or_else(|| config.get("schema")).cloned().unwrap_or(Json::Null),
                        "alias": written.get("alias").or_else(|| e.get("name")).cloned().unwrap_or(Json::Null),
                        "database": Json::Null,
                    },
                    "unrendered_config": written,
                })
            })
            .collect();
        let mut j = cx.common("saved_query", &name);
        j.insert(
            "query_params".into(),
            json!({
                "metrics": wanted,
                "group_by": qp.get("group_by").map(as_string_list).unwrap_or_default(),
                "where": filter(qp.get("where")),
                "order_by": qp.get("order_by").map(as_string_list).unwrap_or_default(),
                "limit": qp.get("limit").cloned().unwrap_or(Json::Null),
            }),
        );
        j.insert("exports".into(), json!(exports));
        j.insert(
            "description".into(),
            cx.get("description").cloned().unwrap_or(Json::Null),
        );
        j.insert(
            "label".into(),
            cx.get("label").cloned().unwrap_or(Json::Null),
        );
        j.insert("metadata".into(), Json::Null);
        let mut cfg = config_json(&cx);
        cfg["export_as"] = config.get("export_as").cloned().unwrap_or(Json::Null);
        cfg["schema"] = config.get("schema").cloned().unwrap_or(Json::Null);
        cfg["cache"] = config
            .get("cache")
            .cloned()
            .unwrap_or_else(|| json!({"enabled": false}));
        j.insert("config".into(), cfg);
        j.insert("unrendered_config".into(), json!({}));
        j.insert("group".into(), cx.group());
        j.insert(
            "depends_on".into(),
            json!({"macros": [], "nodes": depends_on}),
        );
        j.insert("refs".into(), json!([]));
        j.insert(
            "tags".into(),
            json!(cx.get("tags").map(as_string_list).unwrap_or_default()),
        );
        let mut node = cx.node("saved_query", name, j);
        node.depends_on = depends_on;
        out.insert(node.unique_id.clone(), node);
    }
    Ok(out)
}

/// The nodes metric `name` reads and the measures underneath it, memoised in `done`.
fn resolve_metric(
    name: &str,
    metrics: &BTreeMap<String, (Cx<'_>, Map<String, Json>)>,
    measures: &BTreeMap<String, String>,
    done: &mut BTreeMap<String, (Vec<String>, Vec<Json>)>,
    stack: &mut Vec<String>,
) -> Result<()> {
    if done.contains_key(name) {
        return Ok(());
    }
    let (cx, j) = &metrics[name];
    if stack.iter().any(|s| s == name) {
        return Err(cx.bad(
            &[PathSeg::Key("type_params")],
            "type_params",
            format!(
                "metric `{name}` reads itself through {}",
                stack.join(" -> ")
            ),
        ));
    }
    stack.push(name.to_owned());
    let tp = &j["type_params"];
    let mut depends_on: Vec<String> = Vec::new();
    let mut input_measures: Vec<Json> = Vec::new();
    let mut push_measure = |m: &Json, depends_on: &mut Vec<String>| -> Result<()> {
        let measure = m["name"].as_str().unwrap_or_default();
        let Some(model) = measures.get(measure) else {
            return Err(cx.bad(
                &[PathSeg::Key("type_params")],
                "type_params",
                format!(
                    "metric `{name}` reads measure `{measure}`, which no semantic model defines"
                ),
            ));
        };
        if !depends_on.contains(model) {
            depends_on.push(model.clone());
        }
        if !input_measures.contains(m) {
            input_measures.push(m.clone());
        }
        Ok(())
    };
    for m in [
        &tp["measure"],
        &tp["conversion_type_params"]["base_measure"],
        &tp["conversion_type_params"]["conversion_measure"],
    ] {
        if !m.is_null() {
            push_measure(m, &mut depends_on)?;
        }
    }
    let mut reads: Vec<&Json> = vec![&tp["numerator"], &tp["denominator"]];
    reads.extend(tp["metrics"].as_array().into_iter().flatten());
    for input in reads.into_iter().filter(|i| !i.is_null()) {
        let other = input["name"].as_str().unwrap_or_default();
        if !metrics.contains_key(other) {
            return Err(cx.bad(
                &[PathSeg::Key("type_params")],
                "type_params",
                format!("metric `{name}` reads metric `{other}`, which is not defined"),
            ));
        }
        resolve_metric(other, metrics, measures, done, stack)?;
        let id = format!("metric.{}.{other}", metrics[other].0.d.package);
        if !depends_on.contains(&id) {
            depends_on.push(id);
        }
        for m in &done[other].1 {
            if !input_measures.contains(m) {
                input_measures.push(m.clone());
            }
        }
    }
    stack.pop();
    done.insert(name.to_owned(), (depends_on, input_measures));
    Ok(())
}

/// Granularities from finest to coarsest, as MetricFlow orders them.
const GRAINS: [&str; 11] = [
    "nanosecond",
    "microsecond",
    "millisecond",
    "second",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "quarter",
    "year",
];

fn grain_rank(g: &str) -> usize {
    GRAINS
        .iter()
        .position(|x| x.eq_ignore_ascii_case(g))
        .unwrap_or(usize::MAX)
}

/// A time spine model's primary column and its granularity: `time_spine:`'s
/// `standard_granularity_column` and that column's `granularity:`.
pub(crate) fn time_spine_column(n: &crate::manifest::Node) -> Option<(String, String)> {
    let spine = n.time_spine.as_ref()?;
    let column = spine.get("standard_granularity_column")?.as_str()?;
    let grain = n.columns.get(column)?.get("granularity")?.as_str()?;
    Some((column.to_owned(), grain.to_ascii_lowercase()))
}

/// dbt's parse-time rule: a project with semantic models needs a time spine at day
/// grain or finer (a `time_spine:` model, or the legacy `metricflow_time_spine`).
pub(super) fn check_time_spine(
    semantic: &BTreeMap<String, SemanticNode>,
    nodes: &BTreeMap<String, crate::manifest::Node>,
) -> Result<()> {
    for n in nodes.values().filter(|n| n.time_spine.is_some()) {
        if time_spine_column(n).is_none() {
            let column = n
                .time_spine
                .as_ref()
                .and_then(|t| t.get("standard_granularity_column"))
                .and_then(Json::as_str)
                .unwrap_or_default();
            return Err(Error::InvalidConfig {
                location: Location::file(n.patch_path.as_ref().unwrap_or(&n.original_file_path)),
                key: "time_spine".into(),
                message: format!(
                    "model `{}`: the time spine's `standard_granularity_column` `{column}` must be one of its `columns:`, with a `granularity:`",
                    n.name
                ),
            });
        }
    }
    let Some(first) = semantic
        .values()
        .find(|n| n.resource_type == "semantic_model")
    else {
        return Ok(());
    };
    let finest = nodes
        .values()
        .filter_map(time_spine_column)
        .map(|(_, g)| grain_rank(&g))
        .chain(
            nodes
                .values()
                .any(|n| n.name == "metricflow_time_spine")
                .then(|| grain_rank("day")),
        )
        .min();
    if finest.is_some_and(|r| r <= grain_rank("day")) {
        return Ok(());
    }
    Err(Error::InvalidConfig {
        location: Location::file(&first.original_file_path),
        key: "time_spine".into(),
        message: "the semantic layer needs a time spine model at day grain or finer: a model with `time_spine: {standard_granularity_column: ...}` whose column has `granularity: day`, or a model named `metricflow_time_spine`".into(),
    })
}
