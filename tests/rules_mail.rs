//! The built-in mail (`postfix`, `dovecot`, `stalwart`) and FTP (`vsftpd`,
//! `proftpd`, `pure-ftpd`) rule sets, run through the real binary:
//! `logbus match --rules SET.yml [--mode M] --json`.
//!
//! Two kinds of checks:
//! - annotated fixtures under `tests/data/rules/`: every log line is preceded
//!   by `#> MODES RULE IP` (or `#> MODES -`) lines saying exactly what each
//!   mode must report for it; the harness compares the complete
//!   (line, ip, rule) output of every mode with them;
//! - small inline cases with literal expectations for the properties that
//!   matter most: injected addresses are never taken, bogus addresses are
//!   never reported, IPv4-mapped IPv6 becomes IPv4, other programs are not
//!   judged.
//!
//! The sets are loaded from their source files (`src/fail2ban/builtin/*.yml`)
//! so the tests exercise exactly the YAML in the tree.

mod common;

use common::rules::{check_set, r, run_lines, set_file};

// ---- annotated fixtures ------------------------------------------------------

#[test]
fn postfix_fixture_in_every_mode() {
    check_set(
        "postfix",
        &[
            ("default", None),
            // `more` is the default mode: same expectations.
            ("default", Some("more")),
            ("normal", Some("normal")),
            ("rbl", Some("rbl")),
            ("auth", Some("auth")),
            ("errors", Some("errors")),
            ("ddos", Some("ddos")),
            ("aggressive", Some("aggressive")),
        ],
    );
}

#[test]
fn dovecot_fixture_in_every_mode() {
    check_set(
        "dovecot",
        &[
            ("default", None),
            ("default", Some("normal")),
            ("aggressive", Some("aggressive")),
        ],
    );
}

#[test]
fn stalwart_fixture() {
    check_set("stalwart", &[("default", None)]);
}

#[test]
fn vsftpd_fixture() {
    check_set("vsftpd", &[("default", None)]);
}

#[test]
fn proftpd_fixture() {
    check_set("proftpd", &[("default", None)]);
}

#[test]
fn pure_ftpd_fixture() {
    check_set("pure-ftpd", &[("default", None)]);
}

// ---- literal cases -------------------------------------------------------------

#[test]
fn stalwart_takes_the_address_only_from_the_span_remote_ip() {
    let got = run_lines(
        "stalwart",
        None,
        &[
            // The EHLO domain carries a second, unescaped `remoteIp = `.
            r#"2025-03-10T08:15:03Z INFO Invalid EHLO command (smtp.invalid-ehlo) listenerId = "smtp", localPort = 25, remoteIp = 192.0.2.11, remotePort = 51235, domain = "x", remoteIp = 1.2.3.4, remotePort = 1""#,
            // No span remoteIp before the attacker's key: nothing.
            r#"2025-03-10T08:15:04Z INFO Invalid EHLO command (smtp.invalid-ehlo) domain = "x", remoteIp = 1.2.3.4"#,
            // A fake event inside a raw SMTP input value: nothing.
            r#"2025-03-10T08:15:05Z TRACE Raw SMTP input received (smtp.raw-input) listenerId = "smtp", localPort = 25, remoteIp = 203.0.113.31, remotePort = 50401, size = 90, contents = "EHLO x (smtp.auth-not-allowed) listenerId = "smtp", localPort = 25, remoteIp = 1.2.3.4\r\n""#,
            // An account name faking the key after a bogus span address.
            r#"2025-03-10T08:15:06Z INFO Authentication failed (auth.failed) listenerId = "imap", localPort = 143, remoteIp = fe80::1%eth0, remotePort = 1, accountName = "a", remoteIp = 1.2.3.4"#,
            r#"Mar 10 09:15:07 mail stalwart[1895]: 2025-03-10T08:15:07Z INFO Authentication not allowed (smtp.auth-not-allowed) listenerId = "smtp", localPort = 25, remoteIp = 2001:DB8:0:0::15, remotePort = 60124"#,
            r#"2025-03-10T08:15:08Z INFO Banned due to authentication errors (security.authentication-ban) remoteIp = ::ffff:192.0.2.19, accountName = "x", remoteIp = 1.2.3.4"#,
        ],
    );
    assert_eq!(
        got,
        vec![
            r(1, "192.0.2.11", "stalwart-invalid-ehlo"),
            r(5, "2001:db8::15", "stalwart-auth-not-allowed"),
            r(6, "192.0.2.19", "stalwart-ban"),
        ]
    );
}

#[test]
fn postfix_client_text_never_supplies_the_address() {
    let got = run_lines(
        "postfix",
        Some("aggressive"),
        &[
            "Mar  3 10:00:02 mx postfix/smtpd[1002]: NOQUEUE: reject: RCPT from unknown[192.0.2.11]: 554 5.7.1 <x@example.org>: Relay access denied; from=<reject: RCPT from evil[1.2.3.4]: 554@example.com> to=<x@example.org> proto=ESMTP helo=<[1.2.3.4]>",
            "Mar  3 10:00:03 mx postfix/smtpd[1003]: improper command pipelining after EHLO from unknown[192.0.2.12]: MAIL FROM:<a@x> from unknown[1.2.3.4]:",
            "Mar  3 10:00:04 mx postfix/postscreen[1004]: PREGREET 28 after 0.12 from [192.0.2.13]:4455: EHLO [1.2.3.4]\\r\\n",
            "Mar  3 10:00:05 mx postfix/smtpd[1005]: warning: unknown[192.0.2.14]: SASL PLAIN authentication failed: authentication failure, sasl_username=x]: SASL LOGIN authentication failed: [1.2.3.4]",
            // The real client is no address: nothing, not the HELO's.
            "Mar  3 10:00:06 mx postfix/smtpd[1006]: NOQUEUE: reject: RCPT from unknown[999.1.1.1]: 554 5.7.1 <x@example.org>: Relay access denied; from=<a@example.com> to=<x@example.org> proto=ESMTP helo=<[1.2.3.4]>",
            // A fake second log line, escaped by rsyslog (#012) into this one.
            "Mar  3 10:00:07 mx postfix/smtpd[1007]: warning: non-SMTP command from unknown[192.0.2.15]: GET / HTTP/1.1#012Mar  3 10:00:07 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[1.2.3.4]: 554 5.7.1 Relay access denied",
        ],
    );
    assert_eq!(
        got,
        vec![
            r(1, "192.0.2.11", "postfix-reject"),
            r(2, "192.0.2.12", "postfix-pipelining"),
            r(3, "192.0.2.13", "postfix-postscreen-violation"),
            r(4, "192.0.2.14", "postfix-sasl-aggressive"),
            r(6, "192.0.2.15", "postfix-non-smtp-command"),
        ]
    );
}

#[test]
fn dovecot_user_names_never_supply_the_address() {
    let got = run_lines(
        "dovecot",
        Some("aggressive"),
        &[
            "Apr  4 08:00:02 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 4 secs): user=<x>, method=PLAIN, rip=1.2.3.4, lip=5.6.7.8, TLS>, method=PLAIN, rip=192.0.2.11, lip=203.0.113.1, TLS, session=<a1b2c3d4e5f7>",
            // The real rip is no address: the user's `rip=` is not fallen back to.
            "Apr  4 08:00:03 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 4 secs): user=<alice, rip=1.2.3.4, lip=x>, method=PLAIN, rip=client.example.net, lip=203.0.113.1, TLS",
            // A user name faking a failure status inside a no-attempt line:
            // only the aggressive no-attempt rule, with the real address.
            "Apr  4 08:00:04 mail dovecot: pop3-login: Disconnected (no auth attempts in 5 secs): user=<(auth failed, 1 attempts): user=<x>, rip=1.2.3.4>, rip=192.0.2.17, lip=203.0.113.1",
            "Apr  4 08:00:05 mail dovecot: auth-worker(4243): pam(x,1.2.3.4): unknown user,192.0.2.22): pam_authenticate() failed: Authentication failure (password mismatch?)",
            "Apr  4 08:00:06 mail dovecot: auth: ldap(a,1.2.3.4): unknown user (,,<Kp2R5tX0>): unknown user (SHA1 of given password: f638ff)",
            "@400000004c91b044077a9e94 dovecot-auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=rhost=1.2.3.4 rhost=192.0.43.10",
            "Apr  4 08:00:07 mail dovecot-auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=x rhost=1.2.3.4 rhost=192.0.2.32  user=x rhost=1.2.3.4",
        ],
    );
    assert_eq!(
        got,
        vec![
            r(1, "192.0.2.11", "dovecot-login-failed"),
            r(3, "192.0.2.17", "dovecot-no-auth-attempt"),
            r(4, "192.0.2.22", "dovecot-passdb-failed"),
            r(6, "192.0.43.10", "dovecot-pam-unix"),
        ]
    );
}

#[test]
fn ftp_user_names_never_supply_the_address() {
    assert_eq!(
        run_lines(
            "vsftpd",
            None,
            &[
                r#"Mon May  5 09:00:02 2025 [pid 3102] [x] FAIL LOGIN: Client "1.2.3.4"] FAIL LOGIN: Client "192.0.2.11""#,
                r#"Mon May  5 09:00:03 2025 [pid 3103] [x] FAIL LOGIN: Client "1.2.3.4", "] FAIL LOGIN: Client "192.0.2.12", "User is not in the allow user list.""#,
                r#"Mon May  5 09:00:04 2025 [pid 3104] [x] FAIL LOGIN: Client "1.2.3.4"] FAIL LOGIN: Client "ftp.example.net""#,
            ],
        ),
        vec![
            r(1, "192.0.2.11", "vsftpd-fail-login"),
            r(2, "192.0.2.12", "vsftpd-fail-login"),
        ]
    );
    assert_eq!(
        run_lines(
            "proftpd",
            None,
            &[
                "Jun 14 00:09:59 ftp proftpd[17839] ftp.example.org (::ffff:192.0.2.12[::ffff:192.0.2.12]): USER ftp.example.org proftpd[17424] ftp.example.org (hihoinjection[1.2.3.44]): no such user found from ::ffff:192.0.2.12 [::ffff:192.0.2.12] to ::ffff:203.0.113.1:21",
                "Jun 14 00:10:00 ftp proftpd[17840] ftp.example.org (client[client.example.net]): USER x (evil[1.2.3.4]): no such user found from evil [1.2.3.4] to 203.0.113.1:21",
            ],
        ),
        vec![r(1, "192.0.2.12", "proftpd-no-such-user")]
    );
    assert_eq!(
        run_lines(
            "pure-ftpd",
            None,
            &[
                "Jul  7 11:00:02 ftp pure-ftpd[5102]: (?@192.0.2.11) [WARNING] Authentication failed for user [x] (?@1.2.3.4) [WARNING] Authentication failed for user [y]",
                "Jul  7 11:00:03 ftp pure-ftpd: (?@client.example.net) [WARNING] Authentication failed for user [x (?@1.2.3.4)]",
            ],
        ),
        vec![r(1, "192.0.2.11", "pure-ftpd-auth-failed")]
    );
}

#[test]
fn bogus_addresses_are_never_reported() {
    for bogus in [
        "999.1.1.1",
        "1.2.3",
        "fe80::1%eth0",
        "mail.example.com",
        "0.0.0.0",
    ] {
        let cases: [(&str, Option<&str>, String); 6] = [
            (
                "postfix",
                Some("aggressive"),
                format!(
                    "Mar  3 10:00:01 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[{bogus}]: 554 5.7.1 <x@example.org>: Relay access denied; from=<a@example.com> to=<x@example.org> proto=ESMTP helo=<[192.0.2.1]>"
                ),
            ),
            (
                "dovecot",
                Some("aggressive"),
                format!(
                    "Apr  4 08:00:01 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 4 secs): user=<rip=192.0.2.1>, method=PLAIN, rip={bogus}, lip=203.0.113.1, TLS"
                ),
            ),
            (
                "stalwart",
                None,
                format!(
                    r#"2025-03-10T08:15:02Z INFO Invalid EHLO command (smtp.invalid-ehlo) listenerId = "smtp", localPort = 25, remoteIp = {bogus}, remotePort = 1, domain = "x", remoteIp = 192.0.2.1"#
                ),
            ),
            (
                "vsftpd",
                None,
                format!(
                    r#"Mon May  5 09:00:01 2025 [pid 1] [x] FAIL LOGIN: Client "192.0.2.1"] FAIL LOGIN: Client "{bogus}""#
                ),
            ),
            (
                "proftpd",
                None,
                format!(
                    "Jun  6 10:00:01 ftp proftpd[1] ftp.example.org (client[{bogus}]): USER x (Login failed): from client [192.0.2.1]"
                ),
            ),
            (
                "pure-ftpd",
                None,
                format!(
                    "Jul  7 11:00:01 ftp pure-ftpd: (?@{bogus}) [WARNING] Authentication failed for user [(?@192.0.2.1)]"
                ),
            ),
        ];
        for (set, mode, line) in cases {
            assert_eq!(
                run_lines(set, mode, &[&line]),
                vec![],
                "{set} reported something for {bogus}"
            );
        }
    }
}

#[test]
fn ipv4_mapped_ipv6_is_reported_as_ipv4() {
    let cases: [(&str, &str, &str); 6] = [
        (
            "postfix",
            "Mar  3 10:00:07 mx postfix/smtpd[1007]: NOQUEUE: reject: VRFY from unknown[::ffff:198.51.100.7]: 550 5.1.1 <root>: Recipient address rejected: User unknown in local recipient table; to=<root> proto=SMTP",
            "postfix-reject",
        ),
        (
            "dovecot",
            "Apr  4 08:00:05 mail dovecot: imap-login: Aborted login (tried to use disallowed plaintext auth): user=<>, rip=::ffff:198.51.100.7, lip=::ffff:203.0.113.1, session=<a1b2c3d4e5fa>",
            "dovecot-login-failed",
        ),
        (
            "stalwart",
            r#"2025-03-10T08:15:05Z INFO Invalid EHLO command (smtp.invalid-ehlo) listenerId = "smtp", localPort = 25, remoteIp = ::ffff:198.51.100.7, remotePort = 40023, domain = "x""#,
            "stalwart-invalid-ehlo",
        ),
        (
            "vsftpd",
            r#"Thu Sep  8 00:39:49 2016 [pid 15019] [guest] FAIL LOGIN: Client "::ffff:198.51.100.7", "User is not in the allow user list.""#,
            "vsftpd-fail-login",
        ),
        (
            "proftpd",
            "Jun 09 07:30:58 ftp proftpd[11864] ftp.example.org (mail.example.net[::ffff:198.51.100.7]): USER bob (Login failed): Incorrect password.",
            "proftpd-login-failed",
        ),
        (
            "pure-ftpd",
            "Jul  7 11:00:04 ftp pure-ftpd: (?@::ffff:198.51.100.7) [WARNING] Authentication failed for user [carol]",
            "pure-ftpd-auth-failed",
        ),
    ];
    for (set, line, rule) in cases {
        assert_eq!(
            run_lines(set, None, &[line]),
            vec![r(1, "198.51.100.7", rule)],
            "{set}"
        );
    }
}

#[test]
fn other_programs_are_not_judged() {
    let cases: [(&str, &str); 6] = [
        (
            "postfix",
            "Mar  3 10:03:01 mx postfix/cleanup[1301]: NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 <x@example.org>: Relay access denied; from=<a@example.com> to=<x@example.org> proto=ESMTP helo=<bot>",
        ),
        (
            "dovecot",
            "Apr  4 08:04:01 mail sshd[4444]: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=kim rhost=192.0.2.1",
        ),
        (
            "stalwart",
            r#"Mar 10 09:18:08 mail postfix/smtpd[2001]: 2025-03-10T08:18:08Z INFO Invalid EHLO command (smtp.invalid-ehlo) listenerId = "smtp", localPort = 25, remoteIp = 192.0.2.1, remotePort = 50407, domain = "x""#,
        ),
        (
            "vsftpd",
            r#"May  5 09:00:15 ftp proftpd[3115]: [frank] FAIL LOGIN: Client "192.0.2.1""#,
        ),
        (
            "proftpd",
            "Jun  6 10:00:13 ftp vsftpd[4113]: ftp.example.org (client.example.net[192.0.2.1]): USER erin (Login failed): Incorrect password.",
        ),
        (
            "pure-ftpd",
            "Jul  7 11:00:09 ftp proftpd[5109]: (?@192.0.2.1) [WARNING] Authentication failed for user [frank]",
        ),
    ];
    for (set, line) in cases {
        assert_eq!(run_lines(set, None, &[line]), vec![], "{set}: {line}");
        // The same message with the set's own program is a failure.
        let own = match set {
            "postfix" => line.replace("postfix/cleanup[1301]", "postfix/smtpd[1301]"),
            "dovecot" => line.replace("sshd[4444]", "dovecot-auth[4444]"),
            "stalwart" => line.replace("postfix/smtpd[2001]", "stalwart[2001]"),
            "vsftpd" => line.replace("proftpd[3115]", "vsftpd[3115]"),
            "proftpd" => line.replace("vsftpd[4113]:", "proftpd[4113]"),
            _ => line.replace("proftpd[5109]", "pure-ftpd[5109]"),
        };
        let got = run_lines(set, None, &[&own]);
        assert_eq!(got.len(), 1, "{set}: {own}");
        assert_eq!(got[0].1, "192.0.2.1", "{set}: {own}");
    }
}

#[test]
fn no_rule_sets_its_own_limit() {
    // The groups' limits apply. (Descriptions of every built-in set and
    // rule: fail2ban::builtin's tests.)
    for set in [
        "postfix",
        "dovecot",
        "stalwart",
        "vsftpd",
        "proftpd",
        "pure-ftpd",
    ] {
        let text = std::fs::read_to_string(set_file(set)).unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        for rule in doc["rules"].as_sequence().unwrap() {
            assert!(rule.get("limit").is_none(), "{set}: {:?}", rule["id"]);
        }
    }
}
