"""Which cluster node ran what: the head logs one event per unit, and the views summarise them per node.

Ray-free, so `opendgm status` reads a cluster campaign's archive where Ray is not installed.
"""

from __future__ import annotations

from collections import Counter

from opendgm.archive import Archive

UNIT_EVENT = "cluster_unit"  # data: unit (what ran), where (the Ray node), seconds
SHOWN_UNITS = 500  # the summary reads the latest units only: a view stays fast on a long campaign


def per_node(archive: Archive) -> str:
    """One line per cluster node: units it ran among the latest, and the last of them; "" off a cluster."""
    units = archive.latest_events(SHOWN_UNITS, kind=UNIT_EVENT)
    if not units:
        return ""
    counts = Counter(str(event.data.get("where", "?")) for event in units)
    last = {str(event.data.get("where", "?")): event for event in units}
    lines = []
    for where, count in sorted(counts.items()):
        event = last[where]
        lines.append(f"{where}: {count} units, last {event.data.get('unit', '?')} of {event.node_id or '-'}")
    return "\n".join(lines)
