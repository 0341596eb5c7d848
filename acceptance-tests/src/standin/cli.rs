//! The command line of the stand-in `k3s` binary: `--version`/`-v`/`version`, `server`,
//! `agent`, and `kubectl` (also when invoked through a `kubectl` symlink), which runs the
//! machine's real kubectl with K3s's default kubeconfig, as K3s's embedded kubectl does.

use super::config::Config;
use super::util::log;
use super::{agent, own_version, server, version_output};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const USAGE: &str = "\
NAME:
   k3s - Kubernetes, but small and simple (test stand-in)

USAGE:
   k3s [global options] command [command options] [arguments...]

COMMANDS:
   server   Run management server
   agent    Run node agent
   kubectl  Run kubectl

GLOBAL OPTIONS:
   --version, -v  print the version
   --help, -h     show help
";

/// Runs the binary with `args` (including `argv[0]`) and returns the exit code.
pub fn main(args: Vec<String>) -> i32 {
    let invoked_as = args
        .first()
        .map(|a| {
            Path::new(a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    if invoked_as == "kubectl" {
        return kubectl(&args[1..]);
    }
    if matches!(invoked_as.as_str(), "crictl" | "ctr") {
        eprintln!("{invoked_as} is not available in the K3s stand-in (it runs no containers)");
        return 1;
    }
    let command = args.get(1).map(String::as_str).unwrap_or("");
    let rest: Vec<String> = args.iter().skip(2).cloned().collect();
    match command {
        "--version" | "-v" | "version" => {
            print!("{}", version_output(&own_version()));
            0
        }
        "" | "--help" | "-h" | "help" => {
            print!("{USAGE}");
            if command.is_empty() {
                1
            } else {
                0
            }
        }
        "kubectl" => kubectl(&rest),
        "crictl" | "ctr" => {
            eprintln!("{command} is not available in the K3s stand-in (it runs no containers)");
            1
        }
        "server" | "agent" => {
            if rest.iter().any(|a| a == "--help" || a == "-h") {
                println!("k3s {command} [OPTIONS] (stand-in: reads /etc/rancher/k3s/config.yaml, K3S_* and flags)");
                return 0;
            }
            let env: BTreeMap<String, String> = std::env::vars().collect();
            let config = match Config::load(&rest, &env) {
                Ok(c) => c,
                Err(e) => {
                    log("fatal", &format!("Error: {e:#}"));
                    return 1;
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    log("fatal", &format!("Error: starting the runtime: {e}"));
                    return 1;
                }
            };
            let version = own_version();
            let result = runtime.block_on(async move {
                if command == "server" {
                    server::run(config, version).await
                } else {
                    agent::run(config, version).await
                }
            });
            match result {
                Ok(()) => 0,
                Err(e) => {
                    log("fatal", &format!("Error: {e:#}"));
                    1
                }
            }
        }
        other => {
            eprintln!("No help topic for '{other}'");
            3
        }
    }
}

/// Runs the first `kubectl` on PATH that is not this binary, defaulting `KUBECONFIG` to
/// `/etc/rancher/k3s/k3s.yaml`.
fn kubectl(args: &[String]) -> i32 {
    let me = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .unwrap_or_default();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found: Option<PathBuf> = std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file() && p.canonicalize().is_ok_and(|c| c != me));
    let Some(binary) = found else {
        eprintln!("kubectl is not available: the K3s stand-in has no embedded kubectl and none is on PATH");
        return 1;
    };
    let mut command = std::process::Command::new(binary);
    command.args(args);
    if std::env::var_os("KUBECONFIG").is_none() {
        command.env("KUBECONFIG", "/etc/rancher/k3s/k3s.yaml");
    }
    match command.status() {
        Ok(status) => status.code().unwrap_or(1),
        Err(e) => {
            eprintln!("running kubectl: {e}");
            1
        }
    }
}
