//! What the line parsers share: taking the line out of its field, putting
//! it back, and rejecting lines that do not parse.

use std::sync::LazyLock;

use serde_json::{Map, Value};

use crate::event::{Batch, Event, FieldPath, fields};
use crate::pipeline::{Outbox, Processor, StageCounters};

/// `event.original`: the raw line, when `keep_original` asks for it.
pub(crate) static EVENT_ORIGINAL: LazyLock<FieldPath> = LazyLock::new(|| {
    FieldPath::parse("event.original").unwrap_or_else(|e| panic!("built-in field path: {e}"))
});

/// Parses a path written in a test.
#[cfg(test)]
pub(crate) fn path(text: &str) -> FieldPath {
    FieldPath::parse(text).unwrap_or_else(|e| panic!("test field path: {e}"))
}

/// The default `field` option: `message`.
pub(crate) fn default_field() -> FieldPath {
    fields::MESSAGE.clone()
}

/// Where a parser finds its line and what it does with lines it cannot read.
#[derive(Debug, Clone)]
pub(crate) struct LineField {
    /// The field holding the line.
    pub(crate) field: FieldPath,
    /// Pass unparsable lines on (besides reporting them).
    pub(crate) keep_unparsed: bool,
    /// Store the raw line in `event.original`.
    pub(crate) keep_original: bool,
}

impl LineField {
    /// Takes the line out of the event, so the parser can borrow it while
    /// it fills in the event (no copy of the line). An empty string holds
    /// the field's place meanwhile, so putting a value back costs no key
    /// allocation. `Err` says what is wrong with the field; the event is
    /// then left as it was.
    pub(crate) fn take(&self, event: &mut Event) -> Result<String, String> {
        match slot_mut(event.as_map_mut(), &self.field) {
            Some(Value::String(line)) => Ok(std::mem::take(line)),
            Some(other) => Err(format!(
                "field `{}` is {}, not a string",
                self.field,
                json_kind(other)
            )),
            None => Err(format!("field `{}` is missing", self.field)),
        }
    }

    /// Puts `line` back into the field.
    pub(crate) fn restore(&self, event: &mut Event, line: String) {
        match slot_mut(event.as_map_mut(), &self.field) {
            Some(slot) => *slot = Value::String(line),
            None => event.set(&self.field, line),
        }
    }

    /// After a successful parse: puts the line back unless the parser
    /// wrote that field itself (`overwritten`), and keeps the original.
    pub(crate) fn finish(&self, event: &mut Event, line: String, overwritten: bool) {
        match (self.keep_original, overwritten) {
            (true, false) => {
                event.set(&EVENT_ORIGINAL, line.clone());
                self.restore(event, line);
            }
            (true, true) => event.set(&EVENT_ORIGINAL, line),
            (false, false) => self.restore(event, line),
            (false, true) => {}
        }
    }

    /// Reports a line that could not be parsed (on the `errors` channel,
    /// with the event) and passes the event on when `keep_unparsed`.
    /// `line` is the text [`take`](Self::take) removed, if it did.
    pub(crate) fn reject(
        &self,
        mut event: Event,
        line: Option<String>,
        message: String,
        out: &mut Outbox,
    ) {
        if let Some(line) = line {
            self.restore(&mut event, line);
        }
        if self.keep_unparsed {
            out.error(message, Some(event.clone()));
            out.emit(event);
        } else {
            out.error(message, Some(event));
        }
    }
}

/// The value at `path`, mutable, if every object along it exists.
fn slot_mut<'m>(map: &'m mut Map<String, Value>, path: &FieldPath) -> Option<&'m mut Value> {
    let mut parts = path.as_str().split('.').peekable();
    let mut map = map;
    loop {
        let part = parts.next()?;
        if parts.peek().is_none() {
            return map.get_mut(part);
        }
        map = map.get_mut(part)?.as_object_mut()?;
    }
}

/// Sets `value` at the path `parts` like [`Event::set`] (a non-object in
/// the way is replaced), but allocates keys only for what is missing:
/// parsers set many fields under few parents, on every line.
pub(crate) fn put(event: &mut Event, parts: &[&str], value: Value) {
    let Some((last, parents)) = parts.split_last() else {
        return;
    };
    let mut map = event.as_map_mut();
    for part in parents {
        if !map.get(*part).is_some_and(Value::is_object) {
            map.insert((*part).to_string(), Value::Object(Map::new()));
        }
        map = match map.get_mut(*part) {
            Some(Value::Object(child)) => child,
            _ => return,
        };
    }
    match map.get_mut(*last) {
        Some(slot) => *slot = value,
        None => {
            map.insert((*last).to_string(), value);
        }
    }
}

/// Where `part` lies inside `whole`, when it is a sub-slice of it.
pub(crate) fn subrange(whole: &str, part: &str) -> Option<std::ops::Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= whole.len()).then_some(start..end)
}

/// "an object", "a number", ... for error messages.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Renders a timestamp once per distinct text: consecutive lines very often
/// share their second, and resolving plus formatting costs more than the
/// rest of a parse.
#[derive(Debug, Default)]
pub(crate) struct TimestampCache {
    text: String,
    rendered: String,
    valid: bool,
}

impl TimestampCache {
    /// The RFC 3339 rendering of the timestamp written as `text`, computing
    /// it with `resolve` on a miss. `None` when `resolve` fails (an
    /// impossible date).
    pub(crate) fn render(
        &mut self,
        text: &str,
        resolve: impl FnOnce() -> Option<String>,
    ) -> Option<String> {
        if !(self.valid && self.text == text) {
            self.valid = false;
            let rendered = resolve()?;
            self.text.clear();
            self.text.push_str(text);
            self.rendered = rendered;
            self.valid = true;
        }
        Some(self.rendered.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_field(keep_unparsed: bool, keep_original: bool) -> LineField {
        LineField {
            field: path("log.raw"),
            keep_unparsed,
            keep_original,
        }
    }

    #[test]
    fn take_and_finish_round_trip() {
        let lf = line_field(false, true);
        let mut e = Event::new();
        e.set(&lf.field, "the line");
        let line = lf.take(&mut e).unwrap();
        assert_eq!(line, "the line");
        assert_eq!(e.get_str(&lf.field), Some(""));
        lf.finish(&mut e, line, false);
        assert_eq!(e.get_str(&lf.field), Some("the line"));
        assert_eq!(e.get_str(&EVENT_ORIGINAL), Some("the line"));
    }

    #[test]
    fn take_refuses_missing_and_non_strings() {
        let lf = line_field(false, false);
        let mut e = Event::new();
        assert_eq!(lf.take(&mut e).unwrap_err(), "field `log.raw` is missing");
        e.set(&lf.field, 5);
        assert_eq!(
            lf.take(&mut e).unwrap_err(),
            "field `log.raw` is a number, not a string"
        );
        // The value stays where it was.
        assert_eq!(e.get(&lf.field), Some(&Value::from(5)));
    }

    #[test]
    fn put_merges_and_replaces_like_set() {
        let mut e = Event::new();
        e.set(&path("log.file.path"), "/x");
        e.set(&path("process"), 5);
        put(&mut e, &["log", "syslog", "priority"], Value::from(13));
        put(&mut e, &["process", "name"], Value::from("sshd"));
        put(&mut e, &["process", "name"], Value::from("cron"));
        assert_eq!(
            e.into_value(),
            serde_json::json!({
                "log": {"file": {"path": "/x"}, "syslog": {"priority": 13}},
                "process": {"name": "cron"},
            })
        );
    }

    #[test]
    fn subrange_finds_slices_only() {
        let whole = String::from("abcdef");
        assert_eq!(subrange(&whole, &whole[2..4]), Some(2..4));
        assert_eq!(subrange(&whole, &whole[6..]), Some(6..6));
        assert_eq!(subrange(&whole, "cd"), None);
    }

    #[test]
    fn reject_passes_on_only_when_asked() {
        let mut out = Outbox::with_ports(1);
        line_field(false, false).reject(Event::new(), Some("x".into()), "bad".into(), &mut out);
        assert_eq!(out.port(0).len(), 0);
        assert_eq!(out.errors().len(), 1);
        assert_eq!(out.errors()[0].message, "bad");
        let lf = line_field(true, false);
        let mut out = Outbox::with_ports(1);
        lf.reject(Event::new(), Some("x".into()), "bad".into(), &mut out);
        assert_eq!(out.port(0).len(), 1);
        assert_eq!(out.port(0)[0].get_str(&lf.field), Some("x"));
        assert_eq!(
            out.errors()[0]
                .input
                .as_ref()
                .and_then(|e| e.get_str(&lf.field)),
            Some("x")
        );
    }

    #[test]
    fn cache_resolves_once_per_text() {
        let mut c = TimestampCache::default();
        let mut calls = 0;
        for text in ["a", "a", "b", "a"] {
            let got = c.render(text, || {
                calls += 1;
                Some(format!("<{text}>"))
            });
            assert_eq!(got.as_deref(), Some(format!("<{text}>").as_str()));
        }
        assert_eq!(calls, 3);
        assert_eq!(c.render("bad", || None), None);
        // A failed resolve does not leave a stale entry behind.
        assert_eq!(
            c.render("a", || Some("again".into())).as_deref(),
            Some("again")
        );
    }
}

/// Test helpers: build a parser stage from YAML options and feed it events.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;
    use std::sync::Arc;

    use crate::event::Event;
    use crate::pipeline::{BuildContext, BuildError, BuiltStage, Outbox, StageBody, StageCounters};

    /// A built processor and its counters.
    pub(crate) struct TestStage {
        pub(crate) stage: Box<dyn crate::pipeline::Processor>,
        pub(crate) counters: Arc<StageCounters>,
    }

    /// Builds a stage with `build` from YAML `options` (`{}` for none).
    pub(crate) fn build_with(
        build: fn(&BuildContext) -> Result<BuiltStage, BuildError>,
        options: &str,
    ) -> Result<TestStage, BuildError> {
        let options: serde_yaml_ng::Mapping =
            serde_yaml_ng::from_str(options).unwrap_or_else(|e| panic!("test options: {e}"));
        let counters = Arc::new(StageCounters::default());
        let ctx = BuildContext {
            stage: "test",
            options: &options,
            base_dir: Path::new("."),
            counters: counters.clone(),
            settings: &crate::config::Settings::default(),
        };
        match build(&ctx)?.body {
            StageBody::Processor(stage) => Ok(TestStage { stage, counters }),
            StageBody::Input(_) => panic!("a parser must be a processor"),
        }
    }

    impl TestStage {
        /// Runs one batch through the stage.
        pub(crate) fn run(&mut self, events: Vec<Event>) -> Outbox {
            let mut out = Outbox::with_ports(1);
            self.stage.process_batch(events, &mut out);
            out
        }

        /// Runs one line (in `message`) and returns the outbox.
        pub(crate) fn line(&mut self, line: &str) -> Outbox {
            self.run(vec![Event::from_message(line)])
        }
    }
}

/// A parser stage: handles one event, says how many bytes of text it
/// parsed. The batch loop and the `bytes_in` counter are the same for every
/// parser, so they live here once.
pub(crate) trait LineParserStage: Send + 'static {
    /// Parses one event, emits it (or reports it); returns the bytes looked at.
    fn handle(&mut self, event: Event, out: &mut Outbox) -> usize;
    /// The stage's counters.
    fn counters(&self) -> &StageCounters;
}

impl<T: LineParserStage> Processor for T {
    fn process(&mut self, event: Event, out: &mut Outbox) {
        let n = self.handle(event, out);
        StageCounters::add(&self.counters().bytes_in, n as u64);
    }

    fn process_batch(&mut self, batch: Batch, out: &mut Outbox) {
        let mut bytes = 0;
        for event in batch {
            bytes += self.handle(event, out);
        }
        StageCounters::add(&self.counters().bytes_in, bytes as u64);
    }
}
