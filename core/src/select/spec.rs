//! A selection as a tree: criteria (`tag:x+`) combined by union, intersection and
//! difference, built from `--select`/`--exclude` text or from `selectors.yml`.

use crate::error::{Error, Result};

/// Which tests a selected node brings along (`--indirect-selection`, or a YAML
/// selector's `indirect_selection:`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Indirect {
    /// A test comes when any node it reads is selected (dbt's default).
    #[default]
    Eager,
    /// A test comes only when every node it reads is selected.
    Cautious,
    /// A test comes when every node it reads is selected or is an ancestor of a
    /// selected node.
    Buildable,
    /// Only the tests selected themselves.
    Empty,
}

impl Indirect {
    /// The mode named `text` (`eager`, `cautious`, `buildable`, `empty`).
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "eager" => Indirect::Eager,
            "cautious" => Indirect::Cautious,
            "buildable" => Indirect::Buildable,
            "empty" => Indirect::Empty,
            _ => return None,
        })
    }

    /// dbt's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Indirect::Eager => "eager",
            Indirect::Cautious => "cautious",
            Indirect::Buildable => "buildable",
            Indirect::Empty => "empty",
        }
    }
}

/// How a group combines its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    /// In any part.
    Union,
    /// In every part.
    Intersection,
    /// In the first part and in no other.
    Difference,
}

/// A selection: one criterion, or parts combined.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    /// `method:value` with its graph operators.
    Criterion(Criterion),
    /// Parts combined by `op`.
    Group {
        /// How the parts combine.
        op: SetOp,
        /// The parts.
        parts: Vec<Spec>,
        /// Tests held back by a part's cautious or buildable expansion come in when
        /// the combination selects everything they read.
        indirect: Indirect,
        /// The text to name in a warning when the group selects nothing (`--select`'s
        /// values; not the defaults, nor YAML groups, as in dbt).
        expect: Option<String>,
    },
}

/// One selection criterion.
#[derive(Debug, Clone, PartialEq)]
pub struct Criterion {
    /// As written (for messages).
    pub raw: String,
    /// `fqn`, `tag`, `config`, ...
    pub method: String,
    /// What follows the method's first dot: `config.materialized` gives
    /// `["materialized"]`.
    pub arguments: Vec<String>,
    /// What to match.
    pub value: String,
    /// `@`: the selected nodes, their descendants and all of those's ancestors.
    pub childrens_parents: bool,
    /// `+` before: ancestors, up to the depth when given.
    pub parents: Option<Option<usize>>,
    /// `+` after: descendants, up to the depth when given.
    pub children: Option<Option<usize>>,
    /// Which tests come along; `None`: as `--indirect-selection` says (a YAML
    /// selector's criterion without `indirect_selection:`).
    pub indirect: Option<Indirect>,
}

/// The methods a criterion may name, as dbt spells them (`target` is DVT's).
pub(super) const METHODS: &[&str] = &[
    "fqn",
    "tag",
    "group",
    "access",
    "source",
    "path",
    "file",
    "package",
    "config",
    "test_name",
    "test_type",
    "resource_type",
    "state",
    "exposure",
    "metric",
    "result",
    "source_status",
    "version",
    "semantic_model",
    "saved_query",
    "unit_test",
    "target",
];

pub(super) fn invalid(selector: &str, reason: &str) -> Error {
    Error::InvalidSelector {
        selector: selector.to_owned(),
        reason: reason.to_owned(),
    }
}

impl Criterion {
    /// Parses one criterion as written on the command line: `[@][n+][method:]value[+n]`.
    pub fn parse(raw: &str, indirect: Option<Indirect>) -> Result<Self> {
        if raw.is_empty() {
            return Err(invalid(raw, "empty selector"));
        }
        let (childrens_parents, rest) = match raw.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let (parents, rest) = depth_prefix(rest)?;
        let (children, base) = depth_suffix(rest)?;
        if base.is_empty() {
            return Err(invalid(raw, "no node name"));
        }
        if base.contains('+') {
            return Err(invalid(
                raw,
                "`+` may only start or end a selector (`+name`, `name+`, `2+name`, `name+1`)",
            ));
        }
        if base.contains('@') && !base.contains(':') {
            return Err(invalid(raw, "`@` may only start a selector (`@name`)"));
        }
        if childrens_parents && children.is_some() {
            return Err(invalid(
                raw,
                "the `@` prefix and a `+` suffix are incompatible (`@name` already takes every descendant)",
            ));
        }
        let (method, arguments, value) = match base.split_once(':') {
            Some(("", _)) => return Err(invalid(raw, "no method before `:`")),
            Some((method, "")) => {
                return Err(invalid(raw, &format!("no value after `{method}:`")));
            }
            Some((method, value)) => {
                let mut parts = method.split('.').map(str::to_owned);
                let name = parts.next().unwrap_or_default();
                (name, parts.collect(), value.to_owned())
            }
            None => (default_method(base).to_owned(), Vec::new(), base.to_owned()),
        };
        let c = Criterion {
            raw: raw.to_owned(),
            method,
            arguments,
            value,
            childrens_parents,
            parents,
            children,
            indirect,
        };
        c.check()?;
        Ok(c)
    }

    /// Checks the method and its arguments.
    pub(super) fn check(&self) -> Result<()> {
        if !METHODS.contains(&self.method.as_str()) {
            return Err(invalid(
                &self.raw,
                &format!(
                    "unknown method `{}`; use a name or one of `{}:`",
                    self.method,
                    METHODS.join(":`, `")
                ),
            ));
        }
        let takes_arguments = self.method == "config";
        if takes_arguments && self.arguments.is_empty() {
            return Err(invalid(
                &self.raw,
                "`config` needs the key to compare: `config.materialized:table`",
            ));
        }
        if !takes_arguments && !self.arguments.is_empty() {
            return Err(invalid(
                &self.raw,
                &format!("`{}` takes no `.` arguments", self.method),
            ));
        }
        Ok(())
    }
}

/// The method a bare value stands for, as in dbt: a path when it holds a `/`, a file
/// name when it ends in `.sql`, `.py` or `.csv`, else a name or dotted fqn.
fn default_method(value: &str) -> &'static str {
    let lower = value.to_ascii_lowercase();
    if value.contains('/') {
        "path"
    } else if [".sql", ".py", ".csv"].iter().any(|e| lower.ends_with(e)) {
        "file"
    } else {
        "fqn"
    }
}

pub(super) fn depth_prefix(s: &str) -> Result<(Option<Option<usize>>, &str)> {
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

pub(super) fn depth_suffix(s: &str) -> Result<(Option<Option<usize>>, &str)> {
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

/// `--select` values (or `--exclude`'s) as dbt reads them: each value's
/// space-separated parts are a union, each part's comma-separated criteria an
/// intersection. `expect` makes an intersection that selects nothing warn.
pub fn parse_union(values: &[String], indirect: Indirect, expect: bool) -> Result<Spec> {
    let mut parts = Vec::new();
    for value in values {
        for raw in value.split_whitespace() {
            if raw.split(',').any(str::is_empty) {
                return Err(invalid(raw, "empty selector between commas"));
            }
            let criteria = raw
                .split(',')
                .map(|c| Criterion::parse(c, Some(indirect)).map(Spec::Criterion))
                .collect::<Result<Vec<_>>>()?;
            parts.push(Spec::Group {
                op: SetOp::Intersection,
                parts: criteria,
                indirect,
                expect: expect.then(|| raw.to_owned()),
            });
        }
    }
    Ok(Spec::Group {
        op: SetOp::Union,
        parts,
        indirect,
        expect: None,
    })
}

/// `--select` minus `--exclude`; no `--select` selects every node, source and
/// exposure.
pub fn parse_difference(select: &[String], exclude: &[String], indirect: Indirect) -> Result<Spec> {
    let included = if select.iter().all(|s| s.trim().is_empty()) {
        let all = ["fqn:*", "source:*", "exposure:*"].map(str::to_owned);
        parse_union(&all, indirect, false)?
    } else {
        parse_union(select, indirect, true)?
    };
    let excluded = parse_union(exclude, indirect, true)?;
    Ok(Spec::Group {
        op: SetOp::Difference,
        parts: vec![included, excluded],
        indirect: Indirect::Eager,
        expect: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_operators_parse() {
        assert_eq!(depth_prefix("2+x").unwrap(), (Some(Some(2)), "x"));
        assert_eq!(depth_prefix("+x").unwrap(), (Some(None), "x"));
        assert_eq!(depth_suffix("x+").unwrap(), (Some(None), "x"));
        assert_eq!(depth_suffix("x+3").unwrap(), (Some(Some(3)), "x"));
        assert_eq!(depth_suffix("tag:a").unwrap(), (None, "tag:a"));
    }

    #[test]
    fn criteria_parse_as_dbt_reads_them() {
        let c = Criterion::parse("@config.materialized:view", None).unwrap();
        assert!(c.childrens_parents);
        assert_eq!(
            (c.method.as_str(), c.arguments, c.value.as_str()),
            ("config", vec!["materialized".to_owned()], "view")
        );
        assert_eq!(
            Criterion::parse("models/staging", None).unwrap().method,
            "path"
        );
        assert_eq!(
            Criterion::parse("stg_orders.sql", None).unwrap().method,
            "file"
        );
        let c = Criterion::parse("2+my.model+1", Some(Indirect::Cautious)).unwrap();
        assert_eq!(
            (c.method.as_str(), c.value.as_str(), c.parents, c.children),
            ("fqn", "my.model", Some(Some(2)), Some(Some(1)))
        );
        for bad in ["@a+", "config:x", "tag.x:y", "nope:x", "a@b"] {
            let err = Criterion::parse(bad, None).unwrap_err();
            assert_eq!(err.code(), "DVT111", "{bad}: {err}");
        }
    }
}
