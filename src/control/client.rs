//! Talking to a running logbus through its control socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

/// Why a request did not get an answer.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Nothing listens there.
    #[error(
        "logbus is not running (no control socket at {0}); start it with `logbus run`, or point to its socket with --socket or --config"
    )]
    NotRunning(PathBuf),
    /// The socket exists but we may not use it.
    #[error(
        "permission denied on {0}: the control socket belongs to the user running logbus (normally root); run this command as that user"
    )]
    Denied(PathBuf),
    /// Anything else.
    #[error("control socket {path}: {source}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The answer was not JSON.
    #[error("control socket {0}: garbled answer")]
    Garbled(PathBuf),
}

/// Sends one request and returns the answer.
pub fn request(socket: &Path, req: &Value) -> Result<Value, ClientError> {
    let io = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
            ClientError::NotRunning(socket.to_path_buf())
        }
        std::io::ErrorKind::PermissionDenied => ClientError::Denied(socket.to_path_buf()),
        _ => ClientError::Io {
            path: socket.to_path_buf(),
            source,
        },
    };
    let mut stream = UnixStream::connect(socket).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(io)?;
    let mut text = req.to_string();
    text.push('\n');
    stream.write_all(text.as_bytes()).map_err(io)?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).map_err(io)?;
    serde_json::from_str(&answer).map_err(|_| ClientError::Garbled(socket.to_path_buf()))
}
