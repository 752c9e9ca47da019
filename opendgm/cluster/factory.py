"""The one place an executor is made from config: the campaign, the session module and `opendgm evaluate`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from opendgm.cluster.config import ExecutorConfig
from opendgm.evaluators import Executor, LocalExecutor

if TYPE_CHECKING:
    from opendgm.cluster.head import ClusterRuns
    from opendgm.sandbox import BackendName

INSTALL_HINT = "executor kind `ray` needs Ray: pip install 'opendgm[ray]'"


class ClusterProblem(RuntimeError):
    """The cluster cannot be used as configured (a usage error: one line, exit 2)."""


class RayMissing(ClusterProblem):
    """`kind: ray` was asked for where Ray is not installed."""


class _Sandbox(Protocol):
    backend: BackendName
    image: str
    memory_mb: int


class _Evaluator(Protocol):
    options: dict[str, Any]


class CampaignSettings(Protocol):
    """What of a campaign config (evolve.config.CampaignConfig) the executor depends on."""

    executor: ExecutorConfig
    workers: int

    @property
    def evaluator(self) -> _Evaluator: ...  # read-only: any object with these fields will do

    @property
    def sandbox(self) -> _Sandbox: ...


def require_ray(config: ExecutorConfig) -> None:
    """Refuse `kind: ray` at once (before any archive or sandbox is touched) where Ray cannot be imported."""
    if config.kind != "ray":
        return
    try:
        import ray  # noqa: F401
    except ImportError:
        raise RayMissing(INSTALL_HINT) from None


def make_executor(config: CampaignSettings) -> Executor:
    """The campaign config's executor: a LocalExecutor of `workers` threads, or the cluster at `executor.address`."""
    if config.executor.kind == "local":
        return LocalExecutor(config.workers)
    sandbox = config.sandbox
    return cluster_runs(config.executor, config.evaluator.options, sandbox.backend, sandbox.image, sandbox.memory_mb)


def cluster_runs(
    config: ExecutorConfig, evaluator_options: dict[str, Any], backend: BackendName, image: str, memory_mb: int
) -> ClusterRuns:
    """Evaluations, self-modifications and validations as units on the cluster at `config.address` (each node
    resolves the `auto` backend itself)."""
    require_ray(config)
    from opendgm.cluster.executor import RayExecutor  # Ray is imported only here
    from opendgm.cluster.head import ClusterRuns
    from opendgm.cluster.units import Sandboxing

    return ClusterRuns(RayExecutor(config), evaluator_options, Sandboxing(backend, image, memory_mb))
