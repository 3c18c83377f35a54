// ckn web app: plain JavaScript, no build step, no third-party code. It reads the same JSON API any
// client does (with the API key the user gives it) and draws its graphs as SVG itself.
"use strict";

const I18N = {
  en: {
    experts: "Expert finder", referrals: "Referrals", knowledge: "Knowledge map", customer: "Customer 360",
    ingest: "Ingest", language: "中文", logout: "Log out", login: "Log in", apiKey: "API key",
    loginHint: "This ckn needs an API key (ask an administrator: ckn keys create NAME --role ROLE).",
    badKey: "That key was not accepted.", search: "Search", expertsPlaceholder: "A product, topic, customer or question, e.g. X200 校准",
    about: "About", noExperts: "Nobody has evidence on this yet.", score: "score", evidence: "evidence",
    behavioural: "work done", documented: "documents written", left: "has left",
    whoKnows: "Who knows this customer", introFrom: "Warm introduction from colleague (id or name)",
    paths: "Find paths", noPaths: "No path found.", weakest: "weakest tie",
    topReferrers: "Top referrers", direct: "direct", indirect: "indirect", value: "downstream value",
    tree: "Referral tree", treeHint: "Click a customer to expand their branch; drag to pan, wheel or buttons to zoom.",
    kfactor: "K-factor by cohort", customers: "customers", pickReferrer: "Choose a referrer from the table.",
    heat: "Topics and products × holders", tacit: "Tacit holders: document this next",
    singles: "Rests on one person", gaps: "Knowledge gaps: asked, never documented", asked: "asked",
    complaints: "complaints", departure: "Departure impact", chooseColleague: "Choose a colleague",
    uncovered: "Uncovered if they leave", successors: "successors", nothingUncovered: "Nothing becomes uncovered.",
    customerSearch: "Customer name, id, e-mail or phone", completeness: "Completeness", missing: "Missing",
    identity: "Identity", channels: "Channels", needs: "Needs", behaviour: "Behaviour", owners: "Owners",
    openComplaints: "Open complaints", delivered: "Knowledge delivered", colleagues: "Colleagues who know them",
    upload: "Upload files", uploadHint: "CSV exports, vCards, documents (.md .txt .html .pdf .docx .eml).",
    job: "Job", status: "status", rows: "rows", quarantined: "quarantined", quarantine: "Quarantine",
    review: "Review: people who may be one", names: "Review: names found in text", accept: "Merge",
    reject: "Keep apart", confirm: "Confirm", dismiss: "Dismiss", nothing: "Nothing here.",
    reason: "reason", file: "file", line: "line", mentions: "mentions", done: "Done.",
    documents: "documents", text: "Text", sources: "Sources", kind: "kind", open360: "Customer 360",
    interactions: "interactions", last: "last", lifetime: "lifetime value", holder: "Holder", zoomIn: "Zoom in", zoomOut: "Zoom out", reset: "Reset", colourBy: "colour by value",
  },
  zh: {
    experts: "找专家", referrals: "转介绍", knowledge: "知识地图", customer: "客户360",
    ingest: "导入", language: "English", logout: "退出", login: "登录", apiKey: "API 密钥",
    loginHint: "此 ckn 需要 API 密钥（请管理员运行 ckn keys create NAME --role ROLE）。",
    badKey: "密钥无效。", search: "搜索", expertsPlaceholder: "产品、主题、客户或问题，例如 X200 校准",
    about: "关于", noExperts: "暂无人有相关证据。", score: "得分", evidence: "证据",
    behavioural: "实际工作", documented: "撰写文档", left: "已离职",
    whoKnows: "谁认识这位客户", introFrom: "从同事引荐（编号或姓名）",
    paths: "查找路径", noPaths: "未找到路径。", weakest: "最弱关系",
    topReferrers: "推荐最多的客户", direct: "直接", indirect: "间接", value: "下游价值",
    tree: "转介绍树", treeHint: "点击客户展开其分支；拖动平移，滚轮或按钮缩放。",
    kfactor: "各批次 K 因子", customers: "客户", pickReferrer: "请从表中选择一位推荐人。",
    heat: "主题与产品 × 知识持有人", tacit: "隐性知识持有人：下一步请记录",
    singles: "仅依赖一人", gaps: "知识缺口：被问到但无文档", asked: "被问",
    complaints: "投诉", departure: "离职影响", chooseColleague: "选择同事",
    uncovered: "离职后无人覆盖", successors: "接替人选", nothingUncovered: "没有无人覆盖的内容。",
    customerSearch: "客户名称、编号、邮箱或电话", completeness: "完整度", missing: "缺少",
    identity: "身份", channels: "渠道", needs: "需求", behaviour: "行为", owners: "负责人",
    openComplaints: "未解决投诉", delivered: "已交付知识", colleagues: "认识他们的同事",
    upload: "上传文件", uploadHint: "CSV 导出、vCard、文档（.md .txt .html .pdf .docx .eml）。",
    job: "任务", status: "状态", rows: "行", quarantined: "隔离", quarantine: "隔离区",
    review: "审核：可能是同一人", names: "审核：文本中发现的名字", accept: "合并",
    reject: "分开", confirm: "确认", dismiss: "忽略", nothing: "暂无内容。",
    reason: "原因", file: "文件", line: "行", mentions: "提及", done: "完成。",
    documents: "文档", text: "正文", sources: "来源", kind: "类型", open360: "客户360",
    interactions: "互动", last: "最近", lifetime: "客户终身价值", holder: "持有人", zoomIn: "放大", zoomOut: "缩小", reset: "重置", colourBy: "按价值着色",
  },
};
const EVIDENCE_KINDS = {
  en: { authored: "wrote", resolved: "resolved", escalation: "escalation answered", meeting: "meeting", interaction: "interaction", owner: "owns the account" },
  zh: { authored: "撰写", resolved: "解决", escalation: "处理升级", meeting: "会面", interaction: "互动", owner: "客户负责人" },
};

const WHY_ZH = [
  [/^some evidence on it$/, "对此有一些证据"], [/^works with the same customers$/, "服务相同的客户"],
  [/^co-wrote documents with them$/, "与其共同撰写文档"], [/^knows the adjacent topic (.*)$/, "了解相邻主题 $1"],
];
const why = (text) => (lang === "zh" ? WHY_ZH.reduce((out, [pattern, zh]) => out.replace(pattern, zh), text) : text);

let lang = localStorage.getItem("ckn.lang") || ((navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en");
let me = null;
const t = (key) => (I18N[lang] && I18N[lang][key]) || I18N.en[key] || key;
const can = (op) => Boolean(me && (me.open || me.allowed.includes(op)));

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function api(path, options = {}) {
  const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
  const key = sessionStorage.getItem("ckn.key");
  if (key) headers.Authorization = "Bearer " + key;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  const json = (response.headers.get("content-type") || "").includes("json");
  const body = json ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, (body && body.detail) || String(body));
  return body;
}

// h("div", {class: "card"}, "text", child): an element; strings become text (never HTML)
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "style") el.style.cssText = value; // through the CSSOM: the page allows no inline style
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}
const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value);
  }
  for (const child of children.flat(Infinity)) if (child !== null && child !== undefined) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}
const day = (when) => (when ? String(when).slice(0, 10) : "");
const num = (x, digits = 2) => Number(x || 0).toFixed(digits);
const money = (x) => Number(x || 0).toLocaleString(lang === "zh" ? "zh-CN" : "en-US", { maximumFractionDigits: 0 });
const bare = (id) => String(id).replace(/^[a-z]+:/, "");
const link = (hash, text) => h("a", { href: hash }, text);
// a link to what the role may open (a customer's dossier, an entity with its evidence), else the name alone
function entityLink(id, name) {
  if (String(id).startsWith("customer:") && can("GET /customers/{customer_id}")) return link("#/customer/" + encodeURIComponent(id), name);
  return can("GET /entities/{entity_id}") ? link("#/entity/" + encodeURIComponent(id), name) : name;
}

function table(headers, rows) {
  if (!rows.length) return h("p", { class: "muted" }, t("nothing"));
  return h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))), h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))));
}

function failure(error) {
  return h("p", { class: "error", role: "alert" }, error instanceof ApiError ? error.message : t("nothing"));
}

// -- views ------------------------------------------------------------------------------------

const VIEWS = [
  { id: "experts", op: "GET /experts", render: renderExperts },
  { id: "referrals", op: "GET /referrals/stats", render: renderReferrals },
  { id: "knowledge", op: "GET /knowledge/map", render: renderKnowledge },
  { id: "customer", op: "GET /customers/{customer_id}", render: renderCustomer },
  { id: "ingest", op: "POST /ingest", render: renderIngest },
];

async function renderExperts(view, arg, params) {
  const q = params.get("q") || "";
  const input = h("input", { type: "search", name: "q", value: q, placeholder: t("expertsPlaceholder"), "aria-label": t("search") });
  const form = h("form", { class: "bar", onsubmit: (e) => { e.preventDefault(); location.hash = "#/experts?q=" + encodeURIComponent(input.value.trim()); } },
    input, h("button", { class: "primary", type: "submit" }, t("search")));
  view.append(h("h1", {}, t("experts")), form);
  if (!q) return;
  const out = h("div", { id: "experts-results" });
  view.append(out);
  try {
    const answer = await api("/experts?limit=10&q=" + encodeURIComponent(q));
    out.append(h("p", { class: "muted" }, t("about") + ": ", answer.subjects.map((x, i) => [i ? ", " : "", entityLink(x.id, x.name)])));
    if (!answer.experts.length) out.append(h("p", {}, t("noExperts")));
    out.append(h("div", { class: "cards" }, answer.experts.map(expertCard)));
    for (const subject of answer.subjects.filter((x) => x.kind === "Customer")) {
      if (can("GET /customers/{customer_id}/relationships")) out.append(await whoKnows(subject));
    }
  } catch (error) { out.append(failure(error)); }
}

function expertCard(expert) {
  const kinds = EVIDENCE_KINDS[lang];
  return h("article", { class: "card expert" },
    h("h3", {}, entityLink(expert.employee_id, expert.name), expert.left ? h("span", { class: "tag" }, " " + t("left")) : null),
    h("div", { class: "muted" }, `${t("score")} ${num(expert.score)} · `,
      h("span", { class: "tag behaviour" }, `${t("behavioural")} ${num(expert.strength - expert.documented)}`), " ",
      h("span", { class: "tag documented" }, `${t("documented")} ${num(expert.documented)}`)),
    h("ul", { class: "evidence" }, expert.evidence.map((e) => h("li", {},
      h("span", { class: "tag" }, kinds[e.kind] || e.kind), " ", link("#/entity/" + encodeURIComponent(e.item_id), e.item_name || bare(e.item_id)),
      " ", h("span", { class: "muted" }, day(e.when))))));
}

async function whoKnows(subject) {
  const box = h("section", {}, h("h2", {}, `${t("whoKnows")}: ${subject.name}`));
  const ties = await api(`/customers/${encodeURIComponent(subject.id)}/relationships?limit=10`);
  box.append(table([t("colleagues"), t("score"), t("channels")], ties.map((r) => [entityLink(r.employee_id, r.name), num(r.strength), Object.keys(r.channels || {}).join(", ")])));
  if (can("GET /paths/intro")) {
    const from = h("input", { type: "text", "aria-label": t("introFrom"), placeholder: t("introFrom"), value: ties.length ? ties[ties.length - 1].name : "" });
    const drawn = h("div");
    box.append(h("form", { class: "bar", onsubmit: async (e) => {
      e.preventDefault(); drawn.replaceChildren();
      try {
        const paths = await api(`/paths/intro?limit=3&employee_id=${encodeURIComponent(from.value.trim())}&customer_id=${encodeURIComponent(subject.id)}`);
        drawn.append(paths.length ? pathsGraph(paths) : h("p", {}, t("noPaths")));
      } catch (error) { drawn.append(failure(error)); }
    } }, from, h("button", { type: "submit" }, t("paths"))), drawn);
  }
  return box;
}

function pathsGraph(paths) {
  const width = 760, rowHeight = 90;
  const svg = s("svg", { class: "graph intro", viewBox: `0 0 ${width} ${rowHeight * paths.length + 20}`, role: "img" });
  paths.forEach((path, row) => {
    const y = 45 + row * rowHeight, step = (width - 120) / Math.max(1, path.nodes.length - 1);
    path.nodes.forEach((node, i) => {
      const x = 60 + i * step;
      if (i) svg.append(s("line", { x1: 60 + (i - 1) * step, y1: y, x2: x, y2: y }),
        s("text", { x: x - step / 2, y: y - 8, "text-anchor": "middle", class: "muted" }, path.ties[i - 1].via));
      svg.append(s("circle", { cx: x, cy: y, r: 9, fill: node.startsWith("customer:") ? "#1f6feb" : "#2b8a3e" }),
        s("text", { x, y: y + 24, "text-anchor": "middle" }, path.names[i]));
    });
    svg.append(s("text", { x: width - 10, y: y - 22, "text-anchor": "end" }, `${t("weakest")} ${num(path.weakest_tie, 1)}`));
  });
  return svg;
}

async function renderReferrals(view, arg) {
  view.append(h("h1", {}, t("referrals")));
  const left = h("section"), right = h("section");
  const treeBox = h("section", { id: "tree" }, h("h2", {}, t("tree")));
  view.append(h("div", { class: "grid2" }, left, right));
  // each part is drawn as its answer arrives: the tree does not wait for the cohort statistics
  const parts = [
    api("/referrals/stats").then((stats) => right.append(h("h2", {}, t("kfactor")), kChart(stats.k_factor_by_cohort)), (e) => right.append(failure(e))),
  ];
  if (can("GET /referrers")) {
    parts.push(api("/referrers?top=10").then((top) => left.append(h("h2", {}, t("topReferrers")), table([t("customers"), t("direct"), t("indirect"), t("value")],
      top.map((r) => [link("#/referrals/" + encodeURIComponent(r.customer_id), r.name), r.direct, r.indirect, money(r.downstream_value)]))), (e) => left.append(failure(e))));
  }
  if (can("GET /customers/{customer_id}/referrals")) {
    view.append(treeBox);
    if (!arg) treeBox.append(h("p", { class: "muted" }, t("pickReferrer")));
    else {
      const base = `/customers/${encodeURIComponent(arg)}/referrals`;
      parts.push(Promise.all([api(`${base}?depth=${TREE_STEP}`), api(`${base}?direction=up`)]).then(([down, up]) =>
        treeBox.append(h("p", { class: "muted" }, t("treeHint")), treeGraph(frontier(down.tree, TREE_STEP), up.chain || [])), (e) => treeBox.append(failure(e))));
    }
  }
  await Promise.all(parts);
}

const TREE_STEP = 1;
// A tree as the API cut it, its leaves at the cut marked as not yet explored (they may have branches).
function frontier(node, depth, level = 0) {
  node._more = level === depth && !(node.children || []).length;
  (node.children || []).forEach((c) => frontier(c, depth, level + 1));
  return node;
}

function kChart(cohorts) {
  const entries = Object.entries(cohorts || {});
  const most = Math.max(0.01, ...entries.map(([, c]) => c.k_factor));
  return h("div", { class: "chart", role: "img", "aria-label": t("kfactor") }, entries.map(([name, c]) =>
    h("div", { class: "col", title: `${name}: K=${num(c.k_factor)} (${c.customers} ${t("customers")})` },
      h("span", {}, num(c.k_factor)), h("b", { style: `height:${Math.round((c.k_factor / most) * 110) + 2}px` }), h("span", {}, name))));
}

// The tree a customer brought in, to the right; the chain of who brought them in, to the left.
function treeGraph(root, chain) {
  const box = h("div");
  const svg = s("svg", { class: "graph tree", role: "img", "aria-label": t("tree") });
  const state = { x: 0, y: 0, scale: 1, width: 900, height: 420 };
  const values = [];
  const walk = (n) => { values.push(n.lifetime_value || 0); (n.children || []).forEach(walk); };
  const colour = (v) => {
    const top = Math.max(1, ...values);
    const share = Math.sqrt((v || 0) / top);
    return `hsl(${210 - 180 * share}, 70%, ${62 - 22 * share}%)`;
  };
  const fit = () => svg.setAttribute("viewBox", `${state.x} ${state.y} ${state.width / state.scale} ${state.height / state.scale}`);
  async function expand(node) {
    if (!node._more) return;
    try {
      const answer = await api(`/customers/${encodeURIComponent(node.customer_id)}/referrals?depth=${TREE_STEP + 1}`);
      const shown = new Set();
      const seen = (n) => { shown.add(n.customer_id); (n.children || []).forEach(seen); };
      seen(root);
      // each customer once: one already drawn (reached along a shorter referral) is not drawn again
      const unseen = (n) => { n.children = (n.children || []).filter((c) => !shown.has(c.customer_id)); n.children.forEach(unseen); return n; };
      node.children = unseen(frontier(answer.tree, TREE_STEP + 1)).children;
      node._more = false;
      draw();
    } catch (error) { box.append(failure(error)); }
  }
  function draw() {
    values.length = 0; walk(root);
    svg.replaceChildren();
    let leaf = 0;
    const place = (n, depth) => {
      n._x = 40 + depth * 190;
      if (!(n.children || []).length) { n._y = 30 + leaf++ * 42; return; }
      n.children.forEach((c) => place(c, depth + 1));
      n._y = (n.children[0]._y + n.children[n.children.length - 1]._y) / 2;
    };
    const shift = chain.length * 190;
    place(root, 0);
    const edges = s("g"), nodes = s("g");
    const moveRight = (n) => { n._x += shift; (n.children || []).forEach(moveRight); };
    moveRight(root);
    chain.forEach((c, i) => {
      const x = shift + 40 - (i + 1) * 190, nextX = shift + 40 - i * 190;
      edges.append(s("line", { x1: x, y1: root._y, x2: nextX, y2: root._y }));
      nodes.append(s("g", { class: "node up", "data-id": c.customer_id, onclick: () => { location.hash = "#/referrals/" + encodeURIComponent(c.customer_id); } },
        s("circle", { cx: x, cy: root._y, r: 7, fill: "#868e96" }), s("text", { x: x - 6, y: root._y - 12 }, c.name)));
    });
    const add = (n) => {
      for (const c of n.children || []) {
        edges.append(s("path", { d: `M${n._x},${n._y} C${n._x + 90},${n._y} ${c._x - 90},${c._y} ${c._x},${c._y}`, "stroke-dasharray": c.confidence < 1 ? "4 3" : "none" }));
        add(c);
      }
      const more = n._more;
      const g = s("g", { class: "node", "data-id": n.customer_id, tabindex: "0", onclick: () => expand(n), onkeydown: (e) => { if (e.key === "Enter") expand(n); } },
        s("circle", { cx: n._x, cy: n._y, r: 7 + Math.min(9, Math.sqrt(n.lifetime_value || 0) / 60), fill: colour(n.lifetime_value), stroke: more ? "#1d2733" : "none", "stroke-width": 2 }),
        s("text", { x: n._x + 14, y: n._y + 4 }, `${n.name}${more ? " (+)" : ""}`),
        s("title", {}, `${n.name} · ${money(n.lifetime_value)} · ${t("value")} ${money(n.branch_value)}`));
      nodes.append(g);
    };
    add(root);
    svg.append(edges, nodes);
    fit();
  }
  // one unit a pixel, whatever the screen: names stay readable on a phone (pan to see more)
  new ResizeObserver(() => { state.width = svg.clientWidth || 900; state.height = svg.clientHeight || 420; fit(); }).observe(svg);
  let drag = null;
  svg.addEventListener("pointerdown", (e) => { if (e.target === svg) { drag = { x: e.clientX, y: e.clientY, ox: state.x, oy: state.y }; svg.setPointerCapture(e.pointerId); } });
  svg.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const k = state.width / state.scale / svg.clientWidth;
    state.x = drag.ox - (e.clientX - drag.x) * k; state.y = drag.oy - (e.clientY - drag.y) * k; fit();
  });
  svg.addEventListener("pointerup", () => { drag = null; });
  svg.addEventListener("wheel", (e) => { e.preventDefault(); state.scale = Math.min(4, Math.max(0.3, state.scale * (e.deltaY < 0 ? 1.15 : 0.87))); fit(); }, { passive: false });
  const zoom = (f) => () => { state.scale = f ? Math.min(4, Math.max(0.3, state.scale * f)) : 1; if (!f) { state.x = 0; state.y = 0; } fit(); };
  box.append(h("div", { class: "bar" }, h("button", { type: "button", onclick: zoom(1.25) }, t("zoomIn")), h("button", { type: "button", onclick: zoom(0.8) }, t("zoomOut")),
    h("button", { type: "button", onclick: zoom(0) }, t("reset")), h("span", { class: "muted" }, t("colourBy"))), svg);
  draw();
  return box;
}

async function renderKnowledge(view, arg) {
  view.append(h("h1", {}, t("knowledge")));
  const map = await api("/knowledge/map?top=10").catch((e) => e);
  if (map instanceof Error) { view.append(failure(map)); return; }
  view.append(h("h2", {}, t("heat")), heatMap(map));
  const sections = [];
  if (can("GET /knowledge/tacit")) sections.push(api("/knowledge/tacit?limit=15").then((x) => h("section", {}, h("h2", {}, t("tacit")),
    table([t("about"), t("holder"), t("behavioural"), t("documented")], x.tacit_holders.map((r) => [r.subject_name, entityLink(r.employee_id, r.name), num(r.behavioural), num(r.documented)])))));
  sections.push(api("/knowledge/bus-factor").then((x) => h("section", {}, h("h2", {}, t("singles")),
    table([t("about"), t("holder")], x.subjects.filter((r) => r.bus_factor <= 1).map((r) => [r.subject_name, (r.holder_names || []).join(", ")])))));
  sections.push(api("/knowledge/gaps?limit=15").then((x) => h("section", {}, h("h2", {}, t("gaps")),
    table([t("about"), t("asked"), t("complaints")], x.map((g) => [g.name, g.asked, g.complaints])))));
  const grid = h("div", { class: "grid2" });
  view.append(grid);
  for (const section of await Promise.all(sections.map((p) => p.catch(failure)))) grid.append(section);
  if (!can("GET /employees/{employee_id}/departure-impact")) return;
  const people = new Map();
  map.forEach((row) => row.holders.forEach((x) => people.set(x.employee_id, x.name)));
  const choose = h("select", { "aria-label": t("chooseColleague"), onchange: () => { if (choose.value) location.hash = "#/knowledge/" + encodeURIComponent(choose.value); } },
    h("option", { value: "" }, t("chooseColleague")), [...people].map(([id, name]) => h("option", { value: id, selected: id === arg }, name)));
  const impact = h("section", { id: "departure" }, h("h2", {}, t("departure")), h("div", { class: "bar" }, choose));
  view.append(impact);
  if (!arg) return;
  try {
    const answer = await api(`/employees/${encodeURIComponent(arg)}/departure-impact`);
    impact.append(answer.uncovered.length ? table([t("uncovered"), t("kind"), t("successors")], answer.uncovered.map((u) =>
      [u.subject_name, u.kind, u.successors.map((x) => `${x.name} (${why(x.why)})`).join("; ")])) : h("p", {}, t("nothingUncovered")));
  } catch (error) { impact.append(failure(error)); }
}

function heatMap(rows) {
  const totals = new Map();
  rows.forEach((r) => r.holders.forEach((x) => totals.set(x.employee_id, { name: x.name, total: (totals.get(x.employee_id)?.total || 0) + x.behavioural + x.documented })));
  const holders = [...totals].sort((a, b) => b[1].total - a[1].total).slice(0, 15);
  const most = Math.max(0.01, ...rows.flatMap((r) => r.holders.flatMap((x) => [x.behavioural, x.documented])));
  const shade = (v, hue) => (v ? `background:hsla(${hue},70%,45%,${0.15 + 0.85 * Math.min(1, v / most)})` : "");
  return h("div", {},
    h("div", { class: "legend" }, h("span", {}, h("i", { style: "background:#d9480f" }), t("behavioural")), h("span", {}, h("i", { style: "background:#2b8a3e" }), t("documented"))),
    h("div", { class: "scroll" }, h("table", { class: "heat" },
      h("thead", {}, h("tr", {}, h("th", {}, t("about")), holders.map(([id, x]) => h("th", {}, entityLink(id, x.name))))),
      h("tbody", {}, rows.map((r) => {
        const by = new Map(r.holders.map((x) => [x.employee_id, x]));
        return h("tr", {}, h("th", {}, r.subject_name), holders.map(([id]) => {
          const x = by.get(id);
          return h("td", { class: "cell", title: x ? `${x.name}: ${t("behavioural")} ${num(x.behavioural)}, ${t("documented")} ${num(x.documented)}` : "" },
            x ? h("div", { class: "split" }, h("span", { style: shade(x.behavioural, 20) }), h("span", { style: shade(x.documented, 130) })) : null);
        }));
      })))));
}

async function renderCustomer(view, arg) {
  view.append(h("h1", {}, t("customer")));
  const input = h("input", { type: "search", placeholder: t("customerSearch"), "aria-label": t("customerSearch") });
  const hits = h("div");
  view.append(h("form", { class: "bar", onsubmit: async (e) => {
    e.preventDefault(); hits.replaceChildren();
    if (!input.value.trim()) return;
    try {
      const found = (await api("/search?limit=20&q=" + encodeURIComponent(input.value.trim()))).filter((x) => x.kind === "Customer");
      hits.append(found.length ? h("ul", {}, found.map((x) => h("li", {}, link("#/customer/" + encodeURIComponent(x.id), x.name)))) : h("p", {}, t("nothing")));
    } catch (error) { hits.append(failure(error)); }
  } }, input, h("button", { class: "primary", type: "submit" }, t("search"))), hits);
  if (!arg) return;
  try {
    const d = await api("/customers/" + encodeURIComponent(arg));
    const c = d.completeness;
    view.append(h("article", { class: "card dossier" },
      h("h2", {}, d.identity.name, " ", h("span", { class: "muted" }, bare(d.identity.id))),
      h("p", {}, `${t("completeness")}: ${c.score}/${c.of}`, h("div", { class: "meter" }, h("b", { style: `width:${(100 * c.score) / Math.max(1, c.of)}%` })),
        c.missing.length ? h("span", { class: "muted" }, `${t("missing")}: ${c.missing.join(", ")}`) : null),
      h("div", { class: "grid2" },
        h("section", {}, h("h2", {}, t("identity")), h("p", {}, d.identity.kind || ""), h("ul", {}, (d.identity.people || []).map((p) => h("li", {}, link("#/customer/" + encodeURIComponent(p.id), p.name))))),
        h("section", {}, h("h2", {}, t("channels")), h("p", {}, [...(d.channels.emails || []), ...(d.channels.phones || [])].join(" · ")), h("p", { class: "muted" }, d.channels.city || "")),
        h("section", {}, h("h2", {}, t("needs")), h("p", {}, (d.needs.subjects || []).join(", "))),
        h("section", {}, h("h2", {}, t("behaviour")), h("p", {}, `${t("interactions")}: ${d.behaviour.interactions} · ${t("last")}: ${day(d.behaviour.last_interaction) || "—"}`),
          h("p", {}, `${t("lifetime")}: ${money(d.value.lifetime_value)}`)),
        h("section", {}, h("h2", {}, t("owners")), h("ul", {}, d.owners.map((o) => h("li", {}, entityLink(o.employee_id, o.name), o.current ? "" : ` (${day(o.from)}–${day(o.to)})`)))),
        h("section", {}, h("h2", {}, t("colleagues")), h("ul", {}, d.colleagues.map((x) => h("li", {}, entityLink(x.employee_id, x.name), ` ${num(x.score)}`)))),
        h("section", {}, h("h2", {}, t("openComplaints")), h("ul", {}, d.open_complaints.map((x) => h("li", {}, x)))),
        h("section", {}, h("h2", {}, t("delivered")), h("ul", {}, d.knowledge_delivered.map((x) => h("li", {}, x.name || bare(x.id)))))),
      can("GET /customers/{customer_id}/referrals") ? h("p", {}, link("#/referrals/" + encodeURIComponent(d.identity.id), t("tree"))) : null));
  } catch (error) { view.append(failure(error)); }
}

async function renderEntity(view, arg) {
  try {
    const e = await api("/entities/" + encodeURIComponent(arg));
    view.append(h("h1", {}, e.name || bare(e.id)), h("p", { class: "muted" }, `${e.kind} · ${e.id}`));
    const props = e.props || {};
    const text = props.text || props.notes;
    if (text) view.append(h("h2", {}, t("text")), h("p", { style: "white-space:pre-wrap" }, String(text)));
    const rest = Object.entries(props).filter(([k]) => !["text", "notes"].includes(k));
    view.append(table([t("kind"), ""], rest.map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : String(v)])));
    view.append(h("h2", {}, t("sources")), h("ul", {}, [...new Set((e.provenance || []).map((p) => p.source_id))].map((x) => h("li", {}, x))));
  } catch (error) { view.append(failure(error)); }
}

async function renderIngest(view) {
  view.append(h("h1", {}, t("ingest")));
  const files = h("input", { type: "file", multiple: true, name: "files", "aria-label": t("upload") });
  const progress = h("div", { id: "job" });
  view.append(h("form", { class: "bar", onsubmit: async (e) => {
    e.preventDefault();
    if (!files.files.length) return;
    const form = new FormData();
    for (const file of files.files) form.append("files", file, file.name);
    progress.replaceChildren();
    try {
      let job = await api("/ingest", { method: "POST", body: form });
      while (job.status === "queued" || job.status === "running") {
        progress.replaceChildren(h("p", {}, `${t("job")} ${job.id}: ${job.status}`));
        await new Promise((r) => setTimeout(r, 500));
        job = await api("/ingest/jobs/" + encodeURIComponent(job.id));
      }
      progress.replaceChildren(h("p", { class: job.status === "done" ? "" : "error" }, `${t("job")} ${job.id}: ${job.status}`),
        job.report ? table([t("file"), t("kind"), t("status"), t("rows"), t("quarantined")], job.report.files.map((f) => [f.path, f.kind, f.status, f.rows, f.quarantined])) : h("p", { class: "error" }, job.error || ""));
      await lists();
    } catch (error) { progress.append(failure(error)); }
  } }, files, h("button", { class: "primary", type: "submit" }, t("upload"))), h("p", { class: "muted" }, t("uploadHint")), progress);
  const below = h("div");
  view.append(below);
  async function decide(path, body, button) {
    button.disabled = true;
    try {
      await api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      await lists();
    } catch (error) { button.replaceWith(failure(error)); }
  }
  async function lists() {
    const parts = [];
    if (can("GET /quarantine")) parts.push(api("/quarantine?limit=50").then((q) => h("section", {}, h("h2", {}, t("quarantine")),
      table([t("file"), t("line"), t("reason")], q.map((x) => [x.file, x.line, x.reason])))));
    if (can("GET /review")) parts.push(api("/review").then((r) => h("section", {}, h("h2", {}, t("review")),
      table(["", "", t("score"), ""], r.map((c) => [c.entity_name, c.candidate_name, num(c.score), can("POST /review/accept") ? h("span", {},
        h("button", { type: "button", onclick: (e) => decide("/review/accept", { entity_id: c.entity_id, candidate_id: c.candidate_id }, e.target) }, t("accept")), " ",
        h("button", { type: "button", onclick: (e) => decide("/review/reject", { entity_id: c.entity_id, candidate_id: c.candidate_id }, e.target) }, t("reject"))) : ""])))));
    if (can("GET /review/names")) parts.push(api("/review/names?limit=50").then((r) => h("section", {}, h("h2", {}, t("names")),
      table(["", t("kind"), t("mentions"), ""], r.map((c) => [c.name, c.label, c.mentions, can("POST /review/names/confirm") ? h("span", {},
        h("button", { type: "button", onclick: (e) => decide("/review/names/confirm", { candidate_id: c.id }, e.target) }, t("confirm")), " ",
        h("button", { type: "button", onclick: (e) => decide("/review/names/dismiss", { candidate_id: c.id }, e.target) }, t("dismiss"))) : ""])))));
    const done = await Promise.all(parts.map((p) => p.catch(failure)));
    below.replaceChildren(...done);
  }
  await lists();
}

function renderLogin(view, rejected) {
  const key = h("input", { type: "password", name: "key", autocomplete: "off", "aria-label": t("apiKey"), placeholder: t("apiKey") });
  view.append(h("h1", {}, t("login")), h("p", { class: "notice" }, t("loginHint")),
    rejected ? h("p", { class: "error", role: "alert" }, t("badKey")) : null,
    h("form", { class: "bar", onsubmit: async (e) => {
      e.preventDefault();
      sessionStorage.setItem("ckn.key", key.value.trim());
      await start();
    } }, key, h("button", { class: "primary", type: "submit" }, t("login"))));
}

// -- shell ------------------------------------------------------------------------------------

async function route() {
  if (me === null) return; // start() routes once it knows who this is
  // a fresh container each time: a view still loading for an earlier address writes into a detached one
  const view = h("div");
  document.getElementById("view").replaceChildren(view);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.getElementById("lang").textContent = t("language");
  const logout = document.getElementById("logout");
  logout.textContent = t("logout");
  logout.hidden = !sessionStorage.getItem("ckn.key");
  const nav = document.getElementById("nav");
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const [name, ...rest] = path.split("/");
  let arg = "";
  try { arg = rest.length ? decodeURIComponent(rest.join("/")) : ""; } catch { arg = ""; }
  if (!me || (!me.open && !me.role)) { nav.replaceChildren(); renderLogin(view, me && me.rejected); return; }
  const views = VIEWS.filter((v) => can(v.op));
  const current = name === "entity" ? { id: "entity", render: renderEntity } : views.find((v) => v.id === name) || views[0];
  nav.replaceChildren(...views.map((v) => h("a", { href: "#/" + v.id, class: v === current ? "active" : null }, t(v.id))));
  if (current) await current.render(view, arg, new URLSearchParams(query || ""));
}

async function start() {
  try {
    me = await api("/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) sessionStorage.removeItem("ckn.key"); // not accepted
    me = { open: false, role: null, allowed: [], rejected: error.status === 401 };
    if (!me.rejected) { document.getElementById("view").replaceChildren(failure(error)); return; }
  }
  await route();
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("ckn.lang", lang); route(); });
  document.getElementById("logout").addEventListener("click", () => { sessionStorage.removeItem("ckn.key"); me = null; start(); });
  start();
});
