//! The revision graph of one database: revisions, their parents, branch labels and
//! same-graph dependencies.

use std::collections::{BTreeMap, BTreeSet};

/// One revision as the graph sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// The revision id.
    pub id: String,
    /// Its parents; none for a root, several for a merge.
    pub parents: Vec<String>,
    /// Labels naming the branch this revision starts.
    pub branch_labels: Vec<String>,
    /// Revisions that must be applied first without being parents.
    pub depends_on: Vec<String>,
}

/// What makes a set of revisions not a graph. All problems are reported at once.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// Two artifacts claim the same id.
    #[error("revision {0} is defined twice")]
    Duplicate(String),
    /// A parent is not in the graph.
    #[error("revision {id} names parent {parent}, which no migration defines")]
    MissingParent {
        /// The child.
        id: String,
        /// The missing parent.
        parent: String,
    },
    /// A `depends-on` is not in the graph.
    #[error("revision {id} depends on {dependency}, which no migration defines")]
    MissingDependency {
        /// The dependent revision.
        id: String,
        /// The missing revision.
        dependency: String,
    },
    /// A branch label is used twice.
    #[error("branch label `{label}` is on both {first} and {second}")]
    DuplicateLabel {
        /// The label.
        label: String,
        /// One revision carrying it.
        first: String,
        /// The other.
        second: String,
    },
    /// Parents and dependencies form a cycle.
    #[error("revisions {} form a cycle", .0.join(", "))]
    Cycle(Vec<String>),
}

/// A validated revision DAG.
#[derive(Clone, Debug)]
pub struct Graph {
    nodes: BTreeMap<String, Node>,
    /// Every id in an order where parents and dependencies come first (ties broken by id).
    order: Vec<String>,
    labels: BTreeMap<String, String>,
}

impl Graph {
    /// Builds and validates a graph.
    pub fn new(nodes: impl IntoIterator<Item = Node>) -> Result<Graph, Vec<GraphError>> {
        let mut errors = Vec::new();
        let mut map = BTreeMap::new();
        for node in nodes {
            if map.contains_key(&node.id) {
                errors.push(GraphError::Duplicate(node.id.clone()));
            } else {
                map.insert(node.id.clone(), node);
            }
        }
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        for node in map.values() {
            for parent in &node.parents {
                if !map.contains_key(parent) {
                    errors.push(GraphError::MissingParent {
                        id: node.id.clone(),
                        parent: parent.clone(),
                    });
                }
            }
            for dependency in &node.depends_on {
                if !map.contains_key(dependency) {
                    errors.push(GraphError::MissingDependency {
                        id: node.id.clone(),
                        dependency: dependency.clone(),
                    });
                }
            }
            for label in &node.branch_labels {
                if let Some(first) = labels.get(label) {
                    errors.push(GraphError::DuplicateLabel {
                        label: label.clone(),
                        first: first.clone(),
                        second: node.id.clone(),
                    });
                } else {
                    labels.insert(label.clone(), node.id.clone());
                }
            }
        }
        // Kahn's algorithm over the edges that exist (parents and dependencies).
        let edges = |n: &Node| -> Vec<String> {
            let mut e: Vec<String> = n
                .parents
                .iter()
                .chain(&n.depends_on)
                .filter(|p| map.contains_key(*p))
                .cloned()
                .collect();
            e.sort();
            e.dedup();
            e
        };
        let mut pending: BTreeMap<&str, usize> = map
            .values()
            .map(|n| (n.id.as_str(), edges(n).len()))
            .collect();
        let mut after: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for node in map.values() {
            for before in edges(node) {
                after.entry(before).or_default().push(node.id.as_str());
            }
        }
        let mut ready: BTreeSet<&str> = pending
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(id, _)| *id)
            .collect();
        let mut order = Vec::with_capacity(map.len());
        while let Some(id) = ready.pop_first() {
            order.push(id.to_string());
            for next in after.get(id).into_iter().flatten() {
                let n = pending.get_mut(next).expect("every edge ends at a node");
                *n -= 1;
                if *n == 0 {
                    ready.insert(next);
                }
            }
        }
        if order.len() < map.len() {
            let placed: BTreeSet<&str> = order.iter().map(String::as_str).collect();
            errors.push(GraphError::Cycle(
                map.keys()
                    .filter(|id| !placed.contains(id.as_str()))
                    .cloned()
                    .collect(),
            ));
        }
        if errors.is_empty() {
            Ok(Graph {
                nodes: map,
                order,
                labels,
            })
        } else {
            Err(errors)
        }
    }

    /// Whether `id` is a revision of this graph.
    pub fn contains(&self, id: &str) -> bool {
        self.nodes.contains_key(id)
    }

    /// The node of `id`.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// Ids in dependency order (parents and `depends-on` first).
    pub fn order(&self) -> &[String] {
        &self.order
    }

    /// The revision carrying a branch label.
    pub fn label(&self, label: &str) -> Option<&str> {
        self.labels.get(label).map(String::as_str)
    }

    /// Every branch label and its revision.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// The revisions naming `id` as a parent, sorted.
    pub fn children(&self, id: &str) -> Vec<String> {
        self.nodes
            .values()
            .filter(|n| n.parents.iter().any(|p| p == id))
            .map(|n| n.id.clone())
            .collect()
    }

    /// Revisions no other revision names as a parent, sorted.
    pub fn heads(&self) -> Vec<String> {
        let parents: BTreeSet<&str> = self
            .nodes
            .values()
            .flat_map(|n| n.parents.iter().map(String::as_str))
            .collect();
        self.nodes
            .keys()
            .filter(|id| !parents.contains(id.as_str()))
            .cloned()
            .collect()
    }

    /// Revisions with more than one child (where branches split), with their children.
    pub fn branch_points(&self) -> Vec<(String, Vec<String>)> {
        self.order
            .iter()
            .map(|id| (id.clone(), self.children(id)))
            .filter(|(_, children)| children.len() > 1)
            .collect()
    }

    fn closure(&self, start: &[&str], next: impl Fn(&Node) -> Vec<String>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = start.iter().map(|s| s.to_string()).collect();
        while let Some(id) = stack.pop() {
            if let Some(node) = self.nodes.get(&id)
                && seen.insert(id)
            {
                stack.extend(next(node));
            }
        }
        seen
    }

    /// `id` and every revision it descends from through parents.
    pub fn ancestors(&self, id: &str) -> BTreeSet<String> {
        self.closure(&[id], |n| n.parents.clone())
    }

    /// `ids` and everything they need applied first: parents and `depends-on`, transitively.
    pub fn requirements(&self, ids: &[&str]) -> BTreeSet<String> {
        self.closure(ids, |n| {
            n.parents.iter().chain(&n.depends_on).cloned().collect()
        })
    }

    /// `ids` and everything that needs them: children and dependents, transitively.
    pub fn dependents(&self, ids: &[&str]) -> BTreeSet<String> {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut stack: Vec<String> = ids
            .iter()
            .filter(|id| self.contains(id))
            .map(|s| s.to_string())
            .collect();
        while let Some(id) = stack.pop() {
            if seen.insert(id.clone()) {
                for n in self.nodes.values() {
                    if n.parents.contains(&id) || n.depends_on.contains(&id) {
                        stack.push(n.id.clone());
                    }
                }
            }
        }
        seen
    }

    /// The branch a label names: its revision and every descendant through parents.
    pub fn branch(&self, label: &str) -> Option<BTreeSet<String>> {
        let root = self.label(label)?;
        let mut seen = BTreeSet::new();
        let mut stack = vec![root.to_string()];
        while let Some(id) = stack.pop() {
            if seen.insert(id.clone()) {
                stack.extend(self.children(&id));
            }
        }
        Some(seen)
    }

    /// Among `set`, the revisions that are not a parent-ancestor of another member (the
    /// "current" revisions of a database whose applied set is `set`).
    pub fn tips(&self, set: &BTreeSet<String>) -> Vec<String> {
        // One walk up from every member's parents, each revision visited once (a walk per
        // member was quadratic: 37 % of a 2,000-migration start).
        let parents: Vec<&str> = set
            .iter()
            .filter_map(|id| self.nodes.get(id))
            .flat_map(|node| node.parents.iter().map(String::as_str))
            .collect();
        let below = self.closure(&parents, |n| n.parents.clone());
        set.iter()
            .filter(|id| !below.contains(*id))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn node(id: &str, parents: &[&str]) -> Node {
        Node {
            id: id.into(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        }
    }

    pub fn labelled(mut n: Node, labels: &[&str]) -> Node {
        n.branch_labels = labels.iter().map(|l| l.to_string()).collect();
        n
    }

    pub fn depending(mut n: Node, deps: &[&str]) -> Node {
        n.depends_on = deps.iter().map(|d| d.to_string()).collect();
        n
    }

    #[test]
    fn linear_order_and_heads() {
        let g = Graph::new([node("c", &["b"]), node("a", &[]), node("b", &["a"])]).unwrap();
        assert_eq!(g.order(), ["a", "b", "c"]);
        assert_eq!(g.heads(), ["c"]);
        assert_eq!(g.ancestors("b"), ["a", "b"].map(String::from).into());
        assert!(g.branch_points().is_empty());
    }

    #[test]
    fn branches_and_merges() {
        let g = Graph::new([
            node("a", &[]),
            node("b1", &["a"]),
            node("b2", &["a"]),
            node("m", &["b1", "b2"]),
        ])
        .unwrap();
        assert_eq!(g.heads(), ["m"]);
        assert_eq!(g.order(), ["a", "b1", "b2", "m"]);
        let applied: BTreeSet<String> = ["a", "b1", "b2"].map(String::from).into();
        assert_eq!(g.tips(&applied), ["b1", "b2"]);
        assert_eq!(
            g.branch_points(),
            vec![("a".to_string(), vec!["b1".to_string(), "b2".to_string()])]
        );
    }

    #[test]
    fn dependencies_order_across_branches() {
        // z (on its own root) depends on b, so it sorts after b although "z" > "b" anyway;
        // a0 depends on z, so it must come after z despite its name.
        let g = Graph::new([
            node("a", &[]),
            node("b", &["a"]),
            depending(node("z", &[]), &["b"]),
            depending(node("a0", &["a"]), &["z"]),
        ])
        .unwrap();
        assert_eq!(g.order(), ["a", "b", "z", "a0"]);
        assert_eq!(
            g.requirements(&["a0"]),
            ["a", "a0", "b", "z"].map(String::from).into()
        );
        assert_eq!(
            g.dependents(&["b"]),
            ["a0", "b", "z"].map(String::from).into()
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let errors = Graph::new([
            labelled(node("a", &[]), &["main"]),
            node("a", &[]),
            labelled(node("b", &["zz"]), &["main"]),
            depending(node("c", &[]), &["nowhere"]),
            node("x", &["y"]),
            node("y", &["x"]),
        ])
        .unwrap_err();
        assert_eq!(
            errors,
            vec![
                GraphError::Duplicate("a".into()),
                GraphError::MissingParent {
                    id: "b".into(),
                    parent: "zz".into()
                },
                GraphError::DuplicateLabel {
                    label: "main".into(),
                    first: "a".into(),
                    second: "b".into()
                },
                GraphError::MissingDependency {
                    id: "c".into(),
                    dependency: "nowhere".into()
                },
                GraphError::Cycle(vec!["x".into(), "y".into()]),
            ]
        );
        let cyclic =
            Graph::new([depending(node("p", &[]), &["q"]), node("q", &["p"])]).unwrap_err();
        assert_eq!(
            cyclic,
            vec![GraphError::Cycle(vec!["p".into(), "q".into()])]
        );
    }
}
