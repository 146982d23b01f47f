//! A node's dependencies: its `ref` and `source` calls resolved to unique ids. An
//! unknown name is reported at the line of its call: the node is rendered once more with
//! the names that exist, so the template engine raises the error at the call itself.

use std::collections::BTreeMap;
use std::path::Path;

use super::models::Names;
use crate::error::{Error, Location, Result};
use crate::jinja::{
    CompileRelations, JinjaEnv, JinjaRelation, Known, Phase, Recorded, RenderInput, UNKNOWN_CALL,
};
use crate::manifest::{Node, SourceTable};

/// Renders a model in the parse phase (placeholder relations, `execute = false`) to
/// learn its `ref`s, `source`s and `config()`.
pub(crate) fn parse_render(
    jinja: &JinjaEnv,
    file: &Path,
    name: &str,
    unique_id: &str,
) -> Result<Recorded> {
    render(
        jinja,
        &file.display().to_string(),
        file,
        name,
        unique_id,
        None,
    )
    .map(|(_, r)| r)
}

/// [`parse_render`] for a node whose template is not named after its file (generic
/// tests).
pub(crate) fn parse_render_template(
    jinja: &JinjaEnv,
    template: &str,
    file: &Path,
    name: &str,
    unique_id: &str,
) -> Result<Recorded> {
    render(jinja, template, file, name, unique_id, None).map(|(_, r)| r)
}

fn render(
    jinja: &JinjaEnv,
    template: &str,
    file: &Path,
    name: &str,
    unique_id: &str,
    known: Option<Known>,
) -> Result<(String, Recorded)> {
    jinja.render(RenderInput {
        phase: Phase::Parse,
        template: template.to_owned(),
        file: file.to_path_buf(),
        this: JinjaRelation {
            database: String::new(),
            schema: String::new(),
            identifier: name.to_owned(),
            rendered: "__dvt_this__".into(),
        },
        target: jinja.parse_target().clone(),
        // At parse time a node's config is not known yet; dbt gives an empty one.
        model: serde_json::json!({"name": name, "unique_id": unique_id, "config": {}, "tags": []}),
        relations: CompileRelations::default(),
        known,
        is_incremental: false,
        connection: None,
    })
}

/// Source tables by (source, table) name.
pub(crate) fn source_ids(
    sources: &BTreeMap<String, SourceTable>,
) -> BTreeMap<(String, String), String> {
    sources
        .values()
        .map(|s| ((s.source_name.clone(), s.name.clone()), s.unique_id.clone()))
        .collect()
}

/// Turns a node's `ref` and `source` calls into the unique ids it depends on.
pub(crate) fn resolve_deps(
    jinja: &JinjaEnv,
    node: &mut Node,
    names: &Names,
    source_ids: &BTreeMap<(String, String), String>,
) -> Result<()> {
    let by_name = &names.by_name;
    let mut deps = std::collections::BTreeSet::new();
    for r in &node.refs {
        let Some(id) = by_name.get(&r.name) else {
            let hint = match names.disabled.get(&r.name) {
                Some(file) => format!(
                    "; `{}` ({}) is disabled with `enabled: false`",
                    r.name,
                    file.display()
                ),
                None => String::new(),
            };
            return Err(Error::UnknownRef {
                location: call_location(jinja, node, by_name, source_ids),
                node: node.unique_id.clone(),
                name: r.name.clone(),
                hint,
            });
        };
        deps.insert(id.clone());
    }
    for (s, t) in &node.sources {
        let Some(id) = source_ids.get(&(s.clone(), t.clone())) else {
            return Err(Error::UnknownSource {
                location: call_location(jinja, node, by_name, source_ids),
                node: node.unique_id.clone(),
                source_name: s.clone(),
                table: t.clone(),
            });
        };
        deps.insert(id.clone());
    }
    node.depends_on = deps.into_iter().collect();
    Ok(())
}

/// Where the first call to an unknown name is: the file (a model, or a macro it calls)
/// and line the template engine reports for it.
fn call_location(
    jinja: &JinjaEnv,
    node: &Node,
    by_name: &BTreeMap<String, String>,
    source_ids: &BTreeMap<(String, String), String>,
) -> Location {
    let known = Known {
        refs: by_name.keys().cloned().collect(),
        sources: source_ids.keys().cloned().collect(),
    };
    match render(
        jinja,
        &node.template,
        &node.original_file_path,
        &node.name,
        &node.unique_id,
        Some(known),
    ) {
        Err(Error::Jinja { location, message }) if message.contains(UNKNOWN_CALL) => location,
        _ => Location::file(&node.original_file_path),
    }
}
