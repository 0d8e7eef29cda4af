//! `${VAR}` and `${VAR:-default}` expansion in configuration strings.

/// Expands environment references in `text` using `lookup`.
///
/// `${VAR}` is replaced by the variable (an error when it is unset),
/// `${VAR:-default}` by the variable or, when unset or empty, `default`.
/// `$${` is a literal `${`. A `$` not followed by `{` is kept as is, so
/// regexes ending in `$` need no escaping.
pub fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
            let inner = &tail[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!("invalid environment variable name `{name}`"));
            }
            match (lookup(name), default) {
                (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(format!(
                        "environment variable `{name}` is not set (use `${{{name}:-default}}` for a default)"
                    ));
                }
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/root".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands() {
        assert_eq!(expand("${HOME}/x", env).unwrap(), "/root/x");
        assert_eq!(expand("${NOPE:-/tmp}/x", env).unwrap(), "/tmp/x");
        assert_eq!(expand("${EMPTY:-d}", env).unwrap(), "d");
        assert_eq!(expand("${HOME:-d}", env).unwrap(), "/root");
        assert_eq!(expand("a$b$", env).unwrap(), "a$b$");
        assert_eq!(expand("$${HOME}", env).unwrap(), "${HOME}");
        assert_eq!(expand("${NOPE:-}", env).unwrap(), "");
    }

    #[test]
    fn errors() {
        assert!(expand("${NOPE}", env).unwrap_err().contains("NOPE"));
        assert!(expand("${HOME", env).unwrap_err().contains("unclosed"));
        assert!(expand("${A B}", env).unwrap_err().contains("invalid"));
    }
}
