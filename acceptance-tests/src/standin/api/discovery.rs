//! Discovery and OpenAPI for the stand-in's API: the group and resource lists kubectl and
//! kube-rs read, the version document, and OpenAPI v3 stubs.

use super::*;

pub(super) fn group_json(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs[0]})
}

pub(super) fn resource_list(
    cluster: &Cluster,
    group: &str,
    version: &str,
) -> Result<Response<Body>, ApiError> {
    let types: Vec<ResourceType> = cluster
        .types()
        .into_iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if types.is_empty() {
        return Err(unknown_resource());
    }
    let resources: Vec<Value> = types.iter().flat_map(ResourceType::discovery).collect();
    let gv = types[0].api_version();
    Ok(json_response(
        200,
        &json!({
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources,
        }),
    ))
}

pub(super) fn version_info(version: &str) -> Value {
    let core = version.trim_start_matches('v');
    let mut parts = core.split(['.', '+', '-']);
    let major = parts.next().unwrap_or("1");
    let minor = parts.next().unwrap_or("0");
    json!({
        "major": major, "minor": minor, "gitVersion": version,
        "gitCommit": super::super::commit_of(version), "gitTreeState": "clean",
        "buildDate": "2025-08-01T00:00:00Z", "goVersion": super::super::GO_VERSION,
        "compiler": "gc", "platform": "linux/amd64",
    })
}

pub(super) fn gv_path(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        "api/v1".into()
    } else {
        format!("apis/{}/{}", rt.group, rt.version)
    }
}

pub(super) fn openapi_root(cluster: &Cluster) -> Value {
    let mut paths = Map::new();
    let mut by_gv: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rt in cluster.types() {
        by_gv
            .entry(gv_path(&rt))
            .or_default()
            .push(format!("{}/{}", rt.plural, rt.kind));
    }
    for (gv, kinds) in by_gv {
        let hash = sha256_hex(format!("{}{}", cluster.version, kinds.join(",")).as_bytes());
        paths.insert(
            gv.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={}", &hash[..32].to_uppercase())}),
        );
    }
    json!({"paths": paths})
}

pub(super) fn openapi_doc(cluster: &Cluster, gv: &str) -> Result<Response<Body>, ApiError> {
    let types: Vec<ResourceType> = cluster
        .types()
        .into_iter()
        .filter(|r| gv_path(r) == gv)
        .collect();
    if types.is_empty() {
        return Err(unknown_resource());
    }
    let params = json!([
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}},
    ]);
    let mut paths = Map::new();
    for rt in &types {
        let gvk = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
        let base = if rt.namespaced {
            format!("/{gv}/namespaces/{{namespace}}/{}", rt.plural)
        } else {
            format!("/{gv}/{}", rt.plural)
        };
        let op = |action: &str| {
            json!({"x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
                   "parameters": params, "responses": {"200": {"description": "OK"}}})
        };
        paths.insert(base.clone(), json!({"get": op("list"), "post": op("post")}));
        paths.insert(
            format!("{base}/{{name}}"),
            json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}),
        );
    }
    Ok(json_response(
        200,
        &json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": cluster.version},
            "paths": paths,
            "components": {"schemas": {}},
        }),
    ))
}
