//! Detection quality against fail2ban's own annotated sample logs
//! (tests/data/fail2ban-corpus, from fail2ban 1.0.2, GPL-2.0-or-later, see
//! its README), scored by the project's scorer (tests/tools/conformance.py)
//! exactly as the quality bar is defined: default modes, recall >= 95%,
//! precision >= 99%, times right >= 95%, no errors.

use std::path::Path;
use std::process::Command;

/// The rule sets the quality bar covers (sshd-journal is scored with sshd).
const FILES: &[&str] = &[
    "sshd",
    "sshd-journal",
    "dropbear",
    "postfix",
    "dovecot",
    "nginx-http-auth",
    "nginx-botsearch",
    "apache-auth",
    "apache-noscript",
    "apache-overflows",
    "vsftpd",
    "proftpd",
    "pure-ftpd",
    "asterisk",
    "named-refused",
    "mysqld-auth",
    "selinux-ssh",
    "recidive",
    "apache-botsearch",
    "apache-badbots",
    "apache-nohome",
    "apache-shellshock",
    "nginx-bad-request",
    "nginx-limit-req",
    "haproxy-http-auth",
    "traefik-auth",
    "gitlab",
    "grafana",
    "bitwarden",
    "exim",
    "sendmail-auth",
    "sendmail-reject",
    "courier-smtp",
];

fn score(names: &[&str], extra: &[&str]) -> (String, bool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(root.join("tests/tools/conformance.py"))
        .arg("--bin")
        .arg(env!("CARGO_BIN_EXE_logbus"))
        .arg("--corpus")
        .arg(root.join("tests/data/fail2ban-corpus"))
        .args(["--min-recall", "95", "--min-precision", "99", "--jobs", "2"])
        .args(extra)
        .args(names)
        // The scorer must see the compiled-in rule sets, not a dev override.
        .env_remove("LOGBUS_BUILTIN_RULES_DIR")
        .output()
        .expect("python3 runs the scorer (scripts/test.sh installs it)");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.success(),
    )
}

fn number_after(text: &str, key: &str) -> f64 {
    let start = text
        .find(key)
        .unwrap_or_else(|| panic!("`{key}` in:\n{text}"))
        + key.len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("number after `{key}` in:\n{text}"))
}

#[test]
fn default_modes_meet_the_quality_bar() {
    let (report, ok) = score(FILES, &[]);
    assert!(ok, "thresholds not met:\n{report}");
    let last = report.lines().last().unwrap_or_default();
    assert!(last.starts_with("conformance:"), "{report}");
    assert!(number_after(last, "recall=") >= 95.0, "{report}");
    assert!(number_after(last, "precision=") >= 99.0, "{report}");
    let time_line = report
        .lines()
        .find(|l| l.starts_with("time:"))
        .unwrap_or_else(|| panic!("no time line:\n{report}"));
    let pct = number_after(time_line, "(");
    assert!(pct >= 95.0, "times right {pct}%:\n{report}");
    // The TOTAL row's errors column (last number) must be zero.
    let total = report
        .lines()
        .find(|l| l.starts_with("TOTAL"))
        .unwrap_or_else(|| panic!("no TOTAL row:\n{report}"));
    assert_eq!(
        total.split_whitespace().last(),
        Some("0"),
        "errors:\n{report}"
    );
}

/// Every corpus file (also those whose recall is below the bar: pam-generic
/// and roundcube-auth leave lines that only back-references could tell
/// apart, see their YAML): never a false positive, a wrong address, a
/// wrong time or an error, and most failures found.
#[test]
fn every_corpus_file_is_exact_in_what_it_reports() {
    let report =
        std::env::temp_dir().join(format!("logbus-conformance-{}.json", std::process::id()));
    let (text, _) = score(&[], &["--json-report", report.to_str().unwrap()]);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("the scorer wrote its report"))
            .expect("a JSON report");
    let _ = std::fs::remove_file(&report);
    let files = json["per_file"].as_array().expect("per_file");
    assert!(
        files.len() >= 36,
        "{} corpus files scored:\n{text}",
        files.len()
    );
    let mut misses = Vec::new();
    for f in files {
        let name = f["file"].as_str().unwrap_or("?");
        let n = |k: &str| f["counts"][k].as_u64().unwrap_or(u64::MAX);
        for k in ["fp", "wrong_ip", "time_bad", "errors"] {
            assert_eq!(n(k), 0, "{name}: {k}:\n{text}");
        }
        let (tp, expected) = (n("tp"), n("expected"));
        assert!(
            tp * 4 >= expected * 3,
            "{name}: {tp} of {expected} found:\n{text}"
        );
        misses.extend(std::iter::repeat_n(name.to_string(), n("miss") as usize));
    }
    // The misses the README explains, and no other: sshd and sshd-journal
    // 1 each (a forgeable line shape), pam-generic 1 and roundcube-auth 3
    // (ambiguous lines), sendmail-reject 1 (pairing by queue id). A new
    // miss must be looked at, not absorbed by the bar.
    assert!(
        misses.len() <= 7,
        "{} misses {misses:?}:\n{text}",
        misses.len()
    );
}
