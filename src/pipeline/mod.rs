//! Building a pipeline from its configuration, checking it, and running it.

pub mod control;
pub mod counters;
pub mod emitter;
pub mod graph;
mod inherent;
mod runtime;
pub mod shutdown;
pub mod stage;

use std::sync::Arc;
use std::time::Duration;

pub use counters::StageCounters;
pub use emitter::{Closed, Emitter};
pub use inherent::ErrorSink;
pub use runtime::{RunOptions, RunReport};
pub use shutdown::Shutdown;
pub use stage::{
    BoxFuture, BuildContext, BuildError, BuiltStage, ErrorRecord, Input, InputContext, Outbox,
    Processor, StageBody, StageError,
};

use crate::config::{ConfigError, PipelineConfig};
use crate::stages;

/// A stage that has been built and is ready to run.
pub struct BuiltNode {
    /// Graph information.
    pub node: graph::Node,
    /// The running part.
    pub body: StageBody,
    /// Its counters.
    pub counters: Arc<StageCounters>,
}

/// A validated pipeline, ready to run.
pub struct Pipeline {
    /// The stages, in configuration order.
    pub stages: Vec<BuiltNode>,
    /// How often stats are emitted.
    pub stats_interval: Duration,
    /// The control socket to serve, if any (see [`Pipeline::build`]).
    pub control_socket: Option<ControlSocket>,
    /// Where to serve Prometheus metrics, if anywhere.
    pub metrics: Option<std::net::SocketAddr>,
}

/// Where the control socket goes, and whether the user asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlSocket {
    /// Its path.
    pub path: std::path::PathBuf,
    /// Set in the configuration: failing to serve it stops the run.
    pub explicit: bool,
}

/// The default control socket path.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/logbus/control.sock";

impl Pipeline {
    /// Builds every stage and checks the graph. All problems are reported
    /// at once, so a user fixes a file in one go.
    pub fn build(config: &PipelineConfig) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut stages = Vec::new();
        let mut wants_control = false;
        for spec in &config.stages {
            let Some(module) = stages::find(&spec.module, !spec.in_channels.is_empty()) else {
                errors.push(config.error(
                    Some(&spec.name),
                    Some("module"),
                    format!(
                        "unknown module `{}` (known: {})",
                        spec.module,
                        stages::names().join(", ")
                    ),
                ));
                continue;
            };
            let counters = Arc::new(StageCounters::default());
            let ctx = BuildContext {
                stage: &spec.name,
                options: &spec.options,
                base_dir: &config.base_dir,
                counters: counters.clone(),
                settings: &config.settings,
            };
            match (module.build)(&ctx) {
                Ok(built) => {
                    wants_control |= built.wants_control_socket;
                    let mut writes = vec![spec.out_channels.clone()];
                    writes.extend(built.extra_outputs.into_iter().map(|c| vec![c]));
                    stages.push(BuiltNode {
                        node: graph::Node {
                            name: spec.name.clone(),
                            module: spec.module.clone(),
                            kind: module.kind,
                            reads: spec.in_channels.clone(),
                            writes,
                        },
                        body: built.body,
                        counters,
                    });
                }
                Err(e) => errors.push(config.error(
                    Some(&spec.name),
                    e.field.as_deref(),
                    format!("{}: {}", spec.module, e.message),
                )),
            }
        }
        if errors.is_empty() {
            let nodes: Vec<graph::Node> = stages.iter().map(|s| s.node.clone()).collect();
            if let Err(graph_errors) = graph::validate(&nodes) {
                errors.extend(
                    graph_errors
                        .into_iter()
                        .map(|g| config.error(Some(&g.stage), Some(g.field), g.message)),
                );
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let control_socket = match &config.settings.control_socket {
            Some(p) => Some(ControlSocket {
                path: if p.is_absolute() {
                    p.clone()
                } else {
                    config.base_dir.join(p)
                },
                explicit: true,
            }),
            None => wants_control.then(|| ControlSocket {
                path: DEFAULT_CONTROL_SOCKET.into(),
                explicit: false,
            }),
        };
        Ok(Self {
            stages,
            stats_interval: config.settings.stats_interval.0,
            control_socket,
            metrics: config.settings.metrics.as_ref().map(|m| m.listen),
        })
    }

    /// The graph as `logbus check` prints it.
    pub fn describe(&self) -> String {
        let nodes: Vec<graph::Node> = self.stages.iter().map(|s| s.node.clone()).collect();
        graph::render(&nodes)
    }

    /// Runs the pipeline until its inputs end or it is told to stop.
    pub async fn run(self, options: RunOptions) -> RunReport {
        runtime::run(self, options).await
    }
}
