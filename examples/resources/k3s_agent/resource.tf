resource "k3s_agent" "worker" {
  for_each = toset(["10.0.0.11", "10.0.0.12"])

  host    = each.value
  version = k3s_server.main.version

  # Joined by what the server reports, never by a hard-coded address.
  server_url = k3s_server.main.api_endpoint
  token      = k3s_server.main.join_token
  # Destroy drains the node and deletes its Node object with this; Ready is read back.
  kubeconfig = k3s_server.main.kubeconfig

  node_labels = { role = "worker" }

  ssh {
    user             = "ubuntu"
    private_key_file = "~/.ssh/id_ed25519"
    sudo             = true
    bastion {
      host = "bastion.example.com"
    }
  }
}
