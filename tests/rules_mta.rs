//! The built-in rule sets for Exim, Sendmail, Courier's SMTP server and
//! Roundcube, run through the real binary:
//! `logbus match --rules SET.yml [--mode M] --json`.
//!
//! Annotated fixtures under `tests/data/rules/` state what every mode must
//! report for every line; the inline cases pin the properties that matter
//! most with literal expectations: text the client chose (HELO names, SMTP
//! commands, user names, recipients, forwarded-for headers) never supplies
//! the address, lines that cannot be split unambiguously report nobody, and
//! bogus addresses are never reported.

mod common;

use common::rules::{check_set, r, run_lines, set_file};

// ---- annotated fixtures ------------------------------------------------------

#[test]
fn exim_fixture_in_every_mode() {
    check_set(
        "exim",
        &[
            ("default", None),
            ("default", Some("normal")),
            ("aggressive", Some("aggressive")),
        ],
    );
}

#[test]
fn sendmail_auth_fixture() {
    check_set("sendmail-auth", &[("default", None)]);
}

#[test]
fn sendmail_reject_fixture_in_every_mode() {
    check_set(
        "sendmail-reject",
        &[
            ("default", None),
            ("default", Some("normal")),
            ("extra", Some("extra")),
            ("aggressive", Some("aggressive")),
        ],
    );
}

#[test]
fn courier_smtp_fixture() {
    check_set("courier-smtp", &[("default", None)]);
}

#[test]
fn roundcube_auth_fixture() {
    check_set("roundcube-auth", &[("default", None)]);
}

// ---- literal cases -------------------------------------------------------------

#[test]
fn exim_client_text_never_supplies_the_address() {
    let got = run_lines(
        "exim",
        Some("aggressive"),
        &[
            // The AUTH command (quotes not escaped) fakes a host field: the last one wins.
            r#"2025-05-05 10:00:01 SMTP protocol error in "AUTH LOGIN" H=(x) [1.2.3.4]:25 I=[203.0.113.1]:25" H=(y) [192.0.2.11]:4444 I=[203.0.113.1]:25 AUTH command used when not advertised"#,
            // A HELO with a blank cannot shift the address field: nothing.
            "2025-05-05 10:00:02 login authenticator failed for (x [1.2.3.4]) [192.0.2.12]: 535 Incorrect authentication data",
            // Quotes in both the command and the early input: ambiguous, nothing.
            r#"2025-05-05 10:00:03 SMTP protocol synchronization error (next input sent too soon: pipelining was not advertised): rejected "x" H=(a) [1.2.3.4]:1 next input="" H=(b) [192.0.2.13]:2 next input="y""#,
            // The early input after the address is free text.
            r#"2025-05-05 10:00:04 SMTP protocol synchronization error (input sent without waiting for greeting): rejected connection from H=[192.0.2.14]:1 input="EHLO x\r\n" H=[1.2.3.4]:2 input="""#,
            // set_id after the address.
            "2025-05-05 10:00:05 [77] plain authenticator failed for (x) [192.0.2.15]:1 I=[203.0.113.1]:587: 535 Incorrect authentication data (set_id=a) [1.2.3.4]:1 I=[203.0.113.1]:587: 535 Incorrect authentication data (set_id=b)",
            // The reverse-DNS name is a word: a name with a blank matches nothing.
            "2025-05-05 10:00:06 H=evil [1.2.3.4] x [192.0.2.16] sender verify fail for <a@example.com>: Unknown user",
            // Via syslog, with the header cut by `strip`.
            "May  5 10:00:07 mx exim[4242]: H=(x) [192.0.2.17] F=<a@example.com> rejected RCPT <b@example.net>: relay not permitted",
            "2025-05-05 10:00:08 no IP address found for host [1.2.3.4] (during SMTP connection from [192.0.2.18])",
        ],
    );
    assert_eq!(
        got,
        vec![
            r(1, "192.0.2.11", "exim-auth-not-advertised"),
            r(4, "192.0.2.14", "exim-sync-error"),
            r(5, "192.0.2.15", "exim-auth-failed"),
            r(7, "192.0.2.17", "exim-rcpt-rejected"),
            r(8, "192.0.2.18", "exim-no-ip-for-host"),
        ]
    );
}

#[test]
fn sendmail_client_text_never_supplies_the_address() {
    assert_eq!(
        run_lines(
            "sendmail-auth",
            None,
            &[
                "May  5 10:00:01 mx sendmail[1]: 06I02CNi000001: AUTH failure (LOGIN): authentication failure (-13) SASL(-13): authentication failure: checkpass failed, user=x, relay=[1.2.3.4] (may be forged), relay=host.example.net [192.0.2.11] (may be forged)",
                "May  5 10:00:02 mx sendmail[2]: 06I02CNi000002: AUTH failure (LOGIN): authentication failure (-13) SASL(-13): authentication failure: checkpass failed, user=x, relay=[1.2.3.4], relay=[mx.example.net]",
                "May  5 10:00:03 mx sm-mta[3]: 06I02CNi000003: evil [1.2.3.4] x [192.0.2.13]: possible SMTP attack: command=AUTH, count=5",
            ],
        ),
        vec![r(1, "192.0.2.11", "sendmail-auth-failed")]
    );
    assert_eq!(
        run_lines(
            "sendmail-reject",
            Some("aggressive"),
            &[
                // A recipient with a fake relay and a free-text (RBL) tail: nothing.
                "May  5 10:00:04 mx sm-mta[4]: s1N706jo000004: ruleset=check_rcpt, arg1=<a>, relay=[1.2.3.4], reject=550 5.7.1 <a>... Rejected: b>, relay=[192.0.2.14], reject=550 5.7.1 <a>... Rejected: listed",
                "May  5 10:00:05 mx sm-mta[5]: s1N706jo000005: ruleset=check_rcpt, arg1=<x@[1.2.3.4]>, relay=[192.0.2.15], reject=550 5.7.1 <x@[1.2.3.4]>... Relaying denied. Proper authentication required.",
                "May  5 10:00:06 mx sm-mta[6]: ruleset=check_relay, arg1=[1.2.3.4],, arg2=1.2.3.4, relay=[192.0.2.16], reject=421 4.3.2 Too many open connections.",
                "May  5 10:00:07 mx sm-mta[7]: s1N706jo000007: [192.0.2.17]: EXPN [1.2.3.4] [rejected]",
                "May  5 10:00:08 mx sm-mta[8]: s1N706jo000008: x [192.0.2.18] did not issue MAIL/EXPN/VRFY/ETRN during connection to [1.2.3.4]",
            ],
        ),
        vec![
            r(2, "192.0.2.15", "sendmail-rcpt-rejected"),
            r(3, "192.0.2.16", "sendmail-rate-limit"),
            r(4, "192.0.2.17", "sendmail-expn-vrfy"),
            r(5, "192.0.2.18", "sendmail-no-mail-command"),
        ]
    );
}

#[test]
fn courier_reads_the_relay_field_only() {
    assert_eq!(
        run_lines(
            "courier-smtp",
            None,
            &[
                "May  5 10:00:01 mail courieresmtpd: error,relay=::ffff:192.0.2.11,from=<error,relay=1.2.3.4,>,to=<b@example.net>: 550 User unknown.",
                "May  5 10:00:02 mail courieresmtpd: error,relay=::ffff:192.0.2.12,msg=\"535 Authentication failed.\",cmd: AUTH LOGIN relay=1.2.3.4",
                "May  5 10:00:03 mail courieresmtpd: error,relay=mail.example.net,from=<>,to=<x@example.net>: 550 User unknown.",
            ],
        ),
        vec![
            r(1, "192.0.2.11", "courier-smtp-user-unknown"),
            r(2, "192.0.2.12", "courier-smtp-auth-failed"),
        ]
    );
}

#[test]
fn roundcube_user_names_never_supply_the_address() {
    let tail = "in /usr/share/roundcube/program/lib/Roundcube/rcube_imap.php on line 200 (POST /?_task=login&_action=login)";
    let lines = [
        // One ` from ` in the user name, no echo: the client is the second.
        format!(
            "May  5 10:00:01 web roundcube: IMAP Error: Login failed for a from 1.2.3.4 from 192.0.2.11. AUTHENTICATE PLAIN: NO failed. {tail}"
        ),
        // The server echoes the user name: three ` from `, nobody.
        format!(
            "May  5 10:00:02 web roundcube: IMAP Error: Login failed for a from 1.2.3.4. b from 192.0.2.12. NO failed. user=a from 1.2.3.4. b {tail}"
        ),
        // A user name built to look like the whole tail, echoed: nobody.
        format!(
            "May  5 10:00:03 web roundcube: IMAP Error: Login failed for a from 1.2.3.4. NO failed. from 192.0.2.13. NO failed. user=a from 1.2.3.4. NO failed. {tail}"
        ),
        // A forwarded-for header faking the address: nobody.
        format!(
            "May  5 10:00:04 web roundcube: IMAP Error: Login failed for a from 192.0.2.14(X-Forwarded-For: b from 1.2.3.4(X-Real-IP: 1). NO failed. {tail}"
        ),
        "[05-May-2025 10:00:05 +0000]: Failed login for a from 1.2.3.4 in session x from 192.0.2.15 in session 8z506z6rvddstv6k7jz08hxo27 (error: 0)".to_string(),
        "[05-May-2025 10:00:06 +0000]: FAILED login for a from 1.2.3.4 from mail.example.net".to_string(),
    ];
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(
        run_lines("roundcube-auth", None, &refs),
        vec![
            r(1, "192.0.2.11", "roundcube-imap-login-failed"),
            r(5, "192.0.2.15", "roundcube-userlogins-failed"),
        ]
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
        let cases: [(&str, String); 5] = [
            (
                "exim",
                format!(
                    "2025-05-05 10:00:01 login authenticator failed for (x) [{bogus}]: 535 Incorrect authentication data (set_id=a) [192.0.2.1]: 535 Incorrect authentication data"
                ),
            ),
            (
                "sendmail-auth",
                format!(
                    "May  5 10:00:01 mx sendmail[1]: 06I02CNi000001: AUTH failure (LOGIN): authentication failure (-13) SASL(-13): authentication failure: checkpass failed, user=x, relay=[192.0.2.1], relay=[{bogus}]"
                ),
            ),
            (
                "sendmail-reject",
                format!(
                    "May  5 10:00:01 mx sm-mta[1]: s1NKIkZa000001: [{bogus}]: EXPN [192.0.2.1] [rejected]"
                ),
            ),
            (
                "courier-smtp",
                format!(
                    "May  5 10:00:01 mail courieresmtpd: error,relay={bogus},from=<relay=192.0.2.1>,to=<>: 550 User unknown."
                ),
            ),
            (
                "roundcube-auth",
                format!(
                    "[05-May-2025 10:00:01 +0000]: Failed login for a from 192.0.2.1 from {bogus} in session x (error: 0)"
                ),
            ),
        ];
        for (set, line) in cases {
            assert_eq!(
                run_lines(set, None, &[&line]),
                vec![],
                "{set} reported something for {bogus}"
            );
        }
    }
}

#[test]
fn ipv4_mapped_ipv6_is_reported_as_ipv4() {
    let cases: [(&str, &str, &str); 5] = [
        (
            "exim",
            "2025-05-05 10:00:01 H=(x) [::ffff:198.51.100.7]:1 I=[::ffff:203.0.113.1]:25 F=<a@example.com> rejected RCPT <b@example.net>: relay not permitted",
            "exim-rcpt-rejected",
        ),
        (
            "sendmail-auth",
            "May  5 10:00:01 mx sm-mta[1]: s1GNXHYB000001: [IPv6:::ffff:198.51.100.7]: possible SMTP attack: command=AUTH, count=5",
            "sendmail-auth-attack",
        ),
        (
            "sendmail-reject",
            "May  5 10:00:01 mx sm-mta[1]: s1N9csSZ000001: ruleset=check_rcpt, arg1=<a@example.com>, relay=[IPv6:::ffff:198.51.100.7], reject=550 5.7.1 <a@example.com>... Relaying denied. Proper authentication required.",
            "sendmail-rcpt-rejected",
        ),
        (
            "courier-smtp",
            "May  5 10:00:01 mail courieresmtpd: error,relay=::ffff:198.51.100.7,msg=\"535 Authentication failed.\",cmd: AUTH LOGIN",
            "courier-smtp-auth-failed",
        ),
        (
            "roundcube-auth",
            "[05-May-2025 10:00:01 +0000]: Failed login for a from ::ffff:198.51.100.7 in session x (error: 0)",
            "roundcube-userlogins-failed",
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
    let cases: [(&str, &str, &str); 4] = [
        (
            "sendmail-auth",
            "May  5 10:00:01 mx postfix/smtpd[1]: s1GNXHYB000001: [192.0.2.1]: possible SMTP attack: command=AUTH, count=5",
            "sm-mta[1]",
        ),
        (
            "sendmail-reject",
            "May  5 10:00:01 mx postfix/smtpd[1]: s1NKIkZa000001: [192.0.2.1]: EXPN root [rejected]",
            "sendmail[1]",
        ),
        (
            "courier-smtp",
            "May  5 10:00:01 mail postfix/smtpd[1]: error,relay=::ffff:192.0.2.1,from=<>,to=<x@example.net>: 550 User unknown.",
            "courieresmtpd[1]",
        ),
        (
            "roundcube-auth",
            "May  5 10:00:01 web dovecot[1]: IMAP Error: Login failed for a from 192.0.2.1",
            "roundcube[1]",
        ),
    ];
    for (set, line, own_program) in cases {
        assert_eq!(run_lines(set, None, &[line]), vec![], "{set}: {line}");
        let other = line.split_whitespace().nth(4).unwrap();
        let own = line.replacen(other, &format!("{own_program}:"), 1);
        let got = run_lines(set, None, &[&own]);
        assert_eq!(got.len(), 1, "{set}: {own}");
        assert_eq!(got[0].1, "192.0.2.1", "{set}: {own}");
    }
    // exim reads text: a syslog header of another program is not cut, so
    // the line matches nothing; with exim's header it does.
    let line = "May  5 10:00:01 mx postfix/smtpd[1]: login authenticator failed for (x) [192.0.2.1]: 535 Incorrect authentication data";
    assert_eq!(run_lines("exim", None, &[line]), vec![]);
    assert_eq!(
        run_lines(
            "exim",
            None,
            &[&line.replace("postfix/smtpd[1]", "exim4[1]")]
        ),
        vec![r(1, "192.0.2.1", "exim-auth-failed")]
    );
}

#[test]
fn no_rule_sets_its_own_limit() {
    // The groups' limits apply. (Descriptions of every built-in set and
    // rule: fail2ban::builtin's tests.)
    for set in [
        "exim",
        "sendmail-auth",
        "sendmail-reject",
        "courier-smtp",
        "roundcube-auth",
    ] {
        let text = std::fs::read_to_string(set_file(set)).unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        for rule in doc["rules"].as_sequence().unwrap() {
            assert!(rule.get("limit").is_none(), "{set}: {:?}", rule["id"]);
        }
    }
}
