//! `--select` / `--exclude`: dbt's node selection syntax.
//!
//! Supported: names (with `*` wildcards), dotted fqn prefixes, `tag:`, `path:`,
//! `source:`, `resource_type:`, the `+` graph operators with optional depth
//! (`+name`, `2+name`, `name+`, `name+1`), union by separate values or spaces,
//! intersection by commas.

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// Selects the unique ids of models and seeds matching `select` (everything when
/// empty) and not matching `exclude`.
pub fn select(m: &Manifest, select: &[String], exclude: &[String]) -> Result<BTreeSet<String>> {
    let all: BTreeSet<String> = m.nodes.keys().cloned().collect();
    let mut chosen = if select.is_empty() {
        all.clone()
    } else {
        union(m, select)?
    };
    if !exclude.is_empty() {
        let ex = union(m, exclude)?;
        chosen.retain(|id| !ex.contains(id));
    }
    chosen.retain(|id| all.contains(id));
    Ok(chosen)
}

fn union(m: &Manifest, values: &[String]) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for v in values {
        for spec in v.split_whitespace() {
            let mut parts = spec.split(',');
            let first = parts.next().unwrap_or_default();
            let mut acc = one(m, first)?;
            for p in parts {
                let s = one(m, p)?;
                acc.retain(|id| s.contains(id));
            }
            out.extend(acc);
        }
    }
    Ok(out)
}

fn depth_prefix(s: &str) -> Result<(Option<Option<usize>>, &str)> {
    if let Some(pos) = s.find('+')
        && s[..pos].chars().all(|c| c.is_ascii_digit())
    {
        let depth = if pos == 0 {
            None
        } else {
            Some(s[..pos].parse().map_err(|_| invalid(s, "bad depth"))?)
        };
        return Ok((Some(depth), &s[pos + 1..]));
    }
    Ok((None, s))
}

fn depth_suffix(s: &str) -> Result<(Option<Option<usize>>, &str)> {
    if let Some(pos) = s.rfind('+')
        && s[pos + 1..].chars().all(|c| c.is_ascii_digit())
    {
        let digits = &s[pos + 1..];
        let depth = if digits.is_empty() {
            None
        } else {
            Some(digits.parse().map_err(|_| invalid(s, "bad depth"))?)
        };
        return Ok((Some(depth), &s[..pos]));
    }
    Ok((None, s))
}

fn invalid(selector: &str, reason: &str) -> Error {
    Error::InvalidSelector {
        selector: selector.to_owned(),
        reason: reason.to_owned(),
    }
}

fn one(m: &Manifest, spec: &str) -> Result<BTreeSet<String>> {
    if spec.is_empty() {
        return Err(invalid(spec, "empty selector"));
    }
    let (up, rest) = depth_prefix(spec)?;
    let (down, base) = depth_suffix(rest)?;
    if base.is_empty() {
        return Err(invalid(spec, "no node name"));
    }
    let seeds = matches(m, base, spec)?;
    let mut out = seeds.clone();
    for id in &seeds {
        if let Some(d) = up {
            out.extend(m.graph.ancestors(id, d));
        }
        if let Some(d) = down {
            out.extend(m.graph.descendants(id, d));
        }
    }
    Ok(out)
}

fn matches(m: &Manifest, base: &str, spec: &str) -> Result<BTreeSet<String>> {
    let (method, value) = match base.split_once(':') {
        Some((method, value)) => (method, value),
        None => ("", base),
    };
    let mut out = BTreeSet::new();
    match method {
        "" | "fqn" => {
            for (id, n) in &m.nodes {
                let dotted = n.fqn.join(".");
                if glob(value, &n.name)
                    || glob(value, &dotted)
                    || dotted.starts_with(&format!("{value}."))
                {
                    out.insert(id.clone());
                }
            }
        }
        "tag" => {
            for (id, n) in &m.nodes {
                if n.tags.iter().any(|t| glob(value, t)) {
                    out.insert(id.clone());
                }
            }
        }
        "path" => {
            let want = Path::new(value.trim_end_matches('/'));
            for (id, n) in &m.nodes {
                if n.original_file_path.starts_with(want)
                    || glob(value, &n.original_file_path.to_string_lossy())
                {
                    out.insert(id.clone());
                }
            }
        }
        "source" => {
            for s in m.sources.values() {
                let full = format!("{}.{}", s.source_name, s.name);
                if glob(value, &s.source_name) || glob(value, &full) {
                    out.insert(s.unique_id.clone());
                }
            }
        }
        "resource_type" => {
            for (id, n) in &m.nodes {
                if n.resource_type.as_str() == value {
                    out.insert(id.clone());
                }
            }
        }
        "config.target" | "target" => {
            for (id, n) in &m.nodes {
                if glob(value, &n.target) {
                    out.insert(id.clone());
                }
            }
        }
        other => {
            return Err(invalid(
                spec,
                &format!(
                    "unknown method `{other}`; use a name, `tag:`, `path:`, `source:`, `resource_type:` or `target:`"
                ),
            ));
        }
    }
    Ok(out)
}

/// Matches `text` against a pattern where `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == text;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("stg_*", "stg_orders"));
        assert!(glob("*orders", "stg_orders"));
        assert!(!glob("stg_*", "orders"));
        assert!(glob("a*c*e", "abcde"));
    }

    #[test]
    fn depth_operators_parse() {
        assert_eq!(depth_prefix("2+x").unwrap(), (Some(Some(2)), "x"));
        assert_eq!(depth_prefix("+x").unwrap(), (Some(None), "x"));
        assert_eq!(depth_suffix("x+").unwrap(), (Some(None), "x"));
        assert_eq!(depth_suffix("x+3").unwrap(), (Some(Some(3)), "x"));
        assert_eq!(depth_suffix("tag:a").unwrap(), (None, "tag:a"));
    }
}
