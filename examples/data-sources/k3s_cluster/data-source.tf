# The health of the cluster this configuration creates, read through the server node over SSH
# (no cluster credential in the state). `depends_on` makes Terraform read it during apply, after
# the nodes exist, instead of at plan time.
data "k3s_cluster" "main" {
  server {
    host = k3s_server.main.host
    ssh {
      host_key = var.server_host_key
    }
  }
  # Give nodes that were just created up to 2 minutes to report Ready.
  wait_for_ready = "2m"

  depends_on = [k3s_server.main, k3s_agent.worker]
}

# Checked on every plan and apply; a failure is a warning naming the nodes.
check "cluster_health" {
  assert {
    condition     = data.k3s_cluster.main.all_ready
    error_message = "Nodes not Ready: ${join(", ", [for n in data.k3s_cluster.main.nodes : n.name if !n.ready])}."
  }
  assert {
    condition     = data.k3s_cluster.main.api_ready
    error_message = "The API server is not ready: ${join(", ", data.k3s_cluster.main.api_checks)}."
  }
}

# Or with a kubeconfig, e.g. in a configuration that does not create the cluster.
data "k3s_cluster" "existing" {
  kubeconfig = var.kubeconfig
}

output "control_plane" {
  value = [for n in data.k3s_cluster.existing.nodes : n.internal_ip if contains(n.roles, "control-plane")]
}
