"""Benchmarks agents are measured on: the Evaluator interface, built-ins, and the plug-in registry."""

from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.executor import Executor, LocalExecutor
from opendgm.evaluators.registry import UnknownEvaluator, available, load
from opendgm.evaluators.runner import TaskOutcome, TaskRunner
from opendgm.evaluators.task import NO_GRADING, Grade, Grading, Task

__all__ = [
    "NO_GRADING",
    "Evaluator",
    "Executor",
    "Grade",
    "Grading",
    "LocalExecutor",
    "Task",
    "TaskOutcome",
    "TaskRunner",
    "UnknownEvaluator",
    "available",
    "load",
]
