"""Benchmarks agents are measured on: the Evaluator interface, built-ins, and the plug-in registry."""

from opendgm.evaluators import infra_retries, registry, self_modification
from opendgm.evaluators.base import Evaluator, EvaluatorProblem, PatchedRun
from opendgm.evaluators.evaluation import (
    EvaluationContext,
    OnResult,
    evaluate_stage,
    evaluate_tasks,
    ignore,
    stage_score,
)
from opendgm.evaluators.executor import Executor, LocalExecutor
from opendgm.evaluators.in_flight import IN_FLIGHT
from opendgm.evaluators.judging import RubricJudge
from opendgm.evaluators.registry import UnknownEvaluator, available, load
from opendgm.evaluators.runner import AgentRun, TaskOutcome, TaskRunner, infrastructure
from opendgm.evaluators.self_modification import Rejected
from opendgm.evaluators.task import NO_GRADING, Grade, Grading, Task
from opendgm.evaluators.text import clip

__all__ = [
    "IN_FLIGHT",
    "NO_GRADING",
    "AgentRun",
    "EvaluationContext",
    "Evaluator",
    "EvaluatorProblem",
    "Executor",
    "Grade",
    "Grading",
    "LocalExecutor",
    "OnResult",
    "PatchedRun",
    "Rejected",
    "RubricJudge",
    "Task",
    "TaskOutcome",
    "TaskRunner",
    "UnknownEvaluator",
    "available",
    "clip",
    "evaluate_stage",
    "evaluate_tasks",
    "ignore",
    "infra_retries",
    "infrastructure",
    "load",
    "registry",
    "self_modification",
    "stage_score",
]
