//! `--select` / `--exclude`: dbt's node selection syntax.
//!
//! Supported: names (with `*` wildcards), dotted fqn prefixes, `tag:`, `path:`,
//! `source:`, `package:`, `resource_type:`, `version:`, `exposure:`, `state:`
//! (with `--state`), the `+` graph operators with optional depth
//! (`+name`, `2+name`, `name+`, `name+1`), union by separate values or spaces,
//! intersection by commas.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::manifest::{Manifest, ResourceType};

/// Selects the unique ids of models and seeds matching `select` (everything when
/// empty) and not matching `exclude`.
///
/// As in dbt, a model whose file is empty (or only whitespace) is not a member of the
/// graph: it is parsed, but never selected, so it is never built.
pub fn select(m: &Manifest, select: &[String], exclude: &[String]) -> Result<BTreeSet<String>> {
    let all: BTreeSet<String> = m
        .nodes
        .iter()
        .filter(|(_, n)| n.resource_type != ResourceType::Model || !n.raw_code.trim().is_empty())
        .map(|(id, _)| id.clone())
        .collect();
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

/// Selects the unique ids of source tables (`dvt source freshness`): every one when
/// `select` is empty, else those `select` names (`source:name`, `source:name.table`,
/// `+` operators), minus `exclude`'s.
pub fn select_sources(
    m: &Manifest,
    select: &[String],
    exclude: &[String],
) -> Result<BTreeSet<String>> {
    select_among(m, select, exclude, m.sources.keys())
}

/// Selects the unique ids of exposures (`dvt ls`), as [`select_sources`] does sources.
pub fn select_exposures(
    m: &Manifest,
    select: &[String],
    exclude: &[String],
) -> Result<BTreeSet<String>> {
    select_among(m, select, exclude, m.exposures.keys())
}

fn select_among<'a>(
    m: &Manifest,
    select: &[String],
    exclude: &[String],
    among: impl Iterator<Item = &'a String>,
) -> Result<BTreeSet<String>> {
    let among: BTreeSet<&String> = among.collect();
    let mut chosen: BTreeSet<String> = if select.is_empty() {
        among.iter().map(|id| (*id).clone()).collect()
    } else {
        union(m, select)?
    };
    chosen.retain(|id| among.contains(id));
    if !exclude.is_empty() {
        let ex = union(m, exclude)?;
        chosen.retain(|id| !ex.contains(id));
    }
    Ok(chosen)
}

fn union(m: &Manifest, values: &[String]) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for v in values {
        for spec in v.split_whitespace() {
            if spec.split(',').any(str::is_empty) {
                return Err(invalid(spec, "empty selector between commas"));
            }
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
    if base.contains('+') {
        return Err(invalid(
            spec,
            "`+` may only start or end a selector (`+name`, `name+`, `2+name`, `name+1`)",
        ));
    }
    if base.starts_with('@') {
        return Err(invalid(
            spec,
            "the `@` operator is not supported; use `+name+`",
        ));
    }
    let seeds = matches(m, base, spec)?;
    let mut out = seeds.clone();
    for id in &seeds {
        // An exposure is outside the graph: its ancestors are what it reads, and theirs.
        if let (Some(e), Some(d)) = (m.exposures.get(id), up) {
            for dep in &e.depends_on {
                out.insert(dep.clone());
                match d {
                    None => out.extend(m.graph.ancestors(dep, None)),
                    Some(n) if n > 1 => out.extend(m.graph.ancestors(dep, Some(n - 1))),
                    Some(_) => {}
                }
            }
            continue;
        }
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
        Some(("", _)) => return Err(invalid(spec, "no method before `:`")),
        Some((method, "")) => {
            return Err(invalid(spec, &format!("no value after `{method}:`")));
        }
        Some((method, value)) => (method, value),
        None => ("", base),
    };
    let mut out = BTreeSet::new();
    match method {
        "" | "fqn" => {
            for (id, n) in &m.nodes {
                let dotted = n.fqn.join(".");
                // A version is also `<name>.v<v>` and `<name>_v<v>`, as in dbt.
                let version_names = n
                    .version_text()
                    .map(|v| [format!("{}.v{v}", n.name), format!("{}_v{v}", n.name)]);
                if glob(value, &n.name)
                    || glob(value, &dotted)
                    || dotted.starts_with(&format!("{value}."))
                    || version_names.is_some_and(|names| names.iter().any(|x| glob(value, x)))
                {
                    out.insert(id.clone());
                }
            }
        }
        "version" => {
            if !matches!(value, "latest" | "prerelease" | "old" | "none") {
                return Err(invalid(
                    spec,
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
        "package" => {
            for (id, n) in &m.nodes {
                if glob(value, &n.package_name) {
                    out.insert(id.clone());
                }
            }
            for (id, s) in &m.sources {
                if glob(value, &s.package_name) {
                    out.insert(id.clone());
                }
            }
        }
        "state" => {
            let Some(state) = &m.state else {
                return Err(invalid(
                    spec,
                    "`state:` compares with an earlier manifest: give `--state <folder of its manifest.json>`",
                ));
            };
            let checks: &[&str] = match value {
                "new" => &["new"],
                "old" => &["old"],
                "modified" => &["new", "body", "configs", "relation"],
                "modified.body" => &["body"],
                "modified.configs" => &["configs"],
                "modified.relation" => &["relation"],
                _ => {
                    return Err(invalid(
                        spec,
                        "`state:` takes `new`, `old`, `modified`, `modified.body`, `modified.configs` or `modified.relation`",
                    ));
                }
            };
            for (id, n) in &m.nodes {
                let before = state.nodes.get(id);
                let hit = checks.iter().any(|check| match (*check, before) {
                    ("new", None) => true,
                    ("old", Some(_)) => true,
                    ("body", Some(b)) => {
                        b.checksum.as_deref() != Some(n.checksum(&m.project.root).1.as_str())
                    }
                    // The target a run builds on (`--target prod` for the state, the
                    // default in development) is where, not what: as dbt compares the
                    // configs as written, not the schema they resolve to.
                    ("configs", Some(b)) => {
                        let mut before = b.config.clone();
                        if let Some(c) = before.as_object_mut() {
                            c.remove("target");
                        }
                        let mut now = crate::artifacts::node_config(n);
                        now.remove("target");
                        before != Json::Object(now)
                    }
                    ("relation", Some(b)) => b
                        .relation
                        .as_ref()
                        .is_none_or(|r| r.identifier != n.relation.identifier),
                    _ => false,
                });
                if hit {
                    out.insert(id.clone());
                }
            }
        }
        "exposure" => {
            for (id, e) in &m.exposures {
                if glob(value, &e.name) {
                    out.insert(id.clone());
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
                    "unknown method `{other}`; use a name, `tag:`, `path:`, `source:`, `package:`, `resource_type:`, `version:`, `exposure:`, `state:` or `target:`"
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

    use std::collections::BTreeMap;
    use std::sync::OnceLock;

    use proptest::prelude::*;

    use crate::manifest::LoadOptions;

    /// The test project's DAG, written out by hand: node -> (parents, tags). `s` is a
    /// seed, `g` an empty model (never selected), the rest models.
    const NODES: [(&str, &[&str], &[&str]); 8] = [
        ("s", &[], &[]),
        ("a", &["s"], &["x"]),
        ("b", &["a"], &[]),
        ("c", &["b"], &["x", "y"]),
        ("d", &["a"], &[]),
        ("e", &[], &["y"]),
        ("f", &["c", "d"], &[]),
        ("g", &[], &[]),
    ];

    fn unique_id(name: &str) -> String {
        let kind = if name == "s" { "seed" } else { "model" };
        format!("{kind}.p.{name}")
    }

    /// The project of [`NODES`], loaded once.
    fn manifest() -> &'static Manifest {
        static M: OnceLock<Manifest> = OnceLock::new();
        M.get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut files = vec![
                (
                    "dbt_project.yml".to_owned(),
                    "name: p\nprofile: p\n".to_owned(),
                ),
                (
                    "profiles.yml".to_owned(),
                    "p:\n  outputs:\n    main: {type: sqlite, path: x.db}\n".to_owned(),
                ),
                ("seeds/s.csv".to_owned(), "id\n1\n".to_owned()),
            ];
            for (name, parents, tags) in NODES.iter().filter(|(n, ..)| *n != "s") {
                let mut sql = format!("{{{{ config(tags={tags:?}) }}}}select 1 as id");
                for p in *parents {
                    sql.push_str(&format!(" union all select id from {{{{ ref('{p}') }}}}"));
                }
                if *name == "g" {
                    sql = " \n".into();
                }
                files.push((format!("models/{name}.sql"), sql));
            }
            for (rel, text) in &files {
                let path = dir.path().join(rel);
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                std::fs::write(path, text).expect("write");
            }
            Manifest::load(&LoadOptions {
                project_dir: dir.path().to_path_buf(),
                ..LoadOptions::default()
            })
            .expect("the test project loads")
        })
    }

    fn ids(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| unique_id(n)).collect()
    }

    fn sel(select_: &[&str], exclude: &[&str]) -> Result<BTreeSet<String>> {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        select(manifest(), &owned(select_), &owned(exclude))
    }

    #[test]
    fn graph_operators_unions_and_intersections() {
        assert_eq!(sel(&["+c"], &[]).unwrap(), ids(&["s", "a", "b", "c"]));
        assert_eq!(sel(&["1+c+1"], &[]).unwrap(), ids(&["b", "c", "f"]));
        assert_eq!(sel(&["tag:x,tag:y"], &[]).unwrap(), ids(&["c"]));
        assert_eq!(sel(&["tag:y e"], &["e"]).unwrap(), ids(&["c"]));
        assert_eq!(
            sel(&["a+", "e"], &["f"]).unwrap(),
            ids(&["a", "b", "c", "d", "e"])
        );
    }

    #[test]
    fn empty_models_are_never_selected() {
        assert!(!sel(&[], &[]).unwrap().contains("model.p.g"));
        assert!(sel(&["g"], &[]).unwrap().is_empty());
    }

    #[test]
    fn malformed_selectors_are_coded() {
        for bad in [
            "+a+b",
            "a+b",
            "tag:",
            "path:",
            ":a",
            "1+",
            "+",
            "@a",
            "colour:red",
            "a,",
        ] {
            let err = sel(&[bad], &[]).unwrap_err();
            assert_eq!(err.code(), "DVT111", "{bad}: {err}");
            assert!(err.to_string().contains(bad), "{bad}: {err}");
        }
        assert_eq!(sel(&["a"], &["tag:"]).unwrap_err().code(), "DVT111");
    }

    /// One selector atom: graph operators around a method.
    #[derive(Debug, Clone)]
    struct Atom {
        up: Option<Option<usize>>,
        method: Method,
        down: Option<Option<usize>>,
    }

    #[derive(Debug, Clone)]
    enum Method {
        Name(&'static str),
        Tag(&'static str),
        All,
    }

    impl Atom {
        fn render(&self) -> String {
            let depth = |d: Option<usize>| d.map(|n| n.to_string()).unwrap_or_default();
            let up = self
                .up
                .map(|d| format!("{}+", depth(d)))
                .unwrap_or_default();
            let down = self
                .down
                .map(|d| format!("+{}", depth(d)))
                .unwrap_or_default();
            let method = match &self.method {
                Method::Name(n) => (*n).to_owned(),
                Method::Tag(t) => format!("tag:{t}"),
                Method::All => "*".to_owned(),
            };
            format!("{up}{method}{down}")
        }

        /// What the atom selects, computed from [`NODES`] without the manifest.
        fn reference(&self) -> BTreeSet<&'static str> {
            let base: BTreeSet<&'static str> = NODES
                .iter()
                .filter(|(name, _, tags)| match &self.method {
                    Method::Name(n) => n == name,
                    Method::Tag(t) => tags.contains(t),
                    Method::All => true,
                })
                .map(|(name, ..)| *name)
                .collect();
            let parents: BTreeMap<&str, Vec<&str>> =
                NODES.iter().map(|(n, ps, _)| (*n, ps.to_vec())).collect();
            let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (n, ps, _) in NODES {
                for p in ps {
                    children.entry(p).or_default().push(n);
                }
            }
            let mut out = base.clone();
            for n in &base {
                if let Some(d) = self.up {
                    out.extend(reachable(&parents, n, d));
                }
                if let Some(d) = self.down {
                    out.extend(reachable(&children, n, d));
                }
            }
            out
        }
    }

    /// Nodes at most `depth` edges from `from` (any distance when `None`), without it.
    fn reachable(
        edges: &BTreeMap<&'static str, Vec<&'static str>>,
        from: &'static str,
        depth: Option<usize>,
    ) -> BTreeSet<&'static str> {
        let mut dist = BTreeMap::from([(from, 0usize)]);
        let mut queue = std::collections::VecDeque::from([from]);
        while let Some(n) = queue.pop_front() {
            let d = dist[n];
            if depth.is_some_and(|max| d >= max) {
                continue;
            }
            for next in edges.get(n).into_iter().flatten() {
                if !dist.contains_key(next) {
                    dist.insert(next, d + 1);
                    queue.push_back(next);
                }
            }
        }
        dist.remove(from);
        dist.into_keys().collect()
    }

    /// A selection: values (separate flags) of space-separated specs of comma-joined
    /// atoms.
    type Values = Vec<Vec<Vec<Atom>>>;

    fn render(values: &Values) -> Vec<String> {
        values
            .iter()
            .map(|specs| {
                specs
                    .iter()
                    .map(|atoms| atoms.iter().map(Atom::render).collect::<Vec<_>>().join(","))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    fn reference_union(values: &Values) -> BTreeSet<&'static str> {
        let mut out = BTreeSet::new();
        for specs in values {
            for atoms in specs {
                let mut acc = atoms[0].reference();
                for a in &atoms[1..] {
                    let r = a.reference();
                    acc.retain(|n| r.contains(n));
                }
                out.extend(acc);
            }
        }
        out
    }

    fn atom() -> impl Strategy<Value = Atom> {
        let depth = prop_oneof![Just(None), (0usize..4).prop_map(Some)];
        let method = prop_oneof![
            4 => prop::sample::select(vec!["s", "a", "b", "c", "d", "e", "f", "g", "zz"])
                .prop_map(Method::Name),
            2 => prop::sample::select(vec!["x", "y", "none"]).prop_map(Method::Tag),
            1 => Just(Method::All),
        ];
        (
            prop::option::of(depth.clone()),
            method,
            prop::option::of(depth),
        )
            .prop_map(|(up, method, down)| Atom { up, method, down })
    }

    fn values(max: usize) -> impl Strategy<Value = Values> {
        let spec = prop::collection::vec(atom(), 1..4);
        prop::collection::vec(prop::collection::vec(spec, 1..3), 0..max)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_selectors_never_panic(
            select_ in prop::collection::vec(any::<String>(), 0..3),
            exclude in prop::collection::vec("[a-z0-9+*:,@. /_-]{0,12}", 0..3),
        ) {
            if let Err(e) = select(manifest(), &select_, &exclude) {
                prop_assert_eq!(e.code(), "DVT111", "{}", e);
            }
        }

        #[test]
        fn selector_like_text_never_panics(
            text in "[a-g0-9+*:,@ tagpth_-]{0,16}",
        ) {
            if let Err(e) = select(manifest(), &[text], &[]) {
                prop_assert_eq!(e.code(), "DVT111", "{}", e);
            }
        }

        #[test]
        fn valid_selectors_match_the_reference(select_ in values(3), exclude in values(2)) {
            let got = select(manifest(), &render(&select_), &render(&exclude))
                .expect("generated selectors are valid");
            let mut want: BTreeSet<&str> = if select_.is_empty() {
                NODES.iter().map(|(n, ..)| *n).collect()
            } else {
                reference_union(&select_)
            };
            let excluded = reference_union(&exclude);
            want.retain(|n| !excluded.contains(n) && *n != "g" && *n != "zz");
            let want: BTreeSet<String> = want.into_iter().map(unique_id).collect();
            prop_assert_eq!(got, want, "--select {:?} --exclude {:?}", render(&select_), render(&exclude));
        }
    }
}
