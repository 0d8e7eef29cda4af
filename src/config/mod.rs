//! Loading a pipeline file: YAML, environment expansion, templates, and
//! errors that name the file, the stage and the field.

mod env;
mod locate;
mod template;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_yaml_ng::{Mapping, Value};

pub use env::expand as expand_env;

use crate::duration::FiniteSpan;

/// Channels every pipeline has; no stage may be named after them or write them.
pub const RESERVED_CHANNELS: [&str; 2] = ["errors", "stats"];

/// A configuration problem, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The stage, when the problem belongs to one.
    pub stage: Option<String>,
    /// The field (dotted path inside the stage or the top level), when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(stage) = &self.stage {
            write!(f, "stage `{stage}`: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error about the whole file.
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: None,
            stage: None,
            field: None,
            message: message.into(),
        }
    }
}

/// Top-level settings besides `pipeline` and `templates`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// How often each stage reports its counters on `stats`.
    #[serde(default = "default_stats_interval")]
    pub stats_interval: FiniteSpan,
    /// The SQLite state file (bans, input checkpoints).
    #[serde(default)]
    pub state_path: Option<PathBuf>,
    /// The control socket served by `logbus run`.
    #[serde(default)]
    pub control_socket: Option<PathBuf>,
    /// The Prometheus endpoint (`metrics: {listen: 127.0.0.1:9464}`).
    #[serde(default)]
    pub metrics: Option<MetricsSettings>,
}

/// `metrics:` at the top level.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Address and port to serve `/metrics` on.
    pub listen: std::net::SocketAddr,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            stats_interval: default_stats_interval(),
            state_path: None,
            control_socket: None,
            metrics: None,
        }
    }
}

fn default_stats_interval() -> FiniteSpan {
    FiniteSpan(Duration::from_secs(30))
}

/// One stage as written in the file, after templates and env expansion.
#[derive(Debug, Clone)]
pub struct StageSpec {
    /// The stage's name (its key under `pipeline`).
    pub name: String,
    /// The module that implements it.
    pub module: String,
    /// Channels it reads.
    pub in_channels: Vec<String>,
    /// Channels it writes (default: its own name).
    pub out_channels: Vec<String>,
    /// The module's own options.
    pub options: Mapping,
    /// Where the stage is defined.
    pub line: Option<usize>,
}

/// A loaded pipeline file.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// The file it came from.
    pub path: PathBuf,
    /// The directory relative paths are resolved against.
    pub base_dir: PathBuf,
    /// Top-level settings.
    pub settings: Settings,
    /// Stages in the order they appear.
    pub stages: Vec<StageSpec>,
    source: String,
}

impl PipelineConfig {
    /// Reads and checks the structure of a pipeline file. Module options
    /// are validated later, when stages are built.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::file(path, format!("cannot read: {e}")))?;
        Self::from_text(path, &text, |k| std::env::var(k).ok())
    }

    /// Like [`load`](Self::load) from text, with an explicit environment.
    pub fn from_text(
        path: &Path,
        text: &str,
        env: impl Fn(&str) -> Option<String> + Copy,
    ) -> Result<Self, ConfigError> {
        let base_dir = base_dir_of(path)?;
        let mut root = parse_yaml(path, text)?;
        expand_tree(&mut root, &mut Vec::new(), env).map_err(|(field, msg)| {
            // Name the stage when the bad string sits inside one.
            match field
                .strip_prefix("pipeline.")
                .and_then(|f| f.split_once('.'))
            {
                Some((stage, rest)) => locate::error(path, text, Some(stage), Some(rest), msg),
                None => locate::error(path, text, None, Some(&field), msg),
            }
        })?;
        let Value::Mapping(mut top) = root else {
            return Err(ConfigError::file(
                path,
                "the file must be a YAML mapping with a `pipeline:` key",
            ));
        };
        let pipeline = top.shift_remove("pipeline");
        let templates_decl = top.shift_remove("templates");
        let settings: Settings = deserialize_located(Value::Mapping(top), |field, msg| {
            locate::error(path, text, None, field, msg)
        })?;
        if settings.stats_interval.0.is_zero() {
            // A zero period would make the stats ticker panic at run time.
            return Err(locate::error(
                path,
                text,
                None,
                Some("stats_interval"),
                "must be longer than 0s (e.g. 30s)".into(),
            ));
        }
        let templates = template::load_all(path, &base_dir, templates_decl, env)?;
        let Some(Value::Mapping(pipeline)) = pipeline else {
            return Err(ConfigError::file(
                path,
                "missing `pipeline:` (a mapping of stage names to stage definitions)",
            ));
        };
        let mut stages = Vec::with_capacity(pipeline.len());
        for (key, def) in pipeline {
            let Some(name) = key.as_str().map(str::to_string) else {
                return Err(ConfigError::file(path, "stage names must be strings"));
            };
            let line = locate::stage_line(text, &name);
            let err = |field: Option<&str>, msg: String| {
                locate::error(path, text, Some(&name), field, msg)
            };
            let def = match def {
                Value::Mapping(m) => m,
                Value::Null => Mapping::new(),
                _ => return Err(err(None, "a stage must be a mapping of options".into())),
            };
            let def = templates
                .apply(&name, def)
                .map_err(|m| err(Some("template"), m))?;
            stages.push(stage_spec(name.clone(), def, line, &err)?);
        }
        Ok(Self {
            path: path.to_path_buf(),
            base_dir,
            settings,
            stages,
            source: text.to_string(),
        })
    }

    /// Builds an error about `stage`/`field`, with the line when we can find it.
    pub fn error(&self, stage: Option<&str>, field: Option<&str>, message: String) -> ConfigError {
        locate::error(&self.path, &self.source, stage, field, message)
    }
}

/// The directory of the configuration file, made absolute: stages keep
/// resolved paths (and put them in `log.file.path`), so they must not depend
/// on the directory `logbus` was started from. Symlinks are not resolved, so
/// paths read as the user wrote them.
fn base_dir_of(path: &Path) -> Result<PathBuf, ConfigError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let abs = std::path::absolute(dir).map_err(|e| {
        ConfigError::file(
            path,
            format!("cannot make the configuration's directory absolute: {e}"),
        )
    })?;
    // `absolute` keeps a trailing `.` (`/srv/.`); drop it for tidy paths.
    Ok(abs.components().collect())
}

fn parse_yaml(path: &Path, text: &str) -> Result<Value, ConfigError> {
    serde_yaml_ng::from_str(text).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: e.location().map(|l| l.line()),
        stage: None,
        field: None,
        message: format!("invalid YAML: {e}"),
    })
}

fn stage_spec(
    name: String,
    mut def: Mapping,
    line: Option<usize>,
    err: &dyn Fn(Option<&str>, String) -> ConfigError,
) -> Result<StageSpec, ConfigError> {
    if RESERVED_CHANNELS.contains(&name.as_str()) {
        return Err(err(
            None,
            format!("`{name}` is a built-in channel and cannot name a stage"),
        ));
    }
    let module = match def.shift_remove("module") {
        None | Some(Value::Null) => name.clone(),
        Some(Value::String(m)) => m,
        Some(_) => return Err(err(Some("module"), "must be a module name".into())),
    };
    let in_channels = channel_list(def.shift_remove("inChannels"))
        .map_err(|m| err(Some("inChannels"), m))?
        .unwrap_or_default();
    let out_channels = channel_list(def.shift_remove("outChannels"))
        .map_err(|m| err(Some("outChannels"), m))?
        .unwrap_or_else(|| vec![name.clone()]);
    if let Some(bad) = out_channels
        .iter()
        .find(|c| RESERVED_CHANNELS.contains(&c.as_str()))
    {
        return Err(err(
            Some("outChannels"),
            format!("`{bad}` is written by logbus itself; stages cannot write it"),
        ));
    }
    Ok(StageSpec {
        name,
        module,
        in_channels,
        out_channels,
        options: def,
        line,
    })
}

fn channel_list(v: Option<Value>) -> Result<Option<Vec<String>>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s])),
        Some(Value::Sequence(seq)) => seq
            .into_iter()
            .map(|c| match c {
                Value::String(s) if !s.is_empty() => Ok(s),
                _ => Err("channel names must be non-empty strings".to_string()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err("must be a list of channel names".into()),
    }
}

/// Expands `${VAR}` in every string of the tree; the error carries the path.
fn expand_tree(
    v: &mut Value,
    path: &mut Vec<String>,
    env: impl Fn(&str) -> Option<String> + Copy,
) -> Result<(), (String, String)> {
    match v {
        Value::String(s) => {
            *s = env::expand(s, env).map_err(|m| (path.join("."), m))?;
        }
        Value::Sequence(seq) => {
            for (i, item) in seq.iter_mut().enumerate() {
                path.push(i.to_string());
                expand_tree(item, path, env)?;
                path.pop();
            }
        }
        Value::Mapping(m) => {
            for (k, item) in m.iter_mut() {
                path.push(k.as_str().unwrap_or("?").to_string());
                expand_tree(item, path, env)?;
                path.pop();
            }
        }
        Value::Tagged(t) => expand_tree(&mut t.value, path, env)?,
        _ => {}
    }
    Ok(())
}

/// Deserializes `value` into `T`, reporting the failing field's dotted path.
pub fn deserialize_located<T: DeserializeOwned, E>(
    value: Value,
    on_error: impl FnOnce(Option<&str>, String) -> E,
) -> Result<T, E> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        let message = e.into_inner().to_string();
        let field = (field != "." && !field.is_empty()).then_some(field);
        on_error(field.as_deref(), message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<PipelineConfig, ConfigError> {
        PipelineConfig::from_text(Path::new("/etc/x.yml"), text, |k| {
            (k == "LOGDIR").then(|| "/var/log".to_string())
        })
    }

    #[test]
    fn defaults_and_env() {
        let c = load(
            "pipeline:\n  in:\n    module: file\n    paths: [\"${LOGDIR}/a.log\", \"${NOPE:-b.log}\"]\n  stdout:\n    inChannels: in\n",
        )
        .unwrap();
        assert_eq!(c.stages.len(), 2);
        assert_eq!(c.stages[0].out_channels, vec!["in"]);
        assert_eq!(c.stages[1].module, "stdout");
        assert_eq!(c.stages[1].in_channels, vec!["in"]);
        let paths = &c.stages[0].options["paths"];
        assert_eq!(paths[0].as_str(), Some("/var/log/a.log"));
        assert_eq!(paths[1].as_str(), Some("b.log"));
        assert_eq!(c.settings.stats_interval.0, Duration::from_secs(30));
    }

    #[test]
    fn missing_env_names_stage_field_and_line() {
        let e = load("pipeline:\n  in:\n    module: file\n    paths: [\"${NOPE}\"]\n").unwrap_err();
        assert_eq!(e.stage.as_deref(), Some("in"));
        assert_eq!(e.field.as_deref(), Some("paths.0"));
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("NOPE"), "{e}");
    }

    #[test]
    fn unknown_top_level_key() {
        let e = load("pipelin: {}\n").unwrap_err();
        assert!(e.to_string().contains("pipelin"), "{e}");
        let e = load("stats_interval: soon\npipeline: {}\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("stats_interval"));
        assert_eq!(e.line, Some(1));
    }

    /// Regression: `stats_interval: 0` passed `check`, then the stats task
    /// panicked at run time and no stats were ever sent.
    #[test]
    fn zero_stats_interval_is_refused() {
        for zero in ["0", "0s", "0ms"] {
            let e = load(&format!("stats_interval: {zero}\npipeline: {{}}\n")).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("stats_interval"), "{zero}");
            assert_eq!(e.line, Some(1));
            assert_eq!(e.message, "must be longer than 0s (e.g. 30s)");
        }
        let c = load("stats_interval: 500ms\npipeline: {}\n").unwrap();
        assert_eq!(c.settings.stats_interval.0, Duration::from_millis(500));
    }

    #[test]
    fn bad_yaml_has_line() {
        let e = load("pipeline:\n  a: [\n").unwrap_err();
        assert!(e.line.is_some());
        assert!(e.message.contains("invalid YAML"));
    }

    #[test]
    fn relative_config_path_gives_an_absolute_base_dir() {
        let cwd = std::env::current_dir().unwrap();
        for (config, dir) in [
            ("x.yml", cwd.clone()),
            ("./x.yml", cwd.clone()),
            ("sub/x.yml", cwd.join("sub")),
            ("./sub/./x.yml", cwd.join("sub")),
        ] {
            let c =
                PipelineConfig::from_text(Path::new(config), "pipeline: {}\n", |_| None).unwrap();
            assert_eq!(c.base_dir, dir, "{config}");
            assert_eq!(c.path, Path::new(config), "the path stays as written");
        }
        let c = load("pipeline: {}\n").unwrap();
        assert_eq!(c.base_dir, Path::new("/etc"));
    }

    #[test]
    fn reserved_names() {
        let e = load("pipeline:\n  errors: {module: stdout, inChannels: [x]}\n").unwrap_err();
        assert!(e.message.contains("built-in channel"), "{e}");
        let e = load("pipeline:\n  x: {module: stdin, outChannels: [stats]}\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("outChannels"));
    }
}
