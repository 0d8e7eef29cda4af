//! Finding the line of a stage or field in the YAML source.
//!
//! serde_yaml_ng reports positions for syntax errors only; once the document
//! is a `Value`, positions are gone. Block-style YAML puts every key on its own
//! line, so a forward search by indentation finds the line for the errors we
//! raise ourselves. Flow-style stages (`in: {module: file}`) get the stage's line.

use std::path::Path;

use super::ConfigError;

/// An error located at `stage` / `field` in `text`.
pub fn error(
    file: &Path,
    text: &str,
    stage: Option<&str>,
    field: Option<&str>,
    message: String,
) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        line: line_of(text, stage, field),
        stage: stage.map(str::to_string),
        field: field.map(str::to_string),
        message,
    }
}

/// The line of the stage's key under `pipeline:`.
pub fn stage_line(text: &str, stage: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let (pipe_idx, pipe_indent) = find_key(&lines, 0, None, "pipeline")?;
    find_key(&lines, pipe_idx + 1, Some(pipe_indent), stage).map(|(i, _)| i + 1)
}

fn line_of(text: &str, stage: Option<&str>, field: Option<&str>) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let (mut idx, mut indent) = match stage {
        Some(stage) => {
            let (p, pi) = find_key(&lines, 0, None, "pipeline")?;
            find_key(&lines, p + 1, Some(pi), stage)?
        }
        None => (0, usize::MAX),
    };
    let mut found = stage.map(|_| idx + 1);
    let mut first = stage.is_none();
    for seg in field.into_iter().flat_map(|f| f.split('.')) {
        if seg.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let parent = if first { None } else { Some(indent) };
        let start = if first { 0 } else { idx + 1 };
        match find_key(&lines, start, parent, seg) {
            Some((i, ind)) => {
                idx = i;
                indent = ind;
                found = Some(i + 1);
            }
            None => break,
        }
        first = false;
    }
    found
}

/// Finds `key:` at an indentation deeper than `parent` (or at column 0 when
/// `parent` is None), stopping when the parent's block ends.
fn find_key(
    lines: &[&str],
    start: usize,
    parent: Option<usize>,
    key: &str,
) -> Option<(usize, usize)> {
    for (i, line) in lines.iter().enumerate().skip(start) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        match parent {
            Some(p) if indent <= p => return None,
            None if indent != 0 => continue,
            _ => {}
        }
        let body = trimmed.strip_prefix("- ").unwrap_or(trimmed);
        let unquoted = body
            .strip_prefix('"')
            .and_then(|b| b.strip_prefix(key))
            .and_then(|b| b.strip_prefix('"'))
            .or_else(|| {
                body.strip_prefix('\'')
                    .and_then(|b| b.strip_prefix(key))
                    .and_then(|b| b.strip_prefix('\''))
            })
            .or_else(|| body.strip_prefix(key));
        if let Some(after) = unquoted
            && after.trim_start().starts_with(':')
        {
            return Some((i, indent));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "stats_interval: 5s\npipeline:\n  in:\n    module: file\n    paths: [a]\n  out:\n    module: stdout\n    # comment\n    format: text\n  flow: {module: stdout}\n";

    #[test]
    fn finds_lines() {
        assert_eq!(stage_line(SRC, "in"), Some(3));
        assert_eq!(stage_line(SRC, "out"), Some(6));
        assert_eq!(line_of(SRC, Some("out"), Some("format")), Some(9));
        assert_eq!(line_of(SRC, Some("in"), Some("paths.0")), Some(5));
        assert_eq!(line_of(SRC, Some("flow"), Some("module")), Some(10));
        assert_eq!(line_of(SRC, None, Some("stats_interval")), Some(1));
        // A field of another stage is not found inside this one.
        assert_eq!(line_of(SRC, Some("in"), Some("format")), Some(3));
    }
}
