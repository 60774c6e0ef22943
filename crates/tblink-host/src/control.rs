//! The control socket: a Unix stream socket (mode 0600, directory 0700)
//! speaking line-delimited JSON, one response line per request line.
//!
//! Requests: `{"cmd":"status"}` and
//! `{"cmd":"port","adapter":1,"action":"unplug"}` (or `"plug"`), and
//! `{"cmd":"capture","adapter":1}`, which turns the connection into a
//! binary stream of captured packets ([`crate::capture`]; at most
//! [`crate::capture::MAX_CAPTURES`] at once).
//! Responses: `{"ok":true,"status":{…}}`, `{"ok":true,"message":"…"}` or
//! `{"ok":false,"error":"…"}`.
//!
//! `dma_test` (spec 07, [`crate::dmatest`]): `{"cmd":"dmatest","adapter":1,
//! "send":1000}` (fields of [`DmaTestRequest`]) starts a run,
//! `{"cmd":"dmatest_status","adapter":1}` reads its latest report and
//! `{"cmd":"dmatest_cancel","adapter":1}` ends it; each answers
//! `{"ok":true,"dmatest":{…}}`.
//!
//! Default path of host NAME, first that works: `/run/tblink/NAME.sock`,
//! `$XDG_RUNTIME_DIR/tblink/NAME.sock`, `/tmp/tblink-$UID/NAME.sock`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::dmatest::{DmaTestReport, DmaTestRequest};
use crate::snapshot::Snapshot;

/// Longest request or response line accepted.
pub const MAX_LINE: usize = 1 << 20;

/// What to do with a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortAction {
    /// Pull the cable.
    Unplug,
    /// Put a cable in again.
    Plug,
}

/// A request line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// The host's snapshot.
    Status,
    /// Plug or unplug a port.
    Port {
        /// Lane adapter number.
        adapter: u8,
        /// What to do.
        action: PortAction,
    },
    /// Stream the traffic of a port (every port without `adapter`); see
    /// [`crate::capture`].
    Capture {
        /// Lane adapter number.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        adapter: Option<u8>,
        /// Bytes kept of each packet (the rest is cut off); whole packets
        /// without it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        snaplen: Option<u32>,
    },
    /// Start a `dma_test` run.
    Dmatest(DmaTestRequest),
    /// The latest `dma_test` report of a port.
    DmatestStatus {
        /// Lane adapter number.
        adapter: u8,
    },
    /// Cancel the `dma_test` run in progress on a port.
    DmatestCancel {
        /// Lane adapter number.
        adapter: u8,
    },
}

/// A response line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Whether the request succeeded.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The snapshot (status requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Snapshot>,
    /// A `dma_test` report (`dmatest*` requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dmatest: Option<DmaTestReport>,
}

impl Response {
    /// A failure.
    pub fn error(e: impl Into<String>) -> Self {
        Response {
            ok: false,
            error: Some(e.into()),
            ..Default::default()
        }
    }

    /// A success with a message.
    pub fn done(m: impl Into<String>) -> Self {
        Response {
            ok: true,
            message: Some(m.into()),
            ..Default::default()
        }
    }
}

/// Errors of the control socket.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Another daemon answers on the socket.
    #[error("host {name:?} is already running (control socket {path})")]
    AlreadyRunning {
        /// Host name.
        name: String,
        /// Socket path.
        path: PathBuf,
    },
    /// Nothing answers on the socket.
    #[error("host {name:?} is not running (no control socket at {paths})")]
    NotRunning {
        /// Host name or path given.
        name: String,
        /// Where we looked.
        paths: String,
    },
    /// No usable directory for the socket.
    #[error("no usable directory for the control socket (tried {0})")]
    NoDirectory(String),
    /// I/O on the socket.
    #[error("control socket {path}: {source}")]
    Io {
        /// Socket path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The daemon's answer was not understood.
    #[error("control socket {0}: bad response: {1}")]
    BadResponse(PathBuf, String),
    /// The wait for the daemon's answer was cut short (e.g. Ctrl-C).
    #[error("control socket {0}: interrupted while waiting for the host")]
    Interrupted(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ControlError + '_ {
    move |source| ControlError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The directories a control socket may live in, in order of preference.
pub fn candidate_dirs() -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from("/run/tblink")];
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
        v.push(PathBuf::from(x).join("tblink"));
    }
    v.push(PathBuf::from(format!(
        "/tmp/tblink-{}",
        rustix::process::getuid().as_raw()
    )));
    v
}

fn sock_name(name: &str) -> String {
    format!("{name}.sock")
}

/// Where a client looks for host `name`: the first candidate whose socket
/// exists.
pub fn find_socket(name: &str) -> Result<PathBuf, ControlError> {
    let cands: Vec<PathBuf> = candidate_dirs()
        .into_iter()
        .map(|d| d.join(sock_name(name)))
        .collect();
    cands
        .iter()
        .find(|p| p.exists())
        .cloned()
        .ok_or_else(|| ControlError::NotRunning {
            name: name.to_string(),
            paths: join_paths(&cands),
        })
}

fn join_paths(p: &[PathBuf]) -> String {
    p.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn usable_dir(dir: &Path) -> bool {
    if std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .is_err()
    {
        return false;
    }
    rustix::fs::access(
        dir,
        rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
    )
    .is_ok()
}

/// Where the daemon of host `name` puts its socket by default: the first
/// candidate directory that can be created (0700) and written.
pub fn default_socket(name: &str) -> Result<PathBuf, ControlError> {
    let dirs = candidate_dirs();
    dirs.iter()
        .find(|d| usable_dir(d))
        .map(|d| d.join(sock_name(name)))
        .ok_or_else(|| ControlError::NoDirectory(join_paths(&dirs)))
}

/// A bound control socket; the file is removed when it is dropped.
#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Bind at `path` (mode 0600; parent created 0700 if missing). A stale
    /// socket nobody answers on is replaced; a live one means host `name`
    /// is running already.
    pub fn bind(path: &Path, name: &str) -> Result<Self, ControlError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_err(dir))?;
        }
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(ControlError::AlreadyRunning {
                    name: name.to_string(),
                    path: path.to_path_buf(),
                });
            }
            tracing::info!(path = %path.display(), "replacing stale control socket");
            std::fs::remove_file(path).map_err(io_err(path))?;
        }
        let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
        let bound = UnixListener::bind(path);
        rustix::process::umask(old);
        let listener = bound.map_err(io_err(path))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(path))?;
        Ok(ControlSocket {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The listener.
    pub fn listener(&self) -> &UnixListener {
        &self.listener
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Read one line of at most [`MAX_LINE`] bytes; `None` at end of stream.
pub fn read_line(r: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = std::io::Read::take(&mut *r, MAX_LINE as u64 + 1).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.len() > MAX_LINE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "line too long",
        ));
    }
    Ok(Some(String::from_utf8_lossy(&buf).trim_end().to_string()))
}

/// How long a client waits for the daemon to take or answer a request.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connect to the daemon at `path` (called `name` in errors), with read
/// and write timeouts of [`CLIENT_TIMEOUT`]. Nothing listening there is
/// [`ControlError::NotRunning`].
pub fn connect(path: &Path, name: &str) -> Result<UnixStream, ControlError> {
    let s = UnixStream::connect(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
            ControlError::NotRunning {
                name: name.to_string(),
                paths: path.display().to_string(),
            }
        }
        _ => ControlError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    s.set_read_timeout(Some(CLIENT_TIMEOUT))
        .map_err(io_err(path))?;
    s.set_write_timeout(Some(CLIENT_TIMEOUT))
        .map_err(io_err(path))?;
    Ok(s)
}

/// Write `req` as one line to `s` (connected to `path`).
pub fn send_request(s: &mut UnixStream, path: &Path, req: &Request) -> Result<(), ControlError> {
    let mut line = serde_json::to_string(req)
        .map_err(|e| ControlError::BadResponse(path.into(), e.to_string()))?;
    line.push('\n');
    s.write_all(line.as_bytes()).map_err(io_err(path))
}

/// Read one response line from `r` (connected to `path`).
pub fn read_response(r: &mut BufReader<UnixStream>, path: &Path) -> Result<Response, ControlError> {
    let resp = read_line(r)
        .map_err(io_err(path))?
        .ok_or_else(|| ControlError::BadResponse(path.into(), "connection closed".into()))?;
    serde_json::from_str(&resp).map_err(|e| ControlError::BadResponse(path.into(), e.to_string()))
}

/// Send one request to the daemon at `path` and read its response.
pub fn request(path: &Path, req: &Request, name: &str) -> Result<Response, ControlError> {
    let mut s = connect(path, name)?;
    send_request(&mut s, path, req)?;
    read_response(&mut BufReader::new(s), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_format() {
        assert_eq!(
            serde_json::to_string(&Request::Status).unwrap(),
            r#"{"cmd":"status"}"#
        );
        let r: Request =
            serde_json::from_str(r#"{"cmd":"port","adapter":3,"action":"unplug"}"#).unwrap();
        assert_eq!(
            r,
            Request::Port {
                adapter: 3,
                action: PortAction::Unplug
            }
        );
        let r: Request =
            serde_json::from_str(r#"{"cmd":"dmatest","adapter":1,"send":1000}"#).unwrap();
        assert_eq!(
            r,
            Request::Dmatest(DmaTestRequest {
                send: 1000,
                ..DmaTestRequest::new(1)
            })
        );
        assert_eq!(
            serde_json::to_string(&Request::DmatestStatus { adapter: 3 }).unwrap(),
            r#"{"cmd":"dmatest_status","adapter":3}"#
        );
        assert_eq!(
            serde_json::to_string(&Response::error("x")).unwrap(),
            r#"{"ok":false,"error":"x"}"#
        );
    }

    #[test]
    fn bind_replaces_stale_and_refuses_live() {
        let dir = std::env::temp_dir().join(format!("tblink-ctl-test-{}", std::process::id()));
        let path = dir.join("sub").join("h.sock");
        {
            let s = ControlSocket::bind(&path, "h").unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let dmode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(dmode, 0o700);
            assert!(matches!(
                ControlSocket::bind(&path, "h"),
                Err(ControlError::AlreadyRunning { .. })
            ));
            drop(s);
        }
        // A crashed daemon leaves its socket file behind.
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let s = ControlSocket::bind(&path, "h").unwrap();
        drop(s);
        assert!(!path.exists());
        assert!(matches!(
            request(&path, &Request::Status, "h"),
            Err(ControlError::NotRunning { .. })
        ));
        let _ = std::fs::remove_dir_all(dir);
    }
}
