"""The trackers: one small interface, an MLflow and a Weights & Biases implementation.

A tracker gets the run's config once, then numbered steps of metrics (one step per node that was scored,
rejected or failed), then an end. A resumed campaign continues the same run: its id is kept in
`<campaign dir>/tracking.json`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from opendgm.tracking.config import TrackingConfig

RUN_FILE = "tracking.json"


class TrackingUnavailable(RuntimeError):
    """The tracker's package is missing or its store cannot be opened: said once, before the campaign starts."""


class Tracker(Protocol):
    def log_config(self, config: Mapping[str, Any]) -> None: ...

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None: ...

    def finish(self, ok: bool) -> None: ...


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config as dotted keys with text values (MLflow params are flat strings)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat |= flatten(value, f"{name}.")
        else:
            flat[name] = json.dumps(value) if not isinstance(value, str) else value
    return flat


def remembered(root: Path, key: str) -> Any:
    """What an earlier run of this campaign stored under `key` in tracking.json (its run id, say)."""
    path = root / RUN_FILE
    return (json.loads(path.read_text()) if path.exists() else {}).get(key)


def remember(root: Path, key: str, value: Any) -> None:
    path = root / RUN_FILE
    known = json.loads(path.read_text()) if path.exists() else {}
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(known | {key: value}, indent=2) + "\n")
    scratch.replace(path)  # a crash leaves the old file or the new one, never half of one


class MLflowTracker:
    """MLflow through its client API (no global state): a local SQLite store by default, or any server."""

    def __init__(self, settings: TrackingConfig, campaign: str, root: Path) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise TrackingUnavailable("tracking kind mlflow needs MLflow: pip install 'opendgm[tracking]'") from None
        uri = settings.uri or f"sqlite:///{(root / 'mlflow.db').resolve()}"
        name = settings.experiment or campaign
        try:
            self.client = MlflowClient(tracking_uri=uri)
            experiment = self.client.get_experiment_by_name(name)
            experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
            run_id = remembered(root, "mlflow")
            if run_id is None:
                tags = {"opendgm.campaign": campaign} | {tag: "" for tag in settings.tags}
                run_id = self.client.create_run(
                    experiment_id, run_name=settings.run_name or campaign, tags=tags
                ).info.run_id
                remember(root, "mlflow", run_id)
            else:
                self.client.update_run(run_id, status="RUNNING")
        except Exception as error:  # the store's own errors are many; all mean "cannot track here"
            raise TrackingUnavailable(f"MLflow at {uri} cannot be used: {error}") from error
        self.run_id, self.uri = run_id, uri

    def log_config(self, config: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        logged = self.client.get_run(self.run_id).data.params
        params = [Param(key, value[:6000]) for key, value in flatten(config).items() if key not in logged]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=params[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])

    def finish(self, ok: bool) -> None:
        self.client.set_terminated(self.run_id, status="FINISHED" if ok else "FAILED")


class WandbTracker:
    """Weights & Biases; `mode: offline` writes the run under <campaign dir>/wandb for `wandb sync`."""

    def __init__(self, settings: TrackingConfig, campaign: str, root: Path) -> None:
        try:
            import wandb
        except ImportError:
            raise TrackingUnavailable("tracking kind wandb needs wandb: pip install 'opendgm[tracking]'") from None
        quiet = wandb.Settings(console="off", silent=True, x_disable_stats=True, disable_git=True, save_code=False)
        try:
            self.run = wandb.init(
                project=settings.experiment or campaign, entity=settings.entity, name=settings.run_name or campaign,
                mode=settings.mode, dir=str(root), id=remembered(root, "wandb"), resume="allow",
                tags=settings.tags or None, settings=quiet, reinit="create_new",
            )  # fmt: skip
        except Exception as error:  # login, network, bad project: all mean "cannot track here"
            raise TrackingUnavailable(f"W&B cannot be used: {error}") from error
        remember(root, "wandb", self.run.id)

    def log_config(self, config: Mapping[str, Any]) -> None:
        self.run.config.update(dict(config), allow_val_change=True)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self.run.log(dict(metrics), step=step)

    def finish(self, ok: bool) -> None:
        self.run.finish(exit_code=0 if ok else 1)


def open_tracker(settings: TrackingConfig, campaign: str, root: Path) -> Tracker:
    return (MLflowTracker if settings.kind == "mlflow" else WandbTracker)(settings, campaign, root)
