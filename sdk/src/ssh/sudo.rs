//! How a command is started: the remote command line for each [`Sudo`] mode, and the gate that
//! watches the command's first output so that a sudo password is sent only when sudo asks for
//! it, and the command's own stdin only once the command really runs.
//!
//! Every command runs as `[sudo …] /bin/sh -c <wrapper> sh <script>`, where the wrapper prints a
//! start marker and its pid (`k3s-sdk-start-<nonce>:<pid>`) on stdout and then runs the script.
//! The pid lets a command that is abandoned (deadline, cancellation) be stopped with its whole
//! process group: OpenSSH refuses signal requests for root sessions.
//!
//! With a password, sudo runs as `sudo -S -k -p <prompt marker> -- …`: `-k` makes sudo ignore
//! cached credentials, so its behaviour does not depend on earlier commands; the prompt marker is
//! random per command. The prompt marker on stderr means "sudo wants the password"; the start
//! marker on stdout means "sudo is done, the command runs". When sudo does not prompt (NOPASSWD,
//! or already root) the start marker comes first and the password is never sent, so it cannot
//! leak into the command's stdin. A second prompt means the password was wrong: the gate
//! reports it and the caller ends sudo's input instead of trying again.

use super::config::{Secret, Sudo};
use super::shell::shell_quote;

/// The remote command line for a script, and the handshake to perform.
pub(crate) struct Plan {
    pub(crate) command: String,
    pub(crate) gate: Gate,
    pub(crate) password: Option<Secret>,
    /// Whether the command goes through sudo.
    pub(crate) sudo: bool,
    /// Random per command; it appears in the wrapper's command line, which is how a later stop
    /// request recognises the process.
    pub(crate) nonce: String,
}

/// Builds the remote command line for `script` (a POSIX sh script).
pub(crate) fn plan(script: &str, sudo: &Sudo, privileged: bool) -> Plan {
    let nonce = nonce();
    let start = format!("k3s-sdk-start-{nonce}:");
    let wrapper = format!(r#"printf '%s%s\n' {start} "$$"; /bin/sh -c "$1"; exit $?"#);
    let sh = format!(
        "/bin/sh -c {} sh {}",
        shell_quote(&wrapper),
        shell_quote(script)
    );
    let uses_sudo = privileged && !matches!(sudo, Sudo::Off);
    let (command, prompt, password) = match (sudo, privileged) {
        (Sudo::Off, _) | (_, false) => (sh, Vec::new(), None),
        // `-n`: fail rather than ask for a password.
        (Sudo::Passwordless, true) => (format!("sudo -n -- {sh}"), Vec::new(), None),
        (Sudo::Password(password), true) => {
            let prompt = format!("k3s-sdk-sudo-prompt-{nonce}:");
            let command = format!("sudo -S -k -p {} -- {sh}", shell_quote(&prompt));
            (command, prompt.into_bytes(), Some(password.clone()))
        }
    };
    Plan {
        command,
        gate: Gate::new(prompt, start.into_bytes()),
        password,
        sudo: uses_sudo,
        nonce,
    }
}

/// A POSIX sh script (dash's `kill` takes no `--`) that stops the command started with `nonce` as
/// process `pid`: SIGTERM to its
/// process group, then SIGKILL to whatever is left after 3 s. Does nothing when `pid` is no
/// longer that command.
pub(crate) fn stop_script(pid: u32, nonce: &str) -> String {
    format!(
        r#"p={pid}
grep -q k3s-sdk-start-{nonce} /proc/$p/cmdline 2>/dev/null || exit 0
g=$(cut -d' ' -f5 /proc/$p/stat)
[ "$g" -gt 1 ] 2>/dev/null || g=$p
kill -TERM "-$g" 2>/dev/null || kill -TERM "$p" 2>/dev/null
{{ sleep 3; kill -0 "-$g" && kill -KILL "-$g"; }} </dev/null >/dev/null 2>&1 &
exit 0
"#
    )
}

/// 16 random hex digits.
pub(crate) fn nonce() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to the clock. The markers only need to be unlikely to
        // occur in sudo's own output, not unpredictable.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = (now as u64).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the gate saw.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// sudo asks for the password (first prompt).
    SendPassword,
    /// sudo asks again: the password was wrong.
    PasswordRejected,
    /// The command started: its stdin may be sent now.
    Started,
}

/// Watches stdout and stderr until the command has started, removing the markers.
pub(crate) struct Gate {
    prompt: Vec<u8>,
    start: Vec<u8>,
    pending_out: Vec<u8>,
    pending_err: Vec<u8>,
    /// What sudo wrote to stderr before the command started (a lecture, "Sorry, try again"):
    /// reported only if the command never starts.
    sudo_err: Vec<u8>,
    prompts: u32,
    pid: Option<u32>,
}

impl Gate {
    fn new(prompt: Vec<u8>, start: Vec<u8>) -> Gate {
        Gate {
            prompt,
            start,
            pending_out: Vec::new(),
            pending_err: Vec::new(),
            sudo_err: Vec::new(),
            prompts: 0,
            pid: None,
        }
    }

    /// Whether the command has started (stdin may flow).
    pub(crate) fn started(&self) -> bool {
        self.pid.is_some()
    }

    /// The pid of the command's wrapper shell, once started.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Whether sudo prompted at least once.
    pub(crate) fn prompted(&self) -> bool {
        self.prompts > 0
    }

    /// Feeds stdout data; the command's own output is appended to `out`.
    pub(crate) fn stdout(&mut self, data: &[u8], out: &mut Vec<u8>) -> Option<Event> {
        if self.started() {
            out.extend_from_slice(data);
            return None;
        }
        self.pending_out.extend_from_slice(data);
        if let Some(pos) = find(&self.pending_out, &self.start) {
            let after = pos + self.start.len();
            let newline = self.pending_out[after..].iter().position(|&b| b == b'\n')?;
            let pid = std::str::from_utf8(&self.pending_out[after..after + newline])
                .ok()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            out.extend_from_slice(&self.pending_out[..pos]);
            out.extend_from_slice(&self.pending_out[after + newline + 1..]);
            self.pending_out.clear();
            self.pid = Some(pid);
            // sudo is done talking; from here on stderr is the command's.
            self.pending_err.clear();
            self.sudo_err.clear();
            return Some(Event::Started);
        }
        // Nothing but sudo writes before the marker; keep the buffer bounded anyway.
        if self.pending_out.len() > 64 * 1024 {
            let cut = self.pending_out.len() - self.start.len() - 16;
            out.extend(self.pending_out.drain(..cut));
        }
        None
    }

    /// Feeds stderr data. Once the command runs, it is appended to `err`; before that it is
    /// sudo's, kept aside without its prompt markers.
    pub(crate) fn stderr(&mut self, data: &[u8], err: &mut Vec<u8>) -> Option<Event> {
        if self.started() {
            err.extend_from_slice(data);
            return None;
        }
        self.pending_err.extend_from_slice(data);
        let mut event = None;
        while let Some(pos) = find(&self.pending_err, &self.prompt) {
            self.sudo_err.extend_from_slice(&self.pending_err[..pos]);
            self.pending_err.drain(..pos + self.prompt.len());
            self.prompts += 1;
            event = Some(if self.prompts == 1 {
                Event::SendPassword
            } else {
                Event::PasswordRejected
            });
        }
        // Keep what could be the beginning of a prompt split across packets.
        let keep = self
            .prompt
            .len()
            .saturating_sub(1)
            .min(self.pending_err.len());
        let cut = self.pending_err.len() - keep;
        self.sudo_err.extend(self.pending_err.drain(..cut));
        event
    }

    /// Flushes what is still held back (at the end of the command): when the command never
    /// started, sudo's own messages become its stderr.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>, err: &mut Vec<u8>) {
        out.append(&mut self.pending_out);
        err.append(&mut self.sudo_err);
        err.append(&mut self.pending_err);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password_plan() -> Plan {
        plan(
            "cat > /tmp/x && echo 'done'",
            &Sudo::Password(Secret::new("pw-do-not-show")),
            true,
        )
    }

    fn start_line(gate: &Gate, pid: u32) -> Vec<u8> {
        let mut marker = gate.start.clone();
        marker.extend_from_slice(format!("{pid}\n").as_bytes());
        marker
    }

    #[test]
    fn command_lines_never_hold_the_password() {
        let p = password_plan();
        assert!(!p.command.contains("pw-do-not-show"));
        assert!(p.command.starts_with("sudo -S -k -p k3s-sdk-sudo-prompt-"));
        assert!(p.command.contains(" -- /bin/sh -c "));
        assert!(p
            .command
            .ends_with(r"sh 'cat > /tmp/x && echo '\''done'\'''"));
        assert!(p.command.contains(&format!("k3s-sdk-start-{}:", p.nonce)));
        let direct = plan("true", &Sudo::Password(Secret::new("x")), false);
        assert!(direct.command.starts_with("/bin/sh -c "));
        assert!(direct.password.is_none());
        let nopw = plan("id -u", &Sudo::Passwordless, true);
        assert!(nopw.command.starts_with("sudo -n -- /bin/sh -c "));
        assert!(nopw.command.ends_with(" sh 'id -u'"));
        assert!(!nopw.gate.started());
    }

    #[test]
    fn password_only_after_prompt_and_stdin_only_after_start() {
        let mut p = password_plan();
        let prompt = p.gate.prompt.clone();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        // The prompt arrives split over two packets, after a lecture line.
        let mut first = b"We trust you have received the usual lecture\n".to_vec();
        first.extend_from_slice(&prompt[..5]);
        assert_eq!(p.gate.stderr(&first, &mut err), None);
        assert!(!p.gate.started());
        assert_eq!(
            p.gate.stderr(&prompt[5..], &mut err),
            Some(Event::SendPassword)
        );
        // The marker and pid arrive split too.
        let mut data = start_line(&p.gate, 4242);
        data.extend_from_slice(b"hello");
        let split = data.len() - 8;
        assert_eq!(p.gate.stdout(&data[..split], &mut out), None);
        assert_eq!(
            p.gate.stdout(&data[split..], &mut out),
            Some(Event::Started)
        );
        assert!(p.gate.started() && p.gate.prompted());
        assert_eq!(p.gate.pid(), Some(4242));
        p.gate.stderr(b"warning\n", &mut err);
        p.gate.finish(&mut out, &mut err);
        assert_eq!(out, b"hello");
        // sudo's lecture is not the command's stderr.
        assert_eq!(err, b"warning\n");
    }

    #[test]
    fn no_prompt_means_no_password() {
        let mut p = password_plan();
        let data = start_line(&p.gate, 7);
        let mut out = Vec::new();
        assert_eq!(p.gate.stdout(&data[..3], &mut out), None);
        assert_eq!(p.gate.stdout(&data[3..], &mut out), Some(Event::Started));
        assert!(!p.gate.prompted());
        assert!(out.is_empty());
    }

    #[test]
    fn second_prompt_is_a_rejected_password() {
        let mut p = password_plan();
        let prompt = p.gate.prompt.clone();
        let mut err = Vec::new();
        assert_eq!(p.gate.stderr(&prompt, &mut err), Some(Event::SendPassword));
        let mut again = b"Sorry, try again.\n".to_vec();
        again.extend_from_slice(&prompt);
        assert_eq!(
            p.gate.stderr(&again, &mut err),
            Some(Event::PasswordRejected)
        );
        assert!(err.is_empty());
        p.gate.finish(&mut Vec::new(), &mut err);
        assert_eq!(err, b"Sorry, try again.\n");
    }

    #[test]
    fn stop_script_checks_the_nonce_first() {
        let s = stop_script(123, "abcd");
        assert!(s.starts_with("p=123\ngrep -q k3s-sdk-start-abcd /proc/$p/cmdline"));
        // dash's kill takes no `--`.
        assert!(s.contains(r#"kill -TERM "-$g""#));
    }
}
