//! How outputs render an event: JSON lines, or a text template with
//! `{field.path}` placeholders.

use std::io::{self, Write};

use serde::Deserialize;

use crate::event::{Event, FieldPath, value_to_text};

/// The `format:` option of outputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatKind {
    /// One JSON object per line.
    #[default]
    Json,
    /// The `template:` with fields filled in.
    Text,
}

/// A parsed text template: literal text and field placeholders.
/// `{{` and `}}` are literal braces; a missing field renders as nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct TextTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Field(FieldPath),
}

impl TextTemplate {
    /// Parses `text`; an unclosed or empty placeholder is an error.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let rest = &text[i + 1..];
                    let end = rest
                        .find('}')
                        .ok_or_else(|| format!("unclosed `{{` at byte {i} of the template"))?;
                    let path = FieldPath::parse(rest[..end].trim())
                        .map_err(|e| format!("bad placeholder at byte {i}: {e}"))?;
                    if !lit.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Field(path));
                    for _ in 0..rest[..end].chars().count() + 1 {
                        chars.next();
                    }
                }
                '}' => {
                    return Err(format!(
                        "lone `}}` at byte {i} of the template (write `}}}}`)"
                    ));
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Text(lit));
        }
        Ok(Self { parts })
    }

    /// Renders the template for `event`.
    pub fn render(&self, event: &Event, out: &mut String) {
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => {
                    if let Some(v) = event.get(f) {
                        out.push_str(&value_to_text(v));
                    }
                }
            }
        }
    }
}

/// A resolved output format.
#[derive(Debug, Clone)]
pub enum EventFormat {
    /// JSON lines.
    Json,
    /// Text lines from a template.
    Text(TextTemplate),
}

impl EventFormat {
    /// Resolves `format:` and `template:` options. A template implies text.
    pub fn from_options(
        kind: Option<FormatKind>,
        template: Option<&str>,
    ) -> Result<Self, (&'static str, String)> {
        match (kind, template) {
            (Some(FormatKind::Json), Some(_)) => Err((
                "template",
                "a template needs `format: text` (JSON output has no template)".into(),
            )),
            (Some(FormatKind::Text) | None, Some(t)) => TextTemplate::parse(t)
                .map(EventFormat::Text)
                .map_err(|e| ("template", e)),
            (Some(FormatKind::Text), None) => Ok(EventFormat::Text(TextTemplate {
                parts: vec![Part::Field(crate::event::fields::MESSAGE.clone())],
            })),
            (Some(FormatKind::Json) | None, None) => Ok(EventFormat::Json),
        }
    }

    /// Writes one event and a newline.
    pub fn write(&self, event: &Event, scratch: &mut String, w: &mut impl Write) -> io::Result<()> {
        match self {
            EventFormat::Json => {
                serde_json::to_writer(&mut *w, event.as_map()).map_err(io::Error::other)?;
            }
            EventFormat::Text(t) => {
                scratch.clear();
                t.render(event, scratch);
                w.write_all(scratch.as_bytes())?;
            }
        }
        w.write_all(b"\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &str, e: &Event) -> String {
        let mut s = String::new();
        TextTemplate::parse(t).unwrap().render(e, &mut s);
        s
    }

    #[test]
    fn placeholders_and_escapes() {
        let mut e = Event::from_message("hi");
        e.set(&FieldPath::parse("client.ip").unwrap(), "1.2.3.4");
        e.set(&FieldPath::parse("n").unwrap(), 3);
        assert_eq!(
            render("{client.ip} said {message} {n}x {{lit}} {nope}.", &e),
            "1.2.3.4 said hi 3x {lit} ."
        );
    }

    #[test]
    fn bad_templates() {
        assert!(TextTemplate::parse("{a").is_err());
        assert!(TextTemplate::parse("{}").is_err());
        assert!(TextTemplate::parse("a}b").is_err());
    }

    #[test]
    fn json_line() {
        let e = Event::from_message("x\"y");
        let mut out = Vec::new();
        EventFormat::Json
            .write(&e, &mut String::new(), &mut out)
            .unwrap();
        assert_eq!(out, b"{\"message\":\"x\\\"y\"}\n");
    }
}
