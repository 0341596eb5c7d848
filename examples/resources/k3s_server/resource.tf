resource "k3s_server" "main" {
  host    = "10.0.0.241"
  version = "v1.33.4+k3s1"

  # The URL clients and agents use; here a load balancer in front of the server.
  api_endpoint = "https://k3s.example.com:6443"

  # Everything K3s is configured with goes to /etc/rancher/k3s/config.yaml (mode 0600).
  config = {
    "tls-san"               = ["k3s.example.com"]
    disable                 = ["traefik"]
    "write-kubeconfig-mode" = "0600"
  }
  node_labels = { role = "control-plane" }

  ssh {
    user             = "ubuntu"
    private_key_file = "~/.ssh/id_ed25519"
    host_key         = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleHostKeyOfTheServerNode0000000"
    sudo             = true
  }

  registry_mirror {
    registry  = "docker.io"
    endpoints = ["https://zot.example.com:5000"]
  }
}
