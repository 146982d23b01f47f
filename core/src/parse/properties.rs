//! Property YAML (`models/**/*.yml`): descriptions, columns and configs of models,
//! seeds, snapshots and functions, and source declarations.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value as Json};

use super::files::walk;
use crate::error::Result;
use crate::project::ProjectConfig;
use crate::yaml;

#[derive(Debug, Default, Deserialize)]
struct PropertyFile {
    #[serde(default)]
    models: Vec<NodeProps>,
    #[serde(default)]
    seeds: Vec<NodeProps>,
    #[serde(default)]
    snapshots: Vec<NodeProps>,
    #[serde(default)]
    analyses: Vec<NodeProps>,
    #[serde(default)]
    sources: Vec<SourceProps>,
    #[serde(default)]
    unit_tests: Vec<Json>,
    #[serde(default)]
    functions: Vec<FunctionProps>,
    #[serde(default)]
    exposures: Vec<Json>,
    #[serde(default)]
    groups: Vec<Json>,
    #[serde(default)]
    semantic_models: Vec<Json>,
    #[serde(default)]
    metrics: Vec<Json>,
    #[serde(default)]
    saved_queries: Vec<Json>,
}

/// The properties of one function (dbt 1.11). `arguments` and `returns` stay JSON: they
/// are checked where their positions in the file are at hand, so an error names the
/// line of the entry at fault.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct FunctionProps {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) config: Map<String, Json>,
    #[serde(default)]
    pub(crate) arguments: Option<Json>,
    #[serde(default)]
    pub(crate) returns: Option<Json>,
}

/// A function's properties and where they were written.
#[derive(Debug)]
pub(crate) struct FunctionDecl {
    pub(crate) props: FunctionProps,
    pub(crate) file: PathBuf,
    pub(crate) tree: std::sync::Arc<yaml::Yaml>,
    pub(crate) index: usize,
}

/// The properties of one model or seed.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct NodeProps {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) config: Map<String, Json>,
    #[serde(default)]
    pub(crate) columns: Vec<Json>,
    /// Model-level generic tests (`data_tests:`, or dbt's older `tests:`).
    #[serde(default, alias = "tests")]
    pub(crate) data_tests: Vec<Json>,
    /// A YAML snapshot's input: `ref('x')` or `source('s', 't')`.
    #[serde(default)]
    pub(crate) relation: Option<String>,
    /// A versioned model's `versions:` entries (`v`, `defined_in`, `config`, `columns`).
    #[serde(default)]
    pub(crate) versions: Vec<Map<String, Json>>,
    /// `latest_version:`; without it the highest version is the latest.
    #[serde(default)]
    pub(crate) latest_version: Option<Json>,
    /// `time_spine:` (a model MetricFlow uses as its time spine).
    #[serde(default)]
    pub(crate) time_spine: Option<Json>,
    /// `deprecation_date:` (a model's, or a version's).
    #[serde(default)]
    pub(crate) deprecation_date: Option<Json>,
    /// A model's own `constraints:` (over several columns, or named).
    #[serde(default)]
    pub(crate) constraints: Vec<Json>,
    /// Keys dbt also takes outside `config:` and moves into it ([`NodeProps::normalize`]).
    #[serde(default)]
    pub(crate) meta: Option<Json>,
    #[serde(default)]
    pub(crate) docs: Option<Json>,
    #[serde(default)]
    pub(crate) group: Option<Json>,
    #[serde(default)]
    pub(crate) access: Option<Json>,
    #[serde(default)]
    pub(crate) contract: Option<Json>,
}

impl NodeProps {
    /// Moves `meta`, `docs`, `group`, `access` and `contract` written beside `config:`
    /// into it, as dbt does; one key in both places is an error, as in dbt.
    fn normalize(&mut self, at: impl Fn(&'static str) -> crate::error::Location) -> Result<()> {
        for (key, value) in [
            ("meta", self.meta.take()),
            ("docs", self.docs.take()),
            ("group", self.group.take()),
            ("access", self.access.take()),
            ("contract", self.contract.take()),
        ] {
            let Some(value) = value else { continue };
            if self.config.contains_key(key) {
                return Err(crate::error::Error::InvalidConfig {
                    location: at(key),
                    key: key.into(),
                    message: format!(
                        "`{}` has `{key}` under `config:` and as a top-level key; keep it under `config:` only",
                        self.name
                    ),
                });
            }
            self.config.insert(key.to_owned(), value);
        }
        Ok(())
    }
}

/// One entry of `sources:`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SourceProps {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) schema: Option<String>,
    #[serde(default)]
    pub(crate) database: Option<String>,
    #[serde(default)]
    pub(crate) connection: Option<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) quoting: Option<Json>,
    /// `config:` (DVT reads `partition_by`, `partitions`, `event_time`, `freshness`
    /// and `loaded_at_field` from it).
    #[serde(default)]
    pub(crate) config: Option<Json>,
    /// `freshness:`; `Some(null)` when written as `null` (no freshness check).
    #[serde(default, deserialize_with = "present")]
    pub(crate) freshness: Option<Json>,
    #[serde(default)]
    pub(crate) loaded_at_field: Option<String>,
    /// `tags:` (a name or a list), which every table of the source carries.
    #[serde(default)]
    pub(crate) tags: Option<Json>,
    #[serde(default)]
    pub(crate) tables: Vec<SourceTableProps>,
}

/// A key that is present, even as `null`, is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Json>, D::Error> {
    Json::deserialize(d).map(Some)
}

/// One table of a source.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SourceTableProps {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) identifier: Option<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) quoting: Option<Json>,
    /// `config:`; its keys win over the source's.
    #[serde(default)]
    pub(crate) config: Option<Json>,
    /// `freshness:`; `Some(null)` turns off the source's.
    #[serde(default, deserialize_with = "present")]
    pub(crate) freshness: Option<Json>,
    #[serde(default)]
    pub(crate) loaded_at_field: Option<String>,
    #[serde(default)]
    pub(crate) columns: Vec<Json>,
    #[serde(default, alias = "tests")]
    pub(crate) data_tests: Vec<Json>,
    /// `tags:` (a name or a list), added to the source's.
    #[serde(default)]
    pub(crate) tags: Option<Json>,
}

/// A node's properties and where they were written: the file, its parsed tree and the
/// entry's path in it (`models`/`seeds`, index), for the positions of its keys.
#[derive(Debug)]
pub(crate) struct Props {
    pub(crate) node: NodeProps,
    pub(crate) file: PathBuf,
    pub(crate) tree: std::sync::Arc<yaml::Yaml>,
    pub(crate) section: &'static str,
    pub(crate) index: usize,
}

/// A source declaration with where it was written: its file, its parsed tree (for the
/// positions of its keys) and its index under `sources:`.
#[derive(Debug)]
pub(crate) struct SourceDecl {
    pub(crate) props: SourceProps,
    pub(crate) file: PathBuf,
    pub(crate) tree: std::sync::Arc<yaml::Yaml>,
    pub(crate) index: usize,
}

/// Every property file of the project.
#[derive(Debug, Default)]
pub(crate) struct Properties {
    pub(crate) models: BTreeMap<String, Props>,
    pub(crate) seeds: BTreeMap<String, Props>,
    pub(crate) snapshots: BTreeMap<String, Props>,
    pub(crate) analyses: BTreeMap<String, Props>,
    pub(crate) sources: Vec<SourceDecl>,
    /// `unit_tests:` entries with the file declaring them.
    pub(crate) unit_tests: Vec<(Json, PathBuf)>,
    /// `functions:` entries by name.
    pub(crate) functions: BTreeMap<String, FunctionDecl>,
    /// `exposures:` entries with their file, its tree and their index in it.
    pub(crate) exposures: Vec<(Json, PathBuf, std::sync::Arc<yaml::Yaml>, usize)>,
    /// `groups:` entries with their file, its tree and their index in it.
    pub(crate) groups: Vec<(Json, PathBuf, std::sync::Arc<yaml::Yaml>, usize)>,
    /// `semantic_models:`, `metrics:` and `saved_queries:` entries, likewise.
    pub(crate) semantic_models: Vec<(Json, PathBuf, std::sync::Arc<yaml::Yaml>, usize)>,
    pub(crate) metrics: Vec<(Json, PathBuf, std::sync::Arc<yaml::Yaml>, usize)>,
    pub(crate) saved_queries: Vec<(Json, PathBuf, std::sync::Arc<yaml::Yaml>, usize)>,
}

/// Reads the property files under the model, seed, snapshot, function and analysis paths, in file
/// order (a file under two of them, read once).
/// Adds one entry of `models:`/`seeds:`/`snapshots:`; a second entry for the same name
/// is an error, as in dbt, rather than one silently replacing the other.
pub(crate) fn insert_once(into: &mut BTreeMap<String, Props>, props: Props) -> Result<()> {
    if let Some(first) = into.get(&props.node.name) {
        return Err(props.duplicate_of(first));
    }
    into.insert(props.node.name.clone(), props);
    Ok(())
}

impl Props {
    /// Where this entry is written.
    pub(crate) fn location(&self) -> crate::error::Location {
        self.tree.locate(
            &self.file,
            &[
                yaml::PathSeg::Key(self.section),
                yaml::PathSeg::Index(self.index),
            ],
        )
    }

    /// The error for this entry describing the same node as `first`.
    pub(crate) fn duplicate_of(&self, first: &Props) -> crate::error::Error {
        crate::error::Error::DuplicateNode {
            location: self.location(),
            kind: "property entry",
            name: format!("{}.{}", self.section, self.node.name),
            other: first.file.clone(),
        }
    }
}

pub(crate) fn read(project: &ProjectConfig) -> Result<Properties> {
    let mut out = Properties::default();
    let dirs = project
        .model_paths
        .iter()
        .chain(&project.seed_paths)
        .chain(&project.snapshot_paths)
        .chain(&project.function_paths)
        .chain(&project.analysis_paths);
    let mut seen = std::collections::BTreeSet::new();
    for dir in dirs {
        for file in walk(&project.root, dir, &["yml", "yaml"])? {
            if !seen.insert(file.clone()) {
                continue;
            }
            let text = super::read(&project.root, &file)?;
            let (props, tree): (Option<PropertyFile>, yaml::Yaml) =
                yaml::from_yaml_with_tree(&file, &text)?;
            let props = props.unwrap_or_default();
            let tree = std::sync::Arc::new(tree);
            for (section, entries, into) in [
                ("models", props.models, &mut out.models),
                ("seeds", props.seeds, &mut out.seeds),
                ("snapshots", props.snapshots, &mut out.snapshots),
                ("analyses", props.analyses, &mut out.analyses),
            ] {
                for (index, mut node) in entries.into_iter().enumerate() {
                    node.normalize(|key| {
                        tree.locate(
                            &file,
                            &[
                                yaml::PathSeg::Key(section),
                                yaml::PathSeg::Index(index),
                                yaml::PathSeg::Key(key),
                            ],
                        )
                    })?;
                    let props = Props {
                        node,
                        file: file.clone(),
                        tree: std::sync::Arc::clone(&tree),
                        section,
                        index,
                    };
                    insert_once(into, props)?;
                }
            }
            for (index, f) in props.functions.into_iter().enumerate() {
                let decl = FunctionDecl {
                    props: f,
                    file: file.clone(),
                    tree: std::sync::Arc::clone(&tree),
                    index,
                };
                out.functions.insert(decl.props.name.clone(), decl);
            }
            out.unit_tests
                .extend(props.unit_tests.into_iter().map(|u| (u, file.clone())));
            out.exposures.extend(
                props
                    .exposures
                    .into_iter()
                    .enumerate()
                    .map(|(i, e)| (e, file.clone(), std::sync::Arc::clone(&tree), i)),
            );
            for (list, into) in [
                (props.groups, &mut out.groups),
                (props.semantic_models, &mut out.semantic_models),
                (props.metrics, &mut out.metrics),
                (props.saved_queries, &mut out.saved_queries),
            ] {
                into.extend(
                    list.into_iter()
                        .enumerate()
                        .map(|(i, g)| (g, file.clone(), std::sync::Arc::clone(&tree), i)),
                );
            }
            for (index, src) in props.sources.into_iter().enumerate() {
                out.sources.push(SourceDecl {
                    props: src,
                    file: file.clone(),
                    tree: std::sync::Arc::clone(&tree),
                    index,
                });
            }
        }
    }
    Ok(out)
}
