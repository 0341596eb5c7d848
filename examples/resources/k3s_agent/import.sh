# An agent installed by other means; its server URL and token are read from the node.
terraform import 'k3s_agent.worker["10.0.0.11"]' ssh://ubuntu@10.0.0.11:22
