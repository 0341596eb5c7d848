//! PodDisruptionBudgets as the stand-in's eviction subresource applies them: whether evicting a
//! pod now would violate the policy/v1 budget that selects it, decided from the pods in the
//! store at the moment of the request, in the real API's words.
//!
//! Kubernetes decides with the budget's status, which its disruption controller keeps (how
//! many selected pods are healthy and how many must be); the stand-in has no such controller
//! and computes the same numbers when an eviction arrives:
//! - a pod in phase `Succeeded`, `Failed` or `Pending`, or one already being deleted, is
//!   evicted without asking any budget (as the real API does);
//! - the budget is the one in the pod's namespace whose `spec.selector` matches the pod's
//!   labels (`{}` matches every pod, no selector matches none); more than one is an error;
//! - healthy pods are the selected pods in phase `Running` not being deleted; expected pods
//!   are the selected pods that are not finished (`Succeeded`/`Failed`) — Kubernetes takes
//!   this number from the owning workload's scale, which the stand-in does not follow;
//! - the pods that must stay healthy: `minAvailable`, or expected minus `maxUnavailable`.
//!   Only integer values are enforced: a percentage (`"50%"`) is not, and a budget giving
//!   one allows every eviction here (a real API would scale it by the expected count);
//! - the eviction is allowed while healthy minus one still meets that number.

use super::selector::Selector;
use serde_json::{json, Value};

/// What the real API answers when a budget forbids an eviction (429 TooManyRequests).
pub const VIOLATION_MESSAGE: &str =
    "Cannot evict pod as it would violate the pod's disruption budget.";

/// What the real API answers when more than one budget selects the pod (500).
pub const SEVERAL_BUDGETS_MESSAGE: &str =
    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.";

/// The storage key of PodDisruptionBudgets.
pub const PDB_KEY: &str = "policy/poddisruptionbudgets";

/// Whether an eviction may go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Delete the pod.
    Allowed,
    /// The budget named would be violated: answer 429.
    Violates {
        /// The budget's name.
        budget: String,
        /// How many selected pods must stay healthy.
        desired_healthy: i64,
        /// How many are healthy now.
        current_healthy: i64,
    },
    /// More than one budget selects the pod: answer 500.
    SeveralBudgets,
}

impl Verdict {
    /// The `details` of the 429 Status, as the real API gives them.
    pub fn details(&self) -> Value {
        match self {
            Verdict::Violates {
                budget,
                desired_healthy,
                current_healthy,
            } => json!({"causes": [{
                "reason": "DisruptionBudget",
                "message": format!(
                    "The disruption budget {budget} needs {desired_healthy} healthy pods and has {current_healthy} currently"
                ),
            }]}),
            _ => Value::Null,
        }
    }
}

/// Decides the eviction of `pod` with the `budgets` and `pods` of its namespace.
pub fn check(pod: &Value, budgets: &[Value], pods: &[Value]) -> Verdict {
    if matches!(phase(pod), "Succeeded" | "Failed" | "Pending") || being_deleted(pod) {
        return Verdict::Allowed;
    }
    let selecting: Vec<(&Value, Selector)> = budgets
        .iter()
        .filter_map(|b| selector_of(b).map(|s| (b, s)))
        .filter(|(_, s)| s.matches(pod))
        .collect();
    let (budget, selector) = match selecting.as_slice() {
        [] => return Verdict::Allowed,
        [one] => one,
        _ => return Verdict::SeveralBudgets,
    };
    let selected: Vec<&Value> = pods.iter().filter(|p| selector.matches(p)).collect();
    let expected = selected
        .iter()
        .filter(|p| !matches!(phase(p), "Succeeded" | "Failed"))
        .count() as i64;
    let healthy = selected
        .iter()
        .filter(|p| phase(p) == "Running" && !being_deleted(p))
        .count() as i64;
    let spec = &budget["spec"];
    let desired = if let Some(min) = spec["minAvailable"].as_i64() {
        min
    } else if let Some(max) = spec["maxUnavailable"].as_i64() {
        expected - max
    } else {
        // No integer in either field (a percentage, or neither): not enforced here.
        return Verdict::Allowed;
    };
    // Allowed while one fewer healthy pod still meets the budget: healthy - 1 >= desired.
    if healthy > desired {
        Verdict::Allowed
    } else {
        Verdict::Violates {
            budget: budget["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            desired_healthy: desired,
            current_healthy: healthy,
        }
    }
}

/// The budget's selector; `None` (selects nothing) without one or when it is not valid.
fn selector_of(budget: &Value) -> Option<Selector> {
    let selector = &budget["spec"]["selector"];
    if selector.is_null() {
        return None;
    }
    Selector::from_object(selector).ok()
}

fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or("Pending")
}

fn being_deleted(pod: &Value) -> bool {
    !pod["metadata"]["deletionTimestamp"].is_null()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, app: &str, phase: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "web", "labels": {"app": app}},
               "status": {"phase": phase}})
    }

    fn budget(name: &str, spec: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "web"}, "spec": spec})
    }

    #[test]
    fn min_available_counts_the_healthy_pods_left() {
        let pods = [
            pod("a", "web", "Running"),
            pod("b", "web", "Running"),
            pod("c", "web", "Running"),
        ];
        let two = budget(
            "web",
            json!({"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}),
        );
        assert_eq!(
            check(&pods[0], std::slice::from_ref(&two), &pods),
            Verdict::Allowed
        );
        let verdict = check(&pods[0], std::slice::from_ref(&two), &pods[..2]);
        assert_eq!(
            verdict,
            Verdict::Violates {
                budget: "web".into(),
                desired_healthy: 2,
                current_healthy: 2
            }
        );
        assert_eq!(
            verdict.details()["causes"][0]["message"],
            "The disruption budget web needs 2 healthy pods and has 2 currently"
        );
        // A pod the budget does not select, or one not running, goes.
        let other = pod("d", "db", "Running");
        assert_eq!(
            check(&other, std::slice::from_ref(&two), &pods[..2]),
            Verdict::Allowed
        );
        let pending = pod("e", "web", "Pending");
        assert_eq!(check(&pending, &[two], &pods[..2]), Verdict::Allowed);
    }

    #[test]
    fn max_unavailable_counts_the_pods_that_would_be_down() {
        let mut pods = vec![pod("a", "web", "Running"), pod("b", "web", "Running")];
        let one = budget(
            "web",
            json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}),
        );
        assert_eq!(
            check(&pods[0], std::slice::from_ref(&one), &pods),
            Verdict::Allowed
        );
        // One already down (not running): a second would exceed the budget.
        pods.push(pod("c", "web", "Pending"));
        assert!(matches!(
            check(&pods[0], std::slice::from_ref(&one), &pods),
            Verdict::Violates { .. }
        ));
        let zero = budget(
            "web",
            json!({"maxUnavailable": 0, "selector": {"matchLabels": {"app": "web"}}}),
        );
        assert!(matches!(
            check(&pods[0], &[zero], &pods[..2]),
            Verdict::Violates { .. }
        ));
    }

    #[test]
    fn percentages_are_not_enforced_and_two_budgets_are_an_error() {
        let pods = [pod("a", "web", "Running")];
        let percent = budget(
            "web",
            json!({"minAvailable": "100%", "selector": {"matchLabels": {"app": "web"}}}),
        );
        assert_eq!(check(&pods[0], &[percent], &pods), Verdict::Allowed);
        let all = budget("all", json!({"minAvailable": 0, "selector": {}}));
        let web = budget(
            "web",
            json!({"minAvailable": 0, "selector": {"matchLabels": {"app": "web"}}}),
        );
        assert_eq!(
            check(&pods[0], &[all.clone(), web], &pods),
            Verdict::SeveralBudgets
        );
        let none = budget("none", json!({"minAvailable": 5}));
        assert_eq!(check(&pods[0], &[none], &pods), Verdict::Allowed);
        assert_eq!(check(&pods[0], &[all], &pods), Verdict::Allowed);
    }
}
