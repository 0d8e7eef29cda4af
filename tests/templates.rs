//! Stage templates with overrides, and `${ENV}` / `${ENV:-default}` expansion
//! in the pipeline file and in template files.

mod common;

use common::{Sandbox, path_str};

/// One template, used by two stages that override different keys.
const TEMPLATES: &str = "out:
  module: file
  inChannels: [app]
  format: text
  template: \"${TAG:-untagged} {log.offset} {message}\"
";

const PIPELINE: &str = "templates:
  common: templates.yml
pipeline:
  app:
    module: file
    paths: [\"${LOG_DIR}/app.log\"]
  extra:
    module: file
    paths: [\"${EXTRA:-extra.log}\"]
  plain:
    template: common.out
    path: plain.txt
  both:
    template: common.out
    inChannels: [app, extra]
    path: \"${OUT_NAME:-both.txt}\"
";

fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    sb.write("templates.yml", TEMPLATES);
    sb.write("pipeline.yml", PIPELINE);
    sb.write("logs/app.log", "app one\napp two\n");
    sb.write("extra.log", "extra one\n");
    sb
}

/// Runs `logbus SUBCOMMAND pipeline.yml` with exactly the variables given
/// among those the pipeline uses (the child would otherwise inherit them).
fn logbus_env(sb: &Sandbox, subcommand: &str, env: &[(&str, &str)]) -> common::Outcome {
    let mut cmd = common::logbus();
    cmd.args([subcommand, path_str(&sb.path("pipeline.yml"))]);
    for k in ["TAG", "EXTRA", "OUT_NAME", "LOG_DIR"] {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    common::outcome(cmd, None)
}

#[test]
fn overrides_and_defaults() {
    let sb = sandbox();
    let logs = sb.path("logs");
    let out = logbus_env(&sb, "run", &[("LOG_DIR", path_str(&logs)), ("TAG", "web")]);
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    // `plain` keeps the template's inChannels; `both` overrides them.
    assert_eq!(
        sb.text_lines("plain.txt"),
        ["web 0 app one", "web 8 app two"]
    );
    let mut both = sb.text_lines("both.txt");
    // Two inputs feed `both`; their relative order is not fixed.
    both.sort();
    assert_eq!(both, ["web 0 app one", "web 0 extra one", "web 8 app two"]);
}

#[test]
fn variables_replace_defaults() {
    let sb = sandbox();
    sb.write("other/extra.log", "other extra\n");
    let logs = sb.path("logs");
    let extra = sb.path("other/extra.log");
    let out = logbus_env(
        &sb,
        "run",
        &[
            ("LOG_DIR", path_str(&logs)),
            ("EXTRA", path_str(&extra)),
            ("OUT_NAME", "custom.txt"),
        ],
    );
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    assert_eq!(
        sb.text_lines("plain.txt"),
        ["untagged 0 app one", "untagged 8 app two"]
    );
    assert!(!sb.path("both.txt").exists());
    let mut custom = sb.text_lines("custom.txt");
    custom.sort();
    assert_eq!(
        custom,
        [
            "untagged 0 app one",
            "untagged 0 other extra",
            "untagged 8 app two"
        ]
    );
}

#[test]
fn unset_variable_without_default_is_refused() {
    let sb = sandbox();
    let out = logbus_env(&sb, "check", &[]);
    assert_eq!(out.code, Some(1));
    assert_eq!(
        out.stderr,
        format!(
            "logbus: {}:6: stage `app`: field `paths.0`: environment variable `LOG_DIR` is not set (use `${{LOG_DIR:-default}}` for a default)\n",
            sb.path("pipeline.yml").display()
        )
    );
}
