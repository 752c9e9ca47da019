"""Who can read the dashboard, and the `serve` / `plot` commands as mounted on the `opendgm` CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from opendgm.web.app import create_app
from opendgm.web.auth import bind_problem
from opendgm.web.cli import plot, serve

Campaign = tuple[Path, dict[str, str]]
cli = typer.Typer()
cli.command()(serve)  # exactly as opendgm/cli.py mounts them
cli.command()(plot)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("127.0.0.1", False),
        ("localhost", False),
        ("::1", False),
        ("0.0.0.0", True),
        ("192.168.1.5", True),
        ("example.org", True),
    ],
)
def test_only_loopback_binds_without_a_token(host: str, refused: bool) -> None:
    assert (bind_problem(host, None) is not None) == refused
    assert bind_problem(host, "s3cret") is None


def test_serve_refuses_a_public_bind_without_token(campaign: Campaign) -> None:
    result = CliRunner().invoke(cli, ["serve", str(campaign[0]), "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "--token" in result.output


def test_serve_on_a_missing_directory_fails_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "does not exist" in result.output and "Traceback" not in result.output


def test_with_a_token_every_request_must_carry_it(campaign: Campaign) -> None:
    with TestClient(create_app({"camp": campaign[0]}, token="s3cret"), base_url="http://127.0.0.1") as client:
        for path in ("/", "/static/app.js", "/api/campaigns", "/api/camp/tree"):
            assert client.get(path).status_code == 401
        assert client.get("/api/camp/tree", headers={"X-OpenDGM-Token": "wrong"}).status_code == 401
        assert client.get("/api/camp/tree", headers={"X-OpenDGM-Token": "s3cret"}).status_code == 200
        assert client.get("/api/camp/tree", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/?token=s3cret").status_code == 200  # sets the cookie the page's requests carry
        assert client.cookies.get("opendgm_token") == "s3cret"
        assert client.get("/api/camp/progress").status_code == 200


def test_plot_writes_progress_and_tree_pngs(campaign: Campaign, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["plot", str(campaign[0]), "--out", str(tmp_path / "plots")])
    assert result.exit_code == 0, result.output
    for name in ("campaign-progress.png", "campaign-tree.png"):
        data = (tmp_path / "plots" / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000


def test_plot_on_a_missing_directory_fails_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["plot", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_plot_of_one_free_agent_has_sensible_axes_ids_and_the_best_agent(tmp_path: Path) -> None:
    """One scored agent and only free model calls: no degenerate axis, tokens instead of $0, the best agent."""
    import matplotlib.pyplot as plt

    from opendgm.archive import Archive
    from opendgm.web import plots
    from tests.support.showcase import free_campaign

    seed = free_campaign(tmp_path / "one", tmp_path, solved=4)
    result = CliRunner().invoke(cli, ["plot", str(tmp_path / "one"), "--out", str(tmp_path / "plots")])
    assert result.exit_code == 0, result.output
    assert all((tmp_path / "plots" / f"one-{name}.png").read_bytes().startswith(PNG) for name in ("progress", "tree"))
    _, axis = plt.subplots()
    plots._sensible_x(axis, [1], None)  # one node created
    assert axis.get_xlim() == (0.0, 2.0)
    plots._sensible_x(axis, [0.0, 0.0], 0.0)  # nothing spent yet
    low, high = axis.get_xlim()
    assert low < 0 < high and high == pytest.approx(1.05)
    plots._sensible_x(axis, [40, 90], 100)  # tokens: from 0 to the campaign's total
    assert axis.get_xlim() == pytest.approx((-3.0, 105.0))
    plt.close("all")
    with Archive.open(tmp_path / "one", readonly=True) as archive:
        figure_text = plots.views.tree(archive)["best"]["summary"]
    assert figure_text.startswith(f"{seed}: 0.800 on the full evaluation")
