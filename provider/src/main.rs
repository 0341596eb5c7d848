//! The `terraform-provider-k3s` plugin binary: serves the k3s provider on the plugin runtime.
//!
//! Terraform starts this program itself. Run by hand it explains that and exits with status 1;
//! `--debug` serves without Terraform and prints the `TF_REATTACH_PROVIDERS` value to attach a
//! Terraform run to it.

use terraform_provider_k3s::provider::K3sProvider;
use tfplugin_runtime::{logging, serve};

/// The address Terraform knows the provider by.
const PROVIDER_ADDRESS: &str = "registry.terraform.io/k3s/k3s";

/// The crates whose logs are the provider's own (at the level `TF_LOG` asks for).
const OWN_LOG_TARGETS: &[&str] = &["terraform_provider_k3s", "k3s_sdk"];

fn main() {
    let debug = std::env::args()
        .skip(1)
        .any(|a| a == "--debug" || a == "-debug");
    if let Some(other) = std::env::args()
        .skip(1)
        .find(|a| a != "--debug" && a != "-debug")
    {
        eprintln!("terraform-provider-k3s: unknown argument {other:?}; the only one is --debug");
        std::process::exit(2);
    }
    logging::init_from_env("provider.terraform-provider-k3s", OWN_LOG_TARGETS);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("terraform-provider-k3s: cannot start: {e}");
            std::process::exit(1);
        }
    };
    let options = serve::ServeOptions {
        debug,
        address: PROVIDER_ADDRESS.to_owned(),
    };
    if let Err(e) = runtime.block_on(serve::serve(K3sProvider, options)) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
