data "k3s_oci_instances" "workers" {
  compartment_id = "ocid1.compartment.oc1..aaaaaaaexamplecompartment"
  profiles       = ["tenancy_a", "tenancy_b"]
  freeform_tags  = { "k3s-role" = "worker" }
}
