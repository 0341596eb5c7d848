//! What a provider, resource or data source implements to be served by the runtime.
//!
//! A resource declares its schema and implements create, read, update and delete; import,
//! extra validation and plan customisation are optional (default methods). Values come in
//! decoded and already checked against the schema; the runtime applies the protocol's plan
//! rules around these calls and checks what they return.

use super::cty::{AttributePath, Value};
use super::diagnostics::Diagnostics;
use super::schema::Schema;
use async_trait::async_trait;
use std::any::Any;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Whatever `Provider::configure` produced (clients, credentials), shared with every call.
pub type ProviderData = Arc<dyn Any + Send + Sync>;

/// What a call gets besides its values: the configured provider, cancellation, private state,
/// and a place for warnings.
pub struct Context {
    provider: Option<ProviderData>,
    cancel: CancellationToken,
    private: Mutex<Vec<u8>>,
    warnings: Mutex<Diagnostics>,
}

impl Context {
    /// A context for one call.
    pub fn new(
        provider: Option<ProviderData>,
        cancel: CancellationToken,
        private: Vec<u8>,
    ) -> Context {
        Context {
            provider,
            cancel,
            private: Mutex::new(private),
            warnings: Mutex::new(Diagnostics::new()),
        }
    }

    /// The configured provider's data, downcast to what `configure` returned.
    pub fn provider<T: Any + Send + Sync>(&self) -> Result<Arc<T>, Diagnostics> {
        self.provider
            .clone()
            .and_then(|p| p.downcast::<T>().ok())
            .ok_or_else(|| Diagnostics::from_error("Provider not configured", "The provider block was not configured before this call; this is a bug in the provider."))
    }

    /// Cancelled when Terraform asks the provider to stop (Ctrl-C): long operations should
    /// watch it and return promptly.
    pub fn cancelled(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The resource's private state (opaque bytes kept in Terraform's state, never shown).
    pub fn private(&self) -> Vec<u8> {
        self.private.lock().expect("private state").clone()
    }

    /// Replaces the private state stored with the result of this call.
    pub fn set_private(&self, bytes: Vec<u8>) {
        *self.private.lock().expect("private state") = bytes;
    }

    /// Adds a warning to show with the result.
    pub fn warn(&self, summary: impl Into<String>, detail: impl Into<String>) {
        self.warnings
            .lock()
            .expect("warnings")
            .warning(summary, detail);
    }

    /// Takes the warnings gathered so far.
    pub fn take_warnings(&self) -> Diagnostics {
        std::mem::take(&mut *self.warnings.lock().expect("warnings"))
    }
}

/// A plan the runtime made, offered to the resource for customisation.
pub struct PlanRequest<'a> {
    /// State before the change; null on create.
    pub prior: &'a Value,
    /// The configuration (may hold unknowns).
    pub config: &'a Value,
    /// The planned new state so far; the resource may change computed parts of it.
    pub planned: &'a mut Value,
    /// Paths whose change replaces the resource; the resource may add to them.
    pub requires_replace: &'a mut Vec<AttributePath>,
}

/// A managed resource type.
#[async_trait]
pub trait Resource: Send + Sync {
    /// The full type name, e.g. `k3s_server`.
    fn type_name(&self) -> &'static str;

    /// The schema.
    fn schema(&self) -> Schema;

    /// Checks a configuration beyond what the schema's validators do. Values may be unknown.
    async fn validate(&self, _config: &Value, _diagnostics: &mut Diagnostics) {}

    /// Customises a plan (e.g. marks a computed value unknown when a change will alter it).
    async fn modify_plan(
        &self,
        _ctx: &Context,
        _request: PlanRequest<'_>,
        _diagnostics: &mut Diagnostics,
    ) {
    }

    /// Creates the real object; returns the new state, wholly known.
    async fn create(&self, ctx: &Context, planned: &Value) -> Result<Value, Diagnostics>;

    /// Reads the real object; `None` when it is gone.
    async fn read(&self, ctx: &Context, current: &Value) -> Result<Option<Value>, Diagnostics>;

    /// Changes the real object in place; returns the new state, wholly known.
    async fn update(
        &self,
        ctx: &Context,
        prior: &Value,
        planned: &Value,
    ) -> Result<Value, Diagnostics>;

    /// Deletes the real object.
    async fn delete(&self, ctx: &Context, prior: &Value) -> Result<(), Diagnostics>;

    /// Turns an import ID into a state that `read` then completes.
    async fn import(&self, _ctx: &Context, _id: &str) -> Result<Value, Diagnostics> {
        Err(Diagnostics::from_error(
            "Import not supported",
            format!("The resource type {} cannot be imported.", self.type_name()),
        ))
    }
}

/// A data source type.
#[async_trait]
pub trait DataSource: Send + Sync {
    /// The full type name, e.g. `k3s_oci_instances`.
    fn type_name(&self) -> &'static str;

    /// The schema.
    fn schema(&self) -> Schema;

    /// Checks a configuration beyond the schema's validators. Values may be unknown.
    async fn validate(&self, _config: &Value, _diagnostics: &mut Diagnostics) {}

    /// Reads the data; returns the configuration with computed attributes filled in.
    async fn read(&self, ctx: &Context, config: &Value) -> Result<Value, Diagnostics>;
}

/// The provider: its configuration block and what it serves.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The provider's local name, the prefix of every type name (`k3s`).
    fn name(&self) -> &'static str;

    /// The provider block's schema.
    fn schema(&self) -> Schema;

    /// Every resource type.
    fn resources(&self) -> Vec<Arc<dyn Resource>>;

    /// Every data source type.
    fn data_sources(&self) -> Vec<Arc<dyn DataSource>>;

    /// Checks the provider block beyond its schema's validators. Values may be unknown.
    async fn validate(&self, _config: &Value, _diagnostics: &mut Diagnostics) {}

    /// Turns the provider block into what resources need (clients, credentials).
    async fn configure(
        &self,
        config: &Value,
        terraform_version: &str,
    ) -> Result<ProviderData, Diagnostics>;
}
