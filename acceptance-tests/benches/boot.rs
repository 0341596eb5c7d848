//! Boot benchmark: how long the test bed takes to boot 1, 4 and 8 nodes to `running` and
//! reachable over SSH, what they cost in memory, and how long teardown takes.
//!
//! Run with `cargo bench -p acceptance-tests --bench boot` (as root). Prints a table; asserts
//! nothing about time.

use acceptance_tests::testbed::{mem_available_bytes, TestBed};
use anyhow::Result;
use std::time::Instant;

fn main() -> Result<()> {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect::<Vec<_>>();
    let counts = if counts.is_empty() {
        vec![1, 4, 8]
    } else {
        counts
    };
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "{:>5} {:>10} {:>10} {:>12} {:>13} {:>14} {:>11}",
        "nodes", "boot s", "ssh s", "s per node", "PSS/node MiB", "host used MiB", "teardown s"
    );
    let mut one_node_boot = None;
    for count in counts {
        let before = mem_available_bytes()?;
        let started = Instant::now();
        let bed = TestBed::builder().nodes(count).boot()?;
        let booted = started.elapsed();
        for node in bed.nodes() {
            node.ssh_ok("true")?;
        }
        let reachable = started.elapsed();
        // Let journald and friends settle before reading memory.
        std::thread::sleep(std::time::Duration::from_secs(2));
        let pss: u64 = bed.nodes().iter().map(|n| n.memory_pss_bytes()).sum();
        let used = before.saturating_sub(mem_available_bytes()?);
        let torn = Instant::now();
        bed.teardown()?;
        let teardown = torn.elapsed();
        println!(
            "{count:>5} {:>10.2} {:>10.2} {:>12.2} {:>13.1} {:>14.1} {:>11.2}",
            booted.as_secs_f64(),
            reachable.as_secs_f64(),
            booted.as_secs_f64() / count as f64,
            mib(pss) / count as f64,
            mib(used),
            teardown.as_secs_f64()
        );
        if count == 1 {
            one_node_boot = Some(booted.as_secs_f64());
        } else if let Some(one) = one_node_boot {
            println!(
                "      boot time ratio {count} nodes / 1 node: {:.2}",
                booted.as_secs_f64() / one
            );
        }
    }
    Ok(())
}
