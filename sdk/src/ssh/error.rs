//! Errors of the `ssh` module, written for the person at the terminal: what failed, on which
//! host, the exit status and the tail of stderr, and what to try when it is obvious.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How many trailing lines of a command's stderr an error carries.
pub const STDERR_TAIL_LINES: usize = 20;

/// A boxed underlying cause.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How a remote command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitStatus {
    /// It exited with this code.
    Code(u32),
    /// It was killed by this signal (`TERM`, `KILL`, …).
    Signal(String),
    /// The server closed the channel without reporting a status.
    Unknown,
}

impl ExitStatus {
    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        *self == ExitStatus::Code(0)
    }

    /// The exit code, if it exited normally.
    pub fn code(&self) -> Option<u32> {
        match self {
            ExitStatus::Code(c) => Some(*c),
            _ => None,
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exit status {c}"),
            ExitStatus::Signal(s) => write!(f, "killed by signal {s}"),
            ExitStatus::Unknown => f.write_str("no exit status (the connection may have dropped)"),
        }
    }
}

/// Everything that can go wrong driving a host over SSH.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The settings are unusable (bad key line, relative path, missing file, …).
    #[error("invalid SSH settings: {0}")]
    InvalidConfig(String),

    /// The private key could not be read or decrypted.
    #[error("cannot use {credentials}: {reason}")]
    Key {
        /// Which key ("private key file /root/.ssh/id_ed25519").
        credentials: String,
        /// Why, and what to do.
        reason: String,
    },

    /// The host could not be reached within the connect deadline.
    #[error(
        "cannot reach {host}: {reason} ({attempts} attempt{s} over {elapsed:.1?}); check that the \
         host is up, that its address and SSH port are right, and that no firewall or security \
         list blocks the port",
        s = if *attempts == 1 { "" } else { "s" }
    )]
    Unreachable {
        /// The host.
        host: String,
        /// The last failure.
        reason: String,
        /// Connection attempts made.
        attempts: u32,
        /// Time spent trying.
        elapsed: Duration,
    },

    /// The host presented a key other than the trusted one(s).
    #[error(
        "host key verification failed for {host}: it presented {actual}, but {trusted} lists \
         {expected}. If the host was rebuilt, update the trusted key; otherwise someone may be \
         intercepting the connection",
        expected = expected.join(", ")
    )]
    HostKeyMismatch {
        /// The host.
        host: String,
        /// Fingerprint of the key the host presented (`SHA256:…`).
        actual: String,
        /// Fingerprints of the trusted keys.
        expected: Vec<String>,
        /// Where the trusted keys came from ("the pinned host key", "known_hosts file …").
        trusted: String,
    },

    /// The known_hosts file has no key for the host.
    #[error(
        "host key verification failed for {host}: {known_hosts} has no entry for it (it presented \
         {actual}); add the host's key after checking it out of band, or pin it"
    )]
    HostKeyUnknown {
        /// The host.
        host: String,
        /// Fingerprint of the key the host presented.
        actual: String,
        /// The known_hosts file searched.
        known_hosts: PathBuf,
    },

    /// The server refused the credentials.
    #[error(
        "SSH authentication as {user} on {host} failed with {credentials} (the server accepts: \
         {accepted}); check that the matching public key is in ~{user}/.ssh/authorized_keys on \
         the host and that the user name is right"
    )]
    AuthFailed {
        /// The host.
        host: String,
        /// The login user.
        user: String,
        /// The credentials tried.
        credentials: String,
        /// Methods the server said it accepts.
        accepted: String,
    },

    /// The ssh-agent could not be used.
    #[error("cannot use the ssh-agent for {host}: {reason}")]
    Agent {
        /// The host.
        host: String,
        /// Why, and what to do.
        reason: String,
    },

    /// The SSH connection failed (protocol error, dropped connection, refused channel).
    #[error("SSH connection to {host} failed while {during}: {source}")]
    Ssh {
        /// The host.
        host: String,
        /// What was being done ("opening a channel", "key exchange", …).
        during: String,
        /// The underlying error.
        #[source]
        source: Cause,
    },

    /// A remote command ended unsuccessfully.
    #[error(
        "{purpose} failed on {host}: {status}{}{}",
        fmt_tail(stderr_tail),
        fmt_hint(hint)
    )]
    CommandFailed {
        /// The host.
        host: String,
        /// What the command was for, as the caller put it ("install K3s").
        purpose: String,
        /// How it ended.
        status: ExitStatus,
        /// The last lines of its stderr.
        stderr_tail: String,
        /// What to try, when it is obvious.
        hint: Option<String>,
    },

    /// A remote command did not finish before its deadline; it was sent SIGTERM.
    #[error(
        "{purpose} on {host} did not finish within {timeout:?} and was stopped{}; {}",
        fmt_tail(stderr_tail),
        deadline.as_deref().unwrap_or("if it needs longer, raise its timeout")
    )]
    CommandTimedOut {
        /// The host.
        host: String,
        /// What the command was for.
        purpose: String,
        /// The deadline.
        timeout: Duration,
        /// The last lines of its stderr so far.
        stderr_tail: String,
        /// What sets the deadline, and what to do about it (see [`Command::deadline_note`]).
        ///
        /// [`Command::deadline_note`]: super::Command::deadline_note
        deadline: Option<String>,
    },

    /// A remote command was cancelled by the caller; it was sent SIGTERM.
    #[error("{purpose} on {host} was cancelled")]
    Cancelled {
        /// The host.
        host: String,
        /// What the command was for.
        purpose: String,
    },

    /// sudo refused to run the command.
    #[error("{purpose} on {host}: sudo failed: {reason}{}", fmt_tail(stderr_tail))]
    Sudo {
        /// The host.
        host: String,
        /// What the command was for.
        purpose: String,
        /// Why, and what to do.
        reason: String,
        /// The last lines of sudo's stderr.
        stderr_tail: String,
    },

    /// A local I/O operation failed (reading a key file, binding a forwarding port, …).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

fn fmt_tail(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        let indented: Vec<String> = tail.lines().map(|l| format!("  | {l}")).collect();
        format!(
            "\nstderr (last {} lines):\n{}",
            STDERR_TAIL_LINES,
            indented.join("\n")
        )
    }
}

fn fmt_hint(hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!("\nhint: {h}"),
        None => String::new(),
    }
}

/// The last [`STDERR_TAIL_LINES`] lines of `stderr`, as text (each line cut at 500 characters).
pub(crate) fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let start = lines.len().saturating_sub(STDERR_TAIL_LINES);
    lines[start..]
        .iter()
        .map(|l| {
            if l.chars().count() > 500 {
                let cut: String = l.chars().take(500).collect();
                format!("{cut}…")
            } else {
                (*l).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What to try, guessed from a failed command's stderr and status.
pub(crate) fn hint_for(status: &ExitStatus, stderr_tail: &str) -> Option<String> {
    let s = stderr_tail.to_ascii_lowercase();
    let hint = if s.contains("a password is required") || s.contains("a terminal is required") {
        "sudo asks this user for a password: configure the sudo password, or allow passwordless \
         sudo (NOPASSWD) for the user"
    } else if s.contains("is not in the sudoers file") || s.contains("is not allowed to") {
        "the user may not use sudo: add it to the sudoers (e.g. the sudo or wheel group), or log \
         in as root"
    } else if s.contains("must have a tty") {
        "sudoers has `requiretty` for this user: remove it, or log in as root"
    } else if s.contains("permission denied") || s.contains("operation not permitted") {
        "the command needs more privileges: log in as root or enable sudo"
    } else if s.contains("no space left on device") {
        "the host's disk is full: free some space"
    } else if s.contains("read-only file system") {
        "the target file system is mounted read-only"
    } else if s.contains("command not found") || status.code() == Some(127) {
        "a program the command needs is not installed on the host, or not on its PATH"
    } else if s.contains("could not resolve host") || s.contains("temporary failure in name") {
        "the host cannot resolve that name: check its DNS settings and outbound network"
    } else {
        return None;
    };
    Some(hint.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_tail_keeps_the_last_twenty_lines() {
        let stderr: String = (1..=50).map(|i| format!("line {i}\n")).collect();
        let tail = stderr_tail(stderr.as_bytes());
        let lines: Vec<&str> = tail.lines().collect();
        assert_eq!(lines.len(), 20);
        assert_eq!(lines[0], "line 31");
        assert_eq!(lines[19], "line 50");
    }

    #[test]
    fn command_failure_reads_well() {
        let status = ExitStatus::Code(127);
        let tail = stderr_tail(b"sh: 1: k3s: not found\nsh: 1: k3s: command not found\n");
        let err = Error::CommandFailed {
            host: "root@10.0.0.5:22".into(),
            purpose: "install K3s".into(),
            hint: hint_for(&status, &tail),
            status,
            stderr_tail: tail,
        };
        let text = err.to_string();
        assert!(text.starts_with("install K3s failed on root@10.0.0.5:22: exit status 127\n"));
        assert!(text.contains("  | sh: 1: k3s: command not found"));
        assert!(text.contains("hint: a program the command needs is not installed"));
    }

    #[test]
    fn hints_for_sudo() {
        let h = hint_for(&ExitStatus::Code(1), "sudo: a password is required").unwrap();
        assert!(h.contains("sudo password"));
        assert!(hint_for(&ExitStatus::Code(1), "something odd").is_none());
    }

    #[test]
    fn unreachable_counts_attempts() {
        let err = Error::Unreachable {
            host: "root@10.0.0.250:22".into(),
            reason: "No route to host".into(),
            attempts: 1,
            elapsed: Duration::from_millis(3100),
        };
        assert!(err.to_string().contains("(1 attempt over 3.1s)"));
    }
}
