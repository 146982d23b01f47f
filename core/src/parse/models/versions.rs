//! Model versions (`versions:` in a model's properties): one model name, one SQL file
//! per version, each its own node `model.<project>.<name>.v<v>`, built as
//! `<name>_v<v>` unless configured otherwise, with the model's columns and tests as the
//! version's `columns:` includes or excludes them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value as Json};

use super::super::data_tests::TestDecl;
use super::super::properties::{NodeProps, Props};
use crate::error::{Error, Location, Result};
use crate::project::merge_config;
use crate::yaml::PathSeg;

/// One version of a versioned model, as its property file declares it.
pub(in crate::parse) struct Version {
    /// The model's name (not the file's).
    pub(in crate::parse) model: String,
    /// `v:` as written.
    pub(in crate::parse) v: Json,
    /// `v:` as text, as unique ids and names spell it.
    pub(in crate::parse) text: String,
    /// The model's latest version, as written.
    pub(in crate::parse) latest: Json,
    pub(in crate::parse) is_latest: bool,
    /// The file stem holding it (`defined_in`, `<name>_v<v>`, or `<name>` for the latest).
    defined_in: String,
    /// Where `versions:` declares it.
    location: Location,
    /// Its index under `versions:`.
    index: usize,
    /// The model's columns, with those the version leaves out (or redeclares) as nulls,
    /// so the rest keep their positions in the file.
    top_columns: Vec<Json>,
    /// The version's own `columns:` entries, the `include` entry as a null.
    own_columns: Vec<Json>,
    /// The version's own `data_tests:`.
    own_tests: Vec<Json>,
    /// The version's `config:` and `description:`.
    config: Map<String, Json>,
    description: Option<String>,
    /// The version's `deprecation_date:`, else the model's.
    deprecation_date: Option<Json>,
    /// The version's `constraints:`, else the model's.
    constraints: Vec<Json>,
}

/// The versions declared in `props`, by the file stem defining each. `stems` are the
/// model files' stems (the latest version may live in `<name>.sql`).
pub(in crate::parse) fn by_file(
    props: &BTreeMap<String, Props>,
    stems: &BTreeSet<String>,
) -> Result<BTreeMap<String, Version>> {
    let mut out: BTreeMap<String, Version> = BTreeMap::new();
    for p in props.values().filter(|p| !p.node.versions.is_empty()) {
        let model = &p.node.name;
        let at = |path: &[PathSeg<'_>]| {
            let mut full = vec![PathSeg::Key(p.section), PathSeg::Index(p.index)];
            full.extend_from_slice(path);
            p.tree.locate(&p.file, &full)
        };
        let mut texts = Vec::new();
        for (i, entry) in p.node.versions.iter().enumerate() {
            let text = entry.get("v").and_then(version_text).ok_or_else(|| {
                bad(
                    at(&[PathSeg::Key("versions"), PathSeg::Index(i)]),
                    format!("each version of model `{model}` needs `v:` (a number or a string)"),
                )
            })?;
            if texts.contains(&text) {
                return Err(bad(
                    at(&[PathSeg::Key("versions"), PathSeg::Index(i)]),
                    format!("model `{model}` declares version {text} twice"),
                ));
            }
            texts.push(text);
        }
        let latest_text = match &p.node.latest_version {
            Some(l) => {
                let t = version_text(l).unwrap_or_default();
                if !texts.contains(&t) {
                    return Err(bad(
                        at(&[PathSeg::Key("latest_version")]),
                        format!(
                            "`latest_version: {t}` of model `{model}` is none of its versions ({})",
                            texts.join(", ")
                        ),
                    ));
                }
                t
            }
            None => highest(&texts),
        };
        let latest =
            p.node.versions[texts.iter().position(|t| *t == latest_text).unwrap_or(0)]["v"].clone();
        for (i, entry) in p.node.versions.iter().enumerate() {
            let text = texts[i].clone();
            let is_latest = text == latest_text;
            let default = format!("{model}_v{text}");
            let defined_in = match entry.get("defined_in").and_then(Json::as_str) {
                Some(d) => d.to_owned(),
                // The latest version may also live in `<name>.sql`.
                None if is_latest && !stems.contains(&default) && stems.contains(model) => {
                    model.clone()
                }
                None => default,
            };
            let location = at(&[PathSeg::Key("versions"), PathSeg::Index(i)]);
            let (top_columns, own_columns) = columns(&p.node.columns, entry.get("columns"))
                .map_err(|m| {
                    bad(
                        location.clone(),
                        format!("version {text} of `{model}`: {m}"),
                    )
                })?;
            let own_tests = entry
                .get("data_tests")
                .or_else(|| entry.get("tests"))
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            let version = Version {
                model: model.clone(),
                v: entry["v"].clone(),
                text,
                latest: latest.clone(),
                is_latest,
                defined_in: defined_in.clone(),
                location,
                index: i,
                top_columns,
                own_columns,
                own_tests,
                config: entry
                    .get("config")
                    .and_then(Json::as_object)
                    .cloned()
                    .unwrap_or_default(),
                description: entry
                    .get("description")
                    .and_then(Json::as_str)
                    .map(str::to_owned),
                deprecation_date: entry
                    .get("deprecation_date")
                    .cloned()
                    .or_else(|| p.node.deprecation_date.clone()),
                // dbt: a version's own constraints, else the model's.
                constraints: entry
                    .get("constraints")
                    .and_then(Json::as_array)
                    .cloned()
                    .unwrap_or_else(|| p.node.constraints.clone()),
            };
            if let Some(other) = out.insert(defined_in.clone(), version) {
                return Err(bad(
                    other.location,
                    format!(
                        "file `{defined_in}` defines two model versions; give one a `defined_in:`"
                    ),
                ));
            }
        }
    }
    Ok(out)
}

impl Version {
    /// The version's properties: the model's, with the version's config on top and its
    /// columns.
    pub(in crate::parse) fn props(&self, model: &Props) -> Props {
        let mut config = model.node.config.clone();
        for (k, v) in &self.config {
            merge_config(&mut config, k, v.clone());
        }
        let columns = self
            .top_columns
            .iter()
            .chain(&self.own_columns)
            .filter(|c| c.is_object())
            .cloned()
            .collect();
        Props {
            node: NodeProps {
                name: self.model.clone(),
                description: self
                    .description
                    .clone()
                    .or_else(|| model.node.description.clone()),
                config,
                columns,
                data_tests: model.node.data_tests.clone(),
                deprecation_date: self.deprecation_date.clone(),
                constraints: self.constraints.clone(),
                ..NodeProps::default()
            },
            file: model.file.clone(),
            tree: std::sync::Arc::clone(&model.tree),
            section: model.section,
            index: model.index,
        }
    }

    /// The generic tests of this version: the model's (for the columns it includes) and
    /// its own, named as dbt names them (`not_null_<name>_v<v>_<column>`) and testing
    /// `ref('<name>', version='<v>')`.
    pub(in crate::parse) fn test_declarations(&self, unique_id: &str, p: &Props) -> Vec<TestDecl> {
        let relation = format!("ref('{}', version='{}')", self.model, self.text);
        let target = format!("{}_v{}", self.model, self.text);
        let model_path = [PathSeg::Key(p.section), PathSeg::Index(p.index)];
        let mut version_path = model_path.to_vec();
        version_path.extend([PathSeg::Key("versions"), PathSeg::Index(self.index)]);
        let mut out = super::super::data_tests::declarations(
            unique_id,
            relation.clone(),
            target.clone(),
            false,
            &p.node.data_tests,
            &self.top_columns,
            &p.file,
            &p.tree,
            &model_path,
        );
        out.extend(super::super::data_tests::declarations(
            unique_id,
            relation,
            target,
            false,
            &self.own_tests,
            &self.own_columns,
            &p.file,
            &p.tree,
            &version_path,
        ));
        out
    }

    /// The error for a version whose file is missing.
    pub(in crate::parse) fn no_file(self) -> Error {
        bad(
            self.location,
            format!(
                "version {} of model `{}` has no file `{}.sql` under the model paths (name it so, or set `defined_in:`)",
                self.text, self.model, self.defined_in
            ),
        )
    }
}

fn bad(location: Location, message: String) -> Error {
    Error::InvalidConfig {
        location,
        key: "versions".into(),
        message,
    }
}

/// A version identifier as text: `v: 2` and `v: '2'` are one version (the form of unique
/// ids, aliases and `versions: {include: [...]}` lists).
pub(crate) fn version_text(v: &Json) -> Option<String> {
    match v {
        Json::Number(n) => Some(n.to_string()),
        Json::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// The latest of versions without `latest_version`: the highest number, or the last in
/// text order when some are not numbers (dbt's rule).
fn highest(texts: &[String]) -> String {
    let numbers: Option<Vec<f64>> = texts.iter().map(|t| t.parse::<f64>().ok()).collect();
    let best = match numbers {
        Some(ns) => ns
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i),
        None => texts
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.cmp(b.1))
            .map(|(i, _)| i),
    };
    best.map(|i| texts[i].clone()).unwrap_or_default()
}

/// Orders two version identifiers as dbt does: as numbers when both are, else as text.
pub(crate) fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

/// A version's columns from the model's (`top`) and its own `columns:` entry: the
/// model's it includes (`include: all`/`'*'` or a list, minus `exclude:`) and does not
/// redeclare, as nulls otherwise, and its own, the `include` entry as a null.
fn columns(
    top: &[Json],
    spec: Option<&Json>,
) -> std::result::Result<(Vec<Json>, Vec<Json>), String> {
    let Some(spec) = spec else {
        return Ok((top.to_vec(), Vec::new()));
    };
    let Some(entries) = spec.as_array() else {
        return Err("`columns:` must be a list".into());
    };
    let mut include: Option<BTreeSet<String>> = None;
    let mut exclude = BTreeSet::new();
    let mut own = Vec::new();
    let names = |v: &Json| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .map(str::to_owned)
            .collect()
    };
    let mut seen_include = false;
    for e in entries {
        match e.get("include") {
            Some(inc) => {
                if seen_include {
                    return Err("only one `include:` entry is allowed under `columns:`".into());
                }
                seen_include = true;
                match inc {
                    Json::String(s) if s == "all" || s == "*" => {}
                    Json::Array(_) => include = Some(names(inc).into_iter().collect()),
                    _ => return Err("`include:` is `all`, `'*'` or a list of column names".into()),
                }
                if let Some(ex) = e.get("exclude") {
                    if include.is_some() {
                        return Err("`exclude:` needs `include: all` (or `'*'`)".into());
                    }
                    exclude = names(ex).into_iter().collect();
                }
                own.push(Json::Null);
            }
            None => own.push(e.clone()),
        }
    }
    let redeclared: BTreeSet<&str> = own
        .iter()
        .filter_map(|c| c.get("name").and_then(Json::as_str))
        .collect();
    let top = top
        .iter()
        .map(|c| {
            let name = c.get("name").and_then(Json::as_str).unwrap_or_default();
            let kept = include.as_ref().is_none_or(|i| i.contains(name))
                && !exclude.contains(name)
                && !redeclared.contains(name);
            if kept { c.clone() } else { Json::Null }
        })
        .collect();
    Ok((top, own))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILES: &str =
        "p:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: data/p.db}\n";

    fn load(props: &str, models: &[(&str, &str)]) -> Result<crate::manifest::Manifest> {
        let mut files = vec![
            ("dbt_project.yml", "name: p\nprofile: p\n"),
            ("profiles.yml", PROFILES),
            ("models/props.yml", props),
        ];
        files.extend_from_slice(models);
        crate::manifest::tests::load(&files, "")
    }

    #[test]
    fn versions_resolve_and_bad_declarations_fail_with_a_code_and_line() {
        let props = "models:\n  - name: m\n    latest_version: 1\n    versions:\n      - v: 1\n      - v: 2\n        config: {alias: m_next}\n";
        let m = load(
            props,
            &[
                ("models/m.sql", "select 1 as id"),
                ("models/m_v2.sql", "select 2 as id"),
                (
                    "models/pin.sql",
                    "select * from {{ ref('m', v=2) }} join {{ ref('m') }} using (id)",
                ),
            ],
        )
        .expect("loads");
        let v1 = &m.nodes["model.p.m.v1"];
        assert_eq!(v1.original_file_path, std::path::Path::new("models/m.sql"));
        assert_eq!(v1.relation.identifier, "m_v1");
        assert_eq!(m.nodes["model.p.m.v2"].relation.identifier, "m_next");
        assert_eq!(
            m.nodes["model.p.pin"].depends_on,
            ["model.p.m.v1", "model.p.m.v2"]
        );

        // A version without a file, an unknown latest version, and a ref to a missing
        // version: each a coded error at the line that says it.
        let err = load(
            "models:\n  - name: m\n    versions:\n      - v: 1\n      - v: 3\n",
            &[("models/m_v1.sql", "select 1 as id")],
        )
        .unwrap_err();
        assert_eq!(err.code(), "DVT115", "{err}");
        let text = err.to_string();
        assert!(
            text.contains("props.yml:5") && text.contains("m_v3.sql"),
            "{text}"
        );
        let err = load(
            "models:\n  - name: m\n    latest_version: 4\n    versions:\n      - v: 1\n",
            &[("models/m_v1.sql", "select 1 as id")],
        )
        .unwrap_err();
        assert!(err.to_string().contains("props.yml:3"), "{err}");
        let err = load(
            "models:\n  - name: m\n    versions:\n      - v: 1\n",
            &[
                ("models/m_v1.sql", "select 1 as id"),
                ("models/pin.sql", "select * from {{ ref('m', version=7) }}"),
            ],
        )
        .unwrap_err();
        assert_eq!(err.code(), "DVT106", "{err}");
        assert!(
            err.to_string()
                .contains("has no version 7 (its versions: 1)"),
            "{err}"
        );
    }

    #[test]
    fn columns_follow_include_and_exclude() {
        let top: Vec<Json> = ["a", "b", "c"]
            .iter()
            .map(|n| serde_json::json!({"name": n}))
            .collect();
        let names = |(top, own): (Vec<Json>, Vec<Json>)| -> Vec<String> {
            top.iter()
                .chain(&own)
                .filter_map(|c| c.get("name").and_then(Json::as_str).map(str::to_owned))
                .collect()
        };
        assert_eq!(names(columns(&top, None).unwrap()), ["a", "b", "c"]);
        let spec = serde_json::json!([{"include": "all", "exclude": ["b"]}]);
        assert_eq!(names(columns(&top, Some(&spec)).unwrap()), ["a", "c"]);
        let spec = serde_json::json!([{"include": ["c"]}, {"name": "d"}]);
        assert_eq!(names(columns(&top, Some(&spec)).unwrap()), ["c", "d"]);
        // A redeclared column is the version's own, after the included ones.
        let spec = serde_json::json!([{"include": "*"}, {"name": "a", "description": "x"}]);
        assert_eq!(names(columns(&top, Some(&spec)).unwrap()), ["b", "c", "a"]);
        let spec = serde_json::json!([{"include": ["a"], "exclude": ["b"]}]);
        assert!(columns(&top, Some(&spec)).unwrap_err().contains("exclude"));
    }

    #[test]
    fn the_latest_is_the_highest_number_or_the_last_text() {
        let t = |v: &[&str]| highest(&v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(t(&["2", "10", "9"]), "10");
        assert_eq!(t(&["1.5", "1.25"]), "1.5");
        assert_eq!(t(&["alpha", "beta", "2"]), "beta");
        assert_eq!(compare("10", "9"), std::cmp::Ordering::Greater);
        assert_eq!(compare("beta", "alpha"), std::cmp::Ordering::Greater);
    }
}
