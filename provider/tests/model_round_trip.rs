//! Every model of the provider against random values its schema admits: a state (nulls where
//! the schema allows them, every kind of nested block) read into the known form, and a plan
//! (the same, with plain, refined and partial unknowns anywhere) read into the planned form,
//! each written back exactly as it came. Strings and numbers with validators take values from
//! the samples below that pass them, so the values are ones Terraform would send.

use proptest::prelude::*;
use std::sync::Arc;
use terraform_provider_k3s::provider::K3sProvider;
use terraform_provider_k3s::resources::k3s_agent::K3sAgent;
use tfplugin_runtime::cty::testing::Entropy;
use tfplugin_runtime::cty::Value;
use tfplugin_runtime::erased::{AnyDataSource, AnyProvider, AnyResource, Typed};
use tfplugin_runtime::model::testing::{arbitrary_object, Samples};
use tfplugin_runtime::model::FormKind;
use tfplugin_runtime::{Provider, Resource, Schema};

const SAMPLES: Samples<'static> = Samples {
    strings: &[
        "",
        "x",
        "10.0.0.5",
        "fd00::5",
        "node-1.example.com",
        "v1.33.4+k3s1",
        "v1.34.1+k3s2",
        "v3.5.1",
        "stable",
        "90s",
        "5m",
        "1h30m",
        "0.5s",
        "private",
        "public",
        "git",
        "helm",
        "RUNNING",
        "TERMINATED",
        "https://10.0.0.241:6443",
        "http://mirror.local:8080",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ",
        "ocid1.instance.oc1.phx.abcdef",
        "ocid1.tenancy.oc1..aaaaaaaa",
        "ocid1.user.oc1..aaaaaaaa",
        "ocid1.compartment.oc1..aaaaaaaa",
        "ocid1.networkloadbalancer.oc1.phx.x",
        "installed",
        "root_synced",
        "root_healthy",
        "ssh://git@git.example.com:2222/platform.git",
        "git@git.example.com:platform.git",
        "file:///srv/argocd/install.yaml",
        "795a3a972224da6a7f9d32c3e946445f062b60fb46028476715affeb688236e3",
    ],
    numbers: &[-1, 0, 1, 22, 443, 6443, 65535, 65536],
};

/// Everything the provider serves, with its schema: the provider block, each resource and
/// each data source (a new one is checked here without being named).
fn served() -> Vec<(String, Schema, Arc<dyn Served>)> {
    let provider = K3sProvider;
    let mut all: Vec<(String, Schema, Arc<dyn Served>)> = vec![(
        "provider".into(),
        Provider::schema(&provider),
        Arc::new(Typed(K3sProvider)),
    )];
    for r in provider.resources() {
        all.push((r.type_name().into(), r.schema(), Arc::new(r)));
    }
    for d in provider.data_sources() {
        all.push((d.type_name().into(), d.schema(), Arc::new(d)));
    }
    all
}

/// What the property needs of a served type.
trait Served {
    fn round_trip(&self, value: &Value, form: FormKind) -> Result<(), String>;
}

impl Served for Typed<K3sProvider> {
    fn round_trip(&self, value: &Value, form: FormKind) -> Result<(), String> {
        AnyProvider::round_trip(self, value, form)
    }
}

impl Served for Arc<dyn AnyResource> {
    fn round_trip(&self, value: &Value, form: FormKind) -> Result<(), String> {
        AnyResource::round_trip(self.as_ref(), value, form)
    }
}

impl Served for Arc<dyn AnyDataSource> {
    fn round_trip(&self, value: &Value, form: FormKind) -> Result<(), String> {
        AnyDataSource::round_trip(self.as_ref(), value, form)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn every_model_round_trips_every_value_its_schema_admits(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        for (name, schema, served) in served() {
            for form in [FormKind::Known, FormKind::Planned] {
                let mut e = Entropy::new(&bytes);
                let value = arbitrary_object(&mut e, &schema.block, form, &SAMPLES)
                    .map_err(|e| TestCaseError::fail(format!("{name} {form:?}: {e}")))?;
                if let Err(problem) = served.round_trip(&value, form) {
                    return Err(TestCaseError::fail(format!("{name} {form:?}: {problem}")));
                }
            }
        }
    }
}

/// The generator reaches what the property is about: nulls, unknowns and nested blocks show up
/// in a few hundred draws (so a pass is not a pass over trivial values).
#[test]
fn the_values_drawn_hold_nulls_unknowns_and_nested_blocks() {
    let schema = Resource::schema(&K3sAgent);
    let (mut nulls, mut unknowns, mut blocks) = (0, 0, 0);
    for seed in 0..300u32 {
        let bytes: Vec<u8> = (0..400u32)
            .map(|i| {
                (seed
                    .wrapping_mul(2654435761)
                    .wrapping_add(i.wrapping_mul(40503))
                    >> 7) as u8
            })
            .collect();
        let value = arbitrary_object(
            &mut Entropy::new(&bytes),
            &schema.block,
            FormKind::Planned,
            &SAMPLES,
        )
        .unwrap();
        let text = format!("{value:?}");
        nulls += usize::from(text.contains("Null"));
        unknowns += usize::from(text.contains("Unknown"));
        blocks += usize::from(
            matches!(value.attr("registry_mirror"), Some(Value::List(l)) if !l.is_empty()),
        );
    }
    assert!(
        nulls > 100 && unknowns > 100 && blocks > 50,
        "{nulls} {unknowns} {blocks}"
    );
}
