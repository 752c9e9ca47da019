"""The outcome rule: which failures are infrastructure events, decided from typed errors and the gateway's record,
never from the agent's exit code or its text; and the bounded retries that make a task `infra_exhausted`."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from opendgm.agents.contract import seed_agent_dir
from opendgm.archive import Archive, EvaluatorKey, ResultRecord, schema
from opendgm.archive.models import ResultStatus
from opendgm.evaluators import infra_retries
from opendgm.evaluators.evaluation import EvaluationContext, evaluate_stage
from opendgm.evaluators.executor import LocalExecutor
from opendgm.evaluators.humaneval import HumanEval
from opendgm.llm import (
    BadRequest,
    BudgetExceeded,
    ContextTooLong,
    EmptyCompletion,
    LLMTimeout,
    MalformedResponse,
    ModelTimeout,
    RetriesExhausted,
    ServerError,
    TokenRecord,
)
from opendgm.outcomes import (
    INFRA_EVENT,
    MAX_INFRA_FAILURES,
    VERDICTS,
    agent_run_event,
    from_llm_error,
    from_sandbox_error,
    from_token_record,
)
from opendgm.sandbox.base import EngineFailure, SandboxError


def test_model_errors_are_events_unless_the_request_was_at_fault() -> None:
    kinds = {
        "ServerError": from_llm_error(RetriesExhausted(ServerError("500"), 3, 1.0)),
        "hung": from_llm_error(RetriesExhausted(LLMTimeout("no answer"), 3, 1.0)),
        "deadline": from_llm_error(ModelTimeout("deadline")),
        "budget": from_llm_error(BudgetExceeded("spent")),
        "malformed": from_llm_error(MalformedResponse("not json")),
    }
    assert {name: event.kind for name, event in kinds.items() if event} == {
        "ServerError": "model_service",
        "hung": "model_hung",
        "deadline": "model_hung",
        "budget": "budget",
        "malformed": "model_service",
    }
    for own in (BadRequest("bad field"), ContextTooLong("too long"), EmptyCompletion("nothing")):
        assert from_llm_error(own) is None


def test_sandbox_errors_are_events_only_when_the_engine_failed() -> None:
    assert from_sandbox_error(EngineFailure("the container was killed from outside")).kind == "engine"  # type: ignore[union-attr]
    assert from_sandbox_error(SandboxError("the agent's repository is unreadable")) is None


def test_the_gateway_record_decides_not_the_agent() -> None:
    assert from_token_record(None) is None
    assert from_token_record(TokenRecord(requests=4, served=4)) is None  # the service served every call
    failed = TokenRecord(requests=2, served=1, infra_failures=("503 retries_exhausted: ServerError",), wait_s=2.5)
    assert from_token_record(failed).kind == "model_service" and "2.5 s" in str(from_token_record(failed))  # type: ignore[union-attr]
    deadline = ("503 model_timeout: no answer before the call's deadline",)
    hung = TokenRecord(requests=1, infra_failures=deadline, hung=True)
    assert from_token_record(hung).kind == "model_hung"  # type: ignore[union-attr]
    assert from_token_record(TokenRecord(requests=1, in_flight_at_revoke=1)).kind == "model_hung"  # type: ignore[union-attr]
    assert from_token_record(TokenRecord(requests=1, budget_refused=True, infra_failures=("402",))).kind == "budget"  # type: ignore[union-attr]
    # an agent that succeeded despite a failed call keeps its verdict
    assert agent_run_event(failed, succeeded=True) is None and agent_run_event(failed, succeeded=False) is not None


def test_hung_is_the_gateway_s_typed_record_not_words_in_a_failure_line() -> None:
    """A failing service whose error text says "timeout" (the provider's words, or the agent's echoed back)
    is a failing service: only the gateway's typed `hung` flag, set from `LLMError.hung`, says hung."""
    echoed = ("502 server_error: upstream said: model_timeout LLMTimeout (your prompt: ...)",)
    assert from_token_record(TokenRecord(requests=1, infra_failures=echoed)).kind == "model_service"  # type: ignore[union-attr]
    assert RetriesExhausted(LLMTimeout("slow"), 3, 9.0).hung and ModelTimeout("deadline").hung
    assert not RetriesExhausted(ServerError("502"), 3, 9.0).hung and not ServerError("says LLMTimeout").hung


def test_the_schema_counts_exhaustion_with_the_vocabulary_s_constants() -> None:
    assert (schema._FAILED, schema._RETRY, schema._MAX_FAILURES) == (INFRA_EVENT, "retry_infra", MAX_INFRA_FAILURES)


def test_infrastructure_statuses_are_not_verdicts() -> None:
    assert {"sandbox_error", "model_error", "infra_exhausted"}.isdisjoint(VERDICTS)
    assert {"resolved", "agent_error", "agent_timeout", "patch_too_large", "invalid_task"} <= VERDICTS


def test_three_infrastructure_failures_make_a_task_infra_exhausted_until_retry_infra(tmp_path: Path) -> None:
    """Bounded: the exhausted task is not run again (the stage goes on without it) until --retry-infra."""
    with Archive.create(tmp_path / "c", "bounded") as archive:
        node = archive.add_agent(seed_agent_dir(), operator="import").id
        tasks = HumanEval().select("HumanEval_0")
        for attempt in range(MAX_INFRA_FAILURES):
            assert infra_retries.exhausted(archive, node) == set(), attempt
            archive.log_event(INFRA_EVENT, node, {"task": "HumanEval_0", "kind": "engine", "detail": "killed"})
        assert infra_retries.exhausted(archive, node) == {"HumanEval_0"}
        assert infra_retries.exhausted_count(archive) == 1
        # nothing is run (no gateway, no sandbox would be reachable): the task is skipped, not judged
        context = EvaluationContext(gateway=None, executor=LocalExecutor(1))
        score = evaluate_stage(archive, node, HumanEval(), tasks, "s", context)
        assert (score.n_done, score.n_tasks) == (0, 0) and archive.results(node) == []  # left out of the score
        infra_retries.retry_infra(archive)
        assert infra_retries.exhausted(archive, node) == set() and infra_retries.exhausted_count(archive) == 0


@pytest.mark.parametrize(("later", "final"), [("resolved", 1.0), ("unresolved", 0.5)])
def test_an_infra_exhausted_task_is_left_out_of_the_score_until_retry_infra_grades_it(
    tmp_path: Path, later: ResultStatus, final: float
) -> None:
    """Not a verdict on the agent: one resolved task and one exhausted task score 1.0 (not 0.5) in every view of
    the score (per node, all nodes, the kept summaries); `--retry-infra` puts the task back and its verdict counts."""
    with Archive.create(tmp_path / "c", "excluded") as archive:
        node = archive.add_agent(seed_agent_dir(), operator="import").id
        archive.record_stage(node, "humaneval", "1", "s", ["A", "B"])
        archive.record_result(ResultRecord(node, EvaluatorKey("humaneval", "1"), "A", status="resolved"))

        def views() -> set[tuple[float, int, int]]:
            score = archive.scores(node)[0]
            tallied = archive.scores_by_node()[node][0]
            row = next(row for row in archive.summaries() if row.id == node)
            return {(s.score, s.n_tasks, s.n_done) for s in (score, tallied, row)}  # type: ignore[misc]

        assert views() == {(0.5, 2, 1)}  # B is pending: not complete
        for _ in range(MAX_INFRA_FAILURES):
            archive.log_event(INFRA_EVENT, node, {"task": "B", "kind": "engine", "detail": "killed"})
        assert views() == {(1.0, 1, 1)} and archive.scores(node)[0].complete
        infra_retries.retry_infra(archive)
        assert views() == {(0.5, 2, 1)}
        archive.record_result(ResultRecord(node, EvaluatorKey("humaneval", "1"), "B", status=later))
        assert views() == {(final, 2, 2)}


def test_an_archive_from_before_the_exhausted_table_finds_its_exhausted_tasks_on_open(tmp_path: Path) -> None:
    """Schema 6 -> 7: the exhausted pairs are rebuilt from the event log, counted since the last --retry-infra."""

    def fail(archive: Archive, node: str, *tasks: str) -> None:
        for task in tasks:
            archive.log_event(INFRA_EVENT, node, {"task": task, "kind": "engine", "detail": "killed"})

    with Archive.create(tmp_path / "c", "old") as archive:
        node = archive.add_agent(seed_agent_dir(), operator="import").id
        fail(archive, node, "A", "A", "A", "B")
        infra_retries.retry_infra(archive)
        fail(archive, node, "B", "B", "C", "C", "C")
        expected = archive.infra_exhausted()
    assert expected == {(node, "C")}  # A before the retry, B twice after it
    with closing(sqlite3.connect(tmp_path / "c" / "archive.sqlite")) as conn:
        for trigger in ("exhaust_task", "retry_exhausted", "summary_exhausted", "summary_unexhausted"):
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute("DROP TABLE infra_exhausted")
        conn.execute("PRAGMA user_version = 6")
    with Archive.open(tmp_path / "c") as archive:
        assert archive.infra_exhausted() == expected
        fail(archive, node, "B")
        assert archive.infra_exhausted() == {(node, "B"), (node, "C")}
