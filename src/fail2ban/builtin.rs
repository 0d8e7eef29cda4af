//! The built-in rule sets, compiled into the binary. Each is a YAML file
//! under `builtin/`, named after the fail2ban filter it replaces.

/// (name, YAML) of every built-in set.
static SETS: &[(&str, &str)] = &[
    ("sshd", include_str!("builtin/sshd.yml")),
    ("dropbear", include_str!("builtin/dropbear.yml")),
    ("postfix", include_str!("builtin/postfix.yml")),
    ("dovecot", include_str!("builtin/dovecot.yml")),
    ("stalwart", include_str!("builtin/stalwart.yml")),
    (
        "nginx-http-auth",
        include_str!("builtin/nginx-http-auth.yml"),
    ),
    (
        "nginx-botsearch",
        include_str!("builtin/nginx-botsearch.yml"),
    ),
    ("apache-auth", include_str!("builtin/apache-auth.yml")),
    (
        "apache-noscript",
        include_str!("builtin/apache-noscript.yml"),
    ),
    (
        "apache-overflows",
        include_str!("builtin/apache-overflows.yml"),
    ),
    ("vsftpd", include_str!("builtin/vsftpd.yml")),
    ("proftpd", include_str!("builtin/proftpd.yml")),
    ("pure-ftpd", include_str!("builtin/pure-ftpd.yml")),
    ("iptables", include_str!("builtin/iptables.yml")),
    ("web-scanners", include_str!("builtin/web-scanners.yml")),
    ("asterisk", include_str!("builtin/asterisk.yml")),
    ("named-refused", include_str!("builtin/named-refused.yml")),
    ("mysqld-auth", include_str!("builtin/mysqld-auth.yml")),
    ("pam-generic", include_str!("builtin/pam-generic.yml")),
    ("selinux-ssh", include_str!("builtin/selinux-ssh.yml")),
    ("portsentry", include_str!("builtin/portsentry.yml")),
    ("recidive", include_str!("builtin/recidive.yml")),
    (
        "apache-botsearch",
        include_str!("builtin/apache-botsearch.yml"),
    ),
    ("apache-badbots", include_str!("builtin/apache-badbots.yml")),
    ("apache-nohome", include_str!("builtin/apache-nohome.yml")),
    (
        "apache-shellshock",
        include_str!("builtin/apache-shellshock.yml"),
    ),
    (
        "nginx-bad-request",
        include_str!("builtin/nginx-bad-request.yml"),
    ),
    (
        "nginx-limit-req",
        include_str!("builtin/nginx-limit-req.yml"),
    ),
    (
        "haproxy-http-auth",
        include_str!("builtin/haproxy-http-auth.yml"),
    ),
    ("traefik-auth", include_str!("builtin/traefik-auth.yml")),
    ("gitlab", include_str!("builtin/gitlab.yml")),
    ("grafana", include_str!("builtin/grafana.yml")),
    ("bitwarden", include_str!("builtin/bitwarden.yml")),
    ("exim", include_str!("builtin/exim.yml")),
    ("sendmail-auth", include_str!("builtin/sendmail-auth.yml")),
    (
        "sendmail-reject",
        include_str!("builtin/sendmail-reject.yml"),
    ),
    ("courier-smtp", include_str!("builtin/courier-smtp.yml")),
    ("roundcube-auth", include_str!("builtin/roundcube-auth.yml")),
];

/// Environment variable naming a directory whose `NAME.yml` files replace
/// the compiled-in sets: a development aid for editing rules without
/// rebuilding (`LOGBUS_BUILTIN_RULES_DIR=src/fail2ban/builtin`).
pub const OVERRIDE_DIR_ENV: &str = "LOGBUS_BUILTIN_RULES_DIR";

/// The YAML of a built-in set.
pub fn get(name: &str) -> Option<std::borrow::Cow<'static, str>> {
    let builtin = SETS.iter().find(|(n, _)| *n == name).map(|(_, y)| *y)?;
    if let Some(dir) = std::env::var_os(OVERRIDE_DIR_ENV)
        && let Ok(text) =
            std::fs::read_to_string(std::path::Path::new(&dir).join(format!("{name}.yml")))
    {
        return Some(std::borrow::Cow::Owned(text));
    }
    Some(std::borrow::Cow::Borrowed(builtin))
}

/// Names of the built-in sets.
pub fn names() -> Vec<&'static str> {
    SETS.iter().map(|(n, _)| *n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fail2ban::rules::RuleSetDef;

    #[test]
    fn every_set_and_rule_is_described() {
        for (name, yaml) in SETS {
            let def = RuleSetDef::from_yaml(yaml, name).unwrap_or_else(|e| panic!("{e}"));
            let described = |d: &Option<String>| d.as_deref().is_some_and(|d| !d.trim().is_empty());
            assert!(described(&def.description), "{name} has no description");
            for rule in &def.rules {
                assert!(
                    described(&rule.description),
                    "{name}: rule {} has no description",
                    rule.id
                );
            }
        }
    }

    #[test]
    fn every_builtin_compiles_in_every_mode() {
        for (name, yaml) in SETS {
            let def = RuleSetDef::from_yaml(yaml, name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&def.name, name, "a set's name must match its registry name");
            let mut modes: Vec<Option<String>> = vec![None];
            modes.extend(def.modes.iter().cloned().map(Some));
            for m in modes {
                def.clone()
                    .compile(m.as_deref(), name)
                    .unwrap_or_else(|e| panic!("{name} {m:?}: {e}"));
            }
        }
    }
}
