//! The revision graph of one database: revisions and their parents.

use std::collections::{BTreeMap, BTreeSet};

/// One revision as the graph sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The revision id.
    pub id: String,
    /// Its parents; none for a root, several for a merge.
    pub parents: Vec<String>,
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
    /// Parents form a cycle.
    #[error("revisions {} form a cycle", .0.join(", "))]
    Cycle(Vec<String>),
}

/// A validated revision DAG.
#[derive(Clone, Debug)]
pub struct Graph {
    nodes: BTreeMap<String, Node>,
    /// Every id in an order where parents come before children (ties broken by id).
    order: Vec<String>,
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
        for node in map.values() {
            for parent in &node.parents {
                if !map.contains_key(parent) {
                    errors.push(GraphError::MissingParent {
                        id: node.id.clone(),
                        parent: parent.clone(),
                    });
                }
            }
        }
        // Kahn's algorithm over parents that exist.
        let mut pending: BTreeMap<&str, usize> = map
            .values()
            .map(|n| {
                (
                    n.id.as_str(),
                    n.parents.iter().filter(|p| map.contains_key(*p)).count(),
                )
            })
            .collect();
        let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for node in map.values() {
            for parent in node.parents.iter().filter(|p| map.contains_key(*p)) {
                children
                    .entry(parent.as_str())
                    .or_default()
                    .push(node.id.as_str());
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
            for child in children.get(id).into_iter().flatten() {
                let n = pending.get_mut(child).expect("every child is a node");
                *n -= 1;
                if *n == 0 {
                    ready.insert(child);
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
            Ok(Graph { nodes: map, order })
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

    /// Ids in parent-before-child order.
    pub fn order(&self) -> &[String] {
        &self.order
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

    /// `id` and every revision it descends from.
    pub fn ancestors(&self, id: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![id.to_string()];
        while let Some(id) = stack.pop() {
            if let Some(node) = self.nodes.get(&id)
                && seen.insert(id)
            {
                stack.extend(node.parents.iter().cloned());
            }
        }
        seen
    }

    /// Among `set`, the revisions that are not an ancestor of another member (the "current"
    /// revisions of a database whose applied set is `set`).
    pub fn tips(&self, set: &BTreeSet<String>) -> Vec<String> {
        let mut below = BTreeSet::new();
        for id in set {
            if let Some(node) = self.nodes.get(id) {
                for parent in &node.parents {
                    below.extend(self.ancestors(parent));
                }
            }
        }
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
        }
    }

    #[test]
    fn linear_order_and_heads() {
        let g = Graph::new([node("c", &["b"]), node("a", &[]), node("b", &["a"])]).unwrap();
        assert_eq!(g.order(), ["a", "b", "c"]);
        assert_eq!(g.heads(), ["c"]);
        assert_eq!(g.ancestors("b"), ["a", "b"].map(String::from).into());
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
    }

    #[test]
    fn every_problem_is_reported() {
        let errors = Graph::new([
            node("a", &[]),
            node("a", &[]),
            node("b", &["zz"]),
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
                GraphError::Cycle(vec!["x".into(), "y".into()]),
            ]
        );
    }
}
