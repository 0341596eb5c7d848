//! Translation between the runtime's own types and the generated protocol messages: schemas,
//! diagnostics, attribute paths and dynamic values. The only place that knows both sides.

use super::cty::{self, AttributePath, PathStep, Type, Value};
use super::diagnostics::{Diagnostic, Diagnostics, Severity};
use super::schema::{Attribute, Block, Mode, NestedBlock, Nesting, Schema};
use serde_json::value::RawValue;
use tfplugin_proto::tfplugin6 as proto;

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
                format!("{e}. This is a bug in the provider; please report it."),
            );
            d
        })
}

/// Makes stored JSON state fit the current schema before decoding: attributes the schema no
/// longer has are dropped, in nested blocks too (attributes it gained decode as null). Values are
/// copied as their original text, so numbers keep every digit.
pub fn fit_json_state(json: &[u8], block: &Block) -> Result<Vec<u8>, serde_json::Error> {
    let raw: Box<RawValue> = serde_json::from_slice(json)?;
    Ok(fit_object(&raw, block)?.into_bytes())
}

fn fit_object(raw: &RawValue, block: &Block) -> Result<String, serde_json::Error> {
    if !raw.get().trim_start().starts_with('{') {
        return Ok(raw.get().to_owned());
    }
    let entries = ordered_entries(raw.get())?;
    let mut out = String::from("{");
    for (key, value) in entries {
        let fitted = if block.attribute_named(&key).is_some() {
            value.get().to_owned()
        } else if let Some(nested) = block.blocks.iter().find(|b| b.name == key) {
            fit_nested(&value, nested)?
        } else {
            continue;
        };
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(&key)?);
        out.push(':');
        out.push_str(&fitted);
    }
    out.push('}');
    Ok(out)
}

fn fit_nested(raw: &RawValue, nested: &NestedBlock) -> Result<String, serde_json::Error> {
    let text = raw.get().trim_start();
    match nested.nesting {
        Nesting::Single | Nesting::Group => fit_object(raw, &nested.block),
        Nesting::List | Nesting::Set if text.starts_with('[') => {
            let items: Vec<Box<RawValue>> = serde_json::from_str(raw.get())?;
            let fitted: Result<Vec<String>, _> =
                items.iter().map(|i| fit_object(i, &nested.block)).collect();
            Ok(format!("[{}]", fitted?.join(",")))
        }
        Nesting::Map if text.starts_with('{') => {
            let mut out = String::from("{");
            for (key, item) in ordered_entries(raw.get())? {
                if out.len() > 1 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(&key)?);
                out.push(':');
                out.push_str(&fit_object(&item, &nested.block)?);
            }
            out.push('}');
            Ok(out)
        }
        _ => Ok(raw.get().to_owned()),
    }
}

/// The entries of a JSON object as raw text, in their original order.
fn ordered_entries(object: &str) -> Result<Vec<(String, Box<RawValue>)>, serde_json::Error> {
    struct Entries(Vec<(String, Box<RawValue>)>);
    impl<'de> serde::Deserialize<'de> for Entries {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Entries, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Entries;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Entries, A::Error> {
                    let mut entries = Vec::new();
                    while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                        entries.push(entry);
                    }
                    Ok(Entries(entries))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    serde_json::from_str::<Entries>(object).map(|e| e.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cty::Type;

    #[test]
    fn stored_state_keeps_every_digit_and_loses_removed_attributes() {
        let block = Block::new("t")
            .attribute(Attribute::optional("n", Type::Number))
            .block(NestedBlock::list(
                "b",
                Block::new("b").attribute(Attribute::optional("x", Type::String)),
            ));
        let stored = br#"{"n": 123456789012345678901234567890.25, "gone": 1, "b": [{"x": "a", "old": true}]}"#;
        let fitted = String::from_utf8(fit_json_state(stored, &block).unwrap()).unwrap();
        assert_eq!(
            fitted,
            r#"{"n":123456789012345678901234567890.25,"b":[{"x":"a"}]}"#
        );
        let value = cty::from_json(fitted.as_bytes(), &block.ty()).unwrap();
        assert_eq!(
            value.attr("n").unwrap().as_number().unwrap().to_string(),
            "123456789012345678901234567890.25"
        );
    }
}
