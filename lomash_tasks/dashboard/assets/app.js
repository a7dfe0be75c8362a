// The dashboard's page: plain JavaScript, no framework, nothing fetched from elsewhere.
// One WebSocket brings the snapshot (whenever it changes) and the services' log lines; the
// buttons POST to /api/actions/<name> with the token in a header. Every text from the server
// goes into the page as text (textContent), never as HTML.
"use strict";

const TOKEN = document.body.dataset.token;
const MAX_LINES = 3000;
const COLOURS = ["#0e7490", "#a16207", "#7e22ce", "#15803d", "#1d4ed8", "#b91c1c", "#0f766e",
                 "#c2410c", "#9d174d", "#4d7c0f"];
const state = {snapshot: null, receivedAt: 0, paused: [], colours: {}, open: {}, rows: {},
               actionCells: {}, services: {}};
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key.startsWith("data_")) node.dataset[key.slice(5)] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function badge(text) {
  return el("span", {class: "badge", data_state: text, text});
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  seconds = Math.max(0, Math.floor(seconds));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor(seconds % 3600 / 60)).padStart(2, "0")}m`;
}

function clock(epoch) {
  return epoch ? new Date(epoch * 1000).toLocaleTimeString() : "";
}

function colour(name) {
  if (!(name in state.colours)) {
    state.colours[name] = COLOURS[Object.keys(state.colours).length % COLOURS.length];
  }
  return state.colours[name];
}

// -- the live stream ---------------------------------------------------------------------------
let retry = 500;
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(TOKEN)}`);
  socket.onopen = () => { retry = 500; setConnection("live", "live"); };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "state" && message.data) render(message.data);
    else if (message.type === "logs") addLogs(message.data, message.backlog);
  };
  socket.onclose = () => {
    setConnection("down", "reconnecting…");
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 5000);
  };
}

function setConnection(which, text) {
  const node = $("conn");
  node.dataset.state = which;
  node.textContent = text;
}

// -- the snapshot ------------------------------------------------------------------------------
function render(snap) {
  if (!state.snapshot) performance.mark("dashboard:first-state");  // bench/dashboard_bench.py
  state.snapshot = snap;
  state.receivedAt = Date.now() / 1000;
  $("meta").replaceChildren(
    el("span", {}, "workspace ", el("code", {text: snap.workspace})),
    el("span", {}, "stack ", el("strong", {text: snap.backend})),
    el("span", {}, "services ", el("strong", {text: snap.services_backend})),
    el("span", {id: "updated"}, "updated ", clock(snap.generated_at)));
  $("problems").replaceChildren(...snap.problems.map((p) => el("li", {class: "problem", text: p})),
    ...snap.env_problems.map((p) => el("li", {class: "warning", text: p})));
  renderServices(snap);
  renderParts(snap);
  renderSetup(snap.setup);
  renderEvents(snap.events);
  renderAws(snap);
  renderFixtures(snap.fixtures);
  const mail = $("mail-link");
  mail.href = snap.mail_url;
  mail.textContent = `Open the mail trap (${snap.mail_url})`;
  const select = $("log-service");
  if (select.options.length === 1) {
    for (const svc of snap.services) select.append(el("option", {value: svc.name, text: svc.name}));
  }
}

function serviceRow(svc) {
  const mig = svc.migrations;
  let migrations = "";
  if (svc.has_database) {
    if (!mig) migrations = el("span", {class: "muted", text: "reading…"});
    else if (mig.error) migrations = el("span", {class: "muted", title: mig.error, text: "unknown"});
    else migrations = el("span", {class: "migrations", data_state: mig.state},
      `${mig.applied} applied`,
      mig.pending.length ? el("span", {class: "pending", title: mig.pending.join("\n"),
                                       text: ` · ${mig.pending.length} pending`}) : "",
      mig.failed.length ? el("span", {class: "failed", title: mig.failed.join("\n"),
                                      text: ` · ${mig.failed.length} failed`}) : "",
      mig.modified.length ? el("span", {class: "failed", title: mig.modified.join("\n"),
                                        text: ` · ${mig.modified.length} edited`}) : "");
  }
  let cache = "";
  if (svc.has_cache) {
    const c = svc.cache;
    if (!c) cache = el("span", {class: "muted", text: "reading…"});
    else if (c.error) cache = el("span", {class: "muted", title: c.error, text: `#${c.index} unknown`});
    else cache = el("span", {class: "keys", title: c.foreign.length ?
      `keys outside its namespaces: ${c.foreign.join(", ")}` : null},
      `#${c.index} · ${c.keys} key${c.keys === 1 ? "" : "s"}`, c.foreign.length ? " ⚠" : "");
  }
  const env = svc.env_problems.length ?
    el("details", {class: "env-problems", open: state.open[svc.name] || null,
                   ontoggle: (e) => { state.open[svc.name] = e.target.open; }},
       el("summary", {class: "failed", title: svc.env_file,
                      text: `${svc.env_problems.length} problem${svc.env_problems.length === 1 ? "" : "s"}`}),
       el("ul", {}, svc.env_problems.map((p) => el("li", {text: p})))) :
    el("span", {class: "ok", title: svc.env_file, text: "ok"});
  const debug = svc.debug_port ? el("span", {title: `chrome://inspect → Configure… → 127.0.0.1:${svc.debug_port}\nVS Code: inv debug.vscode, then “Attach: ${svc.name}”`},
    String(svc.debug_port), svc.debugger ? el("small", {text: ` ${svc.debugger}`}) : "") : "";
  const actions = actionCell(svc);
  const migrate = actions.querySelector('button[data-action="migrate"]');
  if (migrate) migrate.classList.toggle("primary", Boolean(mig && mig.pending.length));
  const row = el("tr", {data_service: svc.name, data_state: svc.state},
    el("td", {}, el("strong", {text: svc.alias}), el("small", {text: ` ${svc.name}`})),
    el("td", {class: "state"}, badge(svc.state)),
    el("td", {}, el("a", {href: svc.url, target: "_blank", rel: "noopener noreferrer", text: svc.url})),
    el("td", {class: "debug"}, debug),
    el("td", {class: "num", text: svc.container || svc.pid || ""}),
    el("td", {class: "num uptime", data_uptime: svc.uptime ?? "", text: duration(svc.uptime)}),
    el("td", {class: "num restarts", text: svc.restarts}),
    el("td", {class: "migrations-cell"}, migrations),
    el("td", {}, cache),
    el("td", {class: "env"}, env),
    actions);
  const rows = [row];
  const detail = [];
  if (svc.detail) detail.push(el("p", {text: svc.detail}));
  if (svc.log_tail.length) {
    detail.push(el("p", {class: "muted", text: `last lines of ${svc.log}:`}),
                el("pre", {class: "tail", text: svc.log_tail.join("\n")}));
  }
  if (mig && mig.failed.length) detail.push(el("p", {class: "failed", text: `migration failed: ${mig.failed.join(", ")}. Fix it, then run inv db.migrate --service ${svc.alias} --retry-failed`}));
  if (detail.length && (svc.state !== "healthy" || (mig && mig.failed.length))) {
    rows.push(el("tr", {class: "detail", data_service: svc.name}, el("td", {colspan: 11}, detail)));
  }
  return rows;
}

// A row is rebuilt only when its service changed, and its buttons never are: a click is
// never lost to a snapshot arriving between the press and the release.
function actionCell(svc) {
  if (!state.actionCells[svc.name]) {
    const buttons = [actionButton("restart", svc, "Restart")];
    if (svc.has_database) buttons.push(actionButton("migrate", svc, "Migrate"));
    if (svc.has_cache) buttons.push(actionButton("flush", svc, "Flush cache", "danger"));
    if (svc.has_database) buttons.push(actionButton("reset", svc, "Reset DB", "danger"));
    state.actionCells[svc.name] = el("td", {class: "actions"}, buttons);
  }
  state.services[svc.name] = svc;
  return state.actionCells[svc.name];
}

function renderServices(snap) {
  const body = $("services").tBodies[0];
  const wanted = [];
  for (const svc of snap.services) {
    const key = JSON.stringify({...svc, uptime: null});
    let cached = state.rows[svc.name];
    if (!cached || cached.key !== key) {
      cached = state.rows[svc.name] = {key, nodes: serviceRow(svc)};
    }
    const uptime = cached.nodes[0].querySelector("td.uptime");
    uptime.dataset.uptime = svc.uptime ?? "";
    uptime.textContent = duration(svc.uptime);
    wanted.push(...cached.nodes);
  }
  const current = [...body.children];
  if (current.length !== wanted.length || current.some((node, i) => node !== wanted[i])) {
    body.replaceChildren(...wanted);
    for (const tail of body.querySelectorAll("pre.tail")) tail.scrollTop = tail.scrollHeight;
  }
}

function renderParts(snap) {
  $("parts").tBodies[0].replaceChildren(...snap.parts.map((part) => el("tr",
    {data_part: part.name, data_state: part.state, class: part.kind},
    el("td", {}, el("strong", {text: part.name})),
    el("td", {class: "state"}, badge(part.state)),
    el("td", {}, part.kind === "tool" ? el("a", {href: part.url, target: "_blank",
                                                 rel: "noopener noreferrer", text: part.url}) : part.address),
    el("td", {class: "num", text: part.pid || ""}),
    el("td", {text: part.version}),
    el("td", {class: "muted"}, part.kind === "infra" && part.url ?
       el("a", {href: part.url, target: "_blank", rel: "noopener noreferrer", text: "web view"}) : "",
       part.detail ? ` ${part.detail}` : ""))));
}

function renderSetup(setup) {
  const box = $("setup");
  if (!setup) return;
  const failed = setup.steps.find((s) => s.status === "failed");
  const head = el("p", {class: "setup-head"},
    badge(setup.ok ? "done" : "failed"),
    ` finished at ${new Date(setup.finished_at * 1000).toLocaleString()}`,
    setup.backend ? ` · --backend ${setup.backend}` : "",
    setup.runner ? ` · --runner ${setup.runner}` : "");
  const table = el("table", {class: "steps"}, el("tbody", {}, setup.steps.map((s) =>
    el("tr", {data_step: s.step, data_state: s.status},
      el("td", {}, el("strong", {text: s.step})),
      el("td", {}, badge(s.status)),
      el("td", {class: "num", text: s.seconds ? `${s.seconds.toFixed(2)}s` : ""}),
      el("td", {class: "muted", text: (s.detail || "").split("\n")[0]})))));
  const parts = [head, table];
  if (failed) {
    parts.push(el("div", {class: "failure"}, el("p", {}, el("strong", {text: `${failed.step} failed: `})),
      el("pre", {text: failed.detail}), el("p", {}, el("strong", {text: "Fix: "}), failed.fix)));
  }
  box.replaceChildren(...parts);
}

function renderEvents(events) {
  if (!events.length) return;
  $("events").replaceChildren(...events.slice(0, 40).map((e) =>
    el("li", {data_name: e.name, data_state: e.state},
      el("time", {text: clock(e.at)}), " ", el("strong", {text: e.name}), " ", badge(e.state),
      e.detail ? el("small", {class: "muted", text: ` ${e.detail}`}) : "")));
}

function renderAws(snap) {
  const box = $("aws");
  if (!snap.aws) {
    box.replaceChildren(el("p", {class: "muted", text: snap.aws_error || "Reading…"}));
    return;
  }
  const lists = Object.entries(snap.aws).map(([kind, items]) => el("div", {class: "aws-kind"},
    el("h3", {text: kind}),
    el("ul", {}, items.map((i) => el("li", {data_exists: i.exists ? "yes" : "no"},
      i.exists ? "✓ " : "✗ ", i.name,
      kind === "queues" && i.exists ? el("small", {class: "muted",
        text: ` dlq ${i.dlq ? "present" : "MISSING"}, maxReceiveCount ${i.max_receive_count}`}) : "")))));
  const stamp = snap.probed_at ? el("p", {class: "muted", text: `read at ${clock(snap.probed_at)}`}) : "";
  box.replaceChildren(...lists, stamp);
}

function renderFixtures(fixtures) {
  const select = $("fixture");
  if (select.options.length === fixtures.length) return;
  select.replaceChildren(...fixtures.map((f) => el("option", {value: f, text: f})));
}

// -- actions -----------------------------------------------------------------------------------
const DESTRUCTIVE = {
  flush: (svc) => [`cache.flush on ${svc.name}`,
    `Every key in Redis index ${svc.cache ? svc.cache.index : "?"} (${svc.name}'s own) is deleted. The other indexes are untouched.`],
  reset: (svc) => [`db.reset on ${svc.name}`,
    `Its database is dropped (all its data is lost), then recreated from init.sql, migrated and seeded.`],
};

function actionButton(action, svc, label, kind) {
  return el("button", {type: "button", class: kind || null, data_action: action,
                       data_service: svc.name, data_key: `${action}:${svc.name}`,
                       onclick: () => ask(action, state.services[svc.name])}, label);
}

function ask(action, svc) {
  if (!DESTRUCTIVE[action]) return run(action, {service: svc.name});
  const [title, text] = DESTRUCTIVE[action](svc);
  const dialog = $("confirm");
  const input = $("confirm-input");
  const ok = $("confirm-ok");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-name").textContent = svc.alias;
  input.value = "";
  ok.disabled = true;
  input.oninput = () => { ok.disabled = ![svc.alias, svc.name].includes(input.value.trim()); };
  ok.onclick = () => { dialog.close(); run(action, {service: svc.name, confirm: input.value.trim()}); };
  $("confirm-cancel").onclick = () => dialog.close();
  dialog.showModal();
  input.focus();
}

function markBusy(button, busy) {
  if (busy) { button.dataset.busy = "1"; button.disabled = true; button.classList.add("busy"); }
  else { delete button.dataset.busy; button.disabled = false; button.classList.remove("busy"); }
}

async function run(action, params) {
  const key = `${action}:${params.service || params.fixture}`;
  const buttons = () => document.querySelectorAll(`button[data-key="${CSS.escape(key)}"]`);
  buttons().forEach((b) => markBusy(b, true));
  const item = el("li", {class: "running", data_action: action, data_target: params.service || params.fixture},
    el("strong", {text: `${action} ${params.service || params.fixture}`}), " running…");
  $("results").prepend(item);
  let result;
  try {
    const response = await fetch(`api/actions/${action}`, {
      method: "POST", headers: {"Content-Type": "application/json", "X-Lomash-Token": TOKEN},
      body: JSON.stringify(params)});
    result = await response.json().catch(() => ({ok: false, error: `HTTP ${response.status}`}));
  } catch (err) {
    result = {ok: false, error: `the dashboard did not answer (${err})`};
  }
  buttons().forEach((b) => markBusy(b, false));
  item.className = result.ok ? "ok" : "failed";
  item.dataset.result = result.ok ? "ok" : "failed";
  item.replaceChildren(badge(result.ok ? "done" : "failed"), " ",
    el("code", {text: result.command || `${action} ${params.service || params.fixture}`}),
    result.seconds !== undefined ? el("small", {class: "muted", text: ` ${result.seconds.toFixed(1)}s`}) : "",
    el("details", {open: result.ok ? null : true}, el("summary", {text: "output"}),
       el("pre", {text: result.output || result.error || ""})));
}

// -- logs --------------------------------------------------------------------------------------
function lineNode([service, text]) {
  const prefix = el("span", {class: "prefix", text: `${service} |`});
  prefix.style.color = colour(service);  // CSSOM, which the page's CSP allows (no inline styles)
  return el("div", {class: "line", data_service: service}, prefix, " ", text);
}

function matches(node) {
  const service = $("log-service").value;
  const text = $("log-text").value.toLowerCase();
  return (!service || node.dataset.service === service) &&
         (!text || node.textContent.toLowerCase().includes(text));
}

function addLogs(lines, backlog) {
  const view = $("log");
  if (backlog) view.replaceChildren();
  if (!$("log-follow").checked && !backlog) {
    state.paused.push(...lines);
    $("log-paused").textContent = `${state.paused.length} new line(s) while paused`;
    return;
  }
  const nodes = lines.map(lineNode);
  for (const node of nodes) node.hidden = !matches(node);
  view.append(...nodes);
  while (view.childElementCount > MAX_LINES) view.firstElementChild.remove();
  if ($("log-follow").checked) view.scrollTop = view.scrollHeight;
}

function refilter() {
  for (const node of $("log").children) node.hidden = !matches(node);
  $("log").scrollTop = $("log").scrollHeight;
}

function setUp() {
  $("log-service").addEventListener("change", refilter);
  $("log-text").addEventListener("input", refilter);
  $("log-follow").addEventListener("change", () => {
    if ($("log-follow").checked) {
      const held = state.paused;
      state.paused = [];
      $("log-paused").textContent = "";
      addLogs(held, false);
    }
  });
  $("log-clear").addEventListener("click", () => $("log").replaceChildren());
  $("replay").addEventListener("click", () => run("replay", {fixture: $("fixture").value}));
  setInterval(() => {  // uptimes go on between two snapshots
    if (!state.snapshot) return;
    const since = Date.now() / 1000 - state.receivedAt;
    for (const cell of document.querySelectorAll("td.uptime")) {
      if (cell.dataset.uptime !== "") cell.textContent = duration(Number(cell.dataset.uptime) + since);
    }
  }, 1000);
  connect();
}

setUp();
