//! Unit tests (`unit_tests:` in property YAML, dbt 1.8+): a model's SQL run on fixture
//! rows (`given`) and compared with the rows it should return (`expect`). Each becomes
//! a test node attached to its model, with the spec kept as written; the compiler
//! renders the model with its inputs replaced by the fixtures (`compile::unit`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value as Json};

use super::models::{Names, new_node};
use crate::error::{Error, Location, Result};
use crate::manifest::{Node, ResourceType, TestInfo};
use crate::project::ProjectConfig;

/// Adds one test node per unit test.
pub(super) fn parse(
    project: &ProjectConfig,
    decls: &[(Json, PathBuf)],
    nodes: &mut BTreeMap<String, Node>,
    names: &Names,
) -> Result<()> {
    for (declared_at, (spec, file)) in decls.iter().enumerate() {
        let bad = |key: &str, message: String| Error::InvalidConfig {
            location: Location::file(file),
            key: key.into(),
            message,
        };
        let text = |key: &str| -> Result<String> {
            spec.get(key)
                .and_then(Json::as_str)
                .map(str::to_owned)
                .ok_or_else(|| bad(key, format!("a unit test needs `{key}`")))
        };
        let name = text("name")?;
        let model = text("model")?;
        // The model of the project declaring the unit test.
        let model_id = names
            .by_name
            .get(&model)
            .and_then(|by_package| by_package.get(&project.name))
            .filter(|id| {
                nodes
                    .get(*id)
                    .is_some_and(|n| n.resource_type == ResourceType::Model)
            })
            .cloned()
            .ok_or_else(|| {
                bad(
                    "model",
                    format!("unit test `{name}`: `{model}` is not a model of the project"),
                )
            })?;
        // A versioned model's unit test tests each version it includes (`versions:
        // {include: [...]}` or `{exclude: [...]}`; all without), as `<name>_v<v>`.
        let targets: Vec<(String, String)> =
            match names.versions.get(&(project.name.clone(), model.clone())) {
                None => vec![(model_id, name.clone())],
                Some(by_version) => {
                    let listed = |key: &str| -> Option<Vec<String>> {
                        let list = spec.get("versions")?.get(key)?.as_array()?;
                        Some(
                            list.iter()
                                .filter_map(super::models::versions::version_text)
                                .collect(),
                        )
                    };
                    let (include, exclude) = (listed("include"), listed("exclude"));
                    by_version
                        .iter()
                        .filter(|(v, _)| include.as_ref().is_none_or(|i| i.contains(v)))
                        .filter(|(v, _)| exclude.as_ref().is_none_or(|e| !e.contains(v)))
                        .map(|(v, id)| (id.clone(), format!("{name}_v{v}")))
                        .collect()
                }
            };
        if !spec.get("given").is_some_and(Json::is_array) {
            return Err(bad(
                "given",
                format!("unit test `{name}` needs a `given:` list"),
            ));
        }
        if spec.get("expect").is_none() {
            return Err(bad("expect", format!("unit test `{name}` needs `expect:`")));
        }
        for (model_id, name) in targets {
            let unique_id = format!("unit_test.{}.{model}.{name}", project.name);
            let model_node = nodes[&model_id].clone();
            let mut config = Map::new();
            config.insert("materialized".into(), Json::from("test"));
            if let Some(Json::Object(c)) = spec.get("config") {
                config.extend(c.clone());
            }
            let mut node = new_node(
                unique_id.clone(),
                ResourceType::Test,
                name.clone(),
                &project.name,
                file.clone(),
                vec![project.name.clone(), model.clone(), name],
                model_node.raw_code.clone(),
                config,
                None,
                Vec::new(),
                Vec::new(),
            );
            node.template = model_node.template.clone();
            // The model's SQL runs with fixtures for its inputs, but the functions it
            // calls must exist: the unit test waits for them.
            node.functions = model_node.functions.clone();
            node.test = Some(TestInfo {
                generic: None,
                attached_node: Some(model_id),
                column_name: None,
                kwargs: Map::new(),
                unit: Some(spec.clone()),
                declared_at,
                group: None,
                test_macro: None,
            });
            nodes.insert(unique_id, node);
        }
    }
    Ok(())
}
