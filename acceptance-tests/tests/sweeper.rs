//! The sweeper: a run whose process died without tearing down is removed by the next sweep.
//! Kept in its own test binary so no other test's sweep can race it.

use acceptance_tests::testbed::{leftovers, sweep_stale_runs};
use anyhow::{ensure, Context, Result};
use std::io::BufRead;
use std::process::{Command, Stdio};

#[test]
fn sweeper_removes_what_a_dead_run_left_behind() -> Result<()> {
    // A child process boots a node and is killed before it can tear down; the next sweep must
    // remove everything that run made.
    let exe = env!("CARGO_BIN_EXE_testbed");
    let mut child = Command::new(exe)
        .args(["up", "--nodes", "1", "--hold"])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().context("child stdout")?).read_line(&mut line)?;
    let run_id = line
        .trim()
        .strip_prefix("run ")
        .unwrap_or_default()
        .to_owned();
    ensure!(run_id.len() == 6, "unexpected first line {line:?}");
    child.kill()?;
    child.wait()?;
    ensure!(
        !leftovers(&run_id).is_empty(),
        "the killed run left nothing to sweep"
    );
    let swept = sweep_stale_runs()?;
    ensure!(
        swept.contains(&run_id),
        "sweep removed {swept:?}, not {run_id}"
    );
    let left = leftovers(&run_id);
    ensure!(left.is_empty(), "left behind after the sweep: {left:#?}");
    Ok(())
}
