"""Benchmarks agents are measured on: the Evaluator interface, built-ins, and the plug-in registry."""

from opendgm.evaluators.base import Evaluator
from opendgm.evaluators.executor import Executor, LocalExecutor
from opendgm.evaluators.registry import UnknownEvaluator, available, load
from opendgm.evaluators.runner import TaskOutcome, TaskRunner
from opendgm.evaluators.task import Grade, Task

__all__ = [
    "Evaluator",
    "Executor",
    "Grade",
    "LocalExecutor",
    "Task",
    "TaskOutcome",
    "TaskRunner",
    "UnknownEvaluator",
    "available",
    "load",
]
