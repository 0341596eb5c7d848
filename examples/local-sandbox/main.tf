# One K3s server, two agents and Argo CD with its root App-of-Apps, on hosts reachable over
# SSH, in one apply. `scripts/demo` applies this to local test-bed nodes (and passes the
# variables); point the variables at real hosts to use it elsewhere.

terraform {
  required_providers {
    k3s = { source = "k3s/k3s" }
  }
}

variable "server" {
  description = "The server host and its SSH host key (`ssh-ed25519 AAAA…`)."
  type        = object({ host = string, host_key = string })
}

variable "agents" {
  description = "Agent hosts by name, with their SSH host keys."
  type        = map(object({ host = string, host_key = string }))
}

variable "ssh_user" {
  type    = string
  default = "root"
}

variable "private_key_file" {
  description = "The SSH private key that logs in to every host."
  type        = string
}

variable "k3s_version" {
  type    = string
  default = "v1.33.4+k3s1"
}

variable "installer_url" {
  type    = string
  default = "https://get.k3s.io"
}

variable "release_base_url" {
  description = "Where K3s releases come from, when not GitHub (a mirror)."
  type        = string
  default     = null
}

variable "argocd_version" {
  type    = string
  default = "v3.5.1"
}

variable "argocd_release_base_url" {
  description = "Where Argo CD's release manifests come from, when not GitHub (a mirror with the same layout)."
  type        = string
  default     = null
}

variable "argocd_manifest_sha256" {
  description = "The sha256 of the release's install.yaml, checked before anything is applied."
  type        = string
  default     = "795a3a972224da6a7f9d32c3e946445f062b60fb46028476715affeb688236e3" # v3.5.1
}

variable "gitops_repo" {
  description = "The Git repository holding the cluster's Argo CD Applications."
  type        = string
  default     = "https://git.example.com/platform/cluster.git"
}

variable "gitops_token" {
  description = "A read token for the Git repository."
  type        = string
  sensitive   = true
  default     = "change-me"
}

provider "k3s" {
  installer_url           = var.installer_url
  release_base_url        = var.release_base_url
  argocd_release_base_url = var.argocd_release_base_url
  ssh {
    user             = var.ssh_user
    private_key_file = var.private_key_file
  }
}

resource "k3s_server" "main" {
  host        = var.server.host
  version     = var.k3s_version
  node_labels = { role = "server" }
  config = {
    "write-kubeconfig-mode" = "0600"
  }
  ssh {
    host_key = var.server.host_key
  }
}

resource "k3s_agent" "worker" {
  for_each = var.agents

  host       = each.value.host
  version    = var.k3s_version
  server_url = k3s_server.main.api_endpoint
  token      = k3s_server.main.join_token
  # Lets destroy drain the node and delete its Node object, and reads Ready back.
  kubeconfig  = k3s_server.main.kubeconfig
  node_labels = { role = "worker" }
  ssh {
    host_key = each.value.host_key
  }
}

# Argo CD at a pinned version, the Git repository's credentials and the root App-of-Apps,
# in the same apply that creates the cluster (no API is needed at plan time).
resource "argocd_bootstrap" "gitops" {
  provider = k3s

  kubeconfig      = k3s_server.main.kubeconfig
  version         = var.argocd_version
  manifest_sha256 = var.argocd_manifest_sha256
  settings        = { "timeout.reconciliation" = "60s" }

  repository {
    name     = "platform-repo"
    url      = var.gitops_repo
    username = "argocd"
    password = var.gitops_token
  }

  root_application {
    repo_url     = var.gitops_repo
    path         = "bootstrap"
    sync_options = ["CreateNamespace=true"]
  }
}

output "api_endpoint" {
  value = k3s_server.main.api_endpoint
}

output "kubeconfig" {
  value     = k3s_server.main.kubeconfig
  sensitive = true
}

output "argocd_installed_version" {
  value = argocd_bootstrap.gitops.installed_version
}

output "argocd_applications" {
  value = argocd_bootstrap.gitops.applications
}
