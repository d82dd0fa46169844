//! Draws a revision graph as text, newest first, like `git log --graph`.

use retort::core::graph::Graph;

/// One line of the drawing: the lanes, and the revision when the line is a node.
#[derive(Debug, PartialEq, Eq)]
pub struct Row {
    /// The lane characters (`*`/`o` node markers, `|`, `\`, `/`), space-separated.
    pub lanes: String,
    /// The revision drawn on this line; `None` for a connector line.
    pub revision: Option<String>,
}

fn draw(cells: &[char]) -> String {
    let mut s: String = cells.iter().flat_map(|c| [*c, ' ']).collect();
    s.truncate(s.trim_end().len());
    s
}

/// Lays out `graph` newest first; `marker` gives each revision's node character.
pub fn rows(graph: &Graph, marker: impl Fn(&str) -> char) -> Vec<Row> {
    let mut lanes: Vec<Option<String>> = Vec::new();
    let mut out = Vec::new();
    for id in graph.order().iter().rev() {
        let waiting: Vec<usize> = lanes
            .iter()
            .enumerate()
            .filter(|(_, l)| l.as_deref() == Some(id))
            .map(|(i, _)| i)
            .collect();
        let col = match waiting.first() {
            Some(&c) => c,
            None => match lanes.iter().position(Option::is_none) {
                Some(free) => free,
                None => {
                    lanes.push(None);
                    lanes.len() - 1
                }
            },
        };
        // Several children led here: fold their lanes into this one.
        if waiting.len() > 1 {
            let cells: Vec<char> = (0..lanes.len())
                .map(|i| {
                    if waiting[1..].contains(&i) {
                        '/'
                    } else if lanes[i].is_some() {
                        '|'
                    } else {
                        ' '
                    }
                })
                .collect();
            for &i in &waiting[1..] {
                lanes[i] = None;
            }
            out.push(Row {
                lanes: draw(&cells),
                revision: None,
            });
        }
        lanes[col] = Some(id.clone());
        let cells: Vec<char> = (0..lanes.len())
            .map(|i| {
                if i == col {
                    marker(id)
                } else if lanes[i].is_some() {
                    '|'
                } else {
                    ' '
                }
            })
            .collect();
        out.push(Row {
            lanes: draw(&cells),
            revision: Some(id.clone()),
        });

        let parents = graph
            .node(id)
            .map(|n| n.parents.clone())
            .unwrap_or_default();
        lanes[col] = parents.first().cloned();
        for parent in parents.iter().skip(1) {
            if lanes.iter().any(|l| l.as_deref() == Some(parent)) {
                continue;
            }
            let slot = match (col + 1..lanes.len()).find(|&i| lanes[i].is_none()) {
                Some(i) => i,
                None => {
                    lanes.push(None);
                    lanes.len() - 1
                }
            };
            lanes[slot] = Some(parent.clone());
            let cells: Vec<char> = (0..lanes.len())
                .map(|i| {
                    if i == slot {
                        '\\'
                    } else if lanes[i].is_some() {
                        '|'
                    } else {
                        ' '
                    }
                })
                .collect();
            out.push(Row {
                lanes: draw(&cells),
                revision: None,
            });
        }
        while lanes.last().is_some_and(Option::is_none) {
            lanes.pop();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use retort::core::graph::Node;

    fn node(id: &str, parents: &[&str]) -> Node {
        Node {
            id: id.into(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_branch_and_a_merge() {
        let g = Graph::new([
            node("a", &[]),
            node("l", &["a"]),
            node("r", &["a"]),
            node("m", &["l", "r"]),
        ])
        .unwrap();
        let text: Vec<String> = rows(&g, |_| '*')
            .into_iter()
            .map(|r| {
                format!("{} {}", r.lanes, r.revision.unwrap_or_default())
                    .trim_end()
                    .to_string()
            })
            .collect();
        assert_eq!(text, ["* m", "| \\", "| * r", "* | l", "| /", "* a"]);
    }

    #[test]
    fn linear_and_two_roots() {
        let g = Graph::new([node("a", &[]), node("b", &["a"]), node("x", &[])]).unwrap();
        let text: Vec<String> = rows(&g, |id| if id == "a" { '*' } else { 'o' })
            .into_iter()
            .map(|r| format!("{} {}", r.lanes, r.revision.unwrap_or_default()))
            .collect();
        assert_eq!(text, ["o x", "o b", "* a"]);
    }
}
