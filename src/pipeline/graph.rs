//! The stage graph: validation (unknown channels, channels only outputs
//! write, loops, dead ends) and the readable rendering printed by `logbus check`.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use crate::config::RESERVED_CHANNELS;
use crate::stages::ModuleKind;

/// One stage as the graph sees it.
#[derive(Debug, Clone)]
pub struct Node {
    /// Stage name.
    pub name: String,
    /// Module name.
    pub module: String,
    /// Module kind.
    pub kind: ModuleKind,
    /// Channels read.
    pub reads: Vec<String>,
    /// Channels written, per port (port 0 is `outChannels`).
    pub writes: Vec<Vec<String>>,
}

impl Node {
    fn all_writes(&self) -> impl Iterator<Item = &String> {
        self.writes.iter().flatten()
    }
}

/// A graph problem: the stage and field it is about, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    /// The stage at fault.
    pub stage: String,
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

/// For each stage, the indices of the stages that read any of its ports,
/// per port (a reader appears once per port even if it reads several of
/// the port's channels).
pub fn readers_by_port(nodes: &[Node]) -> Vec<Vec<Vec<usize>>> {
    nodes
        .iter()
        .map(|n| {
            n.writes
                .iter()
                .map(|chs| {
                    nodes
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.reads.iter().any(|c| chs.contains(c)))
                        .map(|(i, _)| i)
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Indices of the stages that read `channel` directly.
pub fn readers_of(nodes: &[Node], channel: &str) -> Vec<usize> {
    nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.reads.iter().any(|c| c == channel))
        .map(|(i, _)| i)
        .collect()
}

/// Checks the graph; every problem found is returned.
pub fn validate(nodes: &[Node]) -> Result<(), Vec<GraphError>> {
    let mut errors = Vec::new();
    let mut writers: HashMap<&str, Vec<&Node>> = HashMap::new();
    for n in nodes {
        for c in n.all_writes() {
            writers.entry(c.as_str()).or_default().push(n);
        }
    }
    for n in nodes {
        let err = |field, message| GraphError {
            stage: n.name.clone(),
            field,
            message,
        };
        match n.kind {
            ModuleKind::Input if !n.reads.is_empty() => errors.push(err(
                "inChannels",
                format!(
                    "module `{}` is an input and reads no channels; remove inChannels",
                    n.module
                ),
            )),
            ModuleKind::Input => {}
            _ if n.reads.is_empty() => errors.push(err(
                "inChannels",
                format!(
                    "module `{}` needs inChannels: the channels it reads",
                    n.module
                ),
            )),
            _ => {}
        }
        for c in &n.reads {
            if RESERVED_CHANNELS.contains(&c.as_str()) {
                continue;
            }
            match writers.get(c.as_str()) {
                None => errors.push(err(
                    "inChannels",
                    format!("reads channel `{c}`, which no stage writes"),
                )),
                // An output's channel stays silent: reading it is a mistake
                // that would otherwise go unnoticed until nothing arrives.
                Some(ws) if ws.iter().all(|w| w.kind == ModuleKind::Output) => {
                    errors.push(err("inChannels", only_outputs_write(c, ws)));
                }
                Some(_) => {}
            }
        }
    }
    let readers = readers_by_port(nodes);
    for (i, n) in nodes.iter().enumerate() {
        let terminal = matches!(n.kind, ModuleKind::Output | ModuleKind::Action);
        if !terminal && readers[i].iter().all(Vec::is_empty) {
            let chans: Vec<&str> = n.all_writes().map(String::as_str).collect();
            errors.push(GraphError {
                stage: n.name.clone(),
                field: "outChannels",
                message: format!(
                    "dead end: no stage reads what it writes ({}); add a stage with inChannels [{}] or remove it",
                    chans.join(", "),
                    chans.first().copied().unwrap_or("")
                ),
            });
        }
    }
    if let Some(cycle) = find_cycle(nodes, &readers) {
        let names: Vec<&str> = cycle.iter().map(|&i| nodes[i].name.as_str()).collect();
        errors.push(GraphError {
            stage: nodes[cycle[0]].name.clone(),
            field: "inChannels",
            message: format!("loop: {} -> {}", names.join(" -> "), names[0]),
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The message for a stage reading channel `c`, which only the output
/// stages `ws` write.
fn only_outputs_write(c: &str, ws: &[&Node]) -> String {
    let names: Vec<String> = ws.iter().map(|w| format!("`{}`", w.name)).collect();
    let (stages, verb) = match names.len() {
        1 => ("stage", "writes"),
        _ => ("stages", "write"),
    };
    let mut upstream: Vec<&str> = Vec::new();
    for r in ws.iter().flat_map(|w| &w.reads) {
        if !upstream.contains(&r.as_str()) {
            upstream.push(r);
        }
    }
    let hint = if upstream.is_empty() {
        String::new()
    } else {
        format!("; to see the same events, read [{}]", upstream.join(", "))
    };
    format!(
        "reads channel `{c}`, which only output {stages} {} {verb}; outputs emit nothing, so this stage would receive nothing{hint}",
        names.join(", ")
    )
}

/// A cycle as a list of stage indices, if there is one.
fn find_cycle(nodes: &[Node], readers: &[Vec<Vec<usize>>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        i: usize,
        readers: &[Vec<Vec<usize>>],
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        marks[i] = Mark::Active;
        stack.push(i);
        for &next in readers[i].iter().flatten() {
            match marks[next] {
                Mark::Active => {
                    let start = stack.iter().position(|&s| s == next).unwrap_or(0);
                    return Some(stack[start..].to_vec());
                }
                Mark::New => {
                    if let Some(c) = visit(next, readers, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks[i] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; nodes.len()];
    for i in 0..nodes.len() {
        if marks[i] == Mark::New
            && let Some(c) = visit(i, readers, &mut marks, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

/// Stages that read `errors` or `stats`, and every stage downstream of them.
/// They are stopped last, after the inherent channels close.
pub fn downstream_of_inherent(nodes: &[Node]) -> BTreeSet<usize> {
    let readers = readers_by_port(nodes);
    let mut set = BTreeSet::new();
    let mut todo: Vec<usize> = RESERVED_CHANNELS
        .iter()
        .flat_map(|c| readers_of(nodes, c))
        .collect();
    while let Some(i) = todo.pop() {
        if set.insert(i) {
            todo.extend(readers[i].iter().flatten().copied());
        }
    }
    set
}

/// The graph as a table: stage, module, reads, writes.
pub fn render(nodes: &[Node]) -> String {
    let mut rows = vec![[
        "STAGE".to_string(),
        "MODULE".to_string(),
        "READS".to_string(),
        "WRITES".to_string(),
    ]];
    for n in nodes {
        let reads = if n.reads.is_empty() {
            "-".to_string()
        } else {
            n.reads.join(", ")
        };
        let writes = match n.kind {
            ModuleKind::Output => "(output)".to_string(),
            _ => n
                .all_writes()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        };
        rows.push([
            n.name.clone(),
            format!("{} ({})", n.module, n.kind),
            reads,
            writes,
        ]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line = format!(
            "{:w0$}  {:w1$}  {:w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, kind: ModuleKind, reads: &[&str], writes: &[&str]) -> Node {
        Node {
            name: name.into(),
            module: "m".into(),
            kind,
            reads: reads.iter().map(|s| s.to_string()).collect(),
            writes: vec![writes.iter().map(|s| s.to_string()).collect()],
        }
    }

    #[test]
    fn valid_fan_out_fan_in() {
        let g = [
            node("a", ModuleKind::Input, &[], &["a"]),
            node("b", ModuleKind::Input, &[], &["b"]),
            node("p", ModuleKind::Parser, &["a", "b"], &["p"]),
            node("o1", ModuleKind::Output, &["p"], &["o1"]),
            node("o2", ModuleKind::Output, &["p", "errors"], &["o2"]),
        ];
        assert_eq!(validate(&g), Ok(()));
        assert_eq!(downstream_of_inherent(&g), BTreeSet::from([4]));
        assert_eq!(readers_by_port(&g)[2], vec![vec![3, 4]]);
    }

    #[test]
    fn unknown_channel() {
        let g = [
            node("a", ModuleKind::Input, &[], &["a"]),
            node("o", ModuleKind::Output, &["nope"], &["o"]),
        ];
        let e = validate(&g).unwrap_err();
        assert!(
            e.iter()
                .any(|e| e.stage == "o" && e.message.contains("`nope`"))
        );
        assert!(
            e.iter()
                .any(|e| e.stage == "a" && e.message.contains("dead end"))
        );
    }

    #[test]
    fn loop_is_found() {
        let g = [
            node("a", ModuleKind::Input, &[], &["a"]),
            node("x", ModuleKind::Transform, &["a", "y"], &["x"]),
            node("y", ModuleKind::Transform, &["x"], &["y"]),
            node("o", ModuleKind::Output, &["y"], &["o"]),
        ];
        let e = validate(&g).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].message, "loop: x -> y -> x");
    }

    #[test]
    fn self_loop_is_found() {
        let g = [
            node("a", ModuleKind::Input, &[], &["a"]),
            node("x", ModuleKind::Transform, &["a", "x"], &["x"]),
            node("o", ModuleKind::Output, &["x"], &["o"]),
        ];
        let e = validate(&g).unwrap_err();
        assert_eq!(e[0].message, "loop: x -> x");
    }

    #[test]
    fn reading_an_output_channel_is_refused() {
        let g = [
            node("a", ModuleKind::Input, &[], &["a"]),
            node("o", ModuleKind::Output, &["a"], &["o"]),
            node("t", ModuleKind::Transform, &["o"], &["t"]),
            node("o2", ModuleKind::Output, &["t"], &["o2"]),
        ];
        let e = validate(&g).unwrap_err();
        assert_eq!(
            e,
            [GraphError {
                stage: "t".into(),
                field: "inChannels",
                message: "reads channel `o`, which only output stage `o` writes; outputs emit \
                          nothing, so this stage would receive nothing; to see the same events, \
                          read [a]"
                    .into(),
            }]
        );
    }

    #[test]
    fn several_output_writers_are_all_named() {
        let g = [
            node("a", ModuleKind::Input, &[], &["a"]),
            node("b", ModuleKind::Input, &[], &["b"]),
            node("o1", ModuleKind::Output, &["a"], &["x"]),
            node("o2", ModuleKind::Output, &["a", "b"], &["x"]),
            node("o3", ModuleKind::Output, &["x"], &["o3"]),
        ];
        let e = validate(&g).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].stage, "o3");
        assert!(
            e[0].message
                .starts_with("reads channel `x`, which only output stages `o1`, `o2` write;"),
            "{}",
            e[0].message
        );
        assert!(e[0].message.ends_with("read [a, b]"), "{}", e[0].message);
    }

    #[test]
    fn a_channel_an_output_shares_with_a_producer_is_fine() {
        // `o` declares `x` too, but the transform `t` fills it: events arrive.
        let g = [
            node("a", ModuleKind::Input, &[], &["a"]),
            node("t", ModuleKind::Transform, &["a"], &["x"]),
            node("o", ModuleKind::Output, &["a"], &["x"]),
            node("o2", ModuleKind::Output, &["x"], &["o2"]),
        ];
        assert_eq!(validate(&g), Ok(()));
    }

    #[test]
    fn input_with_reads_and_reader_without() {
        let g = [
            node("a", ModuleKind::Input, &["x"], &["a"]),
            node("o", ModuleKind::Output, &[], &["o"]),
        ];
        let e = validate(&g).unwrap_err();
        assert!(e.iter().any(|e| e.stage == "a" && e.field == "inChannels"));
        assert!(e.iter().any(|e| e.stage == "o" && e.field == "inChannels"));
    }

    #[test]
    fn render_lists_stages() {
        let g = [
            node("a", ModuleKind::Input, &[], &["a"]),
            node("o", ModuleKind::Output, &["a"], &["o"]),
        ];
        let r = render(&g);
        assert!(r.lines().nth(1).unwrap().starts_with("a  "));
        assert!(r.contains("(output)"));
    }
}
