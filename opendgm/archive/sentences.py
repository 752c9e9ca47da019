"""Events as sentences a person reads ("n0007 was rejected: the child does not compile"), not raw JSON.

Used by the dashboard's event log and the events export. The sentence is plain text: agent-written parts
(reasons, task ids) are quoted as they are and whoever shows the sentence must show it as text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from opendgm.archive.models import Event

_CLIP = 300


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= _CLIP else text[:_CLIP] + "…"


def _ids(values: Any) -> str:
    return ", ".join(map(str, values)) if isinstance(values, list | tuple) and values else "none"


def _node_added(node: str, data: Mapping[str, Any]) -> str:
    verb = "was proposed" if data.get("status") == "proposed" else "was added"
    made = f" by {data['operator']}" if data.get("operator") else ""
    origin = f" from {data['parent']}" if data.get("parent") else " as a root"
    return f"{node} ({data.get('kind', 'node')}) {verb}{made}{origin}"


def _status(node: str, data: Mapping[str, Any]) -> str:
    to, reason = data.get("to"), data.get("reason")
    why = f": {_text(reason)}" if reason else ""
    if to == "rejected":
        return f"{node} was rejected{why}"
    if to == "failed":
        return f"{node} failed{why}"
    return f"{node} moved from {data.get('from')} to {to}" + (f" ({_text(reason)})" if reason else "")


def _result(node: str, data: Mapping[str, Any]) -> str:
    status, task = data.get("status"), _text(data.get("task_id", "?"))
    attempt = f" (attempt {data['attempt']})" if data.get("attempt") else ""
    if status == "resolved":
        return f"{node} resolved task {task}{attempt}"
    return f"{node} did not resolve task {task}{attempt}: {status}"


def _stage(node: str, data: Mapping[str, Any]) -> str:
    return f"{node} entered stage {data.get('stage')} of {data.get('evaluator')} ({data.get('n_tasks')} tasks)"


def _generation(_node: str, data: Mapping[str, Any]) -> str:
    return (
        f"generation {data.get('generation')} began: parents {_ids(data.get('parents'))}"
        f" → children {_ids(data.get('children'))}"
    )


def _judged(node: str, data: Mapping[str, Any]) -> str:
    task = _text(data.get("task_id", data.get("task", "?")))
    return f"{node} was judged {data.get('score')}/10 on {task} under rubric {data.get('rubric')}"


SENTENCES: dict[str, Callable[[str, Mapping[str, Any]], str]] = {
    "node_added": _node_added,
    "status": _status,
    "result": _result,
    "stage": _stage,
    "generation": _generation,
    "judged": _judged,
    "campaign_started": lambda _n, d: f"the campaign started (sandbox backend {d.get('backend', '?')})",
    "campaign_stopped": lambda _n, d: f"the campaign stopped: {_text(d.get('reason', ''))}",
    "expand": lambda n, d: (
        f"{n} was proposed by {d.get('operator')}"
        + (f" from {d['parent']}" if d.get("parent") else "")
        + " (asynchronous expansion)"
    ),
    "meta": lambda n, d: f"{n}'s record was updated ({', '.join(map(str, d.get('keys', [])))})",
    "edge": lambda n, d: f"{n} {d.get('kind', 'relates to').replace('_', ' ')} {d.get('dst')}",
    "edge_removed": lambda n, d: f"{n} no longer {d.get('kind', 'relates to').replace('_', ' ')} {d.get('dst')}",
    "recovered": lambda _n, d: (
        "the archive recovered from an interrupted run"
        + f" ({d.get('interrupted_model_calls', 0)} model calls settled as interrupted)"
    ),
    "task_infrastructure_failure": lambda n, d: (
        f"{n}'s task {_text(d.get('task', '?'))} could not run"
        + f" ({d.get('status', 'infrastructure')}: {_text(d.get('detail', ''))}); it will be retried"
    ),
    "operator_fallback": lambda n, d: f"{n} failed no task, so {d.get('from')} gave way to {d.get('to')}",
    "mpo_interval": lambda n, d: (
        f"MPO interval {d.get('index')} closed under rubric {n}:"
        + f" judge mean {d.get('proxy')}, gold mean {d.get('gold')} over {d.get('n')} samples"
    ),
    "reward_hacking_alarm": lambda n, d: (
        f"reward-hacking alarm on rubric {n}: the judge rose"
        + f" {d.get('proxy_gain')} while gold moved {d.get('gold_gain')}"
    ),
    "prompt_campaign_done": lambda n, d: (
        f"the prompt campaign finished: best prompt {n}" + f" (dev {d.get('dev')}, test {d.get('test')})"
    ),
}


def sentence(event: Event) -> str:
    """The event as one sentence; an unknown kind says its kind and fields in plain words."""
    node = event.node_id or "the campaign"
    describe = SENTENCES.get(event.kind)
    if describe is not None:
        try:
            return describe(node, event.data)
        except (KeyError, TypeError, AttributeError, ValueError):
            pass  # a malformed payload still gets the generic sentence below
    fields = ", ".join(f"{key} {_text(value)}" for key, value in sorted(event.data.items()))
    return f"{event.kind.replace('_', ' ')} ({node})" + (f": {fields}" if fields else "")
