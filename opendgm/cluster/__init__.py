"""Running a campaign's work on a Ray cluster: self-contained units of work, executed on worker nodes.

The head (the campaign process) keeps the archive, picks attempt numbers and records results; a worker node
runs each unit with its own sandbox backend and its own gateway, with keys from its own environment. Ray is
imported only when a Ray executor is made, so this package is usable (and `kind: local` runs) without it.
"""

from opendgm.cluster.config import ExecutorConfig
from opendgm.cluster.factory import ClusterProblem, RayMissing, make_executor

__all__ = ["ClusterProblem", "ExecutorConfig", "RayMissing", "make_executor"]
