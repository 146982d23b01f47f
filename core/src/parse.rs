//! dbt's parsing: read the project and profile, the macros and property YAML, render
//! every model once in the parse phase to learn its `ref`s, `source`s and `config`,
//! then build the DAG. One module per resource type; DVT's part (targets, connections,
//! paths) is called from [`crate::resolve`] at the end.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Location, Result, read_to_string};
use crate::graph::Graph;
use crate::jinja::JinjaEnv;
use crate::manifest::{LoadOptions, Manifest, Node, SourceTable};
use crate::profile::Profile;
use crate::project::ProjectConfig;
use crate::resolve;

mod data_tests;
mod deps;
mod files;
mod models;
mod properties;
mod seeds;
mod sources;

pub(crate) use deps::{parse_render, resolve_deps, source_ids};
pub(crate) use models::{Names, new_node};

impl Manifest {
    /// Loads and parses the project.
    pub fn load(opts: &LoadOptions) -> Result<Manifest> {
        let project = ProjectConfig::load(&opts.project_dir)?;
        let root = project.root.clone();
        let profiles_file = opts.profiles.find(&root)?;
        let profile = Profile::load(&profiles_file, &project.profile, &root)?;
        if let Some(t) = &opts.target {
            profile.check_target(t, Location::file("--target"))?;
        }
        let default_target = opts
            .target
            .clone()
            .unwrap_or_else(|| profile.default_target.clone());
        let mut vars = project.vars.clone();
        vars.extend(opts.vars.clone());

        let mut macro_files = Vec::new();
        // `{% test %}` blocks live with the macros or under `<test path>/generic/`.
        let generic_test_dirs: Vec<String> = project
            .test_paths
            .iter()
            .map(|t| format!("{t}/generic"))
            .collect();
        for dir in project.macro_paths.iter().chain(&generic_test_dirs) {
            for file in files::walk(&root, dir, &["sql"])? {
                let text = read_to_string(&root.join(&file))?;
                macro_files.push((file, text));
            }
        }
        let mut jinja = JinjaEnv::new(&macro_files, vars)?;
        let macros = jinja.macros().clone();

        let mut warnings = Vec::new();
        let mut props = properties::read(&project)?;
        let mut test_decls = Vec::new();
        let sources: BTreeMap<String, SourceTable> = sources::parse(
            &project,
            &profile,
            &default_target,
            &jinja,
            &props.sources,
            &mut warnings,
            &mut test_decls,
        )?;
        let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
        let mut names = Names::default();
        models::parse(
            &project,
            &mut jinja,
            &mut props.models,
            &mut nodes,
            &mut names,
            &mut test_decls,
        )?;
        seeds::parse(
            &project,
            &mut props.seeds,
            &mut nodes,
            &mut names,
            &mut test_decls,
        )?;
        data_tests::parse(&project, &mut jinja, &test_decls, &mut nodes, &mut names)?;
        for node in nodes.values() {
            if node.name.contains(' ') {
                warnings.push(crate::manifest::Warning {
                    code: "DVT004",
                    message: format!(
                        "{}: {} name `{}` contains a space; dbt deprecates such names and every statement must quote them",
                        node.original_file_path.display(),
                        node.resource_type.as_str(),
                        node.name
                    ),
                });
            }
        }

        // Dependencies: refs to nodes, sources to source tables.
        let source_ids = source_ids(&sources);
        for node in nodes.values_mut() {
            resolve_deps(&jinja, node, &names, &source_ids)?;
        }
        let graph = Graph::new(nodes.iter().map(|(id, n)| (id, &n.depends_on)));
        if let Some(cycle) = graph.find_cycle() {
            let file = nodes
                .get(&cycle[0])
                .map(|n| n.original_file_path.clone())
                .unwrap_or_default();
            return Err(Error::Cycle {
                location: Location::file(file),
                cycle: cycle.join(" -> "),
            });
        }

        let mut manifest = Manifest {
            project,
            profile,
            target_override: opts.target.clone(),
            default_target,
            nodes,
            sources,
            graph,
            warnings,
            macros,
            jinja,
        };
        resolve::resolve(&mut manifest)?;
        Ok(manifest)
    }
}

/// A project-relative file's text.
pub(crate) fn read(root: &Path, file: &Path) -> Result<String> {
    read_to_string(&root.join(file))
}
