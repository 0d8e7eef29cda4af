//! The built-in web application rule sets (`apache-botsearch`,
//! `apache-badbots`, `apache-nohome`, `apache-shellshock`,
//! `nginx-bad-request`, `nginx-limit-req`, `haproxy-http-auth`,
//! `traefik-auth`, `gitlab`, `grafana`, `bitwarden`), run through the real
//! binary: `logbus match --rules SET.yml [--mode M] --json`.
//!
//! Two kinds of checks:
//! - annotated fixtures under `tests/data/rules/`: every log line is preceded
//!   by `#> MODES RULE IP` (or `#> MODES -`) lines saying exactly what each
//!   mode must report for it; the harness compares the complete
//!   (line, ip, rule) output of every mode with them;
//! - small inline cases with literal expectations for the properties that
//!   matter most: requester text (paths, referrers, user agents, user names,
//!   header names) never supplies the address, bogus addresses are never
//!   reported.
//!
//! The sets are loaded from their source files (`src/fail2ban/builtin/*.yml`)
//! so the tests exercise exactly the YAML in the tree.

mod common;

use common::rules::{check_set, r, rule_groups, run_lines};

/// The sets of this file.
const SETS: &[&str] = &[
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
];

// ---- annotated fixtures ------------------------------------------------------

#[test]
fn apache_botsearch_fixture() {
    check_set("apache-botsearch", &[("default", None)]);
}

#[test]
fn apache_badbots_fixture() {
    check_set("apache-badbots", &[("default", None)]);
}

#[test]
fn apache_nohome_fixture() {
    check_set("apache-nohome", &[("default", None)]);
}

#[test]
fn apache_shellshock_fixture() {
    check_set("apache-shellshock", &[("default", None)]);
}

#[test]
fn nginx_bad_request_fixture() {
    check_set("nginx-bad-request", &[("default", None)]);
}

#[test]
fn nginx_limit_req_fixture() {
    check_set("nginx-limit-req", &[("default", None)]);
}

#[test]
fn haproxy_http_auth_fixture() {
    check_set("haproxy-http-auth", &[("default", None)]);
}

#[test]
fn traefik_auth_fixture_in_every_mode() {
    check_set(
        "traefik-auth",
        &[
            ("default", None),
            // `normal` is the default mode: same expectations.
            ("default", Some("normal")),
            ("ddos", Some("ddos")),
            ("aggressive", Some("aggressive")),
        ],
    );
}

#[test]
fn gitlab_fixture() {
    check_set("gitlab", &[("default", None)]);
}

#[test]
fn grafana_fixture() {
    check_set("grafana", &[("default", None)]);
}

#[test]
fn bitwarden_fixture() {
    check_set("bitwarden", &[("default", None)]);
}

// ---- literal cases -------------------------------------------------------------

#[test]
fn apache_botsearch_counts_only_the_client_field_and_the_document_root() {
    let got = run_lines(
        "apache-botsearch",
        None,
        &[
            // The path and the referer carry a fake client field.
            "[Mon Dec 23 09:49:10 2013] [error] [client 192.0.2.10] File does not exist: /var/www/pma [client 198.51.100.1], referer: [client 198.51.100.2]",
            // A target below the top of the document root: a real site's file.
            "[Mon Dec 23 09:49:11 2013] [error] [client 192.0.2.11] File does not exist: /var/www/forum/webmail",
            // The target only in the referer.
            "[Mon Dec 23 09:49:12 2013] [error] [client 192.0.2.12] File does not exist: /var/www/x, referer: /var/www/phpmyadmin",
            "[Thu Jun 27 11:55:44.569531 2013] [core:info] [pid 4101] [client 2001:DB8::A:46652] AH00128: File does not exist: /var/www/html/cgi-bin",
            "[Mon Dec 23 09:49:14 2013] [error] [client 999.1.1.1] File does not exist: /var/www/pma",
        ],
    );
    assert_eq!(
        got,
        vec![
            r(1, "192.0.2.10", "apache-botsearch-missing-target"),
            r(4, "2001:db8::a", "apache-botsearch-missing-target"),
        ]
    );
}

#[test]
fn apache_badbots_reads_the_agent_but_takes_the_first_field() {
    let got = run_lines(
        "apache-badbots",
        None,
        &[
            // Referrer and agent name another address; the request holds a fake line.
            r#"192.0.2.10 - - [05/Mar/2007:14:39:21 +0100] "GET /198.51.100.1 HTTP/1.1" 200 1 "198.51.100.2" "EmailSiphon""#,
            // The bot name only in the referrer, or inside a longer agent.
            r#"192.0.2.11 - - [05/Mar/2007:14:39:22 +0100] "GET / HTTP/1.1" 200 1 "EmailSiphon" "Mozilla/5.0""#,
            r#"192.0.2.12 - - [05/Mar/2007:14:39:23 +0100] "GET / HTTP/1.1" 200 1 "-" "Mozilla/5.0 EmailSiphon compatible""#,
            // Unparsed (syslog), with an escaped quote forging a last field.
            r#"web nginx[1]: 192.0.2.13 - - [05/Mar/2007:14:39:24 +0100] "GET / HTTP/1.1" 200 1 "-" "x\x22 \x22EmailSiphon""#,
            r#"web nginx[1]: 192.0.2.14 - - [05/Mar/2007:14:39:25 +0100] "POST / HTTP/1.1" 200 1 "-" "EmailCollector/1.0""#,
            r#"1.2.3 - - [05/Mar/2007:14:39:26 +0100] "GET / HTTP/1.1" 200 1 "-" "EmailSiphon""#,
        ],
    );
    assert_eq!(
        got,
        vec![
            r(1, "192.0.2.10", "apache-badbots-agent"),
            r(5, "192.0.2.14", "apache-badbots-agent-text"),
        ]
    );
}

#[test]
fn apache_nohome_takes_the_client_field() {
    let got = run_lines(
        "apache-nohome",
        None,
        &[
            "[Sat Jun 01 11:23:08 2013] [error] [client 192.0.2.10] File does not exist: /var/www/~[client 198.51.100.1]",
            "[Thu Jun 27 11:55:44.569531 2013] [core:info] [pid 4101:tid 2992634688] [client ::ffff:192.0.2.11:46652] AH00128: File does not exist: /xxx/~",
            // A tilde that is not a home directory, and a bogus address.
            "[Sat Jun 01 11:23:09 2013] [error] [client 192.0.2.12] File does not exist: /var/www/index.html~",
            "[Sat Jun 01 11:23:10 2013] [error] [client 0.0.0.0] File does not exist: /var/www/~root",
        ],
    );
    assert_eq!(
        got,
        vec![
            r(1, "192.0.2.10", "apache-nohome-missing-home"),
            r(2, "192.0.2.11", "apache-nohome-missing-home"),
        ]
    );
}

#[test]
fn apache_shellshock_header_names_never_supply_the_address() {
    let got = run_lines(
        "apache-shellshock",
        None,
        &[
            "[Thu Sep 25 09:27:18.813902 2014] [cgi:error] [pid 16860] [client 192.0.2.10:59635] AH01215: /bin/bash: warning: HTTP_198.51.100.1: ignoring function definition attempt",
            "[Thu Sep 25 09:27:19.813902 2014] [cgi:error] [pid 16860] [client 192.0.2.11:59636] AH01215: /bin/bash: error importing function definition for `HTTP_X', referer: [client 198.51.100.2:1]",
            // Not an HTTP header, and a bogus address.
            "[Thu Sep 25 09:27:20.813902 2014] [cgi:error] [pid 16860] [client 192.0.2.12:59637] AH01215: /bin/bash: warning: PATH: ignoring function definition attempt",
            "[Thu Sep 25 09:27:21.813902 2014] [cgi:error] [pid 16860] [client fe80::1%eth0:59638] AH01215: /bin/bash: warning: HTTP_X: ignoring function definition attempt",
        ],
    );
    assert_eq!(
        got,
        vec![
            r(1, "192.0.2.10", "apache-shellshock-function-header"),
            r(2, "192.0.2.11", "apache-shellshock-function-header"),
        ]
    );
}

#[test]
fn nginx_bad_request_takes_the_first_field_and_the_real_status() {
    let got = run_lines(
        "nginx-bad-request",
        None,
        &[
            r#"192.0.2.10 - 198.51.100.1 [20/Jan/2015:19:53:28 +0100] "198.51.100.1" 400 47 "198.51.100.1" "198.51.100.1""#,
            // A 200 whose request and agent spell ` 400 `.
            r#"192.0.2.11 - - [20/Jan/2015:19:53:29 +0100] "GET /\x22 400 1 HTTP/1.1" 200 47 "-" "\x22 400 ""#,
            r#"Jan 20 19:53:30 web nginx: 192.0.2.12 - - [20/Jan/2015:19:53:30 +0100] "GET /\x22 400 HTTP/1.1" 200 47 "-" "-""#,
            r#"Jan 20 19:53:31 web nginx: 2001:db8::c - - [20/Jan/2015:19:53:31 +0100] "\x16\x03\x01" 400 47 "-" "-""#,
            r#"999.1.1.1 - - [20/Jan/2015:19:53:32 +0100] "" 400 47 "-" "-""#,
        ],
    );
    assert_eq!(
        got,
        vec![
            r(1, "192.0.2.10", "nginx-bad-request-400"),
            r(4, "2001:db8::c", "nginx-bad-request-400-text"),
        ]
    );
}

#[test]
fn nginx_limit_req_takes_the_client_nginx_writes() {
    let got = run_lines(
        "nginx-limit-req",
        None,
        &[
            r#"2015/10/29 20:01:02 [error] 256554#0: *1 limiting requests, excess: 1.852 by zone "one", client: 192.0.2.10, server: example.com, request: "GET /?client: 198.51.100.1, HTTP/1.1", host: "example.com", referrer: "client: 198.51.100.2, server: x""#,
            r#"2015/10/29 20:01:03 [error] 256554#0: *2 limiting requests, excess: 1.852 by zone "one", client: 2001:DB8::A, server: example.com, request: "GET / HTTP/1.1""#,
            r#"2015/10/29 20:01:04 [error] 256554#0: *3 limiting requests, excess: 1.852 by zone "one", client: 1.2.3, server: example.com, request: "GET /, client: 198.51.100.3, server: HTTP/1.1""#,
            r#"2015/10/29 20:01:05 [error] 256554#0: *4 limiting requests, dry run, excess: 1.852 by zone "one", client: 192.0.2.11, server: example.com, request: "GET / HTTP/1.1""#,
        ],
    );
    assert_eq!(
        got,
        vec![
            r(1, "192.0.2.10", "nginx-limit-req-rejected"),
            r(2, "2001:db8::a", "nginx-limit-req-rejected"),
        ]
    );
}

#[test]
fn haproxy_http_auth_takes_the_first_field() {
    let got = run_lines(
        "haproxy-http-auth",
        None,
        &[
            r#"Nov 14 22:45:11 lb haproxy[760]: 192.0.2.10:58430 [14/Nov/2015:22:45:11.608] main main/<NOSRV> -1/-1/-1/-1/0 401 248 - - PR-- 0/0/0/0/0 0/0 "GET /198.51.100.1:1 HTTP/1.1""#,
            r#"Nov 14 22:45:12 lb haproxy[760]: 2001:db8::1234:58431 [14/Nov/2015:22:45:12.608] main main/<NOSRV> -1/-1/-1/-1/0 401 248 - - PR-- 0/0/0/0/0 0/0 "GET / HTTP/1.1""#,
            // A server's own 401 (real timers), and a bogus address.
            r#"Nov 14 22:45:13 lb haproxy[760]: 192.0.2.11:58432 [14/Nov/2015:22:45:13.608] main app/app1 1/0/1/2/4 401 248 - - ---- 0/0/0/0/0 0/0 "GET / HTTP/1.1""#,
            r#"Nov 14 22:45:14 lb haproxy[760]: 999.1.1.1:58433 [14/Nov/2015:22:45:14.608] main main/<NOSRV> -1/-1/-1/-1/0 401 248 - - PR-- 0/0/0/0/0 0/0 "GET / HTTP/1.1""#,
        ],
    );
    assert_eq!(
        got,
        vec![
            r(1, "192.0.2.10", "haproxy-http-auth-401"),
            r(2, "2001:db8::1234", "haproxy-http-auth-401"),
        ]
    );
}

#[test]
fn traefik_auth_modes_split_on_the_user_name() {
    let lines = [
        r#"192.0.2.10 - 198.51.100.1 [18/Nov/2018:21:34:34 +0000] "GET /198.51.100.2 HTTP/2.0" 401 17 "198.51.100.3" "-" 72 "r@file" "-" 0ms"#,
        r#"192.0.2.11 - - [18/Nov/2018:21:34:35 +0000] "GET / HTTP/2.0" 401 17 "-" "-" 73 "r@file" "-" 0ms"#,
        r#"gw traefik[1]: 192.0.2.12 - bob [18/Nov/2018:21:34:36 +0000] "GET / HTTP/1.1" 401 17 "-" "-" 74 "r@file" "-" 0ms"#,
        r#"192.0.2.13 - bob [18/Nov/2018:21:34:37 +0000] "GET /\x22 401 HTTP/1.1" 200 17 "-" "-" 75 "r@file" "-" 0ms"#,
    ];
    assert_eq!(
        run_lines("traefik-auth", None, &lines),
        vec![
            r(1, "192.0.2.10", "traefik-auth-wrong-password"),
            r(3, "192.0.2.12", "traefik-auth-wrong-password-text"),
        ]
    );
    assert_eq!(
        run_lines("traefik-auth", Some("ddos"), &lines),
        vec![r(2, "192.0.2.11", "traefik-auth-no-credentials")]
    );
    assert_eq!(
        run_lines("traefik-auth", Some("aggressive"), &lines),
        vec![
            r(1, "192.0.2.10", "traefik-auth-wrong-password"),
            r(2, "192.0.2.11", "traefik-auth-no-credentials"),
            r(3, "192.0.2.12", "traefik-auth-wrong-password-text"),
        ]
    );
}

#[test]
fn gitlab_user_names_never_supply_the_address() {
    let got = run_lines(
        "gitlab",
        None,
        &[
            "2020-04-09T14:04:00.667Z: Failed Login: username=a ip=198.51.100.1 ip=192.0.2.10",
            "2020-04-09T14:04:01.667Z: Failed Login: username=ip=198.51.100.2 ip=2001:DB8::B",
            // The real address is bogus: the forged one is not taken instead.
            "2020-04-09T14:04:02.667Z: Failed Login: username=a ip=198.51.100.3 ip=999.1.1.1",
        ],
    );
    assert_eq!(
        got,
        vec![
            r(1, "192.0.2.10", "gitlab-failed-login"),
            r(2, "2001:db8::b", "gitlab-failed-login"),
        ]
    );
}

#[test]
fn grafana_quoted_user_names_never_supply_the_address() {
    let got = run_lines(
        "grafana",
        None,
        &[
            r#"t=2020-10-19T17:44:33+0200 lvl=eror msg="Invalid username or password" logger=context userId=0 orgId=0 uname="a remote_addr=198.51.100.1" error="User not found" remote_addr=192.0.2.10"#,
            // The forgery at the end, inside a quoted value: nothing.
            r#"t=2020-10-19T17:44:34+0200 lvl=eror msg="Invalid username or password" logger=context userId=0 orgId=0 uname="a\" remote_addr=198.51.100.2""#,
            r#"logger=context userId=0 orgId=0 uname="a\" msg=\"Invalid username or password\" remote_addr=198.51.100.3" t=2023-02-03T10:15:01.2+01:00 level=info msg="Successful Login" remote_addr=192.0.2.11"#,
            r#"logger=context userId=0 orgId=0 uname=b t=2023-02-03T10:15:02.2+01:00 level=error msg="Invalid username or password" error="user not found" remote_addr=::ffff:192.0.2.12 traceID="#,
        ],
    );
    assert_eq!(
        got,
        vec![
            r(1, "192.0.2.10", "grafana-invalid-login"),
            r(4, "192.0.2.12", "grafana-invalid-login"),
        ]
    );
}

#[test]
fn bitwarden_takes_only_the_final_address() {
    let got = run_lines(
        "bitwarden",
        None,
        &[
            "2019-11-26 01:04:49.008 +08:00 [WRN] Failed login attempt. 192.0.2.10",
            "2019-11-26 01:04:50.008 +08:00 [WRN] Failed login attempt, 2FA invalid. 2001:DB8::1",
            "2019-11-26 01:04:51.008 +08:00 [WRN] Failed login attempt. 198.51.100.1, 192.0.2.11",
            "2019-11-26 01:04:52.008 +08:00 [WRN] Failed login attempt. 1.2.3",
        ],
    );
    assert_eq!(
        got,
        vec![
            r(1, "192.0.2.10", "bitwarden-failed-login"),
            r(2, "2001:db8::1", "bitwarden-failed-login"),
        ]
    );
}

#[test]
fn every_set_bans_in_the_web_group() {
    // (Descriptions of every built-in set and rule: fail2ban::builtin's tests.)
    for set in SETS {
        let groups = rule_groups(set);
        assert!(!groups.is_empty(), "{set} has no rules");
        assert!(groups.values().all(|g| g == "web"), "{set}: {groups:?}");
    }
}
