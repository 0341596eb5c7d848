//! The `tfplugin6.Provider` gRPC service: decodes each request, applies the protocol's rules
//! around the provider's resources and data sources, and encodes the answer. Errors are
//! answered as diagnostics, never as gRPC failures, so Terraform shows them to the user.

use super::convert::{self, decode, encode};
use super::cty::{AttributePath, Value};
use super::diagnostics::Diagnostics;
use super::erased::{AnyDataSource, AnyProvider, AnyResource};
use super::plan;
use super::resource::{Context, ProviderData};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tfplugin_proto::tfplugin6 as proto;
use tfplugin_proto::tfplugin6::provider_server;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// Serves one provider over the protocol.
pub struct ProviderService {
    provider: Arc<dyn AnyProvider>,
    /// `terraform-provider-<name>`, as messages name it.
    binary: String,
    resources: HashMap<String, Arc<dyn AnyResource>>,
    data_sources: HashMap<String, Arc<dyn AnyDataSource>>,
    configured: RwLock<Option<ProviderData>>,
    stop: Mutex<CancellationToken>,
}

impl ProviderService {
    /// Prepares to serve `provider`.
    pub fn new(provider: Arc<dyn AnyProvider>) -> ProviderService {
        let resources = provider
            .resources()
            .into_iter()
            .map(|r| (r.type_name().to_owned(), r))
            .collect();
        let data_sources = provider
            .data_sources()
            .into_iter()
            .map(|d| (d.type_name().to_owned(), d))
            .collect();
        ProviderService {
            binary: format!("terraform-provider-{}", provider.name()),
            provider,
            resources,
            data_sources,
            configured: RwLock::new(None),
            stop: Mutex::new(CancellationToken::new()),
        }
    }

    fn context(&self, private: Vec<u8>) -> Context {
        let cancel = self.stop.lock().expect("stop token").child_token();
        Context::new(
            self.configured.read().expect("provider data").clone(),
            cancel,
            private,
        )
    }

    fn resource(&self, type_name: &str) -> Result<Arc<dyn AnyResource>, Diagnostics> {
        self.resources.get(type_name).cloned().ok_or_else(|| {
            Diagnostics::from_error(
                "Unknown resource type",
                format!("{} has no resource type {type_name:?}.", self.binary),
            )
        })
    }

    fn data_source(&self, type_name: &str) -> Result<Arc<dyn AnyDataSource>, Diagnostics> {
        self.data_sources.get(type_name).cloned().ok_or_else(|| {
            Diagnostics::from_error(
                "Unknown data source",
                format!("{} has no data source {type_name:?}.", self.binary),
            )
        })
    }

    async fn plan(
        &self,
        r: proto::plan_resource_change::Request,
    ) -> Result<proto::plan_resource_change::Response, Diagnostics> {
        let resource = self.resource(&r.type_name)?;
        let schema = resource.schema();
        let ty = schema.ty();
        let prior = decode(r.prior_state.as_ref(), &ty, "prior state")?;
        let proposed = decode(r.proposed_new_state.as_ref(), &ty, "proposed state")?;
        let config = decode(r.config.as_ref(), &ty, "configuration")?;
        if proposed.is_null() {
            // Destroy: the plan is null, private state carries over.
            return Ok(proto::plan_resource_change::Response {
                planned_state: Some(encode(&Value::Null, &ty, "plan")?),
                planned_private: r.prior_private,
                ..Default::default()
            });
        }
        let changed = prior.is_null() || proposed != prior;
        let mut planned = plan::mark_computed(&schema.block, &prior, &proposed, &config, changed);
        let mut requires_replace = plan::requires_replace(&schema.block, &prior, &planned);
        let ctx = self.context(r.prior_private);
        let mut diagnostics = Diagnostics::new();
        resource
            .modify_plan(
                &ctx,
                &prior,
                &config,
                &mut planned,
                &mut requires_replace,
                &mut diagnostics,
            )
            .await;
        for (path, problem) in plan::check_plan(
            &schema.block,
            &prior,
            &config,
            &planned,
            &AttributePath::root(),
        ) {
            diagnostics.error_at(
                path,
                format!("{} planned a value Terraform would reject", r.type_name),
                format!(
                    "{problem}. This is a bug in {}; please report it.",
                    self.binary
                ),
            );
        }
        if !changed && planned == proposed {
            planned = prior.clone();
        }
        diagnostics.extend(ctx.take_warnings());
        Ok(proto::plan_resource_change::Response {
            planned_state: Some(encode(&planned, &ty, "plan")?),
            requires_replace: requires_replace
                .iter()
                .map(convert::attribute_path)
                .collect(),
            planned_private: ctx.private(),
            diagnostics: convert::diagnostics(diagnostics),
            ..Default::default()
        })
    }

    async fn apply(
        &self,
        r: proto::apply_resource_change::Request,
    ) -> Result<proto::apply_resource_change::Response, Diagnostics> {
        let resource = self.resource(&r.type_name)?;
        let schema = resource.schema();
        let ty = schema.ty();
        let prior = decode(r.prior_state.as_ref(), &ty, "prior state")?;
        let planned = decode(r.planned_state.as_ref(), &ty, "planned state")?;
        let ctx = self.context(r.planned_private);
        let mut diagnostics = Diagnostics::new();
        let what = |verb: &str| format!("The {verb} of {}", r.type_name);
        let new_state = if planned.is_null() {
            match ctx
                .unless_cancelled(&what("delete"), resource.delete(&ctx, &prior))
                .await
            {
                Ok(()) => Value::Null,
                Err(d) => {
                    diagnostics.extend(d);
                    prior
                }
            }
        } else {
            let outcome = if prior.is_null() {
                ctx.unless_cancelled(&what("create"), resource.create(&ctx, &planned))
                    .await
            } else {
                ctx.unless_cancelled(&what("update"), resource.update(&ctx, &prior, &planned))
                    .await
            };
            match outcome {
                Ok(state) => {
                    for (path, problem) in
                        plan::check_applied(&schema.block, &planned, &state, &AttributePath::root())
                    {
                        let detail = format!(
                            "{path}: {problem}. The result is saved so nothing is \
                            lost; this is a bug in {}, please report it.",
                            self.binary
                        );
                        diagnostics.error_at(
                            path,
                            format!(
                                "{} produced a result that does not match its plan",
                                r.type_name
                            ),
                            detail,
                        );
                    }
                    state
                }
                Err(d) => {
                    diagnostics.extend(d);
                    // A create that got part of the way: what exists is saved (and tainted by
                    // Terraform), so nothing is left behind that state does not know of.
                    match ctx.take_partial_state() {
                        Some(partial) if prior.is_null() => crate::model::conform(partial, &ty),
                        _ => prior,
                    }
                }
            }
        };
        diagnostics.extend(ctx.take_warnings());
        Ok(proto::apply_resource_change::Response {
            new_state: Some(encode(&new_state, &ty, "new state")?),
            private: ctx.private(),
            diagnostics: convert::diagnostics(diagnostics),
            ..Default::default()
        })
    }
}

/// Answers with the diagnostics of a failed step inside an otherwise empty response.
fn or_diagnostics<T: Default>(
    result: Result<T, Diagnostics>,
    set: impl FnOnce(&mut T, Vec<proto::Diagnostic>),
) -> Result<Response<T>, Status> {
    Ok(Response::new(result.unwrap_or_else(|d| {
        let mut response = T::default();
        set(&mut response, convert::diagnostics(d));
        response
    })))
}

#[tonic::async_trait]
impl provider_server::Provider for ProviderService {
    async fn get_metadata(
        &self,
        _: Request<proto::get_metadata::Request>,
    ) -> Result<Response<proto::get_metadata::Response>, Status> {
        use proto::get_metadata as m;
        Ok(Response::new(m::Response {
            server_capabilities: Some(capabilities()),
            resources: self
                .resources
                .keys()
                .map(|t| m::ResourceMetadata {
                    type_name: t.clone(),
                })
                .collect(),
            data_sources: self
                .data_sources
                .keys()
                .map(|t| m::DataSourceMetadata {
                    type_name: t.clone(),
                })
                .collect(),
            ..Default::default()
        }))
    }

    async fn get_provider_schema(
        &self,
        _: Request<proto::get_provider_schema::Request>,
    ) -> Result<Response<proto::get_provider_schema::Response>, Status> {
        Ok(Response::new(proto::get_provider_schema::Response {
            provider: Some(convert::schema(&self.provider.schema())),
            resource_schemas: self
                .resources
                .iter()
                .map(|(t, r)| (t.clone(), convert::schema(&r.schema())))
                .collect(),
            data_source_schemas: self
                .data_sources
                .iter()
                .map(|(t, d)| (t.clone(), convert::schema(&d.schema())))
                .collect(),
            server_capabilities: Some(capabilities()),
            ..Default::default()
        }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<proto::get_resource_identity_schemas::Request>,
    ) -> Result<Response<proto::get_resource_identity_schemas::Response>, Status> {
        Ok(Response::new(Default::default()))
    }

    async fn validate_provider_config(
        &self,
        request: Request<proto::validate_provider_config::Request>,
    ) -> Result<Response<proto::validate_provider_config::Response>, Status> {
        let r = request.into_inner();
        let schema = self.provider.schema();
        let result = async {
            let config = decode(r.config.as_ref(), &schema.ty(), "provider configuration")?;
            let mut diagnostics = Diagnostics::new();
            schema
                .block
                .validate(&config, &AttributePath::root(), &mut diagnostics);
            self.provider.validate(&config, &mut diagnostics).await;
            Ok(proto::validate_provider_config::Response {
                diagnostics: convert::diagnostics(diagnostics),
            })
        }
        .await;
        or_diagnostics(result, |r, d| r.diagnostics = d)
    }

    async fn validate_resource_config(
        &self,
        request: Request<proto::validate_resource_config::Request>,
    ) -> Result<Response<proto::validate_resource_config::Response>, Status> {
        let r = request.into_inner();
        let result = async {
            let resource = self.resource(&r.type_name)?;
            let schema = resource.schema();
            let config = decode(r.config.as_ref(), &schema.ty(), "configuration")?;
            let mut diagnostics = Diagnostics::new();
            schema
                .block
                .validate(&config, &AttributePath::root(), &mut diagnostics);
            resource.validate(&config, &mut diagnostics).await;
            Ok(proto::validate_resource_config::Response {
                diagnostics: convert::diagnostics(diagnostics),
            })
        }
        .await;
        or_diagnostics(result, |r, d| r.diagnostics = d)
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<proto::validate_data_resource_config::Request>,
    ) -> Result<Response<proto::validate_data_resource_config::Response>, Status> {
        let r = request.into_inner();
        let result = async {
            let source = self.data_source(&r.type_name)?;
            let schema = source.schema();
            let config = decode(r.config.as_ref(), &schema.ty(), "configuration")?;
            let mut diagnostics = Diagnostics::new();
            schema
                .block
                .validate(&config, &AttributePath::root(), &mut diagnostics);
            source.validate(&config, &mut diagnostics).await;
            Ok(proto::validate_data_resource_config::Response {
                diagnostics: convert::diagnostics(diagnostics),
            })
        }
        .await;
        or_diagnostics(result, |r, d| r.diagnostics = d)
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<proto::upgrade_resource_state::Request>,
    ) -> Result<Response<proto::upgrade_resource_state::Response>, Status> {
        let r = request.into_inner();
        let result = (|| {
            let resource = self.resource(&r.type_name)?;
            let schema = resource.schema();
            if r.version > schema.version {
                return Err(Diagnostics::from_error(
                    "State from a newer provider",
                    format!(
                        "The state of this {} was written by a newer {} (schema version {}, \
                        this one knows {}). Upgrade the provider.",
                        r.type_name, self.binary, r.version, schema.version
                    ),
                ));
            }
            let raw = r.raw_state.unwrap_or_default();
            let value = if raw.json.is_empty() {
                Value::Null
            } else {
                let fitted = convert::fit_json_state(&raw.json, &schema.block).map_err(|e| {
                    Diagnostics::from_error(
                        "Unreadable state",
                        format!(
                            "The stored state of this {} is not valid JSON: {e}",
                            r.type_name
                        ),
                    )
                })?;
                decode(
                    Some(&proto::DynamicValue {
                        msgpack: Vec::new(),
                        json: fitted,
                    }),
                    &schema.ty(),
                    "stored state",
                )?
            };
            // State written before an attribute got a default (or a block became a group)
            // holds nulls there: the schema's defaults take their place.
            let value = plan::upgrade_defaults(&schema.block, &value);
            Ok(proto::upgrade_resource_state::Response {
                upgraded_state: Some(encode(&value, &schema.ty(), "upgraded state")?),
                diagnostics: Vec::new(),
            })
        })();
        or_diagnostics(result, |r, d| r.diagnostics = d)
    }

    async fn configure_provider(
        &self,
        request: Request<proto::configure_provider::Request>,
    ) -> Result<Response<proto::configure_provider::Response>, Status> {
        let r = request.into_inner();
        let result = async {
            let config = decode(
                r.config.as_ref(),
                &self.provider.schema().ty(),
                "provider configuration",
            )?;
            let data = self
                .provider
                .configure(&config, &r.terraform_version)
                .await?;
            *self.configured.write().expect("provider data") = Some(data);
            Ok(proto::configure_provider::Response::default())
        }
        .await;
        or_diagnostics(result, |r, d| r.diagnostics = d)
    }

    async fn read_resource(
        &self,
        request: Request<proto::read_resource::Request>,
    ) -> Result<Response<proto::read_resource::Response>, Status> {
        let r = request.into_inner();
        let result = async {
            let resource = self.resource(&r.type_name)?;
            let ty = resource.schema().ty();
            let current = decode(r.current_state.as_ref(), &ty, "current state")?;
            if current.is_null() {
                return Ok(proto::read_resource::Response {
                    new_state: Some(encode(&Value::Null, &ty, "state")?),
                    private: r.private,
                    ..Default::default()
                });
            }
            let ctx = self.context(r.private);
            let what = format!("Reading {}", r.type_name);
            let new_state = ctx
                .unless_cancelled(&what, resource.read(&ctx, &current))
                .await?;
            Ok(proto::read_resource::Response {
                new_state: Some(encode(&new_state, &ty, "state")?),
                private: ctx.private(),
                diagnostics: convert::diagnostics(ctx.take_warnings()),
                ..Default::default()
            })
        }
        .await;
        or_diagnostics(result, |r, d| r.diagnostics = d)
    }

    async fn plan_resource_change(
        &self,
        request: Request<proto::plan_resource_change::Request>,
    ) -> Result<Response<proto::plan_resource_change::Response>, Status> {
        or_diagnostics(self.plan(request.into_inner()).await, |r, d| {
            r.diagnostics = d
        })
    }

    async fn apply_resource_change(
        &self,
        request: Request<proto::apply_resource_change::Request>,
    ) -> Result<Response<proto::apply_resource_change::Response>, Status> {
        or_diagnostics(self.apply(request.into_inner()).await, |r, d| {
            r.diagnostics = d
        })
    }

    async fn import_resource_state(
        &self,
        request: Request<proto::import_resource_state::Request>,
    ) -> Result<Response<proto::import_resource_state::Response>, Status> {
        let r = request.into_inner();
        let result = async {
            let resource = self.resource(&r.type_name)?;
            let ty = resource.schema().ty();
            let ctx = self.context(Vec::new());
            let state = ctx
                .unless_cancelled("The import", resource.import(&ctx, &r.id))
                .await?;
            Ok(proto::import_resource_state::Response {
                imported_resources: vec![proto::import_resource_state::ImportedResource {
                    type_name: r.type_name.clone(),
                    state: Some(encode(&state, &ty, "imported state")?),
                    private: ctx.private(),
                    identity: None,
                }],
                diagnostics: convert::diagnostics(ctx.take_warnings()),
                deferred: None,
            })
        }
        .await;
        or_diagnostics(result, |r, d| r.diagnostics = d)
    }

    async fn read_data_source(
        &self,
        request: Request<proto::read_data_source::Request>,
    ) -> Result<Response<proto::read_data_source::Response>, Status> {
        let r = request.into_inner();
        let result = async {
            let source = self.data_source(&r.type_name)?;
            let ty = source.schema().ty();
            let config = decode(r.config.as_ref(), &ty, "configuration")?;
            let ctx = self.context(Vec::new());
            let state = ctx
                .unless_cancelled("Reading the data source", source.read(&ctx, &config))
                .await?;
            Ok(proto::read_data_source::Response {
                state: Some(encode(&state, &ty, "data")?),
                diagnostics: convert::diagnostics(ctx.take_warnings()),
                deferred: None,
            })
        }
        .await;
        or_diagnostics(result, |r, d| r.diagnostics = d)
    }

    async fn stop_provider(
        &self,
        _: Request<proto::stop_provider::Request>,
    ) -> Result<Response<proto::stop_provider::Response>, Status> {
        // Cancel what is in flight; later requests get a fresh token. The server keeps serving.
        let mut token = self.stop.lock().expect("stop token");
        token.cancel();
        *token = CancellationToken::new();
        tracing::info!("stop requested: in-flight operations cancelled");
        Ok(Response::new(proto::stop_provider::Response::default()))
    }
}

fn capabilities() -> proto::ServerCapabilities {
    proto::ServerCapabilities {
        plan_destroy: true,
        get_provider_schema_optional: true,
        move_resource_state: false,
        generate_resource_config: false,
    }
}

#[cfg(test)]
mod tests;
