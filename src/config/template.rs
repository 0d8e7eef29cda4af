//! Stage templates: `templates: {NAMESPACE: file.yml}` at the top level, and
//! `template: NAMESPACE.NAME` in a stage, whose own keys override the
//! template's (mappings merge key by key, lists and scalars are replaced).

use std::collections::HashMap;
use std::path::Path;

use serde_yaml_ng::{Mapping, Value};

use super::{ConfigError, expand_tree, locate, parse_yaml};

/// Templates by `NAMESPACE.NAME`.
#[derive(Debug, Default)]
pub struct Templates {
    by_name: HashMap<String, Mapping>,
    namespaces: Vec<String>,
}

/// Loads every file named under `templates:`.
pub fn load_all(
    config: &Path,
    base_dir: &Path,
    decl: Option<Value>,
    env: impl Fn(&str) -> Option<String> + Copy,
) -> Result<Templates, ConfigError> {
    let mut out = Templates::default();
    let decl = match decl {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Mapping(m)) => m,
        Some(_) => {
            return Err(ConfigError {
                field: Some("templates".into()),
                ..ConfigError::file(
                    config,
                    "must map namespaces to template files, e.g. `templates: {common: templates.yml}`",
                )
            });
        }
    };
    for (ns, file) in decl {
        let (Some(ns), Some(file)) = (ns.as_str(), file.as_str()) else {
            return Err(ConfigError {
                field: Some("templates".into()),
                ..ConfigError::file(config, "namespace and file must be strings")
            });
        };
        let path = base_dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
            field: Some(format!("templates.{ns}")),
            ..ConfigError::file(config, format!("cannot read {}: {e}", path.display()))
        })?;
        let mut root = parse_yaml(&path, &text)?;
        expand_tree(&mut root, &mut Vec::new(), env)
            .map_err(|(field, msg)| locate::error(&path, &text, None, Some(&field), msg))?;
        let Value::Mapping(defs) = root else {
            return Err(ConfigError::file(
                &path,
                "a template file must map template names to stage definitions",
            ));
        };
        for (name, def) in defs {
            let Some(name) = name.as_str() else {
                return Err(ConfigError::file(&path, "template names must be strings"));
            };
            let Value::Mapping(def) = def else {
                return Err(locate::error(
                    &path,
                    &text,
                    None,
                    Some(name),
                    "a template must be a mapping of stage options".into(),
                ));
            };
            out.by_name.insert(format!("{ns}.{name}"), def);
        }
        out.namespaces.push(ns.to_string());
    }
    Ok(out)
}

impl Templates {
    /// Applies the stage's `template:` key when it names a stage template.
    ///
    /// `template:` is also an option of some modules (the text template of
    /// `stdout`); it names a stage template only when it reads
    /// `NAMESPACE.NAME` with a declared namespace. Inside a template file,
    /// `template:` is always the module's option.
    pub fn apply(&self, _stage: &str, mut def: Mapping) -> Result<Mapping, String> {
        let reference = match def.get("template").and_then(Value::as_str) {
            Some(r) if self.is_reference(r) => r.to_string(),
            _ => return Ok(def),
        };
        def.shift_remove("template");
        let reference = reference.as_str();
        let Some(base) = self.by_name.get(reference) else {
            // Only reached with a declared namespace, whose file may be empty.
            let mut known: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
            known.sort_unstable();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            return Err(format!("unknown template `{reference}` (known: {known})"));
        };
        let mut merged = base.clone();
        merge(&mut merged, def);
        Ok(merged)
    }
}

impl Templates {
    fn is_reference(&self, text: &str) -> bool {
        let Some((ns, name)) = text.split_once('.') else {
            return false;
        };
        let word = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        word(ns) && word(name) && self.namespaces.iter().any(|n| n == ns)
    }
}

/// Deep-merges `over` into `base`: mappings merge, anything else replaces.
fn merge(base: &mut Mapping, over: Mapping) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Mapping(b)), Value::Mapping(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Mapping {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[test]
    fn merge_overrides_deeply() {
        let mut t = Templates::default();
        t.namespaces.push("c".into());
        t.by_name.insert(
            "c.out".into(),
            yaml("module: file\npath: a\nopts: {x: 1, y: 2}\nlist: [1, 2]"),
        );
        let m = t
            .apply(
                "s",
                yaml("template: c.out\npath: b\nopts: {y: 3}\nlist: [9]"),
            )
            .unwrap();
        assert_eq!(
            m,
            yaml("module: file\npath: b\nopts: {x: 1, y: 3}\nlist: [9]")
        );
    }

    #[test]
    fn unknown_template() {
        let mut t = Templates::default();
        t.namespaces.push("c".into());
        let e = t.apply("s", yaml("template: c.nope")).unwrap_err();
        assert!(e.contains("c.nope"), "{e}");
    }

    #[test]
    fn text_templates_are_left_alone() {
        let mut t = Templates::default();
        t.namespaces.push("c".into());
        for text in ["{message}", "x.y", "c", "ERR {stage}"] {
            let def = yaml(&format!("template: {text:?}"));
            assert_eq!(t.apply("s", def.clone()).unwrap(), def);
        }
    }
}
