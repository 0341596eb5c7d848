//! Wire-level checks: the generated messages put each field on the protocol's field number with
//! the protocol's wire type, and decode bytes laid out the way Terraform and go-plugin send them.
//!
//! A protobuf key byte is `(field_number << 3) | wire_type`, with wire type 0 for varints and 2
//! for length-delimited values (bytes, strings, messages, packed and map entries).

use prost::Message;
use tfplugin_proto::plugin::{conn_info, stdio_data, ConnInfo, Empty, StdioData};
use tfplugin_proto::tfplugin6::{
    attribute_path, configure_provider, deferred, diagnostic, get_provider_schema,
    plan_resource_change, schema, stop_provider, validate_provider_config, ActionSchema,
    AttributePath, ClientCapabilities, Deferred, Diagnostic, DynamicValue, ResourceIdentityData,
    Schema, ServerCapabilities, StringKind,
};

/// Key byte for a varint field (field numbers below 16 fit in one byte).
const fn varint_key(field: u8) -> u8 {
    field << 3
}

/// Key byte for a length-delimited field (field numbers below 16 fit in one byte).
const fn len_key(field: u8) -> u8 {
    (field << 3) | 2
}

#[test]
fn dynamic_value_msgpack_is_field_1_and_json_field_2() {
    let msgpack = DynamicValue {
        msgpack: vec![1],
        json: vec![],
    };
    assert_eq!(msgpack.encode_to_vec(), [0x0a, 0x01, 0x01]);

    let json = DynamicValue {
        msgpack: vec![],
        json: b"{}".to_vec(),
    };
    assert_eq!(json.encode_to_vec(), [0x12, 0x02, b'{', b'}']);
}

#[test]
fn schema_attribute_field_numbers() {
    let attr = schema::Attribute {
        name: "a".into(),
        required: true,
        ..Default::default()
    };
    // name = 1 (string), required = 4 (varint).
    assert_eq!(
        attr.encode_to_vec(),
        [len_key(1), 0x01, b'a', varint_key(4), 0x01]
    );

    let singles: [(schema::Attribute, &[u8]); 8] = [
        (
            schema::Attribute {
                r#type: b"\"string\"".to_vec(),
                ..Default::default()
            },
            &[
                len_key(2),
                8,
                b'"',
                b's',
                b't',
                b'r',
                b'i',
                b'n',
                b'g',
                b'"',
            ],
        ),
        (
            schema::Attribute {
                optional: true,
                ..Default::default()
            },
            &[varint_key(5), 1],
        ),
        (
            schema::Attribute {
                computed: true,
                ..Default::default()
            },
            &[varint_key(6), 1],
        ),
        (
            schema::Attribute {
                sensitive: true,
                ..Default::default()
            },
            &[varint_key(7), 1],
        ),
        (
            schema::Attribute {
                description_kind: StringKind::Markdown.into(),
                ..Default::default()
            },
            &[varint_key(8), 1],
        ),
        (
            schema::Attribute {
                nested_type: Some(schema::Object::default()),
                ..Default::default()
            },
            &[len_key(10), 0],
        ),
        (
            schema::Attribute {
                write_only: true,
                ..Default::default()
            },
            &[varint_key(11), 1],
        ),
        (
            schema::Attribute {
                deprecation_message: "x".into(),
                ..Default::default()
            },
            &[len_key(12), 1, b'x'],
        ),
    ];
    for (attr, expected) in singles {
        assert_eq!(attr.encode_to_vec(), expected, "{attr:?}");
    }
}

#[test]
fn schema_block_nested_block_and_object_field_numbers() {
    let block = schema::Block {
        version: 3,
        ..Default::default()
    };
    assert_eq!(block.encode_to_vec(), [varint_key(1), 3]);

    let block = schema::Block {
        attributes: vec![schema::Attribute::default()],
        block_types: vec![schema::NestedBlock::default()],
        ..Default::default()
    };
    assert_eq!(block.encode_to_vec(), [len_key(2), 0, len_key(3), 0]);

    // `computed` arrived in protocol 6.11.
    let block = schema::Block {
        computed: true,
        ..Default::default()
    };
    assert_eq!(block.encode_to_vec(), [varint_key(8), 1]);

    let nested = schema::NestedBlock {
        type_name: "n".into(),
        block: Some(schema::Block::default()),
        nesting: schema::nested_block::NestingMode::Group.into(),
        min_items: 1,
        max_items: 2,
    };
    assert_eq!(
        nested.encode_to_vec(),
        [
            len_key(1),
            1,
            b'n',
            len_key(2),
            0,
            varint_key(3),
            5,
            varint_key(4),
            1,
            varint_key(5),
            2
        ]
    );

    let object = schema::Object {
        attributes: vec![schema::Attribute::default()],
        nesting: schema::object::NestingMode::Map.into(),
        ..Default::default()
    };
    assert_eq!(object.encode_to_vec(), [len_key(1), 0, varint_key(3), 4]);

    let top = Schema {
        version: 1,
        block: Some(schema::Block::default()),
    };
    assert_eq!(top.encode_to_vec(), [varint_key(1), 1, len_key(2), 0]);
}

#[test]
fn attribute_path_step_selectors() {
    use attribute_path::step::Selector;

    let step = |selector| attribute_path::Step {
        selector: Some(selector),
    };
    assert_eq!(
        step(Selector::AttributeName("a".into())).encode_to_vec(),
        [len_key(1), 1, b'a']
    );
    assert_eq!(
        step(Selector::ElementKeyString("k".into())).encode_to_vec(),
        [len_key(2), 1, b'k']
    );
    assert_eq!(
        step(Selector::ElementKeyInt(5)).encode_to_vec(),
        [varint_key(3), 5]
    );

    // An index of zero is still written: a oneof member is always present on the wire.
    assert_eq!(
        step(Selector::ElementKeyInt(0)).encode_to_vec(),
        [varint_key(3), 0]
    );

    let path = AttributePath {
        steps: vec![step(Selector::ElementKeyInt(0))],
    };
    assert_eq!(path.encode_to_vec(), [len_key(1), 2, varint_key(3), 0]);
}

#[test]
fn diagnostic_field_numbers_and_severity_values() {
    let diag = Diagnostic {
        severity: diagnostic::Severity::Warning.into(),
        summary: "s".into(),
        detail: "d".into(),
        attribute: Some(AttributePath::default()),
    };
    assert_eq!(
        diag.encode_to_vec(),
        [
            varint_key(1),
            2,
            len_key(2),
            1,
            b's',
            len_key(3),
            1,
            b'd',
            len_key(4),
            0
        ]
    );
    assert_eq!(diagnostic::Severity::Invalid as i32, 0);
    assert_eq!(diagnostic::Severity::Error as i32, 1);
    assert_eq!(diagnostic::Severity::Warning as i32, 2);
}

#[test]
fn validate_provider_config_response_puts_diagnostics_on_field_2() {
    let resp = validate_provider_config::Response {
        diagnostics: vec![Diagnostic::default()],
    };
    assert_eq!(resp.encode_to_vec(), [len_key(2), 0]);
}

#[test]
fn stop_provider_error_is_field_1() {
    let resp = stop_provider::Response { error: "e".into() };
    assert_eq!(resp.encode_to_vec(), [len_key(1), 1, b'e']);
}

#[test]
fn capabilities_field_numbers() {
    let server = ServerCapabilities {
        plan_destroy: true,
        get_provider_schema_optional: true,
        move_resource_state: true,
        generate_resource_config: true,
    };
    assert_eq!(
        server.encode_to_vec(),
        [
            varint_key(1),
            1,
            varint_key(2),
            1,
            varint_key(3),
            1,
            varint_key(4),
            1
        ]
    );

    // Fields 3 and 4 are the 6.11 additions.
    let client = ClientCapabilities {
        deferral_allowed: true,
        write_only_attributes_allowed: true,
        store_planned_private: true,
        computed_blocks_allowed: true,
    };
    assert_eq!(
        client.encode_to_vec(),
        [
            varint_key(1),
            1,
            varint_key(2),
            1,
            varint_key(3),
            1,
            varint_key(4),
            1
        ]
    );
}

#[test]
fn plan_resource_change_field_numbers() {
    // planned_private = 9 arrived in 6.11.
    let req = plan_resource_change::Request {
        prior_private: vec![7],
        planned_private: vec![9],
        ..Default::default()
    };
    assert_eq!(req.encode_to_vec(), [len_key(5), 1, 7, len_key(9), 1, 9]);

    let resp = plan_resource_change::Response {
        requires_replace: vec![AttributePath::default()],
        legacy_type_system: true,
        deferred: Some(Deferred {
            reason: deferred::Reason::AbsentPrereq.into(),
        }),
        planned_identity: Some(ResourceIdentityData::default()),
        ..Default::default()
    };
    assert_eq!(
        resp.encode_to_vec(),
        [
            len_key(2),
            0,
            varint_key(5),
            1,
            len_key(6),
            2,
            varint_key(1),
            3,
            len_key(7),
            0
        ]
    );
}

#[test]
fn get_provider_schema_response_map_fields() {
    // Map entries are messages of key = 1 and value = 2. (prost leaves out a value equal to its
    // default, which protobuf decoders read back as the default, so the values here are not
    // empty.)
    let mut resp = get_provider_schema::Response::default();
    resp.action_schemas.insert(
        "x".into(),
        ActionSchema {
            schema: Some(Schema::default()),
        },
    );
    assert_eq!(
        resp.encode_to_vec(),
        [
            len_key(11),
            7,
            len_key(1),
            1,
            b'x',
            len_key(2),
            2,
            len_key(1),
            0
        ]
    );

    let mut resp = get_provider_schema::Response::default();
    resp.resource_schemas.insert(
        "r".into(),
        Schema {
            version: 1,
            block: None,
        },
    );
    assert_eq!(
        resp.encode_to_vec(),
        [
            len_key(2),
            7,
            len_key(1),
            1,
            b'r',
            len_key(2),
            2,
            varint_key(1),
            1
        ]
    );

    let resp = get_provider_schema::Response {
        provider: Some(Schema::default()),
        provider_meta: Some(Schema::default()),
        server_capabilities: Some(ServerCapabilities::default()),
        diagnostics: vec![Diagnostic::default()],
        ..Default::default()
    };
    assert_eq!(
        resp.encode_to_vec(),
        [len_key(1), 0, len_key(4), 0, len_key(5), 0, len_key(6), 0]
    );
}

#[test]
fn configure_provider_request_decodes_terraform_layout() {
    // terraform_version = 1, config = 2 (DynamicValue{msgpack: [0x80]}), client_capabilities = 3
    // with write_only_attributes_allowed = 2 and an unknown future field 15 that must be skipped.
    let bytes = [
        len_key(1),
        6,
        b'1',
        b'.',
        b'1',
        b'5',
        b'.',
        b'0',
        len_key(2),
        3,
        len_key(1),
        1,
        0x80,
        len_key(3),
        4,
        varint_key(2),
        1,
        varint_key(15),
        1,
    ];
    let req = configure_provider::Request::decode(&bytes[..]).expect("decodes");
    assert_eq!(req.terraform_version, "1.15.0");
    assert_eq!(req.config.expect("config").msgpack, [0x80]);
    let caps = req.client_capabilities.expect("capabilities");
    assert!(caps.write_only_attributes_allowed);
    assert!(!caps.deferral_allowed);
}

#[test]
fn enum_values() {
    use schema::{nested_block, object};

    assert_eq!(StringKind::Plain as i32, 0);
    assert_eq!(StringKind::Markdown as i32, 1);
    assert_eq!(nested_block::NestingMode::Invalid as i32, 0);
    assert_eq!(nested_block::NestingMode::Single as i32, 1);
    assert_eq!(nested_block::NestingMode::List as i32, 2);
    assert_eq!(nested_block::NestingMode::Set as i32, 3);
    assert_eq!(nested_block::NestingMode::Map as i32, 4);
    assert_eq!(nested_block::NestingMode::Group as i32, 5);
    assert_eq!(object::NestingMode::Single as i32, 1);
    assert_eq!(object::NestingMode::Map as i32, 4);
    assert_eq!(deferred::Reason::Unknown as i32, 0);
    assert_eq!(deferred::Reason::ResourceConfigUnknown as i32, 1);
    assert_eq!(deferred::Reason::ProviderConfigUnknown as i32, 2);
    assert_eq!(deferred::Reason::AbsentPrereq as i32, 3);
    assert_eq!(stdio_data::Channel::Invalid as i32, 0);
    assert_eq!(stdio_data::Channel::Stdout as i32, 1);
    assert_eq!(stdio_data::Channel::Stderr as i32, 2);
}

#[test]
fn go_plugin_messages() {
    assert!(Empty {}.encode_to_vec().is_empty());

    let data = StdioData {
        channel: stdio_data::Channel::Stderr.into(),
        data: b"hi".to_vec(),
    };
    assert_eq!(
        data.encode_to_vec(),
        [varint_key(1), 2, len_key(2), 2, b'h', b'i']
    );

    let info = ConnInfo {
        service_id: 1,
        network: "unix".into(),
        address: "a".into(),
        knock: Some(conn_info::Knock {
            knock: true,
            ack: true,
            error: "e".into(),
        }),
    };
    assert_eq!(
        info.encode_to_vec(),
        [
            varint_key(1),
            1,
            len_key(2),
            4,
            b'u',
            b'n',
            b'i',
            b'x',
            len_key(3),
            1,
            b'a',
            len_key(4),
            7,
            varint_key(1),
            1,
            varint_key(2),
            1,
            len_key(3),
            1,
            b'e'
        ]
    );
    assert_eq!(ConnInfo::decode(&info.encode_to_vec()[..]), Ok(info));
}
