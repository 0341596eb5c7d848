# The reference cluster on Oracle Cloud across two tenancies joined by local peering gateways:
# one K3s server in tenancy A, workers in both, and the network load balancer forwarding :443
# to the workers, and Argo CD with its App-of-Apps root. Hosts are given by instance OCID; the
# provider looks up their private IPs.
terraform {
  required_providers {
    k3s = { source = "k3s/k3s" }
  }
}

variable "k3s_version" {
  type    = string
  default = "v1.33.4+k3s1"
}
variable "compartment_a" { type = string }
variable "compartment_b" { type = string }
variable "ingress_nlb_id" { type = string }
variable "gitops_repo" { type = string }
variable "gitops_token" {
  type      = string
  sensitive = true
}

provider "k3s" {
  ssh {
    user             = "ubuntu"
    private_key_file = "~/.ssh/id_ed25519"
    known_hosts_file = "~/.ssh/known_hosts"
  }
  # Profiles of ~/.oci/config; explicit tenancy/user/fingerprint/private_key work too.
  oci_profile {
    name    = "tenancy_a"
    profile = "TENANCY_A"
  }
  oci_profile {
    name    = "tenancy_b"
    profile = "TENANCY_B"
  }
}

data "k3s_oci_instances" "servers" {
  compartment_id = var.compartment_a
  profiles       = ["tenancy_a"]
  freeform_tags  = { "k3s-role" = "server" }
}

data "k3s_oci_instances" "workers" {
  compartment_ids = [var.compartment_a, var.compartment_b]
  freeform_tags   = { "k3s-role" = "agent" }
}

resource "k3s_server" "main" {
  oci_instance_id = data.k3s_oci_instances.servers.instances[0].id
  oci_profile     = "tenancy_a"
  version         = var.k3s_version
  # Agents join through the server's private address (10.0.0.x), never a hard-coded one.
  config = { "tls-san" = [data.k3s_oci_instances.servers.instances[0].private_ip] }
  ssh {
    sudo = true
  }
}

resource "k3s_agent" "worker" {
  for_each = { for i in data.k3s_oci_instances.workers.instances : i.display_name => i }

  oci_instance_id = each.value.id
  oci_profile     = each.value.profile
  version         = var.k3s_version
  server_url      = k3s_server.main.api_endpoint
  token           = k3s_server.main.join_token
  kubeconfig      = k3s_server.main.kubeconfig
  ssh {
    sudo = true
  }
  # Public HTTPS: the NLB in tenancy A forwards :443 to every worker's private IP; destroy
  # takes a worker out of the backend set before draining it.
  nlb_backend {
    network_load_balancer_id = var.ingress_nlb_id
    backend_set_name         = "k3s-https"
    port                     = 443
    oci_profile              = "tenancy_a"
  }
}

# Argo CD through the server node over SSH: the API stays private, and no cluster credential
# lands in the state. The repository's `bootstrap` directory holds the child Applications:
# `cluster-bootstrap` at sync wave -2, then `bootstrap` (MinIO, Zot, Vault, Gitea) at -1; the
# Application health check (on by default) makes the second wait for the first to be Healthy.
resource "argocd_bootstrap" "gitops" {
  provider = k3s
  version  = "v3.5.1"
  wait_for = "root_healthy"

  server {
    host = data.k3s_oci_instances.servers.instances[0].private_ip
    ssh {
      sudo = true
    }
  }

  repository {
    name     = "platform"
    url      = var.gitops_repo
    username = "argocd"
    password = var.gitops_token
  }

  root_application {
    repo_url     = var.gitops_repo
    path         = "bootstrap"
    sync_options = ["CreateNamespace=true", "ServerSideApply=true"]
    prune        = true
    self_heal    = true
  }

  depends_on = [k3s_server.main]
}
