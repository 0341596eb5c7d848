//! The service's protocol rules, exercised with a resource that misbehaves on purpose.

use super::*;
use crate::cty;
use crate::model::{Form, Known};
use crate::resource::{Models, Provider, Resource};
use crate::schema::ModelSchema;
use async_trait::async_trait;
use provider_server::Provider as _;
use serde::{Deserialize, Serialize};

/// A resource that misbehaves on purpose: its create echoes a different name than planned.
struct Careless;

/// t
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
#[serde(bound = "")]
struct CarelessModel<F: Form = Known> {
    #[tf(computed, stable)]
    id: F::Of<Option<String>>,
    #[tf(requires_replace)]
    name: F::Of<String>,
    #[tf(write_only)]
    secret: F::Of<Option<String>>,
}

impl Models for Careless {
    type Model<F: Form> = CarelessModel<F>;
}

#[async_trait]
impl Resource for Careless {
    fn type_name(&self) -> &'static str {
        "test_careless"
    }
    async fn create(
        &self,
        _: &Context,
        planned: CarelessModel,
    ) -> Result<CarelessModel, Diagnostics> {
        Ok(CarelessModel {
            id: Some("x1".into()),
            name: "not-what-was-planned".into(),
            ..planned
        })
    }
    async fn read(
        &self,
        _: &Context,
        current: CarelessModel,
    ) -> Result<Option<CarelessModel>, Diagnostics> {
        Ok(Some(current))
    }
    async fn update(
        &self,
        _: &Context,
        _: CarelessModel,
        planned: CarelessModel,
    ) -> Result<CarelessModel, Diagnostics> {
        Ok(planned)
    }
    async fn delete(&self, _: &Context, _: CarelessModel) -> Result<(), Diagnostics> {
        Ok(())
    }
}

struct TestProvider;

/// p
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
struct NoSettings {}

impl Models for TestProvider {
    type Model<F: Form> = NoSettings;
}

#[async_trait]
impl Provider for TestProvider {
    fn name(&self) -> &'static str {
        "test"
    }
    fn resources(&self) -> Vec<Arc<dyn AnyResource>> {
        vec![crate::resource(Careless)]
    }
    fn data_sources(&self) -> Vec<Arc<dyn AnyDataSource>> {
        Vec::new()
    }
    async fn configure(&self, _: NoSettings, _: &str) -> Result<ProviderData, Diagnostics> {
        Ok(Arc::new(()))
    }
}

fn service() -> ProviderService {
    ProviderService::new(Arc::new(crate::erased::Typed(TestProvider)))
}

fn dynamic(value: &Value) -> Option<proto::DynamicValue> {
    let ty = Careless.schema().ty();
    Some(proto::DynamicValue {
        msgpack: cty::to_msgpack(value, &ty).unwrap(),
        json: Vec::new(),
    })
}

fn object(id: Value, name: &str, secret: Value) -> Value {
    Value::object([
        ("id", id),
        ("name", Value::string(name)),
        ("secret", secret),
    ])
}

#[tokio::test]
async fn plans_follow_the_protocol_and_bad_applies_become_clear_errors() {
    let service = service();
    let ty = Careless.schema().ty();
    let config = object(Value::Null, "a", Value::string("s3cret"));

    // Create: id unknown, the write-only secret planned null.
    let plan = service
        .plan_resource_change(Request::new(proto::plan_resource_change::Request {
            type_name: "test_careless".into(),
            prior_state: dynamic(&Value::Null),
            proposed_new_state: dynamic(&config),
            config: dynamic(&config),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(plan.diagnostics.is_empty(), "{:?}", plan.diagnostics);
    let planned = cty::from_msgpack(&plan.planned_state.unwrap().msgpack, &ty).unwrap();
    assert_eq!(planned, object(Value::unknown(), "a", Value::Null));

    // Apply: the resource returns another name; the runtime reports it at `name`.
    let applied = service
        .apply_resource_change(Request::new(proto::apply_resource_change::Request {
            type_name: "test_careless".into(),
            prior_state: dynamic(&Value::Null),
            planned_state: dynamic(&planned),
            config: dynamic(&config),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(applied.diagnostics.len(), 1, "{:?}", applied.diagnostics);
    let problem = &applied.diagnostics[0];
    assert!(
        problem.summary.contains("does not match its plan"),
        "{}",
        problem.summary
    );
    let step = &problem.attribute.as_ref().unwrap().steps[0];
    assert_eq!(
        step.selector,
        Some(proto::attribute_path::step::Selector::AttributeName(
            "name".into()
        ))
    );

    // A rename of a requires-replace attribute is flagged; an unchanged config plans the prior
    // state exactly.
    let prior = object(Value::string("x1"), "a", Value::Null);
    let renamed = object(Value::string("x1"), "b", Value::Null);
    let replan = service
        .plan_resource_change(Request::new(proto::plan_resource_change::Request {
            type_name: "test_careless".into(),
            prior_state: dynamic(&prior),
            proposed_new_state: dynamic(&renamed),
            config: dynamic(&object(Value::Null, "b", Value::Null)),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replan.requires_replace.len(), 1);
    let same = service
        .plan_resource_change(Request::new(proto::plan_resource_change::Request {
            type_name: "test_careless".into(),
            prior_state: dynamic(&prior),
            proposed_new_state: dynamic(&prior),
            config: dynamic(&object(Value::Null, "a", Value::Null)),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        cty::from_msgpack(&same.planned_state.unwrap().msgpack, &ty).unwrap(),
        prior
    );
    assert!(same.requires_replace.is_empty());
}

#[tokio::test]
async fn unknown_types_answer_with_a_diagnostic_not_a_transport_error() {
    let service = service();
    let response = service
        .read_resource(Request::new(proto::read_resource::Request {
            type_name: "test_nope".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.diagnostics.len(), 1);
    assert!(response.diagnostics[0].detail.contains("test_nope"));
}
