// opendgm dashboard: overview, the archive tree (canvas, foldable subtrees, non-overlapping labels), a sortable
// node list, the event log as sentences, and a node panel (details, code, diff, self-modification, trajectories,
// model calls), refreshed live by polling the event stream. No dependencies. Everything an agent wrote is set
// as text (textContent / text nodes), never as markup.
"use strict";
const $ = (sel) => document.querySelector(sel);
const DX = 18, DY = 46, R = 6, MAX_LABELS = 250, LIST_PAGE = 100, AUTO_FOLD = 600;
const BUSY = new Set(["proposed", "modifying", "validating", "evaluating"]);
const S = {
  campaign: null, nodes: [], byId: new Map(), kids: new Map(), edges: [], best: null, bestNote: null, path: new Set(),
  folded: new Set(), hidden: new Map(), shown: [], place: new Map(), view: { x: 40, y: 40, kx: 1, ky: 1 },
  selected: null, node: null, last: 0, fitted: false, list: { key: "id", desc: false, page: 0 }, labels: [],
};

function el(tag, attrs = {}, ...kids) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
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
const fmt = (v, d = 3) => (v === null || v === undefined ? "–" : typeof v === "number" ? String(+v.toFixed(d)) : v);
const usd = (v) => `$${(v || 0).toFixed(4)}`;
const count = (v) => (v || 0).toLocaleString("en-US");
const colour = (score) => (score === null || score === undefined ? "#c4c4c4" : `hsl(${Math.round(score * 120)},70%,45%)`);
const posterior = (n) => (n.passes + n.fails ? (1 + n.passes) / (2 + n.passes + n.fails) : null);
const table = (headers, rows) => el("table", {}, el("tr", {}, headers.map((h) => el("th", {}, h))), rows);
const facts = (pairs) => el("table", { class: "facts" }, pairs.filter(Boolean).map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))));

// ------------------------------------------------------------------------------------------- overview
function overviewStrip() {
  const agents = S.nodes.filter((n) => n.kind === "agent"), statuses = {};
  for (const n of agents) statuses[n.status] = (statuses[n.status] || 0) + 1;
  const spent = S.nodes.reduce((a, n) => [a[0] + (n.cost_usd || 0), a[1] + (n.tokens || 0)], [0, 0]);
  const best = S.best ? [el("span", { class: "best-id", onclick: () => showInTree(S.best.id) }, S.best.id), ` ${S.best.summary.split(": ").slice(1).join(": ")}`] : S.bestNote;
  fill($("#overview"),
    el("span", { class: "item", id: "ov-best" }, el("b", {}, "best agent"), " ", best),
    el("span", { class: "item", id: "ov-path" }, el("b", {}, "path"), " ", pathText()),
    el("span", { class: "item", id: "ov-status" }, el("b", {}, "agents"), " ", `${agents.length} (`, Object.entries(statuses).sort().map(([s, k]) => `${k} ${s}`).join(", "), ")"),
    el("span", { class: "item", id: "ov-spend" }, el("b", {}, "spend"), " ", `${usd(spent[0])} · ${count(spent[1])} tokens`),
    el("span", { class: "item", id: "ov-generations" }, el("b", {}, "generations"), " ", S.generations ?? "–"));
}
function pathText() {  // root → … → best, shortened for a deep lineage
  const path = [...S.path];
  if (!path.length) return "–";
  const shown = path.length > 8 ? [...path.slice(0, 3), "…", ...path.slice(-4)] : path;
  return `${shown.join(" → ")} (${path.length - 1} step${path.length === 2 ? "" : "s"})`;
}
async function loadOverview() {
  const [o, p] = await Promise.all([api(`api/${S.campaign}/overview`), api(`api/${S.campaign}/progress`)]);
  S.generations = o.generations; overviewStrip();
  const card = (title, big, small, id) => el("div", { class: "card", id }, el("div", { class: "small" }, title), el("div", { class: "big" }, big), el("div", { class: "small" }, small));
  const best = o.best;
  fill($("#cards"),
    card("best agent (" + (best ? best.rule : o.best_rule) + ")", best ? el("span", { class: "best-id", onclick: () => showInTree(best.id) }, best.id) : "none yet",
      best ? `${best.summary} · latest stage ${best.stage ?? "–"} ${fmt(best.score)}` : o.best_note, "card-best"),
    card("path to the best agent", best ? `${o.best_path.length - 1} step${o.best_path.length === 2 ? "" : "s"} from the root` : "–", o.best_path.map((id) => el("span", { class: "chip", onclick: () => showInTree(id) }, id)), "card-path"),
    card("agents by status", count(Object.values(o.agents_by_status).reduce((a, b) => a + b, 0)),
      Object.entries(o.agents_by_status).map(([s, k]) => el("span", { class: "chip", onclick: () => { $("#f-status").value = s; view("list"); } }, `${k} ${s}`)), "card-status"),
    card("spend", usd(o.spend.cost_usd), `${count(o.spend.tokens)} tokens (${count(o.spend.prompt_tokens)} in, ${count(o.spend.completion_tokens)} out) · ${count(o.spend.calls)} calls, ${o.spend.errors} failed`
      + (o.spend.cost_usd === 0 && o.spend.tokens ? " · calls were free: tokens measure the work" : ""), "card-spend"),
    card("prompt cache", o.spend.cache_hit_rate === null ? "–" : pct(o.spend.cache_hit_rate),
      `${count(o.spend.cache_read_tokens)} prompt tokens read from a cache, ${count(o.spend.cache_write_tokens)} written · ${perResolved(o.cost.per_resolved_task)}`, "card-cache"),
    card("cost per improvement", o.cost.cost_per_improvement ? usd(o.cost.cost_per_improvement.usd_per_improvement) : "–", improvementText(o.cost), "card-improvement"),
    card("generations", count(o.generations), `${count(o.task_evaluations)} task evaluations · ${count(o.nodes)} nodes (${Object.entries(o.nodes_by_kind).map(([k, n]) => `${n} ${k}`).join(", ")})`, "card-generations"),
    card("last stop", o.last_stop ? "stopped" : "running or not started", o.last_stop || "", "card-stop"));
  fill($("#roles"), el("tr", {}, ["role", "calls", "tokens", "USD"].map((h) => el("th", {}, h))),
    Object.entries(o.spend_by_role).map(([role, r]) => el("tr", {}, el("td", {}, role), el("td", {}, count(r.calls)), el("td", {}, count(r.tokens)), el("td", {}, usd(r.cost_usd)))),
    el("tr", {}, el("th", {}, "total"), el("th", {}, count(o.spend.calls)), el("th", {}, count(o.spend.tokens)), el("th", {}, usd(o.spend.cost_usd))));
  for (const [id, key, label] of [["#purposes", "by_purpose", "purpose"], ["#operators", "by_operator", "operator"]])
    fill($(id), el("tr", {}, [label, "calls", "tokens", "cache hit", "USD"].map((h) => el("th", {}, h))),
      Object.entries(o.cost[key]).map(([name, r]) => el("tr", {}, el("td", {}, name), el("td", {}, count(r.calls)), el("td", {}, count(r.tokens)),
        el("td", {}, r.cache_hit_rate === null ? "–" : pct(r.cache_hit_rate)), el("td", {}, usd(r.cost_usd)))));
  $("#improvement-summary").textContent = `${o.cost.rule} rule: ${improvementText(o.cost)}`;
  fill($("#improvements"), el("tr", {}, ["new best agent", "figure", "gain", "campaign spend until then", "since the previous", "its path's spend"].map((h) => el("th", {}, h))),
    o.cost.improvements.map((s) => el("tr", {}, el("td", {}, el("span", { class: "best-id", onclick: () => showInTree(s.node) }, s.node)), el("td", {}, fmt(s.value)),
      el("td", {}, s.gain === null ? "baseline" : `${s.gain >= 0 ? "+" : ""}${(s.gain * 100).toFixed(1)} pts`),
      el("td", {}, `${usd(s.campaign_usd)} · ${count(s.campaign_tokens)} tokens`), el("td", {}, `${usd(s.since_previous_usd)} · ${count(s.since_previous_tokens)} tokens`),
      el("td", {}, `${usd(s.path_usd)} · ${s.path.length} node${s.path.length === 1 ? "" : "s"}`))));
  chart($("#chart-nodes"), p.by_node, "agent nodes created");
  const free = p.total_cost_usd === 0;
  $("#chart-spend-title").textContent = free ? "score vs tokens used (every call was free)" : "score vs spend (USD)";
  chart($("#chart-spend"), free ? p.by_tokens : p.by_spend, free ? "tokens" : "USD");
}
const pct = (v) => `${(100 * v).toFixed(1)}%`;
function perResolved(t) {
  return t.resolved ? `${count(Math.round(t.tokens_per_resolved))} tokens, ${usd(t.usd_per_resolved)} of agent work per resolved task` : "no task resolved yet";
}
function improvementText(c) {  // the cost report's summary (opendgm cost), in words
  const steps = c.improvements, s = c.cost_per_improvement;
  if (!steps.length) return "no best agent yet";
  const last = steps[steps.length - 1], reached = `best ${last.node} reached after ${usd(last.campaign_usd)} (${count(last.campaign_tokens)} tokens), its own path ${usd(last.path_usd)}`;
  if (!s) return `no improvement over the first best agent yet; ${reached}`;
  return `${s.improvements} over ${s.baseline} (+${s.points_gained.toFixed(1)} points): ${usd(s.usd_per_improvement)} each`
    + (s.usd_per_point === null ? "" : `, ${usd(s.usd_per_point)} per point`) + `; ${reached}`;
}
function chart(cv, points, xlabel) {
  const g = cv.getContext("2d"), w = cv.width, h = cv.height, L = 40, B = 30, T = 8, Rm = 70;
  g.clearRect(0, 0, w, h); g.font = "11px system-ui"; g.fillStyle = "#555"; g.strokeStyle = "#999";
  if (!points.length) { g.fillText("no agent has a score yet", L, h / 2); return; }
  const xs = points.map((p) => p.x), lo = Math.min(...xs), hi = Math.max(...xs);
  const span = hi - lo || Math.max(1, Math.abs(hi) * 0.1), x0 = hi === lo ? lo - span / 2 : lo, x1 = hi === lo ? hi + span / 2 : hi;
  const px = (x) => L + ((x - x0) / (x1 - x0)) * (w - L - Rm), py = (y) => T + (1 - y) * (h - B - T);
  g.strokeRect(L, T, w - L - Rm, h - B - T);
  for (const y of [0, 0.5, 1]) g.fillText(String(y), L - 22, py(y) + 4);
  g.fillText(String(+x0.toPrecision(4)), L, h - B + 14); g.textAlign = "right"; g.fillText(String(+x1.toPrecision(4)), w - Rm, h - B + 14);
  g.textAlign = "center"; g.fillText(xlabel, L + (w - L - Rm) / 2, h - 4); g.textAlign = "left";
  g.fillStyle = "#bbb";
  for (const p of points) g.fillRect(px(p.x) - 2, py(p.score) - 2, 4, 4);
  for (const [key, col, at] of [["best", "#188038", 16], ["mean", "#1a73e8", 32]]) {
    g.strokeStyle = col; g.lineWidth = 2; g.beginPath();
    points.forEach((p, i) => (i ? g.lineTo(px(p.x), py(p[key])) : g.moveTo(px(p.x), py(p[key]))));
    if (points.length === 1) { g.arc(px(points[0].x), py(points[0][key]), 3, 0, 7); }
    g.stroke(); g.fillStyle = col; g.fillText(key, w - Rm + 8, at);
  }
  g.lineWidth = 1;
}

// --------------------------------------------------------------------------------------- tree layout
function index() {
  S.byId = new Map(S.nodes.map((n) => [n.id, n]));
  S.kids = new Map(S.nodes.map((n) => [n.id, []]));
  S.roots = [];
  for (const n of S.nodes) (S.kids.get(n.parent) || S.roots).push(n.id);
  S.size = new Map();
  for (let i = S.nodes.length - 1; i >= 0; i--) {  // creation order: children come after their parent
    const n = S.nodes[i];
    S.size.set(n.id, 1 + S.kids.get(n.id).reduce((a, k) => a + S.size.get(k), 0));
  }
}
// Tidy layout over the unfolded nodes: leaves take consecutive columns, parents sit midway over their children.
function layout() {
  S.place = new Map(); S.shown = [];
  let column = 0;
  const stack = S.roots.slice().reverse().map((id) => [id, 0]), order = [];
  while (stack.length) {
    const [id, depth] = stack.pop();
    order.push(id); S.place.set(id, { x: 0, depth });
    if (!S.folded.has(id)) for (const k of S.kids.get(id).slice().reverse()) stack.push([k, depth + 1]);
  }
  const open = (id) => !S.folded.has(id) && S.kids.get(id).length;
  for (const id of order) if (!open(id)) S.place.get(id).x = column++;
  for (let i = order.length - 1; i >= 0; i--) {
    const id = order[i];
    if (open(id)) { const k = S.kids.get(id); S.place.get(id).x = (S.place.get(k[0]).x + S.place.get(k[k.length - 1]).x) / 2; }
  }
  S.shown = order.map((id) => S.byId.get(id));
}
// A big archive opens folded: levels below the one that passes AUTO_FOLD nodes are folded, the best path stays open.
function autoFold() {
  S.folded = new Set();
  if (S.nodes.length <= AUTO_FOLD) return;
  const byDepth = new Map(), depthOf = new Map();
  for (const n of S.nodes) { const d = n.parent && depthOf.has(n.parent) ? depthOf.get(n.parent) + 1 : 0; depthOf.set(n.id, d); byDepth.set(d, (byDepth.get(d) || 0) + 1); }
  let total = 0, cut = 0;
  for (const d of [...byDepth.keys()].sort((a, b) => a - b)) { total += byDepth.get(d); if (total > AUTO_FOLD) break; cut = d; }
  for (const n of S.nodes) if (depthOf.get(n.id) >= cut && S.kids.get(n.id).length && !S.path.has(n.id)) S.folded.add(n.id);
}
function focusBest() {
  S.folded = new Set(S.nodes.filter((n) => S.kids.get(n.id).length && !S.path.has(n.id)).map((n) => n.id));
  layout(); fit();
}
function toggleFold(id) {
  if (!S.kids.get(id)?.length) return;
  S.folded.has(id) ? S.folded.delete(id) : S.folded.add(id);
  layout(); redraw();
}
function unfoldTo(id) {  // a node chosen elsewhere (list, overview) is shown in the tree
  let changed = false;
  for (let p = S.byId.get(id)?.parent; p; p = S.byId.get(p)?.parent) if (S.folded.delete(p)) changed = true;
  if (changed) layout();
}

// ------------------------------------------------------------------------------------------ tree drawing
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
const pos = (n) => { const p = S.place.get(n.id); return p ? [S.view.x + p.x * DX * S.view.kx, S.view.y + p.depth * DY * S.view.ky] : [-1e9, -1e9]; };
const radius = () => Math.max(2, Math.min(R, R * Math.max(S.view.kx, S.view.ky)));
function draw() {
  const ratio = devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * ratio || canvas.height !== h * ratio) { canvas.width = w * ratio; canvas.height = h * ratio; }
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const r = radius(), seen = (p) => p[0] > -20 && p[0] < w + 20 && p[1] > -20 && p[1] < h + 20;
  ctx.strokeStyle = "#bbb"; ctx.lineWidth = 1; ctx.beginPath();
  for (const n of S.shown) {
    const parent = S.byId.get(n.parent);
    if (!parent || S.path.has(n.id) && S.path.has(parent.id)) continue;
    const a = pos(parent), b = pos(n);
    if (seen(a) || seen(b)) { ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); }
  }
  ctx.stroke();
  ctx.strokeStyle = "#d49b00"; ctx.lineWidth = 3.5; ctx.beginPath();  // the path to the best agent
  const path = [...S.path].map((id) => S.byId.get(id)).filter((n) => n && S.place.has(n.id));
  path.forEach((n, i) => { const [x, y] = pos(n); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
  ctx.stroke();
  ctx.setLineDash([4, 3]); ctx.strokeStyle = "#9c6ade"; ctx.lineWidth = 1; ctx.beginPath();
  for (const [src, dst] of S.edges) {
    const a = S.byId.get(src), b = S.byId.get(dst);
    if (a && b && S.place.has(src) && S.place.has(dst)) { const p = pos(a), q = pos(b); ctx.moveTo(p[0], p[1]); ctx.lineTo(q[0], q[1]); }
  }
  ctx.stroke(); ctx.setLineDash([]);
  const f = filters();
  for (const n of S.shown) {
    const [x, y] = pos(n);
    if (x < -10 || x > w + 10 || y < -10 || y > h + 10) continue;
    ctx.globalAlpha = passes(n, f) ? 1 : 0.12;
    shape(n, x, y, r);
    ctx.fillStyle = colour(n.score); ctx.fill();
    const dim = n.status === "rejected" || n.status === "failed", busy = BUSY.has(n.status);
    ctx.lineWidth = busy ? 2 : 0.8; ctx.strokeStyle = busy ? "#e8a200" : "#444"; ctx.stroke();
    if (dim) { ctx.strokeStyle = "#333"; ctx.lineWidth = 1.2; ctx.beginPath(); ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r); ctx.moveTo(x + r, y - r); ctx.lineTo(x - r, y + r); ctx.stroke(); }
    if (S.folded.has(n.id)) { ctx.fillStyle = "#444"; ctx.fillRect(x - 1, y + r + 2, 2, 6); ctx.fillRect(x - 3, y + r + 4, 6, 2); }
    if (S.best && n.id === S.best.id) { ctx.strokeStyle = "#b07800"; ctx.lineWidth = 2.5; ctx.beginPath(); ctx.arc(x, y, r + 4, 0, 7); ctx.stroke(); }
  }
  ctx.globalAlpha = 1;
  if (S.selected && S.place.has(S.selected)) {
    const [x, y] = pos(S.byId.get(S.selected));
    ctx.strokeStyle = "#1a73e8"; ctx.lineWidth = 3; ctx.beginPath(); ctx.arc(x, y, r + 7, 0, 7); ctx.stroke();
  }
  placeLabels(w, h, r);
}
// Labels as text elements over the canvas, placed greedily by priority (selected, best, its path, folded
// subtrees, higher scores) and skipped where they would overlap one already placed: never two on top of each other.
function placeLabels(w, h, r) {
  const box = $("#labels"), placed = [], grid = new Map(), CELL = 64;
  ctx.font = "11px system-ui, sans-serif";
  const rank = (n) => (n.id === S.selected ? 0 : S.best && n.id === S.best.id ? 1 : S.path.has(n.id) ? 2 : S.folded.has(n.id) ? 3 : 4);
  const candidates = S.shown.filter((n) => { const [x, y] = pos(n); return x > -5 && x < w + 5 && y > -5 && y < h + 5; });
  candidates.sort((a, b) => rank(a) - rank(b) || (b.score ?? -1) - (a.score ?? -1) || (a.id < b.id ? -1 : 1));
  const cells = (q) => { const out = []; for (let i = Math.floor(q.x / CELL); i <= Math.floor((q.x + q.w) / CELL); i++) for (let j = Math.floor(q.y / CELL); j <= Math.floor((q.y + q.h) / CELL); j++) out.push(i + "," + j); return out; };
  const clash = (q) => cells(q).some((c) => (grid.get(c) || []).some((o) => q.x < o.x + o.w && o.x < q.x + q.w && q.y < o.y + o.h && o.y < q.y + q.h));
  const dense = S.view.kx * DX < 6 && S.shown.length > 200;  // zoomed far out: only the notable nodes get labels
  const remember = (q) => { for (const c of cells(q)) (grid.get(c) || grid.set(c, []).get(c)).push(q); };
  if (!dense) for (const n of candidates) { const [x, y] = pos(n); remember({ x: x - r, y: y - r, w: 2 * r, h: 2 * r }); }  // labels leave markers visible
  for (const n of candidates) {
    if (placed.length >= MAX_LABELS || (dense && rank(n) > 3 && placed.length >= 40)) break;
    const hidden = S.folded.has(n.id) ? S.size.get(n.id) - 1 : 0;
    const text = n.id + (n.score !== null && n.score !== undefined ? " " + n.score.toFixed(2) : "") + (hidden ? ` +${hidden}` : "");
    const [x, y] = pos(n), width = Math.ceil(ctx.measureText(text).width) + 8;
    const sides = [{ x: x + r + 3, y: y - 8, w: width, h: 16, n, text }, { x: x - r - 3 - width, y: y - 8, w: width, h: 16, n, text }];
    const q = sides.find((side) => side.x >= 0 && side.x + side.w <= w && side.y >= 0 && side.y + side.h <= h && !clash(side));
    if (!q) continue;
    placed.push(q);
    remember(q);
  }
  while (S.labels.length < placed.length) S.labels.push(box.appendChild(el("div", { class: "label" })));
  S.labels.forEach((div, i) => {
    const q = placed[i];
    div.hidden = !q;
    if (!q) return;
    div.textContent = q.text;
    div.className = "label" + (S.best && q.n.id === S.best.id ? " best" : S.path.has(q.n.id) ? " path" : "") + (q.n.id === S.selected ? " selected" : "");
    div.dataset.id = q.n.id;
    Object.assign(div.style, { left: q.x + "px", top: q.y + "px", width: q.w + "px" });
  });
}
let pending = false;
const redraw = () => { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; draw(); }); } };
function fit() {
  if (!S.shown.length) return;
  const w = canvas.clientWidth - 110, h = canvas.clientHeight - 45;
  const maxX = Math.max(...S.shown.map((n) => S.place.get(n.id).x)) * DX || 1, maxY = Math.max(...S.shown.map((n) => S.place.get(n.id).depth)) * DY || 1;
  const kx = Math.min(4, w / maxX), ky = Math.min(2, Math.max(Math.min(kx, 1), h / maxY));  // deep trees fill the height
  S.view = { kx, ky, x: 30 + Math.max(0, (w - maxX * kx) / 2), y: 25 };
  redraw();
}
function screenPos(id) {
  const n = S.byId.get(id), rect = canvas.getBoundingClientRect();
  return n && S.place.has(id) && { x: rect.left + pos(n)[0], y: rect.top + pos(n)[1] };
}
function nodeAt(px, py) {
  let best = null, bestD = (R + 4) ** 2;
  for (const n of S.shown) {
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
canvas.addEventListener("dblclick", (e) => { const n = nodeAt(e.offsetX, e.offsetY); if (n) toggleFold(n.id); });
addEventListener("resize", redraw);

// ------------------------------------------------------------------------------------------- node list
const COLUMNS = [
  ["id", "node"], ["kind", "kind"], ["status", "status"], ["operator", "operator"], ["parent", "parent"], ["depth", "depth", true],
  ["score", "score", true], ["stage", "stage"], ["evidence", "resolved/run", true], ["posterior", "posterior", true],
  ["cost_usd", "USD", true], ["tokens", "tokens", true], ["children", "children", true],
];
function listRows() {
  const f = filters(), text = $("#list-filter").value.trim().toLowerCase();
  const rows = S.nodes.filter((n) => passes(n, f) && (!text || [n.id, n.kind, n.status, n.operator, n.reason, n.parent].some((v) => v && String(v).toLowerCase().includes(text))));
  const { key, desc } = S.list, value = (n) => (key === "posterior" ? posterior(n) : key === "evidence" ? n.passes + n.fails : n[key]);
  rows.sort((a, b) => {
    const x = value(a), y = value(b);
    if (x === y) return a.id < b.id ? -1 : 1;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * (desc ? -1 : 1);
  });
  return rows;
}
function renderList() {
  const rows = listRows(), pages = Math.max(1, Math.ceil(rows.length / LIST_PAGE));
  S.list.page = Math.min(S.list.page, pages - 1);
  const start = S.list.page * LIST_PAGE, page = rows.slice(start, start + LIST_PAGE);
  fill($("#node-list thead"), el("tr", {}, COLUMNS.map(([key, title, num]) => el("th", {
    "data-key": key, class: [num ? "num" : "", S.list.key === key ? "sorted" : "", S.list.key === key && S.list.desc ? "desc" : ""].join(" ").trim() || null,
    onclick: () => { S.list = { ...S.list, desc: S.list.key === key ? !S.list.desc : !!num, key, page: 0 }; renderList(); },
  }, title))));
  fill($("#node-list tbody"), page.map((n) => el("tr", { "data-id": n.id, class: S.best && n.id === S.best.id ? "best" : null, onclick: () => select(n.id) },
    el("td", {}, n.id), el("td", {}, n.kind), el("td", { class: n.status === "rejected" || n.status === "failed" ? "bad" : null, title: n.reason }, n.status),
    el("td", {}, n.operator || "–"), el("td", {}, n.parent || "–"), el("td", { class: "num" }, n.depth),
    el("td", { class: "num" }, fmt(n.score)), el("td", {}, n.stage || "–"), el("td", { class: "num" }, n.passes + n.fails ? `${n.passes}/${n.passes + n.fails}` : "–"),
    el("td", { class: "num" }, fmt(posterior(n))), el("td", { class: "num" }, n.cost_usd ? n.cost_usd.toFixed(4) : "0"), el("td", { class: "num" }, count(n.tokens)),
    el("td", { class: "num" }, n.children))));
  $("#list-count").textContent = rows.length ? `${start + 1}–${start + page.length} of ${rows.length} nodes` : "no node matches";
}

// ------------------------------------------------------------------------------------------- node panel
function panelTab(name) {
  document.querySelectorAll("#panel-tabs button").forEach((b) => b.classList.toggle("on", b.dataset.tab === name));
  document.querySelectorAll("#tab-node .tab").forEach((t) => (t.hidden = t.id !== `tab-${name}`));
  if (name === "code" && S.node && !S.node.codeLoaded) loadCode(S.node.id).catch(showError);
  if (name === "selfmod" && S.node && !S.node.selfModLoaded) loadSelfModification(S.node).catch(showError);
}
function steps(list) {
  const body = (s) => Object.entries(s).filter(([k]) => !["type", "ts", "step"].includes(k))
    .map(([k, v]) => [el("b", {}, k), el("pre", {}, typeof v === "string" ? v : JSON.stringify(v, null, 1))]);
  return list.map((s) => el("div", { class: `step ${s.type}` }, el("div", { class: "muted" }, `${s.type}${s.step !== undefined ? " · step " + s.step : ""}`), body(s)));
}
function showInTree(id) { view("tree"); select(id); }
async function select(id) {
  S.selected = id; unfoldTo(id); redraw();
  $("#node-hint").hidden = true;
  try {
    const n = await api(`api/${S.campaign}/node/${id}`);
    if (S.selected !== id) return;
    S.node = n;
    renderNode(n);
  } catch (error) { fill($("#tab-details"), el("p", { class: "bad" }, error.message)); }
}
function renderNode(n) {
  const title = $("#node-title"), c = n.cost, failed = n.status === "rejected" || n.status === "failed";
  title.hidden = false; $("#panel-tabs").hidden = false;
  title.textContent = `${n.id} · ${n.kind}`;
  const tasks = n.results.map((r) => el("tr", { class: r.trajectory_path ? "clickable" : "", "data-task": r.task_id, onclick: r.trajectory_path ? () => showTrajectory(n.id, r.task_id, r.attempt) : null },
    el("td", {}, r.task_id), el("td", {}, r.attempt), el("td", { class: r.resolved ? "ok" : "bad" }, r.status),
    el("td", {}, r.tests_passed === null ? "" : `${r.tests_passed}/${r.tests_failed ?? 0}`), el("td", {}, fmt(r.duration_s, 1)),
    el("td", {}, fmt(r.cost_usd, 4)), el("td", {}, r.tokens), el("td", {}, r.trajectory_path ? "view" : "")));
  const meta = Object.entries(n.meta).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]);
  fill($("#tab-details"),
    failed ? el("div", { class: "reason", id: "why" }, el("b", {}, n.status === "rejected" ? "Rejected: " : "Failed: "), n.status_reason || "(no reason recorded)") : [],
    S.best && S.best.id === n.id ? el("p", {}, el("b", {}, "The best agent: "), S.best.summary) : [],
    facts([["status", n.status], ["operator", n.operator || "–"], ["parent", n.parent_id || "– (root)"],
      ["lineage", n.lineage.join(" → ")], ["children", n.children.join(", ") || "–"], ["message", n.message || "–"], ["code hash", n.code_hash || "– (no code)"],
      ["cost", `${usd(c.cost_usd)} · ${count(c.tokens)} tokens (${count(c.prompt_tokens)} in, ${count(c.completion_tokens)} out) · ${c.calls} calls, ${c.errors} errors`],
      ...n.edges.map((e) => ["edge", `${e.src} ${e.kind} ${e.dst}`])]),
    S.kids.get(n.id)?.length ? el("button", { onclick: () => toggleFold(n.id) }, S.folded.has(n.id) ? `unfold its ${S.size.get(n.id) - 1} descendants` : "fold its subtree") : [],
    el("h3", {}, "scores per stage"),
    table(["evaluator", "stage", "tasks", "done", "resolved", "score"], n.scores.map((s) => el("tr", {},
      el("td", {}, `${s.evaluator} ${s.evaluator_version}`), el("td", {}, s.stage), el("td", {}, s.n_tasks), el("td", {}, s.n_done), el("td", {}, s.n_resolved), el("td", {}, fmt(s.score))))),
    el("h3", {}, `per-task results (${n.results.length})`),
    el("table", { id: "tasks" }, el("tr", {}, ["task", "try", "status", "tests ✓/✗", "s", "$", "tokens", "trajectory"].map((h) => el("th", {}, h))), tasks),
    n.fitness ? [el("h3", {}, "fitness"), el("p", {}, n.fitness.summary),
      table(["child", "parent", "gain over parent"], n.fitness.credits.map((cr) => el("tr", {}, el("td", {}, cr.child), el("td", {}, cr.parent || "–"),
        el("td", { class: cr.gain === null ? "" : cr.gain > 0 ? "ok" : cr.gain < 0 ? "bad" : "" }, cr.gain === null ? "not judged yet" : (cr.gain > 0 ? "+" : "") + fmt(cr.gain)))))] : [],
    n.problem_statement ? [el("h3", {}, "problem statement"), el("pre", { id: "statement" }, n.problem_statement)] : [],
    n.content !== null ? [el("h3", {}, "content"), el("pre", {}, n.content)] : [],
    meta.length ? [el("h3", {}, "record"), facts(meta)] : []);
  fill($("#tab-code"), el("p", { class: "muted" }, n.code_hash ? "loading…" : "This node has no code (it never got past its self-modification)."));
  n.codeLoaded = !n.code_hash;
  renderDiff(n, "parent", n.diff);
  fill($("#tab-selfmod"), el("p", { class: "muted" }, "loading…"));
  n.selfModLoaded = false;
  const runs = n.results.filter((r) => r.trajectory_path);
  fill($("#trajectory-list"), runs.length ? table(["task", "try", "status", ""], runs.map((r) => el("tr", { class: "clickable", "data-run": r.task_id, onclick: () => showTrajectory(n.id, r.task_id, r.attempt) },
    el("td", {}, r.task_id), el("td", {}, r.attempt), el("td", { class: r.resolved ? "ok" : "bad" }, r.status), el("td", {}, "view")))) : el("p", { class: "muted" }, "No task trajectory for this node."));
  fill($("#trajectory"));
  fill($("#tab-calls"), n.calls.length ? el("table", { id: "calls" }, el("tr", {}, ["time", "role", "purpose", "model", "outcome", "tokens in/out", "USD", "s", "error"].map((h) => el("th", {}, h))),
    n.calls.map((k) => el("tr", {}, el("td", {}, new Date(k.ts * 1000).toLocaleTimeString()), el("td", {}, k.role), el("td", {}, k.purpose), el("td", {}, k.model),
      el("td", { class: k.outcome === "ok" ? "ok" : "bad" }, k.outcome), el("td", {}, `${k.prompt_tokens}/${k.completion_tokens}`), el("td", {}, k.cost_usd.toFixed(4)),
      el("td", {}, fmt(k.latency_s, 2)), el("td", {}, k.error || "")))) : el("p", { class: "muted" }, "No model call was charged to this node."));
  const open = document.querySelector("#panel-tabs button.on")?.dataset.tab || "details";
  panelTab(open);
}
function renderDiff(n, against, text) {
  const choose = el("select", { id: "diff-against", onchange: async (e) => {
    const d = await api(`api/${S.campaign}/node/${n.id}/diff?against=${encodeURIComponent(e.target.value)}`);
    renderDiff(n, e.target.value, d.diff);
  } }, el("option", { value: "parent" }, n.parent_id ? `vs parent ${n.parent_id}` : "vs nothing (root)"), el("option", { value: "seed" }, `vs seed ${n.lineage[0]}`));
  choose.value = against;
  fill($("#tab-diff"), n.code_hash ? [el("label", {}, "diff ", choose), HL.diff(el, text)] : el("p", { class: "muted" }, "This node has no code to diff; see its self-modification."));
}
async function loadCode(id) {
  const c = await api(`api/${S.campaign}/node/${id}/code`);
  if (!S.node || S.node.id !== id) return;
  S.node.codeLoaded = true;
  const viewer = el("div", { id: "code-view" });
  const show = (file, button) => {
    document.querySelectorAll("#tab-code .files button").forEach((b) => b.classList.toggle("on", b === button));
    fill(viewer, el("div", { class: "muted" }, `${file.path} · ${count(file.size)} bytes`), file.text === null ? el("p", { class: "muted" }, "(binary file)") : HL.code(el, file.text, file.path));
  };
  const buttons = c.files.map((file) => { const b = el("button", { "data-path": file.path, onclick: () => show(file, b) }, file.path); return b; });
  fill($("#tab-code"), el("div", { class: "files" }, buttons), viewer);
  if (c.files.length) show(c.files[0], buttons[0]);
}
async function loadSelfModification(n) {
  const box = $("#tab-selfmod"), failed = n.status === "rejected" || n.status === "failed";
  const parts = [
    failed ? el("div", { class: "reason" }, el("b", {}, n.status === "rejected" ? "Rejected: " : "Failed: "), n.status_reason || "(no reason recorded)") : [],
    n.problem_statement ? [el("h3", {}, "what it was asked to change"), el("pre", {}, n.problem_statement)] : [],
    n.self_modification.patch !== null ? [el("h3", {}, "the diff it wrote"), HL.diff(el, n.self_modification.patch)] : [],
  ];
  let log = el("p", { class: "muted" }, n.operator === "seed" ? "The seed was not made by self-modification." : "No self-modification log was recorded for this node.");
  if (n.self_modification.log) {
    const s = await api(`api/${S.campaign}/node/${n.id}/self_modification`);
    log = [el("h3", {}, `self-modification log (${s.steps.length} steps)`), el("div", { id: "selfmod-steps" }, steps(s.steps))];
  }
  if (!S.node || S.node.id !== n.id) return;
  n.selfModLoaded = true;
  fill(box, parts, log);
}
async function showTrajectory(id, task, attempt) {
  panelTab("trajectories");
  const box = $("#trajectory");
  try {
    const t = await api(`api/${S.campaign}/node/${id}/trajectory/${encodeURIComponent(task)}?attempt=${attempt}`);
    fill(box, el("h3", {}, `trajectory: ${task} (try ${t.attempt}, ${t.steps.length} steps)`), steps(t.steps));
    box.scrollIntoView({ block: "start" });
  } catch (error) { fill(box, el("p", { class: "bad" }, error.message)); }
}
document.querySelectorAll("#panel-tabs button").forEach((b) => (b.onclick = () => panelTab(b.dataset.tab)));

// ------------------------------------------------------------------------------------------------ events
function addEvents(events) {
  const rows = events.map((e) => el("tr", { class: e.node_id ? "clickable" : null, "data-node": e.node_id, onclick: e.node_id ? () => select(e.node_id) : null },
    el("td", {}, new Date(e.ts * 1000).toLocaleTimeString()), el("td", { class: "kind" }, e.kind), el("td", { class: "sentence" }, e.text)));
  const log = $("#events");
  log.prepend(...rows.reverse());
  while (log.rows.length > 500) log.deleteRow(-1);  // the newest 500 stay in the page
}

// ------------------------------------------------------------------------------------- views, loading, live
function view(name) {
  document.querySelectorAll("#views button").forEach((b) => b.classList.toggle("on", b.dataset.view === name));
  document.querySelectorAll("#left .view").forEach((v) => (v.hidden = v.id !== `view-${name}`));
  $("#filters").hidden = name !== "tree" && name !== "list";
  if (name === "tree") redraw();
  if (name === "list") renderList();
  if (name === "overview") loadOverview().catch(showError);
}
document.querySelectorAll("#views button").forEach((b) => (b.onclick = () => view(b.dataset.view)));
function options(id, values) {
  const box = $(id), keep = box.value;
  fill(box, el("option", { value: "" }, "all"), [...values].sort().map((v) => el("option", { value: v }, v)));
  box.value = values.has(keep) ? keep : "";
}
async function loadTree() {
  const t = await api(`api/${S.campaign}/tree?x=false`);  // the layout is made here, with folding
  const grown = t.nodes.length !== S.nodes.length;
  S.nodes = t.nodes.map((row) => Object.fromEntries(t.fields.map((f, i) => [f, row[i]])));
  S.edges = t.edges; S.best = t.best; S.bestNote = t.best_note; S.path = new Set(t.best_path);
  index();
  if (!S.fitted) autoFold();
  layout();
  options("#f-kind", new Set(S.nodes.map((n) => n.kind)));
  options("#f-status", new Set(S.nodes.map((n) => n.status)));
  options("#f-operator", new Set(S.nodes.map((n) => n.operator).filter(Boolean)));
  overviewStrip();
  if (!$("#view-list").hidden && grown) renderList();
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
      if (!$("#view-overview").hidden) await loadOverview();
      if (S.selected && page.events.some((e) => e.node_id === S.selected)) select(S.selected);
    }
    $("#live").textContent = `${S.nodes.length} nodes · live, event #${S.last} · ${new Date().toLocaleTimeString()}`;
    showError(null);
  } catch (error) { showError(error); }
}
async function openCampaign(name) {
  Object.assign(S, { campaign: name, selected: null, node: null, last: 0, fitted: false, nodes: [], byId: new Map(), folded: new Set() });
  fill($("#events"));
  const url = new URL(location); url.searchParams.set("c", name); url.searchParams.delete("token"); history.replaceState(null, "", url);
  try {
    const o = await api(`api/${name}/overview`);
    S.generations = o.generations;
    await loadTree(); await poll();
  } catch (error) { showError(error); redraw(); }
}
async function main() {
  $("#legend").textContent = "● agent ■ prompt ◆ meta-prompt ▲ rubric · colour: score (red 0 → green 1, grey none) · ✕ rejected/failed · yellow ring: in progress · gold: the best agent and its path · + under a node: folded subtree · dashed: produced_by / scored_under · double-click a node: fold / unfold its subtree";
  ["#f-kind", "#f-status", "#f-operator", "#f-score"].forEach((id) => $(id).addEventListener("input", () => { redraw(); if (!$("#view-list").hidden) renderList(); }));
  $("#list-filter").addEventListener("input", () => { S.list.page = 0; renderList(); });
  $("#list-prev").onclick = () => { S.list.page = Math.max(0, S.list.page - 1); renderList(); };
  $("#list-next").onclick = () => { S.list.page += 1; renderList(); };
  $("#fit").onclick = fit;
  $("#focus-best").onclick = focusBest;
  $("#expand-all").onclick = () => { S.folded = new Set(); layout(); fit(); };
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
window.dgm = { S, screenPos, select, draw, view, panelTab, toggleFold, fit };
main();
