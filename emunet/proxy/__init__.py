"""The Service data plane: a userspace kube-proxy (listeners, balancer, relays, metrics)."""
