//! Files on the node: read one, or write one atomically with a mode and owner.
//!
//! Content always travels on the command's stdin, never on a command line. A write goes to a
//! temporary file in the target's directory, created under `umask 077` (so a secret is never
//! readable by others, not even for a moment), checked for size, given its owner and mode, and
//! only then renamed over the target. Through sudo, stdin flows only once the command runs as
//! root (see [`super::sudo`]).

use super::connect::Session;
use super::error::Error;
use super::exec::Command;
use super::shell::shell_quote;
use std::time::Duration;

/// How to write a file. The default is mode `0600`, owned by whoever runs the command (root
/// with sudo), with missing parent directories created (mode `0755`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileOptions {
    /// Permission bits (e.g. `0o600`, `0o644`).
    pub mode: u32,
    /// Owner (user name or uid); `None` keeps the writer's.
    pub owner: Option<String>,
    /// Group (name or gid); `None` keeps the writer's.
    pub group: Option<String>,
    /// Create missing parent directories.
    pub create_parents: bool,
    /// Deadline for the write (default: the target's command timeout).
    pub timeout: Option<Duration>,
}

impl Default for FileOptions {
    fn default() -> FileOptions {
        FileOptions {
            mode: 0o600,
            owner: None,
            group: None,
            create_parents: true,
            timeout: None,
        }
    }
}

impl FileOptions {
    /// The defaults: mode `0600`, writer's owner, parents created.
    pub fn new() -> FileOptions {
        FileOptions::default()
    }

    /// Sets the permission bits.
    pub fn mode(mut self, mode: u32) -> FileOptions {
        self.mode = mode;
        self
    }

    /// Sets the owner.
    pub fn owner(mut self, owner: impl Into<String>) -> FileOptions {
        self.owner = Some(owner.into());
        self
    }

    /// Sets the group.
    pub fn group(mut self, group: impl Into<String>) -> FileOptions {
        self.group = Some(group.into());
        self
    }

    /// Sets whether missing parent directories are created.
    pub fn create_parents(mut self, create: bool) -> FileOptions {
        self.create_parents = create;
        self
    }

    /// Sets the deadline for the write.
    pub fn timeout(mut self, timeout: Duration) -> FileOptions {
        self.timeout = Some(timeout);
        self
    }
}

/// Exit status of the read script when the file does not exist.
const MISSING: u32 = 3;

impl Session {
    /// Reads a file (as root when the session uses sudo).
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>, Error> {
        check_path(path)?;
        let command = Command::new(
            format!("read {path}"),
            format!("exec cat -- {}", shell_quote(path)),
        );
        Ok(self.exec(command).await?.stdout)
    }

    /// Reads a file, or returns `None` when it does not exist.
    pub async fn read_file_if_exists(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        check_path(path)?;
        let p = shell_quote(path);
        let command = Command::new(
            format!("read {path}"),
            format!("if [ ! -e {p} ]; then exit {MISSING}; fi; exec cat -- {p}"),
        );
        let output = self.output(command.clone()).await?;
        match output.status.code() {
            Some(0) => Ok(Some(output.stdout)),
            Some(MISSING) if output.stderr.is_empty() => Ok(None),
            _ => self.exec(command).await.map(|o| Some(o.stdout)),
        }
    }

    /// Writes a file atomically with the given mode and owner (see the module docs).
    pub async fn write_file(
        &self,
        path: &str,
        contents: &[u8],
        options: &FileOptions,
    ) -> Result<(), Error> {
        let script = write_script(path, contents.len(), options)?;
        tracing::debug!(
            host = %self.host(),
            path,
            bytes = contents.len(),
            mode = format_args!("{:04o}", options.mode),
            "writing file"
        );
        let mut command = Command::new(format!("write {path}"), script).stdin(contents);
        if let Some(timeout) = options.timeout {
            command = command.timeout(timeout);
        }
        self.exec(command).await.map(|_| ())
    }
}

fn check_path(path: &str) -> Result<(), Error> {
    if !path.starts_with('/') || path.ends_with('/') || path.contains('\0') {
        return Err(Error::InvalidConfig(format!(
            "remote path {path:?} must be an absolute path to a file"
        )));
    }
    Ok(())
}

fn check_name(what: &str, name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidConfig(format!(
            "{what} {name:?} is not a valid user or group name"
        )))
    }
}

/// The script that writes stdin to `path` atomically.
fn write_script(path: &str, size: usize, options: &FileOptions) -> Result<String, Error> {
    check_path(path)?;
    if options.mode > 0o7777 {
        return Err(Error::InvalidConfig(format!(
            "file mode {:o} is not a permission mode",
            options.mode
        )));
    }
    let owner = match (&options.owner, &options.group) {
        (Some(u), Some(g)) => {
            check_name("owner", u)?;
            check_name("group", g)?;
            format!("{u}:{g}")
        }
        (Some(u), None) => {
            check_name("owner", u)?;
            u.clone()
        }
        (None, Some(g)) => {
            check_name("group", g)?;
            format!(":{g}")
        }
        (None, None) => String::new(),
    };
    let parents = if options.create_parents {
        "[ -d \"$dir\" ] || (umask 022 && mkdir -p -- \"$dir\")\n"
    } else {
        ""
    };
    let chown = if owner.is_empty() {
        String::new()
    } else {
        format!("chown -- {} \"$tmp\"\n", shell_quote(&owner))
    };
    Ok(format!(
        "set -eu\n\
         target={target}\n\
         dir=$(dirname -- \"$target\")\n\
         {parents}\
         umask 077\n\
         tmp=$(mktemp \"$dir/.k3s-sdk-write.XXXXXXXXXX\")\n\
         trap 'rm -f -- \"$tmp\"' EXIT\n\
         cat > \"$tmp\"\n\
         got=$(wc -c < \"$tmp\")\n\
         if [ \"$got\" -ne {size} ]; then echo \"received $got of {size} bytes; the transfer was cut short\" >&2; exit 1; fi\n\
         {chown}\
         chmod {mode:04o} \"$tmp\"\n\
         sync -- \"$tmp\" 2>/dev/null || :\n\
         mv -f -- \"$tmp\" \"$target\"\n\
         trap - EXIT\n",
        target = shell_quote(path),
        mode = options.mode,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_script_sets_mode_owner_and_renames() {
        let s = write_script(
            "/etc/rancher/k3s/config.yaml",
            42,
            &FileOptions::new().owner("ops").group("ops"),
        )
        .unwrap();
        assert!(s.contains("target=/etc/rancher/k3s/config.yaml\n"));
        assert!(s.contains("umask 077\ntmp=$(mktemp"));
        assert!(s.contains("chown -- ops:ops \"$tmp\""));
        assert!(s.contains("chmod 0600 \"$tmp\""));
        assert!(s.contains("-ne 42 ]"));
        let chmod = s.find("chmod").unwrap();
        let mv = s.find("mv -f").unwrap();
        assert!(chmod < mv, "mode is set before the rename");
    }

    #[test]
    fn bad_paths_and_names_are_refused() {
        assert!(write_script("relative", 1, &FileOptions::new()).is_err());
        assert!(write_script("/etc/", 1, &FileOptions::new()).is_err());
        assert!(write_script("/x", 1, &FileOptions::new().owner("-rf")).is_err());
        assert!(write_script("/x", 1, &FileOptions::new().owner("a b")).is_err());
        assert!(write_script("/x", 1, &FileOptions::new().mode(0o10000)).is_err());
        let quoted = write_script("/tmp/it's here", 1, &FileOptions::new()).unwrap();
        assert!(quoted.contains("target='/tmp/it'\\''s here'"));
    }
}
