//! The provider's declarations checked as a whole: every schema passes Terraform's schema rules,
//! every model agrees with its schema attribute by attribute (in both forms), and `docs/` is
//! the schemas rendered.

use crate::provider::K3sProvider;
use tfplugin_runtime::erased::{AnyProvider, Typed};
use tfplugin_runtime::Provider;

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

/// Every model the provider serves (its own block, each resource and data source) agrees with
/// the schema it serves, attribute by attribute, in both forms: a new resource is checked here
/// without being named.
#[test]
fn every_model_agrees_with_its_schema() {
    let provider = K3sProvider;
    let mut problems: Vec<String> = Typed(K3sProvider)
        .model_disagreements()
        .into_iter()
        .map(|p| format!("provider: {p}"))
        .collect();
    for r in provider.resources() {
        let name = r.type_name();
        problems.extend(
            r.model_disagreements()
                .into_iter()
                .map(|p| format!("{name}: {p}")),
        );
    }
    for d in provider.data_sources() {
        let name = d.type_name();
        problems.extend(
            d.model_disagreements()
                .into_iter()
                .map(|p| format!("{name}: {p}")),
        );
    }
    assert!(problems.is_empty(), "{problems:#?}");
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
    let (mut stale, mut missing) = (Vec::new(), Vec::new());
    for (name, kind, schema, dir, example_file) in pages {
        let examples = root.join("examples").join(dir).join(name);
        let mut read = |file: &str| {
            let path = examples.join(file);
            let text = std::fs::read_to_string(&path).ok();
            if text.is_none() {
                missing.push(path.display().to_string());
            }
            text
        };
        let example = read(example_file);
        // Every resource can be imported, and its page shows how.
        let import = match kind {
            Kind::Resource => read("import.sh"),
            Kind::DataSource => None,
        };
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
        missing.is_empty(),
        "every page needs its examples (see docs/contributing.md): {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "out of date (run `UPDATE_DOCS=1 cargo test -p terraform-provider-k3s docs`): {stale:?}"
    );
}
