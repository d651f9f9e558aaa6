//! What systemd hands the daemon, without libsystemd: socket activation (`LISTEN_PID`,
//! `LISTEN_FDS`, `LISTEN_FDNAMES`: the listening socket arrives as fd 3) and readiness
//! notification (`NOTIFY_SOCKET`: `READY=1` once serving, `STOPPING=1` on shutdown, for
//! `Type=notify` units).
//!
//! [`Handoff::take_from_env`] reads these variables once, at start-up, and removes them from
//! the environment so that the runs the daemon spawns never see them; the inherited
//! descriptors are made close-on-exec for the same reason.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::PathBuf;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;

/// The descriptor name codexd looks for first (`FileDescriptorName=` in `codexd.socket`).
pub const FD_NAME: &str = "codexd";

/// What is wrong with what systemd (or whoever set the variables) passed.
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    /// A `LISTEN_*` variable does not parse.
    #[error("socket activation: {0}")]
    BadListenEnv(String),
    /// The passed descriptor is not a listening Unix stream socket.
    #[error("socket activation: fd {fd} is not a listening Unix stream socket ({why})")]
    NotAUnixListener {
        /// The descriptor.
        fd: RawFd,
        /// Why it was rejected.
        why: String,
    },
    /// `NOTIFY_SOCKET` is not an absolute path or an `@abstract` name.
    #[error("NOTIFY_SOCKET={0:?} is neither an absolute path nor an @abstract socket name")]
    BadNotifySocket(OsString),
}

/// What systemd handed this process; empty when it was not started by systemd.
#[derive(Debug, Default)]
pub struct Handoff {
    /// The listening socket, when socket-activated.
    pub socket: Option<ActivatedSocket>,
    /// Where to send readiness notifications, for `Type=notify`.
    pub notifier: Option<Notifier>,
}

impl Handoff {
    /// Takes the socket-activation descriptors and the notification socket from the
    /// environment, and removes `LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`, `NOTIFY_SOCKET`
    /// and `SYSTEMD_EXEC_PID` from it. Variables meant for another process (a `LISTEN_PID`
    /// or `SYSTEMD_EXEC_PID` that is not ours) are removed and otherwise ignored.
    ///
    /// # Safety
    /// Changes the process environment: call it before any other thread is started.
    pub unsafe fn take_from_env() -> Result<Handoff, SystemdError> {
        let var = |name: &str| std::env::var_os(name);
        let (listen_pid, listen_fds, listen_names) =
            (var("LISTEN_PID"), var("LISTEN_FDS"), var("LISTEN_FDNAMES"));
        let (notify_socket, exec_pid) = (var("NOTIFY_SOCKET"), var("SYSTEMD_EXEC_PID"));
        for name in [
            "LISTEN_PID",
            "LISTEN_FDS",
            "LISTEN_FDNAMES",
            "NOTIFY_SOCKET",
            "SYSTEMD_EXEC_PID",
        ] {
            // SAFETY: the caller guarantees that no other thread runs yet.
            unsafe { std::env::remove_var(name) };
        }
        let own_pid = std::process::id();
        let passed = parse_listen_env(
            listen_pid.as_deref(),
            listen_fds.as_deref(),
            listen_names.as_deref(),
            own_pid,
        )?;
        let socket = take_listener(passed)?;
        // A NOTIFY_SOCKET inherited from a service that merely ran us (not as its main
        // process) is not ours to notify.
        let exec_pid_is_other = exec_pid
            .and_then(|p| p.to_str().and_then(|p| p.trim().parse::<u32>().ok()))
            .is_some_and(|p| p != own_pid);
        let notifier = match notify_socket.filter(|s| !s.is_empty()) {
            Some(_) if exec_pid_is_other => None,
            Some(address) => Some(Notifier::new(&address)?),
            None => None,
        };
        Ok(Handoff { socket, notifier })
    }
}

/// One descriptor passed by socket activation, before it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedFd {
    /// The descriptor (3, 4, ...).
    pub fd: RawFd,
    /// Its name from `LISTEN_FDNAMES`, if given.
    pub name: Option<String>,
}

/// Parses the socket-activation variables as `sd_listen_fds_with_names` does: nothing unless
/// `LISTEN_PID` is `own_pid` and `LISTEN_FDS` is at least 1. Names are used only if there is
/// one per descriptor.
pub fn parse_listen_env(
    listen_pid: Option<&OsStr>,
    listen_fds: Option<&OsStr>,
    listen_names: Option<&OsStr>,
    own_pid: u32,
) -> Result<Vec<PassedFd>, SystemdError> {
    let (Some(pid), Some(fds)) = (listen_pid, listen_fds) else {
        return Ok(Vec::new());
    };
    let number = |name: &str, value: &OsStr| -> Result<u32, SystemdError> {
        value
            .to_str()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .ok_or_else(|| SystemdError::BadListenEnv(format!("{name}={value:?} is not a number")))
    };
    if number("LISTEN_PID", pid)? != own_pid {
        return Ok(Vec::new());
    }
    let count = number("LISTEN_FDS", fds)?;
    if count > 1024 {
        return Err(SystemdError::BadListenEnv(format!(
            "LISTEN_FDS={count} is implausibly large"
        )));
    }
    let names: Vec<String> = listen_names
        .map(|n| n.to_string_lossy().split(':').map(str::to_owned).collect())
        .unwrap_or_default();
    let names_fit = names.len() == count as usize;
    Ok((0..count)
        .map(|i| PassedFd {
            fd: LISTEN_FDS_START + i as RawFd,
            name: names_fit.then(|| names[i as usize].clone()),
        })
        .collect())
}

/// Picks the socket to serve among `passed` (the one named [`FD_NAME`], else the first),
/// makes every passed descriptor close-on-exec, closes the others, and checks that the
/// chosen one is a listening Unix stream socket.
fn take_listener(passed: Vec<PassedFd>) -> Result<Option<ActivatedSocket>, SystemdError> {
    if passed.is_empty() {
        return Ok(None);
    }
    let chosen = passed
        .iter()
        .position(|p| p.name.as_deref() == Some(FD_NAME))
        .unwrap_or(0);
    let mut socket = None;
    for (i, p) in passed.into_iter().enumerate() {
        // SAFETY: F_GETFD only reads the flags of a descriptor number.
        let flags = unsafe { libc::fcntl(p.fd, libc::F_GETFD) };
        if flags < 0 {
            return Err(SystemdError::NotAUnixListener {
                fd: p.fd,
                why: format!("not open: {}", io::Error::last_os_error()),
            });
        }
        // SAFETY: as above; the descriptor is open.
        unsafe { libc::fcntl(p.fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) };
        // SAFETY: systemd passed this descriptor to us alone; nothing else in the process
        // owns or closes it.
        let owned = unsafe { OwnedFd::from_raw_fd(p.fd) };
        if i == chosen {
            socket = Some(ActivatedSocket::check(owned, p.name)?);
        }
    }
    Ok(socket)
}

/// A listening Unix stream socket passed by systemd.
#[derive(Debug)]
pub struct ActivatedSocket {
    listener: UnixListener,
    path: Option<PathBuf>,
    name: Option<String>,
}

impl ActivatedSocket {
    /// Checks that `fd` is a listening Unix stream socket and wraps it.
    pub fn check(fd: OwnedFd, name: Option<String>) -> Result<ActivatedSocket, SystemdError> {
        use std::os::fd::AsRawFd;
        let raw = fd.as_raw_fd();
        let reject = |why: String| SystemdError::NotAUnixListener { fd: raw, why };
        let int_opt = |opt: libc::c_int| -> io::Result<libc::c_int> {
            let mut value: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: value and len point to an int and its size, as getsockopt expects.
            let rc = unsafe {
                libc::getsockopt(
                    raw,
                    libc::SOL_SOCKET,
                    opt,
                    (&mut value as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            if rc == 0 {
                Ok(value)
            } else {
                Err(io::Error::last_os_error())
            }
        };
        let kind = int_opt(libc::SO_TYPE).map_err(|e| reject(e.to_string()))?;
        if kind != libc::SOCK_STREAM {
            return Err(reject("not a stream socket".into()));
        }
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
        if int_opt(libc::SO_ACCEPTCONN).map_err(|e| reject(e.to_string()))? == 0 {
            return Err(reject("not listening".into()));
        }
        let listener = UnixListener::from(fd);
        // A descriptor that is not AF_UNIX fails here (the address does not decode).
        let address = listener
            .local_addr()
            .map_err(|e| reject(format!("no Unix address: {e}")))?;
        Ok(ActivatedSocket {
            path: address.as_pathname().map(PathBuf::from),
            listener,
            name,
        })
    }

    /// The socket's file, or `None` for an abstract or unnamed socket.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }

    /// The descriptor's name from `LISTEN_FDNAMES`, if given.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The listener, ready to be handed to the async runtime.
    pub fn into_listener(self) -> UnixListener {
        self.listener
    }
}

/// Where `sd_notify`-style messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notifier {
    /// A socket file.
    Path(PathBuf),
    /// A Linux abstract socket (written `@name` in `NOTIFY_SOCKET`), without the `@`.
    Abstract(Vec<u8>),
}

impl Notifier {
    /// Parses a `NOTIFY_SOCKET` value: an absolute path, or `@name` for an abstract socket.
    pub fn new(address: &OsStr) -> Result<Notifier, SystemdError> {
        let bytes = address.as_bytes();
        match bytes.first() {
            Some(b'/') => Ok(Notifier::Path(PathBuf::from(address))),
            Some(b'@') if bytes.len() > 1 => Ok(Notifier::Abstract(bytes[1..].to_vec())),
            _ => Err(SystemdError::BadNotifySocket(address.to_owned())),
        }
    }

    /// Sends one notification (newline-separated `KEY=VALUE` assignments) as one datagram.
    pub fn send(&self, message: &str) -> io::Result<()> {
        let socket = UnixDatagram::unbound()?;
        let sent = match self {
            Notifier::Path(path) => socket.send_to(message.as_bytes(), path)?,
            Notifier::Abstract(name) => send_abstract(&socket, name, message.as_bytes())?,
        };
        if sent != message.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "notification datagram truncated",
            ));
        }
        Ok(())
    }

    /// `READY=1` with this process as the main pid and a status line.
    pub fn ready(&self, status: &str) -> io::Result<()> {
        self.send(&ready_message(std::process::id(), status))
    }

    /// `STOPPING=1` with a status line.
    pub fn stopping(&self, status: &str) -> io::Result<()> {
        self.send(&format!("STOPPING=1\nSTATUS={}", one_line(status)))
    }
}

/// The readiness message for `pid`.
pub fn ready_message(pid: u32, status: &str) -> String {
    format!("READY=1\nMAINPID={pid}\nSTATUS={}", one_line(status))
}

/// `text` with line breaks replaced, so that it stays one assignment.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// Sends `message` to the abstract socket `name` (Linux only).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_abstract(socket: &UnixDatagram, name: &[u8], message: &[u8]) -> io::Result<usize> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    socket.send_to_addr(message, &address)
}

/// Abstract sockets exist only on Linux.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_abstract(_socket: &UnixDatagram, _name: &[u8], _message: &[u8]) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract notification sockets exist only on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn os(s: &str) -> Option<&OsStr> {
        Some(OsStr::new(s))
    }

    #[test]
    fn listen_env_is_ours_only_with_our_pid() {
        assert!(parse_listen_env(None, None, None, 7).unwrap().is_empty());
        assert!(
            parse_listen_env(os("8"), os("1"), None, 7)
                .unwrap()
                .is_empty()
        );
        assert!(
            parse_listen_env(os("7"), os("0"), None, 7)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            parse_listen_env(os("7"), os("1"), None, 7).unwrap(),
            [PassedFd { fd: 3, name: None }]
        );
        assert!(parse_listen_env(os("x"), os("1"), None, 7).is_err());
        assert!(parse_listen_env(os("7"), os("-1"), None, 7).is_err());
    }

    #[test]
    fn listen_names_are_used_when_one_per_fd() {
        let fds = parse_listen_env(os("7"), os("2"), os("other:codexd"), 7).unwrap();
        assert_eq!(fds[0].name.as_deref(), Some("other"));
        assert_eq!(fds[1].fd, 4);
        assert_eq!(fds[1].name.as_deref(), Some("codexd"));
        let fds = parse_listen_env(os("7"), os("2"), os("codexd"), 7).unwrap();
        assert!(fds.iter().all(|f| f.name.is_none()));
    }

    #[test]
    fn notify_socket_addresses() {
        assert_eq!(
            Notifier::new(OsStr::new("/run/user/1/systemd/notify")).unwrap(),
            Notifier::Path("/run/user/1/systemd/notify".into())
        );
        assert_eq!(
            Notifier::new(OsStr::new("@abc")).unwrap(),
            Notifier::Abstract(b"abc".to_vec())
        );
        for bad in ["", "@", "relative/path", "vsock:2:3"] {
            assert!(Notifier::new(OsStr::new(bad)).is_err(), "{bad:?}");
        }
    }

    /// Receives one datagram from `socket` (waiting at most 10 s).
    fn receive(socket: &UnixDatagram) -> String {
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = socket.recv(&mut buf).expect("a notification arrives");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn ready_and_stopping_reach_a_socket_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::new(path.as_os_str()).unwrap();
        notifier.ready("serving on /x\nwith a break").unwrap();
        assert_eq!(
            receive(&socket),
            format!(
                "READY=1\nMAINPID={}\nSTATUS=serving on /x with a break",
                std::process::id()
            )
        );
        notifier.stopping("bye").unwrap();
        assert_eq!(receive(&socket), "STOPPING=1\nSTATUS=bye");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn ready_reaches_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("codexd-test-notify-{}", std::process::id());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
        let socket = UnixDatagram::bind_addr(&address).unwrap();
        let notifier = Notifier::new(OsStr::new(&format!("@{name}"))).unwrap();
        notifier.ready("up").unwrap();
        assert!(receive(&socket).starts_with("READY=1\n"));
    }

    #[test]
    fn a_missing_notify_socket_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let notifier = Notifier::new(dir.path().join("absent").as_os_str()).unwrap();
        assert!(notifier.ready("up").is_err());
    }

    #[test]
    fn a_listening_unix_socket_is_accepted_and_others_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let activated = ActivatedSocket::check(OwnedFd::from(listener), Some("codexd".into()))
            .expect("a listening unix socket");
        assert_eq!(activated.path(), Some(path.as_path()));
        assert_eq!(activated.name(), Some("codexd"));

        let datagram = UnixDatagram::bind(dir.path().join("d.sock")).unwrap();
        assert!(ActivatedSocket::check(OwnedFd::from(datagram), None).is_err());
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(ActivatedSocket::check(OwnedFd::from(tcp), None).is_err());
    }
}
