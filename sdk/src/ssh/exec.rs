//! Running commands: one SSH channel per command, with stdin, stdout, stderr and the exit
//! status, a deadline, cancellation, and sudo when the session asks for it (see [`super::sudo`]).
//!
//! A command that runs past its deadline or is cancelled (through its
//! [`CancellationToken`](tokio_util::sync::CancellationToken), or by dropping the future) is
//! sent SIGTERM and its channel is closed.

use super::connect::{Inner, Session};
use super::error::{hint_for, stderr_tail, Error, ExitStatus};
use super::sudo::{self, Event};
use russh::client::Msg;
use russh::{ChannelMsg, ChannelWriteHalf, Sig};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

/// A remote command: a POSIX `sh` script and what it is for.
///
/// The script runs under `/bin/sh -c`, as root when the session's [`Sudo`](super::Sudo) mode
/// says so (unless [`Command::unprivileged`]). Never put secrets in the script: it is visible
/// in the host's process list. Pass them on stdin instead.
#[derive(Clone)]
pub struct Command {
    pub(crate) purpose: String,
    pub(crate) script: String,
    pub(crate) stdin: Option<Arc<Zeroizing<Vec<u8>>>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) cancel: Option<CancellationToken>,
    pub(crate) deadline_note: Option<String>,
    pub(crate) privileged: bool,
}

impl Command {
    /// A command. `purpose` is a short human description used in errors and logs
    /// ("install K3s", "read /etc/os-release").
    pub fn new(purpose: impl Into<String>, script: impl Into<String>) -> Command {
        Command {
            purpose: purpose.into(),
            script: script.into(),
            stdin: None,
            timeout: None,
            cancel: None,
            deadline_note: None,
            privileged: true,
        }
    }

    /// Bytes for the command's standard input (then end-of-file). Without this the command's
    /// stdin is empty. The bytes are never logged and are wiped from memory when dropped.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Command {
        self.stdin = Some(Arc::new(Zeroizing::new(bytes.into())));
        self
    }

    /// The deadline for this command (default: the target's command timeout).
    pub fn timeout(mut self, timeout: Duration) -> Command {
        self.timeout = Some(timeout);
        self
    }

    /// Says, in the error when the command runs past its deadline, what sets the deadline and
    /// what to do (for example "the step's deadline is fixed; …", or "raise `ready_timeout`").
    pub fn deadline_note(mut self, note: impl Into<String>) -> Command {
        self.deadline_note = Some(note.into());
        self
    }

    /// Stops the command when this token is cancelled.
    pub fn cancel_on(mut self, token: CancellationToken) -> Command {
        self.cancel = Some(token);
        self
    }

    /// Runs the command as the login user even when the session uses sudo.
    pub fn unprivileged(mut self) -> Command {
        self.privileged = false;
        self
    }

    /// What the command is for.
    pub fn purpose(&self) -> &str {
        &self.purpose
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("purpose", &self.purpose)
            .field("script", &self.script)
            .field(
                "stdin",
                &self.stdin.as_ref().map(|s| format!("<{} bytes>", s.len())),
            )
            .field("timeout", &self.timeout)
            .field("privileged", &self.privileged)
            .finish()
    }
}

/// What a command produced.
#[derive(Clone, PartialEq, Eq)]
pub struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// stdout as text (lossy UTF-8).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text (lossy UTF-8).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

impl fmt::Debug for Output {
    // stdout may be a secret file's content: show sizes only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("status", &self.status)
            .field("stdout", &format_args!("<{} bytes>", self.stdout.len()))
            .field("stderr", &format_args!("<{} bytes>", self.stderr.len()))
            .finish()
    }
}

impl Session {
    /// Runs a command and returns its output; fails unless it exits with status 0.
    ///
    /// The error names the host and the command's purpose and carries the exit status, the
    /// last lines of stderr, and a hint when the cause is obvious.
    pub async fn exec(&self, command: Command) -> Result<Output, Error> {
        let output = run(self, &command).await?;
        if output.status.success() {
            return Ok(output);
        }
        let tail = stderr_tail(&output.stderr);
        Err(Error::CommandFailed {
            host: self.inner.label.clone(),
            purpose: command.purpose,
            hint: hint_for(&output.status, &tail),
            status: output.status,
            stderr_tail: tail,
        })
    }

    /// Runs a command and returns its output whatever its exit status (for probes such as
    /// `systemctl is-active`). Still fails when it cannot run, times out or is cancelled.
    pub async fn output(&self, command: Command) -> Result<Output, Error> {
        run(self, &command).await
    }

    /// Shorthand for [`Session::exec`] of `Command::new(purpose, script)`.
    pub async fn run(&self, purpose: &str, script: &str) -> Result<Output, Error> {
        self.exec(Command::new(purpose, script)).await
    }
}

type StdinFeed = Pin<Box<dyn Future<Output = Result<(), russh::Error>> + Send>>;

/// A started command: stops it (channel closed, process group killed) if it is abandoned
/// before it ends, including when the future running it is dropped.
struct Running {
    session: Session,
    tx: Arc<ChannelWriteHalf<Msg>>,
    nonce: String,
    privileged: bool,
    pid: Option<u32>,
    finished: bool,
}

impl Running {
    /// Stops the command and waits (a few seconds at most) for the stop request to be done.
    async fn stop(&mut self) {
        self.finished = true;
        stop(
            self.session.clone(),
            self.tx.clone(),
            self.pid,
            self.nonce.clone(),
            self.privileged,
        )
        .await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(stop(
                self.session.clone(),
                self.tx.clone(),
                self.pid,
                self.nonce.clone(),
                self.privileged,
            ));
        }
    }
}

/// Closes the channel and kills the command's process group on the host (OpenSSH does not
/// deliver signal requests to root sessions, so a separate command does it).
async fn stop(
    session: Session,
    tx: Arc<ChannelWriteHalf<Msg>>,
    pid: Option<u32>,
    nonce: String,
    privileged: bool,
) {
    let _ = tokio::time::timeout(STOP_TIMEOUT, async {
        let _ = tx.signal(Sig::TERM).await;
        let _ = tx.eof().await;
        let _ = tx.close().await;
    })
    .await;
    let Some(pid) = pid.filter(|&p| p > 1) else {
        return;
    };
    let host = session.host().to_owned();
    let script = sudo::stop_script(pid, &nonce);
    match tokio::time::timeout(STOP_TIMEOUT, fire(&session, &script, privileged)).await {
        Ok(Ok(())) => tracing::debug!(host = %host, pid, "stopped an abandoned command"),
        Ok(Err(e)) => tracing::warn!(host = %host, "could not stop an abandoned command: {e}"),
        Err(_) => tracing::warn!(host = %host, "could not stop an abandoned command in time"),
    }
}

/// Runs a short script and waits for it to end, ignoring its output: a plain version of
/// [`run`] for stopping commands (no deadline of its own, no stop on abandon).
async fn fire(session: &Session, script: &str, privileged: bool) -> Result<(), russh::Error> {
    let inner = &session.inner;
    let mut plan = sudo::plan(script, &inner.sudo, privileged);
    let mut channel = inner.handle.channel_open_session().await?;
    channel.exec(true, plan.command.as_bytes()).await?;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(msg) = channel.wait().await {
        match msg {
            ChannelMsg::Data { data } => {
                let event = plan.gate.stdout(&data, &mut out);
                if event == Some(Event::Started) {
                    channel.eof().await?;
                }
            }
            ChannelMsg::ExtendedData { data, ext: 1 } => {
                match (plan.gate.stderr(&data, &mut err), &plan.password) {
                    (Some(Event::SendPassword), Some(password)) => {
                        let mut line = Zeroizing::new(password.expose().as_bytes().to_vec());
                        line.push(b'\n');
                        channel.data(&line[..]).await?;
                    }
                    (Some(Event::PasswordRejected), _) => channel.eof().await?,
                    _ => {}
                }
            }
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    Ok(())
}

/// How long stopping an abandoned command may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

fn feed(tx: Arc<ChannelWriteHalf<Msg>>, stdin: Option<Arc<Zeroizing<Vec<u8>>>>) -> StdinFeed {
    Box::pin(async move {
        if let Some(bytes) = stdin {
            tx.data(&bytes[..]).await?;
        }
        tx.eof().await
    })
}

pub(crate) async fn run(session: &Session, command: &Command) -> Result<Output, Error> {
    let timeout = command.timeout.unwrap_or(session.inner.timeouts.command);
    let deadline = Instant::now() + timeout;
    // The deadline is watched inside; this is the backstop for a peer that stops reading (a
    // write waiting for window space is not interrupted there). Dropping the inner future
    // stops the command.
    match tokio::time::timeout_at(deadline + STOP_TIMEOUT, drive(session, command, deadline)).await
    {
        Ok(result) => result,
        Err(_) => Err(Error::CommandTimedOut {
            host: session.inner.label.clone(),
            purpose: command.purpose.clone(),
            timeout,
            stderr_tail: String::new(),
            deadline: command.deadline_note.clone(),
        }),
    }
}

async fn drive(session: &Session, command: &Command, deadline: Instant) -> Result<Output, Error> {
    let inner: &Inner = &session.inner;
    let host = &inner.label;
    let purpose = &command.purpose;
    let timeout = command.timeout.unwrap_or(inner.timeouts.command);
    let cancel = command.cancel.clone().unwrap_or_default();
    let started = Instant::now();
    let timed_out = |err: &[u8]| Error::CommandTimedOut {
        host: host.clone(),
        purpose: purpose.clone(),
        timeout,
        stderr_tail: stderr_tail(err),
        deadline: command.deadline_note.clone(),
    };
    let cancelled = || Error::Cancelled {
        host: host.clone(),
        purpose: purpose.clone(),
    };
    let ssh_error = |during: &str, e: russh::Error| Error::Ssh {
        host: host.clone(),
        during: format!("{during} ({purpose})"),
        source: if inner.handle.is_closed() {
            format!("{e}; the connection is closed, reconnect").into()
        } else {
            Box::new(e)
        },
    };

    // Wait for a free session slot and open the channel, within the deadline.
    let opening = async {
        let permit = inner.slots.acquire().await;
        let channel = inner.handle.channel_open_session().await;
        (permit, channel)
    };
    let (_permit, channel) = tokio::select! {
        opened = opening => opened,
        _ = tokio::time::sleep_until(deadline) => return Err(timed_out(b"")),
        _ = cancel.cancelled() => return Err(cancelled()),
    };
    let channel = channel.map_err(|e| ssh_error("opening a channel", e))?;

    let mut plan = sudo::plan(&command.script, &inner.sudo, command.privileged);
    tracing::debug!(host = %host, purpose = %purpose, "running command");
    tracing::trace!(host = %host, command = %plan.command, "command line");
    let (mut rx, tx) = channel.split();
    let tx = Arc::new(tx);
    let mut running = Running {
        session: session.clone(),
        tx: tx.clone(),
        nonce: plan.nonce.clone(),
        privileged: command.privileged,
        pid: None,
        finished: false,
    };
    tx.exec(true, plan.command.as_bytes())
        .await
        .map_err(|e| ssh_error("starting the command", e))?;

    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut status = ExitStatus::Unknown;
    let mut stdin: Option<StdinFeed> = None;
    let mut rejected = false;
    loop {
        let feeding = async {
            match stdin.as_mut() {
                Some(f) => f.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = rx.wait() => match msg {
                Some(ChannelMsg::Data { data }) => {
                    if plan.gate.stdout(&data, &mut out) == Some(Event::Started) {
                        running.pid = plan.gate.pid();
                        stdin = Some(feed(tx.clone(), command.stdin.clone()));
                    }
                }
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                    match plan.gate.stderr(&data, &mut err) {
                        Some(Event::SendPassword) => {
                            if let Some(password) = &plan.password {
                                let mut line = Zeroizing::new(password.expose().as_bytes().to_vec());
                                line.push(b'\n');
                                tx.data(&line[..])
                                    .await
                                    .map_err(|e| ssh_error("answering sudo", e))?;
                            }
                        }
                        Some(Event::PasswordRejected) => {
                            // Do not guess again: end sudo's input so it gives up.
                            rejected = true;
                            let _ = tx.eof().await;
                        }
                        Some(Event::Started) | None => {}
                    }
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => status = ExitStatus::Code(exit_status),
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    status = ExitStatus::Signal(format!("{signal_name:?}"));
                }
                Some(ChannelMsg::Failure) => {
                    running.finished = true;
                    return Err(Error::Ssh {
                        host: host.clone(),
                        during: format!("starting the command ({purpose})"),
                        source: "the server refused to run it".into(),
                    });
                }
                Some(ChannelMsg::Close) | None => break,
                Some(_) => {}
            },
            fed = feeding => {
                stdin = None;
                if let Err(e) = fed {
                    tracing::debug!(host = %host, purpose = %purpose, "stdin not fully sent: {e}");
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                running.stop().await;
                plan.gate.finish(&mut out, &mut err);
                tracing::debug!(host = %host, purpose = %purpose, ?timeout, "command timed out");
                return Err(timed_out(&err));
            }
            _ = cancel.cancelled() => {
                running.stop().await;
                tracing::debug!(host = %host, purpose = %purpose, "command cancelled");
                return Err(cancelled());
            }
        }
    }
    running.finished = true;
    if status == ExitStatus::Unknown {
        // The channel ended without a status: the connection dropped (or the server gave up
        // on the channel). Whether the command ran is not known; no login-shell guess here.
        return Err(Error::Ssh {
            host: host.clone(),
            during: purpose.clone(),
            source: format!(
                "the connection was lost before the command reported an exit status{}; it may or \
                    may not have run. Check that the host is up and retry",
                if plan.gate.started() {
                    " (it had started)"
                } else {
                    ""
                }
            )
            .into(),
        });
    }
    let sudo_started = plan.gate.started();
    let prompted = plan.gate.prompted();
    plan.gate.finish(&mut out, &mut err);
    tracing::debug!(
        host = %host,
        purpose = %purpose,
        status = %status,
        elapsed = ?started.elapsed(),
        "command finished"
    );
    if !sudo_started && !plan.sudo {
        // The wrapper never ran: the login shell refused or /bin/sh is missing.
        return Err(Error::CommandFailed {
            host: host.clone(),
            purpose: purpose.clone(),
            status,
            stderr_tail: stderr_tail(&err),
            hint: Some(format!(
                "the command did not start; check that {}'s login shell works and that /bin/sh \
                 exists on the host",
                inner.user
            )),
        });
    }
    if !sudo_started {
        let user = &inner.user;
        let tail = stderr_tail(&err);
        let reason = if rejected {
            format!("it rejected the sudo password for {user}; check the configured password")
        } else if prompted {
            format!("it asked for {user}'s password and then gave up")
        } else {
            match hint_for(&status, &tail) {
                Some(hint) => format!("it did not run the command ({status}): {hint}"),
                None => {
                    format!("it did not run the command ({status}); check that {user} may use sudo")
                }
            }
        };
        return Err(Error::Sudo {
            host: host.clone(),
            purpose: purpose.clone(),
            reason,
            stderr_tail: tail,
        });
    }
    Ok(Output {
        status,
        stdout: out,
        stderr: err,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_stdin_or_output() {
        let command = Command::new("write the token", "cat > /x").stdin(b"s3cr3t-token".to_vec());
        let shown = format!("{command:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("<12 bytes>") && shown.contains("write the token"));
        let output = Output {
            status: ExitStatus::Code(0),
            stdout: b"s3cr3t-file".to_vec(),
            stderr: Vec::new(),
        };
        let shown = format!("{output:?}");
        assert!(
            !shown.contains("s3cr3t") && shown.contains("<11 bytes>"),
            "{shown}"
        );
    }
}
