//! `--select`, `--exclude`, `--selector` and `--indirect-selection`: dbt's node
//! selection.
//!
//! A selection is a tree ([`Spec`](crate::select::Spec)) of criteria (`[@][n+]method:value[+n]`) combined
//! by union (space-separated or repeated values), intersection (commas) and difference
//! (`--exclude`), or a named selector of `selectors.yml`. It is evaluated as dbt-core's
//! `NodeSelector` does: each criterion selects nodes, then the tests that read them
//! (as `--indirect-selection` says), and each combination of parts lets in the tests
//! a part held back once everything they read is selected.

mod file;
mod methods;
mod spec;
mod state;

use std::collections::{BTreeMap, BTreeSet};

pub use file::{FILE, Selector, Selectors};
pub use spec::{Criterion, Indirect, SetOp, Spec, parse_difference, parse_union};

use crate::error::Result;
use crate::graph::Graph;
use crate::manifest::{Manifest, ResourceType};

/// What a command was asked to select: its selection flags, as plain data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Criteria {
    /// `--select`.
    pub select: Vec<String>,
    /// `--exclude`.
    pub exclude: Vec<String>,
    /// `--selector`: a name in `selectors.yml`.
    pub selector: Option<String>,
    /// `--indirect-selection`.
    pub indirect: Indirect,
}

impl Criteria {
    /// `--select` and `--exclude` alone.
    pub fn new(select: &[String], exclude: &[String]) -> Self {
        Criteria {
            select: select.to_vec(),
            exclude: exclude.to_vec(),
            ..Criteria::default()
        }
    }

    /// Whether nothing narrows the selection (every node, or the default selector).
    pub fn is_empty(&self) -> bool {
        self.select.is_empty() && self.exclude.is_empty() && self.selector.is_none()
    }

    /// The selection these flags stand for: `--selector`'s, else `--select` minus
    /// `--exclude`, else the default selector's, else everything; with a line saying
    /// when the default selector was used.
    pub fn spec(&self, m: &Manifest) -> Result<(Spec, Option<String>)> {
        if let Some(name) = &self.selector {
            let Some(s) = m.selectors.get(name) else {
                let known: Vec<&str> = m
                    .selectors
                    .entries
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect();
                return Err(spec::invalid(
                    name,
                    &if known.is_empty() {
                        format!("`--selector` names a selector of {FILE}, and the project has none")
                    } else {
                        format!(
                            "no selector of that name in {FILE}; it defines `{}`",
                            known.join("`, `")
                        )
                    },
                ));
            };
            return Ok((s.spec.clone(), None));
        }
        if self.select.is_empty()
            && self.exclude.is_empty()
            && let Some(s) = m.selectors.default_selector()
        {
            return Ok((
                s.spec.clone(),
                Some(format!("Using default selector {}", s.name)),
            ));
        }
        Ok((
            parse_difference(&self.select, &self.exclude, self.indirect)?,
            None,
        ))
    }
}

/// What to tell the user about a selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// A warning's code; `None` for an informational line.
    pub code: Option<&'static str>,
    /// The line.
    pub message: String,
}

/// A selection's outcome.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The unique ids of the nodes, sources, exposures and semantic layer resources
    /// selected.
    pub ids: BTreeSet<String>,
    /// Lines for the user: the default selector used, criteria that matched nothing.
    pub notes: Vec<Note>,
}

impl Selection {
    /// The selected nodes (models, seeds, snapshots, tests, functions).
    pub fn nodes(&self, m: &Manifest) -> BTreeSet<String> {
        self.ids
            .iter()
            .filter(|id| m.nodes.contains_key(*id))
            .cloned()
            .collect()
    }
}

/// Selects what `criteria` name.
pub fn resolve(m: &Manifest, criteria: &Criteria) -> Result<Selection> {
    let (spec, default_note) = criteria.spec(m)?;
    let mut eval = Eval::new(m, criteria.indirect);
    if let Some(message) = default_note {
        eval.notes.push(Note {
            code: None,
            message,
        });
    }
    let (direct, _) = eval.spec(&spec)?;
    // As in dbt, a model whose file is empty (or only whitespace) is not a member of
    // the graph: it is parsed, but never selected, so never built.
    let ids = direct
        .into_iter()
        .filter(|id| match m.nodes.get(id) {
            Some(n) => n.resource_type != ResourceType::Model || !n.raw_code.trim().is_empty(),
            None => {
                m.sources.contains_key(id)
                    || m.exposures.contains_key(id)
                    || m.semantic.contains_key(id)
            }
        })
        .collect();
    Ok(Selection {
        ids,
        notes: eval.notes,
    })
}

/// The nodes `select` minus `exclude` names, with the tests they bring along (dbt's
/// eager indirect selection); every node when `select` is empty.
pub fn select(m: &Manifest, select: &[String], exclude: &[String]) -> Result<BTreeSet<String>> {
    Ok(resolve(m, &Criteria::new(select, exclude))?.nodes(m))
}

/// One evaluation of a spec against a manifest.
struct Eval<'m> {
    m: &'m Manifest,
    /// The build graph with exposures and the semantic layer below what they read.
    graph: Graph,
    /// A node -> the tests that read it.
    tests_of: BTreeMap<&'m str, Vec<&'m str>>,
    /// A test -> what it reads: a unit test its model (it reads fixtures), a data test
    /// the nodes and sources it depends on.
    reads: BTreeMap<&'m str, BTreeSet<&'m str>>,
    /// `--indirect-selection`, for criteria that do not set their own.
    default_indirect: Indirect,
    notes: Vec<Note>,
}

type Ids = BTreeSet<String>;

impl<'m> Eval<'m> {
    fn new(m: &'m Manifest, default_indirect: Indirect) -> Self {
        let graph = Graph::new(
            m.nodes
                .iter()
                .map(|(id, n)| (id, &n.depends_on))
                .chain(m.outside_members()),
        );
        let mut tests_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut reads = BTreeMap::new();
        for (id, n) in m.nodes.iter().filter(|(_, n)| n.is_test()) {
            let unit_model = n
                .test
                .as_ref()
                .filter(|t| t.unit.is_some())
                .and_then(|t| t.attached_node.as_deref());
            let parents: BTreeSet<&str> = match unit_model {
                Some(model) => BTreeSet::from([model]),
                None => n.depends_on.iter().map(String::as_str).collect(),
            };
            for p in &parents {
                tests_of.entry(p).or_default().push(id);
            }
            reads.insert(id.as_str(), parents);
        }
        Eval {
            m,
            graph,
            tests_of,
            reads,
            default_indirect,
            notes: Vec::new(),
        }
    }

    /// The nodes `spec` selects, and the tests it holds back (cautious and buildable
    /// modes) until everything they read is selected.
    fn spec(&mut self, spec: &Spec) -> Result<(Ids, Ids)> {
        match spec {
            Spec::Criterion(c) => self.criterion(c),
            Spec::Group {
                op,
                parts,
                indirect,
                expect,
            } => {
                let mut direct_sets = Vec::new();
                let mut indirect_sets = Vec::new();
                for part in parts {
                    let (direct, held) = self.spec(part)?;
                    indirect_sets.push(direct.union(&held).cloned().collect::<Ids>());
                    direct_sets.push(direct);
                }
                let direct = combine(*op, direct_sets);
                let held = combine(*op, indirect_sets);
                let direct = self.incorporate(direct, &held, *indirect);
                if let Some(raw) = expect
                    && direct.is_empty()
                {
                    self.notes.push(Note {
                        code: Some("DVT007"),
                        message: format!(
                            "The selection criterion '{raw}' does not match any enabled nodes"
                        ),
                    });
                }
                Ok((direct, held))
            }
        }
    }

    fn criterion(&mut self, c: &Criterion) -> Result<(Ids, Ids)> {
        let collected = methods::search(self.m, c, &mut self.notes)?;
        let mut selected = collected.clone();
        let starts = || collected.iter().map(String::as_str);
        if c.childrens_parents {
            let mut below = self.graph.descendants_of_all(starts(), None);
            below.extend(collected.iter().cloned());
            selected.extend(
                self.graph
                    .ancestors_of_all(below.iter().map(String::as_str), None),
            );
            selected.extend(below);
        }
        if let Some(depth) = c.parents {
            selected.extend(self.graph.ancestors_of_all(starts(), depth));
        }
        if let Some(depth) = c.children {
            selected.extend(self.graph.descendants_of_all(starts(), depth));
        }
        match c.indirect.unwrap_or(self.default_indirect) {
            Indirect::Empty => Ok((selected, Ids::new())),
            mode => Ok(self.expand(selected, mode)),
        }
    }

    /// The tests that read a selected node: in directly when the mode allows, else
    /// held back.
    fn expand(&self, selected: Ids, mode: Indirect) -> (Ids, Ids) {
        let around = (mode == Indirect::Buildable).then(|| self.selected_and_parents(&selected));
        let mut direct = selected.clone();
        let mut held = Ids::new();
        let candidates: BTreeSet<&str> = selected
            .iter()
            .filter_map(|id| self.tests_of.get(id.as_str()))
            .flatten()
            .copied()
            .collect();
        for test in candidates {
            let reads = &self.reads[test];
            let within = |set: &Ids| reads.iter().all(|r| set.contains(*r));
            if mode == Indirect::Eager || within(&selected) || around.as_ref().is_some_and(within) {
                direct.insert(test.to_owned());
            } else {
                held.insert(test.to_owned());
            }
        }
        (direct, held)
    }

    /// Tests held back by a part join once the combination selects all they read.
    fn incorporate(&self, direct: Ids, held: &Ids, mode: Indirect) -> Ids {
        if !matches!(mode, Indirect::Cautious | Indirect::Buildable) {
            return direct;
        }
        let around = if mode == Indirect::Buildable {
            self.selected_and_parents(&direct)
        } else {
            direct.clone()
        };
        let mut out = direct;
        for test in held {
            if let Some(reads) = self.reads.get(test.as_str())
                && reads.iter().all(|r| around.contains(*r))
            {
                out.insert(test.clone());
            }
        }
        out
    }

    fn selected_and_parents(&self, selected: &Ids) -> Ids {
        let mut out = selected.clone();
        out.extend(
            self.graph
                .ancestors_of_all(selected.iter().map(String::as_str), None),
        );
        out.extend(self.m.sources.keys().cloned());
        out
    }
}

fn combine(op: SetOp, sets: Vec<Ids>) -> Ids {
    let mut sets = sets.into_iter();
    let Some(first) = sets.next() else {
        return Ids::new();
    };
    match op {
        SetOp::Union => sets.fold(first, |mut acc, s| {
            acc.extend(s);
            acc
        }),
        SetOp::Intersection => sets.fold(first, |acc, s| acc.intersection(&s).cloned().collect()),
        SetOp::Difference => sets.fold(first, |acc, s| acc.difference(&s).cloned().collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            "@a+",
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
