//! Network Load Balancer (API `20200501`): backends of a backend set, and the work requests
//! that every change returns. Changes to one load balancer are serialized within the process
//! (OCI refuses concurrent ones with `409 Conflict`), and the idempotent helpers
//! ([`NetworkLoadBalancer::ensure_backend`], [`NetworkLoadBalancer::remove_backend`]) wait
//! for the work request and treat "already there" / "already gone" as done.

use super::client::Client;
use super::error::Error;
use super::region::Service;
use super::request::{encode_path_segment, ListShape, Request};
use http::Method;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A backend of a backend set.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Backend {
    /// The backend name, `<ip>:<port>` or `<target OCID>:<port>` unless set explicitly.
    pub name: String,
    /// The IP address, for IP backends.
    #[serde(default)]
    pub ip_address: Option<String>,
    /// The instance OCID, for target backends.
    #[serde(default)]
    pub target_id: Option<String>,
    /// The port.
    pub port: u16,
    /// The load-balancing weight.
    #[serde(default)]
    pub weight: Option<u32>,
    /// Draining: no new connections.
    #[serde(default)]
    pub is_drain: Option<bool>,
    /// Backup: used only when all others are unhealthy.
    #[serde(default)]
    pub is_backup: Option<bool>,
    /// Offline: no traffic.
    #[serde(default)]
    pub is_offline: Option<bool>,
}

/// What CreateBackend sends.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreateBackendDetails {
    /// The port.
    pub port: u16,
    /// An explicit name (default `<ip or target>:<port>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The IP address (for IP backends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// The instance OCID (for target backends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// The weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Draining.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_drain: Option<bool>,
    /// Backup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_backup: Option<bool>,
    /// Offline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_offline: Option<bool>,
}

impl CreateBackendDetails {
    /// A backend by IP address and port.
    pub fn ip(ip_address: impl Into<String>, port: u16) -> CreateBackendDetails {
        CreateBackendDetails {
            port,
            name: None,
            ip_address: Some(ip_address.into()),
            target_id: None,
            weight: None,
            is_drain: None,
            is_backup: None,
            is_offline: None,
        }
    }

    /// A backend by instance OCID and port.
    pub fn target(instance_id: impl Into<String>, port: u16) -> CreateBackendDetails {
        CreateBackendDetails {
            target_id: Some(instance_id.into()),
            ip_address: None,
            ..CreateBackendDetails::ip("", port)
        }
    }

    /// Sets the weight.
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = Some(weight);
        self
    }

    /// The name OCI gives the backend: the explicit name, else `<ip>:<port>` or
    /// `<target>:<port>`.
    pub fn backend_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let host = self
            .ip_address
            .as_deref()
            .or(self.target_id.as_deref())
            .unwrap_or_default();
        format!("{host}:{}", self.port)
    }
}

/// An asynchronous NLB work request.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WorkRequest {
    /// The work request OCID.
    pub id: String,
    /// What it does (`CREATE_BACKEND`, `DELETE_BACKEND`, …).
    #[serde(default)]
    pub operation_type: String,
    /// `ACCEPTED`, `IN_PROGRESS`, `FAILED`, `SUCCEEDED`, `CANCELING`, `CANCELED`.
    pub status: String,
    /// Progress in percent.
    #[serde(default)]
    pub percent_complete: Option<f64>,
    /// When it was accepted (RFC 3339).
    #[serde(default)]
    pub time_accepted: Option<String>,
    /// When it finished (RFC 3339).
    #[serde(default)]
    pub time_finished: Option<String>,
}

/// Network Load Balancer calls. Get one with [`Client::network_load_balancer`].
#[derive(Clone, Copy, Debug)]
pub struct NetworkLoadBalancer<'a> {
    client: &'a Client,
}

fn backends_path(nlb_id: &str, backend_set: &str) -> String {
    format!(
        "/networkLoadBalancers/{}/backendSets/{}/backends",
        encode_path_segment(nlb_id),
        encode_path_segment(backend_set)
    )
}

/// One lock per load balancer OCID, process-wide: OCI rejects concurrent changes to one NLB.
fn nlb_lock(nlb_id: &str) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    locks.entry(nlb_id.to_owned()).or_default().clone()
}

impl NetworkLoadBalancer<'_> {
    /// ListBackends of a backend set, all pages.
    pub async fn list_backends(
        &self,
        nlb_id: &str,
        backend_set: &str,
    ) -> Result<Vec<Backend>, Error> {
        let request = Request::new(
            Method::GET,
            Service::NetworkLoadBalancer,
            "ListBackends",
            backends_path(nlb_id, backend_set),
        );
        self.client.list_all(request, ListShape::Items).await
    }

    /// CreateBackend; returns the work request OCID to wait for.
    pub async fn create_backend(
        &self,
        nlb_id: &str,
        backend_set: &str,
        details: &CreateBackendDetails,
    ) -> Result<String, Error> {
        let request = Request::new(
            Method::POST,
            Service::NetworkLoadBalancer,
            "CreateBackend",
            backends_path(nlb_id, backend_set),
        )
        .json(details)?;
        let response = self.client.execute(request).await?;
        response
            .work_request_id()
            .map(str::to_owned)
            .ok_or_else(|| response.decode_error("no opc-work-request-id header"))
    }

    /// DeleteBackend (`backend_name` like `10.0.0.3:6443`, encoded as `10.0.0.3%3A6443`);
    /// returns the work request OCID to wait for.
    pub async fn delete_backend(
        &self,
        nlb_id: &str,
        backend_set: &str,
        backend_name: &str,
    ) -> Result<String, Error> {
        let path = format!(
            "{}/{}",
            backends_path(nlb_id, backend_set),
            encode_path_segment(backend_name)
        );
        let request = Request::new(
            Method::DELETE,
            Service::NetworkLoadBalancer,
            "DeleteBackend",
            path,
        );
        let response = self.client.execute(request).await?;
        response
            .work_request_id()
            .map(str::to_owned)
            .ok_or_else(|| response.decode_error("no opc-work-request-id header"))
    }

    /// GetWorkRequest.
    pub async fn get_work_request(&self, work_request_id: &str) -> Result<WorkRequest, Error> {
        let path = format!("/workRequests/{}", encode_path_segment(work_request_id));
        self.client
            .execute(Request::new(
                Method::GET,
                Service::NetworkLoadBalancer,
                "GetWorkRequest",
                path,
            ))
            .await?
            .json()
    }

    /// The error messages of a work request (ListWorkRequestErrors).
    pub async fn work_request_errors(&self, work_request_id: &str) -> Result<Vec<String>, Error> {
        #[derive(Deserialize)]
        struct WorkRequestError {
            #[serde(default)]
            code: String,
            #[serde(default)]
            message: String,
        }
        let path = format!(
            "/workRequests/{}/errors",
            encode_path_segment(work_request_id)
        );
        let request = Request::new(
            Method::GET,
            Service::NetworkLoadBalancer,
            "ListWorkRequestErrors",
            path,
        );
        let errors: Vec<WorkRequestError> = self.client.list_all(request, ListShape::Items).await?;
        Ok(errors
            .into_iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect())
    }

    /// Polls a work request until it is `SUCCEEDED` (returned), `FAILED` or `CANCELED` (an
    /// error with its messages), or `timeout` passes.
    pub async fn wait_for_work_request(
        &self,
        work_request_id: &str,
        timeout: Duration,
    ) -> Result<WorkRequest, Error> {
        let deadline = Instant::now() + timeout;
        let interval = self.client.poll_interval();
        loop {
            let request = self.get_work_request(work_request_id).await?;
            match request.status.as_str() {
                "SUCCEEDED" => return Ok(request),
                "FAILED" | "CANCELED" => {
                    let errors = self
                        .work_request_errors(work_request_id)
                        .await
                        .unwrap_or_default();
                    return Err(Error::WorkRequestFailed {
                        id: request.id,
                        operation_type: request.operation_type,
                        status: request.status,
                        errors,
                    });
                }
                _ => {}
            }
            if Instant::now() + interval > deadline {
                return Err(Error::Timeout {
                    what: format!(
                        "NLB work request {work_request_id} ({}) to finish; it is {}",
                        request.operation_type, request.status
                    ),
                    after: timeout,
                    hint: "it may still finish: check it in the OCI console, then run again".into(),
                });
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// Makes sure the backend exists: creates it unless a backend of that name is already
    /// there, waits for the work request, and returns the backend as listed.
    pub async fn ensure_backend(
        &self,
        nlb_id: &str,
        backend_set: &str,
        details: &CreateBackendDetails,
        timeout: Duration,
    ) -> Result<Backend, Error> {
        let lock = nlb_lock(nlb_id);
        let _guard = lock.lock().await;
        let deadline = Instant::now() + timeout;
        let name = details.backend_name();
        let find = |backends: Vec<Backend>| backends.into_iter().find(|b| b.name == name);
        if let Some(existing) = find(self.list_backends(nlb_id, backend_set).await?) {
            return Ok(existing);
        }
        loop {
            match self.create_backend(nlb_id, backend_set, details).await {
                Ok(work_request) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    self.wait_for_work_request(&work_request, left).await?;
                    break;
                }
                Err(e) if e.status() == Some(409) && e.code() == Some("Conflict") => {
                    self.wait_out_conflict(&e, deadline).await?;
                }
                Err(e) if e.code() == Some("NotAuthorizedOrResourceAlreadyExists") => break,
                Err(e) => return Err(e),
            }
        }
        let listed = find(self.list_backends(nlb_id, backend_set).await?);
        Ok(listed.unwrap_or_else(|| Backend {
            name,
            ip_address: details.ip_address.clone(),
            target_id: details.target_id.clone(),
            port: details.port,
            weight: details.weight,
            is_drain: details.is_drain,
            is_backup: details.is_backup,
            is_offline: details.is_offline,
        }))
    }

    /// Makes sure the backend is gone: deletes it if present and waits for the work request.
    /// Returns whether it had to be deleted.
    pub async fn remove_backend(
        &self,
        nlb_id: &str,
        backend_set: &str,
        backend_name: &str,
        timeout: Duration,
    ) -> Result<bool, Error> {
        let lock = nlb_lock(nlb_id);
        let _guard = lock.lock().await;
        let deadline = Instant::now() + timeout;
        loop {
            match self.delete_backend(nlb_id, backend_set, backend_name).await {
                Ok(work_request) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    self.wait_for_work_request(&work_request, left).await?;
                    return Ok(true);
                }
                Err(e) if e.status() == Some(404) => return Ok(false),
                Err(e) if e.status() == Some(409) && e.code() == Some("Conflict") => {
                    self.wait_out_conflict(&e, deadline).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Another change to the load balancer is in progress (possibly from another process):
    /// wait a poll interval, unless that would pass the deadline.
    async fn wait_out_conflict(&self, error: &Error, deadline: Instant) -> Result<(), Error> {
        let interval = self.client.poll_interval();
        if Instant::now() + interval > deadline {
            return Err(Error::Timeout {
                what: "the network load balancer to accept a change".into(),
                after: interval,
                hint: format!("another change kept it busy: {error}"),
            });
        }
        tracing::info!("network load balancer busy with another change; waiting");
        tokio::time::sleep(interval).await;
        Ok(())
    }
}

impl Client {
    /// Network Load Balancer calls.
    pub fn network_load_balancer(&self) -> NetworkLoadBalancer<'_> {
        NetworkLoadBalancer { client: self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_and_body() {
        let ip = CreateBackendDetails::ip("10.0.0.3", 6443);
        assert_eq!(ip.backend_name(), "10.0.0.3:6443");
        assert_eq!(
            serde_json::to_string(&ip).unwrap(),
            r#"{"port":6443,"ipAddress":"10.0.0.3"}"#
        );
        let target = CreateBackendDetails::target("ocid1.instance.oc1.phx.x", 443).weight(2);
        assert_eq!(target.backend_name(), "ocid1.instance.oc1.phx.x:443");
        assert_eq!(
            serde_json::to_string(&target).unwrap(),
            r#"{"port":443,"targetId":"ocid1.instance.oc1.phx.x","weight":2}"#
        );
        assert_eq!(
            backends_path("ocid1.nlb", "k3s-api"),
            "/networkLoadBalancers/ocid1.nlb/backendSets/k3s-api/backends"
        );
    }
}
