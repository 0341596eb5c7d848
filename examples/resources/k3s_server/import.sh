# A server installed by other means, reached with the provider's ssh settings (credentials and
# host keys never go in the ID). The first plan after import is empty when the configuration
# describes the node as config.yaml, registries.yaml and the unit's env file do.
terraform import k3s_server.main ssh://root@10.0.0.10:22
