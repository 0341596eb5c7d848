//! The model codec against hand-written values: exact round trips in both forms, the three
//! readings, embedded models, errors with paths, and the model/schema check catching drift.

use super::*;
use crate::cty::{Refinements, Type};
use crate::schema::{Attribute, Block, NestedBlock, Schema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
struct Base<F: Form = Known> {
    id: F::Of<Option<String>>,
    port: F::Of<u16>,
    tags: F::Of<Option<BTreeMap<String, String>>>,
    zones: F::Of<Option<Vec<String>>>,
    settings: F::Of<Value>,
    wait: F::Of<Duration>,
    name: F::Of<String>,
    ssh: F::Of<Option<Ssh>>,
    mirror: F::Of<Vec<Mirror>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Ssh {
    user: Option<String>,
    agent: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Mirror {
    registry: String,
    endpoints: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
struct Server<F: Form = Known> {
    #[serde(rename = "$base")]
    base: Base<F>,
    token: F::Of<Option<String>>,
}

fn schema() -> Schema {
    let ssh = Block::new("ssh")
        .attribute(Attribute::optional("user", Type::String))
        .attribute(Attribute::optional("agent", Type::Bool).default(Value::Bool(false)));
    let mirror = Block::new("mirror")
        .attribute(Attribute::required("registry", Type::String))
        .attribute(Attribute::required("endpoints", Type::list(Type::String)));
    Schema::new(
        Block::new("server")
            .attribute(Attribute::computed("id", Type::String))
            .attribute(Attribute::optional("port", Type::Number).default(Value::int(22)))
            .attribute(Attribute::optional("tags", Type::map(Type::String)))
            .attribute(Attribute::optional("zones", Type::set(Type::String)))
            .attribute(Attribute::optional("settings", Type::Dynamic))
            .attribute(Attribute::optional("wait", Type::String).default(Value::string("5m")))
            .attribute(Attribute::required("name", Type::String))
            .attribute(Attribute::optional("token", Type::String).sensitive())
            .block(NestedBlock::single("ssh", ssh))
            .block(NestedBlock::list("mirror", mirror)),
    )
}

fn state() -> Value {
    let settings = Value::from_plain_json(&serde_json::json!({ "tls-san": ["a", "b"] }));
    Value::object([
        ("id", Value::string("ssh://root@10.0.0.5:22")),
        ("port", Value::int(2222)),
        (
            "tags",
            Value::Map([("role".to_owned(), Value::string("edge"))].into()),
        ),
        (
            "zones",
            Value::Set(vec![Value::string("a"), Value::string("b")]),
        ),
        ("settings", settings),
        ("wait", Value::string("90s")),
        ("name", Value::string("edge-1")),
        ("token", Value::Null),
        (
            "ssh",
            Value::object([
                ("user", Value::string("ubuntu")),
                ("agent", Value::Bool(true)),
            ]),
        ),
        (
            "mirror",
            Value::List(vec![Value::object([
                ("registry", Value::string("docker.io")),
                (
                    "endpoints",
                    Value::List(vec![Value::string("https://zot:5000")]),
                ),
            ])]),
        ),
    ])
}

#[test]
fn a_known_state_round_trips_exactly_through_its_model() {
    let ty = schema().ty();
    let server: Server = from_value(&state()).unwrap();
    assert_eq!(server.base.port, 2222);
    assert_eq!(server.base.wait.get(), std::time::Duration::from_secs(90));
    assert_eq!(
        server.base.ssh.as_ref().unwrap().user.as_deref(),
        Some("ubuntu")
    );
    assert_eq!(server.base.mirror[0].endpoints, vec!["https://zot:5000"]);
    assert_eq!(to_typed_value(&server, &ty).unwrap(), state());
    // Without the type, the set comes back a list: `conform` is what makes it a set again.
    assert!(matches!(
        to_value(&server).unwrap().attr("zones"),
        Some(Value::List(_))
    ));
}

#[test]
fn a_plan_keeps_every_unknown_exactly_as_it_came() {
    let ty = schema().ty();
    let refined = Value::Unknown(Refinements {
        not_null: true,
        string_prefix: Some("ssh://".into()),
        ..Refinements::default()
    });
    let partly = Value::Map(
        [
            ("role".to_owned(), Value::string("edge")),
            ("zone".to_owned(), Value::unknown()),
        ]
        .into(),
    );
    let mut plan = state();
    if let Value::Object(attributes) = &mut plan {
        attributes.insert("id".into(), refined.clone());
        attributes.insert("tags".into(), partly.clone());
        attributes.insert("port".into(), Value::unknown());
    }
    let planned: Server<Planned> = from_value(&plan).unwrap();
    assert!(planned.base.id.is_unknown());
    assert!(
        planned.base.tags.is_unknown(),
        "a partly known map is not known"
    );
    assert!(planned.base.port.is_unknown());
    assert_eq!(planned.base.wait.known().map(|d| d.as_str()), Some("90s"));
    assert_eq!(planned.token, MaybeUnknown::Known(None));
    let MaybeUnknown::Unknown(unknown) = &planned.base.id else {
        panic!("id is unknown")
    };
    assert_eq!(unknown.value(), &refined);
    assert_eq!(to_typed_value(&planned, &ty).unwrap(), plan);
}

#[test]
fn strict_reading_names_the_path_of_what_does_not_fit() {
    let mut bad = state();
    if let Value::Object(a) = &mut bad {
        a.insert(
            "ssh".into(),
            Value::object([("user", Value::Null), ("agent", Value::string("yes"))]),
        );
    }
    let error = from_value::<Server>(&bad).unwrap_err();
    assert_eq!(
        error.to_string(),
        "ssh.agent: expected a bool, found a string"
    );

    let mut unknown = state();
    if let Value::Object(a) = &mut unknown {
        a.insert("id".into(), Value::unknown());
    }
    let error = from_value::<Server>(&unknown).unwrap_err();
    assert_eq!(
        error.to_string(),
        "id: expected a string, found a value that is not known yet"
    );

    let mut out_of_range = state();
    if let Value::Object(a) = &mut out_of_range {
        a.insert("port".into(), Value::int(70000));
        a.insert("wait".into(), Value::string("soon"));
    }
    let error = from_value::<Server>(&out_of_range).unwrap_err();
    assert!(error.to_string().starts_with("port: "), "{error}");
}

#[test]
fn at_apply_what_is_still_to_be_computed_reads_as_none() {
    let mut planned = state();
    if let Value::Object(a) = &mut planned {
        a.insert("id".into(), Value::unknown());
        a.insert("mirror".into(), Value::unknown());
    }
    let server: Server = from_planned(&planned).unwrap();
    assert_eq!(server.base.id, None);
    assert_eq!(
        server.base.mirror,
        Vec::<Mirror>::new(),
        "an unknown list reads as empty"
    );
    assert!(from_value::<Server>(&planned).is_err());
}

#[test]
fn a_blank_fills_what_a_model_requires_with_empty_values() {
    let blank: Server = from_blank(&schema().block.unset_value()).unwrap();
    assert_eq!(blank.base.port, 22, "defaults come from the schema");
    assert_eq!(blank.base.wait.as_str(), "5m");
    assert_eq!(blank.base.name, "", "nothing is invented: an empty string");
    assert_eq!(blank.base.mirror, Vec::<Mirror>::new());
    assert_eq!(blank.base.ssh, None);
    assert_eq!(blank.base.settings, Value::Null);
}

#[test]
fn embedded_models_share_one_object() {
    let server: Server = from_value(&state()).unwrap();
    let written = to_value(&server).unwrap();
    assert_eq!(written.attr("token"), Some(&Value::Null));
    assert_eq!(written.attr("port"), Some(&Value::int(2222)));
    assert!(written.attr("$base").is_none());
    let base: Base = from_value(&state()).unwrap();
    assert_eq!(
        base, server.base,
        "the embedded model reads the same attributes alone"
    );
}

#[test]
fn unknowns_show_no_values_in_debug_output() {
    let partly = Value::object([
        (
            "private_key",
            Value::string("-----BEGIN OPENSSH PRIVATE KEY-----"),
        ),
        ("host_key", Value::unknown()),
    ]);
    let planned: MaybeUnknown<Ssh> = from_value(&partly).unwrap();
    let shown = format!("{planned:?}");
    assert!(!shown.contains("BEGIN"), "{shown}");
    assert!(shown.contains("partly unknown"), "{shown}");
}

#[test]
fn values_read_as_a_model_are_written_back_in_the_type_they_came_in() {
    // A map read for an object type, a list for a tuple, a set of sets: back as they were.
    let object_type = Type::object([("a", Type::String)]);
    let as_map: BTreeMap<String, String> =
        from_value(&Value::object([("a", Value::string("x"))])).unwrap();
    assert_eq!(
        to_typed_value(&as_map, &object_type).unwrap(),
        Value::object([("a", Value::string("x"))])
    );
    let tuple_type = Type::Tuple(vec![Type::String, Type::Bool]);
    let tuple = Value::Tuple(vec![Value::string("x"), Value::Bool(true)]);
    let as_value: (String, bool) = from_value(&tuple).unwrap();
    assert_eq!(to_typed_value(&as_value, &tuple_type).unwrap(), tuple);
    let sets = Type::set(Type::set(Type::String));
    let nested = Value::Set(vec![Value::Set(vec![Value::string("a")])]);
    let read: Vec<Vec<String>> = from_value(&nested).unwrap();
    assert_eq!(to_typed_value(&read, &sets).unwrap(), nested);
}

#[test]
fn values_leave_the_codec_as_plain_json() {
    let settings = Value::from_plain_json(&serde_json::json!({ "a": [1, true] }));
    assert_eq!(
        serde_json::to_value(&settings).unwrap(),
        serde_json::json!({ "a": [1, true] })
    );
    let back: Value = serde_json::from_value(serde_json::json!({ "a": [1, true] })).unwrap();
    assert_eq!(back.to_plain_json(), settings.to_plain_json());
}

#[test]
fn the_schema_check_passes_a_faithful_model_and_names_every_drift() {
    let schema = schema();
    assert_eq!(
        check::<Server>(&schema.block, FormKind::Known),
        Vec::<String>::new()
    );
    assert_eq!(
        check::<Server<Planned>>(&schema.block, FormKind::Planned),
        Vec::<String>::new()
    );
    // The known form where the planned one is due, and the other way round.
    let problems = check::<Server>(&schema.block, FormKind::Planned);
    assert!(problems
        .iter()
        .any(|p| p.starts_with("port: a planned model's field")));
    assert!(check::<Server<Planned>>(&schema.block, FormKind::Known)
        .iter()
        .any(|p| p.contains("cannot be a MaybeUnknown")));

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Drifted {
        id: String,
        prot: u16,
        tags: Option<Vec<String>>,
        zones: Option<Vec<String>>,
        settings: Value,
        wait: Duration,
        name: String,
        token: Option<String>,
        ssh: Ssh,
        mirror: Vec<Mirror>,
    }
    let problems = check::<Drifted>(&schema.block, FormKind::Known);
    for expected in [
        "prot: in the model but not in the schema",
        "port: in the schema but not in the model",
        "id: may be null (Computed), so the model needs an Option",
        "tags: the schema says [\"map\",\"string\"]",
        "ssh: a Single block is null in state",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(expected)),
            "{expected:?} not in {problems:#?}"
        );
    }
}

#[test]
fn field_names_are_checked_by_the_compiler() {
    assert_eq!(crate::field_name!(Ssh, agent), "agent");
    struct Keyword {
        r#type: String,
    }
    let _ = Keyword {
        r#type: String::new(),
    }
    .r#type;
    assert_eq!(crate::field_name!(Keyword, r#type), "type");
}
