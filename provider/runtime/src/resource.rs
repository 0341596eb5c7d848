//! What a provider, resource or data source implements to be served by the runtime.
//!
//! A resource declares its model (one struct, in [`Known`] and [`Planned`] form, see
//! [`crate::model`]) and its schema, and implements create, read, update and delete on the
//! model; validation, plan refinement and import are optional (default methods). The runtime
//! reads Terraform's values into the model, applies the protocol's plan rules around these
//! calls, and checks what they return ([`crate::plan`]).

use crate::cty::AttributePath;
use crate::diagnostics::Diagnostics;
use crate::model::{Field, Form, Known, Planned};
use crate::schema::{ModelSchema, Schema};
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
    partial: Mutex<Option<crate::cty::Value>>,
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
            partial: Mutex::new(None),
        }
    }

    /// The configured provider's data, downcast to what `configure` returned.
    pub fn provider<T: Any + Send + Sync>(&self) -> Result<Arc<T>, Diagnostics> {
        self.provider
            .clone()
            .and_then(|p| p.downcast::<T>().ok())
            .ok_or_else(|| {
                Diagnostics::from_error(
                    "Provider not configured",
                    "The provider block \
                was not configured before this call; this is a bug in the provider.",
                )
            })
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

    /// Records what exists so far while a create is under way (a model, wholly known): if the
    /// create then fails or is cancelled, this state is saved with the error, and Terraform
    /// marks the resource tainted, so that the next apply destroys and recreates it and a
    /// destroy cleans it up. Without it, a failed create leaves nothing in state.
    pub fn keep_partial_state<M: serde::Serialize>(&self, state: &M) {
        if let Ok(value) = crate::model::to_value(state) {
            *self.partial.lock().expect("partial state") = Some(value);
        }
    }

    /// The state [`Context::keep_partial_state`] recorded, if any.
    pub fn take_partial_state(&self) -> Option<crate::cty::Value> {
        self.partial.lock().expect("partial state").take()
    }

    /// Runs `operation` unless Terraform asks the provider to stop first: then it is dropped
    /// (every SSH command, wait and retry in it with it) and this returns at once with an
    /// error saying so.
    pub async fn unless_cancelled<T>(
        &self,
        what: &str,
        operation: impl std::future::Future<Output = Result<T, Diagnostics>>,
    ) -> Result<T, Diagnostics> {
        tokio::select! {
            result = operation => result,
            () = self.cancel.cancelled() => Err(Diagnostics::from_error(
                format!("{what} was cancelled"),
                "Terraform asked the provider to stop (Ctrl-C) and it stopped at once. What was \
                    done so far stays done; the next apply continues from there.",
            )),
        }
    }
}

/// A plan the runtime made, offered to the resource to refine: it may set computed values in
/// `planned` (configured values are Terraform's and stay as they are) and add to
/// `requires_replace`.
pub struct Plan<M: Models + ?Sized> {
    /// The state before the change; `None` on create.
    pub prior: Option<M::Model<Known>>,
    /// The configuration.
    pub config: M::Model<Planned>,
    /// The planned new state so far: the configuration with defaults applied, and computed
    /// values unknown where they may change (or kept where nothing changes).
    pub planned: M::Model<Planned>,
    /// Paths whose change replaces the resource.
    pub requires_replace: Vec<AttributePath>,
}

impl<M: Models + ?Sized> Plan<M> {
    /// Whether the planned state differs from the prior one (always so on create).
    pub fn changes(&self) -> bool {
        let Some(prior) = &self.prior else {
            return true;
        };
        match (
            crate::model::to_value(&self.planned),
            crate::model::to_value(prior),
        ) {
            (Ok(planned), Ok(prior)) => planned != prior,
            _ => true,
        }
    }
}

/// Anything with a model in two forms (a resource, a data source, a provider); the model's
/// declaration is its schema (`#[derive(ModelSchema)]`).
pub trait Models {
    /// The model in form `F`.
    type Model<F: Form>: Field + ModelSchema;
}

/// A managed resource type.
#[async_trait]
pub trait Resource: Models + Send + Sync + 'static {
    /// The full type name, e.g. `example_disk`.
    fn type_name(&self) -> &'static str;

    /// The schema. Derived from the model; override only to adjust what a declaration
    /// cannot say.
    fn schema(&self) -> Schema {
        Schema::of::<Self::Model<Known>>()
    }

    /// Checks a configuration beyond what the schema's validators do. Values may be unknown.
    async fn validate(&self, _config: &Self::Model<Planned>, _diagnostics: &mut Diagnostics) {}

    /// Refines a plan (e.g. computes a value the configuration determines, or marks one
    /// unknown that the change will alter).
    async fn modify_plan(
        &self,
        _ctx: &Context,
        _plan: &mut Plan<Self>,
        _diagnostics: &mut Diagnostics,
    ) {
    }

    /// Creates the real object from the plan (values still to be computed read as `None`);
    /// returns the new state.
    async fn create(
        &self,
        ctx: &Context,
        planned: Self::Model<Known>,
    ) -> Result<Self::Model<Known>, Diagnostics>;

    /// Reads the real object; `None` when it is gone.
    async fn read(
        &self,
        ctx: &Context,
        current: Self::Model<Known>,
    ) -> Result<Option<Self::Model<Known>>, Diagnostics>;

    /// Changes the real object in place; returns the new state.
    async fn update(
        &self,
        ctx: &Context,
        prior: Self::Model<Known>,
        planned: Self::Model<Known>,
    ) -> Result<Self::Model<Known>, Diagnostics>;

    /// Deletes the real object.
    async fn delete(&self, ctx: &Context, prior: Self::Model<Known>) -> Result<(), Diagnostics>;

    /// Turns an import ID into a state that `read` then completes. `blank` is the state a
    /// configuration setting nothing would have (defaults applied, everything else empty).
    async fn import(
        &self,
        _ctx: &Context,
        _id: &str,
        _blank: Self::Model<Known>,
    ) -> Result<Self::Model<Known>, Diagnostics> {
        Err(Diagnostics::from_error(
            "Import not supported",
            format!("The resource type {} cannot be imported.", self.type_name()),
        ))
    }
}

/// A data source type.
#[async_trait]
pub trait DataSource: Models + Send + Sync + 'static {
    /// The full type name, e.g. `example_images`.
    fn type_name(&self) -> &'static str;

    /// The schema. Derived from the model; override only to adjust what a declaration
    /// cannot say.
    fn schema(&self) -> Schema {
        Schema::of::<Self::Model<Known>>()
    }

    /// Checks a configuration beyond the schema's validators. Values may be unknown.
    async fn validate(&self, _config: &Self::Model<Planned>, _diagnostics: &mut Diagnostics) {}

    /// Reads the data: returns the configuration with the computed attributes filled in.
    async fn read(
        &self,
        ctx: &Context,
        config: Self::Model<Known>,
    ) -> Result<Self::Model<Known>, Diagnostics>;
}

/// The provider: its configuration block and what it serves.
#[async_trait]
pub trait Provider: Models + Send + Sync + 'static {
    /// The provider's local name, the prefix of every type name (`example`); its binary is
    /// `terraform-provider-<name>`.
    fn name(&self) -> &'static str;

    /// The provider block's schema. Derived from the model; override only to adjust what a
    /// declaration cannot say.
    fn schema(&self) -> Schema {
        Schema::of::<Self::Model<Known>>()
    }

    /// Every resource type (each wrapped by [`resource`]).
    fn resources(&self) -> Vec<Arc<dyn crate::erased::AnyResource>>;

    /// Every data source type (each wrapped by [`data_source`]).
    fn data_sources(&self) -> Vec<Arc<dyn crate::erased::AnyDataSource>>;

    /// Checks the provider block beyond its schema's validators. Values may be unknown.
    async fn validate(&self, _config: &Self::Model<Planned>, _diagnostics: &mut Diagnostics) {}

    /// Turns the provider block into what resources need (clients, credentials). Values the
    /// block does not know yet (it refers to resources still to be created) read as `None`.
    async fn configure(
        &self,
        config: Self::Model<Known>,
        terraform_version: &str,
    ) -> Result<ProviderData, Diagnostics>;
}

/// A resource type as the provider lists it.
pub fn resource<R: Resource>(resource: R) -> Arc<dyn crate::erased::AnyResource> {
    Arc::new(crate::erased::Typed(resource))
}

/// A data source type as the provider lists it.
pub fn data_source<D: DataSource>(source: D) -> Arc<dyn crate::erased::AnyDataSource> {
    Arc::new(crate::erased::Typed(source))
}
