//! Which of many anchored patterns may match a text, found cheaply.
//!
//! Every rule pattern is anchored with `^`, and nearly all begin with text
//! the daemon writes ("Failed password for ", "Invalid user "). A
//! multi-pattern automaton over the whole patterns must read every line
//! to its end while some pattern still matches it, and the engine then runs
//! the winning pattern again for its captures. So the index looks only at
//! the literal prefixes a pattern can start with: a pattern whose prefix
//! starts the text is a *candidate*, and the engine confirms it with the
//! pattern itself, which it runs anyway. Patterns without a usable prefix
//! (`^.*SRC=`, `^(?:a|.*b)`) are matched whole, as before.
//!
//! Candidates are a superset of the patterns that match: never fewer, so
//! no failure is lost; the extra ones cost one failed regex run.

use regex_automata::{Anchored, Input, MatchKind, PatternSet, meta};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Hir, Look};

/// Bytes of a character class expanded into prefixes: enough for the
/// address classes (`[0-9A-Fa-f:.]`) that follow "Connection closed by ",
/// so "Disconnected from user alice" is told from "Disconnected from 1.2.3.4".
const CLASS_LIMIT: usize = 32;
/// Prefixes per pattern before the extractor shortens them.
const TOTAL_LIMIT: usize = 512;

/// The patterns of one field, indexed.
#[derive(Debug, Clone)]
pub struct PatternIndex {
    prefixes: Option<Matcher>,
    whole: Option<Matcher>,
}

/// One multi-pattern regex and the index pattern each of its patterns
/// stands for.
#[derive(Debug, Clone)]
struct Matcher {
    re: meta::Regex,
    owner: Vec<usize>,
    anchored: Anchored,
    cache: meta::Cache,
    hits: PatternSet,
}

impl Matcher {
    fn new(
        patterns: &[String],
        owner: Vec<usize>,
        anchored: Anchored,
    ) -> Result<Option<Self>, String> {
        if patterns.is_empty() {
            return Ok(None);
        }
        let re = meta::Regex::builder()
            // `All`: every pattern that matches is reported, not only the
            // first of several sharing a prefix.
            .configure(
                meta::Config::new()
                    .match_kind(MatchKind::All)
                    .nfa_size_limit(Some(64 << 20)),
            )
            .build_many(patterns)
            .map_err(|e| format!("cannot combine the patterns: {e}"))?;
        Ok(Some(Self {
            cache: re.create_cache(),
            hits: PatternSet::new(re.pattern_len()),
            re,
            owner,
            anchored,
        }))
    }

    fn scan(&mut self, text: &str, found: &mut impl FnMut(usize)) {
        self.hits.clear();
        let input = Input::new(text).anchored(self.anchored);
        self.re
            .which_overlapping_matches_with(&mut self.cache, &input, &mut self.hits);
        if self.hits.is_empty() {
            return;
        }
        for p in self.hits.iter() {
            found(self.owner[p.as_usize()]);
        }
    }
}

impl PatternIndex {
    /// Indexes `patterns` (each anchored with `^`).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, String> {
        let (mut lits, mut lit_owner) = (Vec::new(), Vec::new());
        let (mut whole, mut whole_owner) = (Vec::new(), Vec::new());
        for (i, p) in patterns.iter().enumerate() {
            let p = p.as_ref();
            match literal_prefixes(p) {
                Some(prefixes) => {
                    // One alternation per pattern keeps the hit set as
                    // small as the pattern list.
                    let alts: Vec<String> =
                        prefixes.iter().map(|l| regex_syntax::escape(l)).collect();
                    lits.push(format!("^(?:{})", alts.join("|")));
                    lit_owner.push(i);
                }
                None => {
                    whole.push(p.to_string());
                    whole_owner.push(i);
                }
            }
        }
        Ok(Self {
            prefixes: Matcher::new(&lits, lit_owner, Anchored::Yes)?,
            whole: Matcher::new(&whole, whole_owner, Anchored::No)?,
        })
    }

    /// Calls `found` with the index of every pattern that may match `text`
    /// (in no particular order).
    pub fn candidates(&mut self, text: &str, mut found: impl FnMut(usize)) {
        if let Some(m) = &mut self.prefixes {
            m.scan(text, &mut found);
        }
        if let Some(m) = &mut self.whole {
            m.scan(text, &mut found);
        }
    }
}

/// A cheap test in front of one anchored regex that is asked about every
/// line but rarely matches (a rule set's `strip`): the bytes a match can
/// start with, and the literal prefixes behind them.
#[derive(Debug, Clone)]
pub struct PrefixGuard {
    first: [bool; 256],
    prefixes: Option<Vec<String>>,
}

impl PrefixGuard {
    /// The guard for `pattern`; one that lets everything through when the
    /// pattern has no usable prefix.
    pub fn new(pattern: &str) -> Self {
        let prefixes = literal_prefixes(pattern);
        let mut first = [prefixes.is_none(); 256];
        for p in prefixes.iter().flatten() {
            if let Some(&b) = p.as_bytes().first() {
                first[usize::from(b)] = true;
            }
        }
        Self { first, prefixes }
    }

    /// False when `pattern` cannot match at the start of `text`.
    pub fn may_match(&self, text: &str) -> bool {
        let Some(prefixes) = &self.prefixes else {
            return true;
        };
        match text.as_bytes().first() {
            Some(&b) if self.first[usize::from(b)] => {
                prefixes.iter().any(|p| text.starts_with(p.as_str()))
            }
            _ => false,
        }
    }
}

/// True when every match of `pattern` starts at the start of the text:
/// `^...` and `^(?:a|b)`, not `^a|b` (whose `b` matches anywhere) nor
/// `(?m)^a` (after any newline). False for a pattern that does not parse.
pub fn anchored_at_start(pattern: &str) -> bool {
    parse_anchored(pattern).is_some()
}

/// The parsed pattern, when it is anchored at the start of the text.
fn parse_anchored(pattern: &str) -> Option<Hir> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    hir.properties()
        .look_set_prefix()
        .contains(Look::Start)
        .then_some(hir)
}

/// The texts every match of `pattern` starts with, when the pattern is
/// anchored at the start of the text and they are few and non-empty;
/// `None` when the pattern must be matched whole.
fn literal_prefixes(pattern: &str) -> Option<Vec<String>> {
    // `(?m)^` also matches after a newline, `^a|b` anywhere: a prefix
    // there says nothing about the start of the text.
    let hir = parse_anchored(pattern)?;
    let mut ex = Extractor::new();
    ex.kind(ExtractKind::Prefix)
        .limit_class(CLASS_LIMIT)
        .limit_total(TOTAL_LIMIT);
    let seq = ex.extract(&hir);
    let mut out = Vec::new();
    for lit in seq.literals()? {
        // A prefix cut inside a character is still a prefix up to there.
        let bytes = lit.as_bytes();
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?,
        };
        if text.is_empty() {
            return None;
        }
        out.push(text.to_string());
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands(patterns: &[&str], text: &str) -> Vec<usize> {
        let mut idx = PatternIndex::new(patterns).unwrap();
        let mut v = Vec::new();
        idx.candidates(text, |p| v.push(p));
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn prefixes_pick_the_patterns_a_line_can_match() {
        let pats = [
            r"^Failed (?:password|publickey) for (?P<user>.*) from (?P<ip>\S+)",
            r"^Invalid user (?P<user>.*) from (?P<ip>\S+)",
            r"^(?:Connection closed by|Disconnected from) (?P<ip>[0-9A-Fa-f:.]+) port \d+",
        ];
        assert_eq!(cands(&pats, "Failed password for root from 1.2.3.4"), [0]);
        assert_eq!(cands(&pats, "Invalid user x from 1.2.3.4"), [1]);
        assert_eq!(cands(&pats, "Disconnected from 1.2.3.4 port 22"), [2]);
        assert_eq!(cands(&pats, "Connection closed by ::1 port 22"), [2]);
        // The address class is part of the prefix: a user name is not.
        assert!(cands(&pats, "Disconnected from user alice 1.2.3.4 port 22").is_empty());
        // Anchored: the prefix elsewhere in the line does not count.
        assert!(cands(&pats, "x Invalid user y from 1.2.3.4").is_empty());
        assert!(cands(&pats, "").is_empty());
    }

    #[test]
    fn patterns_sharing_a_prefix_are_all_candidates() {
        let pats = [
            r"^Disconnecting (?:invalid|authenticating) user (?P<user>.*) (?P<ip>\S+) port \d+: Too many",
            r"^Disconnecting(?: invalid user .*)?: Change of username",
            r"^Disconnecting invalid user",
            r"^.*Change of (?P<ip>\S+)",
        ];
        assert_eq!(
            cands(
                &pats,
                "Disconnecting invalid user a 1.2.3.4 port 1: Change of username"
            ),
            [0, 1, 2, 3]
        );
    }

    #[test]
    fn a_prefix_is_a_candidate_even_when_the_pattern_fails() {
        // The engine confirms candidates; the index only promises not to
        // miss one.
        let pats = [r"^Invalid user (?P<user>\S+) from (?P<ip>\S+)$"];
        assert_eq!(cands(&pats, "Invalid user but no address"), [0]);
    }

    #[test]
    fn patterns_without_a_usable_prefix_are_matched_whole() {
        let pats = [
            r"^.*SRC=(?P<ip>\S+)",
            r"^(?:Ban|.*refused) (?P<ip>\S+)",
            r"(?m)^abc (?P<ip>\S+)",
            r"^abc|xyz (?P<ip>\S+)",
            r"^Invalid user",
        ];
        assert_eq!(cands(&pats, "IN=eth0 SRC=1.2.3.4 DST=5.6.7.8"), [0]);
        assert_eq!(cands(&pats, "connect refused 1.2.3.4"), [1]);
        assert_eq!(cands(&pats, "Ban 1.2.3.4"), [1]);
        assert_eq!(cands(&pats, "x\nabc 1.2.3.4"), [2]);
        assert_eq!(cands(&pats, "... xyz 1.2.3.4"), [3]);
        assert!(cands(&pats, "nothing here").is_empty());
    }

    #[test]
    fn anchoring_is_judged_on_every_alternative() {
        assert!(anchored_at_start(r"^Failed (?:a|b) from"));
        assert!(anchored_at_start(r"^(?:a|b)"));
        assert!(anchored_at_start(r"(?:^a|^b)"));
        assert!(!anchored_at_start(r"^a|b"));
        assert!(!anchored_at_start(r"(?m)^a"));
        assert!(!anchored_at_start(r"a"));
        assert!(!anchored_at_start(r"^(?P<ip>"));
    }

    #[test]
    fn case_insensitive_and_optional_prefixes() {
        let pats = [r"(?i)^user (?P<u>\S+) refused", r"^(?:error: )?maximum"];
        assert_eq!(cands(&pats, "USER bob refused"), [0]);
        assert_eq!(cands(&pats, "uSeR bob refused"), [0]);
        assert_eq!(cands(&pats, "maximum authentication"), [1]);
        assert_eq!(cands(&pats, "error: maximum authentication"), [1]);
        assert!(cands(&pats, "error: minimum").is_empty());
    }

    #[test]
    fn the_guard_refuses_only_texts_the_pattern_cannot_start() {
        let g = PrefixGuard::new(r"^(?:\[ID \d+ [\w.]+\] |kernel: ?\[ *\d+\.\d+\]:? )");
        assert!(g.may_match("[ID 800047 auth.info] Failed"));
        assert!(g.may_match("kernel: [ 12.5] x"));
        assert!(g.may_match("kernel:[1.5] x"));
        assert!(!g.may_match("Failed password"));
        assert!(!g.may_match("[sshd] x"));
        assert!(!g.may_match("k"));
        assert!(!g.may_match(""));
        // No usable prefix: everything may match.
        let open = PrefixGuard::new(r"^.*: ");
        assert!(open.may_match("anything"));
        assert!(open.may_match(""));
    }

    #[test]
    fn long_unicode_prefixes_are_cut_at_a_character() {
        let long = "é".repeat(300);
        let pat = format!("^{long} (?P<ip>\\S+)");
        let text = format!("{long} 1.2.3.4");
        assert_eq!(cands(&[pat.as_str()], &text), [0]);
        assert!(cands(&[pat.as_str()], "é 1.2.3.4").is_empty());
    }
}
