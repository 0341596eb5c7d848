//! A runtime for Terraform providers written in Rust: everything Terraform's plugin protocol v6
//! asks of a provider process, and nothing about what a provider manages.
//!
//! Start at [`mod@resource`]: a provider implements [`Provider`], and each resource or data source
//! implements [`Resource`] or [`DataSource`] on a typed model ([`model`]) with a [`Schema`].
//! [`serve::serve`] then runs the plugin: the go-plugin handshake and AutoMTLS
//! ([`handshake`], [`tls`]), the gRPC services ([`service`]), hclog logging ([`logging`]).
//! The runtime owns the protocol's rules ([`plan`]), so resource code never sees msgpack,
//! unknown-value bookkeeping or requires-replace mechanics.
//!
//! Layers, bottom up:
//! - [`cty`]: Terraform's type system and its msgpack and JSON encodings;
//! - [`model`]: cty values to and from Rust structs (serde), and model/schema agreement;
//! - [`schema`], [`diagnostics`], [`plan`]: what a type declares, what it reports, the rules;
//! - [`mod@resource`] (the traits) and `erased` (the same behind object-safe traits);
//! - [`service`], [`serve`], [`docs`]: serving and documenting a provider.
//!
//! It depends on the protocol bindings (`tfplugin-proto`) and on no provider: a provider's
//! name, binary name and log targets are given to it.

// The derived schemas name `::tfplugin_runtime`, here as in a provider.
extern crate self as tfplugin_runtime;

mod convert;
pub mod cty;
mod derived;
pub mod diagnostics;
pub mod docs;
pub mod erased;
pub mod handshake;
pub mod logging;
pub mod model;
pub mod plan;
pub mod resource;
pub mod schema;
pub mod serve;
pub mod service;
pub mod timeouts;
pub mod tls;

pub use diagnostics::{Diagnostic, Diagnostics, Severity};
pub use model::{Duration, Form, Known, MaybeUnknown, Planned};
pub use resource::{
    data_source, resource, Context, DataSource, Models, Plan, Provider, ProviderData, Resource,
};
pub use schema::{Attribute, Block, Mode, ModelSchema, NestedBlock, Nesting, Schema};
