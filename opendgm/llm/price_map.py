"""Whether litellm's bundled price map can know a model, answered without importing litellm (seconds of imports).

The map is the JSON file litellm ships and reads when `LITELLM_LOCAL_MODEL_COST_MAP` is set, found by locating the
package without running it. The answer is conservative: a model is `unmapped` only when no name litellm could try
for it is a map entry or an alias, and no rule of the map's fallback generalizations matches any of them. Those
names are all taken from the model's own text (litellm adds or removes the provider and strips dated, fine-tune
and region parts), so every piece of that text, with and without the provider before it, is tried. Anything else
is left to litellm itself.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from pathlib import Path

MAP_FILE = "model_prices_and_context_window_backup.json"
RULES_KEY = "fallback_generalizations"


@functools.cache
def _bundled() -> tuple[frozenset[str], tuple[re.Pattern[str], ...]] | None:
    """Every name the map prices (lowercased, aliases included) and its rules' patterns; None without litellm."""
    spec = importlib.util.find_spec("litellm")
    locations = spec.submodule_search_locations if spec is not None else None
    path = Path(next(iter(locations)), MAP_FILE) if locations else None
    if path is None or not path.is_file():
        return None
    entries = json.loads(path.read_text(encoding="utf-8"))
    rules = entries.pop(RULES_KEY, None)
    names = {key.lower() for key in entries}
    names |= {
        alias.lower() for entry in entries.values() if isinstance(entry, dict) for alias in entry.get("aliases", ())
    }
    patterns = [
        rule["pattern"] for rule in (rules or {}).get("rules", ()) if isinstance(rule, dict) and "pattern" in rule
    ]
    return frozenset(names), tuple(re.compile(pattern, re.IGNORECASE) for pattern in patterns)


def unmapped(model: str) -> bool:
    """True when litellm's bundled map certainly has no price for `model`; False when it may have one."""
    bundled = _bundled()
    if bundled is None:
        return False
    names, patterns = bundled
    provider = model.partition("/")[0]
    pieces = {model[start:end].lower() for start in range(len(model)) for end in range(start + 1, len(model) + 1)}
    tried = pieces | {f"{provider}/{piece}".lower() for piece in pieces}
    return not (tried & names) and not any(pattern.search(name) for pattern in patterns for name in tried)
