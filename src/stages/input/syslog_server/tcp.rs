//! The TCP server: a bounded number of connections, each framed with
//! [`Framer`] and read only as fast as the pipeline takes its messages.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;

use super::framing::{FrameError, Framer};
use super::{Peer, Shared, Throttle};
use crate::event::{Batch, Event};
use crate::pipeline::{Shutdown, StageCounters, StageError};
use crate::stages::BATCH_SIZE;
use crate::stages::input::lines::BATCH_BYTES;

/// Bytes read from a connection after shutdown, at most: what had arrived
/// is drained, a client that keeps sending does not hold the stop up.
const DRAIN_BYTES: usize = 1024 * 1024;

/// Pause after a failed accept (out of file descriptors, say), so the loop
/// cannot spin while the condition lasts.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Binds the listening socket.
pub(super) fn bind(addr: SocketAddr) -> Result<TcpListener, StageError> {
    let fail = |e: io::Error| StageError::new(format!("cannot listen on tcp {addr}: {e}"));
    // std sets SO_REUSEADDR, so a restart can rebind at once.
    let listener = std::net::TcpListener::bind(addr).map_err(fail)?;
    listener.set_nonblocking(true).map_err(fail)?;
    TcpListener::from_std(listener).map_err(fail)
}

/// A connection's place among `max_connections`; dropping it frees it.
struct Slot {
    _permit: OwnedSemaphorePermit,
    open: Arc<AtomicU64>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accepts connections until shutdown, then waits for the open ones to
/// drain and close.
pub(super) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Batch>,
    mut shutdown: Shutdown,
) {
    let max = shared.limits.max_connections;
    let slots = Arc::new(Semaphore::new(max));
    let mut conns = JoinSet::new();
    let mut refusals = Throttle::default();
    let mut failures = Throttle::default();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    let peer = Peer::net(addr);
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        // Dropping the stream closes it: the client sees
                        // the connection end at once.
                        drop(stream);
                        StageCounters::add(&shared.stats.connections_refused, 1);
                        if let Some(n) = refusals.note() {
                            shared.report_detached(format!(
                                "tcp connection from {} refused: max_connections ({max}) \
                                 are open ({n} refused since the last report)",
                                peer.as_str()
                            ));
                        }
                        continue;
                    };
                    StageCounters::add(&shared.stats.connections, 1);
                    StageCounters::add(&shared.stats.connections_open, 1);
                    let slot = Slot {
                        _permit: permit,
                        open: shared.stats.connections_open.clone(),
                    };
                    conns.spawn(connection(
                        stream,
                        peer,
                        slot,
                        shared.clone(),
                        tx.clone(),
                        shutdown.clone(),
                    ));
                }
                Err(e) => {
                    if let Some(n) = failures.note() {
                        shared.report_detached(format!("tcp accept failed ({n} time(s)): {e}"));
                    }
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                }
            },
        }
    }
    // No new connections from here; the open ones see the signal too.
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// Why a connection ended.
enum End {
    /// The client closed it.
    Eof,
    /// Silent for `idle_timeout`.
    Idle,
    /// The pipeline is stopping.
    Shutdown,
    /// Nobody reads this input any more.
    Closed,
    /// The client sent something that is not syslog.
    Protocol(FrameError),
    /// The socket failed (reset by the client).
    Io,
}

/// One client's state.
struct Conn {
    framer: Framer,
    peer: Peer,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Batch>,
    /// Events waiting to be sent, and their text size.
    chunk: Batch,
    held: usize,
}

impl Conn {
    /// Turns the complete frames received so far into events and sends
    /// them; waits while the pipeline is busy.
    async fn take_frames(&mut self) -> Result<(), End> {
        loop {
            let event = match self.framer.next_frame() {
                Ok(Some(msg)) => self.shared.event(msg, &self.peer),
                Ok(None) => break,
                Err(e) => {
                    // What came before the garbage was fine: it goes on.
                    self.flush().await?;
                    return Err(End::Protocol(e));
                }
            };
            if let Some(event) = event {
                self.push(event).await?;
            }
        }
        self.flush().await
    }

    async fn push(&mut self, event: Event) -> Result<(), End> {
        self.held += event.message_len();
        self.chunk.push(event);
        if self.chunk.len() >= BATCH_SIZE || self.held >= BATCH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), End> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        self.held = 0;
        let chunk = std::mem::take(&mut self.chunk);
        self.tx.send(chunk).await.map_err(|_| End::Closed)
    }

    /// At end of stream: the last message if it lacked its newline.
    async fn finish(&mut self) -> Result<(), End> {
        let event = match self.framer.finish() {
            Ok(Some(msg)) => self.shared.event(msg, &self.peer),
            Ok(None) => None,
            Err(e) => return Err(End::Protocol(e)),
        };
        if let Some(event) = event {
            self.push(event).await?;
        }
        self.flush().await
    }

    /// After shutdown: reads what the kernel already holds, without
    /// waiting for more.
    async fn drain(&mut self, stream: &TcpStream) -> Result<(), End> {
        let mut taken = 0;
        while taken < DRAIN_BYTES {
            let space = self.framer.read_space();
            if space.is_empty() {
                break;
            }
            match stream.try_read(space) {
                Ok(0) => return self.finish().await,
                Ok(n) => {
                    taken += n;
                    StageCounters::add(&self.shared.counters.bytes_in, n as u64);
                    self.framer.filled(n);
                    self.take_frames().await?;
                }
                // Would block: nothing more has arrived. Other errors end
                // the connection anyway.
                Err(_) => break,
            }
        }
        Ok(())
    }
}

/// Serves one client until it closes, falls silent, misbehaves, or the
/// pipeline stops.
async fn connection(
    mut stream: TcpStream,
    peer: Peer,
    slot: Slot,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Batch>,
    mut shutdown: Shutdown,
) {
    let _slot = slot;
    let idle = shared.limits.idle_timeout;
    let mut conn = Conn {
        framer: Framer::new(shared.limits.max_message),
        peer,
        shared,
        tx,
        chunk: Vec::new(),
        held: 0,
    };
    let end = loop {
        let space = conn.framer.read_space();
        if space.is_empty() {
            // The framer fails a frame before the buffer fills; this is
            // only a guard against reading nothing forever.
            break End::Protocol(FrameError::Overlong(conn.shared.limits.max_message));
        }
        let read = tokio::select! {
            biased;
            _ = shutdown.wait() => break End::Shutdown,
            read = read_some(&mut stream, space, idle) => read,
        };
        match read {
            Ok(Some(0)) => break End::Eof,
            Ok(Some(n)) => {
                StageCounters::add(&conn.shared.counters.bytes_in, n as u64);
                conn.framer.filled(n);
                if let Err(end) = conn.take_frames().await {
                    break end;
                }
            }
            Ok(None) => break End::Idle,
            Err(_) => break End::Io,
        }
    };
    let end = match end {
        End::Eof => conn.finish().await.err(),
        End::Shutdown => conn.drain(&stream).await.err(),
        End::Idle => {
            StageCounters::add(&conn.shared.stats.idle_closed, 1);
            // A last line without its newline still counts; a counted
            // frame cut short by the silence is dropped with the client.
            match conn.finish().await {
                Err(End::Protocol(FrameError::Incomplete { .. })) => None,
                other => other.err(),
            }
        }
        other => Some(other),
    };
    if let Some(End::Protocol(e)) = end {
        StageCounters::add(&conn.shared.stats.protocol_errors, 1);
        conn.shared
            .report(format!(
                "tcp client {} disconnected: {e}",
                conn.peer.as_str()
            ))
            .await;
    }
    // Dropping the stream closes it; with unread data the client gets a
    // reset, which tells it plainly that it was cut off.
}

/// One read, `None` when nothing came for `idle` (no limit: `None`).
async fn read_some(
    stream: &mut TcpStream,
    buf: &mut [u8],
    idle: Option<Duration>,
) -> io::Result<Option<usize>> {
    match idle {
        Some(limit) => match tokio::time::timeout(limit, stream.read(buf)).await {
            Ok(read) => read.map(Some),
            Err(_) => Ok(None),
        },
        None => stream.read(buf).await.map(Some),
    }
}
