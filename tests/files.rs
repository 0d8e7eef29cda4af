//! File input to file outputs, through the real binary: the pinned example,
//! globs, text output and file modes.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Sandbox, fixture_json, run};
use serde_json::{Value, json};

/// The pinned example of the issue: `in: {module: file, paths: [a.log,
/// b.log]}`, parsed by `parse-syslog`, read by two `file` outputs.
fn pinned_pipeline() -> String {
    let (parse, channel) = (
        "  parse:\n    module: parse-syslog\n    inChannels: [in]\n",
        "parse",
    );
    format!(
        "pipeline:
  in:
    module: file
    paths: [a.log, b.log]
{parse}  copy1:
    module: file
    inChannels: [{channel}]
    path: copy1.json
  copy2:
    module: file
    inChannels: [{channel}]
    path: copy2.json
"
    )
}

#[test]
fn pinned_example_every_line_in_both_outputs() {
    let sb = Sandbox::new();
    sb.copy_tree(&common::repo_root().join("tests/data/pinned"), "");
    let config = sb.config(&pinned_pipeline());
    let out = run(&config);
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    assert!(
        !out.stderr.contains("WARN") && !out.stderr.contains("ERROR"),
        "{}",
        out.stderr
    );
    // The inputs carry full ISO timestamps, so the expectation does not
    // depend on today's date or the machine's time zone.
    let expected_file = "pinned/expected-parse-syslog.json";
    let Value::Array(expected) = fixture_json(expected_file) else {
        panic!("{expected_file} must hold an array");
    };
    // Files are read in the order given, so the order is exact.
    assert_eq!(sb.relative_paths(sb.json_lines("copy1.json")), expected);
    assert_eq!(sb.relative_paths(sb.json_lines("copy2.json")), expected);
}

#[test]
fn globs_read_sorted_matches_and_text_output() {
    let sb = Sandbox::new();
    sb.write("logs/b.log", "b1\nb2\n");
    sb.write("logs/a.log", "a1\n");
    sb.write("logs/c.txt", "not a log\n");
    sb.write("first.log", "first\n");
    let config = sb.config(
        "pipeline:
  in:
    module: file
    paths: [first.log, \"logs/*.log\"]
  text:
    module: file
    inChannels: [in]
    path: out.txt
    template: \"{log.offset} {message}\"
",
    );
    let out = run(&config);
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    assert_eq!(
        sb.text_lines("out.txt"),
        ["0 first", "0 a1", "0 b1", "3 b2"]
    );
}

#[test]
fn output_appends_and_new_files_get_mode() {
    let sb = Sandbox::new();
    sb.write("in.log", "one\ntwo\n");
    sb.write("existing.json", "{\"message\":\"kept\"}\n");
    let config = sb.config(
        "pipeline:
  in:
    module: file
    paths: [in.log]
  append:
    module: file
    inChannels: [in]
    path: existing.json
  private:
    module: file
    inChannels: [in]
    path: private.json
    mode: \"0600\"
  plain-number:
    module: file
    inChannels: [in]
    path: plain-number.json
    mode: 440
",
    );
    let out = run(&config);
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    assert_eq!(
        sb.messages("existing.json"),
        [json!("kept"), json!("one"), json!("two")]
    );
    assert_eq!(sb.messages("private.json"), [json!("one"), json!("two")]);
    let mode = std::fs::metadata(sb.path("private.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // An integer's digits are octal digits (it used to be read as decimal).
    let mode = std::fs::metadata(sb.path("plain-number.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o440);
}

#[test]
fn output_that_cannot_open_fails_the_run_naming_the_path() {
    let sb = Sandbox::new();
    sb.write("in.log", "one\n");
    let config = sb.config(
        "pipeline:
  in:
    module: file
    paths: [in.log]
  out:
    module: file
    inChannels: [in]
    path: no-such-dir/out.json
",
    );
    let out = run(&config);
    assert_eq!(out.code, Some(1));
    let path = sb.path("no-such-dir/out.json");
    assert!(
        out.stderr.contains(&format!(
            "logbus: stage `out` failed: cannot open {}: No such file or directory",
            path.display()
        )),
        "{}",
        out.stderr
    );
}

/// Regression: `logbus run ./pipeline.yml` (a relative config path) used to
/// resolve paths against `.`, so `log.file.path` read `./in.log`, a path
/// that means nothing to whoever reads the event later.
#[test]
fn relative_config_path_gives_absolute_file_paths() {
    let sb = Sandbox::new();
    sb.write("logs/in.log", "one\n");
    sb.config(
        "pipeline:
  in:
    module: file
    paths: [logs/in.log]
  out:
    module: file
    inChannels: [in]
    path: out.json
",
    );
    let mut cmd = common::logbus();
    cmd.current_dir(sb.dir()).args(["run", "./pipeline.yml"]);
    let out = common::outcome(cmd, None);
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    // The process's working directory is the physical path (no symlinks).
    let dir = sb.dir().canonicalize().unwrap();
    let events = sb.json_lines("out.json");
    assert_eq!(
        events,
        [json!({
            "message": "one",
            "log": {"file": {"path": dir.join("logs/in.log")}, "offset": 0}
        })]
    );
}
