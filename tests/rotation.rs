//! SIGHUP reopens output files, so logrotate's rename-and-create works:
//! lines before the rotation stay in the renamed file, later lines go to a
//! new file at the configured path.

mod common;

use std::io::Write;

use common::{Running, Sandbox, wait_for};
use serde_json::json;

#[test]
fn sighup_reopens_output_file() {
    let sb = Sandbox::new();
    let config = sb.config(
        "pipeline:
  in:
    module: stdin
  out:
    module: file
    inChannels: [in]
    path: out.json
",
    );
    let mut running = Running::run_piped(&config);
    let mut stdin = running.child.stdin.take().unwrap();
    stdin.write_all(b"one\ntwo\n").unwrap();
    stdin.flush().unwrap();
    wait_for("two lines in out.json", || {
        sb.text_lines("out.json").len() == 2
    });

    std::fs::rename(sb.path("out.json"), sb.path("out.json.1")).unwrap();
    running.signal("HUP");
    // The reopen creates the file anew: from then on, lines go there.
    wait_for("out.json to be created again", || {
        sb.path("out.json").exists()
    });

    stdin.write_all(b"three\nfour\n").unwrap();
    drop(stdin);
    let status = running.wait();
    assert_eq!(status.code(), Some(0), "stderr:\n{}", running.stderr());
    assert_eq!(sb.messages("out.json.1"), [json!("one"), json!("two")]);
    assert_eq!(sb.messages("out.json"), [json!("three"), json!("four")]);
    assert!(
        running.stderr().contains("SIGHUP: reopening output files"),
        "the hangup is logged"
    );
}
