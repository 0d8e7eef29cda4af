//! The pipelines in `examples/` stay valid and do what their comments say.

mod common;

use common::{Sandbox, check, path_str, repo_root, run, run_with};
use serde_json::json;

#[test]
fn every_example_passes_check() {
    let dir = repo_root().join("examples");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            let out = check(&path);
            assert_eq!(out.code, Some(0), "{}:\n{}", path.display(), out.stderr);
            let last = out.stdout.lines().last().unwrap_or_default();
            assert!(
                last.starts_with(&format!("{}: ok (", path.display())),
                "{}",
                out.stdout
            );
            checked.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    checked.sort();
    assert_eq!(checked, ["echo.yml", "files.yml"]);
}

#[test]
fn echo_turns_lines_into_json_events() {
    let config = repo_root().join("examples/echo.yml");
    let out = run_with(&["run", path_str(&config)], &[], Some(b"hello\nworld\n"));
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    assert_eq!(
        common::json_lines(&out.stdout),
        [json!({"message": "hello"}), json!({"message": "world"})]
    );
}

#[test]
fn files_fans_out_to_two_outputs() {
    // Run a copy, so the example's outputs land in a temporary directory.
    let sb = Sandbox::new();
    let examples = repo_root().join("examples");
    sb.write(
        "files.yml",
        std::fs::read(examples.join("files.yml")).unwrap(),
    );
    sb.copy_tree(&examples.join("logs"), "logs");
    let out = run(&sb.path("files.yml"));
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    assert!(!out.stderr.contains("WARN"), "{}", out.stderr);

    let auth = std::fs::read_to_string(examples.join("logs/auth.log")).unwrap();
    let web1 = std::fs::read_to_string(examples.join("logs/web-1.log")).unwrap();
    let web2 = std::fs::read_to_string(examples.join("logs/web-2.log")).unwrap();
    let auth: Vec<&str> = auth.lines().collect();
    let expected = [
        ("logs/auth.log", 0, auth[0]),
        ("logs/auth.log", auth[0].len() + 1, auth[1]),
        ("logs/web-1.log", 0, web1.trim_end()),
        ("logs/web-2.log", 0, web2.trim_end()),
    ];
    let all = sb.relative_paths(sb.json_lines("all.jsonl"));
    let want: Vec<_> = expected
        .iter()
        .map(|(path, offset, message)| {
            json!({"message": message, "log": {"file": {"path": path}, "offset": offset}})
        })
        .collect();
    assert_eq!(all, want);
    let prefix = format!("{}/", sb.dir().display());
    let text: Vec<String> = sb
        .text_lines("messages.txt")
        .into_iter()
        .map(|l| l.replacen(&prefix, "", 1))
        .collect();
    let want: Vec<String> = expected
        .iter()
        .map(|(path, offset, message)| format!("{path}:{offset}: {message}"))
        .collect();
    assert_eq!(text, want);
}
