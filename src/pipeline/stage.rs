//! What a stage is: an [`Input`] that produces events, or a [`Processor`]
//! that turns incoming batches into outgoing events (parsers, transforms,
//! outputs and the fail2ban stage).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_yaml_ng::{Mapping, Value};
use thiserror::Error;

use super::counters::StageCounters;
use super::emitter::Emitter;
use super::inherent::ErrorSink;
use super::shutdown::Shutdown;
use crate::event::{Batch, Event};

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A fatal stage failure: the stage stops and the pipeline shuts down.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct StageError(pub String);

impl StageError {
    /// A failure with a message.
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// A problem with one stage's options, found while building it.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{message}")]
pub struct BuildError {
    /// The option at fault (dotted path), when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl BuildError {
    /// An error about `field`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// An error about the stage as a whole.
    pub fn stage(message: impl Into<String>) -> Self {
        Self {
            field: None,
            message: message.into(),
        }
    }
}

/// What an input stage gets to run with.
pub struct InputContext {
    /// Sends batches to the stages that read this input.
    pub out: Emitter,
    /// Becomes set when the pipeline is asked to stop.
    pub shutdown: Shutdown,
    /// This stage's counters (inputs bump `lines_in` and `bytes_in`).
    pub counters: Arc<StageCounters>,
    /// Where non-fatal problems go (the `errors` channel).
    pub errors: ErrorSink,
}

/// A stage that produces events (files, stdin, network, journal).
///
/// `run` returns when the source is exhausted (end of file, end of stdin) or
/// when `ctx.shutdown` fires; either way the pipeline drains what was sent.
pub trait Input: Send + 'static {
    /// Runs the input to completion.
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<Result<(), StageError>>;
}

/// A non-fatal problem with one event, delivered on the `errors` channel.
#[derive(Debug, Clone)]
pub struct ErrorRecord {
    /// What went wrong.
    pub message: String,
    /// The event being processed, when there was one.
    pub input: Option<Event>,
}

/// Where a processor puts its results.
#[derive(Debug, Default)]
pub struct Outbox {
    ports: Vec<Batch>,
    errors: Vec<ErrorRecord>,
}

impl Outbox {
    /// An outbox with `ports` output ports (port 0 is the stage's `outChannels`).
    pub fn with_ports(ports: usize) -> Self {
        Self {
            ports: (0..ports.max(1)).map(|_| Vec::new()).collect(),
            errors: Vec::new(),
        }
    }

    /// Emits on the main output (`outChannels`).
    pub fn emit(&mut self, event: Event) {
        self.ports[0].push(event);
    }

    /// Emits on an extra port declared by the stage (e.g. fail2ban's `bansChannel`).
    /// Events for a port that does not exist go to the main output.
    pub fn emit_to(&mut self, port: usize, event: Event) {
        let idx = if port < self.ports.len() { port } else { 0 };
        self.ports[idx].push(event);
    }

    /// Reports a non-fatal error about `input`.
    pub fn error(&mut self, message: impl Into<String>, input: Option<Event>) {
        self.errors.push(ErrorRecord {
            message: message.into(),
            input,
        });
    }

    /// Takes the events of one port.
    pub fn take_port(&mut self, port: usize) -> Batch {
        self.ports
            .get_mut(port)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Number of ports.
    pub fn port_count(&self) -> usize {
        self.ports.len()
    }

    /// Takes the errors collected so far.
    pub fn take_errors(&mut self) -> Vec<ErrorRecord> {
        std::mem::take(&mut self.errors)
    }

    /// The events of one port, without taking them (for tests).
    pub fn port(&self, port: usize) -> &[Event] {
        self.ports.get(port).map_or(&[], Vec::as_slice)
    }

    /// The errors collected so far (for tests).
    pub fn errors(&self) -> &[ErrorRecord] {
        &self.errors
    }
}

/// A stage that handles events one batch at a time.
///
/// Processors are synchronous: the runtime drives them from a task and
/// sends what they put in the [`Outbox`]. One that writes to files or
/// sockets says so with [`blocking`](Processor::blocking) and is run where
/// blocking is allowed.
pub trait Processor: Send + 'static {
    /// Called once before the first event: open files, connect. A failure
    /// stops the pipeline with a clear message.
    fn start(&mut self) -> Result<(), StageError> {
        Ok(())
    }

    /// Handles one event.
    fn process(&mut self, event: Event, out: &mut Outbox);

    /// Handles a batch; the default calls [`process`](Processor::process) for each event.
    fn process_batch(&mut self, batch: Batch, out: &mut Outbox) {
        for event in batch {
            self.process(event, out);
        }
    }

    /// How often [`tick`](Processor::tick) should run, if at all.
    fn tick_interval(&self) -> Option<Duration> {
        None
    }

    /// Periodic work (expiring state, flushing buffers).
    fn tick(&mut self, _out: &mut Outbox) {}

    /// SIGHUP: reopen files (log rotation).
    fn hangup(&mut self, _out: &mut Outbox) {}

    /// End of input: flush everything. Errors here are reported, then the
    /// stage ends.
    fn finish(&mut self, _out: &mut Outbox) -> Result<(), StageError> {
        Ok(())
    }

    /// True when `process` may block on I/O.
    fn blocking(&self) -> bool {
        false
    }
}

/// A built stage, ready to run.
pub enum StageBody {
    /// Produces events.
    Input(Box<dyn Input>),
    /// Consumes (and maybe produces) events.
    Processor(Box<dyn Processor>),
}

/// What a module's builder returns.
pub struct BuiltStage {
    /// The running part.
    pub body: StageBody,
    /// Channels written besides `outChannels`, one per extra port, in port
    /// order (port 1, 2, ...).
    pub extra_outputs: Vec<String>,
}

impl BuiltStage {
    /// An input stage.
    pub fn input(i: impl Input) -> Self {
        Self {
            body: StageBody::Input(Box::new(i)),
            extra_outputs: Vec::new(),
        }
    }

    /// A processor stage.
    pub fn processor(p: impl Processor) -> Self {
        Self {
            body: StageBody::Processor(Box::new(p)),
            extra_outputs: Vec::new(),
        }
    }
}

/// Everything a module's builder may look at.
pub struct BuildContext<'a> {
    /// The stage's name.
    pub stage: &'a str,
    /// The module's options (structural keys removed).
    pub options: &'a Mapping,
    /// Directory that relative paths are resolved against (the config file's).
    pub base_dir: &'a Path,
    /// This stage's counters.
    pub counters: Arc<StageCounters>,
    /// The top-level settings (state store, control socket).
    pub settings: &'a crate::config::Settings,
}

impl BuildContext<'_> {
    /// Deserializes the options into the module's config struct; the error
    /// names the failing field.
    pub fn options<T: DeserializeOwned>(&self) -> Result<T, BuildError> {
        crate::config::deserialize_located(Value::Mapping(self.options.clone()), |field, msg| {
            BuildError {
                field: field.map(str::to_string),
                message: msg,
            }
        })
    }

    /// Resolves a configured path against the configuration's directory.
    pub fn resolve(&self, path: impl AsRef<Path>) -> PathBuf {
        let p = path.as_ref();
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}
