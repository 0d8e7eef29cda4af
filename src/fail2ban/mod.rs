//! The fail2ban engine: rules that recognise failures, counting per
//! `group~ip`, ban decisions and the backends that enforce them.

pub mod allow;
pub mod backend;
pub mod book;
pub mod builtin;
pub mod engine;
pub mod import;
pub mod ip;
pub mod manager;
pub mod pattern_index;
pub mod policy;
pub mod rules;

pub mod replay;
pub mod session;
pub mod text;
pub mod tracker;

use std::path::Path;

use engine::RuleEngine;
use rules::{RuleError, RuleSet, RuleSetDef, RuleSource};

/// Loads and compiles rule sets, dropping disabled rules. Every id in
/// `disable` must name a loaded rule (a typo must not silently keep a rule on).
pub fn load_rules(
    sources: &[RuleSource],
    disable: &[String],
    base_dir: &Path,
) -> Result<RuleEngine, RuleError> {
    let mut sets: Vec<RuleSet> = Vec::new();
    for src in sources {
        let (def, origin) = RuleSetDef::load(src, base_dir)?;
        sets.push(def.compile(src.mode.as_deref(), &origin)?);
    }
    for id in disable {
        let found = sets.iter().any(|s| s.rules.iter().any(|r| &r.id == id));
        if !found {
            return Err(RuleError {
                source_name: "disable_rules".into(),
                rule: Some(id.clone()),
                message: "no loaded rule has this id".into(),
            });
        }
    }
    for s in &mut sets {
        s.rules.retain(|r| !disable.contains(&r.id));
    }
    RuleEngine::new(sets)
}
