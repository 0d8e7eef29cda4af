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
    assert_eq!(checked, ["echo.yml", "fail2ban-demo.yml", "files.yml"]);
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

/// The demo (the README's first command) bans real attackers only: every
/// ban names an address the log generator recorded as attacking that
/// group, and every sshd attacker in the bundled logs is banned.
#[test]
fn fail2ban_demo_bans_the_attackers_and_nobody_else() {
    let config = repo_root().join("examples/fail2ban-demo.yml");
    let out = run_with(&["-q", "run", path_str(&config)], &[], None);
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("examples/attack-logs/truth.json")).unwrap(),
    )
    .unwrap();
    let attackers = &truth["attackers"];
    let mut bans = Vec::new();
    for line in out.stdout.lines() {
        // would ban IP in GROUP for ...
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&words[..2], ["would", "ban"], "{line}");
        let (ip, group) = (words[2], words[4]);
        assert!(
            attackers[ip][group].as_u64().unwrap_or(0) > 0,
            "{ip} banned in {group} but it never attacked that group: {line}"
        );
        bans.push((ip.to_string(), group.to_string()));
    }
    for (ip, groups) in attackers.as_object().unwrap() {
        if groups.get("ssh").is_some() {
            assert!(
                bans.contains(&(ip.clone(), "ssh".to_string())),
                "sshd attacker {ip} not banned; bans: {bans:?}"
            );
        }
    }
    let groups: std::collections::BTreeSet<&str> = bans.iter().map(|(_, g)| g.as_str()).collect();
    assert!(
        groups.is_superset(&["iptables", "ssh", "web"].into_iter().collect()),
        "{groups:?}"
    );
}
