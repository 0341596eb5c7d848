# A server installed by other means, reached with the provider's ssh settings (credentials never
# go in the ID). Its host key is verified against the provider's `known_hosts_file`, or against
# a key carried in the ID (`?host_key=`, URL-encoded): the key is recorded in state, so a
# resource that pins the same `ssh.host_key` has an empty first plan. No host key is trusted on
# first use. The first plan is empty when the configuration describes the node as config.yaml,
# registries.yaml, the unit's env file and its command line do (flags on the unit's command
# line are read into `config`).
terraform import k3s_server.main 'ssh://root@10.0.0.10:22?host_key=ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample'
# A server on an OCI instance, by its OCID, found through the provider's `oci_profile` blocks.
terraform import k3s_server.main tenancy_a/ocid1.instance.oc1.eu-frankfurt-1.aaaaaaaexampleserver
