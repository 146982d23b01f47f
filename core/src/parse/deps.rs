//! A node's dependencies: its `ref`, `function` and `source` calls resolved to unique ids. An
//! unknown name is reported at the line of its call: the node is rendered once more with
//! the names that exist, so the template engine raises the error at the call itself.

use std::collections::BTreeMap;
use std::path::Path;

use super::models::{Names, RefMiss};
use crate::error::{Error, Location, Result};
use crate::jinja::{
    CompileRelations, JinjaEnv, JinjaRelation, Known, Phase, Recorded, RefCall, RenderInput,
    UNKNOWN_CALL,
};
use crate::manifest::{Node, SourceTable};

/// Source tables by (source, table) name, then by package.
pub(crate) type SourceIds = BTreeMap<(String, String), BTreeMap<String, String>>;

/// Renders a model of `package` in the parse phase (placeholder relations, `execute =
/// false`) to learn its `ref`s, `source`s and `config()`.
pub(crate) fn parse_render(
    jinja: &JinjaEnv,
    file: &Path,
    name: &str,
    unique_id: &str,
    package: &str,
) -> Result<Recorded> {
    render(
        jinja,
        &file.display().to_string(),
        file,
        (name, unique_id, package),
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
    package: &str,
) -> Result<Recorded> {
    render(jinja, template, file, (name, unique_id, package), None).map(|(_, r)| r)
}

/// Adds the macros a node's `pre-hook`s and `post-hook`s call to its own, in order, as
/// dbt's parse captures them (it renders every hook once while parsing). A hook that
/// does not render at parse time adds nothing here: it is rendered, and fails, when it
/// runs.
pub(crate) fn add_hook_macros(jinja: &JinjaEnv, node: &mut Node) {
    let file = node.original_file_path.clone();
    let template = file.display().to_string();
    for key in ["pre-hook", "post-hook"] {
        let hooks = match node.config.get(key) {
            Some(serde_json::Value::Array(items)) => items.clone(),
            Some(one) => vec![one.clone()],
            None => Vec::new(),
        };
        for hook in hooks {
            let sql = match &hook {
                serde_json::Value::String(s) => s.clone(),
                other => other["sql"].as_str().unwrap_or_default().to_owned(),
            };
            if !(sql.contains("{{") || sql.contains("{%")) {
                continue;
            }
            let who = (&*node.name, &*node.unique_id, &*node.package_name);
            let input = parse_input(jinja, &template, &file, who, None);
            if let Ok((_, recorded)) = jinja.render_source(&sql, input) {
                for m in recorded.macros {
                    if !node.macros.contains(&m) {
                        node.macros.push(m);
                    }
                }
            }
        }
    }
}

/// `who`: the node's name, unique id and package.
fn render(
    jinja: &JinjaEnv,
    template: &str,
    file: &Path,
    who: (&str, &str, &str),
    known: Option<Known>,
) -> Result<(String, Recorded)> {
    jinja.render(parse_input(jinja, template, file, who, known))
}

/// What a parse-phase render of a node gets.
fn parse_input(
    jinja: &JinjaEnv,
    template: &str,
    file: &Path,
    who: (&str, &str, &str),
    known: Option<Known>,
) -> RenderInput {
    let (name, unique_id, package) = who;
    RenderInput {
        phase: Phase::Parse,
        template: template.to_owned(),
        file: file.to_path_buf(),
        // As dbt's parse, the node in the target's database and schema: config code
        // that reads `this.schema` while parsing gets a name, not an empty string.
        this: Some(JinjaRelation {
            database: target_part(jinja, "database"),
            schema: target_part(jinja, "schema"),
            identifier: name.to_owned(),
            rendered: "__dvt_this__".into(),
            home: None,
        }),
        target: jinja.parse_target().clone(),
        // At parse time a node's config is not known yet; dbt gives an empty one.
        model: serde_json::json!({"name": name, "unique_id": unique_id, "config": {}, "tags": []}),
        relations: CompileRelations::default(),
        known,
        is_incremental: false,
        connection: None,
        package: Some(package.to_owned()),
        federated: false,
        globals: serde_json::Map::new(),
        vars: serde_json::Map::new(),
    }
}

fn target_part(jinja: &JinjaEnv, key: &str) -> String {
    jinja.parse_target()[key]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Source tables by (source, table), then package.
pub(crate) fn source_ids(sources: &BTreeMap<String, SourceTable>) -> SourceIds {
    let mut out = SourceIds::new();
    for s in sources.values() {
        out.entry((s.source_name.clone(), s.name.clone()))
            .or_default()
            .insert(s.package_name.clone(), s.unique_id.clone());
    }
    out
}

/// The source table a `source()` call of a node of `caller` names: dbt searches the
/// root project, the caller's package, then any package.
pub(super) fn resolve_source<'a>(
    source_ids: &'a SourceIds,
    key: &(String, String),
    root: &str,
    caller: &str,
) -> Option<&'a String> {
    let by_package = source_ids.get(key)?;
    by_package
        .get(root)
        .or_else(|| by_package.get(caller))
        .or_else(|| by_package.values().next())
}

/// Turns a node's `ref`, `function` and `source` calls into the unique ids it depends on.
pub(crate) fn resolve_deps(
    jinja: &JinjaEnv,
    node: &mut Node,
    names: &Names,
    source_ids: &SourceIds,
) -> Result<()> {
    let mut deps = std::collections::BTreeSet::new();
    for r in &node.refs {
        match names.resolve(r, &node.package_name) {
            Ok(id) => {
                deps.insert(id.clone());
            }
            Err(RefMiss::Ambiguous(packages)) => {
                return Err(Error::AmbiguousRef {
                    location: Location::file(&node.original_file_path),
                    node: node.unique_id.clone(),
                    name: r.name.clone(),
                    packages: packages
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            Err(RefMiss::Missing) => {
                let versions = names.versions_of(&r.name);
                let hint = match (names.disabled_file(r), &r.package) {
                    _ if r.version.is_some() && names.by_name.contains_key(&r.name) => {
                        match versions.as_slice() {
                            [] => format!("; `{}` is not a versioned model", r.name),
                            vs => format!(
                                "; `{}` has no version {} (its versions: {})",
                                r.name,
                                r.version.as_deref().unwrap_or_default(),
                                vs.join(", ")
                            ),
                        }
                    }
                    (Some(file), _) => format!(
                        "; `{}` ({}) is disabled with `enabled: false`",
                        r.name,
                        file.display()
                    ),
                    (None, Some(p)) if !names.by_name.values().any(|m| m.contains_key(p)) => {
                        format!("; no installed package is named `{p}` (run `dvt deps`?)")
                    }
                    (None, _) => String::new(),
                };
                return Err(Error::UnknownRef {
                    location: call_location(jinja, node, names, source_ids),
                    node: node.unique_id.clone(),
                    name: match &r.package {
                        Some(p) => format!("{p}', '{}", r.name),
                        None => r.name.clone(),
                    },
                    hint,
                });
            }
        }
    }
    for call in &node.functions {
        match names.resolve_function(call, &node.package_name) {
            Ok(id) => {
                deps.insert(id.clone());
            }
            Err(RefMiss::Ambiguous(packages)) => {
                return Err(Error::UnknownFunction {
                    location: call_location(jinja, node, names, source_ids),
                    node: node.unique_id.clone(),
                    name: call.name.clone(),
                    problem: format!(
                        "is ambiguous: packages {} each have a function `{}`; write `function('<package>', '{}')`",
                        packages
                            .iter()
                            .map(|p| format!("`{p}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        call.name,
                        call.name
                    ),
                });
            }
            Err(RefMiss::Missing) => {
                let hint = match names.disabled_function_file(call) {
                    Some(file) => format!(
                        "; `{}` ({}) is disabled with `enabled: false`",
                        call.name,
                        file.display()
                    ),
                    None if names.by_name.contains_key(&call.name) => format!(
                        "; `{}` is a model or seed: read it with `ref('{}')`",
                        call.name, call.name
                    ),
                    None => String::new(),
                };
                return Err(Error::UnknownFunction {
                    location: call_location(jinja, node, names, source_ids),
                    node: node.unique_id.clone(),
                    name: match &call.package {
                        Some(p) => format!("{p}', '{}", call.name),
                        None => call.name.clone(),
                    },
                    problem: format!("names no function{hint}"),
                });
            }
        }
    }
    for key in &node.sources {
        let Some(id) = resolve_source(source_ids, key, &names.root, &node.package_name) else {
            return Err(Error::UnknownSource {
                location: call_location(jinja, node, names, source_ids),
                node: node.unique_id.clone(),
                source_name: key.0.clone(),
                table: key.1.clone(),
            });
        };
        deps.insert(id.clone());
    }
    node.depends_on = deps.into_iter().collect();
    Ok(())
}

/// Where the first call to an unknown name is: the file (a model, or a macro it calls)
/// and line the template engine reports for it.
fn call_location(jinja: &JinjaEnv, node: &Node, names: &Names, source_ids: &SourceIds) -> Location {
    let known = Known {
        refs: names.by_name.keys().cloned().collect(),
        qualified_refs: names
            .by_name
            .iter()
            .flat_map(|(name, by_package)| by_package.keys().map(|p| (p.clone(), name.clone())))
            .collect(),
        sources: source_ids.keys().cloned().collect(),
        functions: names.functions.keys().cloned().collect(),
        qualified_functions: names
            .functions
            .iter()
            .flat_map(|(name, by_package)| by_package.keys().map(|p| (p.clone(), name.clone())))
            .collect(),
    };
    match render(
        jinja,
        &node.template,
        &node.original_file_path,
        (&node.name, &node.unique_id, &node.package_name),
        Some(known),
    ) {
        Err(Error::Jinja { location, message }) if message.contains(UNKNOWN_CALL) => location,
        _ => Location::file(&node.original_file_path),
    }
}

/// A `ref(...)` or `source(...)` call written as text: a unit test's `input:`, an
/// exposure's `depends_on:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallText {
    /// `ref('m')`, `ref('pkg', 'm')`, `ref('m', v=2)`.
    Ref(RefCall),
    /// `source('s', 't')`.
    Source(String, String),
}

/// Reads `text` as a `ref()` or `source()` call with literal arguments.
pub(crate) fn call_text(text: &str) -> Option<CallText> {
    let text = text.trim();
    let text = text
        .strip_prefix("{{")
        .and_then(|t| t.strip_suffix("}}"))
        .map_or(text, str::trim);
    let (call, inner) = text
        .strip_prefix("ref(")
        .map(|r| ("ref", r))
        .or_else(|| text.strip_prefix("source(").map(|r| ("source", r)))?;
    let unquote = |s: &str| s.trim().trim_matches(['\'', '"']).to_owned();
    let mut args = Vec::new();
    let mut version = None;
    for part in inner.trim_end().strip_suffix(')')?.split(',') {
        match part.split_once('=') {
            Some((k, v)) if matches!(k.trim(), "v" | "version") => version = Some(unquote(v)),
            Some(_) => return None,
            None => args.push(unquote(part)),
        }
    }
    match (call, args.as_slice()) {
        ("ref", [name]) => Some(CallText::Ref(RefCall {
            package: None,
            name: name.clone(),
            version,
        })),
        ("ref", [pkg, name]) => Some(CallText::Ref(RefCall {
            package: Some(pkg.clone()),
            name: name.clone(),
            version,
        })),
        ("source", [source, table]) if version.is_none() => {
            Some(CallText::Source(source.clone(), table.clone()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_written_as_text_are_read() {
        let r = |package: Option<&str>, name: &str, version: Option<&str>| {
            Some(CallText::Ref(RefCall {
                package: package.map(str::to_owned),
                name: name.into(),
                version: version.map(str::to_owned),
            }))
        };
        assert_eq!(call_text("ref('m')"), r(None, "m", None));
        assert_eq!(call_text(" ref(\"p\", 'm') "), r(Some("p"), "m", None));
        assert_eq!(call_text("{{ ref('m', v=2) }}"), r(None, "m", Some("2")));
        assert_eq!(call_text("ref('m', version='1')"), r(None, "m", Some("1")));
        assert_eq!(
            call_text("source('raw', 'orders')"),
            Some(CallText::Source("raw".into(), "orders".into()))
        );
        assert_eq!(call_text("metric('m')"), None);
        assert_eq!(call_text("ref('a', 'b', 'c')"), None);
        assert_eq!(call_text("ref('m', x=1)"), None);
    }
}

#[cfg(test)]
mod macro_capture {
    use crate::manifest::tests::load;

    /// dbt's parse lists the macros a node's own code and hooks call, in call order,
    /// not those called from inside a macro, nor those behind `{% if execute %}`.
    #[test]
    fn nodes_list_the_macros_their_code_and_hooks_call() {
        let m = load(
            &[
                ("dbt_project.yml", "name: p\nprofile: p\nmodels:\n  p:\n    +post-hook: \"{{ audit(this) }}\"\n"),
                (
                    "profiles.yml",
                    "p:\n  target: lite\n  outputs:\n    lite: {type: sqlite, path: p.db}\n",
                ),
                (
                    "macros/m.sql",
                    "{% macro outer() %}{{ inner() }}{% endmacro %}{% macro inner() %}1{% endmacro %}{% macro audit(r) %}select 1{% endmacro %}{% macro later() %}2{% endmacro %}",
                ),
                (
                    "models/a.sql",
                    "{{ config(materialized='incremental', pre_hook=\"{{ later() }}\") }}select {{ outer() }} as x, {{ dbt.type_int() }} as y {% if is_incremental() %}where 1 = 1{% endif %}{% if execute %}{{ inner() }}{% endif %}",
                ),
                ("models/plain.sql", "select 1 as x"),
            ],
            "",
        )
        .expect("loads");
        let a = &m.nodes["model.p.a"];
        assert_eq!(
            a.parsed_macro_deps(),
            [
                "macro.p.outer",
                "macro.dbt.type_int",
                "macro.dbt.is_incremental",
                "macro.p.later",
                "macro.p.audit"
            ]
        );
        // The project's post-hook reaches every model.
        assert_eq!(
            m.nodes["model.p.plain"].parsed_macro_deps(),
            ["macro.p.audit"]
        );
        let graph = m.graph_node("model.p.a").expect("in graph");
        assert_eq!(graph["depends_on"]["macros"][0], "macro.p.outer");
    }
}
