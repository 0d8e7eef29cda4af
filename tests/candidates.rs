//! The candidate index never loses a match: over every built-in rule set
//! (all modes) and every line of the fixtures and the fail2ban corpus, each
//! pattern that matches a text is among the candidates the index gives for
//! it. (The engine confirms candidates; a missing one would be a missed
//! failure.)

use std::path::Path;

use logbus::fail2ban::builtin;
use logbus::fail2ban::pattern_index::PatternIndex;
use logbus::fail2ban::rules::RuleSetDef;

/// Texts to try: every line, and what follows each ": " in it (where a
/// syslog message starts), so that rules see their own shapes too.
fn texts() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut out = Vec::new();
    for dir in ["rules", "fail2ban-corpus"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("fixture dir") {
            let path = entry.expect("entry").path();
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            for line in String::from_utf8_lossy(&bytes).lines() {
                out.push(line.to_string());
                for (i, _) in line.match_indices(": ") {
                    out.push(line[i + 2..].to_string());
                }
            }
        }
    }
    out
}

#[test]
fn every_match_is_a_candidate() {
    let texts = texts();
    assert!(
        texts.len() > 5_000,
        "fixtures missing: {} texts",
        texts.len()
    );
    let mut matches = 0usize;
    for name in builtin::names() {
        let text = builtin::get(name).expect("built-in set");
        let def = RuleSetDef::from_yaml(&text, name).expect("parses");
        let modes = def.modes.clone();
        for mode in modes.iter().map(|m| Some(m.as_str())).chain([None]) {
            let set = def.clone().compile(mode, name).expect("compiles");
            let patterns: Vec<&regex::Regex> =
                set.rules.iter().flat_map(|r| r.patterns.iter()).collect();
            let sources: Vec<&str> = patterns.iter().map(|p| p.as_str()).collect();
            let mut index = PatternIndex::new(&sources).expect("index builds");
            for t in &texts {
                let mut found = Vec::new();
                index.candidates(t, |p| found.push(p));
                for (i, p) in patterns.iter().enumerate() {
                    if p.is_match(t) {
                        matches += 1;
                        assert!(
                            found.contains(&i),
                            "{name} (mode {mode:?}): `{}` matches but is no candidate for {t:?}",
                            p.as_str()
                        );
                    }
                }
            }
        }
    }
    // The check saw real matches, not only misses.
    assert!(matches > 1_000, "only {matches} matches checked");
}
