//! `logbus check`: every rejection exits 1 with one message naming the file
//! (and line), the stage and the field; a valid pipeline prints its graph.

mod common;

use common::{Sandbox, check};

/// Checks `yaml` and returns the one line `check` printed on stderr, with the
/// sandbox's config path replaced by `FILE`.
fn rejection(yaml: &str) -> String {
    let sb = Sandbox::new();
    let config = sb.config(yaml);
    let out = check(&config);
    assert_eq!(out.code, Some(1), "stdout:\n{}", out.stdout);
    assert_eq!(out.stdout, "", "nothing is printed for an invalid pipeline");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one problem, one line:\n{}", out.stderr);
    lines[0].replace(&config.display().to_string(), "FILE")
}

#[test]
fn unknown_module() {
    let msg = rejection(
        "pipeline:
  in:
    module: stdin
  out:
    module: stdot
    inChannels: [in]
",
    );
    let (head, known) = msg
        .split_once(" (known: ")
        .unwrap_or_else(|| panic!("{msg}"));
    assert_eq!(
        head,
        "logbus: FILE:5: stage `out`: field `module`: unknown module `stdot`"
    );
    let known: Vec<&str> = known.trim_end_matches(')').split(", ").collect();
    for m in ["file", "log", "stdin", "stdout"] {
        assert!(known.contains(&m), "{msg}");
    }
}

#[test]
fn unknown_option_key_with_its_line() {
    assert_eq!(
        rejection(
            "pipeline:
  in:
    module: stdin
  out:
    module: stdout
    inChannels: [in]
    formt: json
"
        ),
        "logbus: FILE:7: stage `out`: field `formt`: stdout: unknown field `formt`, expected `format` or `template`"
    );
}

#[test]
fn wrong_type() {
    assert_eq!(
        rejection(
            "pipeline:
  in:
    module: file
    paths: [a.log]
    max_line_bytes: lots
  out:
    module: file
    inChannels: [in]
    path: out.json
"
        ),
        "logbus: FILE:5: stage `in`: field `max_line_bytes`: file: invalid type: string \"lots\", expected usize"
    );
}

#[test]
fn channel_nobody_writes() {
    assert_eq!(
        rejection(
            "pipeline:
  in:
    module: stdin
  out:
    module: stdout
    inChannels: [in, nope]
"
        ),
        "logbus: FILE:6: stage `out`: field `inChannels`: reads channel `nope`, which no stage writes"
    );
}

#[test]
fn a_loop() {
    assert_eq!(
        rejection(
            "pipeline:
  in:
    module: stdin
  x:
    module: drop
    inChannels: [in, y]
    fields: [a]
  y:
    module: drop
    inChannels: [x]
    fields: [b]
  out:
    module: stdout
    inChannels: [y]
"
        ),
        "logbus: FILE:6: stage `x`: field `inChannels`: loop: x -> y -> x"
    );
}

/// Regression: a stage reading an output's channel was accepted, and then
/// silently received nothing, since outputs emit no events.
#[test]
fn reading_an_output_channel() {
    assert_eq!(
        rejection(
            "pipeline:
  in:
    module: stdin
  copy:
    module: file
    inChannels: [in]
    path: copy.json
  show:
    module: stdout
    inChannels: [copy]
"
        ),
        "logbus: FILE:10: stage `show`: field `inChannels`: reads channel `copy`, which only output stage `copy` writes; outputs emit nothing, so this stage would receive nothing; to see the same events, read [in]"
    );
}

#[test]
fn a_dead_end() {
    assert_eq!(
        rejection(
            "pipeline:
  in:
    module: stdin
  unused:
    module: file
    paths: [a.log]
  out:
    module: stdout
    inChannels: [in]
"
        ),
        "logbus: FILE:4: stage `unused`: field `outChannels`: dead end: no stage reads what it writes (unused); add a stage with inChannels [unused] or remove it"
    );
}

#[test]
fn an_input_with_in_channels() {
    assert_eq!(
        rejection(
            "pipeline:
  in:
    module: stdin
    inChannels: [x]
  x:
    module: file
    paths: [a.log]
  out:
    module: stdout
    inChannels: [in, x]
"
        ),
        "logbus: FILE:4: stage `in`: field `inChannels`: module `stdin` is an input and reads no channels; remove inChannels"
    );
}

#[test]
fn bad_yaml() {
    assert_eq!(
        rejection(
            "pipeline:
  in:
    module: stdin
  out: [
    module: stdout
"
        ),
        "logbus: FILE:6: invalid YAML: did not find expected ',' or ']' at line 6 column 1, while parsing a flow sequence at line 4 column 8"
    );
}

#[test]
fn bad_glob() {
    assert_eq!(
        rejection(
            "pipeline:
  in:
    module: file
    paths: [a.log, \"logs/***.log\"]
  out:
    module: stdout
    inChannels: [in]
"
        ),
        "logbus: FILE:4: stage `in`: field `paths.1`: file: bad glob `logs/***.log`: Pattern syntax error near position 7: wildcards are either regular `*` or recursive `**`"
    );
}

#[test]
fn bad_output_options() {
    assert_eq!(
        rejection(
            "pipeline:
  in:
    module: stdin
  out:
    module: file
    inChannels: [in]
    path: out.json
    mode: 0999
"
        ),
        "logbus: FILE:8: stage `out`: field `mode`: file: `0999` is not an octal file mode (expected e.g. \"0640\")"
    );
    assert_eq!(
        rejection(
            "pipeline:
  in:
    module: stdin
  out:
    module: file
    inChannels: [in]
    path: out.json
    mode: 648
"
        ),
        "logbus: FILE:8: stage `out`: field `mode`: file: file mode 648 has a digit that is not octal (0-7); write e.g. 640 or \"0640\""
    );
    assert_eq!(
        rejection(
            "pipeline:
  in:
    module: stdin
  out:
    module: log
    inChannels: [in]
    level: loud
"
        ),
        "logbus: FILE:7: stage `out`: field `level`: log: unknown variant `loud`, expected one of `debug`, `info`, `warn`, `error`"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let sb = Sandbox::new();
    let config = sb.config(
        "pipeline:
  in:
    module: stdin
    max_line_bytes: lots
  out:
    module: stdout
    inChannels: [in]
    formt: json
",
    );
    let out = check(&config);
    assert_eq!(out.code, Some(1));
    let file = config.display();
    assert_eq!(
        out.stderr,
        format!(
            "logbus: {file}:4: stage `in`: field `max_line_bytes`: stdin: invalid type: string \"lots\", expected usize\n\
             logbus: {file}:8: stage `out`: field `formt`: stdout: unknown field `formt`, expected `format` or `template`\n"
        )
    );
}

#[test]
fn valid_pipeline_prints_its_graph_and_touches_nothing() {
    let sb = Sandbox::new();
    let config = sb.config(
        "pipeline:
  in:
    module: file
    paths: [missing.log, \"*.log\"]
  copy:
    module: file
    inChannels: [in]
    path: copy.json
  show:
    module: log
    inChannels: [in, errors]
",
    );
    let out = check(&config);
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "STAGE  MODULE         READS       WRITES
in     file (input)   -           in
copy   file (output)  in          (output)
show   log (output)   in, errors  (output)
{}: ok (3 stages)
",
            config.display()
        )
    );
    assert_eq!(out.stderr, "");
    // `check` has no side effects: the output file is not created.
    assert!(!sb.path("copy.json").exists());
}
