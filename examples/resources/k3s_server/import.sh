# A server installed by other means, reached with the provider's ssh settings (credentials and
# host keys never go in the ID). The first plan after import is empty when the configuration
# describes the node as config.yaml, registries.yaml and the unit's env file do.
terraform import k3s_server.main ssh://root@10.0.0.10:22
# A server on an OCI instance, by its OCID, found through the provider's `oci_profile` blocks.
terraform import k3s_server.main tenancy_a/ocid1.instance.oc1.eu-frankfurt-1.aaaaaaaexampleserver
