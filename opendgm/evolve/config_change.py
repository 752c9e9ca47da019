"""Resuming a campaign under a changed config: which changes leave the stored scores meaningful.

Budgets, workers, generations, wall time, model settings (and the other run settings) may change between
runs; the change is recorded as an event. The evaluator, its options or version, and the stages decide
what every stored score means: such a change is refused unless the user accepts it, and then every agent
is evaluated again under the new config while its old scores are kept and shown as stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from opendgm.evolve.config import CampaignConfig, ConfigProblem

#: top-level config fields whose change alters what a stored score means
GUARDED = ("evaluator", "stages")
VERSION_FIELD = "evaluator.version"
SCORED_BY = "scored_by"  # event: the evaluator and version a campaign scores by, logged when that changes


class ConfigChangeRefused(ConfigProblem):
    """The new config changes what stored scores mean, and the user did not accept that."""


@dataclass(frozen=True)
class ConfigChange:
    free: list[str]  # dotted field paths that changed and may change
    guarded: list[str]  # dotted field paths whose change needs `--accept-config-change`

    @property
    def fields(self) -> list[str]:
        return self.free + self.guarded


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths to leaf values; lists are leaves (a stage list changes as a whole)."""
    if not isinstance(value, dict):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat |= _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    return flat


def read_stored(path: Path) -> dict[str, Any]:
    """The config a campaign directory was last run with (JSON, which YAML reads too), with the defaults of
    fields added since filled in, so that a newer opendgm alone never reads as a change."""
    try:
        stored = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigProblem(f"{path} (the config this campaign last ran with) cannot be read: {exc}") from exc
    if not isinstance(stored, dict):
        raise ConfigProblem(f"{path} (the config this campaign last ran with) is not a mapping")
    try:
        return CampaignConfig.model_validate(stored).model_dump(mode="json")
    except ValidationError:  # a field renamed or removed since: compare what was written
        return stored


def compare(stored: dict[str, Any], new: dict[str, Any], stored_version: str | None, new_version: str) -> ConfigChange:
    """What changed from `stored` to `new` (both as dumped to JSON), split by whether scores keep their meaning.
    `stored_version` is the evaluator version of the last run, when the archive knows it."""
    before, after = _flatten(stored), _flatten(new)
    changed = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    guarded = [key for key in changed if key.split(".", 1)[0] in GUARDED]
    if stored_version is not None and stored_version != new_version:
        guarded.append(VERSION_FIELD)
    return ConfigChange(free=[key for key in changed if key not in guarded], guarded=guarded)


def refusal(root: Path, change: ConfigChange, copy: Path) -> ConfigChangeRefused:
    """The one-line message: what changed, and the three ways on."""
    return ConfigChangeRefused(
        f"{root} was run with a different evaluator or stages (changed: {', '.join(change.guarded)}), so its "
        f"stored scores would not compare; resume with the stored config {copy}, start a new --dir, or pass "
        "--accept-config-change to evaluate every agent again under the new config (old scores kept, shown stale)"
    )
