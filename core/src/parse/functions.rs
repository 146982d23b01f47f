//! Functions (dbt 1.11's user-defined functions): one SQL file each under the function
//! paths, its body rendered once in the parse phase like a model's, its signature
//! (`arguments`, `returns`) and description from a `functions:` entry of a property file.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value as Json};

use super::files::{fqn, stem, walk};
use super::models::{Names, rendered_node};
use super::properties::FunctionDecl;
use crate::error::{Error, Location, Result};
use crate::jinja::JinjaEnv;
use crate::manifest::{FunctionArgument, FunctionInfo, FunctionVolatility, Node, ResourceType};
use crate::project::ProjectConfig;
use crate::yaml::PathSeg;

/// Parses every function file under the function paths.
pub(super) fn parse(
    project: &ProjectConfig,
    root: Option<&ProjectConfig>,
    jinja: &mut JinjaEnv,
    props: &mut BTreeMap<String, FunctionDecl>,
    nodes: &mut BTreeMap<String, Node>,
    names: &mut Names,
) -> Result<()> {
    for dir in &project.function_paths {
        for file in walk(&project.root, dir, &["sql", "py"])? {
            let name = stem(&file);
            if file.extension().is_some_and(|e| e == "py") {
                return Err(Error::InvalidConfig {
                    location: Location::file(&file),
                    key: "language".into(),
                    message: format!(
                        "function `{name}` is written in Python; DVT creates SQL functions only (`{name}.sql`)"
                    ),
                });
            }
            let text = super::read(&project.root, &file)?;
            let fqn = fqn(&project.name, dir, &file);
            let unique_id = format!("function.{}.{name}", project.name);
            jinja.add_node_template(&file, &text)?;
            let decl = props.remove(&name);
            let (config, recorded) = super::models::file_config(
                super::models::FileNode {
                    project,
                    root,
                    tree: |p| &p.functions,
                    file: &file,
                    fqn: &fqn,
                    name: &name,
                    unique_id: &unique_id,
                },
                jinja,
                decl.as_ref().map(|d| &d.props.config),
            )?;
            if config.get("enabled") == Some(&Json::Bool(false)) {
                names
                    .disabled_functions
                    .insert((project.name.clone(), name), file);
                continue;
            }
            if let Some(other) = nodes.get(&unique_id) {
                return Err(Error::DuplicateNode {
                    location: Location::file(&file),
                    kind: "function",
                    name,
                    other: other.original_file_path.clone(),
                });
            }
            let info = signature(&name, &file, decl.as_ref(), &config)?;
            names
                .functions
                .entry(name.clone())
                .or_default()
                .insert(project.name.clone(), unique_id.clone());
            let mut node = rendered_node(
                unique_id.clone(),
                ResourceType::Function,
                name,
                &project.name,
                file,
                fqn,
                text,
                config,
                None,
                recorded,
            );
            if let Some(d) = decl {
                node.description = d.props.description.unwrap_or_default();
                node.patch_path = Some(d.file);
            }
            node.function = Some(info);
            nodes.insert(unique_id, node);
        }
    }
    Ok(())
}

/// A function's signature from its `functions:` entry and its config. `returns` is
/// required, as in dbt: without it the function cannot be created.
fn signature(
    name: &str,
    file: &Path,
    decl: Option<&FunctionDecl>,
    config: &Map<String, Json>,
) -> Result<FunctionInfo> {
    let config_error = |key: &str, message: String| Error::InvalidConfig {
        location: match decl {
            Some(d) => d.tree.locate(
                &d.file,
                &[
                    PathSeg::Key("functions"),
                    PathSeg::Index(d.index),
                    PathSeg::Key("config"),
                    PathSeg::Key(key),
                ],
            ),
            None => Location::file(file),
        },
        key: key.into(),
        message,
    };
    match config.get("type") {
        None | Some(Json::Null) => {}
        Some(Json::String(t)) if t == "scalar" => {}
        Some(other) => {
            return Err(config_error(
                "type",
                format!(
                    "function `{name}` is of type `{}`; DVT creates `scalar` SQL functions only",
                    other
                        .as_str()
                        .map_or_else(|| other.to_string(), str::to_owned)
                ),
            ));
        }
    }
    let volatility = match config.get("volatility") {
        None | Some(Json::Null) => None,
        Some(Json::String(v)) if v == "deterministic" => Some(FunctionVolatility::Deterministic),
        Some(Json::String(v)) if v == "stable" => Some(FunctionVolatility::Stable),
        Some(Json::String(v)) if v == "non-deterministic" => {
            Some(FunctionVolatility::NonDeterministic)
        }
        Some(other) => {
            return Err(config_error(
                "volatility",
                format!(
                    "function `{name}`: `{other}` is not a volatility; use `deterministic`, `stable` or `non-deterministic`"
                ),
            ));
        }
    };
    let Some(d) = decl else {
        return Err(Error::InvalidConfig {
            location: Location::file(file),
            key: "returns".into(),
            message: format!(
                "function `{name}` has no properties; declare its `returns: {{data_type: ...}}` (and `arguments:`) under `functions:` in a property file beside it"
            ),
        });
    };
    let entry = [PathSeg::Key("functions"), PathSeg::Index(d.index)];
    let at = |path: &[PathSeg<'_>]| {
        let full: Vec<PathSeg<'_>> = entry.iter().chain(path).copied().collect();
        d.tree.locate(&d.file, &full)
    };
    let bad = |key: &str, path: &[PathSeg<'_>], message: String| Error::InvalidConfig {
        location: at(path),
        key: key.into(),
        message,
    };
    let text = |v: Option<&Json>| -> Option<String> {
        match v? {
            Json::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Json::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let (returns, returns_description) = match &d.props.returns {
        Some(Json::Object(r)) => match text(r.get("data_type")) {
            Some(t) => (t, text(r.get("description"))),
            None => {
                return Err(bad(
                    "returns",
                    &[PathSeg::Key("returns")],
                    format!("function `{name}`: `returns` needs a `data_type`"),
                ));
            }
        },
        None | Some(Json::Null) => {
            return Err(bad(
                "returns",
                &[],
                format!("function `{name}` has no `returns: {{data_type: ...}}`"),
            ));
        }
        Some(_) => {
            return Err(bad(
                "returns",
                &[PathSeg::Key("returns")],
                format!("function `{name}`: `returns` must be a mapping with a `data_type`"),
            ));
        }
    };
    let items: &[Json] = match &d.props.arguments {
        None | Some(Json::Null) => &[],
        Some(Json::Array(items)) => items,
        Some(_) => {
            return Err(bad(
                "arguments",
                &[PathSeg::Key("arguments")],
                format!("function `{name}`: `arguments` must be a list of `{{name, data_type}}`"),
            ));
        }
    };
    let mut arguments: Vec<FunctionArgument> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = [PathSeg::Key("arguments"), PathSeg::Index(i)];
        let (Some(arg), Some(data_type)) = (text(item.get("name")), text(item.get("data_type")))
        else {
            return Err(bad(
                "arguments",
                &path,
                format!(
                    "function `{name}`: argument {} needs a `name` and a `data_type`",
                    i + 1
                ),
            ));
        };
        if arguments.iter().any(|a| a.name.eq_ignore_ascii_case(&arg)) {
            return Err(bad(
                "arguments",
                &path,
                format!("function `{name}` declares argument `{arg}` twice"),
            ));
        }
        let default_value = match item.get("default_value") {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(Json::Bool(b)) => Some(b.to_string()),
            Some(Json::Number(n)) => Some(n.to_string()),
            Some(other) => {
                return Err(bad(
                    "arguments",
                    &path,
                    format!(
                        "function `{name}`: the `default_value` of `{arg}` must be a string, number or boolean, not `{other}`"
                    ),
                ));
            }
        };
        // Callers omit trailing arguments only; the databases refuse the rest.
        if default_value.is_none()
            && let Some(prev) = arguments.iter().find(|a| a.default_value.is_some())
        {
            return Err(bad(
                "arguments",
                &path,
                format!(
                    "function `{name}`: argument `{arg}` has no `default_value` but comes after `{}`, which has one; arguments with defaults must come last",
                    prev.name
                ),
            ));
        }
        arguments.push(FunctionArgument {
            name: arg,
            data_type,
            description: text(item.get("description")),
            default_value,
        });
    }
    Ok(FunctionInfo {
        arguments,
        returns,
        returns_description,
        volatility,
    })
}

#[cfg(test)]
mod tests {
    use crate::error::Result;
    use crate::manifest::{FunctionVolatility, Manifest, Materialization};
    use crate::resolve::ExecPath;

    fn load(files: &[(&str, &str)]) -> Result<Manifest> {
        crate::manifest::tests::load(files, "")
    }

    const PROJECT: &str = "name: p\nprofile: p\n";
    const PROFILES: &str = "p:\n  target: pg\n  outputs:\n    pg: {type: postgres, host: h, user: u, dbname: d, schema: analytics}\n    my: {type: mysql, server: h, username: u, schema: shop}\n";
    const TAX_YML: &str = "functions:\n  - name: price_with_tax\n    description: adds the tax\n    config:\n      volatility: deterministic\n    arguments:\n      - name: price\n        data_type: numeric\n        description: net price\n    returns:\n      data_type: numeric\n";

    #[test]
    fn function_nodes_parse_with_their_signature_and_models_call_them() {
        let m = load(&[
            (
                "dbt_project.yml",
                "name: p\nprofile: p\nfunctions:\n  p:\n    +schema: udf\n",
            ),
            ("profiles.yml", PROFILES),
            (
                "functions/price_with_tax.sql",
                "select price * {{ var('rate', 1.2) }};\n",
            ),
            ("functions/props.yml", TAX_YML),
            (
                "models/priced.sql",
                "select {{ function('price_with_tax') }}(10) as gross",
            ),
        ])
        .unwrap();
        let f = &m.nodes["function.p.price_with_tax"];
        assert_eq!(f.resource_type.as_str(), "function");
        assert_eq!(f.materialized, Materialization::Function);
        assert_eq!(f.description, "adds the tax");
        assert_eq!(f.relation.schema, "analytics_udf");
        assert_eq!(f.target, "pg");
        let info = f.function.as_ref().unwrap();
        assert_eq!(info.returns, "numeric");
        assert_eq!(info.volatility, Some(FunctionVolatility::Deterministic));
        assert_eq!(
            (
                info.arguments[0].name.as_str(),
                info.arguments[0].data_type.as_str()
            ),
            ("price", "numeric")
        );
        let model = &m.nodes["model.p.priced"];
        assert_eq!(model.depends_on, ["function.p.price_with_tax"]);
        assert_eq!(model.path, ExecPath::Pushdown);
        assert_eq!(
            m.compile("model.p.priced").unwrap().sql,
            "select \"d\".\"analytics_udf\".\"price_with_tax\"(10) as gross"
        );
        // The body renders like a model's.
        assert_eq!(
            m.compile("function.p.price_with_tax").unwrap().sql,
            "select price * 1.2"
        );
        let json = crate::artifacts::manifest_json(&m, "i", "t");
        let entry = &json["functions"]["function.p.price_with_tax"];
        assert_eq!(entry["returns"]["data_type"], "numeric");
        assert_eq!(entry["arguments"][0]["name"], "price");
        assert_eq!(entry["config"]["volatility"], "deterministic");
        assert!(json["nodes"].get("function.p.price_with_tax").is_none());
        assert_eq!(
            json["nodes"]["model.p.priced"]["functions"][0][0],
            "price_with_tax"
        );
    }

    #[test]
    fn a_function_on_mysql_is_named_with_backticks() {
        let m = load(&[
            ("dbt_project.yml", PROJECT),
            ("profiles.yml", PROFILES),
            ("functions/price_with_tax.sql", "select price * 1.2"),
            ("functions/props.yml", TAX_YML),
            (
                "models/props.yml",
                "models:\n  - name: priced\n    config: {target: my}\nfunctions:\n  - name: other\n    returns: {data_type: int}\n",
            ),
            ("functions/other.sql", "select 1"),
            (
                "models/priced.sql",
                "{{ config(target='my') }}select {{ function('p', 'other') }}() as one",
            ),
        ]);
        // `other` lives on the default target (pg), the model on `my`.
        let err = m.unwrap_err();
        assert_eq!(err.code(), "DVT116");
        let text = err.to_string();
        assert!(
            text.contains("models/priced.sql")
                && text.contains("`priced`")
                && text.contains("`other`")
                && text.contains("`pg`"),
            "{text}"
        );
        let m = load(&[
            ("dbt_project.yml", PROJECT),
            ("profiles.yml", PROFILES),
            ("functions/other.sql", "select 1"),
            (
                "functions/props.yml",
                "functions:\n  - name: other\n    config: {target: my, alias: other_fn}\n    returns: {data_type: int}\n",
            ),
            (
                "models/priced.sql",
                "{{ config(target='my') }}select {{ function('other') }}() as one",
            ),
        ])
        .unwrap();
        assert_eq!(
            m.compile("model.p.priced").unwrap().sql,
            "select `shop`.`other_fn`() as one"
        );
    }

    #[test]
    fn a_federated_model_may_not_call_a_function() {
        let err = load(&[
            ("dbt_project.yml", PROJECT),
            ("profiles.yml", PROFILES),
            ("functions/price_with_tax.sql", "select price * 1.2"),
            ("functions/props.yml", TAX_YML),
            ("seeds/orders.csv", "id,price\n1,10\n"),
            ("seeds/props.yml", "seeds:\n  - name: orders\n    config: {target: my}\n"),
            (
                "models/e.sql",
                "{{ config(materialized='ephemeral') }}select {{ function('price_with_tax') }}(price) as gross from {{ ref('orders') }}",
            ),
            ("models/fed.sql", "select * from {{ ref('e') }}"),
        ])
        .unwrap_err();
        assert_eq!(err.code(), "DVT116");
        let text = err.to_string();
        assert!(
            text.starts_with("models/fed.sql")
                && text.contains("`fed`")
                && text.contains("`price_with_tax`")
                && text.contains("ephemeral model `e`")
                && text.contains("federated"),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_function_is_reported_at_its_call() {
        let err = load(&[
            ("dbt_project.yml", PROJECT),
            ("profiles.yml", PROFILES),
            ("models/a.sql", "select 1 as x"),
            ("models/b.sql", "select\n  {{ function('a') }}(1) as y"),
        ])
        .unwrap_err();
        assert_eq!(err.code(), "DVT133");
        let text = err.to_string();
        assert!(text.starts_with("models/b.sql:2"), "{text}");
        assert!(text.contains("ref('a')"), "{text}");
        let err = load(&[
            ("dbt_project.yml", PROJECT),
            ("profiles.yml", PROFILES),
            ("functions/f.sql", "{{ config(enabled=false) }}select 1"),
            ("models/b.sql", "select {{ function('f') }}() as y"),
        ])
        .unwrap_err();
        assert_eq!(err.code(), "DVT133");
        assert!(err.to_string().contains("disabled"), "{err}");
    }

    #[test]
    fn signatures_are_checked_where_they_are_written() {
        let case = |yml: &str| {
            load(&[
                ("dbt_project.yml", PROJECT),
                ("profiles.yml", PROFILES),
                ("functions/f.sql", "select x"),
                ("functions/f.yml", yml),
            ])
            .unwrap_err()
        };
        let err =
            case("functions:\n  - name: f\n    arguments:\n      - {name: x, data_type: int}\n");
        assert_eq!(err.code(), "DVT115");
        assert!(err.to_string().starts_with("functions/f.yml:2"), "{err}");
        assert!(err.to_string().contains("`returns"), "{err}");
        let err = case("functions:\n  - name: f\n    returns: {description: x}\n");
        assert_eq!(err.code(), "DVT115");
        assert!(err.to_string().starts_with("functions/f.yml:3"), "{err}");
        let err = case(
            "functions:\n  - name: f\n    arguments:\n      - {name: x, data_type: int}\n      - {name: y}\n    returns: {data_type: int}\n",
        );
        assert_eq!(err.code(), "DVT115");
        assert!(err.to_string().starts_with("functions/f.yml:5"), "{err}");
        let err = case(
            "functions:\n  - name: f\n    arguments:\n      - {name: x, data_type: int, default_value: 0}\n      - {name: y, data_type: int}\n    returns: {data_type: int}\n",
        );
        assert!(err.to_string().contains("must come last"), "{err}");
        let err = case(
            "functions:\n  - name: f\n    config: {volatility: sometimes}\n    returns: {data_type: int}\n",
        );
        assert_eq!(err.code(), "DVT115");
        assert!(err.to_string().starts_with("functions/f.yml:3"), "{err}");
        let err = case(
            "functions:\n  - name: f\n    config: {type: aggregate}\n    returns: {data_type: int}\n",
        );
        assert!(err.to_string().contains("`scalar`"), "{err}");
        // Without any properties, the SQL file itself is at fault.
        let err = load(&[
            ("dbt_project.yml", PROJECT),
            ("profiles.yml", PROFILES),
            ("functions/f.sql", "select 1"),
        ])
        .unwrap_err();
        assert_eq!(err.code(), "DVT115");
        assert!(err.to_string().starts_with("functions/f.sql"), "{err}");
    }

    #[test]
    fn function_paths_and_a_function_reading_another_target() {
        let err = load(&[
            (
                "dbt_project.yml",
                "name: p\nprofile: p\nfunction-paths: [udfs]\n",
            ),
            ("profiles.yml", PROFILES),
            ("seeds/rates.csv", "r\n1\n"),
            (
                "seeds/props.yml",
                "seeds:\n  - name: rates\n    config: {target: my}\n",
            ),
            ("udfs/f.sql", "select max(r) from {{ ref('rates') }}"),
            (
                "udfs/f.yml",
                "functions:\n  - name: f\n    returns: {data_type: int}\n",
            ),
        ])
        .unwrap_err();
        assert_eq!(err.code(), "DVT116");
        assert!(err.to_string().starts_with("udfs/f.sql"), "{err}");
        assert!(err.to_string().contains("`my`"), "{err}");
    }
}
