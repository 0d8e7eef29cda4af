//! How outputs render an event: JSON lines, or a text template with
//! `{field.path}` placeholders.

use std::io::{self, Write};

use serde::Deserialize;

use crate::event::{Event, FieldPath, value_to_text};
use crate::pipeline::BuildError;

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
    ) -> Result<Self, BuildError> {
        match (kind, template) {
            (Some(FormatKind::Json), Some(_)) => Err(BuildError::field(
                "template",
                "a template needs `format: text` (JSON output has no template)",
            )),
            (Some(FormatKind::Text) | None, Some(t)) => TextTemplate::parse(t)
                .map(EventFormat::Text)
                .map_err(|e| BuildError::field("template", e)),
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

/// Bytes gathered before they are written out.
const CHUNK_BYTES: usize = 64 * 1024;

/// Writes batches of events in one format; shared by the outputs that write
/// to a stream (`stdout`, `file`).
///
/// Lines are gathered in a buffer and written in chunks of whole lines, so a
/// reader of the file (or another process appending to it) never sees half a
/// line from us, and a batch costs a few system calls rather than one per event.
#[derive(Debug)]
pub struct EventWriter {
    format: EventFormat,
    scratch: String,
    buf: Vec<u8>,
}

impl EventWriter {
    /// A writer in `format`.
    pub fn new(format: EventFormat) -> Self {
        Self {
            format,
            scratch: String::new(),
            buf: Vec::new(),
        }
    }

    /// Writes every event of `batch` to `w`, then flushes `w`. On error, some
    /// whole lines of the batch may have been written.
    pub fn write_batch(&mut self, batch: &[Event], w: &mut impl Write) -> io::Result<()> {
        let result = self.write_lines(batch, w);
        self.buf.clear();
        // One huge event must not pin a huge buffer for the rest of the run.
        if self.buf.capacity() > 4 * CHUNK_BYTES {
            self.buf.shrink_to(CHUNK_BYTES);
        }
        result
    }

    fn write_lines(&mut self, batch: &[Event], w: &mut impl Write) -> io::Result<()> {
        self.buf.clear();
        for event in batch {
            self.format.write(event, &mut self.scratch, &mut self.buf)?;
            if self.buf.len() >= CHUNK_BYTES {
                w.write_all(&self.buf)?;
                self.buf.clear();
            }
        }
        if !self.buf.is_empty() {
            w.write_all(&self.buf)?;
        }
        w.flush()
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

    #[test]
    fn writer_writes_whole_lines_in_chunks() {
        /// Records the size of every write.
        #[derive(Default)]
        struct Writes(Vec<Vec<u8>>);
        impl Write for Writes {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.push(b.to_vec());
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let line = "x".repeat(1000);
        let batch: Vec<Event> = (0..200)
            .map(|_| Event::from_message(line.clone()))
            .collect();
        let mut w = Writes::default();
        let mut writer =
            EventWriter::new(EventFormat::from_options(Some(FormatKind::Text), None).unwrap());
        writer.write_batch(&batch, &mut w).unwrap();
        // 200 lines of 1001 bytes: chunks of 66 lines (>= 64 KiB), then the rest.
        let sizes: Vec<usize> = w.0.iter().map(Vec::len).collect();
        assert_eq!(sizes, [66 * 1001, 66 * 1001, 66 * 1001, 2 * 1001]);
        assert!(w.0.iter().all(|c| c.ends_with(b"\n")));
    }

    #[test]
    fn json_with_template_is_refused() {
        let e = EventFormat::from_options(Some(FormatKind::Json), Some("{message}")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("template"));
    }
}
