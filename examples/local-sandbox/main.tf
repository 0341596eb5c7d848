# One K3s server and two agents on hosts reachable over SSH. `scripts/demo` applies this to
# local test-bed nodes (and passes the variables); point the variables at real hosts to use it
# elsewhere.

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

provider "k3s" {
  installer_url    = var.installer_url
  release_base_url = var.release_base_url
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

output "api_endpoint" {
  value = k3s_server.main.api_endpoint
}

output "kubeconfig" {
  value     = k3s_server.main.kubeconfig
  sensitive = true
}
