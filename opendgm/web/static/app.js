// opendgm dashboard: the archive tree on a canvas (tidy layout from the server), a node panel,
// progress charts and the event log, refreshed live by polling the event stream. No dependencies.
"use strict";
const $ = (sel) => document.querySelector(sel);
const DX = 18, DY = 46, R = 6, BUSY = new Set(["proposed", "modifying", "validating", "evaluating"]);
const S = { campaign: null, nodes: [], byId: new Map(), edges: [], view: { x: 40, y: 40, kx: 1, ky: 1 }, selected: null, last: 0, fitted: false };

function el(tag, attrs = {}, ...kids) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value; else if (key.startsWith("on")) node[key] = value; else node.setAttribute(key, value);
  }
  return add(node, kids);
}
function add(node, kids) {
  for (const kid of kids.flat(Infinity)) node.append(kid instanceof Node ? kid : String(kid ?? ""));
  return node;
}
const fill = (node, ...kids) => { node.replaceChildren(); return add(node, kids); };
async function api(path) {
  const response = await fetch(path);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}
function showError(error) { const box = $("#error"); box.hidden = !error; box.textContent = error ? String(error.message || error) : ""; }
const fmt = (v, d = 3) => (v === null || v === undefined ? "–" : typeof v === "number" ? +v.toFixed(d) : v);
const colour = (score) => (score === null ? "#c4c4c4" : `hsl(${Math.round(score * 120)},70%,45%)`);

// ---------------------------------------------------------------------------------------- the tree
const canvas = $("#tree"), ctx = canvas.getContext("2d");
function filters() {
  return { kind: $("#f-kind").value, status: $("#f-status").value, operator: $("#f-operator").value, score: parseFloat($("#f-score").value) || 0 };
}
function passes(n, f) {
  return (!f.kind || n.kind === f.kind) && (!f.status || n.status === f.status) && (!f.operator || n.operator === f.operator) && (f.score <= 0 || (n.score ?? -1) >= f.score);
}
function shape(n, x, y, r) {
  ctx.beginPath();
  if (n.kind === "agent") ctx.arc(x, y, r, 0, 7);
  else if (n.kind === "prompt") ctx.rect(x - r, y - r, 2 * r, 2 * r);
  else if (n.kind === "meta_prompt") { ctx.moveTo(x, y - r * 1.3); ctx.lineTo(x + r * 1.3, y); ctx.lineTo(x, y + r * 1.3); ctx.lineTo(x - r * 1.3, y); ctx.closePath(); }
  else { ctx.moveTo(x, y - r * 1.3); ctx.lineTo(x + r * 1.2, y + r); ctx.lineTo(x - r * 1.2, y + r); ctx.closePath(); }
}
function draw() {
  const ratio = devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * ratio || canvas.height !== h * ratio) { canvas.width = w * ratio; canvas.height = h * ratio; }
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const { kx, ky } = S.view, r = Math.max(2, Math.min(R, R * Math.max(kx, ky))), at = pos;
  const seen = (p) => p[0] > -20 && p[0] < w + 20 && p[1] > -20 && p[1] < h + 20;
  ctx.strokeStyle = "#bbb"; ctx.lineWidth = 1; ctx.beginPath();
  for (const n of S.nodes) {
    const parent = S.byId.get(n.parent);
    if (!parent) continue;
    const a = at(parent), b = at(n);
    if (!seen(a) && !seen(b)) continue;
    ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]);
  }
  ctx.stroke();
  ctx.setLineDash([4, 3]); ctx.strokeStyle = "#9c6ade"; ctx.beginPath();
  for (const [src, dst] of S.edges) {
    const a = S.byId.get(src), b = S.byId.get(dst);
    if (a && b) { const p = at(a), q = at(b); ctx.moveTo(p[0], p[1]); ctx.lineTo(q[0], q[1]); }
  }
  ctx.stroke(); ctx.setLineDash([]);
  const f = filters();
  for (const n of S.nodes) {
    const [x, y] = at(n);
    if (x < -10 || x > w + 10 || y < -10 || y > h + 10) continue;
    ctx.globalAlpha = passes(n, f) ? 1 : 0.12;
    shape(n, x, y, r);
    ctx.fillStyle = colour(n.score); ctx.fill();
    const dim = n.status === "rejected" || n.status === "failed", busy = BUSY.has(n.status);
    ctx.lineWidth = busy ? 2 : 0.8; ctx.strokeStyle = busy ? "#e8a200" : "#444"; ctx.stroke();
    if (dim) { ctx.strokeStyle = "#333"; ctx.lineWidth = 1.2; ctx.beginPath(); ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r); ctx.moveTo(x + r, y - r); ctx.lineTo(x - r, y + r); ctx.stroke(); }
    if (kx > 1.4 && ky > 0.5) { ctx.fillStyle = "#333"; ctx.font = "10px system-ui"; ctx.fillText(n.id, x + r + 2, y + 3); }
  }
  ctx.globalAlpha = 1;
  if (S.selected && S.byId.has(S.selected)) {
    const [x, y] = at(S.byId.get(S.selected));
    ctx.strokeStyle = "#1a73e8"; ctx.lineWidth = 3; ctx.beginPath(); ctx.arc(x, y, r + 5, 0, 7); ctx.stroke();
  }
}
let pending = false;
const redraw = () => { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; draw(); }); } };
const pos = (n) => [S.view.x + n.x * DX * S.view.kx, S.view.y + n.depth * DY * S.view.ky];
function fit() {
  if (!S.nodes.length) return;
  const w = canvas.clientWidth - 60, h = canvas.clientHeight - 60;
  const maxX = Math.max(...S.nodes.map((n) => n.x)) * DX || 1, maxY = Math.max(...S.nodes.map((n) => n.depth)) * DY || 1;
  const kx = Math.min(2, w / maxX), ky = Math.min(2, Math.max(kx, h / maxY));  // deep trees fill the height
  S.view = { kx, ky, x: 30 + (w - maxX * kx) / 2, y: 30 };
  redraw();
}
function screenPos(id) {
  const n = S.byId.get(id), rect = canvas.getBoundingClientRect();
  return n && { x: rect.left + pos(n)[0], y: rect.top + pos(n)[1] };
}
function nodeAt(px, py) {
  let best = null, bestD = (R + 4) ** 2;
  for (const n of S.nodes) {
    const [x, y] = pos(n), d = (x - px) ** 2 + (y - py) ** 2;
    if (d <= bestD) { best = n; bestD = d; }
  }
  return best;
}
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  const { x, y, kx, ky } = S.view, f = Math.min(20 / Math.max(kx, ky), Math.max(0.001 / Math.min(kx, ky), Math.exp(-e.deltaY * 0.0015)));
  S.view = { kx: kx * f, ky: ky * f, x: e.offsetX - (e.offsetX - x) * f, y: e.offsetY - (e.offsetY - y) * f };
  redraw();
}, { passive: false });
let drag = null;
canvas.addEventListener("mousedown", (e) => { drag = { x: e.clientX, y: e.clientY, vx: S.view.x, vy: S.view.y, moved: false }; });
addEventListener("mousemove", (e) => {
  if (!drag) return;
  const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
  if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
  S.view.x = drag.vx + dx; S.view.y = drag.vy + dy; redraw();
});
addEventListener("mouseup", (e) => {
  if (drag && !drag.moved && e.target === canvas) { const n = nodeAt(e.offsetX, e.offsetY); if (n) select(n.id); }
  drag = null;
});
addEventListener("resize", redraw);

// ---------------------------------------------------------------------------------- node panel
function table(headers, rows) {
  return el("table", {}, el("tr", {}, headers.map((h) => el("th", {}, h))), rows);
}
function diffView(text) {
  const kind = (line) => (line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff ") || line.startsWith("index ") ? "meta"
    : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "");
  return el("pre", { class: "diff" }, text ? text.replace(/\n$/, "").split("\n").map((line) => el("span", { class: kind(line) }, line || " ")) : "(no change)");
}
async function select(id) {
  S.selected = id; redraw(); tab("node");
  const box = $("#tab-node");
  try {
    const n = await api(`api/${S.campaign}/node/${id}`);
    if (S.selected !== id) return;
    const c = n.cost, reason = n.status_reason ? ` — ${n.status_reason}` : "";
    const tasks = n.results.map((r) => el("tr", { class: r.trajectory_path ? "clickable" : "", "data-task": r.task_id, onclick: r.trajectory_path ? () => showTrajectory(n.id, r.task_id, r.attempt) : null },
      el("td", {}, r.task_id), el("td", {}, r.attempt), el("td", { class: r.resolved ? "ok" : "bad" }, r.status),
      el("td", {}, r.tests_passed === null ? "" : `${r.tests_passed}/${r.tests_failed ?? 0}`), el("td", {}, fmt(r.duration_s, 1)),
      el("td", {}, fmt(r.cost_usd, 4)), el("td", {}, r.tokens), el("td", {}, r.trajectory_path ? "view" : "")));
    fill(box,
      el("h2", {}, `${n.id} · ${n.kind}`),
      table(["", ""], [["status", n.status + reason], ["operator", n.operator || "–"], ["parent", n.parent_id || "– (root)"],
        ["children", n.children.join(", ") || "–"], ["message", n.message || "–"], ["code hash", n.code_hash || "–"],
        ["cost", `$${fmt(c.cost_usd, 4)} · ${c.tokens} tokens (${c.prompt_tokens} in, ${c.completion_tokens} out) · ${c.calls} calls, ${c.errors} errors`],
        ...n.edges.map((e) => ["edge", `${e.src} ${e.kind} ${e.dst}`])].map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))),
      el("h3", {}, "scores per stage"),
      table(["evaluator", "stage", "tasks", "done", "resolved", "score"], n.scores.map((s) => el("tr", {},
        el("td", {}, `${s.evaluator} ${s.evaluator_version}`), el("td", {}, s.stage), el("td", {}, s.n_tasks), el("td", {}, s.n_done), el("td", {}, s.n_resolved), el("td", {}, fmt(s.score))))),
      el("h3", {}, `per-task results (${n.results.length})`),
      el("table", { id: "tasks" }, el("tr", {}, ["task", "try", "status", "tests ✓/✗", "s", "$", "tokens", "trajectory"].map((h) => el("th", {}, h))), tasks),
      n.fitness ? [el("h3", {}, "fitness"), el("p", {}, n.fitness.summary),
        table(["child", "parent", "gain over parent"], n.fitness.credits.map((c) => el("tr", {}, el("td", {}, c.child), el("td", {}, c.parent || "–"),
          el("td", { class: c.gain === null ? "" : c.gain > 0 ? "ok" : c.gain < 0 ? "bad" : "" }, c.gain === null ? "not judged yet" : (c.gain > 0 ? "+" : "") + fmt(c.gain)))))] : [],
      n.problem_statement ? [el("h3", {}, "problem statement"), el("pre", {}, n.problem_statement)] : [],
      n.content !== null ? [el("h3", {}, "content"), el("pre", {}, n.content)] : [],
      n.diff !== null ? [el("h3", {}, n.parent_id ? `diff against ${n.parent_id}` : "code (root)"), diffView(n.diff)] : [],
      Object.keys(n.meta).length ? [el("h3", {}, "meta"), el("pre", {}, JSON.stringify(n.meta, null, 2))] : [],
      el("div", { id: "trajectory" }));
  } catch (error) { fill(box, el("p", { class: "bad" }, error.message)); }
}
async function showTrajectory(id, task, attempt) {
  const box = $("#trajectory");
  try {
    const t = await api(`api/${S.campaign}/node/${id}/trajectory/${encodeURIComponent(task)}?attempt=${attempt}`);
    const body = (s) => Object.entries(s).filter(([k]) => !["type", "ts", "step"].includes(k))
      .map(([k, v]) => [el("b", {}, k), el("pre", {}, typeof v === "string" ? v : JSON.stringify(v, null, 1))]);
    fill(box, el("h3", {}, `trajectory: ${task} (try ${t.attempt}, ${t.steps.length} steps)`),
      t.steps.map((s) => el("div", { class: `step ${s.type}` }, el("div", { class: "muted" }, `${s.type}${s.step !== undefined ? " · step " + s.step : ""}`), body(s))));
    box.scrollIntoView({ block: "start" });
  } catch (error) { fill(box, el("p", { class: "bad" }, error.message)); }
}

// ------------------------------------------------------------------------ progress and events
function chart(cv, points, xlabel) {
  const g = cv.getContext("2d"), w = cv.width, h = cv.height, L = 36, B = 26;
  g.clearRect(0, 0, w, h); g.font = "10px system-ui"; g.fillStyle = "#555"; g.strokeStyle = "#999";
  if (!points.some((p) => p.x > 0)) { g.fillText("nothing recorded yet", L, h / 2); return; }
  g.strokeRect(L, 6, w - L - 8, h - B - 6);
  const maxX = Math.max(1e-9, ...points.map((p) => p.x)), px = (x) => L + (x / maxX) * (w - L - 8), py = (y) => 6 + (1 - y) * (h - B - 6);
  g.fillText("1", 24, 12); g.fillText("0", 24, h - B); g.fillText(`${xlabel} (max ${+maxX.toPrecision(4)})`, L, h - 8);
  g.fillStyle = "#bbb";
  for (const p of points) g.fillRect(px(p.x) - 1.5, py(p.score) - 1.5, 3, 3);
  for (const [key, col] of [["mean", "#1a73e8"], ["best", "#188038"]]) {
    g.strokeStyle = col; g.lineWidth = 2; g.beginPath();
    points.forEach((p, i) => (i ? g.lineTo(px(p.x), py(p[key])) : g.moveTo(px(p.x), py(p[key]))));
    g.stroke(); g.fillStyle = col; g.fillText(key, w - 40, key === "best" ? 18 : 30);
  }
}
async function loadProgress() {
  const p = await api(`api/${S.campaign}/progress`);
  chart($("#chart-nodes"), p.by_node, "agent nodes");
  chart($("#chart-spend"), p.by_spend, "USD");
  fill($("#roles"), el("tr", {}, ["role", "calls", "tokens", "USD"].map((h) => el("th", {}, h))),
    Object.entries(p.by_role).map(([role, r]) => el("tr", {}, el("td", {}, role), el("td", {}, r.calls), el("td", {}, r.tokens), el("td", {}, fmt(r.cost_usd, 4)))),
    el("tr", {}, el("th", {}, "total"), el("td"), el("td"), el("th", {}, fmt(p.total_cost_usd, 4))));
}
function addEvents(events) {
  const rows = events.map((e) => el("tr", {}, el("td", {}, e.id), el("td", {}, new Date(e.ts * 1000).toLocaleTimeString()), el("td", {}, e.kind),
    el("td", {}, e.node_id || ""), el("td", {}, JSON.stringify(e.data))));
  const log = $("#events");
  log.prepend(...rows.reverse());
  while (log.rows.length > 500) log.deleteRow(-1);  // the newest 500 stay in the page
}
function tab(name) {
  document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("on", b.dataset.tab === name));
  document.querySelectorAll(".tab").forEach((t) => (t.hidden = t.id !== `tab-${name}`));
  if (name === "progress") loadProgress().catch(showError);
}
document.querySelectorAll("nav button").forEach((b) => (b.onclick = () => tab(b.dataset.tab)));

// ------------------------------------------------------------------------------ loading, live
function options(id, values) {
  const box = $(id), keep = box.value;
  fill(box, el("option", { value: "" }, "all"), [...values].sort().map((v) => el("option", { value: v }, v)));
  box.value = values.has(keep) ? keep : "";
}
async function loadTree() {
  const t = await api(`api/${S.campaign}/tree`);
  S.nodes = t.nodes.map((row) => Object.fromEntries(t.fields.map((f, i) => [f, row[i]])));
  S.byId = new Map(S.nodes.map((n) => [n.id, n]));
  S.edges = t.edges;
  options("#f-kind", new Set(S.nodes.map((n) => n.kind)));
  options("#f-status", new Set(S.nodes.map((n) => n.status)));
  options("#f-operator", new Set(S.nodes.map((n) => n.operator).filter(Boolean)));
  if (!S.fitted) { S.fitted = true; fit(); } else redraw();
}
async function poll() {
  try {
    let changed = false, page;
    do {
      page = await api(`api/${S.campaign}/events?since=${S.last}${S.last ? "" : "&tail=500"}`);
      if (page.events.length) { addEvents(page.events); changed = true; S.last = page.last; }
    } while (page.more);
    if (changed) {
      await loadTree();
      if (!$("#tab-progress").hidden) await loadProgress();
      if (S.selected && page.events.some((e) => e.node_id === S.selected)) select(S.selected);
    }
    $("#live").textContent = `${S.nodes.length} nodes · live, event #${S.last} · ${new Date().toLocaleTimeString()}`;
    showError(null);
  } catch (error) { showError(error); }
}
async function openCampaign(name) {
  Object.assign(S, { campaign: name, selected: null, last: 0, fitted: false, nodes: [], byId: new Map() });
  fill($("#events"));
  const url = new URL(location); url.searchParams.set("c", name); url.searchParams.delete("token"); history.replaceState(null, "", url);
  try { await loadTree(); await poll(); } catch (error) { showError(error); redraw(); }
}
async function main() {
  $("#legend").innerHTML = "● agent ■ prompt ◆ meta-prompt ▲ rubric · colour: score (red 0 → green 1, grey none) · ✕ rejected/failed · yellow ring: in progress · dashed: produced_by / scored_under";
  ["#f-kind", "#f-status", "#f-operator", "#f-score"].forEach((id) => $(id).addEventListener("input", redraw));
  $("#fit").onclick = fit;
  try {
    const campaigns = await api("api/campaigns");
    const bad = campaigns.filter((c) => c.error);
    fill($("#campaign"), campaigns.map((c) => el("option", { value: c.name }, c.error ? `${c.name} (unavailable)` : c.name)));
    $("#campaign").onchange = () => openCampaign($("#campaign").value);
    const wanted = new URLSearchParams(location.search).get("c"), good = campaigns.find((c) => !c.error);
    const first = campaigns.find((c) => c.name === wanted) || good || campaigns[0];
    if (bad.length) showError(bad.map((c) => c.error).join("\n"));
    if (first) { $("#campaign").value = first.name; if (!first.error) await openCampaign(first.name); }
  } catch (error) { showError(error); }
  setInterval(() => S.campaign && poll(), 2000);
}
window.dgm = { S, screenPos, select, draw };
main();
