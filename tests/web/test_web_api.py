"""Every JSON endpoint of the dashboard against a real archive, read through FastAPI's TestClient."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opendgm.archive import Archive, EvaluatorKey, ResultRecord
from opendgm.llm.ledger import CallRecord
from opendgm.web import views
from opendgm.web.app import create_app

Campaign = tuple[Path, dict[str, str]]


def rows(tree: dict) -> dict[str, dict]:
    return {row[0]: dict(zip(tree["fields"], row, strict=True)) for row in tree["nodes"]}


def test_campaigns_lists_the_served_archive(client: TestClient, campaign: Campaign) -> None:
    assert client.get("/api/campaigns").json() == [
        {"name": "camp", "path": str(campaign[0]), "campaign": "web-test", "error": None}
    ]


def test_tree_has_every_node_with_layout_and_typed_edges(client: TestClient, campaign: Campaign) -> None:
    ids = campaign[1]
    tree = client.get("/api/camp/tree").json()
    nodes = rows(tree)
    assert set(nodes) == set(ids.values())
    assert nodes[ids["rejected"]]["status"] == "rejected"
    assert nodes[ids["prompt"]]["kind"] == "prompt" and nodes[ids["meta"]]["kind"] == "meta_prompt"
    assert nodes[ids["grandchild"]]["score"] == 1.0 and nodes[ids["rejected"]]["score"] is None
    assert [nodes[ids[key]]["depth"] for key in ("seed", "child", "grandchild")] == [0, 1, 2]
    assert len({nodes[ids[key]]["x"] for key in ("grandchild", "rejected", "meta", "prompt")}) == 4  # leaves apart
    seed_x = nodes[ids["seed"]]["x"]
    assert nodes[ids["child"]]["x"] < seed_x < nodes[ids["rejected"]]["x"]  # parent midway over its children
    assert tree["edges"] == [[ids["prompt"], ids["meta"], "produced_by"]]


def test_the_browsers_tree_is_the_same_without_the_servers_x(client: TestClient) -> None:
    """`?x=false` (what the dashboard's page asks: it lays the tree out itself) drops the x column and nothing else;
    the default answer keeps it for API users."""
    full, lean = client.get("/api/camp/tree").json(), client.get("/api/camp/tree?x=false").json()
    assert lean["fields"] == [field for field in full["fields"] if field != "x"] and "x" in full["fields"]
    assert [{k: v for k, v in row.items() if k != "x"} for row in rows(full).values()] == list(rows(lean).values())
    assert {k: v for k, v in full.items() if k not in ("fields", "nodes")} == {
        k: v for k, v in lean.items() if k not in ("fields", "nodes")
    }


def test_node_panel_data(client: TestClient, campaign: Campaign) -> None:
    child = client.get(f"/api/camp/node/{campaign[1]['child']}").json()
    assert "-    return 1\n+    return 2  # improved" in child["diff"]
    assert child["problem_statement"] == "Make solve() return 2." and "problem_statement" not in child["meta"]
    [score] = child["scores"]
    assert (score["stage"], score["n_tasks"], score["n_resolved"]) == ("small", 3, 2)
    assert score["score"] == pytest.approx(2 / 3)
    assert {r["task_id"]: r["status"] for r in child["results"]} == {
        "task-a": "resolved",
        "task-b": "resolved",
        "task-c": "unresolved",
    }
    assert child["cost"]["calls"] == 1 and child["cost"]["cost_usd"] == pytest.approx(0.10)
    assert child["cost"]["tokens"] == 15
    assert child["children"] == [campaign[1]["grandchild"]]


def test_prompt_node_shows_content_and_its_produced_by_edge(client: TestClient, campaign: Campaign) -> None:
    ids = campaign[1]
    prompt = client.get(f"/api/camp/node/{ids['prompt']}").json()
    assert prompt["content"] == "Solve the task carefully."
    assert [(e["src"], e["kind"], e["dst"]) for e in prompt["edges"]] == [(ids["prompt"], "produced_by", ids["meta"])]
    assert prompt["fitness"] is None
    meta = client.get(f"/api/camp/node/{ids['meta']}").json()
    assert meta["fitness"]["credits"] == [{"child": ids["prompt"], "parent": None, "gain": None}]
    assert meta["fitness"]["summary"] == "fitness: not judged yet (1 children produced)"


def test_trajectory_steps(client: TestClient, campaign: Campaign) -> None:
    child = campaign[1]["child"]
    trajectory = client.get(f"/api/camp/node/{child}/trajectory/task-a").json()
    assert [step["type"] for step in trajectory["steps"]] == ["start", "model", "action", "exit"]
    assert trajectory["steps"][2]["command"] == "ls"
    missing = client.get(f"/api/camp/node/{child}/trajectory/task-b")
    assert missing.status_code == 404 and "no trajectory" in missing.json()["error"]
    assert client.get(f"/api/camp/node/{child}/trajectory/nope").status_code == 404


def test_progress_best_mean_and_spend(client: TestClient) -> None:
    progress = client.get("/api/camp/progress").json()
    assert [p["best"] for p in progress["by_node"]] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert [p["mean"] for p in progress["by_node"]] == pytest.approx([1 / 3, 1 / 2, 2 / 3])
    assert [p["x"] for p in progress["by_node"]] == [1, 2, 4]  # the rejected n0003 counts as created
    assert [p["x"] for p in progress["by_spend"]] == pytest.approx([0.05, 0.15, 0.35])
    assert progress["by_role"]["agent"]["cost_usd"] == pytest.approx(0.30)
    assert progress["by_role"]["meta"]["calls"] == 1
    assert progress["total_cost_usd"] == pytest.approx(0.35)


def test_events_page_from_since(client: TestClient) -> None:
    everything = client.get("/api/camp/events").json()
    assert everything["events"][0]["kind"] == "node_added" and not everything["more"]
    assert everything["last"] == everything["events"][-1]["id"]
    later = client.get(f"/api/camp/events?since={everything['last'] - 2}").json()
    assert [e["id"] for e in later["events"]] == [everything["last"] - 1, everything["last"]]
    for tail in (0, 1, 3, 10_000):
        page = client.get(f"/api/camp/events?tail={tail}").json()
        assert page["events"] == (everything["events"][-tail:] if tail else [])
        assert page["last"] == everything["last"]


def test_a_running_campaign_shows_new_nodes_to_an_open_dashboard(tmp_path: Path, campaign: Campaign) -> None:
    shutil.copytree(campaign[0], tmp_path / "live")
    with (
        TestClient(create_app({"live": tmp_path / "live"}), base_url="http://127.0.0.1") as client,
        Archive.open(tmp_path / "live") as writer,
    ):
        last = client.get("/api/live/events").json()["last"]
        new = writer.add_node("rubric", "Score clarity.", operator="mpo")
        page = client.get(f"/api/live/events?since={last}").json()
        assert [(e["kind"], e["node_id"]) for e in page["events"]] == [("node_added", new.id)]
        assert rows(client.get("/api/live/tree").json())[new.id]["kind"] == "rubric"


def test_missing_and_corrupt_campaigns_answer_with_a_json_error(tmp_path: Path, campaign: Campaign) -> None:
    corrupt = tmp_path / "corrupt"
    shutil.copytree(campaign[0], corrupt)
    (corrupt / "archive.sqlite").write_bytes(b"not a database" * 100)
    app = create_app({"gone": tmp_path / "gone", "corrupt": corrupt})
    with TestClient(app, base_url="http://127.0.0.1") as client:
        listed = {c["name"]: c["error"] for c in client.get("/api/campaigns").json()}
        assert "does not exist" in listed["gone"] and "not a readable archive database" in listed["corrupt"]
        for name in ("gone", "corrupt"):
            answer = client.get(f"/api/{name}/tree")
            assert answer.status_code == 503 and answer.json()["error"].startswith(f"campaign '{name}' unavailable")
        assert client.get("/api/nope/progress").json() == {"error": "no campaign 'nope' is served here"}


def test_the_page_and_its_assets_are_served_locally(client: TestClient) -> None:
    page = client.get("/").text
    assert 'src="static/app.js"' in page and "http" not in page  # no CDN
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/app.css").status_code == 200


def test_overview_code_diff_against_seed_and_best_agent(client: TestClient, campaign: Campaign) -> None:
    ids = campaign[1]
    overview = client.get("/api/camp/overview").json()
    assert overview["agents_by_status"] == {"evaluated": 3, "rejected": 1}
    best = overview["best"]  # a generations campaign: DGM's rule, the grandchild solved its whole stage
    assert (best["id"], best["rule"], best["value"]) == (ids["grandchild"], "full_score", 1.0)
    assert overview["spend"]["cost_usd"] == pytest.approx(0.35) and overview["spend"]["tokens"] == 45
    assert overview["spend_by_role"]["agent"]["tokens"] == 30
    code = client.get(f"/api/camp/node/{ids['grandchild']}/code").json()
    assert code["files"] == [{"path": "agent.py", "text": "def solve():\n    return 3\n", "size": 26}]
    against_seed = client.get(f"/api/camp/node/{ids['grandchild']}/diff?against=seed").json()
    assert against_seed["against"] == ids["seed"] and "-    return 1\n+    return 3" in against_seed["diff"]
    assert client.get(f"/api/camp/node/{ids['seed']}/diff").json()["diff"].count("+") >= 2  # a root: all its code
    missing = client.get(f"/api/camp/node/{ids['child']}/self_modification")
    assert missing.status_code == 404 and "no self-modification log" in missing.json()["error"]
    tree = client.get("/api/camp/tree").json()
    lineage = [ids["seed"], ids["child"], ids["grandchild"]]
    assert tree["best"]["id"] == ids["grandchild"] and tree["best_path"] == lineage
    assert rows(tree)[ids["child"]]["cost_usd"] == pytest.approx(0.10) and rows(tree)[ids["child"]]["tokens"] == 15
    events = client.get("/api/camp/events").json()["events"]
    assert events[0]["text"] == f"{ids['seed']} (agent) was added as a root"


def test_the_kept_tree_follows_every_change_of_a_live_archive(tmp_path: Path, campaign: Campaign) -> None:
    """The tree endpoint answers its kept JSON while nothing changed; a new node, a result, a status, an edge or a
    model call each make it answer what a fresh read of the archive shows."""
    shutil.copytree(campaign[0], tmp_path / "live")
    ids = campaign[1]
    with (
        TestClient(create_app({"live": tmp_path / "live"}), base_url="http://127.0.0.1") as client,
        Archive.open(tmp_path / "live") as writer,
    ):
        changes = [
            lambda: writer.add_node("rubric", "Score clarity.", operator="mpo"),
            lambda: writer.record_result(
                ResultRecord(ids["child"], EvaluatorKey("e1", "1"), "t-new", status="resolved")
            ),
            lambda: writer.set_status(ids["grandchild"], "rejected", reason="kept tree test"),
            lambda: writer.add_edge(ids["child"], ids["meta"], "produced_by"),
            lambda: writer.ledger.record(CallRecord(writer.campaign, ids["seed"], "agent", "t", "m", "ok", 7, 3, 0.5)),
        ]
        for change in [lambda: None, *changes]:
            change()
            with Archive.open(tmp_path / "live", readonly=True) as fresh:
                expected = json.loads(json.dumps(views.tree(fresh)))
            assert client.get("/api/live/tree").json() == expected
            assert client.get("/api/live/tree").json() == expected  # the kept answer


def test_views_that_read_no_code_answer_without_the_code_check(tmp_path: Path, campaign: Campaign) -> None:
    """The live poll, progress, overview and tree skip the open's code check (a git lookup of every agent: a second at
    5 x 10^4 agents, paid every few seconds by an open page); the campaign list and the code views still report a
    damaged agents.git."""
    damaged = tmp_path / "damaged"
    shutil.copytree(campaign[0], damaged)
    with closing(sqlite3.connect(damaged / "archive.sqlite")) as conn, conn:
        conn.execute("UPDATE nodes SET commit_sha = ? WHERE id = ?", ("0" * 40, campaign[1]["child"]))
    with TestClient(create_app({"d": damaged}), base_url="http://127.0.0.1") as client:
        assert "lacks the code objects" in client.get("/api/campaigns").json()[0]["error"]
        assert client.get(f"/api/d/node/{campaign[1]['seed']}").status_code == 503
        for view in ("events", "progress", "overview", "tree", "tree?x=false"):
            assert client.get(f"/api/d/{view}").status_code == 200, view
