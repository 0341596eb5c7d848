//! The plugin runtime: everything Terraform's plugin protocol v6 asks of a provider process,
//! and nothing about what the provider manages. Resources plug in through the traits in
//! [`resource`]; the runtime owns the protocol's rules so resource code never sees msgpack,
//! unknown-value bookkeeping or requires-replace mechanics.

mod convert;
pub mod cty;
pub mod diagnostics;
pub mod docs;
pub mod handshake;
pub mod logging;
pub mod plan;
pub mod resource;
pub mod schema;
pub mod serve;
pub mod service;
pub mod tls;

pub use diagnostics::{Diagnostic, Diagnostics, Severity};
pub use resource::{Context, DataSource, PlanRequest, Provider, ProviderData, Resource};
pub use schema::{Attribute, Block, Mode, NestedBlock, Nesting, Schema};
