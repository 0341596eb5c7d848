//! Property and vector tests of the cty msgpack and JSON codecs: round trips of arbitrary typed
//! values (nulls, refined unknowns, big numbers, infinities, dynamic values, sets), known wire
//! vectors from go-cty's format, type errors with paths, and hostile input (arbitrary bytes,
//! mutated encodings, huge declared lengths, deep nesting) that must fail without panicking.

use proptest::prelude::*;
use std::cmp::Ordering;
use std::str::FromStr;
use std::time::{Duration, Instant};
use tfplugin_runtime::cty::testing::{arbitrary_type, arbitrary_typed_value, Entropy};
use tfplugin_runtime::cty::{
    from_json, from_msgpack, to_json, to_msgpack, AttributePath, Number, PathStep, Refinements,
    Type, Value,
};

// ------------------------------------------------------------------------------------------
// The expected canonical form, written independently of the codecs' own normalisation.

/// A number bound survives when its msgpack form is at most 256 bytes.
fn short_bound(n: &Number) -> bool {
    to_msgpack(&Value::Number(n.clone()), &Type::Number)
        .expect("a number encodes")
        .len()
        <= 256
}

fn canonical_refinements(r: &Refinements) -> Refinements {
    Refinements {
        not_null: r.not_null,
        string_prefix: r.string_prefix.clone().filter(|p| !p.is_empty()),
        number_lower: r
            .number_lower
            .clone()
            .filter(|(n, _)| *n != Number::NegInfinity && short_bound(n)),
        number_upper: r
            .number_upper
            .clone()
            .filter(|(n, _)| *n != Number::PosInfinity && short_bound(n)),
        length_min: r.length_min.filter(|m| *m > 0),
        length_max: r.length_max.filter(|m| *m < i64::MAX as u64),
    }
}

/// 0 = known and not null, 1 = unknown, 2 = null (looking through dynamic wrappers).
fn set_class(v: &Value) -> u8 {
    match v {
        Value::Dynamic(_, inner) => set_class(inner),
        Value::Null => 2,
        Value::Unknown(_) => 1,
        _ => 0,
    }
}

fn set_cmp(a: &Value, b: &Value, element_type: &Type) -> Ordering {
    let primitive = matches!(element_type, Type::String | Type::Number | Type::Bool);
    let natural = match (a, b) {
        _ if !primitive => Ordering::Equal,
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Number(x), Value::Number(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    };
    set_class(a).cmp(&set_class(b)).then(natural).then_with(|| {
        let a_bytes = to_msgpack(a, element_type).expect("element encodes");
        let b_bytes = to_msgpack(b, element_type).expect("element encodes");
        a_bytes.cmp(&b_bytes)
    })
}

fn canonical(v: &Value, ty: &Type) -> Value {
    match (ty, v) {
        (_, Value::Null) => Value::Null,
        (Type::Dynamic, Value::Unknown(_)) => Value::unknown(),
        (_, Value::Unknown(r)) => Value::Unknown(canonical_refinements(r)),
        (Type::Dynamic, Value::Dynamic(Type::Dynamic, inner)) => canonical(inner, ty),
        (Type::Dynamic, Value::Dynamic(t, inner)) => {
            Value::Dynamic(t.clone(), Box::new(canonical(inner, t)))
        }
        (Type::Dynamic, Value::String(_)) => Value::Dynamic(Type::String, Box::new(v.clone())),
        (Type::Dynamic, Value::Number(_)) => Value::Dynamic(Type::Number, Box::new(v.clone())),
        (Type::Dynamic, Value::Bool(_)) => Value::Dynamic(Type::Bool, Box::new(v.clone())),
        (Type::List(t), Value::List(xs)) => {
            Value::List(xs.iter().map(|x| canonical(x, t)).collect())
        }
        (Type::Set(t), Value::Set(xs)) => {
            let mut elements: Vec<Value> = xs.iter().map(|x| canonical(x, t)).collect();
            elements.sort_by(|a, b| set_cmp(a, b, t));
            elements.dedup_by(|a, b| a == b && a.is_wholly_known() && b.is_wholly_known());
            Value::Set(elements)
        }
        (Type::Map(t), Value::Map(m)) => Value::Map(
            m.iter()
                .map(|(k, x)| (k.clone(), canonical(x, t)))
                .collect(),
        ),
        (Type::Object(attrs), Value::Object(m)) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), canonical(x, &attrs[k])))
                .collect(),
        ),
        (Type::Tuple(ts), Value::Tuple(xs)) => {
            Value::Tuple(xs.iter().zip(ts).map(|(x, t)| canonical(x, t)).collect())
        }
        _ => v.clone(),
    }
}

fn has_infinity(v: &Value) -> bool {
    match v {
        Value::Number(n) => !matches!(n, Number::Finite(_)),
        Value::List(xs) | Value::Set(xs) | Value::Tuple(xs) => xs.iter().any(has_infinity),
        Value::Map(m) | Value::Object(m) => m.values().any(has_infinity),
        Value::Dynamic(_, inner) => has_infinity(inner),
        _ => false,
    }
}

/// Whatever decodes is canonical: it encodes, and decodes back to itself.
fn assert_canonical(v: &Value, ty: &Type) {
    let again = to_msgpack(v, ty).expect("a decoded value encodes");
    assert_eq!(&from_msgpack(&again, ty).expect("decodes again"), v);
}

fn num(text: &str) -> Number {
    Number::from_str(text).expect("a number")
}

// ------------------------------------------------------------------------------------------
// Properties

/// Bytes the generators turn into a type and a value (see `cty::testing`).
fn seed() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..400)
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1500)
}

proptest! {
    // 1500 cases each keeps the file at a few seconds in debug builds; PROPTEST_CASES=N runs
    // more.
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn msgpack_round_trips(seed in seed()) {
        let (ty, value) = arbitrary_typed_value(&seed, true);
        let bytes = to_msgpack(&value, &ty).expect("a generated value fits its type");
        let decoded = from_msgpack(&bytes, &ty).expect("our own encoding decodes");
        prop_assert_eq!(&decoded, &canonical(&value, &ty));
        // Encoding is canonical: the decoded value encodes to the same bytes.
        prop_assert_eq!(to_msgpack(&decoded, &ty).expect("re-encodes"), bytes);
    }

    #[test]
    fn json_round_trips(seed in seed()) {
        let (ty, value) = arbitrary_typed_value(&seed, false);
        match to_json(&value, &ty) {
            Ok(bytes) => {
                prop_assert!(!has_infinity(&value));
                let decoded = from_json(&bytes, &ty).expect("our own encoding decodes");
                prop_assert_eq!(&decoded, &canonical(&value, &ty));
                prop_assert_eq!(&to_json(&decoded, &ty).expect("re-encodes"), &bytes);
                // Our JSON is JSON.
                prop_assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_ok());
            }
            Err(e) => {
                prop_assert!(has_infinity(&value), "unexpected error {}", e);
                prop_assert!(e.message.contains("infinite"));
            }
        }
    }

    #[test]
    fn json_refuses_unknowns(seed in seed()) {
        let (ty, value) = arbitrary_typed_value(&seed, true);
        if !value.is_wholly_known() {
            prop_assert!(to_json(&value, &ty).is_err());
        }
    }

    #[test]
    fn type_json_round_trips(seed in seed()) {
        let ty = arbitrary_type(&mut Entropy::new(&seed), 6);
        prop_assert_eq!(Type::from_json(&ty.to_json()).expect("parses"), ty.clone());
        prop_assert_eq!(Type::from_json_bytes(&ty.to_json_bytes()).expect("parses"), ty);
    }

    #[test]
    fn arbitrary_bytes_never_panic(seed in seed(), input in proptest::collection::vec(any::<u8>(), 0..200)) {
        let ty = arbitrary_type(&mut Entropy::new(&seed), 5);
        if let Ok(v) = from_msgpack(&input, &ty) {
            assert_canonical(&v, &ty);
        }
        if let Ok(v) = from_json(&input, &ty) {
            assert_canonical(&v, &ty);
        }
    }

    #[test]
    fn mutated_encodings_never_panic(
        seed in seed(),
        edits in proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..4), 1..6),
    ) {
        let (ty, value) = arbitrary_typed_value(&seed, true);
        let encoded = to_msgpack(&value, &ty).expect("encodes");
        // Every strict prefix is incomplete.
        for cut in 0..encoded.len() {
            prop_assert!(from_msgpack(&encoded[..cut], &ty).is_err());
        }
        let mut mutated = encoded.clone();
        for (at, byte, kind) in edits {
            let at = usize::from(at) % (mutated.len() + 1);
            match kind {
                0 if at < mutated.len() => mutated[at] ^= byte | 1,
                1 => mutated.insert(at, byte),
                2 if at < mutated.len() => { mutated.remove(at); }
                _ => mutated.truncate(at),
            }
        }
        if let Ok(v) = from_msgpack(&mutated, &ty) {
            assert_canonical(&v, &ty);
        }
        if let Ok(json) = to_json(&value, &ty) {
            for cut in 0..json.len() {
                if let Ok(v) = from_json(&json[..cut], &ty) {
                    assert_canonical(&v, &ty);
                }
            }
            let mut mutated = json.clone();
            let at = mutated.len() / 2;
            if at < mutated.len() {
                mutated[at] ^= 0x20;
            }
            if let Ok(v) = from_json(&mutated, &ty) {
                assert_canonical(&v, &ty);
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Known vectors (bytes as go-cty writes and reads them)

#[test]
fn plain_unknown_and_null() {
    assert_eq!(
        to_msgpack(&Value::unknown(), &Type::String).unwrap(),
        [0xd4, 0, 0]
    );
    assert_eq!(to_msgpack(&Value::Null, &Type::String).unwrap(), [0xc0]);
    assert_eq!(to_msgpack(&Value::Null, &Type::Dynamic).unwrap(), [0xc0]);
    assert_eq!(
        to_msgpack(&Value::unknown(), &Type::Dynamic).unwrap(),
        [0xd4, 0, 0]
    );
    // Refinements of a dynamic unknown have no place on the wire.
    let refined = Value::Unknown(Refinements {
        not_null: true,
        ..Refinements::default()
    });
    assert_eq!(to_msgpack(&refined, &Type::Dynamic).unwrap(), [0xd4, 0, 0]);
    assert_eq!(from_msgpack(&[0xc0], &Type::Number).unwrap(), Value::Null);
}

#[test]
fn object_attributes_are_sorted() {
    let ty = Type::object([("b", Type::Number), ("a", Type::String)]);
    let value = Value::object([("b", Value::int(1)), ("a", Value::string("x"))]);
    let bytes = to_msgpack(&value, &ty).unwrap();
    assert_eq!(bytes, [0x82, 0xa1, b'a', 0xa1, b'x', 0xa1, b'b', 0x01]);
    assert_eq!(from_msgpack(&bytes, &ty).unwrap(), value);
    // Any key order decodes.
    let reversed = [0x82, 0xa1, b'b', 0x01, 0xa1, b'a', 0xa1, b'x'];
    assert_eq!(from_msgpack(&reversed, &ty).unwrap(), value);
    assert_eq!(to_json(&value, &ty).unwrap(), br#"{"a":"x","b":1}"#);
}

#[test]
fn any_extension_is_unknown() {
    for bytes in [
        &[0xd4, 0x00, 0x00][..],
        &[0xd4, 0x05, 0x07],
        &[0xd5, 0x7f, 0x01, 0x02],
        &[0xc7, 0x00, 0x03],
        &[0xc7, 0x03, 0xf0, 1, 2, 3],
        &[0xd6, 0x0c, 0x80, 0, 0, 0], // code 12, an empty map: no refinements
        &[0xd4, 0x0c, 0x00],
    ] {
        for ty in [
            Type::String,
            Type::Number,
            Type::list(Type::Bool),
            Type::Dynamic,
        ] {
            assert_eq!(
                from_msgpack(bytes, &ty).unwrap(),
                Value::unknown(),
                "{bytes:x?}"
            );
        }
    }
}

#[test]
fn refined_unknown_vectors() {
    // ext 12 {1: false, 2: "ab"}: key 1 is "is null", and false means definitely not null.
    let bytes = [0xc7, 0x07, 0x0c, 0x82, 0x01, 0xc2, 0x02, 0xa2, b'a', b'b'];
    let expected = Value::Unknown(Refinements {
        not_null: true,
        string_prefix: Some("ab".into()),
        ..Refinements::default()
    });
    assert_eq!(from_msgpack(&bytes, &Type::String).unwrap(), expected);
    assert_eq!(to_msgpack(&expected, &Type::String).unwrap(), bytes);

    // {1: true} collapses to null.
    assert_eq!(
        from_msgpack(&[0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc3], &Type::String).unwrap(),
        Value::Null
    );

    // Number bounds, in any number format, and unknown keys skipped.
    let bytes = [
        0xc7, 0x11, 0x0c, 0x83, 0x03, 0x92, 0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0, 0xc3, 0x63, 0x91,
        0x01, 0x04, 0x92, 0xa2, b'1', b'0', 0xc2,
    ];
    let bytes = {
        let mut b = bytes.to_vec();
        b[1] = u8::try_from(b.len() - 3).unwrap();
        b
    };
    let decoded = from_msgpack(&bytes, &Type::Number).unwrap();
    assert_eq!(
        decoded,
        Value::Unknown(Refinements {
            number_lower: Some((num("0.5"), true)),
            number_upper: Some((num("10"), false)),
            ..Refinements::default()
        })
    );
    // Written back in go-cty's form: float64 0.5, int 10, keys ascending.
    let written = to_msgpack(&decoded, &Type::Number).unwrap();
    assert_eq!(
        written,
        [
            0xc7, 0x11, 0x0c, 0x82, 0x03, 0x92, 0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0, 0xc3, 0x04,
            0x92, 0x0a, 0xc2
        ]
    );

    // Collection lengths.
    let list = Value::Unknown(Refinements {
        not_null: true,
        length_min: Some(1),
        length_max: Some(300),
        ..Refinements::default()
    });
    let bytes = to_msgpack(&list, &Type::list(Type::String)).unwrap();
    assert_eq!(
        bytes,
        [0xc7, 0x09, 0x0c, 0x83, 0x01, 0xc2, 0x05, 0x01, 0x06, 0xcd, 0x01, 0x2c]
    );
    assert_eq!(
        from_msgpack(&bytes, &Type::list(Type::String)).unwrap(),
        list
    );

    // Refinements that say nothing are not written: plain unknown.
    let empty = Value::Unknown(Refinements {
        string_prefix: Some(String::new()),
        ..Refinements::default()
    });
    assert_eq!(to_msgpack(&empty, &Type::String).unwrap(), [0xd4, 0, 0]);
    let unbounded = Value::Unknown(Refinements {
        number_lower: Some((Number::NegInfinity, true)),
        number_upper: Some((Number::PosInfinity, true)),
        ..Refinements::default()
    });
    assert_eq!(to_msgpack(&unbounded, &Type::Number).unwrap(), [0xd4, 0, 0]);

    // Refinements that make no sense for the type are refused both ways.
    let prefix_on_number = Value::Unknown(Refinements {
        string_prefix: Some("x".into()),
        ..Refinements::default()
    });
    assert!(to_msgpack(&prefix_on_number, &Type::Number).is_err());
    assert!(from_msgpack(&[0xc7, 0x04, 0x0c, 0x81, 0x02, 0xa1, b'x'], &Type::Number).is_err());

    // Long prefixes are cut to 256 bytes at a character boundary.
    let long = "é".repeat(300);
    let refined = Value::Unknown(Refinements {
        string_prefix: Some(long.clone()),
        ..Refinements::default()
    });
    let Value::Unknown(r) =
        from_msgpack(&to_msgpack(&refined, &Type::String).unwrap(), &Type::String).unwrap()
    else {
        panic!("not unknown")
    };
    let prefix = r.string_prefix.unwrap();
    assert!(prefix.len() <= 256 && long.starts_with(&prefix) && !prefix.is_empty());

    // Oversized refinement payloads are refused, as go-cty does.
    let mut oversized = vec![0xc8, 0x04, 0x01, 0x0c, 0x81, 0x07, 0xc5, 0x03, 0xfc];
    oversized.extend(std::iter::repeat_n(0u8, 0x3fc));
    assert!(from_msgpack(&oversized, &Type::String).is_err());
}

#[test]
fn number_vectors() {
    let cases: [(&str, &[u8]); 9] = [
        ("0", &[0x00]),
        ("1", &[0x01]),
        ("-1", &[0xff]),
        ("300", &[0xcd, 0x01, 0x2c]),
        ("-200", &[0xd1, 0xff, 0x38]),
        ("0.5", &[0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0]),
        ("0.1", &[0xa3, b'0', b'.', b'1']),
        ("1e3", &[0xcd, 0x03, 0xe8]),
        ("18446744073709551615", b"\xb418446744073709551615"),
    ];
    for (text, bytes) in cases {
        let value = Value::Number(num(text));
        assert_eq!(to_msgpack(&value, &Type::Number).unwrap(), bytes, "{text}");
        assert_eq!(from_msgpack(bytes, &Type::Number).unwrap(), value, "{text}");
    }
    let min = Value::Number(Number::from(i64::MIN));
    assert_eq!(
        to_msgpack(&min, &Type::Number).unwrap(),
        [0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]
    );
    let inf = to_msgpack(&Value::Number(Number::PosInfinity), &Type::Number).unwrap();
    assert_eq!(inf, [0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        from_msgpack(&inf, &Type::Number).unwrap(),
        Value::Number(Number::PosInfinity)
    );
    let neg_inf = [0xcb, 0xff, 0xf0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        from_msgpack(&neg_inf, &Type::Number).unwrap(),
        Value::Number(Number::NegInfinity)
    );

    // A big number as a decimal string decodes exactly and is written back the same way.
    let text = "123456789012345678901234567890.000000000001";
    let big = [
        &[0xd9, u8::try_from(text.len()).unwrap()][..],
        text.as_bytes(),
    ]
    .concat();
    let value = from_msgpack(&big, &Type::Number).unwrap();
    assert_eq!(value, Value::Number(num(text)));
    assert_eq!(to_msgpack(&value, &Type::Number).unwrap(), big);

    // Every msgpack number format is read.
    let readable: [(&[u8], &str); 9] = [
        (&[0xcc, 0xff], "255"),
        (&[0xce, 0xff, 0xff, 0xff, 0xff], "4294967295"),
        (
            &[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            "18446744073709551615",
        ),
        (&[0xd0, 0x80], "-128"),
        (&[0xd2, 0x80, 0, 0, 0], "-2147483648"),
        (&[0xca, 0x3f, 0xc0, 0, 0], "1.5"),
        (
            &[0xcb, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18],
            "3.141592653589793115997963468544185161590576171875",
        ),
        (&[0xa4, b'+', b'I', b'n', b'f'], "+Inf"),
        (&[0xc4, 0x03, b'1', b'e', b'5'], "100000"),
    ];
    for (bytes, text) in readable {
        assert_eq!(
            from_msgpack(bytes, &Type::Number).unwrap(),
            Value::Number(num(text)),
            "{text}"
        );
    }
    // A float is its exact binary value, not the shortest decimal near it, and is written
    // back as the same float.
    let float = [0xcb, 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]; // 0.1
    let value = from_msgpack(&float, &Type::Number).unwrap();
    assert_eq!(
        value,
        Value::Number(num(
            "0.1000000000000000055511151231257827021181583404541015625"
        ))
    );
    assert_eq!(to_msgpack(&value, &Type::Number).unwrap(), float);
    let quarter = Value::Number(num("-2000000000000000.25"));
    let bytes = to_msgpack(&quarter, &Type::Number).unwrap();
    assert_eq!(bytes[0], 0xcb);
    assert_eq!(from_msgpack(&bytes, &Type::Number).unwrap(), quarter);
    // Plain notation is limited to 4000 digits.
    let largest = from_msgpack(b"\xa61e3999", &Type::Number).unwrap();
    let written = to_msgpack(&largest, &Type::Number).unwrap();
    assert_eq!(written.len(), 3 + 4000);
    assert_eq!(from_msgpack(&written, &Type::Number).unwrap(), largest);
    assert!(from_msgpack(b"\xa61e4000", &Type::Number).is_err());
    assert!(from_json(b"1e4000", &Type::Number).is_err());
    // NaN, junk and exponent bombs are refused.
    for bytes in [
        &[0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0][..],
        &[0xa3, b'a', b'b', b'c'],
        b"\xa81e999999",
        b"\xa4\x30\x2e\x2e\x31",
    ] {
        assert!(from_msgpack(bytes, &Type::Number).is_err(), "{bytes:x?}");
    }
}

#[test]
fn dynamic_vectors() {
    let value = Value::Dynamic(Type::String, Box::new(Value::string("x")));
    let bytes = to_msgpack(&value, &Type::Dynamic).unwrap();
    assert_eq!(bytes, b"\x92\xc4\x08\"string\"\xa1x");
    assert_eq!(from_msgpack(&bytes, &Type::Dynamic).unwrap(), value);
    // The type may also come as a str; a bare primitive is taken to have its obvious type.
    assert_eq!(
        from_msgpack(b"\x92\xa8\"string\"\xa1x", &Type::Dynamic).unwrap(),
        value
    );
    assert_eq!(
        to_msgpack(&Value::string("x"), &Type::Dynamic).unwrap(),
        bytes
    );
    // A typed null and a typed unknown keep their type.
    let typed_null = Value::Dynamic(Type::list(Type::Number), Box::new(Value::Null));
    let bytes = to_msgpack(&typed_null, &Type::Dynamic).unwrap();
    assert_eq!(bytes, b"\x92\xc4\x11[\"list\",\"number\"]\xc0");
    assert_eq!(from_msgpack(&bytes, &Type::Dynamic).unwrap(), typed_null);
    // A known structural value must say its type.
    let err = to_msgpack(&Value::List(vec![]), &Type::Dynamic).unwrap_err();
    assert!(err.message.contains("Value::Dynamic"), "{err}");

    let json = to_json(&value, &Type::Dynamic).unwrap();
    assert_eq!(json, br#"{"value":"x","type":"string"}"#);
    assert_eq!(
        from_json(br#" {"type":"string","value":"x"} "#, &Type::Dynamic).unwrap(),
        value
    );
    assert!(from_json(br#"{"type":"string"}"#, &Type::Dynamic).is_err());
    assert!(from_json(
        br#"{"type":"string","value":"x","extra":1}"#,
        &Type::Dynamic
    )
    .is_err());
}

#[test]
fn sets_are_sorted_and_deduplicated() {
    let ty = Type::set(Type::String);
    let value = Value::Set(vec![
        Value::Null,
        Value::string("b"),
        Value::unknown(),
        Value::string("a"),
        Value::string("b"),
        Value::unknown(),
        Value::Null,
        Value::string("aa"),
    ]);
    let expected = Value::Set(vec![
        Value::string("a"),
        Value::string("aa"),
        Value::string("b"),
        Value::unknown(),
        Value::unknown(),
        Value::Null,
    ]);
    let bytes = to_msgpack(&value, &ty).unwrap();
    assert_eq!(from_msgpack(&bytes, &ty).unwrap(), expected);
    let numbers = Value::Set(vec![
        Value::Number(num("10")),
        Value::Number(Number::NegInfinity),
        Value::Number(num("9.5")),
        Value::Number(num("1e1")),
    ]);
    let decoded = from_json(
        &to_json(&Value::Set(vec![]), &Type::set(Type::Number)).unwrap(),
        &Type::set(Type::Number),
    )
    .unwrap();
    assert_eq!(decoded, Value::Set(vec![]));
    assert_eq!(
        from_msgpack(
            &to_msgpack(&numbers, &Type::set(Type::Number)).unwrap(),
            &Type::set(Type::Number)
        )
        .unwrap(),
        Value::Set(vec![
            Value::Number(Number::NegInfinity),
            Value::Number(num("9.5")),
            Value::Number(num("10")),
        ])
    );
}

#[test]
fn type_errors_name_the_path() {
    let ty = Type::object([(
        "connection",
        Type::object([("port", Type::Number), ("hosts", Type::list(Type::String))]),
    )]);
    let bad_port = Value::object([(
        "connection",
        Value::object([
            ("port", Value::string("22")),
            ("hosts", Value::List(vec![])),
        ]),
    )]);
    let err = to_msgpack(&bad_port, &ty).unwrap_err();
    assert_eq!(
        err.to_string(),
        "connection.port: expected number, found string"
    );
    let err = to_json(&bad_port, &ty).unwrap_err();
    assert_eq!(
        err.to_string(),
        "connection.port: expected number, found string"
    );

    let bad_host = Value::object([(
        "connection",
        Value::object([
            ("port", Value::int(22)),
            (
                "hosts",
                Value::List(vec![Value::string("a"), Value::Bool(true)]),
            ),
        ]),
    )]);
    let err = to_msgpack(&bad_host, &ty).unwrap_err();
    assert_eq!(
        err.to_string(),
        "connection.hosts[1]: expected string, found bool"
    );

    let missing = Value::object([("connection", Value::object([("port", Value::int(22))]))]);
    let err = to_msgpack(&missing, &ty).unwrap_err();
    assert_eq!(
        err.path,
        AttributePath {
            steps: vec![
                PathStep::Attribute("connection".into()),
                PathStep::Attribute("hosts".into())
            ]
        }
    );
    assert!(err.message.contains("missing attribute"));

    // Decoding: "22" where a number goes is a number (go-cty reads strings as numbers) but
    // true is not.
    let bytes = b"\x81\xaaconnection\x82\xa4port\xc3\xa5hosts\x90";
    let err = from_msgpack(bytes, &ty).unwrap_err();
    assert_eq!(
        err.to_string(),
        "connection.port: expected number, found bool"
    );
    // Missing and extra attributes are refused by msgpack.
    let err = from_msgpack(b"\x81\xaaconnection\x81\xa4port\x01", &ty).unwrap_err();
    assert_eq!(
        err.to_string(),
        "connection: an object with 2 attributes is required (1 given)"
    );
    let err = from_msgpack(b"\x81\xaaconnection\x82\xa4port\x01\xa4user\x90", &ty).unwrap_err();
    assert_eq!(err.to_string(), "connection.user: unsupported attribute");
    // JSON fills missing attributes with null, and refuses extra ones.
    let decoded = from_json(br#"{"connection":{"port":22}}"#, &ty).unwrap();
    assert_eq!(
        decoded,
        Value::object([(
            "connection",
            Value::object([("port", Value::int(22)), ("hosts", Value::Null)])
        )])
    );
    let err = from_json(br#"{"connection":{"port":22,"user":"x"}}"#, &ty).unwrap_err();
    assert_eq!(err.to_string(), "connection.user: unsupported attribute");
    let err = from_json(br#"{"connection":{"port":"x"}}"#, &ty).unwrap_err();
    assert_eq!(err.path.to_string(), "connection.port");
}

#[test]
fn json_vectors() {
    // Big and precise numbers survive exactly, either way.
    let text = "123456789012345678901234567890.000000000000000000001";
    let value = from_json(text.as_bytes(), &Type::Number).unwrap();
    assert_eq!(value, Value::Number(num(text)));
    assert_eq!(to_json(&value, &Type::Number).unwrap(), text.as_bytes());
    assert_eq!(
        from_json(b"1E+2", &Type::Number).unwrap(),
        Value::Number(num("100"))
    );
    assert_eq!(
        to_json(&Value::Number(num("1e2")), &Type::Number).unwrap(),
        b"100"
    );
    assert_eq!(
        from_json(br#""12.5""#, &Type::Number).unwrap(),
        Value::Number(num("12.5"))
    );
    // Found by the fuzzer: numbers that must stay exact through msgpack too.
    for text in [
        "-2000000000000000.25",
        "922337203685472.25",
        "1e3999",
        "5e-324",
    ] {
        let value = from_json(text.as_bytes(), &Type::Number).unwrap();
        assert_eq!(value, Value::Number(num(text)));
        assert_canonical(&value, &Type::Number);
    }
    assert!(from_json(b"1e4096", &Type::Number).is_err());
    // go-cty's conversions: numbers and bools as strings, "true"/"1" as bools.
    assert_eq!(
        from_json(b"12.50", &Type::String).unwrap(),
        Value::string("12.50")
    );
    assert_eq!(
        from_json(b"true", &Type::String).unwrap(),
        Value::string("true")
    );
    assert_eq!(
        from_json(br#""1""#, &Type::Bool).unwrap(),
        Value::Bool(true)
    );
    assert!(from_json(br#""yes""#, &Type::Bool).is_err());
    // Strings: escapes, surrogate pairs, lone surrogates as U+FFFD.
    assert_eq!(
        from_json(
            br#""a\"\\\/\b\f\n\r\t\u00e9\ud83e\udd80\ud800x""#,
            &Type::String
        )
        .unwrap(),
        Value::string("a\"\\/\u{8}\u{c}\n\r\té🦀\u{fffd}x")
    );
    let s = Value::string("\"\\\n\u{0}\u{1f}é🦀\u{2028}");
    let json = to_json(&s, &Type::String).unwrap();
    assert_eq!(
        serde_json::from_slice::<String>(&json).unwrap(),
        "\"\\\n\u{0}\u{1f}é🦀\u{2028}"
    );
    assert_eq!(from_json(&json, &Type::String).unwrap(), s);
    // Not JSON, or JSON with extra bits.
    for bad in [
        &b""[..],
        b" ",
        b"01",
        b"1.",
        b"-",
        b"1e",
        b"\"\x01\"",
        b"\"abc",
        b"[1,]",
        b"{\"a\":1,}",
        b"nul",
        b"1 2",
        b"\"\\x\"",
        b"\"\\u12\"",
        b"\xff",
    ] {
        assert!(
            from_json(bad, &Type::Dynamic).is_err() && from_json(bad, &Type::Number).is_err(),
            "{bad:?}"
        );
    }
    // Duplicate keys are refused.
    assert!(from_json(br#"{"a":1,"a":2}"#, &Type::map(Type::Number)).is_err());
    assert!(from_json(br#"{"a":1,"a":2}"#, &Type::object([("a", Type::Number)])).is_err());
    // Unknowns and infinities have no JSON form.
    let err = to_json(
        &Value::object([("a", Value::unknown())]),
        &Type::object([("a", Type::String)]),
    )
    .unwrap_err();
    assert_eq!(err.path.to_string(), "a");
    assert!(to_json(&Value::Number(Number::PosInfinity), &Type::Number).is_err());
    // Null is null anywhere.
    assert_eq!(to_json(&Value::Null, &Type::Dynamic).unwrap(), b"null");
    assert_eq!(
        from_json(b"null", &Type::list(Type::String)).unwrap(),
        Value::Null
    );
}

// ------------------------------------------------------------------------------------------
// Hostile input

fn fails_fast(bytes: &[u8], ty: &Type) {
    let start = Instant::now();
    assert!(
        from_msgpack(bytes, ty).is_err(),
        "{:x?}",
        &bytes[..bytes.len().min(16)]
    );
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn huge_declared_lengths_fail_fast() {
    let list = Type::list(Type::Number);
    fails_fast(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02], &list);
    fails_fast(&[0xdc, 0xff, 0xff, 0x01], &list);
    fails_fast(
        &[0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, b'a', 0x01],
        &Type::map(Type::Number),
    );
    fails_fast(&[0xdb, 0xff, 0xff, 0xff, 0xff, b'a'], &Type::String);
    fails_fast(&[0xc6, 0xff, 0xff, 0xff, 0xff, b'a'], &Type::String);
    fails_fast(&[0xc9, 0xff, 0xff, 0xff, 0xff, 0x0c, 0x81], &Type::String);
    fails_fast(&[0xdd, 0xff, 0xff, 0xff, 0xff], &Type::Dynamic);
    // Trailing bytes and empty input.
    assert!(from_msgpack(&[0x01, 0x02], &Type::Number).is_err());
    assert!(from_msgpack(&[], &Type::Number).is_err());
    assert!(from_msgpack(&[0xc1], &Type::Number).is_err());
}

#[test]
fn deep_nesting_is_bounded() {
    // A chain of dynamic values, each declaring type "dynamic" around the next.
    let mut chain = Vec::new();
    for _ in 0..100_000 {
        chain.extend_from_slice(b"\x92\xc4\x09\"dynamic\"");
    }
    chain.push(0xc0);
    fails_fast(&chain, &Type::Dynamic);
    // 64 levels are fine.
    let mut ok = Vec::new();
    for _ in 0..60 {
        ok.extend_from_slice(b"\x92\xc4\x09\"dynamic\"");
    }
    ok.push(0x01);
    ok.splice(ok.len() - 1..ok.len() - 1, *b"\x92\xc4\x08\"number\"");
    assert_eq!(
        from_msgpack(&ok, &Type::Dynamic).unwrap(),
        Value::Dynamic(Type::Number, Box::new(Value::int(1)))
    );

    // A dynamic value whose type is nested very deeply (beyond serde_json's limit, and beyond
    // ours).
    for levels in [200, 70] {
        let deep_type = format!(
            "{}\"string\"{}",
            "[\"list\",".repeat(levels),
            "]".repeat(levels)
        );
        let mut bytes = vec![0x92, 0xc5];
        bytes.extend_from_slice(&u16::try_from(deep_type.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(deep_type.as_bytes());
        bytes.push(0xc0);
        fails_fast(&bytes, &Type::Dynamic);
    }

    // JSON: deep arrays, and a chain of dynamic wrappers.
    let deep = "[".repeat(100_000);
    assert!(from_json(deep.as_bytes(), &Type::Dynamic).is_err());
    let chain = format!(
        "{}null{}",
        "{\"type\":\"dynamic\",\"value\":".repeat(1000),
        "}".repeat(1000)
    );
    assert!(from_json(chain.as_bytes(), &Type::Dynamic).is_err());
    // Refinement payloads nested deeply under an unknown key are skipped without recursion.
    let mut payload = vec![0x81, 0x63];
    payload.extend(std::iter::repeat_n(0x91, 1000));
    payload.push(0xc0);
    let mut bytes = vec![0xc8];
    bytes.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
    bytes.push(0x0c);
    bytes.extend_from_slice(&payload);
    assert_eq!(
        from_msgpack(&bytes, &Type::String).unwrap(),
        Value::unknown()
    );
}
