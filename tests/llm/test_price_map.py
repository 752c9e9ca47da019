"""The price lookup answers "free" for a self-hosted model litellm has no price for without importing litellm, and
only where litellm's own lookup fails too; every other model is priced by litellm, as before."""

from __future__ import annotations

import subprocess
import sys

import pytest

from opendgm.llm import RoleConfig
from opendgm.llm.price_map import unmapped
from opendgm.llm.provider import price_of
from opendgm.llm.roles import FREE

SELF_HOSTED = ["openai/scripted", "openai/local", "openai/fake", "openai/x", "openai/judge", "openai/fake-small"]
PRICED = ["openai/gpt-4o-mini", "openai/gpt-4o-2024-08-06", "gpt-4o"]


@pytest.mark.parametrize("model", SELF_HOSTED)
def test_a_model_called_unmapped_is_one_litellm_cannot_price(model: str) -> None:
    litellm = pytest.importorskip("litellm")
    assert unmapped(model)
    with pytest.raises(Exception, match="mapped"):
        litellm.get_model_info(model)
    assert price_of(RoleConfig(model=model, api_base="http://127.0.0.1:9/v1"), "agent") == FREE


@pytest.mark.parametrize("model", [*PRICED, "anthropic/claude-sonnet-4-5", "claude-haiku-4-5"])
def test_a_model_litellm_may_price_is_left_to_litellm(model: str) -> None:
    litellm = pytest.importorskip("litellm")
    assert not unmapped(model)
    info = litellm.get_model_info(model)
    price = price_of(RoleConfig(model=model, api_base="http://127.0.0.1:9/v1"), "agent")
    assert (price.prompt, price.completion) == (info["input_cost_per_token"] * 1e6, info["output_cost_per_token"] * 1e6)


def test_pricing_a_self_hosted_model_does_not_import_litellm() -> None:
    probe = (
        "import sys\nfrom opendgm.llm import RoleConfig\nfrom opendgm.llm.provider import price_of\n"
        "print(price_of(RoleConfig(model='openai/scripted', api_base='http://127.0.0.1:9/v1'), 'agent'))\n"
        "print('litellm' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.splitlines()[-1] == "False"
