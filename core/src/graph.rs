//! The DAG of nodes: parents, children, topological order and cycle detection.

use std::collections::{BTreeMap, BTreeSet};

/// Parent and child edges between unique ids. Sources appear as parents only.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// Node -> the nodes it depends on.
    pub parents: BTreeMap<String, BTreeSet<String>>,
    /// Node -> the nodes that depend on it.
    pub children: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    /// Builds the graph from each node's dependencies.
    pub fn new<'a>(deps: impl IntoIterator<Item = (&'a String, &'a Vec<String>)>) -> Self {
        let mut g = Graph::default();
        for (id, parents) in deps {
            g.parents.entry(id.clone()).or_default();
            g.children.entry(id.clone()).or_default();
            for p in parents {
                g.parents.entry(id.clone()).or_default().insert(p.clone());
                g.children.entry(p.clone()).or_default().insert(id.clone());
                g.parents.entry(p.clone()).or_default();
            }
        }
        g
    }

    /// A cycle, as the list of ids on it (first repeated at the end), if there is one.
    pub fn find_cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Visiting,
            Done,
        }
        let mut marks: BTreeMap<&str, Mark> = BTreeMap::new();
        for start in self.parents.keys() {
            if marks.contains_key(start.as_str()) {
                continue;
            }
            // Iterative DFS keeps deep projects from overflowing the stack.
            let mut stack: Vec<(&str, Vec<&str>)> = vec![(start, self.parent_list(start))];
            marks.insert(start, Mark::Visiting);
            while let Some((node, pending)) = stack.last_mut() {
                let node = *node;
                match pending.pop() {
                    Some(p) => match marks.get(p) {
                        Some(Mark::Visiting) => {
                            let pos = stack.iter().position(|(n, _)| *n == p).unwrap_or(0);
                            let mut cycle: Vec<String> =
                                stack[pos..].iter().map(|(n, _)| (*n).to_owned()).collect();
                            cycle.push(p.to_owned());
                            // Walked along parent edges: reverse to read in data-flow order.
                            cycle.reverse();
                            return Some(cycle);
                        }
                        Some(Mark::Done) => {}
                        None => {
                            marks.insert(p, Mark::Visiting);
                            stack.push((p, self.parent_list(p)));
                        }
                    },
                    None => {
                        marks.insert(node, Mark::Done);
                        stack.pop();
                    }
                }
            }
        }
        None
    }

    fn parent_list(&self, id: &str) -> Vec<&str> {
        self.parents
            .get(id)
            .map(|s| s.iter().rev().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Every ancestor of `id` up to `depth` edges away (all when `None`).
    pub fn ancestors(&self, id: &str, depth: Option<usize>) -> BTreeSet<String> {
        walk(&self.parents, id, depth)
    }

    /// Every descendant of `id` up to `depth` edges away (all when `None`).
    pub fn descendants(&self, id: &str, depth: Option<usize>) -> BTreeSet<String> {
        walk(&self.children, id, depth)
    }

    /// Every ancestor of any of `ids`, up to `depth` edges away (all when `None`).
    pub fn ancestors_of_all<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
        depth: Option<usize>,
    ) -> BTreeSet<String> {
        walk_from(&self.parents, ids, depth)
    }

    /// Every descendant of any of `ids`, up to `depth` edges away (all when `None`).
    pub fn descendants_of_all<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
        depth: Option<usize>,
    ) -> BTreeSet<String> {
        walk_from(&self.children, ids, depth)
    }

    /// The parents each node of `subset` waits for when only `subset` is built: its
    /// nearest ancestors inside `subset`, found by walking up through every node outside
    /// it (ephemeral models, unselected nodes, sources). dbt orders and skips a run this
    /// way, so a model reading through an ephemeral model waits for, and is skipped after,
    /// the ephemeral model's own parents.
    pub fn subset_parents(&self, subset: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
        // Memoized per outside node: its nearest ancestors inside `subset`.
        let mut through: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        let mut out = BTreeMap::new();
        for id in subset {
            let mut parents = BTreeSet::new();
            for p in self.parents.get(id).into_iter().flatten() {
                if subset.contains(p) {
                    parents.insert(p.clone());
                } else {
                    parents.extend(self.nearest_in(p, subset, &mut through).iter().cloned());
                }
            }
            out.insert(id.clone(), parents);
        }
        out
    }

    /// The nearest ancestors inside `subset` of `start`, a node outside it.
    fn nearest_in<'a>(
        &'a self,
        start: &'a str,
        subset: &BTreeSet<String>,
        memo: &mut BTreeMap<&'a str, BTreeSet<String>>,
    ) -> BTreeSet<String> {
        if let Some(done) = memo.get(start) {
            return done.clone();
        }
        // Iterative post-order walk: deep chains of ephemeral models must not overflow
        // the stack.
        let mut stack: Vec<(&'a str, bool)> = vec![(start, false)];
        while let Some((node, expanded)) = stack.pop() {
            if memo.contains_key(node) {
                continue;
            }
            let parents = self.parent_list(node);
            if !expanded {
                stack.push((node, true));
                for p in parents {
                    if !subset.contains(p) && !memo.contains_key(p) {
                        stack.push((p, false));
                    }
                }
                continue;
            }
            let mut found = BTreeSet::new();
            for p in parents {
                if subset.contains(p) {
                    found.insert(p.to_owned());
                } else if let Some(f) = memo.get(p) {
                    found.extend(f.iter().cloned());
                }
            }
            memo.insert(node, found);
        }
        memo.get(start).cloned().unwrap_or_default()
    }

    /// `subset` in an order where every node comes after the parents
    /// [`Graph::subset_parents`] gives it (ties by id).
    pub fn subset_order(subset_parents: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
        Self::subset_order_by(subset_parents, &BTreeMap::new())
    }

    /// The run queue's order over a selection, as dbt's `GraphQueue` takes it: among the
    /// nodes whose parents are done, the one of the lowest level first, then by id. A
    /// node's level is 0 without parents in `subset_parents` (the selection's own graph,
    /// where sources and unselected nodes are no level), else one more than its deepest
    /// parent's.
    pub fn run_order(subset_parents: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
        fn level<'a>(
            parents: &'a BTreeMap<String, BTreeSet<String>>,
            id: &'a str,
            memo: &mut BTreeMap<&'a str, usize>,
            guard: usize,
        ) -> usize {
            if let Some(l) = memo.get(id) {
                return *l;
            }
            let l = match parents.get(id) {
                Some(ps) if guard < 10_000 => ps
                    .iter()
                    .map(|p| level(parents, p, memo, guard + 1) + 1)
                    .max()
                    .unwrap_or(0),
                _ => 0,
            };
            memo.insert(id, l);
            l
        }
        let mut memo = BTreeMap::new();
        for id in subset_parents.keys() {
            level(subset_parents, id, &mut memo, 0);
        }
        let scores = memo.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        Self::subset_order_by(subset_parents, &scores)
    }

    /// Like [`Graph::subset_order`], the ready nodes taken by `scores` first (lowest
    /// first, missing as 0), then by id.
    fn subset_order_by(
        subset_parents: &BTreeMap<String, BTreeSet<String>>,
        scores: &BTreeMap<String, usize>,
    ) -> Vec<String> {
        let score = |id: &str| scores.get(id).copied().unwrap_or(0);
        let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut indegree: BTreeMap<&str, usize> = BTreeMap::new();
        for (id, parents) in subset_parents {
            indegree.insert(id, parents.len());
            for p in parents {
                children.entry(p).or_default().push(id);
            }
        }
        let mut ready: BTreeSet<(usize, &str)> = indegree
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(id, _)| (score(id), *id))
            .collect();
        let mut out = Vec::with_capacity(indegree.len());
        while let Some((_, id)) = ready.pop_first() {
            out.push(id.to_owned());
            for c in children.get(id).into_iter().flatten() {
                if let Some(n) = indegree.get_mut(c) {
                    *n -= 1;
                    if *n == 0 {
                        ready.insert((score(c), c));
                    }
                }
            }
        }
        debug_assert_eq!(out.len(), indegree.len(), "subset_order on a cyclic graph");
        out
    }

    /// The nodes of `subset` in an order where parents come first (ties by id).
    pub fn topo_order(&self, subset: &BTreeSet<String>) -> Vec<String> {
        let mut indegree: BTreeMap<&str, usize> = subset
            .iter()
            .map(|id| {
                let n = self
                    .parents
                    .get(id)
                    .map(|ps| ps.iter().filter(|p| subset.contains(*p)).count())
                    .unwrap_or(0);
                (id.as_str(), n)
            })
            .collect();
        let mut ready: BTreeSet<&str> = indegree
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::with_capacity(subset.len());
        while let Some(id) = ready.pop_first() {
            out.push(id.to_owned());
            for c in self.children.get(id).into_iter().flatten() {
                if let Some(n) = indegree.get_mut(c.as_str()) {
                    *n -= 1;
                    if *n == 0 {
                        ready.insert(c.as_str());
                    }
                }
            }
        }
        debug_assert_eq!(
            out.len(),
            subset.len(),
            "topo_order called on a cyclic graph"
        );
        out
    }
}

fn walk(
    edges: &BTreeMap<String, BTreeSet<String>>,
    id: &str,
    depth: Option<usize>,
) -> BTreeSet<String> {
    walk_from(edges, [id], depth)
}

/// Nodes at most `depth` edges from any of `starts` (a start only when reached from
/// another).
fn walk_from<'a>(
    edges: &BTreeMap<String, BTreeSet<String>>,
    starts: impl IntoIterator<Item = &'a str>,
    depth: Option<usize>,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut frontier: Vec<String> = starts.into_iter().map(str::to_owned).collect();
    let mut level = 0;
    while !frontier.is_empty() && depth.is_none_or(|d| level < d) {
        let mut next = Vec::new();
        for n in frontier {
            for e in edges.get(&n).into_iter().flatten() {
                if seen.insert(e.clone()) {
                    next.push(e.clone());
                }
            }
        }
        frontier = next;
        level += 1;
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(edges: &[(&str, &[&str])]) -> Graph {
        let deps: Vec<(String, Vec<String>)> = edges
            .iter()
            .map(|(n, ps)| (n.to_string(), ps.iter().map(|p| p.to_string()).collect()))
            .collect();
        Graph::new(deps.iter().map(|(a, b)| (a, b)))
    }

    #[test]
    fn finds_cycles_in_flow_order() {
        let graph = g(&[("a", &[]), ("b", &["a", "d"]), ("c", &["b"]), ("d", &["c"])]);
        let cycle = graph.find_cycle().unwrap();
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(cycle.len(), 4);
        for pair in cycle.windows(2) {
            assert!(graph.children[&pair[0]].contains(&pair[1]), "{cycle:?}");
        }
        assert!(g(&[("a", &[]), ("b", &["a"])]).find_cycle().is_none());
    }

    #[test]
    fn orders_parents_first_and_walks_depths() {
        let graph = g(&[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("d", &["a"])]);
        let all: BTreeSet<String> = ["a", "b", "c", "d"].map(String::from).into();
        assert_eq!(graph.topo_order(&all), vec!["a", "b", "c", "d"]);
        assert_eq!(graph.descendants("a", Some(1)).len(), 2);
        assert_eq!(graph.descendants("a", None).len(), 3);
        assert_eq!(graph.ancestors("c", None).len(), 2);
    }

    #[test]
    fn subset_parents_look_through_unbuilt_nodes() {
        // seed -> eph1 -> eph2 -> model; other -> unselected -> model; model -> child
        let graph = g(&[
            ("seed", &[]),
            ("eph1", &["seed", "src"]),
            ("eph2", &["eph1"]),
            ("other", &[]),
            ("unselected", &["other"]),
            ("model", &["eph2", "unselected"]),
            ("child", &["model", "eph1"]),
        ]);
        let subset: BTreeSet<String> = ["seed", "other", "model", "child"].map(String::from).into();
        let parents = graph.subset_parents(&subset);
        let names = |id: &str| parents[id].iter().cloned().collect::<Vec<_>>();
        assert_eq!(names("model"), ["other", "seed"]);
        assert_eq!(names("child"), ["model", "seed"]);
        assert!(parents["seed"].is_empty());
        let order = Graph::subset_order(&parents);
        let pos = |id: &str| order.iter().position(|x| x == id).expect("ordered");
        assert!(pos("seed") < pos("model") && pos("other") < pos("model"));
        assert!(pos("model") < pos("child"));
        assert_eq!(order.len(), 4);
    }

    /// dbt-core 1.10 with one thread ran `a_model` (a view over a source the seed `zseed`
    /// loads) before the seeds, and failed; with a test of that source in `build`, the
    /// test gates the model, which then runs after the seeds.
    #[test]
    fn run_order_counts_levels_in_the_selection_only() {
        let parents = |pairs: &[(&str, &[&str])]| -> BTreeMap<String, BTreeSet<String>> {
            pairs
                .iter()
                .map(|(id, ps)| (id.to_string(), ps.iter().map(|p| p.to_string()).collect()))
                .collect()
        };
        let run = parents(&[
            ("model.p.a_model", &[]),
            ("model.p.b_model", &[]),
            ("seed.p.aseed", &[]),
            ("seed.p.zseed", &[]),
        ]);
        assert_eq!(
            Graph::run_order(&run),
            [
                "model.p.a_model",
                "model.p.b_model",
                "seed.p.aseed",
                "seed.p.zseed"
            ]
        );
        let build = parents(&[
            ("model.p.a_model", &["test.p.t_src"]),
            ("model.p.b_model", &[]),
            ("seed.p.aseed", &[]),
            ("seed.p.zseed", &[]),
            ("test.p.t_free", &[]),
            ("test.p.t_src", &[]),
        ]);
        assert_eq!(
            Graph::run_order(&build),
            [
                "model.p.b_model",
                "seed.p.aseed",
                "seed.p.zseed",
                "test.p.t_free",
                "test.p.t_src",
                "model.p.a_model"
            ]
        );
    }
}
