//! The README's examples stay valid: every ```yaml block in README.md carries
//! a marker on the line before it, and the pipelines marked `check` pass
//! `logbus check`.
//!
//! Markers (an HTML comment, invisible on GitHub):
//! - `<!-- check -->`: a whole pipeline; `logbus check` must accept it.
//! - `<!-- file: NAME -->`: a file a later pipeline uses (a template file),
//!   written as NAME next to the pipelines.
//! - `<!-- nocheck: REASON -->`: not checked, for the reason given.

mod common;

use common::{Sandbox, check, read_string, repo_root};

/// What the marker before a block asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Marker {
    Check,
    File(String),
    NoCheck,
}

/// One ```yaml block.
#[derive(Debug)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    /// `Err` holds the line before the fence when it is no marker.
    marker: Result<Marker, String>,
    text: String,
}

fn marker(line: &str) -> Option<Marker> {
    let inner = line
        .trim()
        .strip_prefix("<!--")?
        .strip_suffix("-->")?
        .trim();
    if inner == "check" {
        return Some(Marker::Check);
    }
    if let Some(name) = inner.strip_prefix("file:") {
        let name = name.trim();
        return (!name.is_empty() && !name.contains('/')).then(|| Marker::File(name.into()));
    }
    let reason = inner.strip_prefix("nocheck:")?;
    (!reason.trim().is_empty()).then_some(Marker::NoCheck)
}

/// The ```yaml blocks of a Markdown text, with the marker before each.
fn yaml_blocks(md: &str) -> Vec<Block> {
    let lines: Vec<&str> = md.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() != "```yaml" {
            i += 1;
            continue;
        }
        let before = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .copied()
            .unwrap_or("");
        let end = (i + 1..lines.len())
            .find(|&j| lines[j].trim_end() == "```")
            .unwrap_or_else(|| panic!("README.md:{}: unclosed ```yaml block", i + 1));
        blocks.push(Block {
            line: i + 1,
            marker: marker(before).ok_or_else(|| before.to_string()),
            text: lines[i + 1..end].join("\n") + "\n",
        });
        i = end + 1;
    }
    blocks
}

#[test]
fn the_extractor_reads_markers() {
    let md = "# t\n<!-- check -->\n```yaml\na: 1\n```\n\nx\n```yaml\nb\n```\n\
              <!-- file: t.yml -->\n\n```yaml\nc\n```\n<!-- nocheck: later -->\n```yaml\n```\n\
              <!-- nocheck: -->\n```yaml\n```\n```json\n{}\n```\n";
    let blocks = yaml_blocks(md);
    let got: Vec<(usize, Result<Marker, String>, &str)> = blocks
        .iter()
        .map(|b| (b.line, b.marker.clone(), b.text.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (3, Ok(Marker::Check), "a: 1\n"),
            (8, Err("x".into()), "b\n"),
            (13, Ok(Marker::File("t.yml".into())), "c\n"),
            (17, Ok(Marker::NoCheck), "\n"),
            (20, Err("<!-- nocheck: -->".into()), "\n"),
        ]
    );
}

#[test]
fn readme_examples_pass_check() {
    let readme = read_string(&repo_root().join("README.md"));
    let blocks = yaml_blocks(&readme);
    let unmarked: Vec<String> = blocks
        .iter()
        .filter_map(|b| {
            b.marker
                .as_ref()
                .err()
                .map(|_| format!("README.md:{}", b.line))
        })
        .collect();
    assert!(
        unmarked.is_empty(),
        "```yaml blocks need `<!-- check -->`, `<!-- file: NAME -->` or \
         `<!-- nocheck: REASON -->` on the line before: {unmarked:?}"
    );
    // One sandbox, in README order: a file block precedes the pipelines
    // that use it.
    let sb = Sandbox::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    for b in &blocks {
        match &b.marker {
            Ok(Marker::File(name)) => {
                sb.write(name, &b.text);
            }
            Ok(Marker::Check) => {
                checked += 1;
                let out = check(&sb.config(&b.text));
                if out.code != Some(0) {
                    failures.push(format!("README.md:{}:\n{}", b.line, out.stderr));
                }
            }
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Guards against a README whose markers stopped being recognised.
    assert!(checked >= 15, "only {checked} examples were checked");
}
