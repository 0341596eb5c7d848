//! Argo CD install benchmark: the SDK's install of the real v3.5.1 manifest next to
//! `kubectl create namespace` + `kubectl apply --server-side --force-conflicts` of the same
//! manifest, each on a fresh K3s stand-in server of its own (the same API implementation), in
//! the same run, alternating; both timed without readiness waits. The stand-in counts each
//! client's requests (reads, writes). Then, on an SDK-installed cluster: a second install (it
//! should write nothing) and a refresh (`Bootstrap::observe`, which should only read).
//!
//! Run with `cargo bench -p acceptance-tests --bench argocd_install` (as root; needs
//! `../shared/data/argocd-v3.5.1-install.yaml`). Prints a table and ratios; asserts nothing.

use acceptance_tests::argocd;
use acceptance_tests::artifacts::ArtifactServer;
use acceptance_tests::standin::harness::{install_server, Kubectl};
use acceptance_tests::standin::K3sReleases;
use acceptance_tests::testbed::TestBed;
use anyhow::Result;
use k3s_sdk::argocd::{Bootstrap, Deadline, Seed};
use k3s_sdk::kubernetes::ApiClient;
use k3s_sdk::Secret;
use std::path::Path;
use std::time::{Duration, Instant};

const K3S: &str = "v1.33.4+k3s1";
const ROUNDS: usize = 3;

fn seed() -> Seed {
    Seed {
        repositories: vec![],
        settings: Default::default(),
        params: Default::default(),
        application_health: false,
        root: k3s_sdk::argocd::RootApplication::new(
            "root",
            "https://git.example.test/platform.git",
            "apps",
        ),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let manifest = argocd::shared_manifest();
    if !manifest.exists() {
        println!(
            "argocd_install: {} is missing; nothing to measure",
            manifest.display()
        );
        return Ok(());
    }
    let text = argocd::manifest_text()?;
    let bed = TestBed::builder().nodes(2 * ROUNDS).boot()?;
    let artifacts = ArtifactServer::start(bed.host_address().into())?;
    let releases = K3sReleases::publish(
        &artifacts,
        Path::new(env!("CARGO_BIN_EXE_k3s-standin")),
        &[K3S],
    )?;
    let kubectls: Vec<Kubectl> = std::thread::scope(|s| {
        let handles: Vec<_> = bed
            .nodes()
            .iter()
            .map(|node| {
                let releases = &releases;
                s.spawn(move || install_server(node, releases, K3S))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("install thread"))
            .collect::<Result<_>>()
    })?;
    let runtime = tokio::runtime::Runtime::new()?;
    let bootstrap = Bootstrap::new(&text, "argocd", seed())?;
    let objects = bootstrap.manifest().refs().len() + 1;
    let deadline = || Deadline::after(Duration::from_secs(300), Default::default());

    let (mut sdk_times, mut kubectl_times) = (Vec::new(), Vec::new());
    let (mut sdk_counts, mut kubectl_counts) = ((0, 0), (0, 0));
    let mut sdk_cluster = None;
    for round in 0..ROUNDS {
        // The SDK, no readiness wait: the install step alone.
        let kubectl = &kubectls[2 * round];
        let api = runtime.block_on(ApiClient::from_kubeconfig(&Secret::new(
            std::fs::read_to_string(kubectl.kubeconfig())?,
        )))?;
        kubectl.requests("k3s-sdk")?;
        let started = Instant::now();
        let written = runtime.block_on(k3s_sdk::argocd::install(
            &api,
            bootstrap.manifest(),
            "argocd",
            &deadline(),
        ))?;
        sdk_times.push(started.elapsed().as_secs_f64());
        sdk_counts = kubectl.requests("k3s-sdk")?;
        assert_eq!(
            written.objects.len(),
            objects,
            "the SDK wrote {:?}",
            written.objects.len()
        );
        sdk_cluster = Some((kubectl, api));

        // kubectl, as Argo CD's documentation installs it.
        let kubectl = &kubectls[2 * round + 1];
        kubectl.requests("kubectl")?;
        let started = Instant::now();
        kubectl.ok(&["create", "namespace", "argocd"])?;
        kubectl.ok(&[
            "apply",
            "-n",
            "argocd",
            "--server-side",
            "--force-conflicts",
            "-f",
            manifest.to_str().expect("path"),
        ])?;
        kubectl_times.push(started.elapsed().as_secs_f64());
        kubectl_counts = kubectl.requests("kubectl")?;
    }
    let (sdk, kubectl) = (median(sdk_times), median(kubectl_times));
    println!("Argo CD v3.5.1 install ({objects} objects incl. the namespace), median of {ROUNDS}, no readiness waits:");
    println!("{:<44} {:>9} {:>7} {:>7}", "", "seconds", "reads", "writes");
    println!(
        "{:<44} {:>9.2} {:>7} {:>7}",
        "k3s-sdk argocd::install", sdk, sdk_counts.0, sdk_counts.1
    );
    println!(
        "{:<44} {:>9.2} {:>7} {:>7}",
        "kubectl apply --server-side --force-conflicts",
        kubectl,
        kubectl_counts.0,
        kubectl_counts.1
    );
    println!(
        "time ratio sdk/kubectl: {:.2}; writes per object: sdk {:.2}, kubectl {:.2}",
        sdk / kubectl,
        sdk_counts.1 as f64 / objects as f64,
        kubectl_counts.1 as f64 / objects as f64
    );

    let (kubectl, api) = sdk_cluster.expect("a round ran");
    kubectl.requests("k3s-sdk")?;
    let started = Instant::now();
    let again = runtime.block_on(k3s_sdk::argocd::install(
        &api,
        bootstrap.manifest(),
        "argocd",
        &deadline(),
    ))?;
    let (reads, writes) = kubectl.requests("k3s-sdk")?;
    println!("second install on the same cluster: {:.2} s, {reads} reads, {writes} writes ({} objects written)", started.elapsed().as_secs_f64(), again.objects.len());
    let started = Instant::now();
    runtime.block_on(bootstrap.observe(&api))?;
    let (reads, writes) = kubectl.requests("k3s-sdk")?;
    println!(
        "refresh (Bootstrap::observe of {} objects): {:.2} s, {reads} reads, {writes} writes",
        bootstrap.inventory().len(),
        started.elapsed().as_secs_f64()
    );
    drop(api);
    bed.teardown()?;
    Ok(())
}
