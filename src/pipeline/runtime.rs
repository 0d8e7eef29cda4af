//! Running a pipeline: one task per stage, bounded queues between them,
//! the inherent channels, signals and orderly shutdown.
//!
//! Shutdown order: inputs stop (end of data, or SIGINT/SIGTERM); each stage
//! ends when every stage feeding it has ended and its queue is empty, so
//! queued events drain through the graph. Stages that read `errors` or
//! `stats` (and those after them) end last, once those channels close.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::{Id, JoinSet};

use super::control;
use super::counters::StageCounters;
use super::emitter::Emitter;
use super::graph;
use super::inherent::{ErrorSink, error_broker, stats_ticker};
use super::shutdown::{self, ShutdownTrigger};
use super::stage::{InputContext, Outbox, Processor, StageBody, StageError};
use super::{BuiltNode, Pipeline};
use crate::event::{Batch, Event};

/// Batches in flight per stage queue. Inputs send at most
/// [`crate::stages::BATCH_SIZE`] events per batch, so this bounds memory.
const QUEUE_BATCHES: usize = 4;

/// How a run is set up.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Install SIGINT/SIGTERM/SIGHUP handlers (off in tests that drive
    /// shutdown themselves).
    pub handle_signals: bool,
}

/// How a run ended.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Stages that failed, with the reason.
    pub failures: Vec<(String, String)>,
    /// True when a signal stopped the run.
    pub interrupted: bool,
}

impl RunReport {
    /// True when every stage ended well.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Stage tasks and their names.
#[derive(Default)]
struct Tasks {
    set: JoinSet<Result<(), StageError>>,
    names: HashMap<Id, String>,
}

impl Tasks {
    fn spawn(
        &mut self,
        name: String,
        fut: impl Future<Output = Result<(), StageError>> + Send + 'static,
    ) {
        let id = self.set.spawn(fut).id();
        self.names.insert(id, name);
    }

    /// Waits for every task; a failed stage is recorded and stops the
    /// inputs, so the rest of the pipeline drains and ends.
    async fn join(mut self, trigger: &ShutdownTrigger, report: &mut RunReport) {
        while let Some(done) = self.set.join_next_with_id().await {
            let (id, failure) = match done {
                Ok((_, Ok(()))) => continue,
                Ok((id, Err(e))) => (id, e.to_string()),
                Err(e) => (e.id(), format!("stage crashed: {e}")),
            };
            let name = self.names.remove(&id).unwrap_or_default();
            tracing::error!(stage = %name, "{failure}");
            report.failures.push((name, failure));
            trigger.fire();
        }
    }
}

pub(super) async fn run(pipeline: Pipeline, options: RunOptions) -> RunReport {
    let Pipeline {
        stages,
        stats_interval,
        control_socket,
        metrics,
    } = pipeline;
    let metrics_listener = match metrics {
        Some(addr) => match crate::control::metrics::bind(addr).await {
            Ok(l) => Some(l),
            Err(e) => {
                return RunReport {
                    failures: vec![("metrics".into(), e)],
                    interrupted: false,
                };
            }
        },
        None => None,
    };
    // Bind before any stage starts: a socket the user asked for that cannot
    // be served stops the run before anything happened.
    let listener = match control_socket {
        Some(sock) => match crate::control::server::bind(&sock.path) {
            Ok(l) => Some(l),
            Err(e) if sock.explicit => {
                return RunReport {
                    failures: vec![("control_socket".into(), e)],
                    interrupted: false,
                };
            }
            Err(e) => {
                tracing::warn!("no control socket (`logbus bans` will not reach this run): {e}");
                None
            }
        },
        None => None,
    };
    let nodes: Vec<graph::Node> = stages.iter().map(|s| s.node.clone()).collect();
    let readers = graph::readers_by_port(&nodes);
    let late = graph::downstream_of_inherent(&nodes);

    // One bounded queue per consuming stage.
    let mut receivers: Vec<Option<mpsc::Receiver<Batch>>> = Vec::new();
    let mut senders: Vec<Option<mpsc::Sender<Batch>>> = Vec::new();
    for s in &stages {
        let (tx, rx) = match s.body {
            StageBody::Processor(_) => {
                let (tx, rx) = mpsc::channel(QUEUE_BATCHES);
                (Some(tx), Some(rx))
            }
            StageBody::Input(_) => (None, None),
        };
        senders.push(tx);
        receivers.push(rx);
    }
    let senders_for = |idx: &[usize]| -> Vec<mpsc::Sender<Batch>> {
        idx.iter().filter_map(|&i| senders[i].clone()).collect()
    };

    let error_readers = graph::readers_of(&nodes, "errors");
    let stats_readers = graph::readers_of(&nodes, "stats");
    let (err_tx, err_rx) = mpsc::channel::<Event>(1024);
    let err_tx = (!error_readers.is_empty()).then_some(err_tx);

    let (trigger, stop) = shutdown::channel();
    let trigger = Arc::new(trigger);
    let (hup_tx, _) = broadcast::channel::<()>(4);
    let interrupted = Arc::new(AtomicBool::new(false));
    // Registered here, before any stage runs, not inside the spawned task: a
    // signal that arrived before that task was first polled would get the
    // default action (SIGTERM and SIGHUP kill the process, skipping the drain).
    let signal_task = options
        .handle_signals
        .then(Signals::install)
        .flatten()
        .map(|signals| {
            tokio::spawn(handle_signals(
                signals,
                trigger.clone(),
                hup_tx.clone(),
                interrupted.clone(),
            ))
        });

    let stat_list: Vec<(String, String, Arc<StageCounters>)> = stages
        .iter()
        .map(|s| {
            (
                s.node.name.clone(),
                s.node.module.clone(),
                s.counters.clone(),
            )
        })
        .collect();

    let mut early = Tasks::default();
    let mut last = Tasks::default();
    let mut control_targets = Vec::new();
    for (i, stage) in stages.into_iter().enumerate() {
        let BuiltNode {
            node,
            body,
            counters,
        } = stage;
        let ports = readers[i].iter().map(|r| senders_for(r)).collect();
        let emitter = Emitter::new(ports, counters.clone());
        let is_late = late.contains(&i);
        let errors = ErrorSink::new(
            err_tx.clone(),
            !is_late,
            &node.name,
            &node.module,
            counters.clone(),
        );
        let tasks = if is_late { &mut last } else { &mut early };
        match body {
            StageBody::Input(input) => {
                let ctx = InputContext {
                    out: emitter,
                    shutdown: stop.clone(),
                    counters,
                    errors,
                };
                tasks.spawn(node.name, input.run(ctx));
            }
            StageBody::Processor(p) => {
                let (ctl_tx, ctl_rx) = mpsc::channel(control::CONTROL_QUEUE);
                control_targets.push(control::ControlTarget::new(
                    node.name.clone(),
                    node.module.clone(),
                    ctl_tx,
                ));
                let driven = Driven {
                    rx: receivers[i].take(),
                    out: emitter,
                    errors,
                    counters,
                    hup: hup_tx.subscribe(),
                    control: ctl_rx,
                };
                tasks.spawn(node.name, drive(p, driven));
            }
        }
    }
    let inherent_counters = Arc::new(StageCounters::default());
    let err_out = Emitter::new(vec![senders_for(&error_readers)], inherent_counters.clone());
    let stats_out = Emitter::new(vec![senders_for(&stats_readers)], inherent_counters);
    // Only stages and the two inherent tasks hold queue senders now; when
    // they end, the queues close and their readers finish.
    drop(senders);
    let (err_close, err_close_rx) = oneshot::channel();
    let broker = tokio::spawn(error_broker(err_rx, err_out, err_close_rx));
    drop(err_tx);
    let (stats_close, stats_close_rx) = oneshot::channel();
    let control_ctx = control::ControlContext {
        targets: control_targets,
        stages: stat_list.clone(),
    };
    let metrics_server = metrics_listener
        .map(|l| tokio::spawn(crate::control::metrics::serve(l, control_ctx.clone())));
    let server = listener.map(|l| tokio::spawn(crate::control::server::serve(l, control_ctx)));
    let stats = tokio::spawn(stats_ticker(
        stat_list,
        stats_out,
        stats_interval,
        stats_close_rx,
    ));

    let mut report = RunReport::default();
    early.join(&trigger, &mut report).await;
    let _ = stats_close.send(());
    let _ = stats.await;
    let _ = err_close.send(());
    let _ = broker.await;
    last.join(&trigger, &mut report).await;
    if let Some(t) = signal_task {
        t.abort();
    }
    if let Some(m) = metrics_server {
        m.abort();
    }
    if let Some(server) = server {
        server.abort();
        // Wait until the aborted task is dropped: dropping its listener
        // removes the socket file. The caller shuts the runtime down in the
        // background and exits, which does not wait for that.
        let _ = server.await;
    }
    report.interrupted = interrupted.load(Ordering::Relaxed);
    report
}

/// The signals a run handles.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers; `None` (logged) when the OS refuses.
    fn install() -> Option<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(int), Ok(term), Ok(hangup)) => Some(Self { int, term, hangup }),
            _ => {
                tracing::error!("cannot install signal handlers");
                None
            }
        }
    }
}

/// First SIGINT/SIGTERM: stop the inputs and drain. Second: exit at once.
/// SIGHUP: ask stages to reopen their files.
async fn handle_signals(
    signals: Signals,
    trigger: Arc<ShutdownTrigger>,
    hup: broadcast::Sender<()>,
    interrupted: Arc<AtomicBool>,
) {
    let Signals {
        mut int,
        mut term,
        mut hangup,
    } = signals;
    loop {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reopening output files");
                let _ = hup.send(());
                continue;
            }
        }
        if interrupted.swap(true, Ordering::Relaxed) {
            tracing::warn!("second signal: exiting now");
            std::process::exit(130);
        }
        tracing::info!("stopping: draining queued events (signal again to exit at once)");
        trigger.fire();
    }
}

/// Runs `f` where blocking is allowed when the stage says it blocks.
fn call<R>(blocking: bool, f: impl FnOnce() -> R) -> R {
    if blocking {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// Drives a processor: batches in, outbox out, ticks, SIGHUP, finish.
/// What a processor is driven with.
struct Driven {
    rx: Option<mpsc::Receiver<Batch>>,
    out: Emitter,
    errors: ErrorSink,
    counters: Arc<StageCounters>,
    hup: broadcast::Receiver<()>,
    control: mpsc::Receiver<control::ControlCall>,
}

async fn drive(mut proc: Box<dyn Processor>, driven: Driven) -> Result<(), StageError> {
    let Driven {
        rx,
        mut out,
        errors,
        counters,
        mut hup,
        mut control,
    } = driven;
    let Some(mut rx) = rx else {
        return Err(StageError::new("internal: processor without a queue"));
    };
    let blocking = proc.blocking();
    let mut outbox = Outbox::with_ports(out.port_count());
    call(blocking, || proc.start())?;
    let mut ticker = proc.tick_interval().map(|d| {
        let mut t = tokio::time::interval(d);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        tokio::select! {
            biased;
            batch = rx.recv() => {
                let Some(batch) = batch else { break };
                StageCounters::add(&counters.events_in, batch.len() as u64);
                call(blocking, || proc.process_batch(batch, &mut outbox));
            }
            _ = async {
                match ticker.as_mut() {
                    Some(t) => { t.tick().await; }
                    None => std::future::pending::<()>().await,
                }
            } => call(blocking, || proc.tick(&mut outbox)),
            r = hup.recv() => {
                if !matches!(r, Err(broadcast::error::RecvError::Closed)) {
                    call(blocking, || proc.hangup(&mut outbox));
                }
            }
            Some(c) = control.recv() => {
                let answer = call(blocking, || proc.control(&c.request, &mut outbox));
                let _ = c.reply.send(answer);
            }
        }
        flush(&mut outbox, &mut out, &errors).await;
    }
    let result = call(blocking, || proc.finish(&mut outbox));
    flush(&mut outbox, &mut out, &errors).await;
    result
}

async fn flush(outbox: &mut Outbox, out: &mut Emitter, errors: &ErrorSink) {
    for port in 0..outbox.port_count() {
        let batch = outbox.take_port(port);
        // A port nobody reads (an output's, or a closed reader) drops its events.
        let _ = out.send_to(port, batch).await;
    }
    for record in outbox.take_errors() {
        errors.report(record).await;
    }
}
