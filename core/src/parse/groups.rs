//! Groups (`groups:` in property YAML) and models' `access`: who may `ref()` a model.
//! dbt checks both while parsing; so does DVT, after every `ref()` is resolved.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value as Json;

use super::YamlEntry;
use crate::error::{Error, Location, Result};
use crate::manifest::{Exposure, Node, ResourceType};
use crate::project::ProjectConfig;
use crate::yaml::PathSeg;

/// The groups by unique id (`group.<project>.<name>`), as dbt's `manifest.json` and
/// `graph.groups` show them.
pub(super) fn resolve(decls: &[YamlEntry]) -> Result<BTreeMap<String, Json>> {
    let mut out = BTreeMap::new();
    let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
    for d in decls {
        let at = |path: &[PathSeg<'_>]| d.at("groups", path);
        let bad = |location: Location, key: &str, message: String| Error::InvalidConfig {
            location,
            key: key.into(),
            message,
        };
        let Some(name) = d
            .spec
            .get("name")
            .and_then(Json::as_str)
            .filter(|n| !n.trim().is_empty())
        else {
            return Err(bad(at(&[]), "name", "a group needs a `name`".into()));
        };
        let owner = d.spec.get("owner").filter(|o| o.is_object());
        let named = |key: &str| owner.and_then(|o| o.get(key)).is_some_and(|v| !v.is_null());
        let Some(owner) = owner.filter(|_| named("name") || named("email")) else {
            return Err(bad(
                at(&[PathSeg::Key("owner")]),
                "owner",
                format!("group `{name}` needs an `owner:` with at least one of `name` or `email`"),
            ));
        };
        if let Some(first) = by_name.get(name) {
            return Err(Error::DuplicateNode {
                location: at(&[]),
                kind: "group",
                name: name.to_owned(),
                other: first.clone(),
            });
        }
        by_name.insert(name.to_owned(), d.file.clone());
        let unique_id = format!("group.{}.{name}", d.package);
        let meta = d
            .spec
            .get("config")
            .and_then(|c| c.get("meta"))
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        out.insert(
            unique_id.clone(),
            serde_json::json!({
                "name": name,
                "resource_type": "group",
                "package_name": d.package,
                "path": super::below_resource_folder(&d.file),
                "original_file_path": d.file,
                "unique_id": unique_id,
                "owner": owner,
                "description": d.spec.get("description").cloned().unwrap_or(Json::Null),
                "config": {"meta": meta},
            }),
        );
    }
    Ok(out)
}

/// dbt's parse-time rules: a node's `group` names a declared group, `access` is
/// `private`, `protected` or `public` (an ephemeral model cannot be `public`), a
/// generic test belongs to the group of the node it tests, and every `ref()` is allowed
/// by the `access` of the model it names ([`Error::RestrictedRef`]).
pub(super) fn check(
    nodes: &mut BTreeMap<String, Node>,
    exposures: &BTreeMap<String, Exposure>,
    groups: &BTreeMap<String, Json>,
    projects: &[&ProjectConfig],
) -> Result<()> {
    let names: BTreeSet<&str> = groups.values().filter_map(|g| g["name"].as_str()).collect();
    let inherited: Vec<(String, Json)> = nodes
        .values()
        .filter_map(|n| {
            let attached = n.test.as_ref()?.attached_node.as_ref()?;
            let group = nodes.get(attached)?.config.get("group")?.clone();
            Some((n.unique_id.clone(), group))
        })
        .collect();
    for (id, group) in inherited {
        if let Some(t) = nodes.get_mut(&id).and_then(|n| n.test.as_mut()) {
            t.group = Some(group);
        }
    }
    for n in nodes.values() {
        let bad = |key: &str, message: String| Error::InvalidConfig {
            location: Location::file(n.patch_path.as_ref().unwrap_or(&n.original_file_path)),
            key: key.into(),
            message,
        };
        if let Some(group) = n.config.get("group").filter(|g| !g.is_null()) {
            let group = group.as_str().unwrap_or_default();
            if !names.contains(group) {
                return Err(bad(
                    "group",
                    format!(
                        "{} `{}` names group `{group}`; the groups are: {}",
                        n.resource_type.as_str(),
                        n.name,
                        if names.is_empty() {
                            "none (declare it under `groups:` in a property file)".to_owned()
                        } else {
                            names.iter().copied().collect::<Vec<_>>().join(", ")
                        }
                    ),
                ));
            }
        }
        if let Some(access) = n.config.get("access").filter(|a| !a.is_null()) {
            // The config as written: `Node::materialized` is settled after the parse.
            let ephemeral =
                n.config.get("materialized").and_then(Json::as_str) == Some("ephemeral");
            match access.as_str() {
                Some("private" | "protected") => {}
                Some("public") if !ephemeral => {}
                _ => {
                    let with = if ephemeral {
                        " with `ephemeral` materialization"
                    } else {
                        ""
                    };
                    return Err(bad(
                        "access",
                        format!(
                            "{} `{}`{with} has an invalid value ({}) for the access field: use private, protected or public",
                            n.resource_type.as_str(),
                            n.name,
                            access
                                .as_str()
                                .map_or_else(|| access.to_string(), str::to_owned)
                        ),
                    ));
                }
            }
        }
    }
    let restricted = |package: &str| {
        projects
            .iter()
            .any(|p| p.name == package && p.restrict_access)
    };
    let check_ref = |node: &str,
                     package: &str,
                     group: Option<&str>,
                     file: &PathBuf,
                     target: &Node|
     -> Result<()> {
        if target.resource_type != ResourceType::Model {
            return Ok(());
        }
        let foreign = package != target.package_name && restricted(&target.package_name);
        let target_group = target.config.get("group").and_then(Json::as_str);
        let (access, scope, scope_kind) = match target.config.get("access").and_then(Json::as_str) {
            Some("private") if group.is_none() || group != target_group || foreign => (
                "private",
                target_group.unwrap_or("None").to_owned(),
                "group",
            ),
            Some("protected") | None if foreign => {
                ("protected", target.package_name.clone(), "package")
            }
            _ => return Ok(()),
        };
        Err(Error::RestrictedRef {
            location: Location::file(file),
            message: format!(
                "node {node} attempted to reference node {}, which is not allowed because the referenced node is {access} to the '{scope}' {scope_kind}",
                target.unique_id
            ),
        })
    };
    for n in nodes.values() {
        // dbt keeps unit tests apart from nodes and checks no access for them.
        if n.resource_type == ResourceType::Seed
            || n.test.as_ref().is_some_and(|t| t.unit.is_some())
        {
            continue;
        }
        let group = n.group();
        let group = group.as_str();
        for dep in &n.depends_on {
            if let Some(target) = nodes.get(dep) {
                check_ref(
                    &n.unique_id,
                    &n.package_name,
                    group,
                    &n.original_file_path,
                    target,
                )?;
            }
        }
    }
    // Exposures belong to no group: they may read no private model.
    for e in exposures.values() {
        for dep in &e.depends_on {
            if let Some(target) = nodes.get(dep) {
                check_ref(
                    &e.unique_id,
                    &e.package_name,
                    None,
                    &e.original_file_path,
                    target,
                )?;
            }
        }
    }
    Ok(())
}
