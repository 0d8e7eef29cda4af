//! The built-in service rule sets (`asterisk`, `named-refused`,
//! `mysqld-auth`, `pam-generic`, `selinux-ssh`, `portsentry`, `recidive`),
//! run through the real binary: `logbus match --rules SET.yml --json`.
//!
//! Annotated fixtures under `tests/data/rules/` (every log line preceded by
//! `#> MODES RULE IP` or `#> MODES -`) cover every rule and the daemons'
//! ordinary lines; the inline cases pin the properties that matter most with
//! literal expectations: attacker text (SIP headers, user names, query
//! names, reverse-DNS names) never supplies the address, an ambiguous line
//! reports nobody, bogus addresses are never reported.

mod common;

use common::rules::{check_set, r, run_lines};

// ---- annotated fixtures ------------------------------------------------------

#[test]
fn asterisk_fixture() {
    check_set("asterisk", &[("default", None)]);
}

#[test]
fn named_refused_fixture() {
    check_set("named-refused", &[("default", None)]);
}

#[test]
fn mysqld_auth_fixture() {
    check_set("mysqld-auth", &[("default", None)]);
}

#[test]
fn pam_generic_fixture() {
    check_set("pam-generic", &[("default", None)]);
}

#[test]
fn selinux_ssh_fixture() {
    check_set("selinux-ssh", &[("default", None)]);
}

#[test]
fn portsentry_fixture() {
    check_set("portsentry", &[("default", None)]);
}

#[test]
fn recidive_fixture() {
    check_set("recidive", &[("default", None)]);
}

// ---- literal cases -------------------------------------------------------------

#[test]
fn asterisk_sip_text_never_supplies_the_address() {
    let got = run_lines(
        "asterisk",
        None,
        &[
            // A From header carrying a whole fake record before the real one.
            "[2025-05-05 09:02:01] NOTICE[1638] chan_sip.c: Registration from '<sip:x@a>' failed for '1.2.3.4' - Wrong password' failed for '192.0.2.40:5060' - Wrong password",
            // Fake record in the Call-ID, after the real one: ambiguous, nobody.
            "[2025-05-05 09:02:02] NOTICE[1943] res_pjsip/pjsip_distributor.c: Request 'INVITE' from '<sip:a@b>' failed for '192.0.2.41:4367' (callid: x) - No matching endpoint found' failed for '1.2.3.4:5060' (callid: y) - Failed to authenticate",
            // An extension with blanks: the line has two readings, nobody.
            "[2025-05-05 09:02:03] NOTICE[3477] chan_sip.c: Call from '' (192.0.2.42:5060) to extension '1' (1.2.3.4:5060) to extension '2' rejected because extension not found in context 'default'.",
            // A SessionID holding a fake LocalAddress/RemoteAddress pair.
            r#"[2025-05-05 09:02:04] SECURITY[6988] res_security_log.c: SecurityEvent="InvalidAccountID",EventTV="1",Severity="Error",Service="PJSIP",EventVersion="1",AccountID="7",SessionID="",LocalAddress="IPV4/UDP/198.51.100.1/5060",RemoteAddress="IPV4/UDP/1.2.3.4/1111"",LocalAddress="IPV4/UDP/198.51.100.1/5060",RemoteAddress="IPV4/UDP/192.0.2.43/5061""#,
            // A Response value faking a record after the real one: the tail is
            // not clean key="value" fields, nobody.
            r#"[2025-05-05 09:02:05] SECURITY[1724] res_security_log.c: SecurityEvent="ChallengeResponseFailed",EventTV="1",Severity="Error",Service="PJSIP",EventVersion="1",AccountID="a",SessionID="b",LocalAddress="IPV4/UDP/198.51.100.1/5060",RemoteAddress="IPV4/UDP/192.0.2.44/5060",Challenge="c",Response="\"",RemoteAddress=\"IPV4/UDP/1.2.3.4/1\"",ExpectedResponse="""#,
            // Bogus and link-local addresses.
            "[2025-05-05 09:02:06] NOTICE[1638] chan_sip.c: Registration from '<sip:x@a>' failed for '999.1.1.1:5060' - Wrong password",
            "[2025-05-05 09:02:07] NOTICE[22382] manager.c: fe80::1%eth0 failed to authenticate as 'admin'",
            // IPv4-mapped IPv6 counts as IPv4; a bracketed IPv6 with its port.
            "[2025-05-05 09:02:08] NOTICE[22382] manager.c: ::ffff:192.0.2.45 failed to authenticate as 'admin'",
            "[2025-05-05 09:02:09] WARNING[8447][C-00000244] Ext. s: \"Rejecting unknown SIP connection from [2001:DB8::46]:5060\"",
        ],
    );
    assert_eq!(
        got,
        vec![
            r(1, "192.0.2.40", "asterisk-registration-failed"),
            r(4, "192.0.2.43", "asterisk-security-event"),
            r(8, "192.0.2.45", "asterisk-manager-auth"),
            r(9, "2001:db8::46", "asterisk-unknown-sip-connection"),
        ]
    );
}

#[test]
fn named_query_names_never_supply_the_address() {
    let got = run_lines(
        "named-refused",
        None,
        &[
            "May  5 09:02:01 ns1 named[3935]: client @0x7f 192.0.2.30#53 (client 1.2.3.4#53: query 'x/A/IN' denied): query 'client 1.2.3.4#53: x/A/IN' denied",
            "May  5 09:02:02 ns1 named[3935]: client ns.example.net#53 (1.2.3.4): query 'x/A/IN' denied",
            "May  5 09:02:03 ns1 named[3935]: client 999.1.1.1#53: zone transfer 'x/AXFR/IN' denied",
            "May  5 09:02:04 ns1 named[3935]: client 192.0.2.31#53: query 'x/A/IN' approved",
        ],
    );
    assert_eq!(got, vec![r(1, "192.0.2.30", "named-refused-query")]);
}

#[test]
fn mysqld_user_names_never_supply_the_address() {
    let got = run_lines(
        "mysqld-auth",
        None,
        &[
            "2025-05-05 09:02:01 7 [Warning] Access denied for user 'x'@'1.2.3.4' (using password: YES)'@'192.0.2.30' (using password: YES)",
            // The real host is a name: nobody, not the user's address.
            "2025-05-05 09:02:02 7 [Warning] Access denied for user 'x'@'1.2.3.4' (using password: YES)'@'db.example.net' (using password: YES)",
            // Text after the fixed tail: nobody.
            "2025-05-05 09:02:03 7 [Warning] Access denied for user 'root'@'192.0.2.31' (using password: YES) and more",
            "2025-05-05 09:02:04 7 [Warning] Access denied for user 'root'@'192.030.0.6' (using password: YES)",
        ],
    );
    assert_eq!(got, vec![r(1, "192.0.2.30", "mysqld-auth-denied")]);
}

#[test]
fn pam_generic_reports_only_lines_with_one_reading() {
    let got = run_lines(
        "pam-generic",
        None,
        &[
            // RUSER holds a fake rhost; the real one ends the line.
            "May  5 09:02:01 srv daemon: pam_unix(auth): authentication failure; logname= uid=0 euid=0 tty=xxx ruser=test rhost=198.51.100.1 rhost=192.0.2.30",
            // RUSER and USER both hold a fake rhost: the real one is the only
            // `rhost=WORD  user=`, and nothing else ends the line.
            "May  5 09:02:02 srv vsftpd: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=x rhost=1.2.3.4 rhost=192.0.2.31  user=x rhost=1.2.3.4 ruser=y",
            // Two readings (192.0.2.32 with user `test rhost=198.51.100.3`, or
            // 198.51.100.3 with ruser ` rhost=192.0.2.32 user=test`): nobody.
            "May  5 09:02:03 srv daemon: pam_unix(auth): authentication failure; logname= uid=0 euid=0 tty=xxx ruser= rhost=192.0.2.32 user=test rhost=198.51.100.3",
            "May  5 09:02:04 ftp vsftpd: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=x rhost=1.2.3.4 rhost=192.0.2.33  user=x rhost=1.2.3.4",
            // A host name (real) after a fake address in RUSER: nobody.
            "May  5 09:02:05 srv daemon: pam_unix(auth): authentication failure; logname= uid=0 euid=0 tty=xxx ruser=x rhost=1.2.3.4  user=y rhost=host.example.net",
            // Pre-0.99.2.0 format: not counted.
            "May  5 09:02:06 mail pop(pam_unix)[4920]: authentication failure; logname= uid=0 euid=0 tty= ruser= rhost=192.0.2.34 user=mailuser",
        ],
    );
    assert_eq!(
        got,
        vec![
            r(1, "192.0.2.30", "pam-generic-auth-failure"),
            r(2, "192.0.2.31", "pam-generic-auth-failure-user"),
        ]
    );
}

#[test]
fn selinux_accounts_never_supply_the_address() {
    let got = run_lines(
        "selinux-ssh",
        None,
        &[
            // A quoted account cannot hold quotes or blanks: a fake tail inside
            // one makes the record unreadable, nobody.
            r#"type=USER_AUTH msg=audit(1746435801.000:620): pid=1 uid=0 auid=4294967295 ses=4294967295 subj=system_u:system_r:sshd_t:s0-s0:c0.c1023 msg='op=password acct="x" exe="/usr/sbin/sshd" hostname=? addr=1.2.3.4 terminal=ssh res=failed'" exe="/usr/sbin/sshd" hostname=? addr=192.0.2.30 terminal=ssh res=failed'"#,
            // Hex-encoded account ("x addr"): read as written.
            r#"type=USER_AUTH msg=audit(1746435802.000:621): pid=1 uid=0 auid=4294967295 ses=4294967295 subj=system_u:system_r:sshd_t:s0-s0:c0.c1023 msg='op=password acct=782061646472 exe="/usr/sbin/sshd" hostname=? addr=192.0.2.31 terminal=ssh res=failed'"#,
            // Another program than sshd (su): not this set's.
            r#"type=USER_AUTH msg=audit(1746435803.000:622): pid=1 uid=0 auid=1000 ses=3 subj=unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023 msg='op=PAM:authentication grantors=? acct="root" exe="/usr/bin/su" hostname=? addr=192.0.2.32 terminal=pts/0 res=failed'"#,
        ],
    );
    assert_eq!(got, vec![r(2, "192.0.2.31", "selinux-ssh-auth-failed")]);
}

#[test]
fn portsentry_host_names_never_supply_the_address() {
    let got = run_lines(
        "portsentry",
        None,
        &[
            "1746435801 - 05/05/2025 09:02:01 Host: x/1.2.3.4 Port: 1 TCP Blocked/192.0.2.30 Port: 1 TCP Blocked",
            "1746435802 - 05/05/2025 09:02:02 Host: x/192.0.2.31 Port: 1 TCP Blocked/1.2.3.4 Port: 1 TCP Blocked and more",
            "1746435803 - 05/05/2025 09:02:03 Host: x/999.1.1.1 Port: 1 TCP Blocked",
        ],
    );
    assert_eq!(got, vec![r(1, "192.0.2.30", "portsentry-blocked")]);
}

#[test]
fn recidive_counts_bans_of_other_jails_only() {
    let got = run_lines(
        "recidive",
        None,
        &[
            "2025-05-05 09:00:01,388 fail2ban.actions        [123]: NOTICE  [sshd] Ban 192.0.2.10",
            "2025-05-05 09:00:02,388 fail2ban.actions        [123]: NOTICE  [recidive] Ban 192.0.2.11",
            "2025-05-05 09:00:03,388 fail2ban.actions        [123]: NOTICE  [sshd] Restore Ban 192.0.2.12",
            "2025-05-05 09:00:04,388 fail2ban.actions        [123]: NOTICE  [sshd] Unban 192.0.2.10",
            "2025-05-05 09:00:05,388 fail2ban.actions        [123]: NOTICE  [sshd] Ban ::ffff:192.0.2.13",
        ],
    );
    assert_eq!(
        got,
        vec![
            r(1, "192.0.2.10", "recidive-ban"),
            r(5, "192.0.2.13", "recidive-ban"),
        ]
    );
}
