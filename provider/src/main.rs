//! The `terraform-provider-k3s` plugin binary.
//!
//! Terraform starts this program itself; run by hand it explains that and exits with status 1.

fn main() {
    eprintln!(
        "This binary is a plugin. These are not meant to be executed directly.\n\
         Terraform runs terraform-provider-k3s itself: declare the provider in a required_providers\n\
         block and run `terraform init`."
    );
    std::process::exit(1);
}
