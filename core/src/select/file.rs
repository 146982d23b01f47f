//! `selectors.yml`: named selections (`--selector name`), one of them possibly the
//! default of every command that selects.

use std::path::Path;

use serde_json::{Map, Value as Json, json};

use super::spec::{Criterion, Indirect, SetOp, Spec};
use crate::error::{Error, Location, Result};
use crate::yaml::{Yaml, YamlValue};

/// The file dbt reads selectors from, in the project folder.
pub const FILE: &str = "selectors.yml";

/// The selectors of a project, in file order.
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    /// Each selector.
    pub entries: Vec<Selector>,
}

/// One named selector.
#[derive(Debug, Clone)]
pub struct Selector {
    /// `name:`.
    pub name: String,
    /// `description:`.
    pub description: Option<String>,
    /// `default: true`: used when a command is given no `--select`, `--exclude` or
    /// `--selector`.
    pub default: bool,
    /// The selection it stands for.
    pub spec: Spec,
    /// The entry as dbt's `manifest.json` records it (its definition normalised).
    pub json: Json,
}

impl Selectors {
    /// Reads `selectors.yml` in `root`, when there is one, rendering the Jinja in its
    /// values with `render` (dbt renders the file with `target`, `env_var` and `var`).
    pub fn load(root: &Path, render: &dyn Fn(&str, &Location) -> Result<String>) -> Result<Self> {
        let path = root.join(FILE);
        if !path.is_file() {
            return Ok(Selectors::default());
        }
        let file = Path::new(FILE);
        let text = crate::error::read_to_string(&path)?;
        let tree = crate::yaml::parse(file, &text)?;
        let reader = Reader { file, render };
        reader.selectors(&tree)
    }

    /// The selector named `name`.
    pub fn get(&self, name: &str) -> Option<&Selector> {
        self.entries.iter().find(|s| s.name == name)
    }

    /// The selector with `default: true`, if any.
    pub fn default_selector(&self) -> Option<&Selector> {
        self.entries.iter().find(|s| s.default)
    }

    /// `manifest.json`'s `selectors`.
    pub fn to_json(&self) -> Json {
        Json::Object(
            self.entries
                .iter()
                .map(|s| (s.name.clone(), s.json.clone()))
                .collect(),
        )
    }
}

struct Reader<'a> {
    file: &'a Path,
    render: &'a dyn Fn(&str, &Location) -> Result<String>,
}

impl Reader<'_> {
    fn error(&self, at: &Yaml, message: impl Into<String>) -> Error {
        Error::SelectorFile {
            location: at.location(self.file),
            message: message.into(),
        }
    }

    /// A scalar's text, rendered when it holds Jinja.
    fn text(&self, node: &Yaml) -> Result<Option<String>> {
        match &node.value {
            YamlValue::Scalar { text, .. } if text.contains("{{") || text.contains("{%") => {
                (self.render)(text, &node.location(self.file)).map(|t| Some(t.trim().to_owned()))
            }
            YamlValue::Scalar { text, .. } => Ok(Some(text.clone())),
            _ => Ok(None),
        }
    }

    fn required_text(&self, node: &Yaml, what: &str) -> Result<String> {
        self.text(node)?
            .ok_or_else(|| self.error(node, format!("`{what}` must be a string")))
    }

    fn flag(&self, node: &Yaml, what: &str) -> Result<bool> {
        match (&node.value, self.text(node)?.as_deref()) {
            (_, Some(t)) if t.eq_ignore_ascii_case("true") => Ok(true),
            (_, Some(t)) if t.eq_ignore_ascii_case("false") => Ok(false),
            (YamlValue::Null, _) => Ok(false),
            _ => Err(self.error(node, format!("`{what}` must be true or false"))),
        }
    }

    fn selectors(&self, tree: &Yaml) -> Result<Selectors> {
        let Some(list) = tree.get("selectors") else {
            return Err(self.error(tree, "expected a `selectors:` list"));
        };
        let YamlValue::Seq(items) = &list.value else {
            return Err(self.error(list, "`selectors:` must be a list"));
        };
        let mut out = Selectors::default();
        for item in items {
            if !matches!(item.value, YamlValue::Map(_)) {
                return Err(self.error(
                    item,
                    "each selector is a mapping with `name:` and `definition:`",
                ));
            }
            for (key, _) in item.entries() {
                if !matches!(
                    key.key_text(),
                    "name" | "description" | "definition" | "default"
                ) {
                    return Err(self.error(
                        key,
                        format!(
                            "unknown key `{}`; a selector has `name`, `description`, `definition` and `default`",
                            key.key_text()
                        ),
                    ));
                }
            }
            let name = match item.get("name") {
                Some(n) => self.required_text(n, "name")?,
                None => return Err(self.error(item, "a selector needs `name:`")),
            };
            if let Some(first) = out.get(&name) {
                return Err(self.error(item, format!("a second selector named `{}`", first.name)));
            }
            let Some(definition) = item.get("definition") else {
                return Err(self.error(item, format!("selector `{name}` needs `definition:`")));
            };
            if let YamlValue::Map(entries) = &definition.value {
                let set_op = entries
                    .iter()
                    .any(|(k, _)| matches!(k.key_text(), "union" | "intersection"));
                if set_op && entries.len() > 1 {
                    return Err(self.error(
                        definition,
                        "a root-level definition holds one `union` or `intersection` key only",
                    ));
                }
            }
            if matches!(definition.value, YamlValue::Seq(_)) {
                return Err(self.error(
                    definition,
                    "a definition is a string, a mapping, a `union:` or an `intersection:`, not a list",
                ));
            }
            let (spec, normalised) = self.definition(definition, &out)?;
            let description = item
                .get("description")
                .map(|d| self.required_text(d, "description"))
                .transpose()?;
            let default = item
                .get("default")
                .map(|d| self.flag(d, "default"))
                .transpose()?
                .unwrap_or(false);
            if default && let Some(other) = out.default_selector() {
                return Err(self.error(
                    item.get("default").unwrap_or(item),
                    format!(
                        "two selectors have `default: true`: `{}` and `{name}`",
                        other.name
                    ),
                ));
            }
            let mut json = Map::new();
            json.insert("name".into(), json!(name));
            if let Some(d) = &description {
                json.insert("description".into(), json!(d));
            }
            if item.get("default").is_some() {
                json.insert("default".into(), json!(default));
            }
            json.insert("definition".into(), normalised);
            out.entries.push(Selector {
                name,
                description,
                default,
                spec,
                json: Json::Object(json),
            });
        }
        Ok(out)
    }

    /// A definition as a [`Spec`] and as dbt normalises it for `manifest.json`.
    fn definition(&self, node: &Yaml, earlier: &Selectors) -> Result<(Spec, Json)> {
        match &node.value {
            YamlValue::Scalar { .. } => {
                let raw = self.required_text(node, "definition")?;
                let c =
                    Criterion::parse(&raw, None).map_err(|e| self.error(node, e.to_string()))?;
                let json = criterion_json(&c);
                Ok((Spec::Criterion(c), json))
            }
            YamlValue::Map(_) => {
                for (key, op) in [
                    ("union", SetOp::Union),
                    ("intersection", SetOp::Intersection),
                ] {
                    if let Some(list) = node.get(key) {
                        return self.set(key, op, list, earlier);
                    }
                }
                self.dict(node, earlier)
            }
            YamlValue::Null | YamlValue::Seq(_) => Err(self.error(
                node,
                "expected a string, a mapping, a `union:` or an `intersection:`",
            )),
        }
    }

    /// `union: [...]` / `intersection: [...]`, one item of which may be `exclude: [...]`.
    fn set(&self, key: &str, op: SetOp, list: &Yaml, earlier: &Selectors) -> Result<(Spec, Json)> {
        let YamlValue::Seq(items) = &list.value else {
            return Err(self.error(list, format!("`{key}` must be a list")));
        };
        let (mut parts, mut normalised) = (Vec::new(), Vec::new());
        let mut exclusion: Option<(Spec, Json)> = None;
        for item in items {
            if item.get("exclude").is_some() {
                if exclusion.is_some() {
                    return Err(self.error(
                        item,
                        format!("one `exclude` per `{key}`: merge them into one list"),
                    ));
                }
                exclusion = Some(self.exclusion(item, earlier)?);
                continue;
            }
            let (spec, json) = self.definition(item, earlier)?;
            parts.push(spec);
            normalised.push(json);
        }
        let group = Spec::Group {
            op,
            parts,
            indirect: Indirect::Eager,
            expect: None,
        };
        Ok(match exclusion {
            None => (group, json!({ key: normalised })),
            Some((excluded, excluded_json)) => {
                normalised.push(excluded_json);
                (
                    Spec::Group {
                        op: SetOp::Difference,
                        parts: vec![group, excluded],
                        indirect: Indirect::Eager,
                        expect: None,
                    },
                    json!({ key: normalised }),
                )
            }
        })
    }

    /// A mapping's `exclude: [...]`: the union of its items.
    fn exclusion(&self, node: &Yaml, earlier: &Selectors) -> Result<(Spec, Json)> {
        let list = node.get("exclude").unwrap_or(node);
        let YamlValue::Seq(items) = &list.value else {
            return Err(self.error(list, "`exclude` must be a list"));
        };
        let (mut parts, mut normalised) = (Vec::new(), Vec::new());
        for item in items {
            let (spec, json) = self.definition(item, earlier)?;
            parts.push(spec);
            normalised.push(json);
        }
        let spec = if parts.len() == 1 {
            parts.remove(0)
        } else {
            Spec::Group {
                op: SetOp::Union,
                parts,
                indirect: Indirect::Eager,
                expect: None,
            }
        };
        Ok((spec, json!({ "exclude": normalised })))
    }

    /// `{tag: nightly}`, `{method: selector, value: other}` or `{method: ..., value:
    /// ..., parents: true, ...}` with an optional `exclude:`.
    fn dict(&self, node: &Yaml, earlier: &Selectors) -> Result<(Spec, Json)> {
        let entries = node.entries();
        let has = |k: &str| node.get(k).is_some();
        if entries.len() == 1 && !has("method") {
            let (key, value) = &entries[0];
            let method = key.key_text().to_owned();
            let value = self.required_text(value, &method)?;
            let c = self.criterion(key, &method, &value, None)?;
            return Ok((
                Spec::Criterion(c),
                json!({"method": method, "value": value}),
            ));
        }
        let (Some(method_node), Some(value_node)) = (node.get("method"), node.get("value")) else {
            return Err(self.error(
                node,
                "expected one `method: value` key, or `method:` and `value:` keys",
            ));
        };
        let method = self.required_text(method_node, "method")?;
        let value = self.required_text(value_node, "value")?;
        if method == "selector" {
            let Some(other) = earlier.get(&value) else {
                return Err(self.error(
                    value_node,
                    format!("no selector `{value}` defined above this one (a selector may only use those before it)"),
                ));
            };
            return Ok((other.spec.clone(), other.json["definition"].clone()));
        }
        let mut c = self.criterion(method_node, &method, &value, None)?;
        let mut json = Map::new();
        for (key, v) in entries {
            let k = key.key_text();
            match k {
                "method" | "value" | "exclude" => {}
                "parents" | "children" | "childrens_parents" => {
                    let on = self.flag(v, k)?;
                    json.insert(k.into(), json!(on));
                    match k {
                        "parents" => c.parents = on.then_some(None),
                        "children" => c.children = on.then_some(None),
                        _ => c.childrens_parents = on,
                    }
                }
                "parents_depth" | "children_depth" => {
                    let text = self.required_text(v, k)?;
                    let depth: usize = text
                        .parse()
                        .map_err(|_| self.error(v, format!("`{k}` must be a whole number")))?;
                    json.insert(k.into(), json!(depth));
                }
                "indirect_selection" => {
                    let text = self.required_text(v, k)?;
                    let mode = Indirect::parse(&text).ok_or_else(|| {
                        self.error(
                            v,
                            "`indirect_selection` is `eager`, `cautious`, `buildable` or `empty`",
                        )
                    })?;
                    c.indirect = Some(mode);
                    json.insert(k.into(), json!(text));
                }
                other => {
                    return Err(self.error(
                        key,
                        format!("unknown key `{other}` in a selector criterion (use `method`, `value`, `parents`, `parents_depth`, `children`, `children_depth`, `childrens_parents`, `indirect_selection`, `exclude`)"),
                    ));
                }
            }
        }
        // A depth applies only with its operator on, as in dbt.
        let depth = |k: &str| json.get(k).and_then(Json::as_u64).map(|d| d as usize);
        if c.parents.is_some() {
            c.parents = Some(depth("parents_depth"));
        }
        if c.children.is_some() {
            c.children = Some(depth("children_depth"));
        }
        if c.childrens_parents && c.children.is_some() {
            return Err(self.error(node, "`childrens_parents` and `children` are incompatible"));
        }
        json.insert("method".into(), json!(method));
        json.insert("value".into(), json!(value));
        let base = Spec::Criterion(c);
        if has("exclude") {
            let (excluded, excluded_json) = self.exclusion(node, earlier)?;
            json.insert("exclude".into(), excluded_json["exclude"].clone());
            return Ok((
                Spec::Group {
                    op: SetOp::Difference,
                    parts: vec![base, excluded],
                    indirect: Indirect::Eager,
                    expect: None,
                },
                Json::Object(json),
            ));
        }
        Ok((base, Json::Object(json)))
    }

    fn criterion(
        &self,
        at: &Yaml,
        method: &str,
        value: &str,
        indirect: Option<Indirect>,
    ) -> Result<Criterion> {
        let mut parts = method.split('.').map(str::to_owned);
        let c = Criterion {
            raw: format!("{method}:{value}"),
            method: parts.next().unwrap_or_default(),
            arguments: parts.collect(),
            value: value.to_owned(),
            childrens_parents: false,
            parents: None,
            children: None,
            indirect,
        };
        c.check().map_err(|e| self.error(at, e.to_string()))?;
        Ok(c)
    }
}

/// dbt's normalised form of a criterion written as text.
fn criterion_json(c: &Criterion) -> Json {
    let mut out = Map::new();
    if c.childrens_parents {
        out.insert("childrens_parents".into(), json!(true));
    }
    if let Some(depth) = c.parents {
        out.insert("parents".into(), json!(true));
        if let Some(d) = depth {
            out.insert("parents_depth".into(), json!(d.to_string()));
        }
    }
    let method = std::iter::once(c.method.clone())
        .chain(c.arguments.iter().cloned())
        .collect::<Vec<_>>()
        .join(".");
    out.insert("method".into(), json!(method));
    out.insert("value".into(), json!(c.value));
    if let Some(depth) = c.children {
        out.insert("children".into(), json!(true));
        if let Some(d) = depth {
            out.insert("children_depth".into(), json!(d.to_string()));
        }
    }
    Json::Object(out)
}
