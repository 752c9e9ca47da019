// A small syntax highlighter for the dashboard (no dependency, no CDN). It only ever returns DOM nodes whose
// text is set as text: agent-written code can never become markup. Python is tokenised with multi-line
// strings; other languages get comments, strings, numbers and keywords; diffs get their line kinds plus the
// code tokens of the file each hunk belongs to.
"use strict";
const HL = (() => {
  const words = (text) => new Set(text.split(/\s+/));
  const KEYWORDS = {
    python: words("False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield match case self"),
    js: words("async await break case catch class const continue default delete do else export extends false finally for function if import in instanceof let new null return super switch this throw true try typeof undefined var void while yield"),
    go: words("break case chan const continue default defer else fallthrough for func go goto if import interface map package range return select struct switch type var nil true false"),
    rust: words("as async await break const continue crate else enum extern false fn for if impl in let loop match mod move mut pub ref return self Self static struct super trait true type unsafe use where while"),
    c: words("auto break case char class const continue default delete do double else enum extern float for if include int long namespace new private protected public return short signed sizeof static struct switch template this throw try typedef union unsigned using virtual void volatile while bool true false nullptr"),
    java: words("abstract boolean break byte case catch char class const continue default do double else enum extends final finally float for if implements import instanceof int interface long new null package private protected public return short static super switch this throw throws true false try void while"),
    sh: words("if then else elif fi for while do done case esac function in return export local set echo exit"),
  };
  const LANGS = { py: "python", js: "js", ts: "js", mjs: "js", go: "go", rs: "rust", c: "c", h: "c", cc: "c", cpp: "c", hpp: "c", java: "java", sh: "sh", bash: "sh", md: "markdown", json: "json", toml: "sh", yaml: "sh", yml: "sh", jsonl: "json" };
  function language(path) {
    const ext = (path || "").split(".").pop().toLowerCase();
    return LANGS[ext] || "text";
  }
  const TOKEN = /(#.*$|\/\/.*$)|("""|''')|("(?:\\.|[^"\\])*"?|'(?:\\.|[^'\\])*'?|`(?:\\.|[^`\\])*`?)|(\b\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?\b)|(@[\w.]+)|([A-Za-z_]\w*)/g;
  // Tokens of one line as [class, text] pairs; `state.open` carries a Python triple-quoted string across lines.
  function tokens(line, lang, state) {
    const out = [];
    let at = 0;
    const push = (cls, text) => { if (text) out.push([cls, text]); };
    if (lang === "text") return [["", line]];
    if (lang === "markdown") return [[/^\s*#/.test(line) ? "kw" : /^\s*[-*] /.test(line) ? "fn" : "", line]];
    if (state.open) {
      const end = line.indexOf(state.open);
      if (end < 0) return [["str", line]];
      push("str", line.slice(0, end + 3)); at = end + 3; state.open = null;
    }
    const keywords = KEYWORDS[lang] || new Set();
    const hashComments = lang === "python" || lang === "sh";
    let previous = "";
    TOKEN.lastIndex = at;
    for (let m; (m = TOKEN.exec(line)); ) {
      push("", line.slice(at, m.index));
      const [text, comment, triple, string, number, decorator, word] = m;
      if (comment !== undefined) {
        if (comment.startsWith("#") && !hashComments) { push("", "#"); at = m.index + 1; TOKEN.lastIndex = at; continue; }
        push("com", text);
      } else if (triple !== undefined && lang === "python") {
        const end = line.indexOf(triple, m.index + 3);
        if (end < 0) { push("str", line.slice(m.index)); state.open = triple; at = line.length; break; }
        push("str", line.slice(m.index, end + 3)); at = end + 3; TOKEN.lastIndex = at; continue;
      } else if (string !== undefined) push("str", text);
      else if (number !== undefined) push("num", text);
      else if (decorator !== undefined && lang === "python") push("fn", text);
      else if (word !== undefined) push(keywords.has(word) ? "kw" : ["def", "class", "func", "fn", "function"].includes(previous) ? "fn" : "", text);
      else push("", text);
      if (word !== undefined) previous = word;
      at = m.index + text.length;
    }
    push("", line.slice(at));
    return out;
  }
  function line(el, text, lang, state, cls = "") {
    return el("span", { class: `line ${cls}`.trim() }, tokens(text, lang, state).map(([c, t]) => (c ? el("span", { class: `tok-${c}` }, t) : t)), "\n");
  }
  // A file as a <pre> of highlighted lines (with line numbers from CSS counters).
  function code(el, text, path) {
    const lang = language(path), state = {};
    return el("pre", { class: `code lang-${lang}` }, text.replace(/\n$/, "").split("\n").map((l) => line(el, l, lang, state)));
  }
  // A unified diff: each line a block classed add / del / hunk / meta, code tokens in the language of its file.
  function diff(el, text) {
    if (!text) return el("pre", { class: "diff" }, "(no change)");
    let lang = "text", state = {};
    const lines = text.replace(/\n$/, "").split("\n").map((l) => {
      if (l.startsWith("diff ") || l.startsWith("index ") || l.startsWith("--- ") || l.startsWith("+++ ") || l.startsWith("new file") || l.startsWith("deleted file") || l.startsWith("Binary")) {
        if (l.startsWith("+++ ")) { lang = language(l.slice(4)); state = {}; }
        return el("span", { class: "meta" }, l);
      }
      if (l.startsWith("@@")) { state = {}; return el("span", { class: "hunk" }, l); }
      const kind = l.startsWith("+") ? "add" : l.startsWith("-") ? "del" : "";
      const body = l || " ";  // an empty line keeps its height
      return el("span", { class: kind || null }, body.slice(0, 1), tokens(body.slice(1), lang, state).map(([c, t]) => (c ? el("span", { class: `tok-${c}` }, t) : t)));
    });
    return el("pre", { class: "diff" }, lines);
  }
  return { code, diff, language, tokens };
})();
