//! The built-in web and firewall rule sets (`nginx-http-auth`,
//! `nginx-botsearch`, `apache-auth`, `apache-noscript`, `apache-overflows`,
//! `web-scanners`, `iptables`), run through the real binary:
//! `logbus match --rules SET [--mode M] --json FIXTURE`.
//!
//! Each fixture under `tests/data/rules/` says, before every log line, what
//! must be reported for it:
//!
//! ```text
//! # expect: 192.0.2.1 iptables-inbound-packet     (address and rule)
//! # expect: -                                     (nothing)
//! # expect[lenient]: -                            (overrides it in that mode)
//! ```
//!
//! and the test compares the binary's complete output with that, exactly
//! (line, address, rule). The fixtures hold the injection cases: addresses in
//! user names, URLs, referrers, user agents and firewall log prefixes, fake
//! second log lines, bogus addresses (`999.1.1.1`, `1.2.3`, `fe80::1%eth0`,
//! host names), IPv4-mapped IPv6, and the same text from other programs.
//!
//! Access-log sets have two twins per rule: `NAME` reads the fields of
//! parse-access-log (which `logbus match` runs on their lines), `NAME-text`
//! the raw line when it has no `client.ip` (e.g. shipped through syslog).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use logbus::fail2ban::engine::RuleEngine;
use logbus::fail2ban::rules::{RuleSet, RuleSetDef};

/// One reported failure: (line, address, rule).
type Hit = (u64, String, String);

/// The sets of this file: name, ban group, modes besides the default.
const SETS: &[(&str, &str, &[&str])] = &[
    (
        "nginx-http-auth",
        "web",
        &["normal", "auth", "fallback", "aggressive"],
    ),
    ("nginx-botsearch", "web", &[]),
    ("apache-auth", "web", &["normal", "aggressive"]),
    ("apache-noscript", "web", &[]),
    ("apache-overflows", "web", &[]),
    ("web-scanners", "web", &["normal", "lenient"]),
    ("iptables", "iptables", &[]),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn set_path(name: &str) -> PathBuf {
    root().join(format!("src/fail2ban/builtin/{name}.yml"))
}

fn fixture(name: &str) -> PathBuf {
    root().join(format!("tests/data/rules/{name}.log"))
}

fn logbus() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_logbus"));
    cmd.env_remove("RUST_LOG")
        .env_remove("LOGBUS_BUILTIN_RULES_DIR");
    cmd
}

/// Runs `logbus match --json` and returns what it reported, checking that
/// every failure carries `group`.
fn run_match(rules: &str, mode: Option<&str>, file: &Path, group: &str) -> Vec<Hit> {
    let mut cmd = logbus();
    cmd.args(["match", "--rules", rules, "--json"]);
    if let Some(m) = mode {
        cmd.args(["--mode", m]);
    }
    let out = cmd.arg(file).output().expect("run logbus match");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "logbus match {rules} {mode:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert_eq!(v["group"], group, "group of {l}");
            (
                v["line"].as_u64().expect("line"),
                v["ip"].as_str().expect("ip").to_string(),
                v["rule"].as_str().expect("rule").to_string(),
            )
        })
        .collect()
}

/// The expectations a fixture states for `mode` (`None`: the default mode).
fn expectations(file: &Path, mode: Option<&str>) -> Vec<Hit> {
    let text = std::fs::read_to_string(file).expect("read fixture");
    let mut hits = Vec::new();
    let (mut default, mut special): (Option<String>, Option<String>) = (None, None);
    for (i, line) in text.lines().enumerate() {
        let number = i as u64 + 1;
        if let Some(rest) = line.strip_prefix("# expect") {
            let (tag, value) = rest
                .split_once(": ")
                .unwrap_or_else(|| panic!("{}:{number}: bad expectation", file.display()));
            let value = value.trim().to_string();
            match tag.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                None if tag.is_empty() => default = Some(value),
                Some(m) if Some(m) == mode => special = Some(value),
                Some(_) => {}
                None => panic!("{}:{number}: bad expectation tag", file.display()),
            }
            continue;
        }
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let want = special
            .take()
            .or(default.take())
            .unwrap_or_else(|| panic!("{}:{number}: log line without `# expect:`", file.display()));
        default = None;
        if want == "-" {
            continue;
        }
        let (ip, rule) = want
            .split_once(' ')
            .unwrap_or_else(|| panic!("{}:{number}: want `IP RULE`", file.display()));
        hits.push((number, ip.to_string(), rule.to_string()));
    }
    hits
}

/// Runs `set` over its fixture in `mode` and compares with the fixture.
fn check_fixture(set: &str, mode: Option<&str>) {
    let group = SETS
        .iter()
        .find(|(n, _, _)| *n == set)
        .map(|(_, g, _)| *g)
        .expect("known set");
    let file = fixture(set);
    let want = expectations(&file, mode);
    let got = run_match(set, mode, &file, group);
    let as_set = |v: &[Hit]| v.iter().cloned().collect::<BTreeSet<_>>();
    let (want_s, got_s) = (as_set(&want), as_set(&got));
    let missing: Vec<_> = want_s.difference(&got_s).collect();
    let extra: Vec<_> = got_s.difference(&want_s).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && got.len() == got_s.len(),
        "{set} mode {mode:?}:\n  expected but not reported: {missing:?}\n  reported but not expected: {extra:?}"
    );
    assert!(!want.is_empty(), "{set}: the fixture expects nothing");
}

#[test]
fn iptables_reports_inbound_packets_by_the_kernels_src() {
    check_fixture("iptables", None);
}

#[test]
fn web_scanners_default_mode_is_the_original_plugin() {
    check_fixture("web-scanners", None);
    check_fixture("web-scanners", Some("normal"));
}

#[test]
fn web_scanners_lenient_mode_spares_browsers_and_challenges() {
    check_fixture("web-scanners", Some("lenient"));
}

#[test]
fn nginx_botsearch_access_and_error_logs() {
    check_fixture("nginx-botsearch", None);
}

#[test]
fn nginx_http_auth_in_every_mode() {
    check_fixture("nginx-http-auth", None);
    for mode in ["normal", "auth", "fallback", "aggressive"] {
        check_fixture("nginx-http-auth", Some(mode));
    }
}

#[test]
fn apache_auth_in_every_mode() {
    check_fixture("apache-auth", None);
    for mode in ["normal", "aggressive"] {
        check_fixture("apache-auth", Some(mode));
    }
}

#[test]
fn apache_noscript() {
    check_fixture("apache-noscript", None);
}

#[test]
fn apache_overflows() {
    check_fixture("apache-overflows", None);
}

fn compile(name: &str, mode: Option<&str>) -> RuleSet {
    let text = std::fs::read_to_string(set_path(name)).expect("read set");
    let def = RuleSetDef::from_yaml(&text, name).unwrap_or_else(|e| panic!("{e}"));
    def.compile(mode, name)
        .unwrap_or_else(|e| panic!("{name} {mode:?}: {e}"))
}

/// Every set compiles in every mode, names itself after its file, puts its
/// rules in its group, and describes itself and every rule.
#[test]
fn sets_compile_in_every_mode_and_are_described() {
    for (name, group, modes) in SETS {
        let text = std::fs::read_to_string(set_path(name)).expect("read set");
        let def = RuleSetDef::from_yaml(&text, name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(def.name, *name);
        let declared: Vec<&str> = def.modes.iter().map(String::as_str).collect();
        assert_eq!(declared, *modes, "{name}: modes");
        assert!(
            def.description.as_deref().is_some_and(|d| d.len() > 40),
            "{name}: set description"
        );
        for rule in &def.rules {
            assert!(
                rule.description.as_deref().is_some_and(|d| d.len() > 10),
                "{name}: rule {} has no description",
                rule.id
            );
            assert!(
                rule.id.starts_with(name.trim_end_matches("-scanners")),
                "{name}: rule id {} should start with the set's name",
                rule.id
            );
        }
        let mut all: Vec<Option<&str>> = vec![None];
        all.extend(modes.iter().map(|m| Some(*m)));
        for mode in all {
            let set = compile(name, mode);
            assert!(!set.rules.is_empty(), "{name} {mode:?}: no rules");
            for r in &set.rules {
                assert_eq!(r.group, *group, "{name}: rule {}", r.id);
            }
        }
    }
}

/// The limits the product asks for: iptables 10; web-scanners 1 for
/// secrets, `/.git` and escaped payloads, 5 for other 4xx; everything else
/// uses its group's limit.
#[test]
fn limits() {
    let limit_of = |set: &str, mode: Option<&str>| -> Vec<(String, Option<u32>)> {
        compile(set, mode)
            .rules
            .iter()
            .map(|r| (r.id.clone(), r.limit))
            .collect()
    };
    for (id, limit) in limit_of("iptables", None) {
        assert_eq!(limit, Some(10), "{id}");
    }
    for mode in ["normal", "lenient"] {
        for (id, limit) in limit_of("web-scanners", Some(mode)) {
            let want = if id.starts_with("web-benign") {
                None
            } else if id.starts_with("web-client-error") {
                Some(5)
            } else {
                Some(1)
            };
            assert_eq!(limit, want, "{id} in mode {mode}");
        }
    }
    for (set, _, modes) in SETS {
        if ["iptables", "web-scanners"].contains(set) {
            continue;
        }
        let mut all: Vec<Option<&str>> = vec![None];
        all.extend(modes.iter().map(|m| Some(*m)));
        for mode in all {
            for (id, limit) in limit_of(set, mode) {
                assert_eq!(limit, None, "{set}: {id} has no limit of its own");
            }
        }
    }
}

/// The sets can be loaded together (rule ids are unique across them and
/// with sshd), as a pipeline's `rules: [...]` would.
#[test]
fn sets_load_together() {
    let mut sets: Vec<RuleSet> = SETS.iter().map(|(n, _, _)| compile(n, None)).collect();
    let sshd =
        std::fs::read_to_string(root().join("src/fail2ban/builtin/sshd.yml")).expect("read sshd");
    sets.push(
        RuleSetDef::from_yaml(&sshd, "sshd")
            .and_then(|d| d.compile(None, "sshd"))
            .expect("sshd"),
    );
    RuleEngine::new(sets).unwrap_or_else(|e| panic!("{e}"));
}

/// The names the fixtures are run with are the YAML files of this
/// directory, compiled in (a file given by path gives the same results).
#[test]
fn names_are_the_yaml_files() {
    for (name, group, _) in SETS {
        let compiled = logbus::fail2ban::builtin::get(name).expect("registered");
        let file = std::fs::read_to_string(set_path(name)).expect("read set");
        assert_eq!(compiled, file, "{name}");
        let fixture = fixture(name);
        let by_name = run_match(name, None, &fixture, group);
        let by_file = run_match(
            set_path(name).to_str().expect("path"),
            None,
            &fixture,
            group,
        );
        assert_eq!(by_name, by_file, "{name}");
    }
}
