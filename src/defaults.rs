//! The built-in default pipeline: what `logbus run` protects when there is
//! no `/etc/logbus/logbus.yml`. It looks at the machine: which logs exist
//! (the journal, else auth.log or secure; mail.log; nginx and Apache logs;
//! kernel firewall lines; Exim, Asterisk, MySQL/MariaDB and Roundcube logs)
//! and which firewall works (nftables, else ipset with iptables, else a dry
//! run with a loud warning).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The configuration file `logbus run` uses when given none.
pub const SYSTEM_CONFIG: &str = "/etc/logbus/logbus.yml";

/// Environment variable that moves every path the default looks at under
/// another root (`ROOT/var/log/auth.log`, `ROOT/etc/logbus/logbus.yml`,
/// the journal in `ROOT/var/log/journal`): for trying the default against
/// a copy of another machine's logs, and for the tests.
pub const ROOT_ENV: &str = "LOGBUS_DEFAULT_ROOT";

/// Services that write a log of their own, read line by line by their
/// rule set: (rule set, input name, where the log may be).
const SERVICE_LOGS: &[(&str, &str, &[&str])] = &[
    (
        "exim",
        "exim",
        &[
            "/var/log/exim4/mainlog",
            "/var/log/exim/main.log",
            "/var/log/exim/mainlog",
        ],
    ),
    (
        "asterisk",
        "asterisk",
        &[
            "/var/log/asterisk/messages",
            "/var/log/asterisk/messages.log",
        ],
    ),
    (
        "mysqld-auth",
        "mysql",
        &[
            "/var/log/mysql/error.log",
            "/var/log/mysqld.log",
            "/var/log/mariadb/mariadb.log",
        ],
    ),
    (
        "roundcube-auth",
        "roundcube",
        &["/var/log/roundcube/errors.log", "/var/log/roundcube/errors"],
    ),
];

/// One service found by its log: (rule set, input name, log files).
pub type ServiceLog = (&'static str, &'static str, Vec<PathBuf>);

/// What the default pipeline found on this machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// The journal has entries and journalctl can read it.
    pub journal: bool,
    /// sshd's log file when the journal is not used.
    pub auth_log: Option<PathBuf>,
    /// The kernel log file (firewall lines) when the journal is not used.
    pub kernel_log: Option<PathBuf>,
    /// The mail log file.
    pub mail_log: Option<PathBuf>,
    /// Web access logs.
    pub access_logs: Vec<PathBuf>,
    /// nginx error logs.
    pub nginx_error_logs: Vec<PathBuf>,
    /// Apache error logs.
    pub apache_error_logs: Vec<PathBuf>,
    /// Services with a log of their own (Exim, Asterisk, ...).
    pub service_logs: Vec<ServiceLog>,
    /// The firewall backend that works (`nftables`, `ipset`, or `dry-run`).
    pub backend: &'static str,
    /// The journal directory to read (under a non-system root).
    pub journal_directory: Option<PathBuf>,
    /// The auth log waited for when neither the journal nor a log exists.
    pub default_auth_log: PathBuf,
}

/// Where the default looks.
#[derive(Debug, Clone)]
pub struct Machine {
    root: PathBuf,
}

impl Machine {
    /// This machine, or the root named by [`ROOT_ENV`].
    pub fn from_env() -> Self {
        Self {
            root: std::env::var_os(ROOT_ENV).map_or_else(|| PathBuf::from("/"), PathBuf::from),
        }
    }

    /// A machine whose files live under `root`.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn is_system(&self) -> bool {
        self.root == Path::new("/")
    }

    /// `path` (absolute) under the root.
    pub fn path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// The configuration file to use, when it exists.
    pub fn config_file(&self) -> Option<PathBuf> {
        let p = self.path(SYSTEM_CONFIG);
        p.is_file().then_some(p)
    }

    fn first_existing(&self, candidates: &[&str]) -> Option<PathBuf> {
        candidates
            .iter()
            .map(|c| self.path(c))
            .find(|p| p.is_file())
    }

    fn all_existing(&self, candidates: &[&str]) -> Vec<PathBuf> {
        candidates
            .iter()
            .map(|c| self.path(c))
            .filter(|p| p.is_file())
            .collect()
    }

    /// Looks at the machine.
    pub fn probe(&self) -> Findings {
        let journal_directory = (!self.is_system()).then(|| self.path("/var/log/journal"));
        let journal = journal_has_entries(journal_directory.as_deref());
        let (auth_log, kernel_log) = if journal {
            (None, None)
        } else {
            (
                self.first_existing(&["/var/log/auth.log", "/var/log/secure"]),
                self.first_existing(&["/var/log/kern.log", "/var/log/messages"]),
            )
        };
        Findings {
            journal,
            journal_directory: journal_directory.filter(|_| journal),
            auth_log,
            kernel_log,
            mail_log: self.first_existing(&["/var/log/mail.log", "/var/log/maillog"]),
            access_logs: self.all_existing(&[
                "/var/log/nginx/access.log",
                "/var/log/apache2/access.log",
                "/var/log/httpd/access_log",
            ]),
            nginx_error_logs: self.all_existing(&["/var/log/nginx/error.log"]),
            apache_error_logs: self
                .all_existing(&["/var/log/apache2/error.log", "/var/log/httpd/error_log"]),
            service_logs: SERVICE_LOGS
                .iter()
                .map(|(set, name, paths)| (*set, *name, self.all_existing(paths)))
                .filter(|(_, _, found)| !found.is_empty())
                .collect(),
            backend: working_backend(),
            default_auth_log: self.path("/var/log/auth.log"),
        }
    }
}

/// True when `program args...` runs and exits 0 (quietly).
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The journal is worth reading: journalctl runs and shows an entry.
fn journal_has_entries(directory: Option<&Path>) -> bool {
    let mut cmd = Command::new("journalctl");
    cmd.args(["--quiet", "--lines=1", "--output=cat", "--no-pager"]);
    if let Some(d) = directory {
        cmd.arg(format!("--directory={}", d.display()));
    }
    cmd.stdin(Stdio::null()).stderr(Stdio::null());
    cmd.output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}

/// nftables when `nft` can list the ruleset, else ipset when both ipset
/// and iptables work, else a dry run.
fn working_backend() -> &'static str {
    if runs("nft", &["list", "tables"]) {
        "nftables"
    } else if runs("ipset", &["list", "-n"]) && runs("iptables", &["-S", "INPUT"]) {
        "ipset"
    } else {
        "dry-run"
    }
}

/// The pipeline for what was found, as YAML, and the warnings to print.
pub fn pipeline(f: &Findings) -> (String, Vec<String>) {
    let mut warnings = Vec::new();
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# The built-in default pipeline of logbus, made for this machine."
    );
    let _ = writeln!(y, "# Save it as /etc/logbus/logbus.yml to change it.");
    let _ = writeln!(y, "state_path: /var/lib/logbus/state.db");
    let _ = writeln!(y, "control_socket: /run/logbus/control.sock");
    let _ = writeln!(y, "pipeline:");
    let mut syslog_inputs: Vec<&str> = Vec::new();
    let mut fail2ban_reads: Vec<&str> = Vec::new();
    let mut rules: Vec<&str> = Vec::new();
    if f.journal {
        let _ = writeln!(y, "  journal:");
        let _ = writeln!(y, "    module: journal");
        if let Some(d) = &f.journal_directory {
            let _ = writeln!(y, "    directory: {}", quote(d));
        }
        fail2ban_reads.push("journal");
        rules.extend(["sshd", "iptables"]);
        if f.mail_log.is_none() {
            rules.extend(["postfix", "dovecot"]);
        }
    } else {
        let auth = f.auth_log.clone().unwrap_or_else(|| {
            warnings.push(format!(
                "no journal and no auth.log or secure yet: waiting for {}",
                f.default_auth_log.display()
            ));
            f.default_auth_log.clone()
        });
        tail(&mut y, "auth", &[&auth]);
        syslog_inputs.push("auth");
        rules.push("sshd");
        if let Some(p) = &f.kernel_log {
            tail(&mut y, "kernel", &[p]);
            syslog_inputs.push("kernel");
            rules.push("iptables");
        }
    }
    if let Some(p) = &f.mail_log {
        tail(&mut y, "mail", &[p]);
        syslog_inputs.push("mail");
        rules.extend(["postfix", "dovecot"]);
    }
    if !syslog_inputs.is_empty() {
        let _ = writeln!(y, "  syslog:");
        let _ = writeln!(y, "    module: parse-syslog");
        let _ = writeln!(y, "    inChannels: [{}]", syslog_inputs.join(", "));
        fail2ban_reads.push("syslog");
    }
    if !f.access_logs.is_empty() {
        let paths: Vec<&PathBuf> = f.access_logs.iter().collect();
        tail(&mut y, "access", &paths);
        let _ = writeln!(y, "  web:");
        let _ = writeln!(y, "    module: parse-access-log");
        let _ = writeln!(y, "    inChannels: [access]");
        fail2ban_reads.push("web");
        rules.extend(["web-scanners", "nginx-botsearch"]);
    }
    let errors: Vec<&PathBuf> = f
        .nginx_error_logs
        .iter()
        .chain(&f.apache_error_logs)
        .collect();
    if !errors.is_empty() {
        tail(&mut y, "web-errors", &errors);
        fail2ban_reads.push("web-errors");
        if !f.nginx_error_logs.is_empty() {
            rules.push("nginx-http-auth");
        }
        if !f.apache_error_logs.is_empty() {
            rules.extend(["apache-auth", "apache-noscript", "apache-overflows"]);
        }
    }
    for (set, name, paths) in &f.service_logs {
        let paths: Vec<&PathBuf> = paths.iter().collect();
        tail(&mut y, name, &paths);
        fail2ban_reads.push(name);
        rules.push(set);
    }
    rules.dedup();
    let _ = writeln!(y, "  ban:");
    let _ = writeln!(y, "    module: fail2ban");
    let _ = writeln!(y, "    inChannels: [{}]", fail2ban_reads.join(", "));
    let _ = writeln!(y, "    rules: [{}]", rules.join(", "));
    let _ = writeln!(y, "    groups:");
    let _ = writeln!(
        y,
        "      ssh: {{limit: 5, window: 10m, bantime: 1h, ports: [22]}}"
    );
    let _ = writeln!(
        y,
        "      web: {{limit: 5, window: 10m, bantime: 1h, ports: [80, 443]}}"
    );
    let _ = writeln!(
        y,
        "      mail: {{limit: 5, window: 10m, bantime: 1h, ports: [25, 465, 587, 110, 143, 993, 995]}}"
    );
    let _ = writeln!(y, "      iptables: {{limit: 10, window: 10m, bantime: 1h}}");
    if rules.contains(&"asterisk") {
        let _ = writeln!(
            y,
            "      voip: {{limit: 5, window: 10m, bantime: 1h, ports: [5060, 5061]}}"
        );
    }
    if rules.contains(&"mysqld-auth") {
        let _ = writeln!(
            y,
            "      db: {{limit: 5, window: 10m, bantime: 1h, ports: [3306]}}"
        );
    }
    let _ = writeln!(y, "    escalation: {{factor: 2, window: 1d, max: 1w}}");
    match f.backend {
        "dry-run" => {
            warnings.push(
                "NO FIREWALL: neither nft nor ipset/iptables works here; logbus runs in dry-run \
                 mode and bans NOTHING (install nftables, or run as root)"
                    .into(),
            );
            let _ = writeln!(y, "    backend: {{type: dry-run}}");
        }
        b => {
            let _ = writeln!(y, "    backend: {{type: {b}, manage_rules: true}}");
        }
    }
    let _ = writeln!(y, "    bansChannel: bans");
    let _ = writeln!(y, "  show-bans:");
    let _ = writeln!(y, "    module: log");
    let _ = writeln!(y, "    inChannels: [bans]");
    (y, warnings)
}

fn tail(y: &mut String, name: &str, paths: &[&PathBuf]) {
    let list: Vec<String> = paths.iter().map(|p| quote(p)).collect();
    let _ = writeln!(y, "  {name}:");
    let _ = writeln!(y, "    module: tail");
    let _ = writeln!(y, "    paths: [{}]", list.join(", "));
}

/// A path as a YAML double-quoted string.
fn quote(p: &Path) -> String {
    serde_json::to_string(&p.display().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings() -> Findings {
        Findings {
            backend: "nftables",
            ..Findings::default()
        }
    }

    #[test]
    fn journal_machine() {
        let f = Findings {
            journal: true,
            ..findings()
        };
        let (y, w) = pipeline(&f);
        assert!(w.is_empty(), "{w:?}");
        assert!(y.contains("module: journal"), "{y}");
        assert!(
            y.contains("rules: [sshd, iptables, postfix, dovecot]"),
            "{y}"
        );
        assert!(
            y.contains("backend: {type: nftables, manage_rules: true}"),
            "{y}"
        );
        assert!(!y.contains("parse-syslog"), "{y}");
    }

    #[test]
    fn file_machine_with_web_and_mail() {
        let f = Findings {
            auth_log: Some("/var/log/secure".into()),
            mail_log: Some("/var/log/mail.log".into()),
            access_logs: vec!["/var/log/nginx/access.log".into()],
            nginx_error_logs: vec!["/var/log/nginx/error.log".into()],
            backend: "dry-run",
            ..findings()
        };
        let (y, w) = pipeline(&f);
        assert!(y.contains("paths: [\"/var/log/secure\"]"), "{y}");
        assert!(y.contains("inChannels: [auth, mail]"), "{y}");
        assert!(
            y.contains(
                "rules: [sshd, postfix, dovecot, web-scanners, nginx-botsearch, nginx-http-auth]"
            ),
            "{y}"
        );
        assert!(y.contains("inChannels: [syslog, web, web-errors]"), "{y}");
        assert!(y.contains("backend: {type: dry-run}"));
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("NO FIREWALL"), "{w:?}");
    }

    #[test]
    fn services_with_their_own_logs() {
        let f = Findings {
            journal: true,
            service_logs: vec![
                ("exim", "exim", vec!["/var/log/exim4/mainlog".into()]),
                (
                    "asterisk",
                    "asterisk",
                    vec!["/var/log/asterisk/messages".into()],
                ),
                (
                    "mysqld-auth",
                    "mysql",
                    vec!["/var/log/mysql/error.log".into()],
                ),
            ],
            ..findings()
        };
        let (y, w) = pipeline(&f);
        assert!(w.is_empty(), "{w:?}");
        assert!(
            y.contains(
                "  asterisk:\n    module: tail\n    paths: [\"/var/log/asterisk/messages\"]"
            ),
            "{y}"
        );
        assert!(
            y.contains("inChannels: [journal, exim, asterisk, mysql]"),
            "{y}"
        );
        assert!(
            y.contains("rules: [sshd, iptables, postfix, dovecot, exim, asterisk, mysqld-auth]"),
            "{y}"
        );
        assert!(
            y.contains("voip: {limit: 5, window: 10m, bantime: 1h, ports: [5060, 5061]}"),
            "{y}"
        );
        assert!(
            y.contains("db: {limit: 5, window: 10m, bantime: 1h, ports: [3306]}"),
            "{y}"
        );
        // Without those services, no groups for them.
        let (y, _) = pipeline(&findings());
        assert!(!y.contains("voip:") && !y.contains("db:"), "{y}");
    }

    #[test]
    fn nothing_found_waits_for_auth_log() {
        let f = Findings {
            default_auth_log: "/r/var/log/auth.log".into(),
            ..findings()
        };
        let (y, w) = pipeline(&f);
        assert!(y.contains("paths: [\"/r/var/log/auth.log\"]"), "{y}");
        assert!(y.contains("rules: [sshd]"), "{y}");
        assert_eq!(
            w,
            ["no journal and no auth.log or secure yet: waiting for /r/var/log/auth.log"]
        );
    }

    #[test]
    fn paths_are_quoted() {
        assert_eq!(quote(Path::new("/a b/\"c\"")), "\"/a b/\\\"c\\\"\"");
    }
}
