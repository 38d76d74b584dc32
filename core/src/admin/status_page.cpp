#include "admin/status_page.hpp"

namespace invalidator::admin {

std::string_view status_page() {
  // Inline, whole: an operator's browser may reach this endpoint and nothing else.
  static constexpr std::string_view page = R"page(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Invalidator status</title>
<style>
  :root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --line: #8c959f; --fg: #1f2328; --muted: #656d76; --card: #f6f8fa; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: #fff; }
  header { display: flex; gap: 1em; align-items: baseline; padding: 0.8em 1.2em; border-bottom: 1px solid #d0d7de; }
  header h1 { font-size: 1.3em; margin: 0; }
  .badge { padding: 0.1em 0.6em; border-radius: 1em; color: #fff; background: var(--muted); font-weight: 600; }
  .badge.ready { background: var(--ok); }
  .badge.not-ready, .badge.unreachable { background: var(--bad); }
  .muted { color: var(--muted); }
  main { padding: 1em 1.2em; }
  #totals { display: flex; flex-wrap: wrap; gap: 0.8em; margin-bottom: 1.2em; }
  .total { background: var(--card); border: 1px solid #d0d7de; border-radius: 6px; padding: 0.5em 0.9em; min-width: 9em; }
  .total .value { font-size: 1.4em; font-weight: 600; font-variant-numeric: tabular-nums; }
  #graph { position: relative; display: grid; grid-template-columns: repeat(3, minmax(14em, 1fr)); gap: 4em; }
  #edges { position: absolute; inset: 0; width: 100%; height: 100%; pointer-events: none; overflow: visible; }
  #edges path { fill: none; stroke: var(--line); stroke-width: 1.5; }
  .column h2 { font-size: 1em; color: var(--muted); text-transform: uppercase; letter-spacing: 0.05em; margin: 0 0 0.5em; }
  .node { position: relative; background: var(--card); border: 1px solid #d0d7de; border-left: 4px solid var(--ok); border-radius: 6px; padding: 0.5em 0.8em; margin-bottom: 1em; }
  .node.not-ready { border-left-color: var(--bad); }
  .node.route { border-left-color: var(--line); }
  .node .title { font-weight: 600; }
  .node .reason { color: var(--bad); font-size: 0.9em; }
  .field { display: flex; justify-content: space-between; gap: 1em; font-size: 0.92em; }
  .field .value { font-variant-numeric: tabular-nums; }
  .field.alarm .value { color: var(--bad); font-weight: 600; }
  #errors { padding-left: 1.2em; font-family: ui-monospace, monospace; font-size: 0.88em; }
  #errors li.error, #errors li.critical { color: var(--bad); }
  #errors li.warning { color: var(--warn); }
</style>
</head>
<body>
<header>
  <h1>Invalidator</h1>
  <span id="state" class="badge">connecting</span>
  <span id="version" class="muted"></span>
  <span class="muted">updated <span id="updated">never</span></span>
</header>
<main>
  <section id="totals" aria-label="totals"></section>
  <section id="graph" aria-label="pipeline">
    <svg id="edges" aria-hidden="true"></svg>
    <div class="column" id="sources"><h2>Sources</h2></div>
    <div class="column" id="routes"><h2>Routes</h2></div>
    <div class="column" id="sinks"><h2>Sinks</h2></div>
  </section>
  <section aria-label="last warnings and errors">
    <h2>Last warnings and errors</h2>
    <p id="no-errors" class="muted">None.</p>
    <ol id="errors"></ol>
  </section>
</main>
<script>
"use strict";
(function () {
  const requested = Number(new URLSearchParams(location.search).get("interval"));
  const interval = requested >= 100 ? requested : 1000;
  const statusUrl = new URL("status", location.href);
  let previous = null;  // the last answer and when it came, for rates

  function count(n) { return Number(n).toLocaleString("en-US"); }
  function perSecond(r) { return r < 10 ? r.toFixed(1) : Math.round(r).toLocaleString("en-US"); }
  function duration(seconds, observed) {
    if (!observed) return "\u2014";
    return seconds < 1 ? (seconds * 1000).toFixed(1) + " ms" : seconds.toFixed(2) + " s";
  }
  function lagText(lag) {
    if (lag.length === 0) return "\u2014";
    const byUnit = {};
    for (const stream of lag) byUnit[stream.unit] = (byUnit[stream.unit] || 0) + stream.lag;
    return Object.keys(byUnit).map(function (unit) { return count(byUnit[unit]) + " " + unit; }).join(", ");
  }

  // Nodes and fields are made once and updated in place, so the page does not flicker.
  function child(parent, selector, make) {
    let found = parent.querySelector(selector);
    if (!found) { found = make(); parent.appendChild(found); }
    return found;
  }
  // A new element: its tag, class, data attributes, text and children.
  function element(tag, className, data, text, children) {
    const made = document.createElement(tag);
    made.className = className;
    Object.assign(made.dataset, data || {});
    if (text !== undefined) made.textContent = text;
    for (const item of children || []) made.appendChild(item);
    return made;
  }
  function node(column, kind, id) {
    return child(column, '.node[data-id="' + CSS.escape(id) + '"]', function () {
      return element("div", "node " + kind, { kind: kind, id: id }, undefined, [element("div", "title", {}, id)]);
    });
  }
  function setField(parent, name, label, text, alarm) {
    const field = child(parent, '.field[data-field="' + name + '"]', function () {
      return element("div", "field", { field: name }, undefined,
                     [element("span", "label muted", {}, label), element("span", "value")]);
    });
    field.querySelector(".value").textContent = text;
    field.classList.toggle("alarm", Boolean(alarm));
  }
  function setReason(parent, reason) {
    const line = child(parent, ".reason", function () { return element("div", "reason"); });
    line.textContent = reason;
    line.hidden = reason === "";
  }
  function keepOnly(column, ids) {
    for (const stale of Array.from(column.querySelectorAll(".node"))) {
      if (!ids.includes(stale.dataset.id)) stale.remove();
    }
  }
  function byId(items) {
    const found = {};
    for (const item of items) found[item.id] = item;
    return found;
  }
  function rate(now, before, seconds) {
    return before === undefined || seconds <= 0 ? 0 : Math.max(0, (now - before) / seconds);
  }

  function render(status, seconds, last) {
    const state = document.getElementById("state");
    state.textContent = status.ready ? "ready" : "not ready";
    state.className = "badge " + (status.ready ? "ready" : "not-ready");
    document.getElementById("version").textContent = "version " + status.version;
    document.getElementById("updated").textContent = status.time;

    const totals = document.getElementById("totals");
    const lastTotals = last ? last.totals : {};
    const figures = [
      ["events", "events/s", perSecond(rate(status.totals.messages, lastTotals.messages, seconds))],
      ["delivered", "invalidations/s", perSecond(rate(status.totals.delivered, lastTotals.delivered, seconds))],
      ["dead_lettered", "dead-lettered", count(status.totals.dead_lettered)],
      ["retries", "retries", count(status.totals.retries)],
      ["acknowledged", "acknowledged", count(status.totals.acknowledged)],
      ["queued", "queued to decode", count(status.totals.decode_queue_depth)],
    ];
    for (const [name, label, text] of figures) {
      const box = child(totals, '.total[data-total="' + name + '"]', function () {
        return element("div", "total", { total: name }, undefined,
                       [element("div", "value"), element("div", "muted", {}, label)]);
      });
      box.querySelector(".value").textContent = text;
    }

    const sources = document.getElementById("sources");
    const lastSources = byId(last ? last.sources : []);
    for (const source of status.sources) {
      const box = node(sources, "source", source.id);
      box.classList.toggle("not-ready", !source.ready);
      const before = lastSources[source.id];
      setField(box, "state", "state", source.state, !source.ready);
      setField(box, "rate", "events/s", perSecond(rate(source.received, before && before.received, seconds)));
      setField(box, "received", "received", count(source.received));
      setField(box, "skipped", "skipped", count(source.skipped));
      setField(box, "undecodable", "undecodable", count(source.undecodable), source.undecodable > 0);
      setField(box, "lag", "lag", lagText(source.lag));
      setReason(box, source.reason);
    }
    keepOnly(sources, status.sources.map(function (s) { return s.id; }));

    const routes = document.getElementById("routes");
    for (const route of status.routes) {
      const box = node(routes, "route", route.name);
      box.dataset.from = route.from.join(" ");
      box.dataset.to = route.to.join(" ");
      setField(box, "table", route.action, route.table);
      setField(box, "matched", "matched", count(route.matched));
      setField(box, "unrendered", "keys not rendered", count(route.unrendered), route.unrendered > 0);
    }
    keepOnly(routes, status.routes.map(function (r) { return r.name; }));

    const sinks = document.getElementById("sinks");
    const lastSinks = byId(last ? last.sinks : []);
    for (const sink of status.sinks) {
      const box = node(sinks, "sink", sink.id);
      box.classList.toggle("not-ready", !sink.ready);
      const before = lastSinks[sink.id];
      setField(box, "rate", "invalidations/s", perSecond(rate(sink.delivered, before && before.delivered, seconds)));
      setField(box, "delivered", "delivered", count(sink.delivered));
      setField(box, "dead_lettered", "dead-lettered", count(sink.dead_lettered), sink.dead_lettered > 0);
      setField(box, "retries", "retries", count(sink.retries), !sink.ready);
      setField(box, "queued", "queued", count(sink.queued));
      setField(box, "p50", "staleness p50", duration(sink.staleness_p50_seconds, sink.staleness_observations));
      setField(box, "p99", "staleness p99", duration(sink.staleness_p99_seconds, sink.staleness_observations));
      setReason(box, sink.reason);
    }
    keepOnly(sinks, status.sinks.map(function (s) { return s.id; }));

    drawEdges(status.routes);

    const errors = document.getElementById("errors");
    errors.replaceChildren();
    for (const entry of status.errors.slice().reverse()) {
      const item = document.createElement("li");
      item.className = entry.level;
      item.textContent = entry.time + " " + entry.level + " " + entry.message;
      errors.appendChild(item);
    }
    document.getElementById("no-errors").hidden = status.errors.length > 0;
  }

  function drawEdges(routes) {
    const svg = document.getElementById("edges");
    const origin = document.getElementById("graph").getBoundingClientRect();
    const paths = [];
    function find(kind, id) {
      return document.querySelector('.node[data-kind="' + kind + '"][data-id="' + CSS.escape(id) + '"]');
    }
    function connect(from, to) {
      if (!from || !to) return;
      const a = from.getBoundingClientRect();
      const b = to.getBoundingClientRect();
      const x1 = a.right - origin.left, y1 = a.top + a.height / 2 - origin.top;
      const x2 = b.left - origin.left, y2 = b.top + b.height / 2 - origin.top;
      const bend = (x2 - x1) / 2;
      paths.push("M" + x1 + "," + y1 + " C" + (x1 + bend) + "," + y1 + " " + (x2 - bend) + "," + y2 + " " + x2 + "," + y2);
    }
    for (const route of routes) {
      const routeNode = find("route", route.name);
      for (const source of route.from) connect(find("source", source), routeNode);
      for (const sink of route.to) connect(routeNode, find("sink", sink));
    }
    svg.replaceChildren();
    for (const d of paths) {
      const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    }
  }

  async function poll() {
    let status = null;
    try {
      const answer = await fetch(statusUrl, { cache: "no-store" });
      if (!answer.ok) throw new Error("status answered " + answer.status);
      status = await answer.json();
    } catch (error) {
      const state = document.getElementById("state");
      state.textContent = "admin endpoint unreachable";
      state.className = "badge unreachable";
    }
    // Polling goes on whatever happens below; an error drawing the page is left uncaught, for
    // the browser's console to show.
    setTimeout(poll, interval);
    if (status === null) return;
    const now = performance.now();
    const seconds = previous ? (now - previous.at) / 1000 : 0;
    render(status, seconds, previous && previous.status);
    previous = { status: status, at: now };
  }
  window.addEventListener("resize", function () { if (previous) drawEdges(previous.status.routes); });
  poll();
})();
</script>
</body>
</html>
)page";
  return page;
}

}  // namespace invalidator::admin
