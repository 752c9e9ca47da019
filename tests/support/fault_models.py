"""A scripted model whose service misbehaves on purpose: faults are queued per kind of request and each one that
fires is written to the provider's own log (`fired`), so a test can assert that the fault it injected happened.

Kinds of request: `diagnosis`, `self_modify` (the parent rewriting itself), `task` (an agent on a task), `pe2`,
`hyper_mutation`, `other`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from tests.support.llm_fakes import Reply, error
from tests.support.scripted_models import BASH_HINT, HYPER_MUTATION, PE2_STEP_1, CapabilityScript

# What a failing service sends. `hang` answers only after `hang_s` (or at the provider's stop).
FAULTS: dict[str, Reply] = {
    "500": error(500, "injected server error"),
    "429": Reply(
        429, {"error": {"message": "injected rate limit", "type": "rate_limit"}}, headers={"Retry-After": "0"}
    ),
    "malformed": Reply(200, raw=b'{"choices": [{"message": '),  # a truncated answer
    "restart": error(503, "injected restart: upstream connect error"),
    "hang": Reply(hang_s=3600),
}


def request_kind(body: dict[str, Any]) -> str:
    messages = body["messages"]
    first = messages[0]["content"]
    conversation = "\n".join(m["content"] for m in messages)
    if "You are improving a coding agent" in first:
        return "diagnosis"
    if HYPER_MUTATION in first:
        return "hyper_mutation"
    if PE2_STEP_1 in first:
        return "pe2"
    if "source code of a coding agent" in conversation:
        return "self_modify"
    if "Complete the function" in conversation:
        return "task"
    return "other"


@dataclass
class Injection:
    """`count` faults of `fault` on the next requests of `kind`."""

    kind: str
    fault: str
    count: int = 1


@dataclass
class RandomFaults:
    """Seeded random faults: each request of any kind fails with probability `rate`, its fault drawn from `kinds`."""

    seed: int
    rate: float
    kinds: tuple[str, ...] = ("500", "429", "malformed", "restart", "hang")
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def draw(self) -> str | None:
        return self.rng.choice(self.kinds) if self.rng.random() < self.rate else None


class FaultyScript(CapabilityScript):
    """CapabilityScript behind a service that fails as told; `fired` lists (request kind, fault) as they fire."""

    def __init__(self, hang_s: float = 3600) -> None:
        super().__init__()
        self.injections: list[Injection] = []
        self.random: RandomFaults | None = None
        self.fired: list[tuple[str, str]] = []
        self.hang_s = hang_s
        self.bash_tasks = False  # answer tasks with bash blocks, which the seed agent runs: it solves them

    def inject(self, kind: str, fault: str, count: int = 1) -> None:
        with self._lock:
            self.injections.append(Injection(kind, fault, count))

    def fired_faults(self) -> set[str]:
        with self._lock:
            return {fault for _, fault in self.fired}

    def _next(self, headers: dict[str, str], body: dict[str, Any]) -> Reply:
        kind = request_kind(body)
        with self._lock:
            fault = self._fault_for(kind)
            if fault is not None:
                self.requests.append({"headers": headers, "body": body, "fault": fault})
                self.fired.append((kind, fault))
        if fault is None:
            if kind == "task" and self.bash_tasks:
                body = body | {"messages": [{"role": "system", "content": BASH_HINT}, *body["messages"]]}
            return super()._next(headers, body)
        reply = FAULTS[fault]
        return Reply(hang_s=self.hang_s) if fault == "hang" else reply

    def _fault_for(self, kind: str) -> str | None:
        for injection in self.injections:
            if injection.kind in (kind, "any") and injection.count > 0:
                injection.count -= 1
                return injection.fault
        return self.random.draw() if self.random is not None else None
