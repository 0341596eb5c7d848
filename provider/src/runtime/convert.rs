//! Translation between the runtime's own types and the generated protocol messages: schemas,
//! diagnostics, attribute paths and dynamic values. The only place that knows both sides.

use super::cty::{self, AttributePath, PathStep, Type, Value};
use super::diagnostics::{Diagnostic, Diagnostics, Severity};
use super::schema::{Attribute, Block, Mode, NestedBlock, Nesting, Schema};
use terraform_provider_k3s_proto::tfplugin6 as proto;

/// A schema as Terraform receives it.
pub fn schema(schema: &Schema) -> proto::Schema {
    proto::Schema {
        version: schema.version,
        block: Some(block(&schema.block, schema.version)),
    }
}

fn block(block: &Block, version: i64) -> proto::schema::Block {
    proto::schema::Block {
        version,
        attributes: block.attributes.iter().map(attribute).collect(),
        block_types: block.blocks.iter().map(nested_block).collect(),
        description: block.description.clone(),
        description_kind: proto::StringKind::Markdown as i32,
        deprecated: block.deprecated.is_some(),
        deprecation_message: block.deprecated.clone().unwrap_or_default(),
        computed: false,
    }
}

fn attribute(attribute: &Attribute) -> proto::schema::Attribute {
    proto::schema::Attribute {
        name: attribute.name.clone(),
        r#type: attribute.ty.to_json_bytes(),
        nested_type: None,
        description: attribute.description.clone(),
        required: attribute.mode == Mode::Required,
        optional: matches!(attribute.mode, Mode::Optional | Mode::OptionalComputed),
        computed: attribute.is_computed(),
        sensitive: attribute.sensitive,
        description_kind: proto::StringKind::Markdown as i32,
        deprecated: attribute.deprecated.is_some(),
        write_only: attribute.write_only,
        deprecation_message: attribute.deprecated.clone().unwrap_or_default(),
    }
}

fn nested_block(nested: &NestedBlock) -> proto::schema::NestedBlock {
    use proto::schema::nested_block::NestingMode;
    let nesting = match nested.nesting {
        Nesting::Single => NestingMode::Single,
        Nesting::Group => NestingMode::Group,
        Nesting::List => NestingMode::List,
        Nesting::Set => NestingMode::Set,
        Nesting::Map => NestingMode::Map,
    };
    proto::schema::NestedBlock {
        type_name: nested.name.clone(),
        block: Some(block(&nested.block, 0)),
        nesting: nesting as i32,
        min_items: i64::from(nested.min_items),
        max_items: i64::from(nested.max_items),
    }
}

/// Diagnostics as Terraform receives them.
pub fn diagnostics(diagnostics: Diagnostics) -> Vec<proto::Diagnostic> {
    diagnostics.0.into_iter().map(diagnostic).collect()
}

fn diagnostic(d: Diagnostic) -> proto::Diagnostic {
    use proto::diagnostic::Severity as S;
    proto::Diagnostic {
        severity: match d.severity {
            Severity::Error => S::Error,
            Severity::Warning => S::Warning,
        } as i32,
        summary: d.summary,
        detail: d.detail,
        attribute: d.path.filter(|p| !p.is_empty()).map(|p| attribute_path(&p)),
    }
}

/// An attribute path as Terraform receives it.
pub fn attribute_path(path: &AttributePath) -> proto::AttributePath {
    use proto::attribute_path::step::Selector;
    proto::AttributePath {
        steps: path
            .steps
            .iter()
            .map(|step| proto::attribute_path::Step {
                selector: Some(match step {
                    PathStep::Attribute(name) => Selector::AttributeName(name.clone()),
                    PathStep::Key(key) => Selector::ElementKeyString(key.clone()),
                    PathStep::Index(index) => Selector::ElementKeyInt(*index),
                }),
            })
            .collect(),
    }
}

/// Decodes a dynamic value Terraform sent: msgpack, else JSON, else (absent) null.
pub fn decode(
    value: Option<&proto::DynamicValue>,
    ty: &Type,
    what: &str,
) -> Result<Value, Diagnostics> {
    let Some(value) = value else {
        return Ok(Value::Null);
    };
    let decoded = if !value.msgpack.is_empty() {
        cty::from_msgpack(&value.msgpack, ty)
    } else if !value.json.is_empty() {
        cty::from_json(&value.json, ty)
    } else {
        return Ok(Value::Null);
    };
    decoded.map_err(|e| {
        let mut d = Diagnostics::new();
        d.error_at(
            e.path.clone(),
            format!("Invalid {what} from Terraform"),
            e.to_string(),
        );
        d
    })
}

/// Encodes a value for Terraform (always msgpack).
pub fn encode(value: &Value, ty: &Type, what: &str) -> Result<proto::DynamicValue, Diagnostics> {
    cty::to_msgpack(value, ty)
        .map(|msgpack| proto::DynamicValue {
            msgpack,
            json: Vec::new(),
        })
        .map_err(|e| {
            let mut d = Diagnostics::new();
            d.error_at(
                e.path.clone(),
                format!("Provider produced an invalid {what}"),
                format!("{e}. This is a bug in terraform-provider-k3s; please report it."),
            );
            d
        })
}

/// Makes stored JSON state fit the current schema before decoding: attributes the schema no
/// longer has are dropped, attributes it gained are null. Nested blocks are fitted too.
pub fn fit_json_state(json: &mut serde_json::Value, block: &Block) {
    let Some(object) = json.as_object_mut() else {
        return;
    };
    let known: std::collections::BTreeSet<&str> = block
        .attributes
        .iter()
        .map(|a| a.name.as_str())
        .chain(block.blocks.iter().map(|b| b.name.as_str()))
        .collect();
    object.retain(|k, _| known.contains(k.as_str()));
    for attribute in &block.attributes {
        object
            .entry(attribute.name.clone())
            .or_insert(serde_json::Value::Null);
    }
    for nested in &block.blocks {
        let entry = object
            .entry(nested.name.clone())
            .or_insert_with(|| match nested.nesting {
                Nesting::List | Nesting::Set => serde_json::Value::Array(Vec::new()),
                Nesting::Map => serde_json::Value::Object(Default::default()),
                Nesting::Single | Nesting::Group => serde_json::Value::Null,
            });
        match entry {
            serde_json::Value::Array(items) => items
                .iter_mut()
                .for_each(|item| fit_json_state(item, &nested.block)),
            serde_json::Value::Object(_) if matches!(nested.nesting, Nesting::Map) => {
                if let Some(map) = entry.as_object_mut() {
                    map.values_mut()
                        .for_each(|item| fit_json_state(item, &nested.block));
                }
            }
            other @ serde_json::Value::Object(_) => fit_json_state(other, &nested.block),
            _ => {}
        }
    }
}
