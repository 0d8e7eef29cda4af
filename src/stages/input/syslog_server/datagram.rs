//! Datagram sockets: UDP and the local unix socket (like /dev/log).
//!
//! One datagram is one message. The receive loop never waits for the
//! pipeline: a datagram that finds the queue full is counted as dropped,
//! without being parsed, and the loop goes back to the socket.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{UdpSocket, UnixDatagram};
use tokio::sync::mpsc::{self, error::TrySendError};

use super::{Peer, Shared, Throttle, trim_message};
use crate::event::Event;
use crate::pipeline::{Shutdown, StageCounters, StageError};

/// Datagrams read from the kernel's buffer after shutdown, at most: what
/// had arrived is drained, a sender that keeps going does not hold the
/// stop up.
const DRAIN_LIMIT: usize = 100_000;

/// Pause after a failed receive, so a persistent error cannot spin.
const ERROR_PAUSE: Duration = Duration::from_millis(100);

/// A bound datagram socket.
pub(super) enum Socket {
    /// UDP, with the last sender's address already formatted (a relay
    /// sends everything from one address).
    Udp(UdpSocket, Option<(SocketAddr, Peer)>),
    /// The unix socket; its file is removed when this is dropped.
    Unix {
        /// The socket.
        sock: UnixDatagram,
        /// Its path, as `log.syslog.peer`.
        peer: Peer,
        /// Held only to be dropped with the socket.
        _file: SocketFile,
    },
}

impl Socket {
    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, Peer)> {
        match self {
            Socket::Udp(sock, last) => {
                let (n, addr) = sock.recv_from(buf).await?;
                Ok((n, udp_peer(last, addr)))
            }
            Socket::Unix { sock, peer, .. } => Ok((sock.recv(buf).await?, peer.clone())),
        }
    }

    fn try_recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, Peer)> {
        match self {
            Socket::Udp(sock, last) => {
                let (n, addr) = sock.try_recv_from(buf)?;
                Ok((n, udp_peer(last, addr)))
            }
            Socket::Unix { sock, peer, .. } => Ok((sock.try_recv(buf)?, peer.clone())),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Socket::Udp(..) => "udp",
            Socket::Unix { .. } => "unix",
        }
    }
}

fn udp_peer(last: &mut Option<(SocketAddr, Peer)>, addr: SocketAddr) -> Peer {
    match last {
        Some((a, p)) if *a == addr => p.clone(),
        _ => {
            let p = Peer::net(addr);
            *last = Some((addr, p.clone()));
            p
        }
    }
}

/// Binds a UDP socket.
pub(super) fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, StageError> {
    let fail = |e: io::Error| StageError::new(format!("cannot listen on udp {addr}: {e}"));
    let sock = std::net::UdpSocket::bind(addr).map_err(fail)?;
    sock.set_nonblocking(true).map_err(fail)?;
    UdpSocket::from_std(sock).map_err(fail)
}

/// The unix socket's file, removed when dropped unless something else has
/// replaced it meanwhile.
#[derive(Debug)]
pub(super) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(m) = std::fs::symlink_metadata(&self.path)
            && m.dev() == self.dev
            && m.ino() == self.ino
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A bound unix socket, not yet served.
pub(super) struct UnixBound {
    sock: UnixDatagram,
    peer: Peer,
    file: SocketFile,
}

impl UnixBound {
    /// The path as recorded in `log.syslog.peer`.
    pub(super) fn path_text(&self) -> &str {
        self.peer.as_str()
    }

    /// The socket, ready to serve.
    pub(super) fn into_socket(self) -> Socket {
        Socket::Unix {
            sock: self.sock,
            peer: self.peer,
            _file: self.file,
        }
    }
}

/// Creates the unix datagram socket at `path` with `mode`. A stale socket
/// file (nobody receives on it: a crash left it) is replaced; a live one,
/// or anything that is not a socket, is left alone and is an error.
pub(super) fn bind_unix(path: &Path, mode: u32) -> Result<UnixBound, StageError> {
    let shown = path.display();
    let fail = |what: &str, e: io::Error| StageError::new(format!("{what} {shown}: {e}"));
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail("cannot look at", e)),
        Ok(m) if !m.file_type().is_socket() => {
            return Err(StageError::new(format!(
                "{shown} exists and is not a socket; logbus does not remove it"
            )));
        }
        Ok(_) => {
            let probe =
                std::os::unix::net::UnixDatagram::unbound().map_err(|e| fail("cannot probe", e))?;
            match probe.connect(path) {
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path).map_err(|e| fail("cannot remove stale", e))?;
                }
                Ok(()) => {
                    return Err(StageError::new(format!(
                        "{shown} is in use by another program (a syslog daemon?)"
                    )));
                }
                Err(e) => return Err(fail("cannot use", e)),
            }
        }
    }
    let sock =
        std::os::unix::net::UnixDatagram::bind(path).map_err(|e| fail("cannot listen on", e))?;
    let meta = std::fs::symlink_metadata(path).map_err(|e| fail("cannot look at", e))?;
    // From here on the file is ours and goes away with the guard, on
    // every path out (an error below, shutdown, an aborted task).
    let file = SocketFile {
        path: path.to_path_buf(),
        dev: meta.dev(),
        ino: meta.ino(),
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| fail("cannot set the mode of", e))?;
    sock.set_nonblocking(true)
        .map_err(|e| fail("cannot listen on", e))?;
    let sock = UnixDatagram::from_std(sock).map_err(|e| fail("cannot listen on", e))?;
    Ok(UnixBound {
        sock,
        peer: Peer::unix(&path.to_string_lossy()),
        file,
    })
}

/// Receives datagrams until shutdown, then drains what the kernel holds.
pub(super) async fn serve(
    mut sock: Socket,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Event>,
    mut shutdown: Shutdown,
) {
    // One byte more than the limit tells a datagram that was cut.
    let mut buf = vec![0u8; shared.limits.max_message + 1];
    let mut drops = Throttle::default();
    let mut failures = Throttle::default();
    loop {
        let got = tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            got = sock.recv(&mut buf) => got,
        };
        match got {
            Ok((n, peer)) => {
                let msg = received(&shared, &buf, n);
                match tx.try_reserve() {
                    Ok(permit) => {
                        if let Some(event) = shared.event(msg, &peer) {
                            permit.send(event);
                        }
                    }
                    Err(TrySendError::Full(())) => {
                        if trim_message(msg).is_empty() {
                            continue;
                        }
                        // Dropped first: a snapshot that sees the line
                        // counted sees its drop too.
                        StageCounters::add(&shared.stats.dropped, 1);
                        StageCounters::add(&shared.counters.lines_in, 1);
                        if let Some(n) = drops.note() {
                            shared.report_detached(format!(
                                "{n} {} datagram(s) dropped: the pipeline is not keeping up \
                                 (datagram_queue of {} full)",
                                sock.kind(),
                                tx.max_capacity()
                            ));
                        }
                    }
                    Err(TrySendError::Closed(())) => return,
                }
            }
            Err(e) => {
                if let Some(n) = failures.note() {
                    shared.report_detached(format!(
                        "{} receive failed ({n} time(s)): {e}",
                        sock.kind()
                    ));
                }
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
    }
    // Shutdown: what already arrived is passed on; the forwarder is
    // draining, so waiting for room here ends.
    for _ in 0..DRAIN_LIMIT {
        let Ok((n, peer)) = sock.try_recv(&mut buf) else {
            break;
        };
        let msg = received(&shared, &buf, n);
        let Ok(permit) = tx.reserve().await else {
            return;
        };
        if let Some(event) = shared.event(msg, &peer) {
            permit.send(event);
        }
    }
}

/// The message in a datagram of `n` bytes read into `buf`, cut to the
/// limit (and counted) when it was longer.
fn received<'a>(shared: &Shared, buf: &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(buf.len());
    StageCounters::add(&shared.counters.bytes_in, n as u64);
    let max = shared.limits.max_message;
    if n > max {
        StageCounters::add(&shared.stats.truncated, 1);
        return &buf[..max];
    }
    &buf[..n]
}
