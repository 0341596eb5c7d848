//! Bindings for the Terraform plugin protocol v6 (`tfplugin6`) and go-plugin's controller,
//! stdio and broker services.
//!
//! This crate owns the wire contract between Terraform and the provider binary and nothing
//! else: no provider behaviour, no K3s knowledge. The protocol definitions are compiled at build
//! time without a system `protoc`.
