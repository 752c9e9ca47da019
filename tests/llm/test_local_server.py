"""Local servers fail early and clearly, and `opendgm llm` drives them."""

from __future__ import annotations

import shutil
import tempfile

import pytest
import yaml
from typer.testing import CliRunner

from opendgm.llm import LocalServer, LocalServerConfig, LocalServerError
from opendgm.llm.cli import app, check_roles
from opendgm.llm.errors import ConnectionFailed
from tests.support.llm_fakes import closed_url

runner = CliRunner()


@pytest.mark.usefixtures("embedded_model")  # llama.cpp is looked for first
def test_a_missing_gguf_is_reported_before_starting_anything(tmp_path):
    server = LocalServer(LocalServerConfig(model=str(tmp_path / "nope.gguf")))

    with pytest.raises(LocalServerError, match="not found"):
        server.start()
    assert server.pid is None


@pytest.mark.usefixtures("embedded_model")
def test_a_server_that_dies_at_start_up_is_reported_with_its_log(tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_text("not a model")
    server = LocalServer(LocalServerConfig(model=str(bogus), log_path=tmp_path / "server.log"))

    with pytest.raises(LocalServerError, match="exited with code") as caught:
        server.start()

    assert str(tmp_path / "server.log") in str(caught.value)
    assert not server.alive()


@pytest.mark.skipif(bool(shutil.which("vllm") and shutil.which("nvidia-smi")), reason="vLLM and a GPU are here")
def test_vllm_without_vllm_or_gpu_is_a_clear_error():
    with pytest.raises(LocalServerError, match="vLLM"):
        LocalServer(LocalServerConfig(kind="vllm", model="HuggingFaceTB/SmolLM2-135M-Instruct")).start()


def test_check_reports_each_role(fake_provider, fake_role, tmp_path):
    closed = fake_role(api_base=closed_url())
    config = tmp_path / "models.yaml"
    roles = {"agent": fake_role(), "judge": closed}
    config.write_text(yaml.safe_dump({"roles": {k: v.model_dump(mode="json") for k, v in roles.items()}}))

    agent, judge = check_roles(roles, max_tokens=4)
    assert agent.reachable and agent.error is None and agent.completion.call.completion_tokens == 1
    assert not judge.reachable and isinstance(judge.error.last, ConnectionFailed)

    result = runner.invoke(app, ["check", "--config", str(config)])
    assert result.exit_code == 1  # one role failed
    assert "agent" in result.output and "judge" in result.output


def test_serve_refuses_two_models():
    result = runner.invoke(app, ["serve", "--gguf", "a.gguf", "--vllm", "some/model"])
    assert result.exit_code != 0


@pytest.mark.model
def test_check_without_config_checks_the_embedded_model(monkeypatch, tmp_path, embedded_model):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the server's default log goes
    result = runner.invoke(app, ["check"])

    assert result.exit_code == 0, result.output
    assert "agent" in result.output and "yes" in result.output
    assert list(tmp_path.glob("opendgm-llama_cpp-*.log"))
