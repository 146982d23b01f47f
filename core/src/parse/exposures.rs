//! Exposures (`exposures:` in property YAML): dashboards, notebooks and applications that
//! read the project. They are not built; they name what they read (`depends_on:`), so
//! `+exposure:name` selects it and `manifest.json` lists them.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::YamlEntry;
use super::deps::{CallText, SourceIds, call_text, resolve_source};
use super::models::{Names, RefMiss};
use crate::error::{Error, Location, Result};
use crate::manifest::Exposure;
use crate::project::as_string_list;
use crate::yaml::PathSeg;

const KINDS: [&str; 5] = ["dashboard", "notebook", "analysis", "ml", "application"];

/// The enabled exposures, with what they read resolved to unique ids.
pub(super) fn resolve(
    decls: &[YamlEntry],
    names: &Names,
    source_ids: &SourceIds,
    semantic: &BTreeMap<String, super::semantic::SemanticNode>,
) -> Result<BTreeMap<String, Exposure>> {
    let mut out = BTreeMap::new();
    for d in decls {
        let at = |path: &[PathSeg<'_>]| d.at("exposures", path);
        let bad = |location: Location, key: &str, message: String| Error::InvalidConfig {
            location,
            key: key.into(),
            message,
        };
        let text = |key: &str| d.spec.get(key).and_then(Json::as_str).map(str::to_owned);
        let Some(name) = text("name").filter(|n| !n.trim().is_empty()) else {
            return Err(bad(at(&[]), "name", "an exposure needs a `name`".into()));
        };
        let config = d.spec.get("config");
        if config.and_then(|c| c.get("enabled")) == Some(&Json::Bool(false)) {
            continue;
        }
        let kind = text("type").unwrap_or_default();
        if !KINDS.contains(&kind.as_str()) {
            return Err(bad(
                at(&[PathSeg::Key("type")]),
                "type",
                format!(
                    "exposure `{name}` needs a `type:` of {}, found `{kind}`",
                    KINDS.join(", ")
                ),
            ));
        }
        let unique_id = format!("exposure.{}.{name}", d.package);
        let mut depends_on = Vec::new();
        let entries = d.spec.get("depends_on").and_then(Json::as_array);
        for (i, entry) in entries.into_iter().flatten().enumerate() {
            let location = at(&[PathSeg::Key("depends_on"), PathSeg::Index(i)]);
            let written = entry.as_str().unwrap_or_default();
            let id = match call_text(written) {
                Some(CallText::Ref(call)) => match names.resolve(&call, &d.package) {
                    Ok(id) => id.clone(),
                    Err(RefMiss::Missing | RefMiss::Ambiguous(_)) => {
                        return Err(Error::UnknownRef {
                            location,
                            node: unique_id,
                            name: call.name,
                            hint: String::new(),
                        });
                    }
                },
                Some(CallText::Source(source, table)) => {
                    let key = (source.clone(), table.clone());
                    match resolve_source(source_ids, &key, &names.root, &d.package) {
                        Some(id) => id.clone(),
                        None => {
                            return Err(Error::UnknownSource {
                                location,
                                node: unique_id,
                                source_name: source,
                                table,
                            });
                        }
                    }
                }
                None if written.trim_start().starts_with("metric(") => {
                    match metric_call(written).and_then(|(package, name)| {
                        semantic.values().find(|n| {
                            n.resource_type == "metric"
                                && n.name == name
                                && package.as_ref().is_none_or(|p| *p == n.package_name)
                        })
                    }) {
                        Some(metric) => metric.unique_id.clone(),
                        None => {
                            return Err(bad(
                                location,
                                "depends_on",
                                format!("exposure `{name}`: `{written}` names no metric"),
                            ));
                        }
                    }
                }
                None => {
                    return Err(bad(
                        location,
                        "depends_on",
                        format!(
                            "exposure `{name}`: `{written}` is not `ref(...)` or `source(...)`"
                        ),
                    ));
                }
            };
            if !depends_on.contains(&id) {
                depends_on.push(id);
            }
        }
        let tags = d
            .spec
            .get("tags")
            .or_else(|| config.and_then(|c| c.get("tags")))
            .map(as_string_list)
            .unwrap_or_default();
        let meta = d
            .spec
            .get("meta")
            .or_else(|| config.and_then(|c| c.get("meta")))
            .cloned()
            .unwrap_or_else(|| Json::Object(serde_json::Map::new()));
        out.insert(
            unique_id.clone(),
            Exposure {
                unique_id,
                fqn: {
                    let mut fqn = d.fqn_prefix.clone();
                    fqn.push(name.clone());
                    fqn
                },
                name,
                package_name: d.package.clone(),
                kind,
                owner: d.spec.get("owner").cloned().unwrap_or(Json::Null),
                label: text("label"),
                description: text("description").unwrap_or_default(),
                url: text("url"),
                maturity: text("maturity"),
                tags,
                meta,
                depends_on,
                original_file_path: d.file.clone(),
            },
        );
    }
    Ok(out)
}

/// `metric('name')` or `metric('package', 'name')` with literal arguments.
fn metric_call(text: &str) -> Option<(Option<String>, String)> {
    let inner = text.trim().strip_prefix("metric(")?.strip_suffix(')')?;
    let args: Vec<String> = inner
        .split(',')
        .map(|a| a.trim().trim_matches(|c| c == '\'' || c == '"').to_owned())
        .collect();
    match args.as_slice() {
        [name] if !name.is_empty() => Some((None, name.clone())),
        [package, name] => Some((Some(package.clone()), name.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::error::Result;
    use crate::manifest::Manifest;

    fn load(exposures: &str) -> Result<Manifest> {
        let props = format!(
            "sources:\n  - name: raw\n    tables:\n      - name: events\nmodels:\n  - name: kpis\n    versions:\n      - v: 1\n      - v: 2\n{exposures}"
        );
        crate::manifest::tests::load(
            &[
                ("dbt_project.yml", "name: p\nprofile: p\n"),
                (
                    "profiles.yml",
                    "p:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/p.db}\n",
                ),
                ("models/props.yml", &props),
                (
                    "models/base.sql",
                    "select * from {{ source('raw', 'events') }}",
                ),
                ("models/kpis_v1.sql", "select * from {{ ref('base') }}"),
                ("models/kpis_v2.sql", "select * from {{ ref('base') }}"),
                ("models/other.sql", "select 1 as id"),
            ],
            "",
        )
    }

    #[test]
    fn exposures_name_what_they_read_and_select_it() {
        let m = load(
            "exposures:\n  - name: weekly\n    type: dashboard\n    owner: {name: Ann, email: ann@example.com}\n    depends_on:\n      - ref('kpis', v=1)\n      - source('raw', 'events')\n  - name: off\n    type: ml\n    config: {enabled: false}\n    depends_on: [ref('nothing')]\n",
        )
        .expect("loads");
        assert_eq!(
            m.exposures.keys().collect::<Vec<_>>(),
            ["exposure.p.weekly"]
        );
        let e = &m.exposures["exposure.p.weekly"];
        assert_eq!(e.depends_on, ["model.p.kpis.v1", "source.p.raw.events"]);
        // A metric nobody defines is an error at its line, as in dbt.
        let err = load(
            "exposures:\n  - name: w\n    type: dashboard\n    owner: {name: a}\n    depends_on: [metric('revenue')]\n",
        )
        .expect_err("an unknown metric");
        assert_eq!(err.code(), "DVT115");
        assert!(err.to_string().contains("names no metric"), "{err}");
        assert_eq!(e.owner["email"], "ann@example.com");
        let picked = crate::select::select(&m, &["+exposure:weekly".into()], &[]).expect("selects");
        assert_eq!(
            picked.into_iter().collect::<Vec<_>>(),
            ["model.p.base", "model.p.kpis.v1"]
        );
        let direct = crate::select::select(&m, &["1+exposure:week*".into()], &[]).expect("selects");
        assert_eq!(direct.into_iter().collect::<Vec<_>>(), ["model.p.kpis.v1"]);
        let json = crate::artifacts::manifest_json(&m, "i", "t");
        assert_eq!(json["exposures"]["exposure.p.weekly"]["type"], "dashboard");
        assert_eq!(
            json["parent_map"]["exposure.p.weekly"],
            serde_json::json!(["model.p.kpis.v1", "source.p.raw.events"])
        );
        assert!(
            json["child_map"]["model.p.kpis.v1"]
                .as_array()
                .is_some_and(|c| c.contains(&serde_json::json!("exposure.p.weekly")))
        );
    }

    #[test]
    fn bad_exposures_fail_with_a_code_and_line() {
        let err = load("exposures:\n  - name: w\n    type: spreadsheet\n").unwrap_err();
        assert_eq!(err.code(), "DVT115", "{err}");
        assert!(err.to_string().contains("props.yml:12"), "{err}");
        let err =
            load("exposures:\n  - name: w\n    type: dashboard\n    depends_on: [ref('nope')]\n")
                .unwrap_err();
        assert_eq!(err.code(), "DVT106", "{err}");
        assert!(err.to_string().contains("props.yml:13"), "{err}");
    }
}
