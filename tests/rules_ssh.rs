//! The built-in `sshd` and `dropbear` rule sets, run through the real
//! binary (`logbus match --rules NAME --json`) over the fixture logs in
//! `tests/data/rules/`: exactly which lines fail, from which address, by
//! which rule. Attacker-chosen text in the fixtures carries addresses of
//! 198.51.100.0/24; the real clients are 192.0.2.0/24 (and 2001:db8::/32).

use std::path::{Path, PathBuf};
use std::process::Command;

use logbus::fail2ban::rules::RuleSetDef;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/rules")
        .join(name)
}

/// One reported failure: (line, ip, rule).
type Hit = (u64, String, String);

/// Runs `logbus match` and returns every reported failure, with its time.
fn run_with_time(rules: &str, mode: Option<&str>, file: &str) -> Vec<(Hit, Option<String>)> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_logbus"));
    // The compiled-in sets, whatever the developer's shell says.
    cmd.env_remove("LOGBUS_BUILTIN_RULES_DIR")
        .env_remove("RUST_LOG")
        .args(["match", "--rules", rules, "--json", "--year", "2005"]);
    if let Some(m) = mode {
        cmd.args(["--mode", m]);
    }
    cmd.arg(fixture(file));
    let out = cmd.output().expect("run logbus match");
    assert!(
        out.status.success(),
        "logbus match failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 output")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert_eq!(v["group"], "ssh", "{l}");
            (
                (
                    v["line"].as_u64().expect("line"),
                    v["ip"].as_str().expect("ip").to_string(),
                    v["rule"].as_str().expect("rule").to_string(),
                ),
                v["time"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn run(rules: &str, mode: Option<&str>, file: &str) -> Vec<Hit> {
    run_with_time(rules, mode, file)
        .into_iter()
        .map(|(h, _)| h)
        .collect()
}

fn hits(expected: &[(u64, &str, &str)]) -> Vec<Hit> {
    expected
        .iter()
        .map(|(l, ip, r)| (*l, ip.to_string(), r.to_string()))
        .collect()
}

#[test]
fn sshd_normal_mode_rules() {
    assert_eq!(
        run("sshd", None, "sshd-normal.log"),
        hits(&[
            (2, "192.0.2.1", "sshd-invalid-user"),
            (3, "192.0.2.1", "sshd-failed-auth"),
            // IPv4-mapped IPv6 is the IPv4 client.
            (4, "192.0.2.2", "sshd-failed-auth"),
            (5, "2001:db8::3", "sshd-failed-auth"),
            (6, "192.0.2.4", "sshd-failed-auth"),
            // Rejected keys of a valid user (7, 8) are no failure; giving up
            // after them is.
            (9, "192.0.2.5", "sshd-too-many-auth-failures-user"),
            (10, "192.0.2.6", "sshd-max-auth-attempts"),
            (11, "192.0.2.7", "sshd-user-not-allowed"),
            (12, "192.0.2.8", "sshd-pam-error"),
            (13, "192.0.2.9", "sshd-received-disconnect-preauth"),
            // 14: a normal goodbye after a session.
            (15, "192.0.2.11", "sshd-preauth-close-invalid-user"),
            // 16: an authenticating user closing is extra/ddos mode only.
            (17, "192.0.2.13", "sshd-tcpwrappers-refused"),
            (18, "192.0.2.14", "sshd-root-refused"),
            // OpenSSH >= 9.8 logs as sshd-session.
            (19, "192.0.2.15", "sshd-failed-auth"),
            (20, "192.0.2.16", "sshd-invalid-user"),
            (21, "192.0.2.16", "sshd-change-of-user"),
            // 22-26: a login, DNS mismatch, locked account, postponed auth,
            // and a scanner (ddos mode): no failures.
        ])
    );
}

#[test]
fn sshd_every_line_layout() {
    let got = run_with_time("sshd", None, "sshd-formats.log");
    let lines: Vec<Hit> = got.iter().map(|(h, _)| h.clone()).collect();
    assert_eq!(
        lines,
        hits(&[
            (2, "192.0.2.30", "sshd-failed-auth"),
            (3, "192.0.2.31", "sshd-failed-auth"),
            // journalctl without a timestamp, with and without host.
            (4, "192.0.2.32", "sshd-failed-auth"),
            (5, "192.0.2.33", "sshd-failed-auth"),
            // A bare message (no program: the set still applies).
            (6, "192.0.2.34", "sshd-failed-auth"),
            // RFC 5424, with structured data holding brackets.
            (7, "192.0.2.35", "sshd-failed-auth"),
            (8, "192.0.2.36", "sshd-failed-auth"),
            // Solaris message id, a kernel-style stamp, `[sshd]` tag.
            (9, "192.0.2.37", "sshd-failed-auth"),
            (10, "192.0.2.38", "sshd-failed-auth"),
            (11, "192.0.2.39", "sshd-user-not-allowed"),
            (12, "192.0.2.40", "sshd-invalid-user"),
            (13, "192.0.2.41", "sshd-failed-auth"),
            // 15-19: sshd-keygen, sudo, dropbear, cron and `fakesshd`
            // writing the same text are not sshd.
        ])
    );
    // Times as written, offsets kept.
    assert_eq!(
        got[1].1.as_deref(),
        Some("2024-06-01T10:00:01.123+02:00"),
        "{got:?}"
    );
    assert_eq!(
        got[5].1.as_deref(),
        Some("2024-06-01T10:00:05.954-04:00"),
        "{got:?}"
    );
    assert_eq!(got[3].1, None, "a line without a timestamp has no time");
}

#[test]
fn sshd_sessions_carry_the_address() {
    assert_eq!(
        run("sshd", None, "sshd-sessions.log"),
        hits(&[
            // The address from the connection's earlier lines; the close
            // that follows (5) is no second failure.
            (4, "192.0.2.50", "sshd-too-many-auth-failures"),
            // 6 waits for its address: not another pid's (7), its own (8),
            // not another host's with the same pid (9).
            (8, "192.0.2.51", "sshd-address-after-failure"),
            // A typo then the right password: one failure, the login is fine.
            (11, "192.0.2.53", "sshd-failed-auth"),
            // pam_unix alone is no failure; a second user name in the same
            // connection is, and so is a login with a third.
            (14, "192.0.2.54", "sshd-pam-unix"),
            (15, "192.0.2.54", "sshd-accepted-other-user"),
            // 16 waits, but 17 starts a new connection on the reused pid:
            // its close (18) is not blamed for the old failure.
            // 19 waits for an address; 20 gives it (once).
            (20, "192.0.2.56", "sshd-preauth-close-invalid-user"),
        ])
    );
}

#[test]
fn sshd_ddos_and_extra_modes() {
    assert_eq!(run("sshd", None, "sshd-ddos.log"), vec![]);
    assert_eq!(run("sshd", Some("normal"), "sshd-ddos.log"), vec![]);
    let ddos = hits(&[
        (2, "192.0.2.60", "sshd-no-identification"),
        // The kex error has no address; the close right after gives it.
        (4, "192.0.2.61", "sshd-address-after-failure"),
        // Known from `Connection from`: reported on the error, and the
        // reset that follows (7) is no second failure.
        (6, "192.0.2.62", "sshd-kex-identification"),
        (8, "192.0.2.63", "sshd-banner-exchange"),
        // The client's banner holds another address.
        (9, "192.0.2.64", "sshd-bad-protocol-version"),
        (10, "192.0.2.65", "sshd-preauth-close-authenticating"),
        (11, "192.0.2.66", "sshd-preauth-close"),
        (13, "192.0.2.68", "sshd-dispatch-fatal-preauth"),
        (14, "192.0.2.69", "sshd-connection-dropped"),
    ]);
    assert_eq!(run("sshd", Some("ddos"), "sshd-ddos.log"), ddos);
    let extra = hits(&[
        (10, "192.0.2.65", "sshd-preauth-close-authenticating"),
        (12, "192.0.2.67", "sshd-unable-to-negotiate"),
        (15, "192.0.2.70", "sshd-no-auth-methods"),
    ]);
    assert_eq!(run("sshd", Some("extra"), "sshd-ddos.log"), extra);
    // aggressive = ddos + extra.
    let mut all = ddos;
    all.extend(extra);
    all.sort();
    all.dedup();
    assert_eq!(run("sshd", Some("aggressive"), "sshd-ddos.log"), all);
}

#[test]
fn sshd_injected_addresses_are_never_reported() {
    let got = run("sshd", None, "sshd-injection.log");
    assert_eq!(
        got,
        hits(&[
            // A user name holding a whole `from IP port N ssh2`.
            (3, "192.0.2.80", "sshd-failed-auth"),
            // 4, 5: a forged record followed by ": " as sshd's own would
            // be: which one is sshd's cannot be told, so nobody.
            (6, "192.0.2.83", "sshd-invalid-user"),
            // SRC=, rhost=, client ... in the user name.
            (7, "192.0.2.84", "sshd-invalid-user"),
            (8, "192.0.2.85", "sshd-preauth-close-invalid-user"),
            (9, "192.0.2.86", "sshd-user-not-allowed"),
            // A fake second log line inside the user name.
            (10, "192.0.2.87", "sshd-failed-auth"),
            (11, "192.0.2.88", "sshd-pam-error"),
            // The change-of-user line repeats the (forged) user names; its
            // address is the one the connection's Invalid user line named.
            (12, "192.0.2.89", "sshd-invalid-user"),
            (13, "192.0.2.89", "sshd-change-of-user"),
            // 14: a second rhost= in ruser: no match at all.
            // Client-chosen auth info after sshd's own record.
            (15, "192.0.2.91", "sshd-failed-auth"),
            (16, "192.0.2.92", "sshd-failed-auth"),
            (17, "192.0.2.93", "sshd-max-auth-attempts"),
            (18, "192.0.2.94", "sshd-too-many-auth-failures-user"),
            // The address in the last parentheses, not the first.
            (19, "192.0.2.95", "sshd-tcpwrappers-refused"),
            // 20: no address at all.
            (21, "192.0.2.96", "sshd-invalid-user"),
            // 23-29: 999.1.1.1, 1.2.3, fe80::1%eth0, a host name,
            // 192.030.0.6, ::ffff:999.1.1.1, 0.0.0.0: never an address.
        ])
    );
    assert!(
        got.iter().all(|(_, ip, _)| !ip.starts_with("198.51.100.")),
        "{got:?}"
    );
}

#[test]
fn dropbear_rules() {
    let got = run("dropbear", None, "dropbear.log");
    assert_eq!(
        got,
        hits(&[
            (2, "192.0.2.100", "dropbear-bad-password"),
            (3, "192.0.2.101", "dropbear-bad-password"),
            // IPv4-mapped, IPv6 with the port after the last colon, and
            // bracketed IPv6.
            (4, "192.0.2.102", "dropbear-nonexistent-user"),
            (5, "2001:db8::103", "dropbear-nonexistent-user"),
            (6, "2001:db8::104", "dropbear-nonexistent-user"),
            (7, "192.0.2.105", "dropbear-max-auth-tries"),
            (8, "192.0.2.106", "dropbear-max-auth-tries"),
            // The user name holds `' from IP:PORT`: the last one is real.
            (9, "192.0.2.107", "dropbear-bad-password"),
            (10, "192.0.2.108", "dropbear-max-auth-tries"),
            // 11 a normal exit, 12 a success, 13 999.1.1.1, 14 sshd writing
            // dropbear's text: no failures. 15: a bare message.
            (15, "192.0.2.112", "dropbear-bad-password"),
        ])
    );
}

fn builtin(name: &str) -> RuleSetDef {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/fail2ban/builtin")
        .join(format!("{name}.yml"));
    let text = std::fs::read_to_string(&path).expect("read built-in set");
    RuleSetDef::from_yaml(&text, name).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn only_invalid_user_has_its_own_limit() {
    for name in ["sshd", "dropbear"] {
        let def = builtin(name);
        assert!(def.description.is_some(), "{name} needs a description");
        let mut modes: Vec<Option<&str>> = vec![None];
        modes.extend(def.modes.iter().map(|m| Some(m.as_str())));
        for mode in modes {
            let set = def.clone().compile(mode, name).unwrap();
            for rule in &set.rules {
                assert_eq!(rule.group, "ssh", "{}", rule.id);
                let expected = (rule.id == "sshd-invalid-user").then_some(1);
                assert_eq!(rule.limit, expected, "{} in {mode:?}", rule.id);
            }
        }
        for rule in &def.rules {
            assert!(
                rule.description.as_deref().is_some_and(|d| !d.is_empty()),
                "{} needs a description",
                rule.id
            );
        }
    }
}

#[test]
fn program_filter_admits_sshd_and_sshd_session_only() {
    let set = builtin("sshd").compile(None, "sshd").unwrap();
    let prog = set.program.expect("sshd has a program filter");
    for ok in ["sshd", "sshd-session", "sshd-auth"] {
        assert!(prog.is_match(ok), "{ok}");
    }
    for no in ["sshd-keygen", "ssh", "xsshd", "sshd2", "dropbear"] {
        assert!(!prog.is_match(no), "{no}");
    }
}
