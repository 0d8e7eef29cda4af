//! Fan-out and fan-in: one channel read by two outputs, two inputs (three
//! stages) feeding one stage, and two stages writing one channel.
//!
//! The fixture is `tests/data/fan/`: the pipeline, its inputs and the expected
//! output of each stage, compared the way LogBus compared its test pipelines
//! (run in the fixture's directory, normalise, diff against expected JSON).

mod common;

use common::{Sandbox, by_source, fixture_json, path_str, run_with};
use serde_json::Value;

fn expected(rel: &str) -> Vec<Value> {
    match fixture_json(rel) {
        Value::Array(v) => v,
        other => panic!("{rel} must hold an array, not {other}"),
    }
}

#[test]
fn fan_out_and_fan_in() {
    let sb = Sandbox::new();
    sb.copy_tree(&common::repo_root().join("tests/data/fan"), "");
    let stdin = std::fs::read(sb.path("stdin.txt")).unwrap();
    let out = run_with(
        &["run", path_str(&sb.path("pipeline.yml"))],
        &[],
        Some(&stdin),
    );
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);

    let all = sb.relative_paths(sb.json_lines("all.json"));
    let only_a = sb.relative_paths(sb.json_lines("only-a.json"));
    // Sources interleave in any order; each source's own order is kept.
    assert_eq!(
        by_source(&all),
        by_source(&expected("fan/expected-all.json"))
    );
    assert_eq!(
        by_source(&only_a),
        by_source(&expected("fan/expected-only-a.json"))
    );
    assert_eq!(all.len(), 7);
    assert_eq!(only_a.len(), 5);
}
