//! The harness for built-in rule sets: runs the real binary
//! (`logbus match --rules src/fail2ban/builtin/SET.yml --json`) and compares
//! its reports with annotated fixtures under `tests/data/rules/`.
//!
//! A fixture line `#> MODES RULE IP` (MODES: comma list of modes, `default`
//! being the run without --mode, or `*` for every mode the test runs) states
//! what the next log line must report; `-` instead of RULE IP means nothing.
//! Modes not named in a line's annotations must report nothing for it.
//! Every report's group is checked against the set's YAML.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// One report: (line number, address, rule id).
pub type Report = (u64, String, String);

/// One `#>` annotation: the modes it speaks for, and the (rule, address)
/// expected in them (`None`: nothing).
pub type Note = (Vec<String>, Option<(String, String)>);

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn set_file(set: &str) -> PathBuf {
    root().join(format!("src/fail2ban/builtin/{set}.yml"))
}

pub fn fixture(name: &str) -> PathBuf {
    root().join(format!("tests/data/rules/{name}"))
}

/// Runs `logbus match` over `input` (a file path, or `-` with `stdin`) and
/// returns its reports in line order; checks the group of each report.
pub fn run(set: &str, mode: Option<&str>, input: &str, stdin: Option<&str>) -> Vec<Report> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_logbus"));
    cmd.arg("match")
        .arg("--rules")
        .arg(set_file(set))
        .arg("--json")
        .arg("-q");
    if let Some(m) = mode {
        cmd.arg("--mode").arg(m);
    }
    cmd.arg(input)
        .env_remove("LOGBUS_BUILTIN_RULES_DIR")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run logbus");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "logbus match {set} {mode:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let groups = rule_groups(set);
    let mut reports = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON object per line");
        let rule = v["rule"].as_str().unwrap_or_default();
        assert_eq!(
            v["group"].as_str(),
            groups.get(rule).map(String::as_str),
            "{set}: wrong group in {line}"
        );
        reports.push((
            v["line"].as_u64().unwrap(),
            v["ip"].as_str().unwrap().to_string(),
            v["rule"].as_str().unwrap().to_string(),
        ));
    }
    reports
}

/// Runs `lines` (joined by newlines, numbered from 1) through `set`.
pub fn run_lines(set: &str, mode: Option<&str>, lines: &[&str]) -> Vec<Report> {
    let mut text = lines.join("\n");
    text.push('\n');
    run(set, mode, "-", Some(&text))
}

pub fn r(line: u64, ip: &str, rule: &str) -> Report {
    (line, ip.to_string(), rule.to_string())
}

/// The `#>` annotations of a fixture: for each log line number, its list of
/// (modes, expected report or None).
pub fn annotations(text: &str) -> BTreeMap<u64, Vec<Note>> {
    let mut out = BTreeMap::new();
    let mut pending: Vec<Note> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let number = i as u64 + 1;
        if let Some(spec) = line.strip_prefix("#>") {
            let words: Vec<&str> = spec.split_whitespace().collect();
            let modes = words[0].split(',').map(str::to_string).collect();
            let expect = match words[1..] {
                ["-"] => None,
                [rule, ip] => Some((rule.to_string(), ip.to_string())),
                _ => panic!("bad annotation on line {number}: {line}"),
            };
            pending.push((modes, expect));
            continue;
        }
        if line.trim().is_empty() || line.starts_with('#') {
            assert!(
                pending.is_empty(),
                "annotation not followed by a log line before line {number}"
            );
            continue;
        }
        assert!(
            !pending.is_empty(),
            "log line {number} has no `#>` annotation: {line}"
        );
        out.insert(number, std::mem::take(&mut pending));
    }
    out
}

/// Checks every run of `runs` ((annotation label, --mode)) against the
/// fixture's annotations; returns the rule ids seen.
pub fn check_fixture(set: &str, name: &str, runs: &[(&str, Option<&str>)]) -> BTreeSet<String> {
    let path = fixture(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let notes = annotations(&text);
    let log_lines: Vec<&str> = text.lines().collect();
    let mut seen = BTreeSet::new();
    for (label, mode) in runs {
        let got = run(set, *mode, path.to_str().unwrap(), None);
        let mut want = Vec::new();
        for (number, list) in &notes {
            let hits: Vec<_> = list
                .iter()
                .filter(|(modes, _)| modes.iter().any(|m| m == "*" || m == label))
                .collect();
            assert!(
                hits.len() <= 1,
                "{name}:{number}: several annotations for mode {label}"
            );
            if let Some((_, Some((rule, ip)))) = hits.first() {
                want.push(r(*number, ip, rule));
            }
        }
        if got != want {
            let mut msg = format!("{set} in mode {label}: reports differ from the annotations\n");
            let (g, w): (BTreeSet<_>, BTreeSet<_>) = (
                got.iter().cloned().collect(),
                want.iter().cloned().collect(),
            );
            let excerpt =
                |x: &Report| -> String { log_lines[x.0 as usize - 1].chars().take(120).collect() };
            for x in w.difference(&g) {
                msg += &format!("  missing {x:?}: {}\n", excerpt(x));
            }
            for x in g.difference(&w) {
                msg += &format!("  unexpected {x:?}: {}\n", excerpt(x));
            }
            panic!("{msg}");
        }
        seen.extend(got.into_iter().map(|(_, _, rule)| rule));
    }
    seen
}

/// The ban group of each rule of a set (the rule's own, else the set's).
pub fn rule_groups(set: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(set_file(set)).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let default = doc["group"].as_str().unwrap_or_default().to_string();
    doc["rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| {
            let group = r["group"].as_str().map_or(default.clone(), str::to_string);
            (r["id"].as_str().unwrap().to_string(), group)
        })
        .collect()
}

/// The rule ids a set declares.
pub fn rule_ids(set: &str) -> BTreeSet<String> {
    rule_groups(set).into_keys().collect()
}

pub fn assert_all_rules_seen(set: &str, seen: &BTreeSet<String>) {
    let ids = rule_ids(set);
    let unseen: Vec<_> = ids.difference(seen).collect();
    assert!(
        unseen.is_empty(),
        "{set}: rules no fixture line exercises: {unseen:?}"
    );
}

/// Checks `SET.log` against `set` in every run of `runs` ((annotation
/// label, --mode)) and that the fixture exercises every rule of the set.
pub fn check_set(set: &str, runs: &[(&str, Option<&str>)]) {
    let seen = check_fixture(set, &format!("{set}.log"), runs);
    assert_all_rules_seen(set, &seen);
}
