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
    pub fn write(&self, event: &Event, scratch: &mut String, w: &mut Vec<u8>) -> io::Result<()> {
        match self {
            EventFormat::Json => write_json_object(event.as_map(), w),
            EventFormat::Text(t) => {
                scratch.clear();
                t.render(event, scratch);
                w.write_all(scratch.as_bytes())?;
            }
        }
        w.write_all(b"\n")
    }
}

/// Writes a JSON object compactly, byte for byte as `serde_json` would.
///
/// Output is the hottest path of a shipping pipeline; going through serde's
/// generic serializer costs about twice as much as this direct walk.
fn write_json_object(map: &serde_json::Map<String, serde_json::Value>, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(k, out);
        out.push(b':');
        write_json_value(v, out);
    }
    out.push(b'}');
}

fn write_json_value(v: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
            } else if let Some(i) = n.as_i64() {
                out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            } else {
                // Floats: serde_json's own shortest round-trip formatting.
                let _ = serde_json::to_writer(&mut *out, n);
            }
        }
        Value::String(s) => write_json_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => write_json_object(map, out),
    }
}

/// Bytes that need escaping in a JSON string: `"`, `\\` and controls.
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Index of the first byte at or after `from` that needs escaping.
///
/// Scans eight bytes at a time (SWAR): most strings need no escape at all,
/// and a byte-by-byte loop here dominated the cost of JSON output.
fn find_escape(bytes: &[u8], from: usize) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        // A byte below 0x20, or equal to '"' or '\\'.
        let hit = (w.wrapping_sub(LO * 0x20) & !w & HI)
            | has_zero(w ^ (LO * u64::from(b'"')))
            | has_zero(w ^ (LO * u64::from(b'\\')));
        if hit != 0 {
            break;
        }
        i += 8;
    }
    bytes
        .get(i..)?
        .iter()
        .position(|&b| needs_escape(b))
        .map(|p| i + p)
}

fn write_json_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    while let Some(i) = find_escape(bytes, start) {
        out.extend_from_slice(&bytes[start..i]);
        match bytes[i] {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(c >> 4)],
                HEX[usize::from(c & 0xf)],
            ]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
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
    fn json_matches_serde_json_byte_for_byte() {
        let v = serde_json::json!({
            "message": "a \"quoted\" \\ back\nslash\t\u{1}\u{1f}\u{8}\u{c}\r é 😀 </script>",
            "n": {"u": 18446744073709551615u64, "i": -42, "f": 1.5, "e": 1e300, "z": 0},
            "list": [true, false, null, [], {}, "x"],
            "@timestamp": "2026-11-25T10:00:00.000+00:00"
        });
        let e = Event::from_map(v.as_object().unwrap().clone());
        let mut ours = Vec::new();
        EventFormat::Json
            .write(&e, &mut String::new(), &mut ours)
            .unwrap();
        let mut theirs = serde_json::to_vec(e.as_map()).unwrap();
        theirs.push(b'\n');
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(theirs).unwrap()
        );
    }

    #[test]
    fn escapes_are_found_at_every_position() {
        // Every position of an escapable byte, in strings longer than a word.
        for len in 0..20 {
            for pos in 0..len {
                for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    let mut bytes = vec![b'a'; len];
                    bytes[pos] = special;
                    assert_eq!(
                        find_escape(&bytes, 0),
                        Some(pos),
                        "len {len} pos {pos} byte {special}"
                    );
                }
            }
            assert_eq!(find_escape(&vec![b'a'; len], 0), None);
        }
        // Bytes >= 0x80 (UTF-8) and just above the control range need no escape.
        assert_eq!(find_escape("é😀 !#~\u{7f}".as_bytes(), 0), None);
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
