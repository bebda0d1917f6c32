"""emunet: Kubernetes Service networking on loopback, driven by the real kubectl."""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Cluster", "__version__"]


def __getattr__(name: str):  # the test harness is imported only when asked for
    if name == "Cluster":
        from .testing import Cluster
        return Cluster
    raise AttributeError(name)
