//! Snapshots: `{% snapshot name %} ... {% endsnapshot %}` blocks in SQL files under the
//! snapshot paths (several per file allowed), and dbt 1.9's YAML snapshots, whose
//! `relation: ref('x')` reads a whole model, seed or source.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::data_tests::TestDecl;
use super::deps::parse_render_template;
use super::files::{fqn, walk};
use super::models::{Names, rendered_node, test_declarations};
use super::properties::Props;
use crate::error::{Error, Location, Result};
use crate::jinja::JinjaEnv;
use crate::manifest::{Node, ResourceType};
use crate::project::{ProjectConfig, merge_config};

/// One `{% snapshot %}` block: its name, the line it starts on and its body, padded
/// with the newlines before it so template errors report the file's own lines.
#[derive(Debug)]
struct Block {
    name: String,
    line: usize,
    body: String,
}

/// Finds the snapshot blocks of a file.
fn blocks(file: &Path, text: &str) -> Result<Vec<Block>> {
    let line_at = |at: usize| text[..at].matches('\n').count() + 1;
    let bad = |at: usize, message: String| Error::Jinja {
        location: Location::line(file, line_at(at)),
        message,
    };
    let mut out = Vec::new();
    let mut pos = 0;
    // (name, where the body starts, where the opening tag starts)
    let mut open: Option<(String, usize, usize)> = None;
    while let Some(off) = text[pos..].find("{%") {
        let start = pos + off;
        let Some(end_off) = text[start + 2..].find("%}") else {
            return Err(bad(start, "a `{%` tag is never closed with `%}`".into()));
        };
        let end = start + 2 + end_off + 2;
        let inner = text[start + 2..end - 2]
            .trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
        let mut words = inner.split_whitespace();
        match (words.next(), &open) {
            (Some("snapshot"), None) => {
                let name = words.next().unwrap_or("").to_owned();
                if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    return Err(bad(
                        start,
                        format!("`{{% {inner} %}}` needs a snapshot name (letters, digits, `_`)"),
                    ));
                }
                open = Some((name, end, start));
            }
            (Some("snapshot"), Some((name, _, _))) => {
                return Err(bad(
                    start,
                    format!("snapshot `{name}` is not closed before the next `{{% snapshot %}}`"),
                ));
            }
            (Some("endsnapshot"), Some((name, body_start, tag))) => {
                let line = line_at(*tag);
                let pad = "\n".repeat(line_at(*body_start) - 1);
                out.push(Block {
                    name: name.clone(),
                    line,
                    body: format!("{pad}{}", &text[*body_start..start]),
                });
                open = None;
            }
            (Some("endsnapshot"), None) => {
                return Err(bad(start, "`{% endsnapshot %}` without a snapshot".into()));
            }
            _ => {}
        }
        pos = end;
    }
    if let Some((name, _, tag)) = open {
        return Err(bad(
            tag,
            format!("snapshot `{name}` has no `{{% endsnapshot %}}`"),
        ));
    }
    Ok(out)
}

/// Parses every snapshot of the project.
pub(super) fn parse(
    project: &ProjectConfig,
    root: Option<&ProjectConfig>,
    jinja: &mut JinjaEnv,
    props: &mut BTreeMap<String, Props>,
    nodes: &mut BTreeMap<String, Node>,
    names: &mut Names,
    tests: &mut Vec<TestDecl>,
) -> Result<()> {
    let mut found: Vec<(String, PathBuf, usize, String, Vec<String>)> = Vec::new();
    for dir in &project.snapshot_paths {
        for file in walk(&project.root, dir, &["sql"])? {
            let text = super::read(&project.root, &file)?;
            for b in blocks(&file, &text)? {
                let mut fqn = fqn(&project.name, dir, &file);
                // dbt names a snapshot's fqn after its block, not its file.
                if let Some(last) = fqn.last_mut() {
                    *last = b.name.clone();
                }
                found.push((b.name, file.clone(), b.line, b.body, fqn));
            }
        }
    }
    // YAML snapshots: the ones declared with `relation:` (others only describe a block).
    let yaml: Vec<String> = props
        .iter()
        .filter(|(name, p)| p.node.relation.is_some() && !found.iter().any(|(n, ..)| n == *name))
        .map(|(n, _)| n.clone())
        .collect();
    for name in yaml {
        let p = &props[&name];
        let relation = p.node.relation.clone().unwrap_or_default();
        let rel = relation.trim();
        if !(rel.starts_with("ref(") || rel.starts_with("source(")) || !rel.ends_with(')') {
            return Err(Error::InvalidConfig {
                location: Location::file(&p.file),
                key: "relation".into(),
                message: format!(
                    "snapshot `{name}`: `{relation}` is not `ref('...')` or `source('...', '...')`"
                ),
            });
        }
        let fqn = vec![project.name.clone(), name.clone()];
        found.push((
            name.clone(),
            p.file.clone(),
            1,
            format!("select * from {{{{ {rel} }}}}"),
            fqn,
        ));
    }
    for (name, file, line, body, fqn) in found {
        let unique_id = format!("snapshot.{}.{name}", project.name);
        let template = format!("{}#{name}", file.display());
        jinja.add_named_template(&template, &file, &body)?;
        let mut config = project.folder_config(&project.snapshots, &fqn);
        let node_props = props.remove(&name);
        if let Some(p) = &node_props {
            for (k, v) in &p.node.config {
                merge_config(&mut config, k, v.clone());
            }
        }
        let mut recorded =
            parse_render_template(jinja, &template, &file, &name, &unique_id, &project.name)?;
        for (k, v) in std::mem::take(&mut recorded.config) {
            merge_config(&mut config, &k, v);
        }
        super::models::apply_root_configs(root, |p| &p.snapshots, &fqn, &mut config);
        if config.get("enabled") == Some(&Json::Bool(false)) {
            if let Some(p) = node_props {
                props.insert(name.clone(), p);
            }
            names.disable(&project.name, name, file);
            continue;
        }
        if let Some(other_id) = names.get(&project.name, &name) {
            return Err(Error::DuplicateNode {
                location: Location::line(&file, line),
                kind: "snapshot",
                name,
                other: nodes[other_id].original_file_path.clone(),
            });
        }
        names.insert(&project.name, name.clone(), unique_id.clone());
        if let Some(p) = &node_props {
            tests.extend(test_declarations(&unique_id, &name, p));
        }
        let mut node = rendered_node(
            unique_id.clone(),
            ResourceType::Snapshot,
            name,
            &project.name,
            file,
            fqn,
            body,
            config,
            node_props,
            recorded,
        );
        node.template = template;
        super::deps::add_hook_macros(jinja, &mut node);
        nodes.insert(unique_id, node);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blocks_with_their_lines() {
        let text = "-- a\n{% snapshot one %}\nselect 1\n{% endsnapshot %}\n\n{%- snapshot two -%}select 2{% endsnapshot %}\n";
        let b = blocks(Path::new("s.sql"), text).expect("parses");
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].name.as_str(), b[0].line), ("one", 2));
        assert_eq!(b[0].body, "\n\nselect 1\n");
        assert_eq!((b[1].name.as_str(), b[1].line), ("two", 6));
        let err =
            blocks(Path::new("s.sql"), "x\n{% snapshot a %}\nselect 1\n").expect_err("unclosed");
        assert!(err.to_string().contains("endsnapshot"), "{err}");
        assert!(err.to_string().contains("s.sql:2"), "{err}");
    }
}
