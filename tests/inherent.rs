//! The inherent channels: `errors` carries stage errors as events naming
//! the stage, `stats` carries periodic per-stage counters.

mod common;

use std::io::Write;

use common::{Running, Sandbox, last_stats, wait_for};
use serde_json::{Value, json};

const PIPELINE: &str = "stats_interval: 1s
pipeline:
  console:
    module: stdin
  files:
    module: file
    paths: [a.log, missing.log, \"logs/*.log\"]
  out:
    module: file
    inChannels: [console, files]
    path: out.json
  errs:
    module: file
    inChannels: [errors]
    path: errors.json
  counters:
    module: file
    inChannels: [stats]
    path: stats.json
";

/// The counters every stage reports, picked out of a stats event.
fn counters(stats: &Value) -> Value {
    let keys = ["events_in", "events_out", "lines_in", "bytes_in", "errors"];
    Value::Object(
        keys.iter()
            .map(|k| (k.to_string(), stats[*k].clone()))
            .collect(),
    )
}

#[test]
fn errors_and_stats_channels() {
    let sb = Sandbox::new();
    sb.write("a.log", "alpha\nbeta\ngamma\n"); // 3 lines, 17 bytes
    sb.write("logs/.keep", "");
    let config = sb.config(PIPELINE);
    let mut running = Running::run_piped(&config);
    let mut stdin = running.child.stdin.take().unwrap();
    stdin.write_all(b"one\ntwo\n").unwrap(); // 2 lines, 8 bytes
    stdin.flush().unwrap();

    // A periodic round (stdin is still open, so the run has not ended)
    // shows the two lines read so far.
    wait_for("a periodic stats event with console.lines_in == 2", || {
        sb.path("stats.json").exists()
            && sb.text_lines("stats.json").iter().any(|l| {
                serde_json::from_str::<Value>(l)
                    .is_ok_and(|s| s["stage"] == "console" && s["lines_in"] == 2)
            })
    });
    drop(stdin);
    let status = running.wait();
    assert_eq!(status.code(), Some(0), "stderr:\n{}", running.stderr());

    // errors: one event per problem, naming the stage and the path.
    let errors = sb.json_lines("errors.json");
    let missing = sb.path("missing.log");
    let pattern = format!("{}/logs/*.log", sb.dir().display());
    let messages: Vec<&Value> = errors.iter().map(|e| &e["message"]).collect();
    assert_eq!(
        messages,
        [
            &json!(format!(
                "cannot read {}: No such file or directory (os error 2)",
                missing.display()
            )),
            &json!(format!("no file matches `{pattern}`")),
        ]
    );
    for e in &errors {
        assert_eq!(e["stage"], "files");
        assert_eq!(e["module"], "file");
        assert_eq!(e["error"]["message"], e["message"]);
        assert!(e["@timestamp"].is_string());
    }

    // stats: the final round has the right counts for the input.
    let stats = sb.json_lines("stats.json");
    assert_eq!(
        counters(last_stats(&stats, "console")),
        json!({"events_in": 0, "events_out": 2, "lines_in": 2, "bytes_in": 8, "errors": 0})
    );
    assert_eq!(
        counters(last_stats(&stats, "files")),
        json!({"events_in": 0, "events_out": 3, "lines_in": 3, "bytes_in": 17, "errors": 2})
    );
    assert_eq!(
        counters(last_stats(&stats, "out")),
        json!({"events_in": 5, "events_out": 0, "lines_in": 0, "bytes_in": 0, "errors": 0})
    );
    assert_eq!(last_stats(&stats, "errs")["events_in"], 2);
    assert_eq!(last_stats(&stats, "out")["module"], "file");
    assert_eq!(sb.json_lines("out.json").len(), 5);
}
