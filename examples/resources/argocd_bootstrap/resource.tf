# Argo CD in the cluster the same apply creates: no API is needed at plan time.
resource "argocd_bootstrap" "main" {
  # The type name does not start with "k3s_", so name the provider explicitly.
  provider = k3s

  kubeconfig      = k3s_server.main.kubeconfig
  version         = "v3.5.1"
  manifest_sha256 = "795a3a972224da6a7f9d32c3e946445f062b60fb46028476715affeb688236e3"
  wait_for        = "root_healthy"
  settings        = { "timeout.reconciliation" = "60s" }

  repository {
    name     = "platform"
    url      = "https://git.example.com/platform/cluster.git"
    username = "argocd"
    password = var.git_token
  }

  root_application {
    repo_url     = "https://git.example.com/platform/cluster.git"
    path         = "bootstrap"
    sync_options = ["CreateNamespace=true", "ServerSideApply=true"]
  }
}

# Or through a server node over SSH: no cluster credential in the state, and an API that
# listens on the node's loopback only is still reached.
resource "argocd_bootstrap" "private" {
  provider = k3s
  version  = "v3.5.1"

  server {
    host = k3s_server.main.host
    ssh {
      host_key = var.server_host_key
    }
  }

  root_application {
    repo_url = "ssh://git@gitea.internal:2222/platform/cluster.git"
    path     = "bootstrap"
  }

  repository {
    name            = "platform"
    url             = "ssh://git@gitea.internal:2222/platform/cluster.git"
    ssh_private_key = var.deploy_key
  }
}
