"""`opendgm simulate`: the real campaign scheduler against a simulated landscape, at zero model cost.

`SimulatedCampaign` is a `Campaign` whose seams to models and sandboxes (self-modification, validation, task
evaluation, the async worker pool) are replaced by draws from `landscape.py`; selectors, stages and thresholds,
HGM's expand/evaluate rule, the archive and the budgets are the real ones, and the archive it writes is a real
one (`tree`, `serve`, `plot` read it). Time is simulated: each self-modification and each task takes a drawn
duration; async workers run in simulated time (the action that would finish first finishes first), and a
generation's children run side by side, each on `workers` task slots, the next generation starting when the
slowest is done.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from opendgm.archive import EvaluatorKey, Node, ResultRecord, Score, best_agent, trees
from opendgm.evaluators import Evaluator, Executor, Rejected, Task, TaskOutcome, stage_score
from opendgm.evolve import opening
from opendgm.evolve.campaign import Campaign
from opendgm.evolve.config import CampaignConfig, ConfigProblem, HGMConfig
from opendgm.evolve.landscape import child_ability, modify_duration, task_draw
from opendgm.evolve.opening import Setup
from opendgm.evolve.stopping import Stopped
from opendgm.llm import LLMConfig
from opendgm.outcomes import Verdict
from opendgm.prompts import meta_prompts
from opendgm.session import Session, open_session

DGM_SUBSETS = {"small": 10, "medium": 50, "big": 140}  # SWE-bench subset sizes of DGM's runs
POLICIES = ("score_child_prop", "hgm", "best", "random")
# HGM's own rules, as its paper runs them (section 4: the scheduler tau = B / b in every experiment)
HGM_RULES = HGMConfig(
    expand_from="own_positive", count_seed_evaluations=False, initial_expansions="hgm", cool_down=True
)
NO_MODELS = LLMConfig(roles={})
ABILITY = "simulated_ability"
NOTE = "SIMULATED-{node}.md"  # the file a simulated child adds to its parent's code


class SimulatedEvaluator:
    """Task lists only: a stage names comma-separated task ids or one of DGM's subsets (its size is known)."""

    name, version = "simulated", "1"
    key = EvaluatorKey(name, version)
    needs_judge = False  # grading is drawn from the landscape, never asked of a model

    def select(self, subset: str, limit: int | None = None) -> list[Task]:
        if "," in subset:
            ids = [part.strip() for part in subset.split(",") if part.strip()]
        elif subset in DGM_SUBSETS:
            ids = [f"{subset}-{index:03d}" for index in range(DGM_SUBSETS[subset])]
        else:
            raise ConfigProblem(f"simulate: stage subset {subset!r} has no known size; use small, medium, big or ids")
        return [Task(id=task, statement="simulated") for task in ids[:limit]]


@dataclass
class Progress:
    """What one simulated campaign measured (evaluations exclude the seed's, as HGM counts them)."""

    evaluations: int = 0
    reached_evaluations: int | None = None
    reached_time_s: float | None = None
    best_ability: float | None = None
    top_ability: float = 0.0
    children: int = 0
    time_s: float = 0.0


class VirtualWorkers:
    """Async workers in simulated time: started actions finish in the order of their drawn end times."""

    def __init__(self) -> None:
        self.queue: list[tuple[float, int, Future[None], Callable[[str], None], str]] = []
        self.order = itertools.count()

    def shutdown(self) -> None:
        self.queue.clear()


class SimulatedCampaign(Campaign):
    """A campaign whose agents live in the simulated landscape of `config.simulation`."""

    def __init__(self, setup: Setup, session: Session) -> None:
        super().__init__(setup, session)
        self.landscape = setup.config.simulation
        self.progress = Progress()
        self.now = 0.0  # simulated seconds since the start
        self._abilities: dict[str, float] = {}
        self._pool = VirtualWorkers()
        self._roots: dict[str, bytes] = {}  # node -> its code's top-level `git ls-tree -z` listing
        self._graded: dict[str, set[str]] = {}  # node -> tasks it has a result on (the simulator writes them all)
        self._patches: dict[str, str] = {}  # node -> the artifact standing for its patch on every task
        self._pool_ids: list[str] = []
        self._in_pool: set[str] = set()
        self._seed_id: str | None = None
        self._note_blob: str | None = None

    def _seed(self) -> str:
        if self._seed_id is None:
            self._seed_id = self._ensure_seed()
        return self._seed_id

    def run(self) -> str:
        self.archive.log_event("campaign_started", data={"backend": "simulated"})
        try:
            reason = self._grow()
        except Stopped as stop:
            reason = str(stop)
        self.archive.log_event("campaign_stopped", data={"reason": reason})
        self._finish()
        return reason

    def _finish(self) -> None:
        best = best_agent(self.archive.summaries())
        self.progress.best_ability = None if best is None else self.ability(best.id)
        self.progress.time_s = self.now
        self.progress.children = sum(1 for node in self.archive.nodes(kind="agent") if node.operator != "seed")

    # -- the landscape --------------------------------------------------------------------------
    def ability(self, node_id: str) -> float:
        if node_id not in self._abilities:
            node = self.archive.node(node_id)
            seed = node.operator == "seed"
            self._abilities[node_id] = self.landscape.initial_ability if seed else float(node.meta[ABILITY])
        return self._abilities[node_id]

    def _steps(self, node: Node) -> dict[str, Callable[[str], object]]:
        if node.kind != "agent":
            return super()._steps(node)
        return {
            "proposed": self._modify_simulated,
            "built": lambda node: self.archive.set_status(node, "validating"),
            "validating": self._validate_simulated,
            "evaluating": self._evaluate,
        }

    def _modify_simulated(self, node_id: str) -> None:
        """The parent rewrites itself: its latent ability is drawn, its code is the parent's plus a note file."""
        node = self.archive.node(node_id)
        parent = str(node.parent_id)
        ability, broken = child_ability(self.landscape, self.config.seed, node_id, self.ability(parent))
        if self.config.mode != "async":  # async charges the modification when its worker starts it
            self.now += modify_duration(self.landscape, self.config.seed, node_id)
        self._abilities[node_id] = ability
        self.archive.update_meta(node_id, {ABILITY: ability, "simulated_broken": broken,
                                           "problem_statement": "simulated self-modification"})  # fmt: skip
        self.archive.attach_tree(node_id, self._child_tree(node_id, parent), message=f"simulated child of {parent}")
        self.progress.top_ability = max(self.progress.top_ability, ability)

    def _child_tree(self, node_id: str, parent: str) -> str:
        """The parent's tree plus a note file named for the child (`SIMULATED-<id>.md`, one shared blob), so every
        child has code of its own: one git process, since only the top level changes and the simulator remembers
        the top-level listing of every tree it made (the seed's is read once)."""
        store = self.archive.code(parent).store
        if parent not in self._roots:
            self._roots[parent] = store.git("ls-tree", "-z", self.archive.code(parent).treeish)
        if self._note_blob is None:
            self._note_blob = trees.write_blob(store, b"a simulated self-modification (see the node's meta)\n")
        entry = f"100644 blob {self._note_blob}\t{NOTE.format(node=node_id)}\0".encode()
        self._roots[node_id] = self._roots[parent] + entry
        return store.git("mktree", "-z", stdin=self._roots[node_id]).decode().strip()

    def _validate_simulated(self, node_id: str) -> None:
        if self.archive.node(node_id).meta.get("simulated_broken"):
            raise Rejected("simulated: the child is broken (does not run)")
        self.archive.set_status(node_id, "evaluating")

    def _evaluate_stage(self, node_id: str, tasks: list[Task], name: str, executor: Executor) -> Score:
        """The stage's due tasks on `workers` slots from now; the stage ends when its last task does."""
        self.archive.record_stage(node_id, *self.evaluator.key, name, [t.id for t in tasks])
        due = [task for task, _ in self.archive.missing_tasks(node_id, *self.evaluator.key,
                                                              name)]  # fmt: skip
        slots = [self.now] * self.config.workers
        with self.archive.transaction():  # the stage's results in one commit (the same rows, written faster)
            for task_id in due:
                start = heapq.heappop(slots)
                end = start + task_draw(self.landscape, self.config.seed, node_id, task_id, self.ability(node_id))[1]
                heapq.heappush(slots, end)
                self._grade(node_id, task_id, end)
        self.now = max(slots)
        return stage_score(self.archive, node_id, self.evaluator.key, name)

    def _evaluate_tasks(self, node_id: str, tasks: list[Task], executor: Executor) -> list[TaskOutcome]:
        # async: the worker's clock already stands at the task's end
        return [self._grade(node_id, task.id, self.now) for task in tasks]

    def _grade(self, node_id: str, task_id: str, at: float) -> TaskOutcome:
        """One simulated task result, recorded as a real one (its patch: one artifact per node, written once)."""
        ability = self.ability(node_id)
        resolved, duration = task_draw(self.landscape, self.config.seed, node_id, task_id, ability)
        status: Verdict = "resolved" if resolved else "unresolved"
        outcome = TaskOutcome(
            task_id, status, tests_passed=int(resolved), tests_failed=int(not resolved), exit_code=0,
            duration_s=duration,
        )  # fmt: skip
        if node_id not in self._patches:
            self._patches[node_id] = self.archive.artifacts.put(f"results/{node_id}/simulated.diff",
                                                                f"simulated attempt of {node_id}\n")  # fmt: skip
        self.archive.record_result(
            ResultRecord(
                node_id, self.evaluator.key, task_id, status, tests_passed=int(resolved),
                tests_failed=int(not resolved), exit_code=0, duration_s=duration, patch_path=self._patches[node_id],
            )
        )  # fmt: skip
        self._graded.setdefault(node_id, set()).add(task_id)
        if node_id == self._seed():
            return outcome
        self.progress.evaluations += 1
        if ability >= self.landscape.target and self.progress.reached_evaluations is None:
            self.progress.reached_evaluations, self.progress.reached_time_s = self.progress.evaluations, at
        return outcome

    def _enter_pool(self, node_id: str) -> None:
        super()._enter_pool(node_id)
        self._pool_ids = list(dict.fromkeys(task.id for tasks in self.stage_tasks for task in tasks))
        self._in_pool.add(node_id)

    def _pool_missing(self, node_id: str) -> list[tuple[str, int]]:
        """The node's pool tasks without a result, in pool order: what `archive.missing_tasks` answers, kept in
        memory (the simulator records every result itself, one attempt per task, none infra_exhausted)."""
        if node_id not in self._in_pool:
            return []
        graded = self._graded.get(node_id, set())
        return [(task, 0) for task in self._pool_ids if task not in graded]

    # -- simulated time -------------------------------------------------------------------------
    def _advance_all(self, node_ids: list[str]) -> None:
        """A generation: its children start together; the next starts when the slowest has finished."""
        start, end = self.now, self.now
        for node_id in node_ids:  # one after the other, so the simulation is the same on every run
            self.now = start
            self._advance(node_id)
            end = max(end, self.now)
        self.now = end

    def _workers(self) -> Any:
        self._pool = VirtualWorkers()
        return self._pool

    def _start(self, workers: Any, work: Callable[[str], None], action: tuple[str, str, str | None]) -> Future[None]:
        kind, node, task = action
        if kind == "expand":
            duration = modify_duration(self.landscape, self.config.seed, node)
        else:
            duration = task_draw(self.landscape, self.config.seed, node, str(task), self.ability(node))[1]
        future: Future[None] = Future()
        heapq.heappush(workers.queue, (self.now + duration, next(workers.order), future, work, node))
        return future

    def _first_done(self, running: dict[Future[None], tuple[str, str, str | None]]) -> set[Future[None]]:
        end, _, future, work, node = heapq.heappop(self._pool.queue)
        self.now = end
        try:
            work(node)
            future.set_result(None)
        except BaseException as failure:  # handed to the loop, as a worker thread's would be
            future.set_exception(failure)
        return {future}


# -- comparing policies -------------------------------------------------------------------------------
def policy_config(config: CampaignConfig, policy: str, seed: int, target: float | None) -> CampaignConfig:
    """`config` run by `policy` (a DGM selector in generations, or `hgm` in async) at `seed`, until its
    task-evaluation budget (generations unbounded; wall time is simulated, so the real one is not a limit)."""
    if config.budget.task_evaluations is None:
        raise ConfigProblem("simulate compares policies at equal cost: set budget.task_evaluations in the config")
    data = config.model_dump()
    data.update(seed=seed, generations=1_000_000, operators={"self_improve": 1.0}, mpo=None, tracking=None,
                local_server=None)  # fmt: skip
    data["budget"]["wall_time_s"] = None
    if target is not None:
        data["simulation"]["target"] = target
    if policy == "hgm":
        data.update(mode="async", selector="hgm")
        if config.mode != "async":
            data["hgm"] = HGM_RULES.model_dump()
    else:
        data.update(mode="generations", selector=policy)
    return CampaignConfig.model_validate(data)


@contextmanager
def simulated(config: CampaignConfig, root: Path) -> Iterator[SimulatedCampaign]:
    """The simulated campaign of `config` in `root`: a real archive, and a router with no model role (every step that
    would ask a model is simulated; one that did would fail at once on the unknown role, at no cost)."""
    setup = Setup.made(config, cast(Evaluator, SimulatedEvaluator()), "local-unsafe")  # nothing runs in a sandbox
    with opening.open_archive(setup, root) as archive, open_session(archive, NO_MODELS) as session:
        meta_prompts.ensure_seeds(archive, meta_prompts.AGENT_ROLES)
        yield SimulatedCampaign(setup, session)


def simulate_one(config: CampaignConfig, root: Path) -> Progress:
    with simulated(config, root) as campaign:
        campaign.run()
        return campaign.progress


def compare(
    config: CampaignConfig,
    out: Path,
    seeds: int,
    policies: tuple[str, ...] = POLICIES,
    target: float | None = None,
    on_run: Callable[[str, int, Progress], None] = lambda _policy, _seed, _progress: None,
) -> dict[str, Any]:
    """Run every policy on `seeds` seeds (archives under out/<policy>/seed-<k>); the summary, JSON-ready."""
    runs: dict[str, list[Progress]] = {}
    for policy in policies:
        for seed in range(seeds):
            progress = simulate_one(policy_config(config, policy, seed, target), out / policy / f"seed-{seed}")
            runs.setdefault(policy, []).append(progress)
            on_run(policy, seed, progress)
    goal = config.simulation.target if target is None else target
    return {
        "target": goal,
        "seeds": seeds,
        "task_evaluations_budget": config.budget.task_evaluations,
        "policies": {policy: summarize(found) for policy, found in runs.items()},
        "runs": {policy: [asdict(p) for p in found] for policy, found in runs.items()},
    }


def summarize(runs: list[Progress]) -> dict[str, Any]:
    """Median and quartiles over seeds; a seed that never reached the target counts as infinitely late."""
    evaluations = [float("inf") if p.reached_evaluations is None else float(p.reached_evaluations) for p in runs]
    hours = [float("inf") if p.reached_time_s is None else p.reached_time_s / 3600 for p in runs]
    best = [p.best_ability for p in runs if p.best_ability is not None]
    return {
        "reached": sum(p.reached_evaluations is not None for p in runs),
        "evaluations": spread(evaluations),
        "hours": spread(hours),
        "best_agent_ability": spread(best),
    }


def spread(values: list[float]) -> dict[str, float | None]:
    """Median with the 25th and 75th percentiles by nearest rank (exact with infinities); None when empty."""
    if not values:
        return {"median": None, "p25": None, "p75": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[round(q * (len(ordered) - 1))]

    return {"median": rank(0.5), "p25": rank(0.25), "p75": rank(0.75)}
