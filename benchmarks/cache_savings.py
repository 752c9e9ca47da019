"""What prompt caching saves on an agent's trajectory (goal: at least 60% lower input cost with caching on a
trajectory whose prefix is 90% stable, at Anthropic's prices: cache reads 0.1x input, 5-minute writes 1.25x).

A scripted trajectory, as a coding agent's loop makes one: a system prompt, tools and a task, then at each step the
model's reply and a tool's output appended, sized so that every request after the first is 90% the previous
request (the stable prefix) and 10% new. It is replayed through the real Router (and litellm, for the Anthropic
API) against the fake providers of tests/support/cache_fakes.py, which bill by the providers' published caching rules
(breakpoints, at most 4, a 1,024-token minimum, time to live, 128-token steps), so the savings are measured, not
assumed. Five runs of the same trajectory:

  anthropic, caching on          the host marks cache breakpoints (the default)
  anthropic, caching off         the role's `cache: false`
  openai-style, automatic        the provider caches repeated prefixes itself; cached reads at 0.5x (OpenAI's)
  openai-style, no cache         the same requests to a provider whose entries expire before the next call
  openai-style, varying prefix   a timestamp at the start of the system prompt: what the host must never do

Prices: Anthropic's Claude Sonnet 4.5 from litellm's price map ($3 per 1M input, $0.30 read, $3.75 write, $15
output); the OpenAI-style role at GPT-4o's ($2.50 input, $1.25 read, $10 output). Input cost is what the prompt
tokens were billed; the total adds the completions.

    python benchmarks/cache_savings.py [--steps 30] [--stable 0.9] [--start 4000]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]  # the caching fakes live in tests.support

from opendgm.llm import Price, RoleConfig, Router  # noqa: E402
from opendgm.llm.provider import price_of  # noqa: E402
from tests.support.cache_fakes import Clock, FakeAnthropic, OpenAICache  # noqa: E402
from tests.support.llm_fakes import SECRET, SECRET_ENV, FakeProvider, Reply, completion  # noqa: E402

GOAL = 0.60
SONNET = "anthropic/claude-sonnet-4-5"
OPENAI_STYLE = Price(prompt=2.5, completion=10, cache_read=1.25)
STEP_S = 20.0  # seconds between the agent's calls (the fakes' clock): well inside a 5-minute time to live


@dataclass(frozen=True)
class Step:
    messages: list[dict[str, Any]]  # the request, as the agent sends it
    reply: str  # the model's answer (appended to the next request)


def trajectory(steps: int, stable: float, start: int) -> list[Step]:
    """`steps` requests; the first holds `start` tokens (system, tools' guide, task), each later one is the previous
    request plus the reply and a tool output making `1 - stable` of it."""
    words = (f"w{i}" for i in range(10**9))  # distinct words: nothing repeats by accident

    def text(n: int) -> str:
        return " ".join(next(words) for _ in range(max(n, 1)))

    messages = [
        {"role": "system", "content": text(start * 3 // 4)},
        {"role": "user", "content": text(start // 4)},
    ]
    size, out = start, []
    for _ in range(steps):
        new = math.ceil(size * (1 - stable) / stable)
        reply = text(new // 3)
        out.append(Step([dict(m) for m in messages], reply))
        messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": text(new - new // 3)}]
        size += new
    return out


@dataclass(frozen=True)
class Bill:
    name: str
    uncached: int
    read: int
    write: int
    completion: int
    prompt_tokens: list[int]
    input_usd: float
    total_usd: float

    @property
    def stability(self) -> float:
        """The mean share of each request after the first that the previous request already held."""
        pairs = list(zip(self.prompt_tokens, self.prompt_tokens[1:], strict=False))
        return sum(before / after for before, after in pairs) / len(pairs)


def replay(name: str, steps: list[Step], router: Router, reply: Callable[[str], None], vary: bool = False) -> Bill:
    """Send every request of the trajectory through `router`; `reply` scripts the fake's next answer."""
    for n, step in enumerate(steps):
        reply(step.reply)
        messages = step.messages
        if vary:  # something varying put ahead of the stable prefix (a timestamp in the system prompt)
            messages = [{"role": "system", "content": f"time {n}: " + messages[0]["content"]}, *messages[1:]]
        router.complete("agent", messages)
    rows = router.ledger.calls()
    price = price_of(router.roles["agent"], name)
    completion_tokens = sum(r.completion_tokens for r in rows)
    total = sum(r.cost_usd for r in rows)
    return Bill(
        name,
        uncached=sum(r.prompt_tokens - r.cache_read_tokens - r.cache_write_tokens for r in rows),
        read=sum(r.cache_read_tokens for r in rows),
        write=sum(r.cache_write_tokens for r in rows),
        completion=completion_tokens,
        prompt_tokens=[r.prompt_tokens for r in rows],
        input_usd=total - price.cost(0, completion_tokens),
        total_usd=total,
    )


def anthropic_runs(steps: list[Step]) -> list[Bill]:
    bills = []
    for name, cache in (("anthropic, caching on", True), ("anthropic, caching off", False)):
        clock = Clock()
        fake = FakeAnthropic(clock)
        role = RoleConfig(model=SONNET, api_base=fake.base_url, api_key_env=SECRET_ENV, max_tokens=4096, cache=cache)

        def reply(text: str, fake: FakeAnthropic = fake, clock: Clock = clock) -> None:
            fake.reply_text = text
            clock.advance(STEP_S)

        try:
            bills.append(replay(name, steps, Router({"agent": role}), reply))
        finally:
            fake.stop()
    return bills


def openai_runs(steps: list[Step]) -> list[Bill]:
    bills = []
    runs = (("openai-style, automatic", STEP_S, False), ("openai-style, no cache", 3600.0, False))
    for name, gap, vary in (*runs, ("openai-style, varying prefix", STEP_S, True)):
        clock = Clock()
        fake = FakeProvider()
        fake.prompt_cache = OpenAICache(clock)
        role = RoleConfig(model="openai/fake", api_base=fake.base_url, api_key_env=SECRET_ENV, max_tokens=4096)

        def reply(text: str, fake: FakeProvider = fake, clock: Clock = clock, gap: float = gap) -> None:
            fake.script = [Reply(body=completion(text, 0, len(text.split())))]
            clock.advance(gap)

        try:
            router = Router({"agent": role.model_copy(update={"price": OPENAI_STYLE})})
            bills.append(replay(name, steps, router, reply, vary))
        finally:
            fake.stop()
    return bills


def saving(cached: Bill, baseline: Bill) -> float:
    return 1 - cached.input_usd / baseline.input_usd


def report(bills: list[Bill], steps: int, start: int) -> list[str]:
    by = {bill.name: bill for bill in bills}
    lines = [
        f"prompt caching on a {steps}-step trajectory: {start:,}-token start,"
        f" {by['anthropic, caching off'].stability:.1%} of each request a repeat of the previous one",
        f"{'':30} {'input tokens billed':>40} {'input':>10} {'total':>10}",
        f"{'':30} {'uncached':>12} {'cache read':>13} {'cache write':>13} {'cost':>10} {'cost':>10}",
    ]
    for bill in bills:
        lines.append(
            f"{bill.name:30} {bill.uncached:>12,} {bill.read:>13,} {bill.write:>13,}"
            f" {'$' + format(bill.input_usd, ',.3f'):>10} {'$' + format(bill.total_usd, ',.3f'):>10}"
        )
    anthropic = saving(by["anthropic, caching on"], by["anthropic, caching off"])
    automatic = saving(by["openai-style, automatic"], by["openai-style, no cache"])
    varying = saving(by["openai-style, varying prefix"], by["openai-style, no cache"])
    verdict = "met" if anthropic >= GOAL else "NOT MET"
    lines += [
        f"anthropic (reads 0.1x, writes 1.25x): input cost {anthropic:.1%} lower with caching"
        f" (goal: at least {GOAL:.0%}: {verdict})",
        f"openai-style (reads 0.5x): input cost {automatic:.1%} lower with automatic caching;"
        f" {varying:.1%} with a varying prefix",
    ]
    return lines


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--stable", type=float, default=0.9, help="share of each request that repeats the last")
    parser.add_argument("--start", type=int, default=4000, help="tokens of the first request")
    args = parser.parse_args(argv)
    os.environ[SECRET_ENV] = SECRET
    steps = trajectory(args.steps, args.stable, args.start)
    bills = anthropic_runs(steps) + openai_runs(steps)
    print("\n".join(report(bills, args.steps, args.start)))
    by = {bill.name: bill for bill in bills}
    return {
        "anthropic": saving(by["anthropic, caching on"], by["anthropic, caching off"]),
        "openai_style": saving(by["openai-style, automatic"], by["openai-style, no cache"]),
        "varying_prefix": saving(by["openai-style, varying prefix"], by["openai-style, no cache"]),
        "stability": by["anthropic, caching off"].stability,
    }


if __name__ == "__main__":
    sys.exit(0 if main()["anthropic"] >= GOAL else 1)
