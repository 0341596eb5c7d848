resource "argocd_bootstrap" "main" {
  # The type name does not start with "k3s_", so name the provider explicitly.
  provider = k3s

  kubeconfig = k3s_server.main.kubeconfig
  version    = "v3.5.1"

  repository {
    name     = "platform"
    url      = "https://git.example.com/platform/cluster.git"
    username = "argocd"
    password = var.git_token
  }

  root_application {
    repo_url = "https://git.example.com/platform/cluster.git"
    path     = "bootstrap"
    prune    = true
  }
}
