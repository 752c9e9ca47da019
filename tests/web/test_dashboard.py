"""The dashboard in a real headless Chromium, on real archives: the overview, the node list, every tab of the node
panel, hostile agent text kept inert, and a 5,000-node archive whose visible labels never overlap.

Screenshots are saved under $OPENDGM_SCREENSHOT_DIR (default /tmp/opendgm-web-test) as test artifacts.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opendgm.archive import AgentImport, Archive, EvaluatorKey, ResultRecord
from tests.support.showcase import IMG, SCRIPT, build_showcase, free_campaign
from tests.support.web_server import serving

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from archive_scale import fast_import, random_tree

SHOTS = Path(os.environ.get("OPENDGM_SCREENSHOT_DIR", "/tmp/opendgm-web-test"))
Ids = dict[str, str]


def big_campaign(root: Path, nodes: int = 5000) -> None:
    """`nodes` agents in a random tree up to 200 deep (the benchmark's shape), a quarter of them evaluated."""
    rng = random.Random(7)
    parents = random_tree(nodes, min(200, nodes - 1), rng)
    changes = [{"agent/main.py": "def main():\n    return 0\n"}]
    changes += [{f"agent/edit_{i % 50}.py": f"# edited by node {i}\n"} for i in range(1, nodes)]
    with Archive.create(root, "big") as archive:
        commits = fast_import(archive.root / "agents.git", parents, changes)
        pairs = zip(commits, parents, strict=True)
        entries = [AgentImport(commit, parent, operator="self_improve", status="evaluated") for commit, parent in pairs]
        ids = [node.id for node in archive.import_agents(entries)]
        tasks = [f"t{i}" for i in range(5)]
        with archive.transaction():
            for node in ids[::4]:
                skill = rng.random()
                archive.record_stage(node, "bench", "1", "small", tasks)
                for task in tasks:
                    status = "resolved" if rng.random() < skill else "unresolved"
                    archive.record_result(ResultRecord(node, EvaluatorKey("bench", "1"), task, status=status))


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], Ids]:
    work = tmp_path_factory.mktemp("dashboard")
    ids = build_showcase(work / "showcase", work)
    free_campaign(work / "free", work, solved=3)
    big_campaign(work / "big")
    return {"showcase": work / "showcase", "free": work / "free", "big": work / "big"}, ids


@pytest.fixture(scope="module")
def url(archives: tuple[dict[str, Path], Ids]) -> Iterator[str]:
    with serving(archives[0]) as address:
        yield address


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    opened = browser.new_page(viewport={"width": 1500, "height": 900})
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    assert not errors, errors
    assert opened.evaluate("window.__pwned") is None, "agent-written text ran as code"
    opened.close()


def open_campaign(page: Any, url: str, name: str) -> None:
    page.goto(f"{url}?c={name}")
    page.wait_for_selector("#live:has-text('live, event')", timeout=60_000)


def shot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def visible_labels(page: Any) -> list[dict[str, Any]]:
    """Bounding boxes (and texts) of the tree labels a person can see."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#labels .label')].filter((e) => !e.hidden).map((e) => {
            const r = e.getBoundingClientRect();
            return {text: e.textContent, x: r.x, y: r.y, w: r.width, h: r.height};
        })"""
    )


def assert_apart(labels: list[dict[str, Any]]) -> None:
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            side = a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
            apart = side or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]
            assert apart, f"labels overlap: {a} and {b}"


def test_overview_names_the_best_agent_its_path_statuses_spend_and_generations(
    page: Any, url: str, archives: Any
) -> None:
    ids = archives[1]
    open_campaign(page, url, "showcase")
    best = f"best agent {ids['child']} 0.750 on the full evaluation (2:medium; DGM)"  # DGM's rule
    assert page.inner_text("#ov-best").startswith(best)
    assert page.inner_text("#ov-path") == f"path {ids['seed']} → {ids['child']} (1 step)"
    assert page.inner_text("#ov-status") == "agents 5 (3 evaluated, 1 failed, 1 rejected)"
    assert page.inner_text("#ov-spend") == "spend $0.0200 · 5,000 tokens"
    assert page.inner_text("#ov-generations") == "generations 2"
    page.click("#views button[data-view=overview]")
    page.wait_for_selector("#card-best .big")
    assert page.inner_text("#card-best .big") == ids["child"]
    assert page.locator("#card-path .chip").all_inner_texts() == [ids["seed"], ids["child"]]
    assert "3 evaluated" in page.inner_text("#card-status") and "1 rejected" in page.inner_text("#card-status")
    assert page.inner_text("#card-generations .big") == "2"
    roles = {row[0]: row[1:] for row in (r.split("\t") for r in page.locator("#roles tr").all_inner_texts()[1:])}
    assert roles["agent"] == ["3", "3,750", "$0.0200"] and roles["meta"] == ["2", "1,250", "$0.0000"]
    assert roles["total"] == ["5", "5,000", "$0.0200"]
    assert page.inner_text("#chart-spend-title") == "score vs spend (USD)"
    shot(page, "dashboard-overview")
    page.click("#card-best .best-id")
    page.wait_for_selector(f"#tab-node h2:has-text('{ids['child']}')")
    assert page.is_visible("#labels .label.best")
    path_edge = page.evaluate(f"window.dgm.S.path.has('{ids['seed']}') && window.dgm.S.path.has('{ids['child']}')")
    assert path_edge


def test_free_calls_still_show_their_tokens(page: Any, url: str) -> None:
    open_campaign(page, url, "free")
    assert page.inner_text("#ov-spend") == "spend $0.0000 · 1,000 tokens"
    page.click("#views button[data-view=overview]")
    page.wait_for_selector("#card-spend .big")
    assert "calls were free: tokens measure the work" in page.inner_text("#card-spend")
    assert page.inner_text("#chart-spend-title") == "score vs tokens used (every call was free)"


def test_node_list_sorts_filters_and_opens_a_node(page: Any, url: str, archives: Any) -> None:
    ids = archives[1]
    open_campaign(page, url, "showcase")
    page.click("#views button[data-view=list]")
    rows = page.locator("#node-list tbody tr")
    assert rows.count() == 6 and page.inner_text("#list-count") == "1\u20136 of 6 nodes"
    page.click("#node-list th[data-key=score]")  # numbers sort highest first
    order = [r.split("\t")[0] for r in rows.all_inner_texts()]
    assert order[:3] == [ids["child"], ids["grandchild"], ids["seed"]]
    page.click("#node-list th[data-key=score]")
    assert [r.split("\t")[0] for r in rows.all_inner_texts()][:1] == [ids["seed"]]
    page.fill("#list-filter", "rejected")
    assert [r.split("\t")[0] for r in rows.all_inner_texts()] == [ids["rejected"]]
    page.fill("#list-filter", "")
    page.select_option("#f-status", "failed")
    assert [r.split("\t")[0] for r in rows.all_inner_texts()] == [ids["failed"]]
    rows.first.click()
    page.wait_for_selector(f"#tab-node h2:has-text('{ids['failed']}')")
    assert "Failed: model error: the provider answered 500" in page.inner_text("#why")
    shot(page, "dashboard-list")


def test_every_tab_of_the_node_panel(page: Any, url: str, archives: Any) -> None:
    ids = archives[1]
    open_campaign(page, url, "showcase")
    page.evaluate(f"window.dgm.select('{ids['child']}')")
    page.wait_for_selector("#tasks td")
    assert page.locator("#tasks tr[data-task]").count() == 8
    assert "The best agent" in page.inner_text("#tab-details")
    page.click("#panel-tabs button[data-tab=code]")
    page.wait_for_selector("#code-view pre.code")
    files = page.locator("#tab-code .files button").all_inner_texts()
    assert files == ["agent.py", f"notes/{IMG}.md", "prompts/system.md", "tools/edit.py"]
    assert page.locator("#code-view .tok-kw").all_inner_texts()[:3] == ["import", "def", "return"]
    assert page.locator("#code-view .tok-fn").first.inner_text() == "solve"
    page.click("#panel-tabs button[data-tab=diff]")
    assert page.locator("#tab-diff pre.diff span.add").count() == 2  # the changed line and the new note
    page.select_option("#diff-against", "seed")
    page.wait_for_function("document.querySelector('#diff-against').value === 'seed'")
    page.evaluate(f"window.dgm.select('{ids['grandchild']}')")
    page.wait_for_selector(f"#tab-node h2:has-text('{ids['grandchild']}')")
    page.click("#panel-tabs button[data-tab=diff]")
    assert "+# v3" in page.inner_text("#tab-diff pre.diff")
    page.select_option("#diff-against", "seed")
    page.wait_for_selector("#tab-diff pre.diff span.del")  # against the seed the v1 line goes too
    assert '-    return "seed"  # v1' in page.inner_text("#tab-diff pre.diff")
    page.click("#panel-tabs button[data-tab=trajectories]")
    page.click("#trajectory-list tr[data-run='task-0']")
    page.wait_for_selector("#trajectory .step.action")
    assert page.locator("#trajectory .step").count() == 4
    page.click("#panel-tabs button[data-tab=calls]")
    assert page.locator("#calls tr").count() == 2 and "openai/gpt-4o-mini" in page.inner_text("#calls")
    page.click("#panel-tabs button[data-tab=selfmod]")
    page.wait_for_selector("#tab-selfmod h3")
    assert "what it was asked to change" in page.inner_text("#tab-selfmod")


def test_a_rejected_child_shows_its_self_modification_log_and_why(page: Any, url: str, archives: Any) -> None:
    ids = archives[1]
    open_campaign(page, url, "showcase")
    page.evaluate(f"window.dgm.select('{ids['rejected']}')")
    page.wait_for_selector("#why")
    assert page.inner_text("#why").startswith("Rejected: the self-modification diff does not apply")
    page.click("#panel-tabs button[data-tab=selfmod]")
    page.wait_for_selector("#selfmod-steps .step")
    text = page.inner_text("#tab-selfmod")
    assert "Rejected: the self-modification diff does not apply" in text and "Add tests." in text
    assert "self-modification log (4 steps)" in text and "+broken(" in text
    assert "no code" in page.inner_text("#tab-code")
    shot(page, "dashboard-rejected")


def test_events_read_as_sentences(page: Any, url: str, archives: Any) -> None:
    ids = archives[1]
    open_campaign(page, url, "showcase")
    page.click("#views button[data-view=events]")
    sentences = page.locator("#events td.sentence").all_inner_texts()
    assert f"{ids['rejected']} was rejected: the self-modification diff does not apply: {IMG}" in sentences
    assert f"generation 1 began: parents {ids['seed']}, {ids['child']} → children none" in sentences
    assert "the campaign stopped: done: 2 generations" in sentences
    assert not any(text.lstrip().startswith("{") for text in sentences), "an event shown as raw JSON"


def test_agent_written_text_stays_inert_everywhere(page: Any, url: str, archives: Any) -> None:
    """Payloads in code, file names, diffs, trajectories, statements, reasons, events and model names: shown as
    text, never run (the page fixture also checks window.__pwned after the test)."""
    ids = archives[1]
    open_campaign(page, url, "showcase")
    for view in ("list", "overview", "events", "tree"):
        page.click(f"#views button[data-view={view}]")
    for node in (ids["child"], ids["rejected"], ids["grandchild"]):
        page.evaluate(f"window.dgm.select('{node}')")
        page.wait_for_selector(f"#tab-node h2:has-text('{node}')")
        for tab in ("details", "code", "diff", "selfmod", "trajectories", "calls"):
            page.click(f"#panel-tabs button[data-tab={tab}]")
            page.wait_for_timeout(150)
        page.click("#panel-tabs button[data-tab=trajectories]")
        if page.locator("#trajectory-list tr").count():
            page.locator("#trajectory-list tr.clickable").first.click()
            page.wait_for_selector("#trajectory .step")
    page.evaluate(f"window.dgm.select('{ids['child']}')")
    page.click("#panel-tabs button[data-tab=details]")
    page.wait_for_selector("#statement")
    assert SCRIPT in page.inner_text("#statement") and IMG in page.inner_text("#statement")
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("document.scripts.length") == 2  # highlight.js and app.js, nothing an agent wrote
    assert page.evaluate("window.__pwned") is None


def test_five_thousand_nodes_lay_out_with_readable_labels_that_never_overlap(page: Any, url: str) -> None:
    open_campaign(page, url, "big")
    assert page.evaluate("window.dgm.S.nodes.length") == 5000
    shown = page.evaluate("window.dgm.S.shown.length")
    assert 0 < shown < 5000, "a big archive opens folded"
    labels = visible_labels(page)
    assert len(labels) >= 15 and all(label["h"] >= 14 for label in labels)
    assert_apart(labels)
    best = page.evaluate("window.dgm.S.best.id")
    assert any(label["text"].startswith(best) for label in labels), "the best agent is labelled"
    first = shot(page, "dashboard-5000-folded")
    page.click("#expand-all")
    page.wait_for_timeout(300)
    assert page.evaluate("window.dgm.S.shown.length") == 5000
    assert_apart(visible_labels(page))
    shot(page, "dashboard-5000-expanded")
    box = page.locator("#tree").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(6):  # zoom in where labels crowd
        page.mouse.wheel(0, -400)
        page.wait_for_timeout(50)
    page.wait_for_timeout(300)
    zoomed = visible_labels(page)
    assert zoomed and all(label["h"] >= 14 for label in zoomed)
    assert_apart(zoomed)
    shot(page, "dashboard-5000-zoomed")
    page.click("#views button[data-view=list]")
    assert page.inner_text("#list-count") == "1\u2013100 of 5000 nodes"
    page.click("#list-next")
    assert page.inner_text("#list-count") == "101\u2013200 of 5000 nodes"
    assert first.stat().st_size > 10_000
