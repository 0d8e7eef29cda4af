//! `logbus import-fail2ban`: the real configuration Debian's fail2ban
//! package installs (with a jail.local fixture), the awkward cases, and
//! errors. The generated YAML is parsed and compared value by value; the
//! diagnostics on stderr are compared line by line; `logbus check` must
//! accept the output.

mod common;

use std::path::PathBuf;

use common::{Outcome, Sandbox, check, path_str, repo_root, run_with};
use serde_json::{Value, json};

const PREFIX: &str = "logbus: import-fail2ban: ";

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/data/fail2ban-config").join(name)
}

fn import(args: &[&str]) -> Outcome {
    let mut all = vec!["import-fail2ban"];
    all.extend_from_slice(args);
    run_with(&all, &[], None)
}

/// The pipeline YAML as JSON values (comments dropped).
fn parse(yaml: &str) -> Value {
    serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("bad YAML ({e}):\n{yaml}"))
}

/// Stage names in the order the YAML writes them.
fn stage_order(yaml: &str) -> Vec<String> {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("YAML");
    doc["pipeline"]
        .as_mapping()
        .expect("pipeline mapping")
        .keys()
        .map(|k| k.as_str().expect("string key").to_string())
        .collect()
}

/// stderr lines without the prefix, the final summary line apart.
fn diagnostics(stderr: &str) -> (Vec<String>, String) {
    let mut lines: Vec<String> = stderr
        .lines()
        .map(|l| {
            l.strip_prefix(PREFIX)
                .unwrap_or_else(|| panic!("stderr line without prefix: {l:?}"))
                .to_string()
        })
        .collect();
    let summary = lines.pop().expect("a summary line");
    (lines, summary)
}

/// `logbus check` must accept the pipeline.
fn assert_checks(yaml: &str, what: &str) {
    let sb = Sandbox::new();
    let out = check(&sb.config(yaml));
    assert_eq!(
        out.code,
        Some(0),
        "logbus check refused {what}:\n{}\n{yaml}",
        out.stderr
    );
    assert!(out.stdout.contains(": ok ("), "{}", out.stdout);
}

#[test]
fn debian_package_configuration() {
    let dir = fixture("debian");
    let out = import(&[path_str(&dir)]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let doc = parse(&out.stdout);
    assert_eq!(doc["state_path"], "/var/lib/logbus/state.db");
    assert_eq!(doc["control_socket"], "/run/logbus/control.sock");
    let p = &doc["pipeline"];
    // sshd (enabled by jail.d/defaults-debian.conf) reads %(sshd_log)s =
    // /var/log/auth.log from paths-common.conf; postfix reads
    // %(postfix_log)s = /var/log/mail.log from paths-debian.conf; both are
    // syslog files. nginx-http-auth reads the nginx error logs as text.
    assert_eq!(
        p["syslog-logs"],
        json!({"module": "tail", "paths": ["/var/log/auth.log", "/var/log/mail.log"]})
    );
    assert_eq!(
        p["syslog"],
        json!({"module": "parse-syslog", "inChannels": ["syslog-logs"]})
    );
    assert_eq!(
        p["text-logs"],
        json!({"module": "tail", "paths": ["/var/log/nginx/*error.log"]})
    );
    assert_eq!(
        p["fail2ban"],
        json!({
            "module": "fail2ban",
            "inChannels": ["syslog", "text-logs"],
            "rules": ["sshd", "nginx-http-auth", "postfix:aggressive"],
            "allow": ["127.0.0.1/8", "::1", "192.0.2.0/24", "2001:db8::/32"],
            "groups": {
                "mail": {"limit": 5, "window": "30m", "bantime": "2h", "ports": [25, 465, 587]},
                "ssh": {"limit": 3, "window": "30m", "bantime": "1h", "ports": [22]},
                "web": {"limit": 5, "window": "30m", "bantime": "1h", "ports": [80, 443]}
            },
            // bantime.increment with maxtime 1w; fail2ban.conf's dbpurgeage 1d.
            "escalation": {"factor": 2, "window": "1d", "max": "1w"},
            "backend": {"type": "nftables", "manage_rules": true, "protocols": ["tcp"]},
            "bansChannel": "bans"
        })
    );
    assert_eq!(
        p["show-bans"],
        json!({"module": "log", "inChannels": ["bans"]})
    );
    assert_eq!(
        stage_order(&out.stdout),
        [
            "syslog-logs",
            "syslog",
            "text-logs",
            "fail2ban",
            "show-bans"
        ]
    );

    let (diags, summary) = diagnostics(&out.stderr);
    assert_eq!(
        diags,
        [
            "not translated: [sshd, nginx-http-auth, postfix] ignoreip: `office.example.org` is a host name: logbus never resolves names; add its addresses to `allow`",
            "note: escalation: logbus counts an address's earlier bans in every group (fail2ban's bantime.overalljails = true); fail2ban counted them per jail",
            "note: [recidive] not imported: escalation from bantime.increment already lengthens the bans of repeat offenders",
            "note: backend: `nftables` with manage_rules (logbus creates its sets and drop rules), from [sshd] nftables-multiport; [postfix] nftables-multiport; the other jails' firewalls ([nginx-http-auth] iptables-ipset-proto6) are not used: one backend serves the stage",
        ]
    );
    assert_eq!(
        summary,
        "imported 3 jail(s): sshd, nginx-http-auth, postfix"
    );
    // The YAML carries the same list as comments, and which files it read.
    assert!(
        out.stdout
            .starts_with("# logbus pipeline written by `logbus import-fail2ban ")
    );
    assert!(out.stdout.contains(
        "# from: paths-common.conf, paths-debian.conf, jail.conf, jail.d/defaults-debian.conf, jail.local\n"
    ));
    assert!(
        out.stdout
            .contains("#   postfix -> postfix:aggressive -> mail\n")
    );
    for d in &diags {
        assert!(out.stdout.contains(&format!("#   {d}\n")), "{d}");
    }
    // dovecot (enabled = false) and the jails jail.conf leaves disabled are
    // not there.
    assert!(!out.stdout.contains("dovecot"));

    assert_checks(&out.stdout, "the Debian import (tail inputs)");
}

#[test]
fn debian_with_file_inputs_passes_check() {
    let out = import(&["--input", "file", path_str(&fixture("debian"))]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let p = parse(&out.stdout)["pipeline"].clone();
    assert_eq!(
        p["syslog-logs"],
        json!({"module": "file", "paths": ["/var/log/auth.log", "/var/log/mail.log"]})
    );
    assert_eq!(
        p["text-logs"],
        json!({"module": "file", "paths": ["/var/log/nginx/*error.log"]})
    );
    assert_checks(&out.stdout, "the Debian import with --input file");
}

#[test]
fn dry_run_keeps_the_firewall_out() {
    let out = import(&["--dry-run", "--input", "file", path_str(&fixture("debian"))]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let doc = parse(&out.stdout);
    assert_eq!(
        doc["pipeline"]["fail2ban"]["backend"],
        json!({"type": "dry-run"})
    );
    assert!(doc.get("state_path").is_none() && doc.get("control_socket").is_none());
    let (diags, _) = diagnostics(&out.stderr);
    assert!(diags.contains(&"note: backend: dry-run as asked; the ban actions would give `nftables` ([sshd] nftables-multiport; [postfix] nftables-multiport); the other jails' firewalls ([nginx-http-auth] iptables-ipset-proto6) are not used: one backend serves the stage".to_string()), "{diags:#?}");
    assert_checks(&out.stdout, "the Debian import with --dry-run");
}

#[test]
fn awkward_cases() {
    let out = import(&[path_str(&fixture("awkward"))]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let doc = parse(&out.stdout);
    let p = &doc["pipeline"];
    assert_eq!(
        p,
        &json!({
            // postfix and postfix-sasl share mail.log: read once.
            "syslog-logs": {"module": "tail", "paths": ["/var/log/mail.log"]},
            "syslog": {"module": "parse-syslog", "inChannels": ["syslog-logs"]},
            // The glob covers the two paths written on one line.
            "access-logs": {"module": "tail", "paths": ["/srv/www/*/access.log"]},
            "access": {"module": "parse-access-log", "inChannels": ["access-logs"]},
            // %(ftp_log)s -> %(ftp_dir)s -> %(log_root)s, which jail.local's
            // [DEFAULT] changed after paths.conf set it.
            "text-logs": {"module": "tail", "paths": ["/data/log/vsftpd.log"]},
            // `head`: from the start.
            "text-logs-from-start": {"module": "tail", "paths": ["/var/log/nginx/error.log"], "start_at": "beginning"},
            // sshd: filter.d/sshd.conf's journalmatch; dropbear: the jail's.
            "journal": {"module": "journal", "matches": [
                "_SYSTEMD_UNIT=sshd.service", "+", "_COMM=sshd", "+", "_COMM=dropbear"
            ]},
            "fail2ban": {
                "module": "fail2ban",
                "inChannels": ["syslog", "access", "text-logs", "text-logs-from-start", "journal"],
                "rules": ["sshd", "nginx-botsearch", "vsftpd", "dropbear", "postfix:auth"],
                "allow": ["127.0.0.1/8", "10.0.0.0/8"],
                "groups": {
                    "ftp": {"limit": 4, "window": "10m", "bantime": "10m", "ports": [20, 21, 989, 990]},
                    "mail": {"limit": 4, "window": "10m", "bantime": "10m", "ports": [25, 587]},
                    // maxretry: jail.d/10-extra.conf 9 < jail.local 2 <
                    // jail.d/50-override.local 3 (jail.d/.hidden.local is
                    // not read); dropbear's port %(known/port)s,2222.
                    "ssh": {"limit": 3, "window": "10m", "bantime": "10m", "ports": [22, 2222]},
                    "web": {"limit": 4, "window": "5m", "bantime": "10m", "ports": [80, 443, 8080, 8081]}
                },
                "escalation": {"factor": 2, "window": "1d", "max": "2h40m"},
                "backend": {"type": "ipset", "manage_rules": true, "protocols": ["tcp"]},
                "bansChannel": "bans"
            },
            "show-bans": {"module": "log", "inChannels": ["bans"]}
        })
    );
    let (diags, summary) = diagnostics(&out.stderr);
    let jails = "[sshd, web, ftp, dropbear, postfix-sasl, postfix]";
    assert_eq!(
        diags,
        [
            format!("not translated: {jails} ignoreip: `gw.example.net` is a host name: logbus never resolves names; add its addresses to `allow`"),
            format!("not translated: {jails} ignoreip: `file:/etc/fail2ban/ignore.list`: address lists read from files are not imported; copy the addresses into `allow`"),
            format!(
                "jail not imported: [myapp] filter: `myapp` has no logbus rule set (built-in sets: {}); write rules for it (README \"Writing rules\") and add the file to `rules:`",
                logbus::fail2ban::builtin::names().join(", ")
            ),
            "note: [web] logpath: `/srv/www/shop/access.log /srv/www/blog/access.log`: fail2ban reads one path per line (the last word is taken for head/tail); each word is imported as a path".into(),
            "not translated: [web] usedns: `yes`: logbus never resolves host names found in logs (as usedns = no)".into(),
            "not translated: [ftp] action: `sendmail-whois` (mail, report or notification) is not imported: logbus sends ban decisions to `bansChannel`, logged by the `show-bans` stage".into(),
            "not translated: [ftp] action: `cloudflare`: logbus has no backend that does what this action does; the jail's bans go to the pipeline's backend".into(),
            "not translated: [ftp] port: `nosuchservice` is not a port number or a known service name".into(),
            "jail not imported: [badref] `logpath`: `%(nowhere_log)s` is not defined in [badref] or [DEFAULT] (fail2ban refuses this jail too)".into(),
            "note: rules: jails share the rule set `postfix` in different modes ([postfix-sasl] auth, [postfix] rbl); a set runs once, in mode `auth`; rules of the other modes left out: postfix-rbl".into(),
            "note: groups.mail: jails [postfix-sasl], [postfix] count in one group `mail` (their rule sets' group); their settings differ (maxretry [postfix-sasl] 4, [postfix] 1): the group takes [postfix-sasl]'s (limit 4, window 10m, bantime 10m) and the ports of all".into(),
            "note: groups.ssh: jails [sshd], [dropbear] count in one group `ssh` (their rule sets' group); their settings differ (maxretry [sshd] 3, [dropbear] 6; bantime [sshd] 10m, [dropbear] forever): the group takes [sshd]'s (limit 3, window 10m, bantime 10m) and the ports of all".into(),
            "note: inputs: `/srv/www/shop/access.log` is left out: `/srv/www/*/access.log` covers it (it would be read twice)".into(),
            "note: inputs: `/srv/www/blog/access.log` is left out: `/srv/www/*/access.log` covers it (it would be read twice)".into(),
            "note: escalation: bantime.multipliers `1 2 4 8 16`: factor 2, at most 16 x [sshd]'s bantime 10m = 2h40m".into(),
            "note: backend: `ipset` with manage_rules (logbus creates its sets and drop rules), from [sshd] iptables-multiport; [web] iptables-multiport; [dropbear] iptables-multiport; [postfix-sasl] iptables-multiport; [postfix] iptables-multiport".into(),
        ]
    );
    assert_eq!(
        summary,
        "imported 6 jail(s): sshd, web, ftp, dropbear, postfix-sasl, postfix; 2 enabled jail(s) not imported"
    );
    // Disabled jails are left out, even when their filter exists.
    assert!(!out.stdout.contains("old-jail") && !out.stdout.contains("/var/log/old.log"));
    // The missing include (extra.conf) is skipped, as fail2ban skips it.
    assert!(out.stdout.contains("# from: paths.conf, jail.conf, jail.d/10-extra.conf, jail.local, jail.d/50-override.local\n"));

    assert_checks(&out.stdout, "the awkward import (tail and journal inputs)");
}

#[test]
fn awkward_with_file_inputs_reads_from_the_start() {
    let out = import(&["--input", "file", path_str(&fixture("awkward"))]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let p = parse(&out.stdout)["pipeline"].clone();
    // One file stage per parser: `head` means nothing when reading once.
    assert_eq!(
        p["text-logs"],
        json!({"module": "file", "paths": ["/var/log/nginx/error.log", "/data/log/vsftpd.log"]})
    );
    assert!(p.get("text-logs-from-start").is_none());
    assert_checks(
        &out.stdout,
        "the awkward import with --input file (journal input)",
    );
}

#[test]
fn syntax_error_names_the_file_and_line() {
    let dir = fixture("broken");
    let out = import(&[path_str(&dir)]);
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "logbus: import-fail2ban: {}:6: expected `name = value`, a [section] header or a comment, found `this line is neither an option nor a section`\n",
            dir.join("jail.local").display()
        )
    );
}

/// A fail2ban directory in a sandbox.
fn config_dir(files: &[(&str, &str)]) -> Sandbox {
    let sb = Sandbox::new();
    for (name, text) in files {
        sb.write(&format!("f2b/{name}"), text);
    }
    sb
}

fn f2b(sb: &Sandbox) -> PathBuf {
    sb.path("f2b")
}

#[test]
fn nothing_enabled_is_an_error() {
    let sb = config_dir(&[(
        "jail.conf",
        "[DEFAULT]\nenabled = false\n[sshd]\nlogpath = /var/log/auth.log\n",
    )]);
    let out = import(&[path_str(&f2b(&sb))]);
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "logbus: import-fail2ban: no jail is enabled (`enabled = true`): nothing to import\n"
    );
}

#[test]
fn only_untranslatable_jails_is_an_error_with_the_reasons() {
    let sb = config_dir(&[(
        "jail.local",
        "[DEFAULT]\nfilter = %(__name__)s\n\n[myapp]\nenabled = true\nlogpath = /var/log/myapp.log\n\n[recidive]\nenabled = true\nlogpath = /var/log/fail2ban.log\n",
    )]);
    let out = import(&[path_str(&f2b(&sb))]);
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stdout, "");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stderr);
    assert!(
        lines[0].starts_with("logbus: import-fail2ban: jail not imported: [myapp] filter: `myapp` has no logbus rule set"),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        "logbus: import-fail2ban: jail not imported: [recidive] recidive only lengthens the bans of other jails, and none is imported"
    );
    assert_eq!(
        lines[2],
        "logbus: import-fail2ban: none of the enabled jails (myapp, recidive) could be imported"
    );
}

#[test]
fn not_a_fail2ban_directory() {
    let sb = Sandbox::new();
    let out = import(&[path_str(&sb.path("missing"))]);
    assert_eq!(out.code, Some(1));
    assert_eq!(
        out.stderr,
        format!(
            "logbus: import-fail2ban: {}: not a directory\n",
            sb.path("missing").display()
        )
    );
    let out = import(&[path_str(sb.dir())]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("no jail.conf or jail.local"),
        "{}",
        out.stderr
    );
}

#[test]
fn default_directory_is_etc_fail2ban() {
    // Whatever this machine has there, the command reads /etc/fail2ban.
    let out = import(&[]);
    assert!(
        out.stdout.contains("import-fail2ban /etc/fail2ban")
            || out.stderr.contains("/etc/fail2ban")
            || out.stderr.contains("nothing to import")
            || out.stderr.contains("could be imported"),
        "stdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn recidive_alone_becomes_escalation_and_journal_jails_without_filter_files() {
    let sb = config_dir(&[
        (
            "jail.conf",
            "[DEFAULT]\nfilter = %(__name__)s[mode=%(mode)s]\nmode = normal\nbanaction = nftables-allports\naction = %(banaction)s[port=\"%(port)s\"]\n\n[sshd]\nport = ssh\nlogpath = /var/log/auth.log\n\n[recidive]\nlogpath = /var/log/fail2ban.log\nbantime = 1w\nfindtime = 1d\n",
        ),
        (
            "jail.local",
            "[sshd]\nenabled = true\nbackend = systemd[journalpath=/var/log/journal/remote]\nfilter = sshd[mode=extra]\n\n[recidive]\nenabled = true\n",
        ),
    ]);
    let out = import(&[path_str(&f2b(&sb))]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let p = parse(&out.stdout)["pipeline"].clone();
    assert_eq!(
        p["journal"],
        json!({"module": "journal", "directory": "/var/log/journal/remote"})
    );
    assert_eq!(p["fail2ban"]["rules"], json!(["sshd:extra"]));
    assert_eq!(
        p["fail2ban"]["escalation"],
        json!({"factor": 2, "window": "1d", "max": "1w"})
    );
    // An allports action bans every port: no `ports`.
    assert_eq!(
        p["fail2ban"]["groups"]["ssh"],
        json!({"limit": 3, "window": "10m", "bantime": "10m"})
    );
    let (diags, _) = diagnostics(&out.stderr);
    assert_eq!(
        diags,
        [
            format!(
                "note: [sshd] journalmatch: no {}/filter.d/sshd.conf to take the filter's journalmatch from: the journal input reads every entry (the rule set's program names still apply)",
                f2b(&sb).display()
            ),
            "note: [recidive] becomes `escalation`: each earlier ban of an address within 1d doubles its ban time, up to 1w (fail2ban's recidive bans after maxretry bans, on every port; logbus keeps the group's ports)".into(),
            "note: backend: `nftables` with manage_rules (logbus creates its sets and drop rules), from [sshd] nftables-allports".into(),
        ]
    );
    assert_checks(&out.stdout, "a journal jail");
}

#[test]
fn environment_references_in_paths_stay_literal() {
    let sb = config_dir(&[(
        "jail.local",
        "[sshd]\nenabled = true\nfilter = sshd\nlogpath = /srv/${HOME}/sshd.log\n",
    )]);
    let out = import(&["--input", "file", path_str(&f2b(&sb))]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let path = sb.write("pipeline.yml", &out.stdout);
    let config = logbus::config::PipelineConfig::load(&path).expect("loads");
    let stage = config
        .stages
        .iter()
        .find(|s| s.name == "daemon-logs")
        .expect("a stage for a file of unknown format");
    let paths = stage.options.get("paths").expect("paths");
    assert_eq!(
        serde_yaml_ng::from_value::<Vec<String>>(paths.clone()).expect("a list"),
        ["/srv/${HOME}/sshd.log"]
    );
    assert_checks(&out.stdout, "a path with `${`");
    // Not a syslog file by name: parse-syslog passes other lines on as text.
    let p = parse(&out.stdout)["pipeline"].clone();
    assert_eq!(
        p["daemon-syslog"],
        json!({"module": "parse-syslog", "inChannels": ["daemon-logs"], "keep_unparsed": true})
    );
}

#[test]
fn unknown_ban_action_only_gives_dry_run() {
    let sb = config_dir(&[(
        "jail.local",
        "[DEFAULT]\nfilter = %(__name__)s\nignoreip = 127.0.0.1/8 ::1\n\n[nginx-http-auth]\nenabled = true\nport = http,https\nlogpath = /var/log/nginx/error.log\naction = route[blocktype=blackhole]\n",
    )]);
    let out = import(&["--input", "file", path_str(&f2b(&sb))]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let doc = parse(&out.stdout);
    assert_eq!(
        doc["pipeline"]["fail2ban"]["backend"],
        json!({"type": "dry-run"})
    );
    let (diags, _) = diagnostics(&out.stderr);
    assert_eq!(
        diags,
        [
            "not translated: [nginx-http-auth] action: `route`: logbus has no backend that does what this action does; the jail's bans go to the pipeline's backend",
            "not translated: backend: no jail bans through a firewall logbus drives (iptables, ipset, nftables, firewalld, ufw): the backend is dry-run, bans are only logged; set backend.type",
        ]
    );
    assert_checks(&out.stdout, "a dry-run import");
}

/// fail2ban's own configuration reader (Debian's `fail2ban` package), run
/// on a directory: every section's interpolated options as JSON, an error
/// as `null`.
const FAIL2BAN_READER: &str = r#"
import json, sys
sys.path.insert(0, '/usr/lib/python3/dist-packages')
from fail2ban.client.configreader import ConfigReaderUnshared
d, opts = sys.argv[1], sys.argv[2].split(',')
c = ConfigReaderUnshared(basedir=d)
c.read('jail')
c.get_defaults().update({'fail2ban_version': '1.0.2', 'fail2ban_confpath': d})
out = {}
for sec in c.sections():
    if sec.startswith('KNOWN/') or sec == 'INCLUDES':
        continue
    vals = {}
    for o in opts:
        try:
            vals[o] = c.get(sec, o)
        except Exception:
            vals[o] = None
    out[sec] = vals
print(json.dumps(out))
"#;

/// Our reader gives every jail option the value fail2ban's own reader
/// gives: precedence, includes, `.local` files, continuation lines,
/// comments, `%(...)s` chains, `known/`, `default/`, `__name__`.
#[test]
fn values_agree_with_fail2ban_own_reader() {
    use logbus::fail2ban::import::ini::Config;
    let python = std::path::Path::new("/usr/bin/python3");
    let module =
        std::path::Path::new("/usr/lib/python3/dist-packages/fail2ban/client/configreader.py");
    if !python.is_file() || !module.is_file() {
        eprintln!("SKIPPED: fail2ban's own reader is not installed (Debian package `fail2ban`)");
        return;
    }
    let opts = [
        "enabled",
        "filter",
        "backend",
        "logpath",
        "maxretry",
        "findtime",
        "bantime",
        "port",
        "protocol",
        "action",
        "ignoreip",
        "journalmatch",
        "bantime.increment",
        "usedns",
    ];
    for name in ["debian", "awkward"] {
        let dir = fixture(name);
        let out = std::process::Command::new(python)
            .args(["-c", FAIL2BAN_READER, path_str(&dir), &opts.join(",")])
            .output()
            .expect("run python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let cfg = Config::load(
            &logbus::fail2ban::import::jail_files(&dir),
            &[
                ("fail2ban_version", "1.0.2".to_string()),
                ("fail2ban_confpath", path_str(&dir).to_string()),
            ],
        )
        .expect("our reader");
        let ours_sections: Vec<&String> =
            cfg.sections().iter().filter(|s| *s != "INCLUDES").collect();
        let their_sections: Vec<&String> = theirs.as_object().expect("object").keys().collect();
        let mut a = ours_sections.clone();
        a.sort();
        assert_eq!(a, their_sections, "{name}: sections");
        let mut compared = 0;
        for sec in ours_sections {
            for o in opts {
                let mine = cfg.get(sec, o).ok().flatten();
                let their = theirs[sec.as_str()][o].as_str().map(str::to_string);
                assert_eq!(mine, their, "{name}: [{sec}] {o}");
                compared += 1;
            }
        }
        assert!(compared > 100, "{name}: {compared} values compared");
    }
}
