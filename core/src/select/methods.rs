//! What one criterion's method matches, before graph operators: dbt's selector methods
//! over the project's nodes, sources and exposures.

use std::collections::BTreeSet;
use std::path::{Component, Path};

use serde_json::Value as Json;

use super::spec::{Criterion, invalid};
use crate::error::Result;
use crate::manifest::{Manifest, Node, ResourceType};

/// The unique ids `c`'s method and value match.
pub(super) fn search(
    m: &Manifest,
    c: &Criterion,
    notes: &mut Vec<super::Note>,
) -> Result<BTreeSet<String>> {
    let value = c.value.as_str();
    let mut out = BTreeSet::new();
    let mut add = |id: &String| {
        out.insert(id.clone());
    };
    match c.method.as_str() {
        "fqn" => {
            for (id, n) in &m.nodes {
                if qualified_name_matches(&n.fqn, value, n.version.is_some()) {
                    add(id);
                }
            }
            for (id, e) in &m.exposures {
                if qualified_name_matches(&e.fqn, value, false) {
                    add(id);
                }
            }
            for (id, n) in &m.semantic {
                if qualified_name_matches(&n.fqn, value, false) {
                    add(id);
                }
            }
        }
        "tag" => {
            for x in members(m) {
                if x.tags.iter().any(|t| fnmatch(value, t)) {
                    add(x.id);
                }
            }
        }
        "group" => {
            for (id, n) in &m.nodes {
                if n.group().as_str().is_some_and(|g| fnmatch(value, g)) {
                    add(id);
                }
            }
        }
        "access" => {
            for (id, n) in &m.nodes {
                if n.resource_type == ResourceType::Model {
                    let access = n.config.get("access").and_then(Json::as_str);
                    if access.unwrap_or("protected") == value {
                        add(id);
                    }
                }
            }
        }
        "source" => {
            // `source:name`, `source:name.table`, `source:package.name.table`.
            let parts: Vec<&str> = value.split('.').collect();
            for (id, s) in &m.sources {
                let hit = match parts.as_slice() {
                    [source] => fnmatch(source, &s.source_name),
                    [source, table] => fnmatch(source, &s.source_name) && fnmatch(table, &s.name),
                    [package, source, table] => {
                        fnmatch(package, &s.package_name)
                            && fnmatch(source, &s.source_name)
                            && fnmatch(table, &s.name)
                    }
                    _ => {
                        return Err(invalid(
                            &c.raw,
                            "`source:` takes `source`, `source.table` or `package.source.table`",
                        ));
                    }
                };
                if hit {
                    add(id);
                }
            }
        }
        "path" => {
            let pattern = value.trim_end_matches('/');
            // dbt globs from the project folder but reads a package's files inside the
            // package; both are matched, and a node's property file too.
            for x in members(m) {
                let patch = m.nodes.get(x.id).and_then(|n| n.patch_path.as_deref());
                if path_matches(pattern, x.file)
                    || path_matches(pattern, m.package_relative(x.package, x.file))
                    || patch.is_some_and(|p| path_matches(pattern, p))
                {
                    add(x.id);
                }
            }
        }
        "file" => {
            for x in members(m) {
                let name = x.file.file_name().unwrap_or_default().to_string_lossy();
                let stem = x.file.file_stem().unwrap_or_default().to_string_lossy();
                if fnmatch(value, &name) || fnmatch(value, &stem) {
                    add(x.id);
                }
            }
        }
        "package" => {
            // `this` is the root project, as in dbt.
            let value = if value == "this" {
                m.project.name.as_str()
            } else {
                value
            };
            for x in members(m) {
                if fnmatch(value, x.package) {
                    add(x.id);
                }
            }
        }
        "config" if c.arguments == ["target"] => target(m, value, &mut add),
        "target" => target(m, value, &mut add),
        "config" => {
            // dbt compares `config.severity` without regard to case.
            let severity = c.arguments == ["severity"];
            for (id, n) in &m.nodes {
                let config = Json::Object(crate::artifacts::node_config(n));
                let Some(found) = c.arguments.iter().try_fold(&config, |v, k| v.get(k)) else {
                    continue;
                };
                if config_value_matches(found, value, severity) {
                    add(id);
                }
            }
        }
        "test_name" => {
            for (id, n) in &m.nodes {
                let Some(info) = n.test.as_ref() else {
                    continue;
                };
                // A generic test by its macro's name (`unique`, `expression_is_true`),
                // a unit test by its own.
                let name = match (&info.generic, &info.unit) {
                    (_, Some(_)) => n.name.as_str(),
                    (Some(generic), None) => generic.rsplit('.').next().unwrap_or(generic),
                    (None, None) => continue,
                };
                if fnmatch(value, name) {
                    add(id);
                }
            }
        }
        "test_type" => {
            let kinds: &[&str] = match value {
                "generic" | "schema" => &["generic"],
                "singular" => &["singular"],
                "data" => &["generic", "singular"],
                "unit" => &["unit"],
                _ => {
                    return Err(invalid(
                        &c.raw,
                        "`test_type:` takes `generic`, `singular`, `unit` or `data`",
                    ));
                }
            };
            for (id, n) in &m.nodes {
                if test_kind(n).is_some_and(|k| kinds.contains(&k)) {
                    add(id);
                }
            }
        }
        "resource_type" => match value {
            "source" => m.sources.keys().for_each(&mut add),
            "exposure" => m.exposures.keys().for_each(&mut add),
            "unit_test" => {
                for (id, n) in &m.nodes {
                    if test_kind(n) == Some("unit") {
                        add(id);
                    }
                }
            }
            "model" | "seed" | "snapshot" | "test" | "function" => {
                for (id, n) in &m.nodes {
                    if n.resource_type.as_str() == value && test_kind(n) != Some("unit") {
                        add(id);
                    }
                }
            }
            "metric" | "semantic_model" | "saved_query" => {
                for (id, n) in &m.semantic {
                    if n.resource_type == value {
                        add(id);
                    }
                }
            }
            // Kinds dbt knows that DVT's projects hold none of.
            "analysis" | "operation" | "sql_operation" | "macro" | "doc" | "group" => {}
            _ => {
                return Err(invalid(
                    &c.raw,
                    "`resource_type:` takes `model`, `seed`, `snapshot`, `test`, `unit_test`, `function`, `source`, `exposure`, `metric`, `semantic_model` or `saved_query`",
                ));
            }
        },
        "unit_test" => {
            let (package, name) = package_and_name(c)?;
            for (id, n) in &m.nodes {
                if test_kind(n) == Some("unit")
                    && fnmatch(package, &n.package_name)
                    && fnmatch(name, &n.name)
                {
                    add(id);
                }
            }
        }
        "exposure" => {
            let (package, name) = package_and_name(c)?;
            for (id, e) in &m.exposures {
                if fnmatch(package, &e.package_name) && fnmatch(name, &e.name) {
                    add(id);
                }
            }
        }
        "version" => version(m, c, &mut add)?,
        "state" => super::state::modified(m, c, &mut add, notes)?,
        "result" => super::state::result(m, c, &mut add)?,
        "source_status" => super::state::source_status(m, c, &mut add)?,
        "metric" | "semantic_model" | "saved_query" => {
            let (package, name) = package_and_name(c)?;
            for (id, n) in &m.semantic {
                if n.resource_type == c.method
                    && fnmatch(package, &n.package_name)
                    && fnmatch(name, &n.name)
                {
                    add(id);
                }
            }
        }
        other => {
            return Err(invalid(&c.raw, &format!("unknown method `{other}`")));
        }
    }
    Ok(out)
}

/// A `unit_test:`, `exposure:`, `metric:`, `semantic_model:` or `saved_query:` value:
/// `name` (any package) or `package.name`, as `dvt ls --output selector` prints them.
fn package_and_name(c: &Criterion) -> Result<(&str, &str)> {
    match c.value.split('.').collect::<Vec<_>>().as_slice() {
        [name] => Ok(("*", name)),
        [package, name] => Ok((package, name)),
        _ => Err(invalid(
            &c.raw,
            &format!("`{}:` takes `name` or `package.name`", c.method),
        )),
    }
}

/// What the methods that treat every kind alike read of a graph member.
struct Member<'a> {
    id: &'a String,
    package: &'a str,
    tags: &'a [String],
    /// Its file (a source's, exposure's or semantic node's: the property file).
    file: &'a Path,
}

/// Every node, source, exposure and semantic layer resource.
fn members(m: &Manifest) -> impl Iterator<Item = Member<'_>> {
    let nodes = m.nodes.iter().map(|(id, n)| Member {
        id,
        package: &n.package_name,
        tags: &n.tags,
        file: &n.original_file_path,
    });
    let sources = m.sources.iter().map(|(id, s)| Member {
        id,
        package: &s.package_name,
        tags: &s.tags,
        file: &s.original_file_path,
    });
    let exposures = m.exposures.iter().map(|(id, e)| Member {
        id,
        package: &e.package_name,
        tags: &e.tags,
        file: &e.original_file_path,
    });
    let semantic = m.semantic.iter().map(|(id, n)| Member {
        id,
        package: &n.package_name,
        tags: &n.tags,
        file: &n.original_file_path,
    });
    nodes.chain(sources).chain(exposures).chain(semantic)
}

/// DVT's `target:` (also `config.target:`): the nodes built on a profile output.
fn target(m: &Manifest, value: &str, add: &mut impl FnMut(&String)) {
    for (id, n) in &m.nodes {
        if fnmatch(value, &n.target) {
            add(id);
        }
    }
}

fn version(m: &Manifest, c: &Criterion, add: &mut impl FnMut(&String)) -> Result<()> {
    let value = c.value.as_str();
    if !matches!(value, "latest" | "prerelease" | "old" | "none") {
        return Err(invalid(
            &c.raw,
            "`version:` takes `latest`, `prerelease`, `old` or `none`",
        ));
    }
    for (id, n) in &m.nodes {
        let order = match (n.version_text(), n.latest_version_text()) {
            (Some(v), Some(latest)) => Some(crate::parse::compare_versions(&v, &latest)),
            _ => None,
        };
        let hit = match (value, order) {
            ("none", None) => n.resource_type == ResourceType::Model,
            ("latest", Some(o)) => o.is_eq(),
            ("prerelease", Some(o)) => o.is_gt(),
            ("old", Some(o)) => o.is_lt(),
            _ => false,
        };
        if hit {
            add(id);
        }
    }
    Ok(())
}

/// `generic`, `singular` or `unit` for a test; `None` for other nodes.
fn test_kind(n: &Node) -> Option<&'static str> {
    let info = n.test.as_ref().filter(|_| n.is_test())?;
    Some(match (&info.unit, &info.generic) {
        (Some(_), _) => "unit",
        (None, Some(_)) => "generic",
        (None, None) => "singular",
    })
}

/// dbt's comparison of a config value with the selector's text: equal strings, a list
/// holding it, or `true`/`false` (any case) for booleans.
fn config_value_matches(found: &Json, value: &str, case_insensitive: bool) -> bool {
    let one = |v: &Json| match v {
        Json::String(s) if case_insensitive => s.eq_ignore_ascii_case(value),
        Json::String(s) => s == value,
        Json::Bool(b) => value.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        _ => false,
    };
    match found {
        Json::Array(items) => items.iter().any(one),
        other => one(other),
    }
}

/// dbt's match of a name or dotted qualified name against a node's fqn, with or
/// without its package: the fqn's last part (a version's model name, or
/// `<model>.v<v>`/`<model>_v<v>`), or a prefix of its dot-separated parts, where a part
/// with a wildcard matches the rest of the fqn.
fn qualified_name_matches(fqn: &[String], selector: &str, versioned: bool) -> bool {
    selected_node(fqn, selector, versioned)
        || fqn
            .split_first()
            .is_some_and(|(_, rest)| selected_node(rest, selector, versioned))
}

fn selected_node(fqn: &[String], selector: &str, versioned: bool) -> bool {
    let parts: Vec<&str> = selector.split('.').collect();
    if versioned && fqn.len() >= 2 {
        let tail = &fqn[fqn.len() - 2..];
        if tail[0] == selector {
            return true;
        }
        let sel_tail = &parts[parts.len().saturating_sub(2)..];
        if tail.join("_") == sel_tail.join("_") {
            return true;
        }
    } else if fqn.last().is_some_and(|last| last == selector) {
        return true;
    }
    let flat: Vec<&str> = fqn.iter().flat_map(|s| s.split('.')).collect();
    if flat.len() < parts.len() {
        return false;
    }
    for (i, part) in parts.iter().enumerate() {
        if part.contains(['*', '?', '[', ']']) {
            return fnmatch(&parts[i..].join("."), &flat[i..].join("."));
        }
        if flat[i] != *part {
            return false;
        }
    }
    true
}

/// dbt's `path:` match: `pattern`, a path relative to the project with shell-style
/// wildcards in its parts (`**` spans folders), names the file or one of its folders.
fn path_matches(pattern: &str, file: &Path) -> bool {
    let pat: Vec<&str> = pattern
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let parts: Vec<String> = file
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    !pat.is_empty() && (1..=parts.len()).any(|n| segments_match(&pat, &parts[..n]))
}

fn segments_match(pat: &[&str], parts: &[&str]) -> bool {
    match pat.split_first() {
        None => parts.is_empty(),
        Some((&"**", rest)) => (0..=parts.len()).any(|skip| segments_match(rest, &parts[skip..])),
        Some((first, rest)) => parts
            .split_first()
            .is_some_and(|(p, tail)| fnmatch(first, p) && segments_match(rest, tail)),
    }
}

/// Python's `fnmatch` (case-sensitive): `*` any run, `?` one character, `[abc]`,
/// `[a-z]` and `[!abc]` one character of (or not of) a set.
pub(super) fn fnmatch(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative with one backtrack point for the last `*`: linear in practice.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => match class(&p[pi..], t[ti]) {
                Some((true, len)) => Some(pi + len),
                Some((false, _)) => None,
                // An unclosed `[` is a literal character, as in Python.
                None => (t[ti] == '[').then_some(pi + 1),
            },
            Some(c) => (*c == t[ti]).then_some(pi + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ti += 1;
            }
            (None, Some((sp, st))) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether `c` is in the class `[...]` starting `p`, and the class's length; `None`
/// when the `[` is not closed.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(1), Some('!'));
    if negate {
        i += 1;
    }
    let start = i;
    let mut hit = false;
    while let Some(&ch) = p.get(i) {
        if ch == ']' && i > start {
            return Some((hit != negate, i + 1));
        }
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|e| *e != ']') {
            let end = p[i + 2];
            hit |= ch <= c && c <= end;
            i += 3;
        } else {
            hit |= ch == c;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_as_python() {
        assert!(fnmatch("stg_*", "stg_orders"));
        assert!(fnmatch("*orders", "stg_orders"));
        assert!(!fnmatch("stg_*", "orders"));
        assert!(fnmatch("a*c*e", "abcde"));
        assert!(fnmatch("a?c", "abc"));
        assert!(!fnmatch("a?c", "ac"));
        assert!(fnmatch("v[0-9]", "v7"));
        assert!(!fnmatch("v[!0-9]", "v7"));
        assert!(fnmatch("[]]", "]"));
        assert!(fnmatch("a[", "a["));
        assert!(fnmatch("*", ""));
        assert!(!fnmatch("", "a"));
    }

    fn fqn(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn qualified_names_as_dbt() {
        let f = fqn(&["shop", "staging", "stg_orders"]);
        for hit in [
            "stg_orders",
            "staging",
            "shop.staging",
            "staging.stg_*",
            "shop.*",
            "*",
            "staging.stg_orders",
        ] {
            assert!(qualified_name_matches(&f, hit, false), "{hit}");
        }
        for miss in ["orders", "stg", "marts", "shop.marts.*", "stg_orders.x"] {
            assert!(!qualified_name_matches(&f, miss, false), "{miss}");
        }
        let v = fqn(&["shop", "dim", "v2"]);
        for hit in ["dim", "dim.v2", "dim_v2", "shop.dim"] {
            assert!(qualified_name_matches(&v, hit, true), "{hit}");
        }
        assert!(!qualified_name_matches(&v, "dim_v1", true));
    }

    #[test]
    fn paths_name_files_and_folders() {
        let file = Path::new("models/staging/stg_orders.sql");
        for hit in [
            "models",
            "models/staging",
            "models/staging/stg_orders.sql",
            "models/*/stg_*.sql",
            "models/**/stg_orders.sql",
            "./models/staging",
        ] {
            assert!(path_matches(hit.trim_end_matches('/'), file), "{hit}");
        }
        for miss in ["models/marts", "staging", "models/staging/x.sql", ""] {
            assert!(!path_matches(miss, file), "{miss}");
        }
    }
}
