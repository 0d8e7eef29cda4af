//! `command`: runs a program for each ban and unban, for firewalls logbus
//! cannot reach in batches (a cloud security group, a CDN's API).
//!
//! ```yaml
//! backend:
//!   type: command
//!   ban: [/usr/local/bin/cf-ban, "{ip}", "{group}", "{bantime}"]
//!   unban: [/usr/local/bin/cf-unban, "{ip}", "{group}"]
//!   timeout: 10s
//! ```
//!
//! Placeholders are replaced inside each argv element; the argv goes to
//! `execve` as it is, never through a shell, so an address cannot become
//! shell syntax. `{ip}`, `{group}`, `{set}` (`{set_prefix}{group}`, with
//! `-v6` for IPv6) work in both; `{bantime}` (seconds left, `0` =
//! forever) only in `ban`; `{{` and `}}` are literal braces.
//!
//! One process per change is unavoidable here, so this backend suits a few
//! bans a minute, not a burst of thousands: use ipset or nftables for
//! those. The commands should be idempotent (banning a banned address,
//! unbanning an absent one must succeed), because a failed batch is
//! retried; changes of a failed batch that already succeeded are not run
//! again when the same batch comes back.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::dry_run::set_name;
use super::process;
use super::{Backend, BackendError, Change, canonical, run_failure};

/// Default `timeout` of one command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

const NAME: &str = "command";

/// Options of the command backend.
#[derive(Debug, Clone)]
pub struct CommandConfig {
    /// For `{set}`.
    pub prefix: String,
    /// Argv template run per ban.
    pub ban: Vec<String>,
    /// Argv template run per unban (none: unbans do nothing).
    pub unban: Option<Vec<String>>,
    /// Longest run of one command.
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Ip,
    Group,
    Set,
    Bantime,
}

/// A parsed argv template.
#[derive(Debug, Clone)]
struct Template {
    program: PathBuf,
    args: Vec<Vec<Piece>>,
}

/// Values for one change.
struct Values<'a> {
    ip: IpAddr,
    group: &'a str,
    set: String,
    bantime: String,
}

impl Template {
    fn parse(option: &str, argv: &[String], with_bantime: bool) -> Result<Self, String> {
        let Some((program, args)) = argv.split_first() else {
            return Err(format!(
                "`{option}` must name a program: [/path/to/program, \"{{ip}}\", ...]"
            ));
        };
        if program.is_empty() {
            return Err(format!("`{option}`: the program (first element) is empty"));
        }
        if program.contains('{') {
            return Err(format!(
                "`{option}`: the program `{program}` may not contain placeholders; put them in the arguments"
            ));
        }
        let mut parsed = Vec::with_capacity(args.len());
        for arg in args {
            parsed.push(parse_arg(arg, with_bantime).map_err(|e| format!("`{option}`: {e}"))?);
        }
        Ok(Self {
            program: PathBuf::from(program),
            args: parsed,
        })
    }

    fn render(&self, v: &Values<'_>) -> Vec<String> {
        self.args
            .iter()
            .map(|pieces| {
                let mut s = String::new();
                for p in pieces {
                    match p {
                        Piece::Text(t) => s.push_str(t),
                        Piece::Ip => s.push_str(&v.ip.to_string()),
                        Piece::Group => s.push_str(v.group),
                        Piece::Set => s.push_str(&v.set),
                        Piece::Bantime => s.push_str(&v.bantime),
                    }
                }
                s
            })
            .collect()
    }
}

fn parse_arg(arg: &str, with_bantime: bool) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = arg.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                if !closed {
                    return Err(format!(
                        "unclosed `{{` in `{arg}` (write `{{{{` for a brace)"
                    ));
                }
                let piece = match name.as_str() {
                    "ip" => Piece::Ip,
                    "group" => Piece::Group,
                    "set" => Piece::Set,
                    "bantime" if with_bantime => Piece::Bantime,
                    "bantime" => {
                        return Err("`{bantime}` is only known for bans".into());
                    }
                    other => {
                        return Err(format!(
                            "unknown placeholder `{{{other}}}` in `{arg}` (known: {{ip}}, {{group}}, {{set}}, {{bantime}}; `{{{{` for a brace)"
                        ));
                    }
                };
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(piece);
            }
            '}' => {
                return Err(format!(
                    "unmatched `}}` in `{arg}` (write `}}}}` for a brace)"
                ));
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// The command backend.
#[derive(Debug)]
pub struct CommandBackend {
    prefix: String,
    ban: Template,
    unban: Option<Template>,
    timeout: Duration,
    /// The changes of the last failed batch that succeeded: when the same
    /// batch comes back, they are not run again.
    done: Vec<Change>,
}

impl CommandBackend {
    /// Parses the templates.
    pub fn new(cfg: CommandConfig) -> Result<Self, String> {
        let ban = Template::parse("ban", &cfg.ban, true)?;
        let unban = cfg
            .unban
            .as_deref()
            .map(|u| Template::parse("unban", u, false))
            .transpose()?;
        Ok(Self {
            prefix: cfg.prefix,
            ban,
            unban,
            timeout: cfg.timeout,
            done: Vec::new(),
        })
    }

    /// The program and arguments run for a change (`None`: nothing to run).
    pub fn argv(&self, change: &Change) -> Option<(PathBuf, Vec<String>)> {
        let ip = canonical(change.ip());
        let (template, bantime) = match change {
            Change::Ban { timeout, .. } => (
                &self.ban,
                // Round up: a ban never ends early; 0 is "forever".
                timeout
                    .map_or(0, |t| super::timeout_secs(t, u64::MAX))
                    .to_string(),
            ),
            Change::Unban { .. } => (self.unban.as_ref()?, String::new()),
        };
        let values = Values {
            ip,
            group: change.group(),
            set: set_name(&self.prefix, change.group(), ip.is_ipv6()),
            bantime,
        };
        Some((template.program.clone(), template.render(&values)))
    }
}

impl Backend for CommandBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), BackendError> {
        let skip = if changes.starts_with(&self.done) {
            self.done.len()
        } else {
            0
        };
        for (i, change) in changes.iter().enumerate().skip(skip) {
            let Some((program, args)) = self.argv(change) else {
                continue;
            };
            if let Err(e) = process::run(&program, &args, None, self.timeout) {
                self.done = changes[..i].to_vec();
                let what = match change {
                    Change::Ban { .. } => "ban",
                    Change::Unban { .. } => "unban",
                };
                let option = what;
                let mut err = run_failure(
                    NAME,
                    &format!("{what} of {} in group {}", change.ip(), change.group()),
                    option,
                    None,
                    e,
                );
                err.message.push_str(&format!(
                    " (change {} of {}; the {i} before it succeeded and are not run again)",
                    i + 1,
                    changes.len()
                ));
                return Err(err);
            }
        }
        self.done.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn renders_per_element() {
        let b = CommandBackend::new(CommandConfig {
            prefix: "blacklist-".into(),
            ban: argv(&[
                "/bin/ban",
                "--ip={ip}",
                "{group}",
                "{set}",
                "{bantime}",
                "{{x}}",
                "a b;c",
            ]),
            unban: Some(argv(&["/bin/unban", "{ip}"])),
            timeout: DEFAULT_TIMEOUT,
        })
        .unwrap();
        let ban = Change::Ban {
            ip: "2001:db8::1".parse().unwrap(),
            group: "web".into(),
            timeout: Some(Duration::from_millis(90_500)),
        };
        let (program, args) = b.argv(&ban).unwrap();
        assert_eq!(program, PathBuf::from("/bin/ban"));
        assert_eq!(
            args,
            [
                "--ip=2001:db8::1",
                "web",
                "blacklist-web-v6",
                "91",
                "{x}",
                "a b;c"
            ]
        );
        let forever = Change::Ban {
            ip: "::ffff:192.0.2.1".parse().unwrap(),
            group: "ssh".into(),
            timeout: None,
        };
        assert_eq!(b.argv(&forever).unwrap().1[0], "--ip=192.0.2.1");
        assert_eq!(b.argv(&forever).unwrap().1[3], "0");
        let unban = Change::Unban {
            ip: "192.0.2.1".parse().unwrap(),
            group: "ssh".into(),
        };
        assert_eq!(b.argv(&unban).unwrap().1, ["192.0.2.1"]);
    }

    #[test]
    fn without_unban_unbans_do_nothing() {
        let b = CommandBackend::new(CommandConfig {
            prefix: String::new(),
            ban: argv(&["/bin/true"]),
            unban: None,
            timeout: DEFAULT_TIMEOUT,
        })
        .unwrap();
        let unban = Change::Unban {
            ip: "192.0.2.1".parse().unwrap(),
            group: "ssh".into(),
        };
        assert!(b.argv(&unban).is_none());
    }

    #[test]
    fn bad_templates() {
        let make = |ban: &[&str], unban: Option<&[&str]>| {
            CommandBackend::new(CommandConfig {
                prefix: String::new(),
                ban: argv(ban),
                unban: unban.map(argv),
                timeout: DEFAULT_TIMEOUT,
            })
            .unwrap_err()
        };
        assert!(make(&[], None).contains("must name a program"));
        assert!(make(&["{ip}"], None).contains("placeholders"));
        assert!(make(&["/x", "{address}"], None).contains("unknown placeholder"));
        assert!(make(&["/x", "a}"], None).contains("unmatched"));
        assert!(make(&["/x", "{ip"], None).contains("unclosed"));
        assert!(make(&["/x"], Some(&["/y", "{bantime}"])).contains("only known for bans"));
    }
}
