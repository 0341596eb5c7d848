# Through a server node: ssh://user@host:port/<namespace>/<root application>, optionally with
# ?host_key=<the node's public key, percent-encoded>. Everything is read from the cluster
# (version, root Application, repository Secrets, settings), so a configuration describing
# it plans no change. Credentials come from the provider's ssh settings.
terraform import argocd_bootstrap.main 'ssh://root@10.0.0.10:22/argocd/root'

# With a kubeconfig in the configuration: <namespace>/<root application>. The kubeconfig is not
# in the ID, so the cluster cannot be read at import: the first plan is an update, and its
# apply adopts what is there (server-side apply writes only the objects that differ).
terraform import argocd_bootstrap.main argocd/root
