//! fail2ban's configuration files: Python `configparser` syntax, the
//! `[INCLUDES]` of fail2ban, its file precedence and `%(name)s`
//! interpolation, reproduced closely enough to read what fail2ban reads.
//!
//! What is reproduced (from fail2ban 1.0's `configparserinc.py` and
//! `configreader.py`, and CPython's `configparser`):
//!
//! - a line is a `[section]` header, a `name = value` or `name: value`
//!   option (names are lower-cased), a continuation line (indented deeper
//!   than the option's first line; blank lines inside a value are kept),
//!   or a comment (`#` or `;` first on the line, or `;` after a blank);
//! - within one file a section (other than `DEFAULT`) or an option may
//!   appear once;
//! - files are merged in order: a later `DEFAULT` entry replaces an earlier
//!   one, a later section's options replace the earlier section's one by
//!   one, and the replaced values stay reachable as `%(known/name)s`;
//! - `[INCLUDES] before = ...` / `after = ...` (one file a line, relative to
//!   the including file) are read before / after the file, each followed by
//!   its `.local` twin when one exists; missing includes are skipped;
//! - `%(name)s` is the option of the same section, else of `DEFAULT`, itself
//!   interpolated in the section that asked (so a `DEFAULT` value sees the
//!   jail's options); `%(__name__)s` is the section's name;
//!   `%(default/name)s` is `DEFAULT`'s, `%(known/name)s` the value this
//!   section had before a later file replaced it (else `DEFAULT`'s), and
//!   `%(SECTION/name)s` another section's; `%%` is a `%`; at most 10 levels.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// The section holding defaults for every other section.
pub const DEFAULT: &str = "DEFAULT";
/// fail2ban's section of include directives.
pub const INCLUDES: &str = "INCLUDES";
/// Deepest `%(name)s` nesting, as in Python's `configparser`.
const MAX_DEPTH: usize = 10;

/// A configuration file that cannot be read or parsed.
#[derive(Debug, Error)]
pub enum IniError {
    /// The file exists but cannot be read (permissions, not UTF-8, ...).
    #[error("{}: cannot read: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A syntax error, with its place.
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// A `%(name)s` that cannot be resolved.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{message}")]
pub struct InterpolationError {
    /// What is wrong, naming the reference.
    pub message: String,
}

/// Where a value was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub path: PathBuf,
    /// 1-based line of the option's first line.
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        write!(f, "{name}:{}", self.line)
    }
}

/// One option as written: its raw value (continuation lines joined with
/// `\n`, not interpolated) and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The raw value.
    pub value: String,
    /// Where it was written.
    pub origin: Origin,
}

/// Options of one section, in the order they were first written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    keys: Vec<String>,
    values: HashMap<String, Entry>,
}

impl Options {
    /// The entry of `key` (lower-case).
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.values.get(key)
    }

    /// Sets `key`, keeping its first position.
    pub fn set(&mut self, key: &str, entry: Entry) {
        if !self.values.contains_key(key) {
            self.keys.push(key.to_string());
        }
        self.values.insert(key.to_string(), entry);
    }

    /// `(key, entry)` in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.keys
            .iter()
            .filter_map(|k| self.values.get(k).map(|e| (k.as_str(), e)))
    }
}

/// One parsed file: its sections in order (a `DEFAULT` section may appear
/// several times).
#[derive(Debug, Clone)]
pub struct IniFile {
    /// Sections in order of appearance: (name, options).
    pub sections: Vec<(String, Options)>,
}

impl IniFile {
    /// Parses `text` as read from `path` (used in error messages).
    pub fn parse(text: &str, path: &Path) -> Result<Self, IniError> {
        let syntax = |line: usize, message: String| IniError::Syntax {
            path: path.to_path_buf(),
            line,
            message,
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // Values as lists of lines until the file is read, like configparser.
        let mut sections: Vec<(String, Vec<RawOption>)> = Vec::new();
        let mut seen_sections: HashSet<String> = HashSet::new();
        let mut seen_options: HashSet<(String, String)> = HashSet::new();
        let mut current: Option<usize> = None;
        let mut option: Option<usize> = None;
        let mut indent_level = 0usize;
        for (index, raw) in text.split('\n').enumerate() {
            let lineno = index + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let comment_start = comment_start(line);
            let value = line[..comment_start.unwrap_or(line.len())].trim();
            if value.is_empty() {
                // A blank line inside a value is kept; a comment line is not.
                if comment_start.is_none()
                    && let (Some(s), Some(o)) = (current, option)
                    && let Some(opt) = sections.get_mut(s).and_then(|sec| sec.1.get_mut(o))
                {
                    opt.1.push(String::new());
                }
                continue;
            }
            let indent = line
                .char_indices()
                .find(|(_, c)| !c.is_whitespace())
                .map_or(0, |(i, _)| i);
            if let (Some(s), Some(o)) = (current, option)
                && indent > indent_level
            {
                if let Some(opt) = sections.get_mut(s).and_then(|sec| sec.1.get_mut(o)) {
                    opt.1.push(value.to_string());
                }
                continue;
            }
            indent_level = indent;
            if let Some(header) = section_header(value) {
                if header != DEFAULT && !seen_sections.insert(header.to_string()) {
                    return Err(syntax(
                        lineno,
                        format!("section [{header}] appears twice in this file"),
                    ));
                }
                sections.push((header.to_string(), Vec::new()));
                current = Some(sections.len() - 1);
                option = None;
                continue;
            }
            let Some(s) = current else {
                return Err(syntax(
                    lineno,
                    format!("`{}` comes before any [section] header", shorten(value)),
                ));
            };
            let Some(split) = value.find(['=', ':']) else {
                return Err(syntax(
                    lineno,
                    format!(
                        "expected `name = value`, a [section] header or a comment, found `{}`",
                        shorten(value)
                    ),
                ));
            };
            let name = value[..split].trim_end().to_lowercase();
            if name.is_empty() {
                return Err(syntax(
                    lineno,
                    format!("option without a name: `{}`", shorten(value)),
                ));
            }
            let section_name = sections.get(s).map(|sec| sec.0.clone()).unwrap_or_default();
            if !seen_options.insert((section_name.clone(), name.clone())) {
                return Err(syntax(
                    lineno,
                    format!(
                        "option `{name}` appears twice in section [{section_name}] of this file"
                    ),
                ));
            }
            let first = value[split + 1..].trim().to_string();
            if let Some(sec) = sections.get_mut(s) {
                sec.1.push((name, vec![first], lineno));
                option = Some(sec.1.len() - 1);
            }
        }
        let sections = sections
            .into_iter()
            .map(|(name, opts)| {
                let mut options = Options::default();
                for (key, lines, line) in opts {
                    options.set(
                        &key,
                        Entry {
                            value: lines.join("\n").trim_end().to_string(),
                            origin: Origin {
                                path: path.to_path_buf(),
                                line,
                            },
                        },
                    );
                }
                (name, options)
            })
            .collect();
        Ok(Self { sections })
    }

    /// Reads and parses a file; `Ok(None)` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<Self>, IniError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(IniError::Read {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                });
            }
        };
        let text = String::from_utf8(bytes).map_err(|e| IniError::Read {
            path: path.to_path_buf(),
            message: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        })?;
        Self::parse(&text, path).map(Some)
    }

    /// The options of the last section named `name`.
    fn section(&self, name: &str) -> Option<&Options> {
        self.sections
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, o)| o)
    }
}

/// An option while its file is read: name, lines of its value, line number.
type RawOption = (String, Vec<String>, usize);

/// Where a comment starts: `#` or `;` first on the line, or `;` at the
/// start or after a blank (configparser's inline comments, as fail2ban
/// configures them).
fn comment_start(line: &str) -> Option<usize> {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') || trimmed.starts_with(';') {
        return Some(0);
    }
    let mut prev_blank = true;
    for (i, c) in line.char_indices() {
        if c == ';' && prev_blank {
            return Some(i);
        }
        prev_blank = c.is_whitespace();
    }
    None
}

/// `[name]` (anything up to the last `]`, as configparser reads it).
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}...")
    }
}

/// `name.local` next to `name.conf` (Python's `splitext(name)[0] + '.local'`).
fn local_twin(path: &Path) -> PathBuf {
    path.with_extension("local")
}

/// The merged configuration of a list of files, as fail2ban sees it.
#[derive(Debug, Clone, Default)]
pub struct Config {
    files: Vec<PathBuf>,
    defaults: Options,
    /// Section names in order of first appearance.
    order: Vec<String>,
    sections: HashMap<String, Options>,
    /// Values replaced by a later file, per section (`%(known/x)s`).
    known: HashMap<String, Options>,
}

impl Config {
    /// Reads `files` in order (each with its includes and `.local` twin),
    /// skipping those that do not exist. `extra_defaults` are set first
    /// (fail2ban adds `fail2ban_version` and `fail2ban_confpath`).
    pub fn load(files: &[PathBuf], extra_defaults: &[(&str, String)]) -> Result<Self, IniError> {
        let mut cfg = Config::default();
        for (k, v) in extra_defaults {
            cfg.defaults.set(
                k,
                Entry {
                    value: v.clone(),
                    origin: Origin {
                        path: PathBuf::from("(built in)"),
                        line: 0,
                    },
                },
            );
        }
        let mut cache: BTreeMap<PathBuf, Option<IniFile>> = BTreeMap::new();
        let mut ordered = Vec::new();
        for f in expand_locals(files) {
            ordered.extend(includes(&f, &[], &mut cache)?);
        }
        for path in ordered {
            if let Some(Some(file)) = cache.get(&path) {
                let file = file.clone();
                cfg.merge(&file);
                cfg.files.push(path);
            }
        }
        Ok(cfg)
    }

    fn merge(&mut self, file: &IniFile) {
        for (name, opts) in &file.sections {
            if name == DEFAULT {
                for (k, e) in opts.iter() {
                    self.defaults.set(k, e.clone());
                }
                continue;
            }
            match self.sections.get_mut(name) {
                Some(existing) => {
                    let known = self.known.entry(name.clone()).or_default();
                    for (k, e) in opts.iter() {
                        if let Some(old) = existing.get(k) {
                            known.set(k, old.clone());
                        }
                        existing.set(k, e.clone());
                    }
                }
                None => {
                    self.order.push(name.clone());
                    self.sections.insert(name.clone(), opts.clone());
                }
            }
        }
    }

    /// The files read, in the order they were merged.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Section names (without `DEFAULT`), in order of first appearance.
    pub fn sections(&self) -> &[String] {
        &self.order
    }

    /// True when the section exists.
    pub fn has_section(&self, name: &str) -> bool {
        self.sections.contains_key(name)
    }

    /// The raw entry of `option` in `section`, else in `DEFAULT`.
    pub fn raw(&self, section: &str, option: &str) -> Option<&Entry> {
        self.sections
            .get(section)
            .and_then(|s| s.get(option))
            .or_else(|| self.defaults.get(option))
    }

    /// The raw entry of `option` written in `section` itself (not inherited).
    pub fn own(&self, section: &str, option: &str) -> Option<&Entry> {
        self.sections.get(section).and_then(|s| s.get(option))
    }

    /// Options written in `section` itself, in order.
    pub fn own_options(&self, section: &str) -> Vec<(&str, &Entry)> {
        self.sections
            .get(section)
            .map(|s| s.iter().collect())
            .unwrap_or_default()
    }

    /// The interpolated value of `option` in `section` (falling back to
    /// `DEFAULT`); `Ok(None)` when neither has it.
    pub fn get(&self, section: &str, option: &str) -> Result<Option<String>, InterpolationError> {
        self.get_with(section, option, &HashMap::new())
    }

    /// Like [`Config::get`], with `vars` taking precedence over the
    /// section's own options (fail2ban passes a filter's `[...]` options so).
    pub fn get_with(
        &self,
        section: &str,
        option: &str,
        vars: &HashMap<String, String>,
    ) -> Result<Option<String>, InterpolationError> {
        let option = option.to_lowercase();
        let raw = match vars.get(&option) {
            Some(v) => v.clone(),
            None => match self.raw(section, &option) {
                Some(e) => e.value.clone(),
                None => return Ok(None),
            },
        };
        let mut out = String::new();
        self.interpolate(section, &option, &raw, vars, 1, &mut out)?;
        Ok(Some(out))
    }

    /// The raw value `%(name)s` refers to in `section`.
    fn lookup(&self, section: &str, name: &str, vars: &HashMap<String, String>) -> Option<String> {
        if let Some(v) = vars.get(name) {
            return Some(v.clone());
        }
        if name == "__name__" {
            return Some(section.to_string());
        }
        if let Some(e) = self.raw(section, name) {
            return Some(e.value.clone());
        }
        let (sec, opt) = name.split_once('/')?;
        if sec.is_empty()
            || !sec
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            return None;
        }
        let from_default = || self.defaults.get(opt).map(|e| e.value.clone());
        match sec {
            "default" => from_default(),
            "known" => self
                .known
                .get(section)
                .and_then(|k| k.get(opt))
                .map(|e| e.value.clone())
                .or_else(from_default),
            other => {
                // Section names keep their case; references are lower-cased.
                let target = self
                    .order
                    .iter()
                    .find(|n| n.to_lowercase() == other)
                    .and_then(|n| self.sections.get(n))?;
                target
                    .get(opt)
                    .map(|e| e.value.clone())
                    .or_else(from_default)
            }
        }
    }

    fn interpolate(
        &self,
        section: &str,
        option: &str,
        text: &str,
        vars: &HashMap<String, String>,
        depth: usize,
        out: &mut String,
    ) -> Result<(), InterpolationError> {
        if depth > MAX_DEPTH {
            return Err(InterpolationError {
                message: format!(
                    "`{option}`: references nested more than {MAX_DEPTH} deep (a reference loop?)"
                ),
            });
        }
        let mut rest = text;
        while let Some(p) = rest.find('%') {
            out.push_str(&rest[..p]);
            let after = &rest[p + 1..];
            if let Some(tail) = after.strip_prefix('%') {
                out.push('%');
                rest = tail;
            } else if let Some(tail) = after.strip_prefix('(') {
                let Some(close) = tail.find(')') else {
                    return Err(InterpolationError {
                        message: format!("`{option}`: unclosed `%(` in `{}`", shorten(text)),
                    });
                };
                let Some(tail_after) = tail[close + 1..].strip_prefix('s') else {
                    return Err(InterpolationError {
                        message: format!(
                            "`{option}`: `%({})` must be followed by `s`",
                            &tail[..close]
                        ),
                    });
                };
                let name = tail[..close].to_lowercase();
                if name.is_empty() {
                    return Err(InterpolationError {
                        message: format!("`{option}`: empty reference `%()s`"),
                    });
                }
                let Some(value) = self.lookup(section, &name, vars) else {
                    return Err(InterpolationError {
                        message: format!(
                            "`{option}`: `%({name})s` is not defined in [{section}] or [DEFAULT]"
                        ),
                    });
                };
                if value.contains('%') {
                    self.interpolate(section, &name, &value, vars, depth + 1, out)?;
                } else {
                    out.push_str(&value);
                }
                rest = tail_after;
            } else {
                return Err(InterpolationError {
                    message: format!(
                        "`{option}`: `%` must be followed by `%` or `(` (write `%%` for a percent sign)"
                    ),
                });
            }
        }
        out.push_str(rest);
        Ok(())
    }
}

/// Each file followed by its `.local` twin when that exists and is not
/// already listed.
fn expand_locals(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for f in files {
        out.push(f.clone());
        let local = local_twin(f);
        if !files.contains(&local) && local != *f && local.is_file() {
            out.push(local);
        }
    }
    out
}

/// `path` with its includes: (before-includes, path, after-includes),
/// recursively; files that do not exist give nothing.
fn includes(
    path: &Path,
    seen: &[PathBuf],
    cache: &mut BTreeMap<PathBuf, Option<IniFile>>,
) -> Result<Vec<PathBuf>, IniError> {
    if !cache.contains_key(path) {
        let file = IniFile::read(path)?;
        cache.insert(path.to_path_buf(), file);
    }
    let Some(Some(file)) = cache.get(path) else {
        return Ok(Vec::new());
    };
    let (before, after) = match file.section(INCLUDES) {
        Some(inc) => (
            inc.get("before").map(|e| e.value.clone()),
            inc.get("after").map(|e| e.value.clone()),
        ),
        None => (None, None),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut chain = seen.to_vec();
    chain.push(path.to_path_buf());
    let mut resolve = |list: Option<String>| -> Result<Vec<PathBuf>, IniError> {
        let mut out = Vec::new();
        for name in list.iter().flat_map(|l| l.split('\n')) {
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            let target = dir.join(name);
            if chain.contains(&target) {
                continue;
            }
            for f in expand_locals(std::slice::from_ref(&target)) {
                out.extend(includes(&f, &chain, cache)?);
            }
        }
        Ok(out)
    };
    let mut out = resolve(before)?;
    out.push(path.to_path_buf());
    out.extend(resolve(after)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<IniFile, IniError> {
        IniFile::parse(text, Path::new("/x/jail.local"))
    }

    fn config(texts: &[&str]) -> Config {
        let mut cfg = Config::default();
        for t in texts {
            cfg.merge(&parse(t).unwrap());
        }
        cfg
    }

    #[test]
    fn values_comments_and_continuations() {
        let f = parse(
            "# comment\n[DEFAULT]\nA = 1 ; inline\nb: two;three\n\n[sshd]\nlogpath = /a\n   /b\n  # skipped\n\n   /c\nport=ssh\n",
        )
        .unwrap();
        let d = f.section("DEFAULT").unwrap();
        assert_eq!(d.get("a").unwrap().value, "1");
        assert_eq!(d.get("b").unwrap().value, "two;three");
        let s = f.section("sshd").unwrap();
        assert_eq!(s.get("logpath").unwrap().value, "/a\n/b\n\n/c");
        assert_eq!(s.get("logpath").unwrap().origin.line, 7);
        assert_eq!(s.get("port").unwrap().value, "ssh");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = parse("[a]\nx = 1\ngarbage\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "/x/jail.local:3: expected `name = value`, a [section] header or a comment, found `garbage`"
        );
        let e = parse("x = 1\n").unwrap_err().to_string();
        assert!(
            e.starts_with("/x/jail.local:1: `x = 1` comes before"),
            "{e}"
        );
        let e = parse("[a]\n[a]\n").unwrap_err().to_string();
        assert!(e.contains(":2: section [a] appears twice"), "{e}");
        let e = parse("[a]\nx=1\nX=2\n").unwrap_err().to_string();
        assert!(e.contains(":3: option `x` appears twice"), "{e}");
        assert!(parse("[DEFAULT]\nx=1\n[DEFAULT]\ny=2\n").is_ok());
    }

    #[test]
    fn interpolation() {
        let cfg = config(&[
            "[DEFAULT]\nport = 0:65535\nbanaction = iptables\naction_ = %(banaction)s[port=\"%(port)s\", name=%(__name__)s]\naction = %(action_)s\npct = 100%%\n[sshd]\nport = ssh\n[nsd]\naction_ = %(default/action_)s[x=1]\n[loop]\na = %(b)s\nb = %(a)s\n",
        ]);
        assert_eq!(
            cfg.get("sshd", "action").unwrap().unwrap(),
            "iptables[port=\"ssh\", name=sshd]"
        );
        assert_eq!(
            cfg.get("nsd", "action").unwrap().unwrap(),
            "iptables[port=\"0:65535\", name=nsd][x=1]"
        );
        assert_eq!(cfg.get("sshd", "pct").unwrap().unwrap(), "100%");
        assert_eq!(cfg.get("sshd", "nope").unwrap(), None);
        assert!(
            cfg.get("loop", "a")
                .unwrap_err()
                .message
                .contains("more than 10 deep")
        );
    }

    #[test]
    fn later_files_win_and_known_keeps_the_old_value() {
        let cfg = config(&[
            "[DEFAULT]\nmaxretry = 5\n[sshd]\nport = ssh\nenabled = false\n",
            "[DEFAULT]\nmaxretry = 3\n[sshd]\nport = %(known/port)s,2222\nenabled = true\n",
        ]);
        assert_eq!(cfg.get("sshd", "maxretry").unwrap().unwrap(), "3");
        assert_eq!(cfg.get("sshd", "port").unwrap().unwrap(), "ssh,2222");
        assert_eq!(cfg.get("sshd", "enabled").unwrap().unwrap(), "true");
        assert_eq!(cfg.sections(), ["sshd".to_string()]);
    }

    #[test]
    fn bad_references() {
        let cfg = config(&["[a]\nx = %(nope)s\ny = 5%\nz = %(open\n"]);
        assert!(
            cfg.get("a", "x")
                .unwrap_err()
                .message
                .contains("`%(nope)s` is not defined")
        );
        assert!(
            cfg.get("a", "y")
                .unwrap_err()
                .message
                .contains("must be followed")
        );
        assert!(cfg.get("a", "z").unwrap_err().message.contains("unclosed"));
    }
}
