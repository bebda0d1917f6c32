"""The kubelet: one process per node that runs the pods bound to it (see DESIGN.md)."""
