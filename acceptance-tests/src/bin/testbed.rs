//! `testbed`: boots, shows and removes test bed nodes from the command line.
//!
//! `testbed up --nodes 3` boots three nodes, shows each reached over SSH with its pinned host key,
//! and tears them down; `--keep` leaves them running for `testbed down`. `testbed sweep` removes
//! what runs of dead processes left behind.

use acceptance_tests::testbed::{self, TestBed};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::Write;

#[derive(Parser)]
#[command(about = "Real Linux nodes (systemd + OpenSSH) in namespaces on this machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Boot nodes, show them reachable over SSH, then tear them down.
    Up {
        /// How many nodes to boot.
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Leave the nodes running after this command exits (remove them with `testbed down`).
        #[arg(long, conflicts_with = "hold")]
        keep: bool,
        /// Stay in the foreground with the nodes running until killed (used by tests).
        #[arg(long)]
        hold: bool,
    },
    /// Stop kept nodes: the run given, or every kept run.
    Down {
        /// Run id printed by `testbed up --keep`.
        run_id: Option<String>,
        /// Stop every kept run.
        #[arg(long, conflicts_with = "run_id")]
        all: bool,
    },
    /// Remove what runs of dead processes left behind.
    Sweep,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Up { nodes, keep, hold } => up(nodes, keep, hold),
        Command::Down { run_id, all } => {
            let ids = match (run_id, all) {
                (Some(id), _) => vec![id],
                (None, true) => testbed::kept_runs(),
                (None, false) => anyhow::bail!("name a run id, or pass --all"),
            };
            for id in ids {
                testbed::remove_run(&id).with_context(|| format!("removing run {id}"))?;
                println!("removed run {id}");
            }
            Ok(())
        }
        Command::Sweep => {
            let swept = testbed::sweep_stale_runs()?;
            println!("swept {} stale run(s) {swept:?}", swept.len());
            Ok(())
        }
    }
}

fn up(count: usize, keep: bool, hold: bool) -> Result<()> {
    let started = std::time::Instant::now();
    let bed = TestBed::builder().nodes(count).boot()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "run {}", bed.run_id())?;
    out.flush()?;
    if hold {
        loop {
            std::thread::park();
        }
    }
    writeln!(
        out,
        "booted {count} node(s) in {:.1} s\n",
        started.elapsed().as_secs_f64()
    )?;
    writeln!(
        out,
        "{:<8} {:<14} {:<10} {:<10} host key",
        "node", "address", "hostname", "systemd"
    )?;
    for node in bed.nodes() {
        // Everything below comes over SSH, through OpenSSH's client, with the host key pinned.
        let hostname = node.ssh_ok("hostname")?;
        let state = node.ssh_ok("systemctl is-system-running")?;
        writeln!(
            out,
            "{:<8} {:<14} {:<10} {:<10} {}",
            node.name(),
            node.address().to_string(),
            hostname.trim(),
            state.trim(),
            node.host_key().fingerprint()
        )?;
    }
    let first = &bed.nodes()[0];
    writeln!(
        out,
        "\nreach a node yourself:\n  ssh {}",
        first.ssh_args("root").join(" ")
    )?;
    if keep {
        let id = bed.keep()?;
        writeln!(
            out,
            "\nnodes left running; remove them with:\n  target/debug/testbed down {id}"
        )?;
    } else {
        bed.teardown()?;
        writeln!(out, "\nnodes torn down (pass --keep to leave them running)")?;
    }
    Ok(())
}
