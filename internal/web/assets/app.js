// Switchyard dashboard: plain JavaScript and SVG, no library, no build step.
"use strict";

const state = {
  show: null,        // GET /api/show
  tunnels: [],       // GET /api/tunnels
  history: {},       // port → [{t, pps}] for the charts
  latest: {},        // port → latest PortSample
  events: [],
  maxHistory: 120,
};

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k.nodeType ? k : document.createTextNode(String(k)));
  return e;
};
const svgNS = "http://www.w3.org/2000/svg";
const sv = (tag, attrs, text) => {
  const e = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
};

function fmt(n) {
  if (n === undefined || n === null) return "-";
  if (n < 1000) return (Math.round(n * 10) / 10).toString();
  const u = ["k", "M", "G", "T"];
  let i = -1;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return n.toFixed(n < 10 ? 2 : 1) + u[i];
}

async function getJSON(url, opts) {
  const r = await fetch(url, Object.assign({ credentials: "same-origin" }, opts || {}));
  const body = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function post(url, data) {
  return getJSON(url, { method: "POST", headers: { "Content-Type": "application/json", "X-Switchyard": "1" }, body: JSON.stringify(data || {}) });
}

// Tabs.
function showTab(name) {
  document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t.id === name));
  document.querySelectorAll("#tabs a").forEach((a) => a.classList.toggle("active", a.dataset.tab === name));
  if (name === "fdb") loadFDB();
  if (name === "flows") loadFlows();
  if (name === "tunnels") renderTunnels();
}

function portsOf(show) {
  const l = [];
  for (const b of show.bridges) for (const p of b.ports) l.push({ bridge: b.name, p });
  return l;
}

// Header summary.
function renderSummary() {
  const s = state.show;
  if (!s) return;
  const ports = portsOf(s);
  const up = ports.filter((x) => x.p.status === "up").length;
  let pps = 0, drops = 0;
  for (const v of Object.values(state.latest)) { pps += v.rx_pps; drops += v.drops_ps; }
  $("#summary").textContent = `${s.bridges.length} bridges · ${up}/${ports.length} ports up · ${fmt(pps)} pkt/s in` +
    (drops > 0 ? ` · ${fmt(drops)} drops/s` : "") + ` · config revision ${s.revision}`;
}

// Topology: VMs left, bridges in the middle, remote VTEPs right, patch
// links between bridges.
function renderTopology() {
  const s = state.show;
  const box = $("#topology");
  box.textContent = "";
  if (!s || s.bridges.length === 0) { box.append(el("p", { class: "hint", text: "no bridges (switchyard bridge add NAME)" })); return; }
  const W = 980, vmX = 20, vmW = 190, brX = 330, brW = 220, rmX = 760, rmW = 190, row = 30;
  let y = 16;
  const layout = [];
  const patchAt = {};
  const remoteRows = [];
  for (const b of s.bridges) {
    const left = b.ports.filter((p) => !p.tunnel && p.type !== "patch");
    const right = b.ports.filter((p) => p.tunnel || p.type === "patch");
    let rightRows = 0;
    for (const p of right) rightRows += p.tunnel ? Math.max(1, remotesOf(p.name).length) : 1;
    const rows = Math.max(left.length, rightRows, 1);
    const h = rows * row + 34;
    layout.push({ b, y, h, left, right });
    y += h + 26;
  }
  const H = y;
  const svg = sv("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "topology" });
  const linkW = (port) => { const v = state.latest[port]; return v && v.rx_pps + v.tx_pps > 0.5 ? 3.5 : 1.2; };
  const color = (st) => st === "up" ? "#1f9d55" : st === "error" ? "#d64545" : "#9aa5b1";
  for (const L of layout) {
    const g = sv("g", { class: "bridge", "data-bridge": L.b.name });
    g.append(sv("rect", { x: brX, y: L.y, width: brW, height: L.h, rx: 8, fill: "#eef3fb", stroke: "#2f6fdb", "stroke-width": 1.5 }));
    g.append(sv("text", { x: brX + brW / 2, y: L.y + 18, "text-anchor": "middle", "font-weight": 600 }, L.b.name));
    g.append(sv("text", { x: brX + brW / 2, y: L.y + 32, "text-anchor": "middle", class: "small" },
      `FDB ${L.b.fdb.entries}/${L.b.max_learned} · ${L.b.rules} rules`));
    L.left.forEach((p, i) => {
      const py = L.y + 42 + i * row;
      // The VM box: its NIC's port, and where it lives.
      const vmLabel = p.name;
      const vmSub = p.netns ? `${p.type} · ${p.netns}` : (p.type === "internal" ? "host (internal)" : p.type);
      g.append(sv("line", { x1: vmX + vmW, y1: py, x2: brX, y2: py, stroke: color(p.status), "stroke-width": linkW(p.name) }));
      g.append(sv("rect", { x: vmX, y: py - 12, width: vmW, height: 24, rx: 4, fill: "#fff", stroke: "#b8c2cc" }));
      g.append(sv("text", { x: vmX + 8, y: py + 4 }, vmLabel));
      g.append(sv("text", { x: vmX + vmW - 6, y: py + 4, "text-anchor": "end", class: "small" }, vmSub));
      g.append(sv("circle", { cx: brX, cy: py, r: 5, fill: color(p.status), "data-port": p.name }));
      const vl = p.vlan ? `vlan ${p.vlan}` : (p.trunks ? `trunk ${p.trunks}` : "");
      if (vl) g.append(sv("text", { x: brX + 9, y: py + 4, class: "small" }, vl));
    });
    let ri = 0;
    for (const p of L.right) {
      const py = L.y + 42 + ri * row;
      const px = brX + brW;
      g.append(sv("circle", { cx: px, cy: py, r: 5, fill: color(p.status), "data-port": p.name }));
      g.append(sv("text", { x: px - 9, y: py + 4, "text-anchor": "end", class: "small" }, p.name));
      if (p.type === "patch") {
        patchAt[p.name] = { x: px, y: py, status: p.status, peer: p.peer };
        ri++;
        continue;
      }
      const rs = remotesOf(p.name);
      const t = p.tunnel;
      const vni = t.vni_map ? `VNI map ${t.vni_map}` : `VNI ${t.vni}`;
      if (rs.length === 0) {
        g.append(sv("text", { x: px + 14, y: py + 4, class: "small" }, `${p.type} ${vni} → group ${t.group || "?"}`));
        ri++;
      }
      rs.forEach((r, k) => {
        const ry = L.y + 42 + (ri + k) * row;
        const up = r.probed ? (r.up ? "#1f9d55" : "#d64545") : color(p.status);
        g.append(sv("path", { d: `M${px},${py} C${px + 90},${py} ${rmX - 90},${ry} ${rmX},${ry}`, fill: "none", stroke: up,
          "stroke-width": linkW(p.name), "stroke-dasharray": "6 4" }));
        g.append(sv("rect", { x: rmX, y: ry - 12, width: rmW, height: 24, rx: 12, fill: "#fff", stroke: up }));
        g.append(sv("text", { x: rmX + 12, y: ry + 4 }, r.addr));
        g.append(sv("text", { x: rmX + rmW - 10, y: ry + 4, "text-anchor": "end", class: "small" },
          `${r.configured ? "" : "learned, "}${r.macs} MACs`));
        if (k === 0) g.append(sv("text", { x: px + 12, y: py - 8, class: "small" }, `${p.type} ${vni}`));
      });
      ri += Math.max(1, rs.length);
    }
    svg.append(g);
  }
  // Patch links: a curve from each end to its peer (drawn once).
  const drawn = {};
  for (const [name, a] of Object.entries(patchAt)) {
    const b = patchAt[a.peer];
    if (!b || drawn[name]) continue;
    drawn[name] = drawn[a.peer] = true;
    const bulge = 70 + Math.abs(b.y - a.y) / 6;
    svg.append(sv("path", { d: `M${a.x},${a.y} C${a.x + bulge},${a.y} ${b.x + bulge},${b.y} ${b.x},${b.y}`, fill: "none",
      stroke: a.status === "up" && b.status === "up" ? "#2f6fdb" : "#9aa5b1", "stroke-width": Math.max(linkW(name), 1.5), class: "patch-link" }));
    svg.append(sv("text", { x: a.x + bulge * 0.8, y: (a.y + b.y) / 2 + 4, class: "small" }, "patch"));
  }
  box.append(svg);
}

function remotesOf(port) {
  const t = state.tunnels.find((x) => x.port === port);
  return t ? t.remotes : [];
}

// Sparkline of a port's packets per second.
function spark(port) {
  const h = state.history[port] || [];
  const W = 120, H = 24;
  const svg = sv("svg", { width: W, height: H, class: "spark" });
  if (h.length < 2) return svg;
  const max = Math.max(1, ...h.map((x) => x.pps));
  // The newest sample at the right edge; older ones to its left.
  const xOf = (i) => W - (h.length - 1 - i) * (W / (state.maxHistory - 1));
  const pts = h.map((x, i) => `${xOf(i).toFixed(1)},${(H - 2 - (x.pps / max) * (H - 4)).toFixed(1)}`).join(" ");
  svg.append(sv("rect", { x: 0, y: 0, width: W, height: H, fill: "#f7f9fb" }));
  svg.append(sv("polyline", { points: pts, fill: "none", stroke: "#2f6fdb", "stroke-width": 1.5 }));
  const d = h.map((x, i) => x.drops > 0 ? `${xOf(i)},${H - 2}` : null).filter(Boolean);
  for (const p of d) { const [x, y] = p.split(","); svg.append(sv("circle", { cx: x, cy: y, r: 1.8, fill: "#d64545" })); }
  return svg;
}

function renderPorts() {
  const tb = $("#ports tbody");
  if (!state.show) return;
  const rows = [];
  for (const { bridge, p } of portsOf(state.show)) {
    const v = state.latest[p.name] || {};
    const st = p.stats || { drops: {} };
    const drops = el("td", { class: "drops" });
    const rates = v.drop_rates || {};
    const reasons = Object.keys(st.drops || {}).sort();
    for (const r of reasons) {
      drops.append(el("span", { class: "drop" + (rates[r] > 0 ? " active" : ""), "data-reason": r, title: rates[r] > 0 ? `${fmt(rates[r])}/s now` : "" },
        `${r} ${fmt(st.drops[r])}`));
    }
    if (reasons.length === 0) drops.append("-");
    const chart = el("td");
    chart.append(spark(p.name));
    const tr = el("tr", { "data-port": p.name, "data-bridge": bridge, class: v.drops_ps > 0 ? "dropping" : "" },
      el("td", { text: bridge }), el("td", { text: p.name }), el("td", { text: p.type }),
      el("td", {}, el("span", { class: "status " + p.status, title: p.reason || "" }, p.status)),
      el("td", { class: "num rx-pps", text: fmt(v.rx_pps || 0) }), el("td", { class: "num tx-pps", text: fmt(v.tx_pps || 0) }),
      el("td", { class: "num rx-bps", text: fmt(v.rx_bps || 0) }), el("td", { class: "num tx-bps", text: fmt(v.tx_bps || 0) }),
      chart,
      el("td", { class: "num rx-total", text: String(v.rx_packets !== undefined ? v.rx_packets : st.rx_packets) }),
      el("td", { class: "num tx-total", text: String(v.tx_packets !== undefined ? v.tx_packets : st.tx_packets) }),
      drops);
    rows.push(tr);
  }
  tb.replaceChildren(...rows);
}

function renderBridges() {
  const tb = $("#bridges tbody");
  if (!state.show) return;
  tb.replaceChildren(...state.show.bridges.map((b) => {
    const c = b.cache, f = b.fdb;
    const hr = c.hits + c.misses > 0 ? (100 * c.hits / (c.hits + c.misses)).toFixed(1) + "%" : "-";
    const full = f.entries - f.static >= b.max_learned;
    return el("tr", { "data-bridge": b.name, class: full || f.refused > 0 ? "dropping" : "" },
      el("td", { text: b.name }), el("td", { class: "num", text: b.ports.length }),
      el("td", { class: "num", text: `${f.entries}/${b.max_learned}` }), el("td", { class: "num", text: f.learned }),
      el("td", { class: "num", text: f.moved }), el("td", { class: "num", text: f.aged }), el("td", { class: "num", text: f.evicted }),
      el("td", { class: "num", text: f.refused }), el("td", { class: "num", text: `${c.entries}/${c.max}` }),
      el("td", { class: "num", text: hr }), el("td", { class: "num", text: b.rules }));
  }));
}

function fillBridgeSelects() {
  if (!state.show) return;
  for (const id of ["#fdb-bridge", "#flow-bridge", "#trace-bridge"]) {
    const s = $(id);
    const cur = s.value;
    s.replaceChildren(...state.show.bridges.map((b) => el("option", { value: b.name, text: b.name })));
    if (cur && state.show.bridges.some((b) => b.name === cur)) s.value = cur;
  }
}

let fdbTimer = null;
async function loadFDB() {
  const br = $("#fdb-bridge").value;
  if (!br) return;
  const q = $("#fdb-search").value;
  try {
    const r = await fetch(`/api/fdb?bridge=${encodeURIComponent(br)}&q=${encodeURIComponent(q)}`, { credentials: "same-origin" });
    const l = await r.json();
    if (!r.ok) throw new Error(l.error || r.statusText);
    const total = Number(r.headers.get("X-Total-Count") || l.length);
    $("#fdb-table tbody").replaceChildren(...l.map((e) => el("tr", { "data-mac": e.mac },
      el("td", { class: "num", text: e.vlan }), el("td", { text: e.mac }), el("td", { text: e.port }),
      el("td", { text: e.remote || "-" }), el("td", { text: e.type }), el("td", { class: "num", text: e.type === "static" ? "-" : e.age }))));
    $("#fdb-count").textContent = total > l.length ? `showing ${l.length} of ${total} entries${q ? " that match" : ""} (search to narrow)` : `${l.length} entries${q ? " match" : ""}`;
  } catch (err) { $("#fdb-count").textContent = err.message; }
}

function renderTunnels() {
  const box = $("#tunnel-list");
  if (state.tunnels.length === 0) { box.replaceChildren(el("p", { class: "hint", text: "no tunnel ports" })); return; }
  box.replaceChildren(...state.tunnels.map((t) => {
    const d = el("div", { class: "tunnel", "data-tunnel": t.port });
    d.append(el("h3", {}, `${t.port} on ${t.bridge} `, el("span", { class: "status " + t.status }, t.status)));
    d.append(el("div", { class: "hint", text: `${t.encap} from ${t.local}` + (t.vni_map ? ` · VNI map ${t.vni_map}` : ` · VNI ${t.vni}`) +
      (t.group ? ` · group ${t.group}` : "") + (t.mtu ? ` · underlay MTU ${t.mtu}, overhead ${t.overhead}, VM MTU ${t.vm_mtu}` : "") }));
    const tbl = el("table", { class: "grid" }, el("thead", {}, el("tr", {}, ...["remote VTEP", "how", "MACs behind it", "probe"].map((h) => el("th", { text: h })))));
    const tb = el("tbody");
    for (const r of t.remotes) {
      const probe = r.probed ? (r.up ? el("span", { class: "ok", text: `answers (${(r.rtt_us / 1000).toFixed(2)} ms)` }) : el("span", { class: "bad", text: `no answer: ${r.probe_error || ""}` })) : el("span", { class: "hint", text: "not probed" });
      tb.append(el("tr", { "data-remote": r.addr }, el("td", { text: r.addr }), el("td", { text: r.configured ? "configured" : "learned" }),
        el("td", { class: "num", text: r.macs }), el("td", {}, probe)));
    }
    tbl.append(tb);
    d.append(tbl);
    return d;
  }));
}

async function runDoctor() {
  const box = $("#doctor");
  box.replaceChildren(el("p", { class: "hint", text: "probing…" }));
  try {
    const r = await post("/api/doctor");
    const items = [el("h3", { text: r.healthy ? "doctor: healthy" : `doctor: ${r.findings.length} findings` })];
    for (const f of r.findings) {
      const d = el("div", { class: "finding " + f.severity }, el("strong", { text: f.problem }));
      if (f.explain) d.append(el("div", { text: f.explain }));
      if (f.fix) d.append(el("pre", { text: f.fix }));
      items.push(d);
    }
    box.replaceChildren(...items);
    state.tunnels = await getJSON("/api/tunnels");
    renderTunnels();
    renderTopology();
  } catch (err) { box.replaceChildren(el("div", { class: "error-box", text: err.message })); }
}

function eventRow(e) {
  return el("tr", { "data-seq": e.seq, "data-kind": e.kind }, el("td", { text: new Date(e.time).toLocaleTimeString() }),
    el("td", {}, el("span", { class: "sev " + e.severity, text: e.severity })), el("td", { text: e.kind }), el("td", { class: "wrap", text: e.message }));
}

function renderEvents() {
  const k = $("#event-kind").value.trim();
  const l = state.events.filter((e) => !k || e.kind === k || e.kind.startsWith(k.replace(/\.$/, "") + "."));
  $("#event-table tbody").replaceChildren(...l.slice().reverse().slice(0, 300).map(eventRow));
}

async function loadFlows() {
  const br = $("#flow-bridge").value;
  if (!br) return;
  try {
    const r = await getJSON(`/api/flows?bridge=${encodeURIComponent(br)}`);
    $("#flow-table tbody").replaceChildren(...(r.flows || []).map((f) => el("tr", {},
      el("td", { class: "num", text: f.table }), el("td", { class: "num", text: f.priority }), el("td", { class: "num", text: f.n_packets }),
      el("td", { class: "num", text: f.n_bytes }), el("td", { class: "num", text: f.idle_age }), el("td", { class: "wrap", text: f.match || "(any)" }),
      el("td", { class: "wrap", text: f.actions }))));
    $("#dpflow-table tbody").replaceChildren(...(r.datapath || []).map((f) => el("tr", {},
      el("td", { class: "wrap", text: f.match }), el("td", { class: "wrap", text: f.actions }), el("td", { class: "num", text: f.packets }),
      el("td", { class: "num", text: f.bytes }), el("td", { class: "num", text: f.used_s < 0 ? "never" : f.used_s.toFixed(1) }))));
  } catch (err) { $("#flow-table tbody").replaceChildren(el("tr", {}, el("td", { class: "error-box", text: err.message }))); }
}

function traceTree(n) {
  const li = el("li");
  const kind = (n.kind || "").toLowerCase();
  li.append(el("span", { class: "node k-" + kind.replace(/[^a-z]/g, "") }, el("span", { class: "kind", text: n.kind }), n.text));
  if (n.children && n.children.length) {
    const ul = el("ul");
    for (const c of n.children) ul.append(traceTree(c));
    li.append(ul);
  }
  return li;
}

async function runTrace(ev) {
  ev.preventDefault();
  const out = $("#trace-result");
  try {
    const r = await post("/api/trace", { bridge: $("#trace-bridge").value, flow: $("#trace-flow").value });
    const tree = el("ul", { class: "tree" });
    if (r.root) tree.append(traceTree(r.root));
    const outs = el("div", { class: "outputs" }, el("strong", { text: "result: " }));
    for (const o of r.outputs || []) {
      outs.append(el("span", { class: o.drop ? "dropped" : "", text: o.drop ? `drop (${o.drop})` :
        `${o.bridge ? o.bridge + "/" : ""}${o.port}${o.vlan >= 0 ? " vlan " + o.vlan : ""}${o.vni ? " vni " + o.vni : ""}${o.remote ? " → " + o.remote : ""}` }));
    }
    if (!r.outputs || r.outputs.length === 0) outs.append(el("span", { class: "dropped", text: "nowhere" }));
    const items = [outs, tree];
    if (r.megaflow) items.push(el("p", { class: "hint", text: "megaflow: " + r.megaflow }));
    out.replaceChildren(...items);
  } catch (err) { out.replaceChildren(el("div", { class: "error-box", text: err.message })); }
}

function addSample(smp) {
  for (const p of smp.ports) {
    state.latest[p.port] = p;
    const h = state.history[p.port] || (state.history[p.port] = []);
    h.push({ t: smp.time, pps: p.rx_pps + p.tx_pps, drops: p.drops_ps });
    if (h.length > state.maxHistory) h.shift();
  }
}

async function refresh() {
  try {
    const [show, tunnels] = await Promise.all([getJSON("/api/show"), getJSON("/api/tunnels")]);
    state.show = show;
    state.tunnels = tunnels;
    fillBridgeSelects();
    renderTopology();
    renderBridges();
    renderPorts();
    renderSummary();
    if ($("#tunnels").classList.contains("active")) renderTunnels();
  } catch (err) { $("#summary").textContent = "cannot reach the daemon: " + err.message; }
}

function connect() {
  const es = new EventSource("/api/stream");
  es.onopen = () => { $("#live").className = "live on"; };
  es.onerror = () => { $("#live").className = "live off"; };
  es.addEventListener("rates", (m) => {
    const smp = JSON.parse(m.data);
    addSample(smp);
    // Counters come with the sample: keep the table's totals in step.
    if (state.show) {
      for (const b of state.show.bridges) for (const p of b.ports) {
        const v = state.latest[p.name];
        if (v) { p.stats.rx_packets = v.rx_packets; p.stats.tx_packets = v.tx_packets; p.stats.drops = v.drops || {}; p.status = v.status; }
      }
    }
    renderPorts();
    renderSummary();
    document.body.dataset.samples = String((Number(document.body.dataset.samples) || 0) + 1);
  });
  es.addEventListener("event", (m) => {
    const e = JSON.parse(m.data);
    state.events.push(e);
    if (state.events.length > 1000) state.events.shift();
    renderEvents();
    if (e.kind.startsWith("port.") || e.kind.startsWith("config.") || e.kind.startsWith("tunnel.")) refresh();
  });
}

async function start() {
  document.querySelectorAll("#tabs a").forEach((a) => a.addEventListener("click", (ev) => { ev.preventDefault(); showTab(a.dataset.tab); history.replaceState(null, "", "#" + a.dataset.tab); }));
  $("#fdb-bridge").addEventListener("change", loadFDB);
  $("#fdb-search").addEventListener("input", () => { clearTimeout(fdbTimer); fdbTimer = setTimeout(loadFDB, 200); });
  $("#flow-bridge").addEventListener("change", loadFlows);
  $("#flow-refresh").addEventListener("click", loadFlows);
  $("#trace-form").addEventListener("submit", runTrace);
  $("#probe").addEventListener("click", runDoctor);
  $("#event-kind").addEventListener("input", renderEvents);
  try {
    const hist = await getJSON("/api/rates");
    for (const smp of hist) addSample(smp);
    state.events = await getJSON("/api/events");
  } catch (err) { /* shown by refresh */ }
  await refresh();
  renderEvents();
  connect();
  setInterval(refresh, 5000);
  const tab = location.hash.replace("#", "");
  if (tab && document.getElementById(tab)) showTab(tab);
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", start);
