// Loupe web viewer: live rows on the session list; on a session page the
// analysis fragment, the virtualised event panel and live updates.
// Trace content only ever reaches the DOM through textContent (the analysis
// fragment is HTML the server escaped).
(function () {
  "use strict";

  var ROW_HEIGHT = 24;   // keep in sync with .ev-row in viewer.css
  var PAGE_SIZE = 500;   // events per request
  var OVERSCAN = 8;      // rows rendered beyond each edge of the viewport
  var ANALYSIS_EVERY_MS = 3000;

  var pageKey = new URLSearchParams(location.search).get("key");

  // Adds the page's read key to a URL the page built itself.
  function withKey(url) {
    if (!pageKey || url.indexOf("key=") >= 0) { return url; }
    return url + (url.indexOf("?") >= 0 ? "&" : "?") + "key=" + encodeURIComponent(pageKey);
  }
  function addParams(url, params) {
    var sep = url.indexOf("?") >= 0 ? "&" : "?";
    return url + sep + params;
  }

  // Same formats as loupe-report's human_tokens / human_duration_ms.
  function tokens(n) {
    n = Number(n) || 0;
    if (n < 1000) { return String(n); }
    if (n < 1000000) { return (n / 1000).toFixed(1) + "K"; }
    return (n / 1000000).toFixed(1) + "M";
  }
  function duration(ms) {
    if (ms === undefined || ms === null) { return ""; }
    if (!isFinite(ms) || ms < 0) { return "-"; }
    if (ms < 1000) { return Math.round(ms) + "ms"; }
    if (ms < 60000) { return (ms / 1000).toFixed(1) + "s"; }
    if (ms < 3600000) { var s = Math.round(ms / 1000); return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s"; }
    var m = Math.round(ms / 60000);
    return Math.floor(m / 60) + "h" + String(m % 60).padStart(2, "0") + "m";
  }
  function usd(v) {
    v = Number(v) || 0;
    if (v === 0) { return "$0"; }
    return "$" + (v < 0.01 ? v.toFixed(4) : v.toFixed(2));
  }
  function percent(r) { return Math.round((Number(r) || 0) * 100) + "%"; }

  // The displayed value of each metric of a SessionRow (list columns and cards).
  function metricText(row, name) {
    var m = row.metrics || {};
    switch (name) {
      case "task": return row.task || "";
      case "agent": return row.agent_name || "";
      case "model": return row.model || "";
      case "status": return row.status || "";
      case "started": return row.started_at ? String(row.started_at).slice(0, 19).replace("T", " ") : "";
      case "duration": case "duration_ms": return duration(row.duration_ms);
      // null: the session does not report it (unknown, never 0), as the page says.
      case "input_tokens": case "output_tokens": return m[name] == null ? "\u2014" : tokens(m[name]);
      case "cache_hit_rate": return m.cache_hit_rate == null ? "\u2014" : percent(m.cache_hit_rate);
      // At least: calls to unpriced models are not in it (as the page says).
      case "cost_usd":
        if (m.cost_usd == null) { return m.unpriced_models && m.unpriced_models.length ? "unpriced" : "\u2014"; }
        return (m.unpriced_models && m.unpriced_models.length ? "\u2265 " : "") + usd(m.cost_usd);
      case "score": return row.efficiency_score === undefined ? "" : String(Math.round(row.efficiency_score));
      case "efficiency_score": return row.efficiency_score === undefined ? "" : Math.round(row.efficiency_score) + "/100";
      default: return m[name] === undefined ? "" : String(m[name]);
    }
  }
  function hasErrors(row) { var m = row.metrics || {}; return (m.errors || 0) > 0 || (m.tool_errors || 0) > 0; }

  function setBadge(el, status) {
    el.textContent = status;
    el.className = "badge " + status;
  }

  // ---- Session list -------------------------------------------------------
  var LIST_COLUMNS = ["agent", "model", "status", "started", "duration", "llm_calls", "tool_calls",
    "errors", "input_tokens", "output_tokens", "cache_hit_rate", "cost_usd", "score"];

  function fillRow(tr, row) {
    tr.className = "status-" + row.status;
    var cells = tr.querySelectorAll("[data-col]");
    for (var i = 0; i < cells.length; i++) {
      var col = cells[i].getAttribute("data-col");
      if (col === "status") {
        var badge = cells[i].querySelector(".badge") || cells[i].appendChild(document.createElement("span"));
        setBadge(badge, row.status);
      } else {
        cells[i].textContent = metricText(row, col);
      }
      if (col === "errors") { cells[i].classList.toggle("bad", hasErrors(row)); }
    }
  }

  function newRow(row) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-session", row.session_id);
    var pick = document.createElement("td");
    ["a", "b"].forEach(function (side) {
      var r = document.createElement("input");
      r.type = "radio"; r.name = side; r.value = row.session_id; r.setAttribute("aria-label", side.toUpperCase());
      pick.appendChild(r);
    });
    tr.appendChild(pick);
    var first = document.createElement("td");
    var a = document.createElement("a");
    a.href = withKey("/sessions/" + encodeURIComponent(row.session_id));
    var code = document.createElement("code");
    code.textContent = row.session_id;
    a.appendChild(code);
    first.appendChild(a);
    var task = document.createElement("div");
    task.className = "task muted";
    task.setAttribute("data-col", "task");
    first.appendChild(task);
    tr.appendChild(first);
    LIST_COLUMNS.forEach(function (col, i) {
      var td = document.createElement("td");
      td.setAttribute("data-col", col);
      if (i >= 4) { td.className = "num"; }
      tr.appendChild(td);
    });
    fillRow(tr, row);
    return tr;
  }

  function initList(table) {
    var tbody = table.tBodies[0];
    var insert = table.getAttribute("data-live-insert") === "1";
    var source = new EventSource(withKey("/api/v1/live"));
    source.addEventListener("ready", function () { document.body.setAttribute("data-live-ready", "1"); });
    source.addEventListener("session", function (msg) {
      var row;
      try { row = JSON.parse(msg.data); } catch (e) { return; }
      var tr = null;
      for (var i = 0; i < tbody.rows.length; i++) {
        if (tbody.rows[i].getAttribute("data-session") === row.session_id) { tr = tbody.rows[i]; break; }
      }
      if (tr) {
        fillRow(tr, row);
      } else if (insert) {
        tr = newRow(row);
        tbody.insertBefore(tr, tbody.firstChild);
        var empty = document.querySelector("p.empty");
        if (empty) { empty.remove(); }
      } else {
        return;
      }
      tr.classList.add("fresh");
      document.body.setAttribute("data-live-updates", String(Number(document.body.getAttribute("data-live-updates") || 0) + 1));
    });
    // A session merged into another (an OpenTelemetry trace first stored
    // under its trace id): its row goes; the merged session's row follows.
    source.addEventListener("removed", function (msg) {
      var body;
      try { body = JSON.parse(msg.data); } catch (e) { return; }
      for (var i = 0; i < tbody.rows.length; i++) {
        if (tbody.rows[i].getAttribute("data-session") === body.session_id) { tbody.rows[i].remove(); break; }
      }
    });
  }

  // ---- Session page: analysis fragment -------------------------------------
  function initAnalysis(section) {
    var src = section.getAttribute("data-src");
    var loading = false, again = false, lastLoad = 0, timer = null;
    function load() {
      if (loading) { again = true; return; }
      loading = true;
      fetch(src, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      }).then(function (html) {
        // Keep the iterations the reader opened.
        var open = [];
        section.querySelectorAll("details[open][id]").forEach(function (d) { open.push(d.id); });
        section.innerHTML = html;
        open.forEach(function (id) { var d = document.getElementById(id); if (d) { d.open = true; } });
        section.setAttribute("data-loaded", String(Number(section.getAttribute("data-loaded") || 0) + 1));
      }).catch(function (e) {
        section.textContent = "Analysis unavailable: " + e.message;
      }).then(function () {
        loading = false;
        lastLoad = Date.now();
        if (again) { again = false; refresh(); }
      });
    }
    function refresh() {
      if (timer) { return; }
      var wait = Math.max(0, lastLoad + ANALYSIS_EVERY_MS - Date.now());
      timer = setTimeout(function () { timer = null; load(); }, wait);
    }
    return { start: load, refresh: refresh };
  }

  // ---- Session page: virtualised event panel -----------------------------
  function eventSummary(ev) {
    var d = ev.data || {};
    var parts = [];
    ["tool", "model", "name", "node_id", "agent_type", "status"].forEach(function (k) {
      if (typeof d[k] === "string" && d[k]) { parts.push(d[k]); }
    });
    var err = d.error || d.message || d.task;
    if (typeof err === "string" && err) { parts.push(err); }
    if (d.usage && typeof d.usage === "object") {
      parts.push("in " + tokens(d.usage.input_tokens) + " · out " + tokens(d.usage.output_tokens));
    }
    return parts.join(" · ").slice(0, 300);
  }

  function jsonNode(key, value, depth) {
    if (value !== null && typeof value === "object") {
      var det = document.createElement("details");
      det.open = depth < 2;
      var sum = document.createElement("summary");
      var isArray = Array.isArray(value);
      var n = isArray ? value.length : Object.keys(value).length;
      if (key !== null) { var k = document.createElement("span"); k.className = "k"; k.textContent = key + ": "; sum.appendChild(k); }
      sum.appendChild(document.createTextNode(isArray ? "[" + n + "]" : "{" + n + "}"));
      det.appendChild(sum);
      (isArray ? value.map(function (v, i) { return [String(i), v]; }) : Object.keys(value).map(function (kk) { return [kk, value[kk]]; }))
        .forEach(function (kv) { det.appendChild(jsonNode(kv[0], kv[1], depth + 1)); });
      return det;
    }
    var line = document.createElement("div");
    line.className = "line";
    if (key !== null) { var ks = document.createElement("span"); ks.className = "k"; ks.textContent = key + ": "; line.appendChild(ks); }
    var v = document.createElement("span");
    v.className = typeof value === "string" ? "s" : typeof value === "number" ? "n" : "b";
    v.textContent = typeof value === "string" ? JSON.stringify(value) : String(value);
    line.appendChild(v);
    return line;
  }

  function initEvents(panel, onSession, onFirstRows) {
    var viewport = document.getElementById("ev-viewport");
    var spacer = document.getElementById("ev-spacer");
    var countEl = document.getElementById("event-count");
    var inspector = document.getElementById("inspector");
    var follow = document.getElementById("follow");
    var src = panel.getAttribute("data-src");
    var sessionId = document.getElementById("session-id").textContent;
    var total = Number(panel.getAttribute("data-total")) || 0;
    var pages = {};            // page number -> array of events (may have holes) or "loading"
    var shown = new Map();     // index -> row element
    var selected = -1;
    var started = performance.now();
    var firstRowsReported = false;
    var freshFrom = Infinity;  // rows at or after this index arrived live

    function eventAt(i) {
      var p = pages[Math.floor(i / PAGE_SIZE)];
      return Array.isArray(p) ? p[i % PAGE_SIZE] : undefined;
    }
    function loadPage(n) {
      if (pages[n] === "loading") { return; }
      var previous = pages[n];
      pages[n] = "loading";
      fetch(addParams(src, "offset=" + n * PAGE_SIZE + "&limit=" + PAGE_SIZE), { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
        .then(function (body) {
          var list = Array.isArray(previous) ? previous : [];
          body.events.forEach(function (ev, i) { list[i] = ev; });
          pages[n] = list;
          render(true);
        })
        .catch(function () { pages[n] = previous; });
    }
    function fillEventRow(row, i, ev) {
      row.textContent = "";
      var cells = ev
        ? [String(i + 1), String(ev.timestamp || "").slice(11, 23), ev.kind, ev.iteration === undefined ? "" : String(ev.iteration), eventSummary(ev), duration(ev.duration_ms)]
        : [String(i + 1), "", "loading…", "", "", ""];
      cells.forEach(function (text, c) {
        var s = document.createElement("span");
        s.textContent = text;
        if (c === 5) { s.className = "num"; }
        row.appendChild(s);
      });
      var cls = "ev-row";
      if (!ev) { cls += " ev-loading"; }
      else if (/error/.test(ev.kind) || (ev.data && ev.data.error)) { cls += " ev-error"; }
      if (i === selected) { cls += " selected"; }
      if (i >= freshFrom) { cls += " ev-new"; }
      row.className = cls;
      if (ev) { row.setAttribute("data-event-id", ev.event_id); row.setAttribute("data-kind", ev.kind); }
    }
    function render(force) {
      spacer.style.height = (total * ROW_HEIGHT) + "px";
      var top = viewport.scrollTop, height = viewport.clientHeight || 440;
      var first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
      var last = Math.min(total - 1, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
      shown.forEach(function (row, i) {
        if (i < first || i > last) { row.remove(); shown.delete(i); }
      });
      var missing = {};
      var allLoaded = true;
      for (var i = first; i <= last; i++) {
        var ev = eventAt(i);
        if (ev === undefined) { missing[Math.floor(i / PAGE_SIZE)] = true; allLoaded = false; }
        var row = shown.get(i);
        if (!row) {
          row = document.createElement("div");
          row.setAttribute("data-index", String(i));
          row.style.top = (i * ROW_HEIGHT) + "px";
          spacer.appendChild(row);
          shown.set(i, row);
          fillEventRow(row, i, ev);
        } else if (force) {
          fillEventRow(row, i, ev);
        }
      }
      Object.keys(missing).forEach(function (n) { loadPage(Number(n)); });
      if (!firstRowsReported && allLoaded) {
        firstRowsReported = true;
        panel.setAttribute("data-first-rows-ms", String(Math.round(performance.now() - started)));
        panel.setAttribute("data-first-rows-since-navigation-ms", String(Math.round(performance.now())));
        onFirstRows();
      }
    }
    viewport.addEventListener("scroll", function () { render(false); }, { passive: true });
    window.addEventListener("resize", function () { render(false); });
    viewport.addEventListener("click", function (e) {
      var row = e.target.closest(".ev-row");
      if (!row) { return; }
      var i = Number(row.getAttribute("data-index"));
      var ev = eventAt(i);
      if (!ev) { return; }
      if (selected === i) { selected = -1; inspector.hidden = true; render(true); return; }
      selected = i;
      inspector.textContent = "";
      var close = document.createElement("button");
      close.type = "button";
      close.textContent = "Close";
      close.addEventListener("click", function () { selected = -1; inspector.hidden = true; render(true); });
      inspector.appendChild(close);
      inspector.appendChild(jsonNode(null, ev, 0));
      inspector.hidden = false;
      render(true);
    });

    function append(events) {
      if (!events.length) { return; }
      if (freshFrom === Infinity) { freshFrom = total; }
      events.forEach(function (ev) {
        var n = Math.floor(total / PAGE_SIZE);
        if (!Array.isArray(pages[n])) { pages[n] = pages[n] === "loading" ? pages[n] : []; }
        if (Array.isArray(pages[n])) { pages[n][total % PAGE_SIZE] = ev; }
        total += 1;
      });
      countEl.textContent = String(total);
      panel.setAttribute("data-total", String(total));
      if (follow && follow.checked) {
        spacer.style.height = (total * ROW_HEIGHT) + "px";
        viewport.scrollTop = viewport.scrollHeight;
      }
      render(true);
    }

    var live = panel.getAttribute("data-live");
    if (live && window.EventSource) {
      var source = new EventSource(live);
      source.addEventListener("ready", function () { document.body.setAttribute("data-live-ready", "1"); });
      source.addEventListener("events", function (msg) {
        var body;
        try { body = JSON.parse(msg.data); } catch (e) { return; }
        if (body.session_id === sessionId) { append(body.events || []); }
      });
      source.addEventListener("session", function (msg) {
        var row;
        try { row = JSON.parse(msg.data); } catch (e) { return; }
        if (row.session_id === sessionId) { onSession(row); }
      });
      source.addEventListener("removed", function (msg) {
        var body;
        try { body = JSON.parse(msg.data); } catch (e) { return; }
        // This session's events now belong to another one: go there.
        if (body.session_id === sessionId && body.merged_into) {
          window.location.replace(withKey("/sessions/" + encodeURIComponent(body.merged_into)));
        }
      });
      source.addEventListener("lagged", function () {
        // Missed events: forget the cached tail so it is fetched again.
        pages = {};
        render(true);
      });
    }
    if (follow && follow.checked) { viewport.scrollTop = total * ROW_HEIGHT; }
    render(true);
  }

  function initSession() {
    var analysis = document.getElementById("analysis");
    var analysisLoader = analysis ? initAnalysis(analysis) : { start: function () {}, refresh: function () {} };
    var started = false;
    function startAnalysis() { if (!started) { started = true; analysisLoader.start(); } }
    function refreshAnalysis() { if (started) { analysisLoader.refresh(); } }
    var panel = document.getElementById("events");
    function onSession(row) {
      document.querySelectorAll("[data-metric]").forEach(function (el) {
        var name = el.getAttribute("data-metric");
        if (name === "status") { setBadge(el, row.status); return; }
        el.textContent = metricText(row, name);
      });
      document.body.setAttribute("data-live-updates", String(Number(document.body.getAttribute("data-live-updates") || 0) + 1));
      refreshAnalysis();
    }
    // The analysis is requested once the first event rows show, so that on a
    // huge session it does not compete with the first view.
    if (panel) { initEvents(panel, onSession, startAnalysis); }
    // Whatever happens to the events, the analysis comes soon.
    setTimeout(startAnalysis, panel ? 1500 : 0);
  }

  var table = document.getElementById("sessions");
  if (table) { initList(table); }
  if (document.getElementById("session-id")) { initSession(); }
  document.body.setAttribute("data-viewer-ready", "1");
})();
