//! The condition language: tests on event fields, written in YAML.
//!
//! Used by the `filter` stage (`when:` / `unless:`) and by fail2ban rules
//! (`when:`). A condition is compiled once ([`Condition::from_yaml`]) and
//! evaluated many times ([`Condition::matches`]) without allocating.
//!
//! # Grammar
//!
//! ```yaml
//! # CONDITION: a mapping; every entry must hold (an implicit `all`).
//! process.name: sshd                # FIELD: TEST
//! any: [CONDITION, ...]             # at least one holds (non-empty list)
//! all: [CONDITION, ...]             # every one holds (non-empty list)
//! not: CONDITION                    # the condition does not hold
//! '\any': x                         # a leading `\` escapes a field literally named
//!                                   # any/all/not (or one starting with `\`)
//!
//! # TEST (the value of a field entry):
//! SCALAR                            # equals: string, number or boolean
//! [SCALAR, ...]                     # in: equals one of them (non-empty list)
//! {OPERATOR: ARG, ...}              # every operator must hold
//!
//! # OPERATORS:
//! equals: SCALAR
//! in: [SCALAR, ...]
//! prefix: STRING | [STRING, ...]    # starts with any of them
//! suffix: STRING | [STRING, ...]    # ends with any of them
//! contains: STRING | [STRING, ...]  # substring; on a list field: has an element equal to one
//! regex: STRING                     # Rust `regex` syntax, unanchored, linear time
//! exists: BOOL                      # present and not null
//! gt: NUMBER   gte: NUMBER   lt: NUMBER   lte: NUMBER
//! range: [LOW, HIGH]                # LOW <= value <= HIGH, LOW <= HIGH
//! not: TEST                         # the test does not hold
//! any: [TEST, ...]                  # at least one test holds
//! all: [TEST, ...]                  # every test holds
//! ignore_case: BOOL                 # modifier for equals/in/prefix/suffix/contains/regex
//!                                   # in this mapping and the tests nested in it
//! ```
//!
//! # Semantics
//!
//! - A missing field, or one holding `null`, fails every operator except
//!   `exists: false`; `not` simply inverts, so `not: {suffix: .png}` holds
//!   for a missing field (write `{exists: true, not: ...}` to require it).
//! - Text operators (equals on strings, prefix, suffix, contains, regex) see
//!   numbers and booleans as their JSON text (`404`, `true`); objects and
//!   lists fail them (except `contains` on a list, which tests its elements
//!   as text, honouring `ignore_case`).
//! - Equality across types: a YAML number equals the same JSON number and a
//!   string that parses to it (`404` matches `404`, `"404"`, `"404.0"`); a
//!   string equals the same string, and a JSON number it parses to
//!   (`"404"` matches `404`), but never a differently written string; a
//!   boolean equals the same boolean and the strings `true`/`false`.
//! - Comparisons (`gt`, `range`, ...) take JSON numbers and strings that
//!   parse as finite numbers; anything else fails.
//! - `ignore_case` uses Unicode simple case folding (the `regex` crate's
//!   `(?i)`), with an ASCII fast path that never allocates.

use std::fmt::{self, Write as _};

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Deserializer};
use serde_json::Value as Json;
use serde_yaml_ng::{Mapping, Value as Yaml};

use crate::event::{Event, FieldPath};

/// Operator names, for error messages.
const OPERATORS: &str = "equals, in, prefix, suffix, contains, regex, exists, gt, gte, lt, lte, range, not, any, all, ignore_case";

/// A condition that failed to compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{}", .path, if .path.is_empty() { "" } else { ": " }, .message)]
pub struct ConditionError {
    /// Where in the condition the problem is, as a dotted path of keys and
    /// list indices (`any.1.url.path.suffix`); empty for the whole condition.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

fn err(path: &str, message: impl Into<String>) -> ConditionError {
    ConditionError {
        path: path.to_string(),
        message: message.into(),
    }
}

fn join(path: &str, seg: &str) -> String {
    if path.is_empty() {
        seg.to_string()
    } else {
        format!("{path}.{seg}")
    }
}

/// A compiled condition over event fields. See the [module docs](self) for
/// the language.
#[derive(Debug, Clone)]
pub struct Condition {
    root: Node,
}

#[derive(Debug, Clone)]
enum Node {
    All(Box<[Node]>),
    Any(Box<[Node]>),
    Not(Box<Node>),
    Field(FieldPath, Test),
}

#[derive(Debug, Clone)]
enum Test {
    All(Box<[Test]>),
    Any(Box<[Test]>),
    Not(Box<Test>),
    Exists(bool),
    Equals(Equals),
    Prefix(TextMatcher),
    Suffix(TextMatcher),
    /// `text` for scalar fields, `element` for the elements of list fields.
    Contains {
        text: TextMatcher,
        element: TextMatcher,
    },
    Regex(Regex),
    Compare(Cmp, f64),
    Range(f64, f64),
}

#[derive(Debug, Clone, Copy)]
enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Condition {
    /// Compiles a condition from YAML. The error names the failing path
    /// inside the condition (e.g. `url.path.suffix: expected a string or a
    /// list of strings`).
    pub fn from_yaml(v: &Yaml) -> Result<Self, ConditionError> {
        Ok(Self {
            root: compile_node(v, "")?,
        })
    }

    /// True when `event` satisfies the condition.
    pub fn matches(&self, event: &Event) -> bool {
        self.root.eval(event)
    }

    /// Field paths this condition reads, in order of first appearance,
    /// without duplicates (for documentation and prefilters).
    pub fn fields(&self) -> Vec<&FieldPath> {
        let mut out = Vec::new();
        self.root.collect_fields(&mut out);
        out
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Yaml::deserialize(d)?;
        Condition::from_yaml(&v).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// Evaluation (hot path: no allocation).

impl Node {
    fn eval(&self, event: &Event) -> bool {
        match self {
            Node::All(nodes) => nodes.iter().all(|n| n.eval(event)),
            Node::Any(nodes) => nodes.iter().any(|n| n.eval(event)),
            Node::Not(node) => !node.eval(event),
            // JSON null counts as missing, as in Elasticsearch.
            Node::Field(path, test) => test.eval(event.get(path).filter(|v| !v.is_null())),
        }
    }

    fn collect_fields<'a>(&'a self, out: &mut Vec<&'a FieldPath>) {
        match self {
            Node::All(nodes) | Node::Any(nodes) => {
                for n in nodes.iter() {
                    n.collect_fields(out);
                }
            }
            Node::Not(node) => node.collect_fields(out),
            Node::Field(path, _) => {
                if !out.contains(&path) {
                    out.push(path);
                }
            }
        }
    }
}

impl Test {
    fn eval(&self, value: Option<&Json>) -> bool {
        match self {
            Test::All(tests) => tests.iter().all(|t| t.eval(value)),
            Test::Any(tests) => tests.iter().any(|t| t.eval(value)),
            Test::Not(test) => !test.eval(value),
            Test::Exists(want) => value.is_some() == *want,
            _ => value.is_some_and(|v| self.eval_present(v)),
        }
    }

    fn eval_present(&self, v: &Json) -> bool {
        match self {
            Test::Equals(eq) => eq.matches(v),
            Test::Prefix(m) | Test::Suffix(m) => with_text(v, |s| m.is_match(s)),
            Test::Contains { text, element } => match v {
                Json::Array(items) => items
                    .iter()
                    .any(|item| with_text(item, |s| element.is_match(s))),
                _ => with_text(v, |s| text.is_match(s)),
            },
            Test::Regex(re) => with_text(v, |s| re.is_match(s)),
            Test::Compare(cmp, bound) => as_number(v).is_some_and(|x| match cmp {
                Cmp::Gt => x > *bound,
                Cmp::Gte => x >= *bound,
                Cmp::Lt => x < *bound,
                Cmp::Lte => x <= *bound,
            }),
            Test::Range(lo, hi) => as_number(v).is_some_and(|x| *lo <= x && x <= *hi),
            // Handled in `eval`.
            Test::All(_) | Test::Any(_) | Test::Not(_) | Test::Exists(_) => false,
        }
    }
}

/// Runs `f` on the text of a scalar value; numbers are rendered on the
/// stack. Objects, lists and null have no text: `false`.
fn with_text(v: &Json, f: impl FnOnce(&str) -> bool) -> bool {
    match v {
        Json::String(s) => f(s),
        Json::Bool(true) => f("true"),
        Json::Bool(false) => f("false"),
        Json::Number(n) => {
            let mut buf = StackText::default();
            write!(buf, "{n}").is_ok() && f(buf.as_str())
        }
        Json::Null | Json::Array(_) | Json::Object(_) => false,
    }
}

/// A small fixed buffer for rendering numbers without allocating.
struct StackText {
    buf: [u8; 48],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        Self {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl StackText {
    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so this cannot fail.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The value as a finite number: JSON numbers, and strings that parse.
fn as_number(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.parse::<f64>().ok(),
        _ => None,
    }
    .filter(|x| x.is_finite())
}

/// A number for equality: integers compare exactly (beyond 2^53 too).
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn from_json(n: &serde_json::Number) -> Option<Num> {
        if let Some(i) = n.as_i64() {
            Some(Num::Int(i128::from(i)))
        } else if let Some(u) = n.as_u64() {
            Some(Num::Int(i128::from(u)))
        } else {
            n.as_f64().filter(|f| f.is_finite()).map(Num::Float)
        }
    }

    fn parse(s: &str) -> Option<Num> {
        match s.parse::<i128>() {
            Ok(i) => Some(Num::Int(i)),
            Err(_) => s
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Num::Float),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            // Precision loss is fine: only used against a float.
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    fn same(self, other: Num) -> bool {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a == b,
            _ => self.as_f64() == other.as_f64(),
        }
    }
}

/// `equals` / `in`.
#[derive(Debug, Clone)]
struct Equals {
    /// The text of every value (strings, numbers, booleans).
    text: TextMatcher,
    /// Values written as YAML numbers: event strings are parsed against them.
    typed_nums: Box<[Num]>,
    /// Every value that is or parses as a number: matched by event numbers.
    all_nums: Box<[Num]>,
}

impl Equals {
    fn matches(&self, v: &Json) -> bool {
        match v {
            Json::String(s) => {
                self.text.is_match(s)
                    || (!self.typed_nums.is_empty()
                        && Num::parse(s).is_some_and(|n| self.typed_nums.iter().any(|x| x.same(n))))
            }
            Json::Number(n) => {
                Num::from_json(n).is_some_and(|n| self.all_nums.iter().any(|x| x.same(n)))
            }
            Json::Bool(true) => self.text.is_match("true"),
            Json::Bool(false) => self.text.is_match("false"),
            Json::Null | Json::Array(_) | Json::Object(_) => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    Whole,
    Start,
    End,
    Anywhere,
}

/// Matches text against a set of literal needles.
///
/// Case-sensitive whole/prefix/suffix tests are plain comparisons; substring
/// search goes through a literal regex (memchr/Teddy inside). With
/// `ignore_case`, ASCII needles against ASCII text are compared byte-wise
/// against needles lowercased at compile time; anything else falls back to a
/// `(?i)` regex so that Unicode text is folded correctly.
#[derive(Debug, Clone)]
struct TextMatcher {
    anchor: Anchor,
    /// Lowercased (ASCII) when `ignore_case`.
    needles: Box<[Box<str>]>,
    ignore_case: bool,
    /// Every needle is ASCII: the fast path applies to ASCII text.
    ascii: bool,
    max_len: usize,
    regex: Option<Regex>,
}

impl TextMatcher {
    fn new(anchor: Anchor, needles: Vec<String>, ignore_case: bool) -> Result<Self, String> {
        let ascii = needles.iter().all(|n| n.is_ascii());
        let max_len = needles.iter().map(String::len).max().unwrap_or(0);
        let regex = if anchor == Anchor::Anywhere || ignore_case {
            let alternation = needles
                .iter()
                .map(|n| regex::escape(n))
                .collect::<Vec<_>>()
                .join("|");
            let pattern = match anchor {
                Anchor::Whole => format!("^(?:{alternation})$"),
                Anchor::Start => format!("^(?:{alternation})"),
                Anchor::End => format!("(?:{alternation})$"),
                Anchor::Anywhere => format!("(?:{alternation})"),
            };
            let re = RegexBuilder::new(&pattern)
                .case_insensitive(ignore_case)
                .build()
                .map_err(|e| format!("cannot compile the needles: {e}"))?;
            Some(re)
        } else {
            None
        };
        let needles = needles
            .into_iter()
            .map(|n| {
                if ignore_case {
                    n.to_ascii_lowercase().into_boxed_str()
                } else {
                    n.into_boxed_str()
                }
            })
            .collect();
        Ok(Self {
            anchor,
            needles,
            ignore_case,
            ascii,
            max_len,
            regex,
        })
    }

    fn regex_match(&self, hay: &str) -> bool {
        self.regex.as_ref().is_some_and(|re| re.is_match(hay))
    }

    fn is_match(&self, hay: &str) -> bool {
        let bytes = hay.as_bytes();
        match (self.anchor, self.ignore_case) {
            (Anchor::Anywhere, _) => self.regex_match(hay),
            (Anchor::Whole, false) => self.needles.iter().any(|n| hay == &**n),
            (Anchor::Start, false) => self.needles.iter().any(|n| hay.starts_with(&**n)),
            (Anchor::End, false) => self.needles.iter().any(|n| hay.ends_with(&**n)),
            (Anchor::Whole, true) => {
                if self.ascii && hay.is_ascii() {
                    self.needles.iter().any(|n| ascii_ci_eq(bytes, n))
                } else {
                    self.regex_match(hay)
                }
            }
            (Anchor::Start, true) => {
                // Only the first `max_len` bytes matter; when they are ASCII
                // each is one character that folds to one byte.
                let window = &bytes[..bytes.len().min(self.max_len)];
                if self.ascii && window.is_ascii() {
                    self.needles
                        .iter()
                        .any(|n| window.get(..n.len()).is_some_and(|w| ascii_ci_eq(w, n)))
                } else {
                    self.regex_match(hay)
                }
            }
            (Anchor::End, true) => {
                let window = &bytes[bytes.len().saturating_sub(self.max_len)..];
                if self.ascii && window.is_ascii() {
                    self.needles.iter().any(|n| {
                        window
                            .len()
                            .checked_sub(n.len())
                            .and_then(|start| window.get(start..))
                            .is_some_and(|w| ascii_ci_eq(w, n))
                    })
                } else {
                    self.regex_match(hay)
                }
            }
        }
    }
}

/// `hay` equals `lower` (already ASCII-lowercased) ignoring ASCII case.
fn ascii_ci_eq(hay: &[u8], lower: &str) -> bool {
    hay.len() == lower.len()
        && hay
            .iter()
            .zip(lower.as_bytes())
            .all(|(h, l)| h.to_ascii_lowercase() == *l)
}

// ---------------------------------------------------------------------------
// Compilation.

fn describe(v: &Yaml) -> &'static str {
    match v {
        Yaml::Null => "null",
        Yaml::Bool(_) => "a boolean",
        Yaml::Number(_) => "a number",
        Yaml::String(_) => "a string",
        Yaml::Sequence(_) => "a list",
        Yaml::Mapping(_) => "a mapping",
        Yaml::Tagged(_) => "a tagged value",
    }
}

fn compile_node(v: &Yaml, path: &str) -> Result<Node, ConditionError> {
    let Yaml::Mapping(map) = v else {
        return Err(err(
            path,
            format!(
                "expected a mapping of field tests (or any/all/not), found {}",
                describe(v)
            ),
        ));
    };
    if map.is_empty() {
        return Err(err(
            path,
            "empty condition: give at least one field test or any/all/not",
        ));
    }
    let mut nodes = Vec::with_capacity(map.len());
    for (key, value) in map {
        let Some(key) = key.as_str() else {
            return Err(err(
                path,
                format!(
                    "keys must be field paths or any/all/not, found {}",
                    describe(key)
                ),
            ));
        };
        let here = join(path, key);
        let node = match key {
            "any" | "all" => {
                let items = non_empty_list(value, &here, "conditions")?;
                let nodes = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| compile_node(item, &join(&here, &i.to_string())))
                    .collect::<Result<Box<[Node]>, _>>()?;
                if key == "any" {
                    Node::Any(nodes)
                } else {
                    Node::All(nodes)
                }
            }
            "not" => Node::Not(Box::new(compile_node(value, &here)?)),
            _ => {
                // `\any` names a field called `any`; `\\x` one called `\x`.
                let name = key.strip_prefix('\\').unwrap_or(key);
                let field = FieldPath::parse(name).map_err(|m| err(&here, m))?;
                Node::Field(field, compile_test(value, &here, false)?)
            }
        };
        nodes.push(node);
    }
    Ok(if nodes.len() == 1 {
        nodes.remove(0)
    } else {
        Node::All(nodes.into())
    })
}

fn non_empty_list<'a>(v: &'a Yaml, path: &str, what: &str) -> Result<&'a [Yaml], ConditionError> {
    match v {
        Yaml::Sequence(items) if items.is_empty() => Err(err(
            path,
            format!("the list is empty: give at least one of the {what}"),
        )),
        Yaml::Sequence(items) => Ok(items),
        other => Err(err(
            path,
            format!("expected a list of {what}, found {}", describe(other)),
        )),
    }
}

fn compile_test(v: &Yaml, path: &str, ignore_case: bool) -> Result<Test, ConditionError> {
    match v {
        Yaml::Mapping(ops) => compile_ops(ops, path, ignore_case),
        Yaml::Sequence(_) => compile_in(v, path, ignore_case),
        Yaml::Null => Err(err(
            path,
            "null is not a value to compare with; use `{exists: false}` to test that a field is missing",
        )),
        _ => compile_equals(vec![scalar(v, path)?], path, ignore_case),
    }
}

fn compile_ops(ops: &Mapping, path: &str, inherited_ci: bool) -> Result<Test, ConditionError> {
    let ignore_case = match ops.get("ignore_case") {
        None => inherited_ci,
        Some(Yaml::Bool(b)) => *b,
        Some(other) => {
            return Err(err(
                &join(path, "ignore_case"),
                format!("expected true or false, found {}", describe(other)),
            ));
        }
    };
    let mut tests = Vec::with_capacity(ops.len());
    for (key, arg) in ops {
        let Some(op) = key.as_str() else {
            return Err(err(
                path,
                format!("operator names must be strings, found {}", describe(key)),
            ));
        };
        let here = join(path, op);
        let test = match op {
            "ignore_case" => continue,
            "equals" => compile_equals(vec![scalar(arg, &here)?], &here, ignore_case)?,
            "in" => compile_in(arg, &here, ignore_case)?,
            "prefix" => Test::Prefix(text_matcher(Anchor::Start, arg, &here, ignore_case)?),
            "suffix" => Test::Suffix(text_matcher(Anchor::End, arg, &here, ignore_case)?),
            "contains" => Test::Contains {
                text: text_matcher(Anchor::Anywhere, arg, &here, ignore_case)?,
                element: text_matcher(Anchor::Whole, arg, &here, ignore_case)?,
            },
            "regex" => {
                let Yaml::String(pattern) = arg else {
                    return Err(err(
                        &here,
                        format!(
                            "expected a regular expression string, found {}",
                            describe(arg)
                        ),
                    ));
                };
                let re = RegexBuilder::new(pattern)
                    .case_insensitive(ignore_case)
                    .build()
                    .map_err(|e| err(&here, format!("invalid regex: {e}")))?;
                Test::Regex(re)
            }
            "exists" => match arg {
                Yaml::Bool(b) => Test::Exists(*b),
                other => {
                    return Err(err(
                        &here,
                        format!("expected true or false, found {}", describe(other)),
                    ));
                }
            },
            "gt" => Test::Compare(Cmp::Gt, number(arg, &here)?),
            "gte" => Test::Compare(Cmp::Gte, number(arg, &here)?),
            "lt" => Test::Compare(Cmp::Lt, number(arg, &here)?),
            "lte" => Test::Compare(Cmp::Lte, number(arg, &here)?),
            "range" => {
                let (lo, hi) = match arg {
                    Yaml::Sequence(b) => match b.as_slice() {
                        [lo, hi] => (lo, hi),
                        _ => {
                            return Err(err(
                                &here,
                                format!("expected [low, high], found a list of {}", b.len()),
                            ));
                        }
                    },
                    _ => {
                        return Err(err(
                            &here,
                            format!("expected [low, high], found {}", describe(arg)),
                        ));
                    }
                };
                let lo = number(lo, &join(&here, "0"))?;
                let hi = number(hi, &join(&here, "1"))?;
                if lo > hi {
                    return Err(err(
                        &here,
                        format!("low bound {lo} is above high bound {hi}"),
                    ));
                }
                Test::Range(lo, hi)
            }
            "not" => Test::Not(Box::new(compile_test(arg, &here, ignore_case)?)),
            "any" | "all" => {
                let items = non_empty_list(arg, &here, "tests")?;
                let tests = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| compile_test(item, &join(&here, &i.to_string()), ignore_case))
                    .collect::<Result<Box<[Test]>, _>>()?;
                if op == "any" {
                    Test::Any(tests)
                } else {
                    Test::All(tests)
                }
            }
            other => {
                let hint = if arg.is_mapping()
                    || !other.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                {
                    " (to test a nested field, write its dotted path as the key: `a.b: ...`)"
                } else {
                    ""
                };
                return Err(err(
                    &here,
                    format!("unknown operator `{other}` (expected one of: {OPERATORS}){hint}"),
                ));
            }
        };
        tests.push(test);
    }
    match tests.len() {
        0 => Err(err(
            path,
            format!("no operator given (expected one of: {OPERATORS})"),
        )),
        1 => Ok(tests.remove(0)),
        _ => Ok(Test::All(tests.into())),
    }
}

fn compile_in(v: &Yaml, path: &str, ignore_case: bool) -> Result<Test, ConditionError> {
    let items = non_empty_list(v, path, "values")?;
    let values = items
        .iter()
        .enumerate()
        .map(|(i, item)| scalar(item, &join(path, &i.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    compile_equals(values, path, ignore_case)
}

/// A value to compare with, as written in YAML.
struct Scalar {
    text: String,
    num: Option<Num>,
    /// Written as a YAML number (not a string that happens to parse).
    typed_num: bool,
}

fn scalar(v: &Yaml, path: &str) -> Result<Scalar, ConditionError> {
    match v {
        Yaml::String(s) => Ok(Scalar {
            text: s.clone(),
            num: Num::parse(s),
            typed_num: false,
        }),
        Yaml::Bool(b) => Ok(Scalar {
            text: b.to_string(),
            num: None,
            typed_num: false,
        }),
        Yaml::Number(n) => {
            let num = if let Some(i) = n.as_i64() {
                Num::Int(i128::from(i))
            } else if let Some(u) = n.as_u64() {
                Num::Int(i128::from(u))
            } else {
                match n.as_f64().filter(|f| f.is_finite()) {
                    Some(f) => Num::Float(f),
                    None => return Err(err(path, "expected a finite number")),
                }
            };
            // Render as event numbers render, so text tests agree.
            let text = match num {
                Num::Int(i) => i.to_string(),
                Num::Float(f) => {
                    serde_json::Number::from_f64(f).map_or_else(|| f.to_string(), |n| n.to_string())
                }
            };
            Ok(Scalar {
                text,
                num: Some(num),
                typed_num: true,
            })
        }
        Yaml::Null => Err(err(
            path,
            "null is not a value to compare with; use `{exists: false}` to test that a field is missing",
        )),
        other => Err(err(
            path,
            format!(
                "expected a string, number or boolean, found {}",
                describe(other)
            ),
        )),
    }
}

fn compile_equals(
    values: Vec<Scalar>,
    path: &str,
    ignore_case: bool,
) -> Result<Test, ConditionError> {
    let typed_nums = values
        .iter()
        .filter(|v| v.typed_num)
        .filter_map(|v| v.num)
        .collect();
    let all_nums = values.iter().filter_map(|v| v.num).collect();
    let texts = values.into_iter().map(|v| v.text).collect();
    let text = TextMatcher::new(Anchor::Whole, texts, ignore_case).map_err(|m| err(path, m))?;
    Ok(Test::Equals(Equals {
        text,
        typed_nums,
        all_nums,
    }))
}

fn text_matcher(
    anchor: Anchor,
    v: &Yaml,
    path: &str,
    ignore_case: bool,
) -> Result<TextMatcher, ConditionError> {
    const EXPECTED: &str = "expected a string or a list of strings";
    let needles: Vec<String> = match v {
        Yaml::String(s) => vec![s.clone()],
        Yaml::Sequence(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Yaml::String(s) => Ok(s.clone()),
                other => Err(err(
                    &join(path, &i.to_string()),
                    format!("expected a string, found {}", describe(other)),
                )),
            })
            .collect::<Result<_, _>>()?,
        Yaml::Sequence(_) => return Err(err(path, format!("{EXPECTED}, found an empty list"))),
        other => return Err(err(path, format!("{EXPECTED}, found {}", describe(other)))),
    };
    if needles.iter().any(String::is_empty) {
        return Err(err(path, "an empty string would match everything"));
    }
    TextMatcher::new(anchor, needles, ignore_case).map_err(|m| err(path, m))
}

fn number(v: &Yaml, path: &str) -> Result<f64, ConditionError> {
    match v {
        Yaml::Number(n) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .ok_or_else(|| err(path, "expected a finite number")),
        other => Err(err(
            path,
            format!("expected a number, found {}", describe(other)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cond(yaml: &str) -> Condition {
        let v: Yaml = serde_yaml_ng::from_str(yaml).unwrap();
        Condition::from_yaml(&v).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    fn cond_err(yaml: &str) -> ConditionError {
        let v: Yaml = serde_yaml_ng::from_str(yaml).unwrap();
        match Condition::from_yaml(&v) {
            Ok(c) => panic!("{yaml}: compiled to {c:?}"),
            Err(e) => e,
        }
    }

    fn ev(v: Json) -> Event {
        match v {
            Json::Object(m) => Event::from_map(m),
            _ => panic!("not an object"),
        }
    }

    fn check(yaml: &str, event: Json) -> bool {
        cond(yaml).matches(&ev(event))
    }

    #[test]
    fn scalar_equals_string_number_bool() {
        let c = cond("process.name: sshd");
        assert!(c.matches(&ev(json!({"process": {"name": "sshd"}}))));
        assert!(!c.matches(&ev(json!({"process": {"name": "sshd2"}}))));
        assert!(!c.matches(&ev(json!({"process": {"name": "SSHD"}}))));
        assert!(!c.matches(&ev(json!({"process": "sshd"}))));
        assert!(!c.matches(&ev(json!({}))));

        assert!(check("ok: true", json!({"ok": true})));
        assert!(check("ok: true", json!({"ok": "true"})));
        assert!(!check("ok: true", json!({"ok": false})));
        assert!(!check("ok: true", json!({"ok": 1})));
        assert!(check("ok: 'true'", json!({"ok": true})));
        assert!(check("ok: false", json!({"ok": false})));
    }

    #[test]
    fn numbers_match_numbers_and_numeric_strings() {
        let yaml = "http.response.status_code: 404";
        assert!(check(
            yaml,
            json!({"http": {"response": {"status_code": 404}}})
        ));
        assert!(check(
            yaml,
            json!({"http": {"response": {"status_code": "404"}}})
        ));
        assert!(check(
            yaml,
            json!({"http": {"response": {"status_code": 404.0}}})
        ));
        assert!(check(
            yaml,
            json!({"http": {"response": {"status_code": "404.0"}}})
        ));
        assert!(!check(
            yaml,
            json!({"http": {"response": {"status_code": 403}}})
        ));
        assert!(!check(
            yaml,
            json!({"http": {"response": {"status_code": " 404"}}})
        ));
        assert!(!check(
            yaml,
            json!({"http": {"response": {"status_code": "4o4"}}})
        ));
        // A string in the condition matches the number it spells, but a
        // string field only by its exact text.
        assert!(check("pid: '123'", json!({"pid": 123})));
        assert!(check("pid: '123'", json!({"pid": "123"})));
        assert!(!check("pid: '007'", json!({"pid": "7"})));
        assert!(check("pid: '007'", json!({"pid": 7})));
        // Integers beyond 2^53 compare exactly.
        assert!(check(
            "id: 9007199254740993",
            json!({"id": 9_007_199_254_740_993_u64})
        ));
        assert!(!check(
            "id: 9007199254740993",
            json!({"id": 9_007_199_254_740_992_u64})
        ));
        assert!(check("x: 1.5", json!({"x": 1.5})));
        assert!(check("x: 1.5", json!({"x": "1.5"})));
        assert!(check("x: 2.0", json!({"x": 2})));
    }

    #[test]
    fn list_is_in() {
        let c = cond("host.name: [web1, web2, 80]");
        assert!(c.matches(&ev(json!({"host": {"name": "web2"}}))));
        assert!(c.matches(&ev(json!({"host": {"name": 80}}))));
        assert!(c.matches(&ev(json!({"host": {"name": "80"}}))));
        assert!(!c.matches(&ev(json!({"host": {"name": "web3"}}))));
        assert!(!c.matches(&ev(json!({"host": {"name": ["web1"]}}))));
        let explicit = cond("host.name: {in: [web1, web2]}");
        assert!(explicit.matches(&ev(json!({"host": {"name": "web1"}}))));
        assert!(check(
            "host.name: {equals: web1}",
            json!({"host": {"name": "web1"}})
        ));
    }

    #[test]
    fn range_and_comparisons() {
        let c = cond("http.response.status_code: {range: [400, 499]}");
        let status = |v: Json| ev(json!({"http": {"response": {"status_code": v}}}));
        assert!(c.matches(&status(json!(400))));
        assert!(c.matches(&status(json!(499))));
        assert!(c.matches(&status(json!("404"))));
        assert!(c.matches(&status(json!(450.5))));
        assert!(!c.matches(&status(json!(399))));
        assert!(!c.matches(&status(json!(500))));
        assert!(!c.matches(&status(json!("abc"))));
        assert!(!c.matches(&status(json!(true))));
        assert!(!c.matches(&status(json!([404]))));
        assert!(!c.matches(&ev(json!({}))));

        let c = cond("s: {gte: 400, lt: 500}");
        assert!(c.matches(&ev(json!({"s": 400}))));
        assert!(c.matches(&ev(json!({"s": 499.9}))));
        assert!(!c.matches(&ev(json!({"s": 500}))));
        assert!(!c.matches(&ev(json!({"s": 399}))));
        assert!(check("s: {gt: 1}", json!({"s": 2})));
        assert!(!check("s: {gt: 1}", json!({"s": 1})));
        assert!(check("s: {lte: 1}", json!({"s": "1"})));
        assert!(!check("s: {lt: 1}", json!({"s": 1})));
        // Non-finite strings are not numbers.
        assert!(!check("s: {gt: 1}", json!({"s": "inf"})));
        assert!(!check("s: {lt: 1}", json!({"s": "-inf"})));
        assert!(!check("s: {lt: 1}", json!({"s": "NaN"})));
    }

    #[test]
    fn prefix_suffix_contains() {
        let c = cond("url.path: {suffix: [.env, .git/config]}");
        assert!(c.matches(&ev(json!({"url": {"path": "/app/.env"}}))));
        assert!(c.matches(&ev(json!({"url": {"path": "/.git/config"}}))));
        assert!(!c.matches(&ev(json!({"url": {"path": "/.env/x"}}))));
        assert!(!c.matches(&ev(json!({"url": {"path": "/app/.ENV"}}))));
        assert!(check("p: {prefix: /admin}", json!({"p": "/admin/x"})));
        assert!(!check("p: {prefix: /admin}", json!({"p": "/x/admin"})));
        assert!(check(
            "p: {contains: [/.git, wp-]}",
            json!({"p": "/x/wp-login.php"})
        ));
        assert!(!check(
            "p: {contains: [/.git, wp-]}",
            json!({"p": "/x/login.php"})
        ));
        // Numbers are tested by their text.
        assert!(check("s: {prefix: '4'}", json!({"s": 404})));
        assert!(!check("s: {prefix: '5'}", json!({"s": 404})));
        assert!(check("s: {suffix: '.5'}", json!({"s": 1.5})));
        assert!(check("ok: {prefix: tr}", json!({"ok": true})));
        // Objects have no text.
        assert!(!check("p: {contains: a}", json!({"p": {"a": "a"}})));
    }

    #[test]
    fn contains_on_list_tests_elements() {
        let c = cond("event.tags: {contains: banned}");
        assert!(c.matches(&ev(json!({"event": {"tags": ["x", "banned"]}}))));
        assert!(!c.matches(&ev(json!({"event": {"tags": ["x", "banned-not"]}}))));
        assert!(!c.matches(&ev(json!({"event": {"tags": []}}))));
        assert!(c.matches(&ev(json!({"event": {"tags": "was banned"}}))));
        let ci = cond("event.tags: {contains: BANNED, ignore_case: true}");
        assert!(ci.matches(&ev(json!({"event": {"tags": ["Banned"]}}))));
        assert!(check("n: {contains: '5'}", json!({"n": [4, 5]})));
    }

    #[test]
    fn regex_operator() {
        let c = cond(r#"message: {regex: "^Failed password for (invalid user )?\\S+ from"}"#);
        assert!(c.matches(&ev(
            json!({"message": "Failed password for root from 1.2.3.4"})
        )));
        assert!(c.matches(&ev(
            json!({"message": "Failed password for invalid user x from 1.2.3.4"})
        )));
        assert!(!c.matches(&ev(
            json!({"message": "Accepted password for root from 1.2.3.4"})
        )));
        assert!(!c.matches(&ev(json!({"message": 5}))));
        assert!(check("s: {regex: '^4\\d\\d$'}", json!({"s": 404})));
        assert!(check(
            "m: {regex: '^failed', ignore_case: true}",
            json!({"m": "FAILED x"})
        ));
        assert!(!check("m: {regex: '^failed'}", json!({"m": "FAILED x"})));
    }

    #[test]
    fn exists_and_null() {
        let yes = cond("user.name: {exists: true}");
        let no = cond("user.name: {exists: false}");
        let present = ev(json!({"user": {"name": "bob"}}));
        let empty_string = ev(json!({"user": {"name": ""}}));
        let null = ev(json!({"user": {"name": null}}));
        let missing = ev(json!({"user": {}}));
        assert!(yes.matches(&present) && !no.matches(&present));
        assert!(yes.matches(&empty_string) && !no.matches(&empty_string));
        assert!(!yes.matches(&null) && no.matches(&null));
        assert!(!yes.matches(&missing) && no.matches(&missing));
        assert!(no.matches(&ev(json!({"user": "bob"}))));
    }

    #[test]
    fn missing_field_fails_every_operator_but_not_inverts() {
        let missing = ev(json!({"other": 1}));
        for yaml in [
            "f: x",
            "f: [x, y]",
            "f: 1",
            "f: true",
            "f: {equals: x}",
            "f: {prefix: x}",
            "f: {suffix: x}",
            "f: {contains: x}",
            "f: {regex: '.*'}",
            "f: {gt: 0}",
            "f: {gte: 0}",
            "f: {lt: 0}",
            "f: {lte: 0}",
            "f: {range: [0, 1]}",
            "f: {exists: true}",
            "f: {any: [{regex: '.*'}, {exists: true}]}",
        ] {
            assert!(!cond(yaml).matches(&missing), "{yaml}");
        }
        assert!(cond("f: {exists: false}").matches(&missing));
        assert!(cond("f: {not: {suffix: .png}}").matches(&missing));
        assert!(cond("not: {f: x}").matches(&missing));
        assert!(!cond("f: {exists: true, not: {suffix: .png}}").matches(&missing));
    }

    #[test]
    fn combinators() {
        let c = cond(
            "any: [{url.path: {suffix: .env}}, {url.path: {contains: /.git}}]\nhttp.request.method: GET",
        );
        let e = |path: &str, method: &str| {
            ev(json!({"url": {"path": path}, "http": {"request": {"method": method}}}))
        };
        assert!(c.matches(&e("/.env", "GET")));
        assert!(c.matches(&e("/x/.git/HEAD", "GET")));
        assert!(!c.matches(&e("/x/.git/HEAD", "POST")));
        assert!(!c.matches(&e("/index.html", "GET")));

        let c = cond("all: [{a: 1}, {b: 2}]\nnot: {c: 3}");
        assert!(c.matches(&ev(json!({"a": 1, "b": 2}))));
        assert!(c.matches(&ev(json!({"a": 1, "b": 2, "c": 4}))));
        assert!(!c.matches(&ev(json!({"a": 1, "b": 2, "c": 3}))));
        assert!(!c.matches(&ev(json!({"a": 1}))));

        let c = cond("url.path: {not: {suffix: [.png, .css]}}");
        assert!(c.matches(&ev(json!({"url": {"path": "/a.php"}}))));
        assert!(!c.matches(&ev(json!({"url": {"path": "/a.css"}}))));

        let c = cond("url.path: {any: [{suffix: .env}, {prefix: /wp-}]}");
        assert!(c.matches(&ev(json!({"url": {"path": "/wp-admin"}}))));
        assert!(!c.matches(&ev(json!({"url": {"path": "/admin"}}))));
        let c = cond("s: {not: [200, 304]}");
        assert!(c.matches(&ev(json!({"s": 404}))));
        assert!(!c.matches(&ev(json!({"s": 304}))));
        let c = cond("s: {all: [{gte: 400}, {lt: 500}]}");
        assert!(c.matches(&ev(json!({"s": 404}))));
        assert!(!c.matches(&ev(json!({"s": 504}))));
    }

    #[test]
    fn ignore_case_ascii_and_unicode() {
        let c = cond(r"url.original: {contains: '\x', ignore_case: true}");
        assert!(c.matches(&ev(json!({"url": {"original": "/\\x16\\x03"}}))));
        assert!(c.matches(&ev(json!({"url": {"original": "/\\X16"}}))));
        assert!(!c.matches(&ev(json!({"url": {"original": "/x16"}}))));

        let eq = cond("u: {equals: Admin, ignore_case: true}");
        assert!(eq.matches(&ev(json!({"u": "ADMIN"}))));
        assert!(eq.matches(&ev(json!({"u": "admin"}))));
        assert!(!eq.matches(&ev(json!({"u": "admins"}))));
        // Unicode text falls back to case folding: KELVIN SIGN folds to k.
        let k = cond("u: {equals: k, ignore_case: true}");
        assert!(k.matches(&ev(json!({"u": "\u{212A}"}))));
        let u = cond("u: {in: [ÉCOLE, b], ignore_case: true}");
        assert!(u.matches(&ev(json!({"u": "école"}))));
        assert!(u.matches(&ev(json!({"u": "B"}))));

        let p = cond("p: {prefix: [/Admin, /wp-], ignore_case: true}");
        assert!(p.matches(&ev(json!({"p": "/ADMIN/x"}))));
        assert!(p.matches(&ev(json!({"p": "/WP-login"}))));
        assert!(p.matches(&ev(json!({"p": "/admin/é"}))));
        assert!(!p.matches(&ev(json!({"p": "/adm"}))));
        assert!(!p.matches(&ev(json!({"p": "é/admin"}))));
        assert!(!p.matches(&ev(json!({"p": ""}))));

        let s = cond("p: {suffix: [.ENV, .Git/Config], ignore_case: true}");
        assert!(s.matches(&ev(json!({"p": "/x/.env"}))));
        assert!(s.matches(&ev(json!({"p": "é/.GIT/config"}))));
        assert!(s.matches(&ev(json!({"p": "/\u{212A}/.Env"}))));
        assert!(!s.matches(&ev(json!({"p": ".en"}))));
        assert!(!s.matches(&ev(json!({"p": "/.env/é"}))));

        // Inherited by nested tests, overridable.
        let n = cond("p: {ignore_case: true, not: {suffix: .PNG}}");
        assert!(!n.matches(&ev(json!({"p": "a.png"}))));
        let o = cond("p: {ignore_case: true, not: {suffix: .PNG, ignore_case: false}}");
        assert!(o.matches(&ev(json!({"p": "a.png"}))));
        // Not inherited across fields.
        assert!(!check(
            "a: {equals: X, ignore_case: true}\nb: Y",
            json!({"a": "x", "b": "y"})
        ));
    }

    #[test]
    fn escaped_field_names() {
        let c = cond("'\\any': x\n'\\not.b': 1");
        assert!(c.matches(&ev(json!({"any": "x", "not": {"b": 1}}))));
        assert!(!c.matches(&ev(json!({"any": "y", "not": {"b": 1}}))));
        let paths: Vec<&str> = c.fields().iter().map(|p| p.as_str()).collect();
        assert_eq!(paths, ["any", "not.b"]);
        // A dotted path starting with a combinator name is a plain field.
        assert!(check("any.x: 1", json!({"any": {"x": 1}})));
    }

    #[test]
    fn odd_values() {
        // Replacement characters and huge strings are just text.
        let c = cond("m: {contains: \"\u{FFFD}\"}");
        let lossy = String::from_utf8_lossy(b"bad \xff\xfe byte").into_owned();
        assert!(c.matches(&ev(json!({ "m": lossy }))));
        let huge = format!("{}/.env", "a".repeat(1 << 20));
        assert!(check("p: {suffix: .env}", json!({ "p": huge.clone() })));
        assert!(check(
            "p: {suffix: .ENV, ignore_case: true}",
            json!({ "p": huge.clone() })
        ));
        assert!(!check(
            "p: {prefix: /, ignore_case: true}",
            json!({ "p": huge.clone() })
        ));
        assert!(check("p: {regex: '\\.env$'}", json!({ "p": huge.clone() })));
        assert!(!check("p: huge", json!({ "p": huge })));
        // Very large or tiny numbers render and compare without panicking.
        assert!(check("n: {gt: 1e300}", json!({"n": 1.7e308})));
        assert!(check("n: {prefix: '1.7e'}", json!({"n": 1.7e308})));
        assert!(!check("n: 1", json!({"n": u64::MAX})));
        assert!(check("n: 18446744073709551615", json!({"n": u64::MAX})));
        assert!(check("n: -9223372036854775808", json!({"n": i64::MIN})));
    }

    #[test]
    fn fields_lists_paths_once_in_order() {
        let c = cond("a.b: 1\nany: [{c: 2}, {a.b: 3}]\nnot: {d.e: {exists: true}}");
        let paths: Vec<&str> = c.fields().iter().map(|p| p.as_str()).collect();
        assert_eq!(paths, ["a.b", "c", "d.e"]);
    }

    #[test]
    fn errors_name_the_path() {
        let cases = [
            (
                "url.path: {suffix: 5}",
                "url.path.suffix",
                "expected a string or a list of strings, found a number",
            ),
            (
                "url.path: {suffix: []}",
                "url.path.suffix",
                "expected a string or a list of strings, found an empty list",
            ),
            (
                "url.path: {suffix: [a, 1]}",
                "url.path.suffix.1",
                "expected a string, found a number",
            ),
            (
                "p: {prefix: ''}",
                "p.prefix",
                "an empty string would match everything",
            ),
            (
                "any: []",
                "any",
                "the list is empty: give at least one of the conditions",
            ),
            (
                "all: {a: 1}",
                "all",
                "expected a list of conditions, found a mapping",
            ),
            (
                "any: [{a: 1}, {b: {gt: x}}]",
                "any.1.b.gt",
                "expected a number, found a string",
            ),
            (
                "not: [a]",
                "not",
                "expected a mapping of field tests (or any/all/not), found a list",
            ),
            (
                "a: {range: [5, 1]}",
                "a.range",
                "low bound 5 is above high bound 1",
            ),
            (
                "a: {range: [1]}",
                "a.range",
                "expected [low, high], found a list of 1",
            ),
            (
                "a: {range: 5}",
                "a.range",
                "expected [low, high], found a number",
            ),
            (
                "a: {range: [1, x]}",
                "a.range.1",
                "expected a number, found a string",
            ),
            (
                "a: {exists: yes please}",
                "a.exists",
                "expected true or false, found a string",
            ),
            (
                "a: {ignore_case: 1, equals: x}",
                "a.ignore_case",
                "expected true or false, found a number",
            ),
            (
                "a: {ignore_case: true}",
                "a",
                "no operator given (expected one of: equals, in, prefix, suffix, contains, regex, exists, gt, gte, lt, lte, range, not, any, all, ignore_case)",
            ),
            (
                "a: {in: []}",
                "a.in",
                "the list is empty: give at least one of the values",
            ),
            (
                "a: {in: x}",
                "a.in",
                "expected a list of values, found a string",
            ),
            (
                "a: [x, [y]]",
                "a.1",
                "expected a string, number or boolean, found a list",
            ),
            (
                "a: {equals: {b: 1}}",
                "a.equals",
                "expected a string, number or boolean, found a mapping",
            ),
            (
                "a: ~",
                "a",
                "null is not a value to compare with; use `{exists: false}` to test that a field is missing",
            ),
            (
                "a: {not: {}}",
                "a.not",
                "no operator given (expected one of: equals, in, prefix, suffix, contains, regex, exists, gt, gte, lt, lte, range, not, any, all, ignore_case)",
            ),
            ("a: {gt: .inf}", "a.gt", "expected a finite number"),
            ("a..b: 1", "a..b", "field path `a..b` has an empty segment"),
            (
                "1: x",
                "",
                "keys must be field paths or any/all/not, found a number",
            ),
            (
                "{}",
                "",
                "empty condition: give at least one field test or any/all/not",
            ),
            (
                "~",
                "",
                "expected a mapping of field tests (or any/all/not), found null",
            ),
        ];
        for (yaml, path, message) in cases {
            let e = cond_err(yaml);
            assert_eq!(
                (e.path.as_str(), e.message.as_str()),
                (path, message),
                "{yaml}"
            );
        }
        let e = cond_err("a: {sufix: x}");
        assert_eq!(e.path, "a.sufix");
        assert!(
            e.message
                .starts_with("unknown operator `sufix` (expected one of: equals"),
            "{e}"
        );
        let e = cond_err("url: {path: {suffix: x}}");
        assert_eq!(e.path, "url.path");
        assert!(
            e.message
                .ends_with("write its dotted path as the key: `a.b: ...`)"),
            "{e}"
        );
        let e = cond_err("m: {regex: '(unclosed'}");
        assert_eq!(e.path, "m.regex");
        assert!(e.message.starts_with("invalid regex: "), "{e}");
        assert!(e.to_string().starts_with("m.regex: invalid regex: "));
        assert_eq!(
            cond_err("{}").to_string(),
            "empty condition: give at least one field test or any/all/not"
        );
    }

    #[test]
    fn deserializes_inside_a_config() {
        #[derive(Debug, Deserialize)]
        struct Cfg {
            when: Condition,
        }
        let cfg: Cfg = serde_yaml_ng::from_str("when:\n  process.name: sshd\n").unwrap();
        assert!(cfg.when.matches(&ev(json!({"process": {"name": "sshd"}}))));
        let e = serde_yaml_ng::from_str::<Cfg>("when:\n  p: {suffix: 1}\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("p.suffix: expected a string or a list of strings"),
            "{e}"
        );
    }

    #[test]
    fn is_send_sync_clone() {
        fn assert_traits<T: Send + Sync + Clone + fmt::Debug>() {}
        assert_traits::<Condition>();
        let c = cond("a: 1");
        let d = c.clone();
        assert!(d.matches(&ev(json!({"a": 1}))));
    }
}
