//! The provider's declarations checked as a whole: every schema passes Terraform's schema rules,
//! every model agrees with its schema attribute by attribute (in both forms), and `docs/` is
//! the schemas rendered.

use crate::provider::K3sProvider;
use tfplugin_runtime::model::{check, FormKind};
use tfplugin_runtime::{Known, Models, Planned, Provider, Schema};

#[test]
fn every_schema_passes_terraforms_schema_rules() {
    let provider = K3sProvider;
    let mut problems = provider.schema().block.check("provider.");
    for resource in provider.resources() {
        problems.extend(
            resource
                .schema()
                .block
                .check(&format!("{}.", resource.type_name())),
        );
    }
    for source in provider.data_sources() {
        problems.extend(
            source
                .schema()
                .block
                .check(&format!("{}.", source.type_name())),
        );
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Where model `M` and `schema` disagree, in either form.
fn disagreements<M: Models>(schema: &Schema) -> Vec<String> {
    let mut problems = check::<M::Model<Known>>(&schema.block, FormKind::Known);
    problems.extend(
        check::<M::Model<Planned>>(&schema.block, FormKind::Planned)
            .into_iter()
            .map(|p| format!("planned form: {p}")),
    );
    problems
}

macro_rules! agrees {
    ($($test:ident: $type:ty => $schema:expr;)*) => {$(
        #[test]
        fn $test() {
            let problems = disagreements::<$type>(&$schema);
            assert!(problems.is_empty(), "{problems:#?}");
        }
    )*};
}

agrees! {
    the_provider_model_agrees_with_its_schema: K3sProvider => K3sProvider.schema();
    the_k3s_server_model_agrees_with_its_schema: super::k3s_server::K3sServer =>
        tfplugin_runtime::Resource::schema(&super::k3s_server::K3sServer);
    the_k3s_agent_model_agrees_with_its_schema: super::k3s_agent::K3sAgent =>
        tfplugin_runtime::Resource::schema(&super::k3s_agent::K3sAgent);
    the_argocd_bootstrap_model_agrees_with_its_schema: super::argocd_bootstrap::ArgocdBootstrap =>
        tfplugin_runtime::Resource::schema(&super::argocd_bootstrap::ArgocdBootstrap);
    the_k3s_oci_instances_model_agrees_with_its_schema: super::k3s_oci_instances::K3sOciInstances =>
        tfplugin_runtime::DataSource::schema(&super::k3s_oci_instances::K3sOciInstances);
}

/// `docs/` is rendered from the schemas and the examples under
/// `examples/resources/<type>/resource.tf` and `import.sh`
/// (`examples/data-sources/<type>/data-source.tf`); this fails when they drift apart.
/// `UPDATE_DOCS=1` rewrites the pages instead.
#[test]
fn docs_match_the_schemas() {
    use tfplugin_runtime::docs::{render, Kind, Page};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let provider = K3sProvider;
    let mut pages = Vec::new();
    for r in provider.resources() {
        pages.push((
            r.type_name(),
            Kind::Resource,
            r.schema(),
            "resources",
            "resource.tf",
        ));
    }
    for d in provider.data_sources() {
        pages.push((
            d.type_name(),
            Kind::DataSource,
            d.schema(),
            "data-sources",
            "data-source.tf",
        ));
    }
    let mut stale = Vec::new();
    for (name, kind, schema, dir, example_file) in pages {
        let example = std::fs::read_to_string(
            root.join("examples")
                .join(dir)
                .join(name)
                .join(example_file),
        )
        .ok();
        let import =
            std::fs::read_to_string(root.join("examples").join(dir).join(name).join("import.sh"))
                .ok();
        let expected = render(&Page {
            provider: provider.name(),
            type_name: name,
            kind,
            schema: &schema,
            example: example.as_deref(),
            import: import.as_deref(),
            regenerate: "UPDATE_DOCS=1 cargo test -p terraform-provider-k3s docs",
        });
        let page = root
            .join("docs")
            .join(dir)
            .join(format!("{}.md", name.trim_start_matches("k3s_")));
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::create_dir_all(page.parent().unwrap()).unwrap();
            std::fs::write(&page, &expected).unwrap();
        } else if std::fs::read_to_string(&page).ok().as_deref() != Some(expected.as_str()) {
            stale.push(page.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "out of date (run `UPDATE_DOCS=1 cargo test -p terraform-provider-k3s docs`): {stale:?}"
    );
}
