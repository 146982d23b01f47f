//! Seeds: one CSV file each; the file is read when the seed is loaded, not here.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::data_tests::TestDecl;
use super::files::{fqn, stem, walk};
use super::models::{Names, new_node};
use super::properties::Props;
use crate::error::{Error, Location, Result};
use crate::manifest::{Node, ResourceType};
use crate::project::{ProjectConfig, merge_config};

/// Parses every CSV under the seed paths.
pub(super) fn parse(
    project: &ProjectConfig,
    root: Option<&ProjectConfig>,
    props: &mut BTreeMap<String, Props>,
    nodes: &mut BTreeMap<String, Node>,
    names: &mut Names,
    tests: &mut Vec<TestDecl>,
) -> Result<()> {
    for dir in &project.seed_paths {
        for file in walk(&project.root, dir, &["csv"])? {
            let name = stem(&file);
            let fqn = fqn(&project.name, dir, &file);
            let unique_id = format!("seed.{}.{name}", project.name);
            let mut config = project.folder_config(&project.seeds, &fqn);
            let node_props = props.remove(&name);
            if let Some(p) = &node_props {
                for (k, v) in &p.node.config {
                    merge_config(&mut config, k, v.clone());
                }
            }
            super::models::apply_root_configs(root, |p| &p.seeds, &fqn, &mut config);
            if config.get("enabled") == Some(&Json::Bool(false)) {
                // Its properties describe no node here; dbt then patches the enabled
                // node of that name elsewhere (see `patch_other_project`).
                if let Some(p) = node_props {
                    props.insert(name.clone(), p);
                }
                names.disable(&project.name, name, file);
                continue;
            }
            if let Some(other_id) = names.get(&project.name, &name) {
                return Err(Error::DuplicateNode {
                    location: Location::file(&file),
                    kind: "seed",
                    name,
                    other: nodes[other_id].original_file_path.clone(),
                });
            }
            names.insert(&project.name, name.clone(), unique_id.clone());
            if let Some(p) = &node_props {
                tests.extend(super::models::test_declarations(&unique_id, &name, p));
            }
            nodes.insert(
                unique_id.clone(),
                new_node(
                    unique_id,
                    ResourceType::Seed,
                    name,
                    &project.name,
                    file,
                    fqn,
                    String::new(),
                    config,
                    node_props,
                    Vec::new(),
                    Vec::new(),
                ),
            );
        }
    }
    Ok(())
}
