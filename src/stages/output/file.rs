//! `file`: append events to a file as JSON lines (or text from a template).
//!
//! The file is opened when the pipeline starts (never while a configuration
//! is only checked), written and flushed once per batch, and reopened on
//! SIGHUP so that logrotate's rename-and-create works. A write error is
//! reported on `errors` and the file is reopened before the next batch.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::format::{EventFormat, EventWriter, FormatKind};
use crate::event::{Batch, Event};
use crate::pipeline::{BuildContext, BuildError, BuiltStage, Outbox, Processor, StageError};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "file",
    kind: ModuleKind::Output,
    summary: "append events to a file as JSON lines (or a text template)",
    build,
};

/// Permission bits of a file we create, unless `mode:` says otherwise.
const DEFAULT_MODE: u32 = 0o640;

/// Options of the `file` output.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOutputConfig {
    /// The file to append to; relative to the configuration's directory.
    path: PathBuf,
    /// `json` (default) or `text`.
    #[serde(default)]
    format: Option<FormatKind>,
    /// Text template with `{field.path}` placeholders; implies `text`.
    #[serde(default)]
    template: Option<String>,
    /// Permission bits for a file we create (the umask still applies).
    #[serde(default)]
    mode: Option<FileMode>,
}

/// Permission bits, always read as octal: a YAML integer (`640`: its
/// decimal digits are taken as octal digits, so a digit 8 or 9 is refused)
/// or text (`"0640"`, `"640"`, `"0o640"`; an unquoted `0640` is text to
/// YAML). A mode that gives group or others a permission the owner lacks is
/// refused: nobody wants it for a log file, and it is what YAML's own octal
/// notation turns into (`0o640` reaches us as the integer 416, read as 0416).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileMode(u32);

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let (bits, was_number) = match serde_yaml_ng::Value::deserialize(d)? {
            serde_yaml_ng::Value::Number(n) => {
                let Some(n) = n.as_u64() else {
                    return Err(D::Error::custom(format!(
                        "file mode {n} is not an octal mode (expected e.g. 640 or \"0640\")"
                    )));
                };
                // `mode: 640` means 0o640, as in chmod; read as decimal it
                // would silently be 0o1200.
                let digits = n.to_string();
                let bits = u64::from_str_radix(&digits, 8).map_err(|_| {
                    D::Error::custom(format!(
                        "file mode {n} has a digit that is not octal (0-7); write e.g. 640 or \"0640\""
                    ))
                })?;
                (bits, true)
            }
            serde_yaml_ng::Value::String(t) => {
                let digits = t.strip_prefix("0o").unwrap_or(&t);
                let bits = u64::from_str_radix(digits, 8).map_err(|_| {
                    D::Error::custom(format!(
                        "`{t}` is not an octal file mode (expected e.g. \"0640\")"
                    ))
                })?;
                (bits, false)
            }
            _ => {
                return Err(D::Error::custom(
                    "expected an octal file mode, e.g. 640 or \"0640\"",
                ));
            }
        };
        let bits = match u32::try_from(bits) {
            Ok(b) if b <= 0o777 => b,
            _ => {
                return Err(D::Error::custom(format!(
                    "file mode {bits:o} is out of range: only permission bits (up to 777) may be set"
                )));
            }
        };
        let owner = (bits >> 6) & 0o7;
        if ((bits >> 3) | bits) & 0o7 & !owner != 0 {
            let hint = if was_number {
                "; YAML reads 0o640 as the number 416, so write 640 or \"0640\""
            } else {
                ""
            };
            return Err(D::Error::custom(format!(
                "file mode {bits:04o} gives group or others a permission the owner lacks{hint}"
            )));
        }
        Ok(FileMode(bits))
    }
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    let cfg: FileOutputConfig = ctx.options()?;
    if cfg.path.as_os_str().is_empty() {
        return Err(BuildError::field("path", "must not be empty"));
    }
    let format = EventFormat::from_options(cfg.format, cfg.template.as_deref())?;
    // Nothing touches the file system here: `logbus check` has no side effects.
    Ok(BuiltStage::processor(FileOutput::new(
        ctx.resolve(&cfg.path),
        cfg.mode.map_or(DEFAULT_MODE, |m| m.0),
        format,
    )))
}

/// Appends rendered events to one file.
struct FileOutput {
    path: PathBuf,
    mode: u32,
    writer: EventWriter,
    /// `None` after a failure: the next batch reopens the file.
    file: Option<File>,
}

impl FileOutput {
    fn new(path: PathBuf, mode: u32, format: EventFormat) -> Self {
        Self {
            path,
            mode,
            writer: EventWriter::new(format),
            file: None,
        }
    }

    fn open(&self) -> std::io::Result<File> {
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(self.mode)
            .open(&self.path)
    }

    /// Closes the file and opens the path again; a failure is reported and
    /// retried before the next batch.
    fn reopen(&mut self, out: &mut Outbox) {
        self.file = None;
        match self.open() {
            Ok(f) => self.file = Some(f),
            Err(e) => out.error(format!("cannot reopen {}: {e}", self.path.display()), None),
        }
    }
}

impl Processor for FileOutput {
    fn start(&mut self) -> Result<(), StageError> {
        let file = self
            .open()
            .map_err(|e| StageError::new(format!("cannot open {}: {e}", self.path.display())))?;
        self.file = Some(file);
        Ok(())
    }

    fn process(&mut self, event: Event, out: &mut Outbox) {
        self.process_batch(vec![event], out);
    }

    fn process_batch(&mut self, batch: Batch, out: &mut Outbox) {
        if self.file.is_none() {
            self.reopen(out);
        }
        let Some(file) = self.file.as_mut() else {
            out.error(
                format!(
                    "{} event(s) not written: {} is not open",
                    batch.len(),
                    self.path.display()
                ),
                None,
            );
            return;
        };
        if let Err(e) = self.writer.write_batch(&batch, file) {
            // Drop the handle: the next batch reopens the path, which also
            // recovers from a file replaced under us.
            self.file = None;
            out.error(
                format!(
                    "cannot write {} event(s) to {}: {e}",
                    batch.len(),
                    self.path.display()
                ),
                None,
            );
        }
    }

    fn hangup(&mut self, out: &mut Outbox) {
        self.reopen(out);
    }

    fn blocking(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    use std::sync::Arc;

    use serde_json::{Value, json};
    use serde_yaml_ng::Mapping;

    use super::*;
    use crate::pipeline::StageCounters;

    fn options(yaml: &str) -> Mapping {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    fn try_build(yaml: &str, base: &Path) -> Result<BuiltStage, BuildError> {
        let opts = options(yaml);
        let ctx = BuildContext {
            stage: "out",
            options: &opts,
            base_dir: base,
            counters: Arc::new(StageCounters::default()),
            settings: &crate::config::Settings::default(),
        };
        build(&ctx)
    }

    fn output(path: &Path, format: EventFormat) -> FileOutput {
        let mut o = FileOutput::new(path.to_path_buf(), DEFAULT_MODE, format);
        o.start().unwrap();
        o
    }

    fn batch(messages: &[&str]) -> Batch {
        messages.iter().map(|m| Event::from_message(*m)).collect()
    }

    fn lines(path: &Path) -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn appends_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        std::fs::write(&path, "{\"message\":\"old\"}\n").unwrap();
        let mut o = output(&path, EventFormat::Json);
        let mut out = Outbox::with_ports(1);
        o.process_batch(batch(&["a", "b"]), &mut out);
        o.process_batch(batch(&["c"]), &mut out);
        assert!(out.errors().is_empty());
        assert_eq!(
            lines(&path),
            [
                json!({"message": "old"}),
                json!({"message": "a"}),
                json!({"message": "b"}),
                json!({"message": "c"})
            ]
        );
    }

    #[test]
    fn hangup_reopens_after_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        let rotated = dir.path().join("out.json.1");
        let mut o = output(&path, EventFormat::Json);
        let mut out = Outbox::with_ports(1);
        o.process_batch(batch(&["before"]), &mut out);
        std::fs::rename(&path, &rotated).unwrap();
        // Without the hangup, writes would still go to the renamed file.
        o.process_batch(batch(&["still old"]), &mut out);
        o.hangup(&mut out);
        o.process_batch(batch(&["after"]), &mut out);
        assert!(out.errors().is_empty());
        assert_eq!(
            lines(&rotated),
            [
                json!({"message": "before"}),
                json!({"message": "still old"})
            ]
        );
        assert_eq!(lines(&path), [json!({"message": "after"})]);
    }

    #[test]
    fn new_file_gets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let built = try_build("path: out.txt\nmode: \"0600\"\nformat: text", dir.path()).unwrap();
        let crate::pipeline::StageBody::Processor(mut p) = built.body else {
            panic!("file output is a processor");
        };
        // Building touched nothing.
        assert!(!dir.path().join("out.txt").exists());
        p.start().unwrap();
        let mut out = Outbox::with_ports(1);
        p.process_batch(batch(&["plain text"]), &mut out);
        let path = dir.path().join("out.txt");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "plain text\n");
    }

    #[test]
    fn mode_spellings() {
        let mode = |yaml: &str| {
            serde_yaml_ng::from_str::<FileMode>(yaml)
                .map(|m| m.0)
                .map_err(|e| e.to_string())
        };
        assert_eq!(mode("\"0640\""), Ok(0o640));
        assert_eq!(mode("0640"), Ok(0o640)); // YAML reads a leading zero as text
        assert_eq!(mode("\"600\""), Ok(0o600));
        assert_eq!(mode("\"0o644\""), Ok(0o644));
        assert_eq!(mode("0"), Ok(0));
        assert!(mode("\"0689\"").unwrap_err().contains("not an octal"));
        assert!(mode("\"4755\"").unwrap_err().contains("out of range"));
        assert!(
            mode("true")
                .unwrap_err()
                .contains("expected an octal file mode")
        );
        assert!(mode("-1").unwrap_err().contains("not an octal mode"));
    }

    /// Regression: a YAML integer was read as decimal, so `mode: 440`
    /// silently created files with mode 0670.
    #[test]
    fn integer_modes_are_octal_digits() {
        let mode = |yaml: &str| {
            serde_yaml_ng::from_str::<FileMode>(yaml)
                .map(|m| m.0)
                .map_err(|e| e.to_string())
        };
        assert_eq!(mode("640"), Ok(0o640));
        assert_eq!(mode("440"), Ok(0o440));
        assert_eq!(mode("600"), Ok(0o600));
        assert_eq!(mode("755"), Ok(0o755));
        assert_eq!(mode("604"), Ok(0o604));
        assert_eq!(
            mode("\"0007\""),
            Err("file mode 0007 gives group or others a permission the owner lacks".into())
        );
        assert_eq!(
            mode("648"),
            Err(
                "file mode 648 has a digit that is not octal (0-7); write e.g. 640 or \"0640\""
                    .into()
            )
        );
        assert!(mode("1000").unwrap_err().contains("out of range"));
        // YAML's own octal notation arrives as a plain number (0o640 = 416):
        // read as octal digits it would be nonsense, and is refused.
        assert_eq!(
            mode("0o640"),
            Err("file mode 0416 gives group or others a permission the owner lacks; YAML reads 0o640 as the number 416, so write 640 or \"0640\"".into())
        );
        for misread in [
            "0o644", "0o660", "0o664", "0o600", "0o750", "0o755", "0o444",
        ] {
            assert!(mode(misread).is_err(), "{misread}");
        }
    }

    #[test]
    fn build_errors_name_the_field() {
        let dir = Path::new("/nonexistent");
        let e = try_build("format: json", dir).err().unwrap();
        assert!(e.message.contains("path"), "{e:?}");
        let e = try_build("path: x\nmode: nope", dir).err().unwrap();
        assert_eq!(e.field.as_deref(), Some("mode"));
        let e = try_build("path: x\nformat: json\ntemplate: \"{message}\"", dir)
            .err()
            .unwrap();
        assert_eq!(e.field.as_deref(), Some("template"));
        let e = try_build("path: x\nnope: 1", dir).err().unwrap();
        assert!(e.message.contains("nope"), "{e:?}");
    }

    #[test]
    fn start_fails_with_the_path() {
        let path = Path::new("/nonexistent-dir/out.json");
        let mut o = FileOutput::new(path.to_path_buf(), DEFAULT_MODE, EventFormat::Json);
        let e = o.start().unwrap_err();
        assert!(e.0.contains("/nonexistent-dir/out.json"), "{e}");
    }

    #[test]
    fn write_error_is_reported_and_retried() {
        // Every write to /dev/full fails with "no space left on device".
        let mut o = output(Path::new("/dev/full"), EventFormat::Json);
        let mut out = Outbox::with_ports(1);
        o.process_batch(batch(&["a", "b"]), &mut out);
        assert!(o.file.is_none(), "the handle is dropped after a failure");
        o.process_batch(batch(&["c"]), &mut out);
        let errors: Vec<&str> = out.errors().iter().map(|e| e.message.as_str()).collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("cannot write 2 event(s) to /dev/full: "));
        assert!(errors[1].starts_with("cannot write 1 event(s) to /dev/full: "));
    }

    #[test]
    fn unopenable_path_is_reported_per_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("out.json");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let mut o = output(&path, EventFormat::Json);
        let mut out = Outbox::with_ports(1);
        std::fs::remove_file(&path).unwrap();
        std::fs::remove_dir(dir.path().join("sub")).unwrap();
        o.hangup(&mut out);
        o.process_batch(batch(&["lost"]), &mut out);
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        o.process_batch(batch(&["kept"]), &mut out);
        let errors: Vec<String> = out.errors().iter().map(|e| e.message.clone()).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("cannot reopen "), "{errors:?}");
        assert!(errors[1].starts_with("cannot reopen "), "{errors:?}");
        assert!(
            errors[2].starts_with("1 event(s) not written: "),
            "{errors:?}"
        );
        assert_eq!(lines(&path), [json!({"message": "kept"})]);
    }
}
