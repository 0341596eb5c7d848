# Workers of both tenancies: each compartment is listed through every `oci_profile` of the
# provider (a profile that cannot see a compartment is skipped).
data "k3s_oci_instances" "workers" {
  compartment_ids = [
    "ocid1.compartment.oc1..aaaaaaaexamplecompartmenta",
    "ocid1.compartment.oc1..aaaaaaaexamplecompartmentb",
  ]
  freeform_tags = { "k3s-role" = "worker" }
  defined_tags  = { "k3s.cluster" = "prod" }
}

# One compartment through one profile; lifecycle_state defaults to RUNNING.
data "k3s_oci_instances" "servers" {
  compartment_id = "ocid1.compartment.oc1..aaaaaaaexamplecompartmenta"
  profiles       = ["tenancy_a"]
  freeform_tags  = { "k3s-role" = "server" }
}

output "worker_addresses" {
  value = { for i in data.k3s_oci_instances.workers.instances : i.display_name => i.private_ip }
}
