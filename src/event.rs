//! The event type that flows through a pipeline, and dotted field paths.
//!
//! An event is a JSON object. Field names follow ECS and are addressed with
//! dotted paths (`client.ip`, `http.response.status_code`); a path names nested
//! objects, so `client.ip` is stored as `{"client": {"ip": ...}}` and output
//! JSON is the nested form Elasticsearch and `jq` expect.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A batch of events: the unit that travels between stages.
pub type Batch = Vec<Event>;

/// One structured record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Event {
    fields: Map<String, Value>,
}

/// A pre-split dotted path such as `http.response.status_code`.
///
/// Paths are parsed once when a configuration is loaded, so the hot path never
/// splits strings.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    text: Box<str>,
    parts: Box<[Box<str>]>,
}

impl FieldPath {
    /// Parses a dotted path. Empty paths and empty segments (`a..b`) are refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("field path is empty".into());
        }
        let parts: Vec<Box<str>> = text.split('.').map(Box::from).collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(format!("field path `{text}` has an empty segment"));
        }
        Ok(Self {
            text: text.into(),
            parts: parts.into(),
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn split_last(&self) -> (&[Box<str>], &str) {
        let (last, parents) = self
            .parts
            .split_last()
            .map(|(l, p)| (l.as_ref(), p))
            .unwrap_or(("", &[]));
        (parents, last)
    }
}

impl fmt::Debug for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FieldPath({})", self.text)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for FieldPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FieldPath::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for FieldPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// Well-known field paths, parsed once.
pub mod fields {
    use std::sync::LazyLock;

    use super::FieldPath;

    macro_rules! path {
        ($name:ident, $text:expr) => {
            #[doc = concat!("`", $text, "`")]
            pub static $name: LazyLock<FieldPath> =
                LazyLock::new(|| FieldPath::parse($text).unwrap_or_else(|e| panic!("{e}")));
        };
    }

    path!(TIMESTAMP, "@timestamp");
    path!(MESSAGE, "message");
    path!(HOST_NAME, "host.name");
    path!(PROCESS_NAME, "process.name");
    path!(PROCESS_PID, "process.pid");
    path!(CLIENT_IP, "client.ip");
    path!(SOURCE_IP, "source.ip");
    path!(USER_NAME, "user.name");
    path!(LOG_FILE_PATH, "log.file.path");
    path!(LOG_OFFSET, "log.offset");
    path!(EVENT_TAGS, "event.tags");
    path!(FAIL2BAN_GROUP, "fail2ban.group");
    path!(FAIL2BAN_KEY, "fail2ban.key");
    path!(FAIL2BAN_RULE, "fail2ban.rule");
    path!(FAIL2BAN_COUNT, "fail2ban.count");
    path!(FAIL2BAN_BANNED, "fail2ban.banned");
    path!(FAIL2BAN_ALLOWED, "fail2ban.allowed");
}

impl Event {
    /// An empty event.
    pub fn new() -> Self {
        Self::default()
    }

    /// An event whose `message` is `line`.
    pub fn from_message(line: impl Into<String>) -> Self {
        let mut fields = Map::new();
        fields.insert("message".into(), Value::String(line.into()));
        Self { fields }
    }

    /// Wraps a JSON object.
    pub fn from_map(fields: Map<String, Value>) -> Self {
        Self { fields }
    }

    /// The top-level map.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// The top-level map, mutable.
    pub fn as_map_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.fields
    }

    /// Consumes the event into its map.
    pub fn into_map(self) -> Map<String, Value> {
        self.fields
    }

    /// Consumes the event into a JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.fields)
    }

    /// The value at `path`, if every object along it exists.
    pub fn get(&self, path: &FieldPath) -> Option<&Value> {
        let (parents, last) = path.split_last();
        let mut map = &self.fields;
        for p in parents {
            map = map.get(p.as_ref())?.as_object()?;
        }
        map.get(last)
    }

    /// The value at `path` as a string slice, when it is a string.
    pub fn get_str(&self, path: &FieldPath) -> Option<&str> {
        self.get(path).and_then(Value::as_str)
    }

    /// Sets `path` to `value`, creating intermediate objects. A non-object
    /// value in the way is replaced by an object (last writer wins, as in
    /// LogBus).
    pub fn set(&mut self, path: &FieldPath, value: impl Into<Value>) {
        let (parents, last) = path.split_last();
        let mut map = &mut self.fields;
        for p in parents {
            let slot = map
                .entry(p.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            map = match slot {
                Value::Object(m) => m,
                _ => unreachable!("slot was just made an object"),
            };
        }
        map.insert(last.to_string(), value.into());
    }

    /// Removes the value at `path` and returns it. Parent objects left empty
    /// are removed too, so dropping `log.offset` from `{"log":{"offset":1}}`
    /// leaves no empty `log`.
    pub fn remove(&mut self, path: &FieldPath) -> Option<Value> {
        fn rec(map: &mut Map<String, Value>, parts: &[Box<str>]) -> Option<Value> {
            let (first, rest) = parts.split_first()?;
            if rest.is_empty() {
                return map.remove(first.as_ref());
            }
            let child = map.get_mut(first.as_ref())?.as_object_mut()?;
            let out = rec(child, rest);
            if out.is_some() && child.is_empty() {
                map.remove(first.as_ref());
            }
            out
        }
        rec(&mut self.fields, &path.parts)
    }

    /// True when `path` holds a value (null included).
    pub fn contains(&self, path: &FieldPath) -> bool {
        self.get(path).is_some()
    }

    /// Appends `tag` to the `event.tags` list unless it is there already.
    pub fn add_tag(&mut self, tag: &str) {
        let tags = &*fields::EVENT_TAGS;
        match self.get(tags) {
            Some(Value::Array(list)) if list.iter().any(|t| t.as_str() == Some(tag)) => {}
            Some(Value::Array(list)) => {
                let mut list = list.clone();
                list.push(Value::String(tag.into()));
                self.set(tags, list);
            }
            _ => self.set(tags, vec![Value::String(tag.into())]),
        }
    }

    /// Approximate size in bytes, for counters.
    pub fn message_len(&self) -> usize {
        self.get_str(&fields::MESSAGE).map_or(0, str::len)
    }
}

/// Renders a JSON value as the text a human expects: strings without quotes,
/// everything else as JSON.
pub fn value_to_text(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => std::borrow::Cow::Borrowed(s),
        Value::Null => std::borrow::Cow::Borrowed(""),
        other => std::borrow::Cow::Owned(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn p(s: &str) -> FieldPath {
        FieldPath::parse(s).unwrap()
    }

    #[test]
    fn set_get_nested() {
        let mut e = Event::new();
        e.set(&p("client.ip"), "1.2.3.4");
        e.set(&p("client.port"), 22);
        assert_eq!(e.get_str(&p("client.ip")), Some("1.2.3.4"));
        assert_eq!(
            e.clone().into_value(),
            json!({"client": {"ip": "1.2.3.4", "port": 22}})
        );
    }

    #[test]
    fn set_replaces_scalar_parent() {
        let mut e = Event::new();
        e.set(&p("a"), 1);
        e.set(&p("a.b"), 2);
        assert_eq!(e.into_value(), json!({"a": {"b": 2}}));
    }

    #[test]
    fn remove_prunes_empty_parents() {
        let mut e = Event::new();
        e.set(&p("log.offset"), 5);
        e.set(&p("message"), "x");
        assert_eq!(e.remove(&p("log.offset")), Some(json!(5)));
        assert_eq!(e.into_value(), json!({"message": "x"}));
    }

    #[test]
    fn remove_missing_is_none() {
        let mut e = Event::from_message("x");
        assert_eq!(e.remove(&p("a.b.c")), None);
        assert_eq!(e.remove(&p("message.b")), None);
    }

    #[test]
    fn bad_paths_are_refused() {
        assert!(FieldPath::parse("").is_err());
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse(".a").is_err());
    }

    #[test]
    fn tags_are_deduplicated() {
        let mut e = Event::new();
        e.add_tag("x");
        e.add_tag("y");
        e.add_tag("x");
        assert_eq!(e.into_value(), json!({"event": {"tags": ["x", "y"]}}));
    }
}
