"""A campaign before and as its directory opens.

`Setup` is what a config makes before anything is touched: the evaluator, the sandbox backend and each stage's
tasks (a bad subset or a missing Ray is refused there). `open_archive` opens (or creates) the directory's archive
for a run of that setup: the config of the last run is compared with this one (a change that alters what stored
scores mean is refused unless accepted), this config is copied beside the archive, and the evaluator that scores
is recorded for the next run to compare with.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from opendgm.archive import ASYNC_POOL, Archive
from opendgm.cluster import require_ray
from opendgm.evaluators import Evaluator, Task, registry
from opendgm.evolve import config_change
from opendgm.evolve.config import CampaignConfig
from opendgm.sandbox import BackendName, choose_backend

CONFIG_COPY = "campaign.yaml"
POOL_STAGE = ASYNC_POOL  # async mode: every task of every stage, evaluated one sampled task at a time


@dataclass(frozen=True)
class Setup:
    """A campaign's config with the evaluator it names, the sandbox backend chosen for it and each stage's tasks
    (`stage_names` are how results and scores name the stages)."""

    config: CampaignConfig
    evaluator: Evaluator
    backend: BackendName
    stage_tasks: list[list[Task]]
    stage_names: list[str]

    @classmethod
    def of(cls, config: CampaignConfig) -> Setup:
        """Refuses `executor: {kind: ray}` without Ray, an unknown evaluator or a bad subset, touching nothing."""
        require_ray(config.executor)
        backend = choose_backend(config.sandbox.backend)
        return cls.made(config, registry.load(config.evaluator.name, **config.evaluator.options), backend)

    @classmethod
    def made(cls, config: CampaignConfig, evaluator: Evaluator, backend: BackendName) -> Setup:
        """The setup of `config` with this evaluator and backend (`opendgm simulate` gives its own)."""
        tasks = [evaluator.select(stage.subset, stage.limit) for stage in config.stages]
        names = [
            f"{index + 1}:{stage.subset}" + (f"[:{stage.limit}]" if stage.limit else "")
            for index, stage in enumerate(config.stages)
        ]
        return cls(config, evaluator, backend, tasks, names)


@contextmanager
def open_archive(setup: Setup, root: Path, accept_config_change: bool = False) -> Iterator[Archive]:
    """The archive in `root` for a run of `setup`. `accept_config_change`: resume even if the evaluator, its version
    or the stages changed (see `config_change`); every agent is then evaluated again and its old scores are shown
    as stale."""
    fresh = not Archive.exists(root)
    with Archive.open_or_create(root, setup.config.name) as archive:
        if not fresh:
            _check_config_change(setup, root, archive, accept_config_change)
        (root / CONFIG_COPY).write_text(setup.config.model_dump_json(indent=2))
        scorer = {"evaluator": setup.evaluator.name, "evaluator_version": setup.evaluator.version}
        if [event.data for event in archive.latest_events(1, kind=config_change.SCORED_BY)] != [scorer]:
            archive.log_event(config_change.SCORED_BY, data=scorer)  # what the next run compares its evaluator with
        yield archive


def _check_config_change(setup: Setup, root: Path, archive: Archive, accept: bool) -> None:
    """Compare the config of the last run with this one: refuse a change that alters what stored scores
    mean unless accepted; record any change, keeping the previous config beside the new one."""
    copy = root / CONFIG_COPY
    if not copy.exists():
        return
    scored_by = archive.latest_events(1, kind=config_change.SCORED_BY)
    stored_version = scored_by[0].data.get("evaluator_version") if scored_by else None
    change = config_change.compare(
        config_change.read_stored(copy), setup.config.model_dump(mode="json"), stored_version,
        setup.evaluator.version,
    )  # fmt: skip
    if change.guarded and not accept:
        raise config_change.refusal(root, change, copy)
    if not change.fields:
        return
    previous = copy.with_name(f"campaign.before-{archive.last_event_id()}.yaml")
    shutil.copyfile(copy, previous)
    data = {"changed": change.fields, "guarded": change.guarded, "previous_config": previous.name}
    archive.log_event("config_changed", data=data)
    if change.guarded:
        _evaluate_again(setup, archive)


def _evaluate_again(setup: Setup, archive: Archive) -> None:
    """After an accepted change of evaluator or stages: every evaluated agent goes back to `evaluating`
    (so selection never runs out of agents scored under the new config), and the scores not made under
    it are recorded as stale (kept, and marked so by `tree`, `show` and `status`)."""
    current = {(*setup.evaluator.key, stage) for stage in [*setup.stage_names, POOL_STAGE]}
    made = {(s.evaluator, s.evaluator_version, s.stage) for ss in archive.scores_by_node().values() for s in ss}
    with archive.transaction():
        for node in archive.nodes(kind="agent"):
            if node.status == "evaluated":
                archive.update_meta(node.id, {"evaluated_again": True})
                archive.set_status(node.id, "evaluating", "evaluated again under a changed config")
        archive.log_event("config_change_accepted", data={"stale": sorted(map(list, made - current))})
