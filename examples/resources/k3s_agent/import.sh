# An agent installed by other means; its server URL and token are read from the node. The host
# key is checked against the provider's `known_hosts_file` or a `?host_key=` in the ID, as for
# k3s_server. `kubeconfig` is not on the node: after the import, set it in the configuration and
# the next apply records it (no change to the host).
terraform import 'k3s_agent.worker["10.0.0.11"]' ssh://ubuntu@10.0.0.11:22
# An agent on an OCI instance, by its OCID: the instance is looked up through the provider's
# `oci_profile` blocks in order (or name one: 'tenancy_b/ocid1.instance...'), and the state
# records `oci_instance_id` instead of `host`.
terraform import 'k3s_agent.oci_worker' ocid1.instance.oc1.eu-frankfurt-1.aaaaaaaexampleworker
