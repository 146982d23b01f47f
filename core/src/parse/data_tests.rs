//! Data tests: generic tests declared in property YAML (`data_tests:`, dbt's older
//! `tests:`) on models, seeds, sources and their columns, and singular tests (SQL files
//! under the test paths). A generic test becomes a node whose SQL is a call to its test
//! macro (`test_unique`, a `{% test %}` block, ...), named as dbt names it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value as Json};

use super::files::{stem, walk};
use super::models::{Names, new_node, rendered_node};
use crate::error::{Error, Location, Result};
use crate::jinja::JinjaEnv;
use crate::manifest::{Node, ResourceType, TestInfo};
use crate::project::{ProjectConfig, merge_config};
use crate::yaml;

/// Test properties that are configs, not arguments of the test macro.
const CONFIG_KEYS: [&str; 14] = [
    "severity",
    "database",
    "schema",
    "where",
    "limit",
    "warn_if",
    "error_if",
    "fail_calc",
    "store_failures",
    "store_failures_as",
    "tags",
    "enabled",
    "meta",
    "alias",
];

/// One generic test as declared, before it becomes a node.
#[derive(Debug, Clone)]
pub(crate) struct TestDecl {
    /// The node or source table tested.
    pub(crate) attached: String,
    /// How the tested relation is named in SQL: `ref('m')` or `source('s', 't')`.
    pub(crate) relation_expr: String,
    /// The name used in the test's name: the model's, or `<source>_<table>`.
    pub(crate) target_name: String,
    /// Whether it tests a source (dbt prefixes such tests with `source_`).
    pub(crate) on_source: bool,
    /// The column tested.
    pub(crate) column: Option<String>,
    /// The column's name as written when it has `quote: true`: the test receives
    /// `adapter.quote(name)`, quoted for the target it runs on.
    pub(crate) quoted_column: Option<String>,
    /// The YAML entry: `unique`, or `{accepted_values: {values: [...]}}`.
    pub(crate) entry: Json,
    /// The property file.
    pub(crate) file: PathBuf,
    /// Where the entry is written.
    pub(crate) location: Location,
}

/// The test declarations of one entry of `models:`/`seeds:`/`tables:`: its own
/// `data_tests:` and those of its columns. `path` leads to the entry in `tree`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn declarations(
    attached: &str,
    relation_expr: String,
    target_name: String,
    on_source: bool,
    tests: &[Json],
    columns: &[Json],
    file: &std::path::Path,
    tree: &yaml::Yaml,
    path: &[yaml::PathSeg<'_>],
) -> Vec<TestDecl> {
    let mut out = Vec::new();
    let decl = |column: Option<String>, entry: &Json, at: Vec<yaml::PathSeg<'_>>| TestDecl {
        attached: attached.to_owned(),
        relation_expr: relation_expr.clone(),
        target_name: target_name.clone(),
        on_source,
        column,
        quoted_column: None,
        entry: entry.clone(),
        file: file.to_path_buf(),
        location: tree.locate(file, &at),
    };
    let key_of = |m: &Map<String, Json>| {
        if m.contains_key("data_tests") {
            "data_tests"
        } else {
            "tests"
        }
    };
    for (t, entry) in tests.iter().enumerate() {
        let mut at = path.to_vec();
        at.extend([yaml::PathSeg::Key("data_tests"), yaml::PathSeg::Index(t)]);
        out.push(decl(None, entry, at));
    }
    for (c, column) in columns.iter().enumerate() {
        let Some(map) = column.as_object() else {
            continue;
        };
        let Some(name) = map.get("name").and_then(Json::as_str) else {
            continue;
        };
        // `quote: true` hands the test the quoted name, as dbt does; the test is named
        // after it with double quotes, as dbt-postgres names it.
        let quoted = map.get("quote") == Some(&Json::Bool(true));
        let raw = name.to_owned();
        let name = if quoted {
            format!("\"{}\"", name.replace('"', "\"\""))
        } else {
            name.to_owned()
        };
        let key = key_of(map);
        for (t, entry) in map
            .get(key)
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let mut at = path.to_vec();
            at.extend([
                yaml::PathSeg::Key("columns"),
                yaml::PathSeg::Index(c),
                yaml::PathSeg::Key(key),
                yaml::PathSeg::Index(t),
            ]);
            let mut d = decl(Some(name.clone()), entry, at);
            d.quoted_column = quoted.then(|| raw.clone());
            out.push(d);
        }
    }
    out
}

/// Turns declarations and the singular test files into test nodes.
pub(super) fn parse(
    project: &ProjectConfig,
    root: Option<&ProjectConfig>,
    jinja: &mut JinjaEnv,
    decls: &[TestDecl],
    nodes: &mut BTreeMap<String, Node>,
    names: &mut Names,
) -> Result<()> {
    generic(project, root, jinja, decls, nodes)?;
    singular(project, root, jinja, nodes, names)
}

/// The generic tests of `decls`, as tests of `project`.
pub(super) fn generic(
    project: &ProjectConfig,
    root: Option<&ProjectConfig>,
    jinja: &mut JinjaEnv,
    decls: &[TestDecl],
    nodes: &mut BTreeMap<String, Node>,
) -> Result<()> {
    for decl in decls {
        let (node, template_text) = generic_node(project, decl)?;
        let generic = node
            .test
            .as_ref()
            .and_then(|t| t.generic.clone())
            .unwrap_or_default();
        let (namespace, short) = match generic.split_once('.') {
            Some((ns, n)) => (Some(ns), n),
            None => (None, generic.as_str()),
        };
        let macro_name = format!("test_{short}");
        if !jinja.has_macro(Some(&project.name), namespace, &macro_name) {
            return Err(Error::UnknownTest {
                location: decl.location.clone(),
                name: generic,
                macro_name,
            });
        }
        if nodes.contains_key(&node.unique_id) {
            // The same test with the same arguments declared twice: dbt keeps one.
            continue;
        }
        // dbt records the test macro by its name alone, looked up from the test's own
        // package (so a root project's `test_x` is recorded for `pkg.x` tests, though the
        // package's runs); the namespace only when that finds nothing.
        let root_name = root.map_or(project.name.as_str(), |r| r.name.as_str());
        let owner = jinja
            .macro_owner(Some(&project.name), None, &macro_name, root_name)
            .or_else(|| jinja.macro_owner(Some(&project.name), namespace, &macro_name, root_name));
        let mut node = node;
        if let (Some(t), Some(owner)) = (node.test.as_mut(), owner) {
            t.test_macro = Some(format!("macro.{owner}.{macro_name}"));
        }
        jinja.add_named_template(&node.template, &decl.file, &template_text)?;
        let recorded = super::deps::parse_render_template(
            jinja,
            &node.template,
            &decl.file,
            &node.name,
            &node.unique_id,
            &project.name,
        )?;
        let mut node = node;
        for (k, v) in recorded.config {
            merge_config(&mut node.config, &k, v);
        }
        super::models::apply_root_configs(root, |p| &p.data_tests, &node.fqn, &mut node.config);
        // Configs written in YAML (`where: "... {{ var('d') }}"`) render at parse, as dbt's.
        let mut config = Json::Object(std::mem::take(&mut node.config));
        let ctx = serde_json::json!({ "target": jinja.parse_target() });
        super::render_tree(jinja, &mut config, &ctx, &decl.location)?;
        if let Json::Object(c) = config {
            node.config = c;
        }
        node.refs = recorded.refs;
        node.sources = recorded.sources;
        node.functions = recorded.functions;
        if node.config.get("enabled") == Some(&Json::Bool(false)) {
            continue;
        }
        nodes.insert(node.unique_id.clone(), node);
    }
    Ok(())
}

/// The singular tests under `project`'s test paths.
fn singular(
    project: &ProjectConfig,
    root: Option<&ProjectConfig>,
    jinja: &mut JinjaEnv,
    nodes: &mut BTreeMap<String, Node>,
    names: &mut Names,
) -> Result<()> {
    for dir in &project.test_paths {
        for file in walk(&project.root, dir, &["sql"])? {
            // `tests/generic/` holds `{% test %}` blocks, read with the macros, and
            // `tests/fixtures/` unit tests' fixture files.
            if file
                .strip_prefix(dir)
                .is_ok_and(|rel| rel.starts_with("generic") || rel.starts_with("fixtures"))
            {
                continue;
            }
            let text = super::read(&project.root, &file)?;
            let name = stem(&file);
            let unique_id = format!("test.{}.{name}", project.name);
            if let Some(other) = nodes.get(&unique_id) {
                return Err(Error::DuplicateNode {
                    location: Location::file(&file),
                    kind: "test",
                    name,
                    other: other.original_file_path.clone(),
                });
            }
            jinja.add_node_template(&file, &text)?;
            let fqn = super::files::fqn(&project.name, dir, &file);
            let mut config = project.folder_config(&project.data_tests, &fqn);
            let mut recorded =
                super::deps::parse_render(jinja, &file, &name, &unique_id, &project.name)?;
            for (k, v) in std::mem::take(&mut recorded.config) {
                merge_config(&mut config, &k, v);
            }
            super::models::apply_root_configs(root, |p| &p.data_tests, &fqn, &mut config);
            if config.get("enabled") == Some(&Json::Bool(false)) {
                names.disable(&project.name, name, file);
                continue;
            }
            let mut node = rendered_node(
                unique_id.clone(),
                ResourceType::Test,
                name,
                &project.name,
                file,
                fqn,
                text,
                config,
                None,
                recorded,
            );
            node.test = Some(TestInfo {
                generic: None,
                attached_node: None,
                column_name: None,
                kwargs: Map::new(),
                unit: None,
                declared_at: 0,
                group: None,
                test_macro: None,
            });
            nodes.insert(unique_id, node);
        }
    }
    Ok(())
}

/// A generic test's node (before its parse render) and the text of its template.
fn generic_node(project: &ProjectConfig, decl: &TestDecl) -> Result<(Node, String)> {
    let bad = |message: String| Error::InvalidConfig {
        location: decl.location.clone(),
        key: "data_tests".into(),
        message,
    };
    let (test, args) = match &decl.entry {
        Json::String(name) => (name.clone(), Map::new()),
        Json::Object(m) if m.len() == 1 => {
            let (name, args) = m.iter().next().expect("one entry");
            let args = match args {
                Json::Object(a) => a.clone(),
                Json::Null => Map::new(),
                other => {
                    return Err(bad(format!(
                        "the arguments of test `{name}` must be a mapping, got `{other}`"
                    )));
                }
            };
            (name.clone(), args)
        }
        other => {
            return Err(bad(format!(
                "a test is a name (`unique`) or a mapping of one name to its arguments, got `{other}`"
            )));
        }
    };
    if test.trim().is_empty() {
        return Err(bad("a test needs a name".into()));
    }
    let mut config = Map::new();
    let mut kwargs = Map::new();
    let mut custom_name = None;
    for (k, v) in args {
        match k.as_str() {
            "config" => match v {
                Json::Object(c) => {
                    for (ck, cv) in c {
                        merge_config(&mut config, &ck, cv);
                    }
                }
                other => return Err(bad(format!("`config` must be a mapping, got `{other}`"))),
            },
            "arguments" => match v {
                Json::Object(a) => kwargs.extend(a),
                other => {
                    return Err(bad(format!("`arguments` must be a mapping, got `{other}`")));
                }
            },
            "name" => custom_name = v.as_str().map(str::to_owned),
            // dbt keeps a test's description off its arguments.
            "description" => {}
            key if CONFIG_KEYS.contains(&key) => merge_config(&mut config, key, v),
            _ => {
                kwargs.insert(k, v);
            }
        }
    }
    if let Some(column) = &decl.column {
        kwargs.insert("column_name".into(), Json::from(column.clone()));
    }
    // `dbt_utils.unique_combination_of_columns` calls the package's macro; the name
    // carries the namespace with `_`.
    let (namespace, macro_name) = match test.split_once('.') {
        Some((ns, name)) => (Some(ns.to_owned()), name.to_owned()),
        None => (None, test.clone()),
    };
    let test_type = match &namespace {
        Some(ns) => format!("{ns}_{macro_name}"),
        None => macro_name.clone(),
    };
    let test_type = if decl.on_source {
        format!("source_{test_type}")
    } else {
        test_type
    };
    let (short_name, full_name) = test_names(&test_type, &decl.target_name, &kwargs);
    let name = custom_name.clone().unwrap_or(full_name);
    // dbt's id suffix: the last 10 hex digits of md5(name + repr of the test's
    // metadata), so ids (and `state:`, `retry`, run_results readers) agree with dbt's.
    let mut hashed_kwargs = kwargs.clone();
    hashed_kwargs.insert(
        "model".into(),
        Json::from(format!(
            "{{{{ get_where_subquery({}) }}}}",
            decl.relation_expr
        )),
    );
    let metadata = serde_json::json!({
        "namespace": namespace,
        "name": macro_name,
        "kwargs": hashed_kwargs,
    });
    let digest = hex_md5(format!("{name}{}", crate::jinja::hashable_repr(&metadata)).as_bytes());
    let hash = &digest[digest.len() - 10..];
    let unique_id = format!("test.{}.{}.{hash}", project.name, name);
    let mut call = vec![format!("model=get_where_subquery({})", decl.relation_expr)];
    for (k, v) in &kwargs {
        match (&decl.quoted_column, k.as_str()) {
            (Some(raw), "column_name") => call.push(format!(
                "column_name=adapter.quote({})",
                jinja_expression(&Json::from(raw.clone()))
            )),
            _ => call.push(format!("{k}={}", jinja_expression(v))),
        }
    }
    // A package's test is called through its namespace (`golden_utils.test_x(...)`):
    // the calling node's package need not see the package's macros unqualified.
    let callee = match &namespace {
        Some(ns) => format!("{ns}.test_{macro_name}"),
        None => format!("test_{macro_name}"),
    };
    let template_text = format!("{{{{ {callee}({}) }}}}", call.join(", "));
    let mut fqn = super::files::folder_fqn(project, &decl.file);
    fqn.push(name.clone());
    let mut merged = project.folder_config(&project.data_tests, &fqn);
    for (k, v) in config {
        merge_config(&mut merged, &k, v);
    }

    if !merged.contains_key("alias") && custom_name.is_none() {
        merged.insert("alias".into(), Json::from(short_name));
    }
    let mut node = new_node(
        unique_id.clone(),
        ResourceType::Test,
        name,
        &project.name,
        decl.file.clone(),
        fqn,
        template_text.clone(),
        merged,
        None,
        Vec::new(),
        Vec::new(),
    );
    node.template = format!("{}#{unique_id}", decl.file.display());
    node.test = Some(TestInfo {
        generic: Some(test),
        attached_node: Some(decl.attached.clone()),
        column_name: decl.column.clone(),
        kwargs,
        unit: None,
        declared_at: 0,
        group: None,
        test_macro: None,
    });
    Ok((node, template_text))
}

/// dbt's names for a generic test: a short one (under 64 characters, for files and
/// relations) and the full one (for the unique id): the test's type, what it tests,
/// then its arguments (sorted by name) with everything but letters, digits and `_`
/// replaced by `_`.
fn test_names(test_type: &str, target_name: &str, kwargs: &Map<String, Json>) -> (String, String) {
    let mut flat = Vec::new();
    let mut keys: Vec<&String> = kwargs.keys().collect();
    keys.sort();
    for k in keys {
        if k == "model" {
            continue;
        }
        match &kwargs[k] {
            Json::Object(m) => flat.extend(m.values().map(python_str)),
            Json::Array(items) => flat.extend(items.iter().map(python_str)),
            other => flat.push(python_str(other)),
        }
    }
    let clean: Vec<String> = flat
        .iter()
        .map(|a| {
            let mut out = String::new();
            let mut in_run = false;
            for c in a.chars() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    out.push(c);
                    in_run = false;
                } else if !in_run {
                    out.push('_');
                    in_run = true;
                }
            }
            out
        })
        .collect();
    let identifier = format!("{test_type}_{target_name}");
    let full = format!("{identifier}_{}", clean.join("__"));
    if full.len() >= 64 {
        let cut: String = identifier.chars().take(30).collect();
        (format!("{cut}_{}", hex_md5(full.as_bytes())), full)
    } else {
        (full.clone(), full)
    }
}

/// A value as Python's `str()` prints it, which dbt's test names are made of.
fn python_str(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        Json::Null => "None".into(),
        other => other.to_string(),
    }
}

/// A YAML value as a Jinja expression: `ref(...)` and `source(...)` strings stay
/// expressions (dbt evaluates them), everything else becomes a literal.
/// Text with `{{ expression }}`s in it (`"date_day = {{ dbt_date.date(1997, 9, 29) }}"`),
/// which dbt renders when the test runs, as one Jinja expression joining the pieces;
/// `None` when there is no `{{` or one is not closed.
fn templated_text(s: &str) -> Option<String> {
    if !s.contains("{{") {
        return None;
    }
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(serde_json::to_string(&rest[..open]).ok()?);
        }
        let after = &rest[open + 2..];
        let close = after.find("}}")?;
        let inner = after[..close]
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        parts.push(format!("({inner})"));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        parts.push(serde_json::to_string(rest).ok()?);
    }
    Some(format!("({})", parts.join(" ~ ")))
}

fn jinja_expression(v: &Json) -> String {
    match v {
        Json::String(s) => {
            let t = s.trim();
            let is_call = (t.starts_with("ref(") || t.starts_with("source(")) && t.ends_with(')');
            // One `{{ expression }}`: dbt renders it to the value it stands for (a list
            // from `var()`, say), so the macro receives that value, not text.
            let lone_expression = t
                .strip_prefix("{{")
                .and_then(|r| r.strip_suffix("}}"))
                .filter(|inner| !inner.contains("{{") && !inner.contains("}}"));
            if is_call {
                t.to_owned()
            } else if let Some(inner) = lone_expression {
                format!("({})", inner.trim())
            } else if let Some(joined) = templated_text(s) {
                joined
            } else {
                serde_json::to_string(s).unwrap_or_else(|_| "''".into())
            }
        }
        Json::Null => "none".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(jinja_expression)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Json::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    serde_json::to_string(k).unwrap_or_default(),
                    jinja_expression(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn hex_md5(bytes: &[u8]) -> String {
    crate::sql::md5_hex(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(pairs: &[(&str, Json)]) -> Map<String, Json> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn names_tests_as_dbt_does() {
        let n = test_names(
            "unique",
            "orders",
            &kw(&[("column_name", Json::from("id"))]),
        );
        assert_eq!(n.0, "unique_orders_id");
        let n = test_names(
            "accepted_values",
            "orders",
            &kw(&[
                ("column_name", Json::from("status")),
                ("values", serde_json::json!(["placed", "shipped"])),
            ]),
        );
        assert_eq!(n.0, "accepted_values_orders_status__placed__shipped");
        let n = test_names(
            "relationships",
            "orders",
            &kw(&[
                ("column_name", Json::from("customer_id")),
                ("to", Json::from("ref('customers')")),
                ("field", Json::from("id")),
            ]),
        );
        assert_eq!(n.1, "relationships_orders_customer_id__id__ref_customers_");
        let n = test_names(
            "accepted_values",
            "a_rather_long_model_name",
            &kw(&[
                ("column_name", Json::from("status")),
                ("values", serde_json::json!(["one", "two", "three", "four"])),
            ]),
        );
        assert!(
            n.0.len() < 64 && n.0.starts_with("accepted_values_a_rather_long_"),
            "{}",
            n.0
        );
        assert!(n.1.len() >= 64);
    }

    #[test]
    fn arguments_become_jinja_expressions() {
        assert_eq!(jinja_expression(&Json::from("ref('x')")), "ref('x')");
        assert_eq!(jinja_expression(&Json::from("it's")), "\"it's\"");
        assert_eq!(
            jinja_expression(&serde_json::json!([1, "a", null, true])),
            "[1, \"a\", none, true]"
        );
    }
}
