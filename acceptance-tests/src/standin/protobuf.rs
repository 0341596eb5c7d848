//! Decoding of the Kubernetes protobuf request bodies kubectl's typed clients send
//! (`Content-Type: application/vnd.kubernetes.protobuf`, e.g. `kubectl create namespace`,
//! `kubectl create configmap|secret|serviceaccount`, drain's evictions) into JSON. Only those
//! kinds are known; any other protobuf body is refused with 415 by the caller. Responses are
//! always JSON, which clients accept since they list `application/json` too.

use base64::Engine;
use serde_json::{json, Map, Value};

/// The protobuf media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

#[derive(Debug, Clone, Copy)]
enum Field {
    Str(&'static str),
    Int(&'static str),
    Bool(&'static str),
    RepeatedStr(&'static str),
    MapStr(&'static str),
    MapBytes(&'static str),
    Msg(&'static str, &'static [(u64, Field)]),
    RepeatedMsg(&'static str, &'static [(u64, Field)]),
}

const OWNER_REFERENCE: &[(u64, Field)] = &[
    (1, Field::Str("kind")),
    (3, Field::Str("name")),
    (4, Field::Str("uid")),
    (5, Field::Str("apiVersion")),
    (6, Field::Bool("controller")),
    (7, Field::Bool("blockOwnerDeletion")),
];

const OBJECT_META: &[(u64, Field)] = &[
    (1, Field::Str("name")),
    (2, Field::Str("generateName")),
    (3, Field::Str("namespace")),
    (5, Field::Str("uid")),
    (6, Field::Str("resourceVersion")),
    (7, Field::Int("generation")),
    (11, Field::MapStr("labels")),
    (12, Field::MapStr("annotations")),
    (13, Field::RepeatedMsg("ownerReferences", OWNER_REFERENCE)),
    (14, Field::RepeatedStr("finalizers")),
];

const NAMESPACE: &[(u64, Field)] = &[
    (1, Field::Msg("metadata", OBJECT_META)),
    (
        2,
        Field::Msg("spec", &[(1, Field::RepeatedStr("finalizers"))]),
    ),
];

const CONFIG_MAP: &[(u64, Field)] = &[
    (1, Field::Msg("metadata", OBJECT_META)),
    (2, Field::MapStr("data")),
    (3, Field::MapBytes("binaryData")),
    (4, Field::Bool("immutable")),
];

const SECRET: &[(u64, Field)] = &[
    (1, Field::Msg("metadata", OBJECT_META)),
    (2, Field::MapBytes("data")),
    (3, Field::Str("type")),
    (4, Field::MapStr("stringData")),
    (5, Field::Bool("immutable")),
];

const OBJECT_REFERENCE: &[(u64, Field)] = &[
    (1, Field::Str("kind")),
    (2, Field::Str("namespace")),
    (3, Field::Str("name")),
    (4, Field::Str("uid")),
    (5, Field::Str("apiVersion")),
];

const SERVICE_ACCOUNT: &[(u64, Field)] = &[
    (1, Field::Msg("metadata", OBJECT_META)),
    (2, Field::RepeatedMsg("secrets", OBJECT_REFERENCE)),
    (
        3,
        Field::RepeatedMsg("imagePullSecrets", &[(1, Field::Str("name"))]),
    ),
    (4, Field::Bool("automountServiceAccountToken")),
];

const EVICTION: &[(u64, Field)] = &[(1, Field::Msg("metadata", OBJECT_META))];

fn schema(kind: &str) -> Option<&'static [(u64, Field)]> {
    Some(match kind {
        "Namespace" => NAMESPACE,
        "ConfigMap" => CONFIG_MAP,
        "Secret" => SECRET,
        "ServiceAccount" => SERVICE_ACCOUNT,
        "Eviction" => EVICTION,
        _ => return None,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Skipped,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint too long".into())
    }

    fn next(&mut self) -> Result<Option<(u64, Wire<'a>)>, String> {
        if self.pos >= self.bytes.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.pos += 8;
                Wire::Skipped
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length overflow")?;
                let end = self.pos.checked_add(len).ok_or("length overflow")?;
                let slice = self.bytes.get(self.pos..end).ok_or("truncated field")?;
                self.pos = end;
                Wire::Bytes(slice)
            }
            5 => {
                self.pos += 4;
                Wire::Skipped
            }
            other => return Err(format!("unsupported wire type {other}")),
        };
        if self.pos > self.bytes.len() {
            return Err("truncated field".into());
        }
        Ok(Some((key >> 3, wire)))
    }
}

fn text(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "a string field is not UTF-8".to_owned())
}

/// A map entry: key = 1, value = 2.
fn entry(b: &[u8]) -> Result<(String, Vec<u8>), String> {
    let mut r = Reader { bytes: b, pos: 0 };
    let (mut k, mut v) = (String::new(), Vec::new());
    while let Some((n, w)) = r.next()? {
        match (n, w) {
            (1, Wire::Bytes(b)) => k = text(b)?,
            (2, Wire::Bytes(b)) => v = b.to_vec(),
            _ => {}
        }
    }
    Ok((k, v))
}

fn decode(bytes: &[u8], schema: &[(u64, Field)]) -> Result<Value, String> {
    let mut out = Map::new();
    let mut r = Reader { bytes, pos: 0 };
    while let Some((number, wire)) = r.next()? {
        let Some((_, field)) = schema.iter().find(|(n, _)| *n == number) else {
            continue;
        };
        match (*field, wire) {
            (Field::Str(name), Wire::Bytes(b)) => {
                out.insert(name.into(), json!(text(b)?));
            }
            (Field::Int(name), Wire::Varint(v)) => {
                out.insert(name.into(), json!(v as i64));
            }
            (Field::Bool(name), Wire::Varint(v)) => {
                out.insert(name.into(), json!(v != 0));
            }
            (Field::RepeatedStr(name), Wire::Bytes(b)) => {
                let list = out.entry(name).or_insert_with(|| json!([]));
                if let Some(a) = list.as_array_mut() {
                    a.push(json!(text(b)?));
                }
            }
            (Field::MapStr(name), Wire::Bytes(b)) => {
                let (k, v) = entry(b)?;
                out.entry(name).or_insert_with(|| json!({}))[k] = json!(text(&v)?);
            }
            (Field::MapBytes(name), Wire::Bytes(b)) => {
                let (k, v) = entry(b)?;
                out.entry(name).or_insert_with(|| json!({}))[k] =
                    json!(base64::engine::general_purpose::STANDARD.encode(v));
            }
            (Field::Msg(name, inner), Wire::Bytes(b)) => {
                out.insert(name.into(), decode(b, inner)?);
            }
            (Field::RepeatedMsg(name, inner), Wire::Bytes(b)) => {
                let item = decode(b, inner)?;
                let list = out.entry(name).or_insert_with(|| json!([]));
                if let Some(a) = list.as_array_mut() {
                    a.push(item);
                }
            }
            _ => return Err(format!("field {number} has an unexpected wire type")),
        }
    }
    Ok(Value::Object(out))
}

/// Decodes a protobuf request body (`k8s\0` + `runtime.Unknown`) into a JSON object.
pub fn to_json(body: &[u8]) -> Result<Value, String> {
    let unknown = body
        .strip_prefix(b"k8s\0")
        .ok_or("the body lacks the Kubernetes protobuf prefix")?;
    let mut r = Reader {
        bytes: unknown,
        pos: 0,
    };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while let Some((n, w)) = r.next()? {
        match (n, w) {
            (1, Wire::Bytes(type_meta)) => {
                let mut t = Reader {
                    bytes: type_meta,
                    pos: 0,
                };
                while let Some((n, w)) = t.next()? {
                    match (n, w) {
                        (1, Wire::Bytes(b)) => api_version = text(b)?,
                        (2, Wire::Bytes(b)) => kind = text(b)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    let schema = schema(&kind).ok_or_else(|| {
        format!(
            "the K3s stand-in decodes protobuf bodies only for Namespace, ConfigMap, Secret, \
             ServiceAccount and Eviction, not {kind:?}; send JSON (e.g. kubectl apply) instead"
        )
    })?;
    let mut object = decode(raw, schema)?;
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3 | 2) as u8, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn a_config_map_decodes() {
        let labels = [field(1, b"app"), field(2, b"web")].concat();
        let meta = [field(1, b"cm"), field(3, b"default"), field(11, &labels)].concat();
        let data = [field(1, b"k"), field(2, b"v")].concat();
        let raw = [field(1, &meta), field(2, &data)].concat();
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &raw)].concat();
        let v = to_json(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cm", "namespace": "default", "labels": {"app": "web"}},
                   "data": {"k": "v"}})
        );
        let type_meta = [field(1, b"apps/v1"), field(2, b"Deployment")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta)].concat();
        assert!(to_json(&body).unwrap_err().contains("Deployment"));
    }
}
