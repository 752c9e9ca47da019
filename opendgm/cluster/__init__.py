"""Running a campaign's work on a Ray cluster: self-contained units of work, executed on worker nodes.

The head (the campaign process) keeps the archive, picks attempt numbers and records results; a worker node
runs each unit with its own sandbox backend and its own gateway, with keys from its own environment. Ray is
imported only when a Ray executor is made, so this package is usable (and `kind: local` runs) without it.
"""

from typing import TYPE_CHECKING

from opendgm.cluster import progress
from opendgm.cluster.config import ExecutorConfig
from opendgm.cluster.factory import ClusterProblem, RayMissing, cluster_runs, make_executor, require_ray

if TYPE_CHECKING:
    from opendgm.cluster.head import ClusterRuns as ClusterRuns  # type-only: head imports Ray

__all__ = [
    "ClusterProblem",
    "ExecutorConfig",
    "RayMissing",
    "cluster_runs",
    "make_executor",
    "progress",
    "require_ray",
]
