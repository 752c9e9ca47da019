"""Experiment tracking: a campaign's config, per-node scores and spend sent to MLflow or Weights & Biases.

Optional (`pip install 'opendgm[tracking]'`) and off unless a campaign config has a `tracking:` block:

    tracking: {kind: mlflow, uri: sqlite:///mlflow.db}          # or a server: http://host:5000
    tracking: {kind: wandb, project: my-project, mode: offline}

The campaign loop knows nothing about trackers: `follow(config, archive)` (one line in the campaign) reads
the archive's event log in the background and reports each node as it is scored, rejected or failed, so a
tracker never slows or breaks the campaign (its errors are logged and the campaign goes on).
"""

from opendgm.tracking.config import TrackingConfig
from opendgm.tracking.follow import follow
from opendgm.tracking.trackers import TrackingUnavailable

__all__ = [
    "TrackingConfig",
    "TrackingUnavailable",
    "follow",
]
