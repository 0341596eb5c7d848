//! The typed traits of [`mod@crate::resource`] behind object-safe ones the service calls with
//! [`Value`]s: each value is read into the model on the way in and written back on the way
//! out. A value that does not fit its model is a provider bug, reported as such.

use crate::cty::{AttributePath, CtyError, Type, Value};
use crate::diagnostics::{Diagnostics, Severity};
use crate::model::{self, Known, Planned};
use crate::resource::{Context, DataSource, Plan, Provider, ProviderData, Resource};
use crate::schema::Schema;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

/// A typed resource, data source or provider, served through the object-safe traits below.
pub struct Typed<T>(pub T);

/// A resource as the service sees it.
#[async_trait]
pub trait AnyResource: Send + Sync {
    /// See [`Resource::type_name`].
    fn type_name(&self) -> &'static str;
    /// See [`Resource::schema`].
    fn schema(&self) -> Schema;
    /// Where the model and the schema served disagree, in either form (see
    /// [`model::check`]); empty when they agree. For tests over everything a provider serves.
    fn model_disagreements(&self) -> Vec<String>;
    /// Reads `value` into the model in `form` and writes it back; `Err` says what changed
    /// (see [`model::testing::round_trip`]). For tests over everything a provider serves.
    fn round_trip(&self, value: &Value, form: model::FormKind) -> Result<(), String>;
    /// Validates a configuration.
    async fn validate(&self, config: &Value, diagnostics: &mut Diagnostics);
    /// Lets the resource refine `planned`; `prior` is null on create.
    async fn modify_plan(
        &self,
        ctx: &Context,
        prior: &Value,
        config: &Value,
        planned: &mut Value,
        requires_replace: &mut Vec<AttributePath>,
        diagnostics: &mut Diagnostics,
    );
    /// Creates.
    async fn create(&self, ctx: &Context, planned: &Value) -> Result<Value, Diagnostics>;
    /// Reads; null when gone.
    async fn read(&self, ctx: &Context, current: &Value) -> Result<Value, Diagnostics>;
    /// Updates.
    async fn update(
        &self,
        ctx: &Context,
        prior: &Value,
        planned: &Value,
    ) -> Result<Value, Diagnostics>;
    /// Deletes.
    async fn delete(&self, ctx: &Context, prior: &Value) -> Result<(), Diagnostics>;
    /// Imports.
    async fn import(&self, ctx: &Context, id: &str) -> Result<Value, Diagnostics>;
}

/// A data source as the service sees it.
#[async_trait]
pub trait AnyDataSource: Send + Sync {
    /// See [`DataSource::type_name`].
    fn type_name(&self) -> &'static str;
    /// See [`DataSource::schema`].
    fn schema(&self) -> Schema;
    /// Where the model and the schema served disagree, in either form (see
    /// [`model::check`]); empty when they agree. For tests over everything a provider serves.
    fn model_disagreements(&self) -> Vec<String>;
    /// Reads `value` into the model in `form` and writes it back; `Err` says what changed
    /// (see [`model::testing::round_trip`]). For tests over everything a provider serves.
    fn round_trip(&self, value: &Value, form: model::FormKind) -> Result<(), String>;
    /// Validates a configuration.
    async fn validate(&self, config: &Value, diagnostics: &mut Diagnostics);
    /// Reads.
    async fn read(&self, ctx: &Context, config: &Value) -> Result<Value, Diagnostics>;
}

/// A provider as the service sees it.
#[async_trait]
pub trait AnyProvider: Send + Sync {
    /// See [`Provider::name`].
    fn name(&self) -> &'static str;
    /// See [`Provider::schema`].
    fn schema(&self) -> Schema;
    /// Where the model and the schema served disagree, in either form (see
    /// [`model::check`]); empty when they agree. For tests over everything a provider serves.
    fn model_disagreements(&self) -> Vec<String>;
    /// Reads `value` into the model in `form` and writes it back; `Err` says what changed
    /// (see [`model::testing::round_trip`]). For tests over everything a provider serves.
    fn round_trip(&self, value: &Value, form: model::FormKind) -> Result<(), String>;
    /// See [`Provider::resources`].
    fn resources(&self) -> Vec<Arc<dyn AnyResource>>;
    /// See [`Provider::data_sources`].
    fn data_sources(&self) -> Vec<Arc<dyn AnyDataSource>>;
    /// Validates the provider block.
    async fn validate(&self, config: &Value, diagnostics: &mut Diagnostics);
    /// Configures the provider.
    async fn configure(
        &self,
        config: &Value,
        terraform_version: &str,
    ) -> Result<ProviderData, Diagnostics>;
}

fn bug(type_name: &str, what: &str, error: CtyError) -> Diagnostics {
    Diagnostics::from_error(
        format!("{type_name}: the provider cannot read its own {what}"),
        format!(
            "{error}. The model and the schema of {type_name} disagree; this is a bug in the \
            provider, please report it."
        ),
    )
}

fn read<T: DeserializeOwned>(type_name: &str, what: &str, value: &Value) -> Result<T, Diagnostics> {
    model::from_value(value).map_err(|e| bug(type_name, what, e))
}

/// Reads a stored state: one that does not fit may also be from an older provider.
fn read_state<T: DeserializeOwned>(type_name: &str, state: &Value) -> Result<T, Diagnostics> {
    model::from_value(state).map_err(|error| {
        Diagnostics::from_error(
            format!("{type_name}: the stored state cannot be read"),
            format!(
                "{error}. The state was written by another version of the provider that this \
                one cannot read, or this is a bug in the provider; please report it. `terraform \
                state rm` and an import bring the resource back under management."
            ),
        )
    })
}

fn write<T: Serialize>(
    type_name: &str,
    what: &str,
    m: &T,
    ty: &Type,
) -> Result<Value, Diagnostics> {
    model::to_typed_value(m, ty).map_err(|e| bug(type_name, what, e))
}

/// Reads a configuration into its planned-form model, with the schema's defaults applied (so a
/// model field with a default is never null).
fn read_config<T: DeserializeOwned>(schema: &Schema, config: &Value) -> Result<T, CtyError> {
    model::from_value(&crate::plan::with_defaults(&schema.block, config))
}

/// The configuration read for validation; `None` (with the problem reported) when the model
/// cannot take it.
fn config_for_validation<T: DeserializeOwned>(
    schema: &Schema,
    config: &Value,
    diagnostics: &mut Diagnostics,
) -> Option<T> {
    read_config(schema, config)
        .map_err(|e| invalid_config(e, diagnostics))
        .ok()
}

/// A configuration value the model cannot take (a number out of range, a name not in a list,
/// a required attribute set to null) is the user's error, at its path; unless a validator has
/// already said what is wrong there.
fn invalid_config(error: CtyError, diagnostics: &mut Diagnostics) {
    let reported = diagnostics
        .0
        .iter()
        .any(|d| d.severity == Severity::Error && d.path.as_ref() == Some(&error.path));
    if !reported {
        diagnostics.error_at(error.path, "Invalid configuration", error.message);
    }
}

#[async_trait]
impl<R: Resource> AnyResource for Typed<R> {
    fn type_name(&self) -> &'static str {
        self.0.type_name()
    }

    model_methods!(R);

    async fn validate(&self, config: &Value, diagnostics: &mut Diagnostics) {
        let schema = self.0.schema();
        if let Some(config) =
            config_for_validation::<R::Model<Planned>>(&schema, config, diagnostics)
        {
            self.0.validate(&config, diagnostics).await;
        }
    }

    async fn modify_plan(
        &self,
        ctx: &Context,
        prior: &Value,
        config: &Value,
        planned: &mut Value,
        requires_replace: &mut Vec<AttributePath>,
        diagnostics: &mut Diagnostics,
    ) {
        let name = self.0.type_name();
        let schema = self.0.schema();
        let ty = schema.ty();
        let plan = (|| {
            Ok::<_, Diagnostics>(Plan::<R> {
                prior: match prior {
                    Value::Null => None,
                    prior => Some(read_state(name, prior)?),
                },
                config: read_config(&schema, config).map_err(|e| {
                    let mut d = Diagnostics::new();
                    invalid_config(e, &mut d);
                    d
                })?,
                planned: read(name, "plan", planned)?,
                requires_replace: std::mem::take(requires_replace),
            })
        })();
        let mut plan = match plan {
            Ok(plan) => plan,
            Err(d) => return diagnostics.extend(d),
        };
        self.0.modify_plan(ctx, &mut plan, diagnostics).await;
        *requires_replace = plan.requires_replace;
        match write(name, "plan", &plan.planned, &ty) {
            Ok(value) => *planned = value,
            Err(d) => diagnostics.extend(d),
        }
    }

    async fn create(&self, ctx: &Context, planned: &Value) -> Result<Value, Diagnostics> {
        let name = self.0.type_name();
        let planned = model::from_planned(planned).map_err(|e| bug(name, "plan", e))?;
        let state = self.0.create(ctx, planned).await?;
        write(name, "new state", &state, &self.0.schema().ty())
    }

    async fn read(&self, ctx: &Context, current: &Value) -> Result<Value, Diagnostics> {
        let name = self.0.type_name();
        let current = read_state(name, current)?;
        match self.0.read(ctx, current).await? {
            Some(state) => write(name, "state", &state, &self.0.schema().ty()),
            None => Ok(Value::Null),
        }
    }

    async fn update(
        &self,
        ctx: &Context,
        prior: &Value,
        planned: &Value,
    ) -> Result<Value, Diagnostics> {
        let name = self.0.type_name();
        let prior = read_state(name, prior)?;
        let planned = model::from_planned(planned).map_err(|e| bug(name, "plan", e))?;
        let state = self.0.update(ctx, prior, planned).await?;
        write(name, "new state", &state, &self.0.schema().ty())
    }

    async fn delete(&self, ctx: &Context, prior: &Value) -> Result<(), Diagnostics> {
        let prior = read_state(self.0.type_name(), prior)?;
        self.0.delete(ctx, prior).await
    }

    async fn import(&self, ctx: &Context, id: &str) -> Result<Value, Diagnostics> {
        let name = self.0.type_name();
        let schema = self.0.schema();
        let blank: R::Model<Known> = model::from_blank(&schema.block.unset_value())
            .map_err(|e| bug(name, "blank state", e))?;
        let state = self.0.import(ctx, id, blank).await?;
        write(name, "imported state", &state, &schema.ty())
    }
}

#[async_trait]
impl<D: DataSource> AnyDataSource for Typed<D> {
    fn type_name(&self) -> &'static str {
        self.0.type_name()
    }

    model_methods!(D);

    async fn validate(&self, config: &Value, diagnostics: &mut Diagnostics) {
        let schema = self.0.schema();
        if let Some(config) =
            config_for_validation::<D::Model<Planned>>(&schema, config, diagnostics)
        {
            self.0.validate(&config, diagnostics).await;
        }
    }

    async fn read(&self, ctx: &Context, config: &Value) -> Result<Value, Diagnostics> {
        let name = self.0.type_name();
        let schema = self.0.schema();
        let config = model::from_value(&crate::plan::with_defaults(&schema.block, config))
            .map_err(|e| bug(name, "configuration", e))?;
        let state = self.0.read(ctx, config).await?;
        write(name, "data", &state, &self.0.schema().ty())
    }
}

#[async_trait]
impl<P: Provider> AnyProvider for Typed<P> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    model_methods!(P);

    fn resources(&self) -> Vec<Arc<dyn AnyResource>> {
        self.0.resources()
    }

    fn data_sources(&self) -> Vec<Arc<dyn AnyDataSource>> {
        self.0.data_sources()
    }

    async fn validate(&self, config: &Value, diagnostics: &mut Diagnostics) {
        let schema = self.0.schema();
        if let Some(config) =
            config_for_validation::<P::Model<Planned>>(&schema, config, diagnostics)
        {
            self.0.validate(&config, diagnostics).await;
        }
    }

    async fn configure(
        &self,
        config: &Value,
        terraform_version: &str,
    ) -> Result<ProviderData, Diagnostics> {
        let schema = self.0.schema();
        let config = model::from_planned(&crate::plan::with_defaults(&schema.block, config))
            .map_err(|e| {
                Diagnostics::from_error(
                    "The provider block cannot be used yet",
                    format!(
                        "{e}. The provider block refers to a value that is not known before \
                        apply (or one it cannot take); give it values known at plan time."
                    ),
                )
            })?;
        self.0.configure(config, terraform_version).await
    }
}

/// The methods every erased type has alike: its schema, and its model checked against it.
macro_rules! model_methods {
    ($typed:ident) => {
        fn schema(&self) -> Schema {
            self.0.schema()
        }

        fn model_disagreements(&self) -> Vec<String> {
            disagreements::<$typed::Model<Known>, $typed::Model<Planned>>(&self.0.schema())
        }

        fn round_trip(&self, value: &Value, form: model::FormKind) -> Result<(), String> {
            round_trip::<$typed::Model<Known>, $typed::Model<Planned>>(
                &self.0.schema(),
                value,
                form,
            )
        }
    };
}
use model_methods;

fn disagreements<K: DeserializeOwned, P: DeserializeOwned>(schema: &Schema) -> Vec<String> {
    let mut problems = model::check::<K>(&schema.block, model::FormKind::Known);
    problems.extend(
        model::check::<P>(&schema.block, model::FormKind::Planned)
            .into_iter()
            .map(|p| format!("planned form: {p}")),
    );
    problems
}

fn round_trip<K, P>(schema: &Schema, value: &Value, form: model::FormKind) -> Result<(), String>
where
    K: DeserializeOwned + Serialize,
    P: DeserializeOwned + Serialize,
{
    match form {
        model::FormKind::Known => model::testing::round_trip::<K>(value, &schema.ty()),
        model::FormKind::Planned => model::testing::round_trip::<P>(value, &schema.ty()),
    }
}
