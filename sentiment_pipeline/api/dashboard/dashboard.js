// The dashboard: every number comes from the read API with the key pasted in this tab
// (sessionStorage: gone when the tab closes; never a cookie, never on disk). Text from the
// API is always set as text (textContent), never parsed as HTML.
"use strict";

const KEY = "sentiment-api-key";
const DAY_MS = 86400000;
const BASELINE_DAYS = 28;
const ENTITY_TYPES = ["product", "error_code", "version", "order_id"];
const ANY_ORDER = "any order number"; // order numbers are one per order: their problems count as one issue
const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const PLOT_CONFIG = { displaylogo: false, responsive: true };
const $ = (id) => document.getElementById(id);
const iso = (time) => new Date(time).toISOString().slice(0, 10);
const addDays = (day, n) => iso(Date.parse(day + "T00:00:00Z") + n * DAY_MS);
const spanDays = (start, end) => Math.round((Date.parse(end) - Date.parse(start)) / DAY_MS) + 1;
const sum = (rows, key) => rows.reduce((total, row) => total + (row[key] ?? 0), 0);

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params)) {
    for (const one of [].concat(value)) if (one !== null && one !== undefined) url.searchParams.append(name, one);
  }
  const response = await fetch(url, { headers: { Authorization: `Bearer ${sessionStorage.getItem(KEY)}` } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body.message || response.statusText);
  return body;
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

// --- formatting ---------------------------------------------------------------------------

const percent = (value) => (value === null || value === undefined ? "" : `${(100 * value).toFixed(1)} %`);
const number = (digits) => (value) => (value === null || value === undefined ? "" : Number(value).toFixed(digits));
const integer = (value) => (value === null || value === undefined ? "" : Number(value).toLocaleString("en"));
const pValue = (value) => (value === null || value === undefined ? "" : Number(value).toExponential(1));
const plain = (value) => (value === null || value === undefined ? "" : String(value));

// --- tables: sortable, clickable rows, CSV of what they hold --------------------------------

function csvOf(columns, rows) {
  const cell = (value) => {
    const text = value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return [columns.map((c) => cell(c.key)), ...rows.map((row) => columns.map((c) => cell(row[c.key])))]
    .map((line) => line.join(","))
    .join("\r\n");
}

function download(name, text) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  link.download = name;
  link.click();
  URL.revokeObjectURL(link.href);
}

function renderTable(id, columns, rows, { onClick = null, csvName = id, note = "" } = {}) {
  const holder = $(id);
  holder.replaceChildren();
  const tools = document.createElement("div");
  tools.className = "table-tools";
  const said = document.createElement("span");
  said.className = "note";
  said.textContent = note || `${rows.length} rows`;
  const csv = document.createElement("button");
  csv.type = "button";
  csv.textContent = "CSV";
  csv.dataset.csv = id;
  csv.addEventListener("click", () => download(`${csvName}.csv`, csvOf(columns, shown)));
  tools.append(said, csv);
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  const body = table.createTBody();
  let shown = rows.slice();
  let sortedBy = null;
  const draw = () => {
    body.replaceChildren();
    for (const row of shown) {
      const line = body.insertRow();
      if (onClick) {
        line.className = "clickable";
        line.addEventListener("click", () => onClick(row));
      }
      for (const column of columns) {
        const cell = line.insertCell();
        cell.textContent = (column.format || plain)(row[column.key]);
        if (column.text) cell.className = "text";
      }
    }
  };
  for (const column of columns) {
    const th = document.createElement("th");
    th.textContent = column.label || column.key;
    th.title = "sort";
    th.addEventListener("click", () => {
      const descending = sortedBy === column.key;
      sortedBy = descending ? null : column.key;
      const order = (a, b) => (a[column.key] ?? -Infinity) > (b[column.key] ?? -Infinity) ? 1 : (a[column.key] ?? -Infinity) < (b[column.key] ?? -Infinity) ? -1 : 0;
      shown.sort((a, b) => (descending ? -order(a, b) : order(a, b)));
      draw();
    });
    head.append(th);
  }
  draw();
  holder.append(tools, table);
}

// --- charts ---------------------------------------------------------------------------------

async function plot(id, traces, layout) {
  const points = traces.reduce((total, trace) => total + (trace.type === "heatmap" ? trace.z.flat().filter((v) => v !== null).length : trace.x.length), 0);
  await Plotly.react($(id), traces, { margin: { t: 30, r: 20, b: 40, l: 50 }, hovermode: "closest", ...layout }, PLOT_CONFIG);
  $(id).dataset.points = points;
  $(id).dataset.drawn = "true";
}

function trailingBaseline(daily, days) {
  // Share negative over the 28 days before each day (the day itself excluded), from the days that have data.
  const byDate = new Map(daily.map((row) => [row.date, row]));
  return days.map((day) => {
    let tickets = 0;
    let negative = 0;
    for (let back = 1; back <= BASELINE_DAYS; back++) {
      const row = byDate.get(addDays(day, -back));
      if (row) {
        tickets += row.tickets;
        negative += row.negative;
      }
    }
    return tickets ? negative / tickets : null;
  });
}

async function smallMultiples(id, rows, key, names) {
  const columns = Math.min(4, names.length);
  const traces = names.map((name, i) => {
    const own = rows.filter((row) => row[key] === name);
    return {
      x: own.map((row) => row.date),
      y: own.map((row) => row.share_negative),
      text: own.map((row) => `${row.negative} of ${row.tickets} tickets`),
      name: name ?? "(none)",
      type: "scatter",
      mode: "lines+markers",
      marker: { size: 4 },
      xaxis: `x${i + 1}`,
      yaxis: `y${i + 1}`,
      hovertemplate: "%{x}: %{y:.0%} (%{text})<extra>" + (name ?? "(none)") + "</extra>",
    };
  });
  const layout = {
    grid: { rows: Math.max(1, Math.ceil(names.length / columns)), columns, pattern: "independent", ygap: 0.45, xgap: 0.08 },
    showlegend: false,
    annotations: names.map((name, i) => ({
      text: name ?? "(none)", showarrow: false, xref: `x${i + 1} domain`, yref: `y${i + 1} domain`, x: 0.5, y: 1.18, font: { size: 12 },
    })),
  };
  names.forEach((_, i) => {
    layout[`yaxis${i + 1}`] = { range: [0, 1], tickformat: ".0%", nticks: 3 };
    layout[`xaxis${i + 1}`] = { nticks: 4 };
  });
  await plot(id, traces, layout);
}

// --- the sections ---------------------------------------------------------------------------

function headline(current, previous, days) {
  const cards = [
    ["Tickets", "tickets", integer, null, (now, then) => (then ? `${((100 * (now - then)) / then).toFixed(0)} %` : "")],
    ["Share negative", "share_negative", percent, "up-is-bad", (now, then) => `${(100 * (now - then)).toFixed(1)} pts`],
    ["Average csat", "avg_csat", number(2), "up-is-good", (now, then) => (now - then).toFixed(2)],
    ["Average sentiment", "avg_compound", number(3), "up-is-good", (now, then) => (now - then).toFixed(3)],
  ];
  $("headline").replaceChildren(
    ...cards.map(([title, key, format, direction, change]) => {
      const card = document.createElement("div");
      card.className = "card";
      card.dataset.metric = key;
      const name = document.createElement("div");
      name.textContent = title;
      const value = document.createElement("div");
      value.className = "value";
      value.textContent = current ? format(current[key]) || "–" : "–";
      const delta = document.createElement("div");
      delta.className = "change note";
      const now = current?.[key];
      const then = previous?.[key];
      if (now !== null && now !== undefined && then !== null && then !== undefined) {
        const sign = now > then ? "▲" : now < then ? "▼" : "=";
        delta.textContent = `${sign} ${change(now, then)} vs the previous ${days} days`;
        if (direction && now !== then) delta.classList.add((now > then) === (direction === "up-is-good") ? "good" : "bad");
      } else {
        delta.textContent = "no previous period to compare";
      }
      card.append(name, value, delta);
      return card;
    }),
  );
}

function entityTotals(rows) {
  const totals = new Map();
  for (const row of rows) {
    const value = row.type === "order_id" ? ANY_ORDER : row.normalized;
    const key = `${row.type}\u0000${value}`;
    const total = totals.get(key) ?? { type: row.type, value, mentions: 0, tickets: 0, negative: 0, compound_sum: 0 };
    total.mentions += row.mentions;
    total.tickets += row.tickets;
    total.negative += row.negative ?? 0;
    total.compound_sum += (row.avg_compound ?? 0) * row.tickets;
    totals.set(key, total);
  }
  for (const total of totals.values()) {
    total.share_negative = total.tickets ? total.negative / total.tickets : null;
    total.avg_compound = total.tickets ? total.compound_sum / total.tickets : null;
    delete total.compound_sum;
  }
  return totals;
}

async function entityRows(start, end) {
  const pages = await Promise.all(
    ENTITY_TYPES.map((type) => api("/v1/tables/daily_entity_mentions", { start, end, type, limit: 10000 })),
  );
  return pages.flatMap((page) => page.rows);
}

function agentRows(metrics, days) {
  const turnaround = new Map();
  for (const row of days) {
    const agent = turnaround.get(row.agent_id) ?? { improving: 0, declining: 0, opened_negative: 0, turned: 0 };
    agent.improving += row.improving;
    agent.declining += row.declining;
    agent.opened_negative += row.opened_negative;
    agent.turned += (row.turnaround_share ?? 0) * row.opened_negative;
    turnaround.set(row.agent_id, agent);
  }
  return metrics.map((row) => {
    const agent = turnaround.get(row.agent_id) ?? { improving: 0, declining: 0, opened_negative: 0, turned: 0 };
    return {
      ...row,
      improving: agent.improving,
      declining: agent.declining,
      opened_negative: agent.opened_negative,
      turnaround_share: agent.opened_negative ? agent.turned / agent.opened_negative : null,
    };
  });
}

function selectionOf(alert) {
  if (alert.dimension === "entity") return { entity_type: alert.entity_type, entity: alert.value };
  return { [alert.dimension]: alert.value };
}

async function showTickets(selection, title) {
  const found = await api("/v1/tickets", { limit: 200, ...selection });
  $("tickets-title").textContent = `${title}: ${integer(found.total)} tickets`;
  renderTable(
    "tickets",
    [
      { key: "date" }, { key: "ticket_id" }, { key: "subject", text: true }, { key: "channel" }, { key: "product" },
      { key: "agent_id" }, { key: "label" }, { key: "compound", format: number(3) }, { key: "trajectory" }, { key: "csat" },
    ],
    found.rows,
    { onClick: (row) => showTicket(row.ticket_id), csvName: "tickets", note: `${found.rows.length} of ${found.total} shown, most negative first; click one for its conversation` },
  );
  $("tickets-section").scrollIntoView({ behavior: "smooth" });
}

async function showTicket(ticketId) {
  const found = await api(`/v1/tickets/${encodeURIComponent(ticketId)}`);
  const ticket = found.ticket;
  $("ticket-title").textContent = `Ticket ${ticket.ticket_id}: ${ticket.subject ?? ""}`;
  const facts = document.createElement("p");
  facts.className = "note";
  const score = found.sentiment ? `${found.sentiment.label} (${number(3)(found.sentiment.compound)}), trajectory ${found.sentiment.trajectory}` : "not scored";
  facts.textContent = `${found.partition} · ${ticket.channel ?? "no channel"} · ${ticket.product ?? "no product"} · agent ${ticket.agent_id ?? "none"} · status ${ticket.status ?? "?"} · csat ${ticket.csat ?? "none"} · sentiment ${score}`;
  const messages = found.conversation.map((message) => {
    const box = document.createElement("div");
    box.className = `message ${message.label ?? ""}`;
    box.dataset.seq = message.seq;
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = `#${message.seq} · ${message.role} · ${message.author ?? "unknown"} · ${message.created_at ?? ""} · ${message.label} (${number(3)(message.compound)})`;
    const text = document.createElement("div");
    text.textContent = message.text ?? "";
    box.append(meta, text);
    return box;
  });
  $("ticket").replaceChildren(facts, ...messages);
  $("ticket-section").hidden = false;
  $("ticket-section").scrollIntoView({ behavior: "smooth" });
}

async function show() {
  const start = $("start").value;
  const end = $("end").value;
  const days = spanDays(start, end);
  const previous = { start: addDays(start, -days), end: addDays(start, -1) };
  setStatus(`Loading ${start} to ${end}…`);
  const range = { start, end };
  const [daily, total, before, byChannel, byProduct, alerts, agents, agentDays, heat, entities, entitiesBefore] = await Promise.all([
    api("/v1/analytics/sentiment", { start: addDays(start, -BASELINE_DAYS), end, group_by: "day" }),
    api("/v1/analytics/sentiment", { ...range, group_by: "total" }),
    api("/v1/analytics/sentiment", { ...previous, group_by: "total" }),
    api("/v1/analytics/sentiment", { ...range, group_by: ["day", "channel"] }),
    api("/v1/analytics/sentiment", { ...range, group_by: ["day", "product"] }),
    api("/v1/tables/sentiment_alerts", { ...range, limit: 10000, order_by: "p_value" }),
    api("/v1/analytics/sentiment", { ...range, group_by: "agent", order_by: "tickets", desc: true }),
    api("/v1/tables/daily_agent_summary", { ...range, limit: 10000 }),
    api("/v1/analytics/sentiment", { ...range, group_by: ["weekday", "hour"] }),
    entityRows(start, end),
    entityRows(previous.start, previous.end),
  ]);
  $("app").hidden = false;

  headline(total.rows[0], before.rows[0], days);
  $("missing").textContent = daily.missing_days.filter((day) => day >= start).length
    ? `Days never materialized (unknown, not zero): ${daily.missing_days.filter((day) => day >= start).join(", ")}`
    : "";

  const inRange = daily.rows.filter((row) => row.date >= start);
  const dates = inRange.map((row) => row.date);
  const flaggedDays = [...new Set(alerts.rows.map((row) => row.date))].filter((day) => dates.includes(day));
  const shareOf = new Map(inRange.map((row) => [row.date, row.share_negative]));
  await plot("chart-volume", [{ x: dates, y: inRange.map((row) => row.tickets), type: "bar", name: "tickets", marker: { color: "#3e7cb1" } }], {
    title: { text: "Tickets", font: { size: 13 } },
  });
  await plot(
    "chart-negative",
    [
      { x: dates, y: inRange.map((row) => row.share_negative), type: "scatter", mode: "lines+markers", name: "share negative", line: { color: "#d92d20" } },
      { x: dates, y: trailingBaseline(daily.rows, dates), type: "scatter", mode: "lines", name: `trailing ${BASELINE_DAYS}-day baseline`, line: { color: "#667085", dash: "dash" } },
      { x: flaggedDays, y: flaggedDays.map((day) => shareOf.get(day)), type: "scatter", mode: "markers", name: "day with a flagged spike", marker: { size: 14, symbol: "circle-open", color: "#b42318", line: { width: 2 } } },
    ],
    { title: { text: "Share negative", font: { size: 13 } }, yaxis: { tickformat: ".0%", rangemode: "tozero" }, legend: { orientation: "h", y: -0.2 } },
  );
  await plot("chart-csat", [{ x: dates, y: inRange.map((row) => row.avg_csat), type: "scatter", mode: "lines+markers", name: "avg csat", line: { color: "#027a48" } }], {
    title: { text: "Average csat (tickets with one)", font: { size: 13 } },
  });

  const channels = [...new Set(byChannel.rows.map((row) => row.channel))].sort();
  await smallMultiples("chart-channel", byChannel.rows, "channel", channels);
  const volume = new Map();
  for (const row of byProduct.rows) volume.set(row.product, (volume.get(row.product) ?? 0) + row.tickets);
  const busiest = [...volume.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([product]) => product);
  await smallMultiples("chart-product", byProduct.rows, "product", busiest);

  const z = WEEKDAYS.map(() => Array(24).fill(null));
  const counts = WEEKDAYS.map(() => Array(24).fill(""));
  for (const row of heat.rows) {
    if (row.weekday === null || row.hour === null) continue;
    z[row.weekday - 1][row.hour] = row.share_negative;
    counts[row.weekday - 1][row.hour] = `${row.negative} of ${row.tickets}`;
  }
  await plot(
    "chart-heatmap",
    [{ type: "heatmap", z, x: [...Array(24).keys()], y: WEEKDAYS, text: counts, colorscale: "Reds", zmin: 0, zmax: 1, hovertemplate: "%{y} %{x}:00 · %{z:.0%} negative (%{text})<extra></extra>", colorbar: { tickformat: ".0%" } }],
    { yaxis: { autorange: "reversed" }, xaxis: { title: { text: "hour of day, UTC" }, dtick: 2 } },
  );

  renderTable(
    "spikes",
    [
      { key: "date" }, { key: "dimension" }, { key: "entity_type", label: "entity type" }, { key: "value" },
      { key: "tickets", format: integer }, { key: "negative", format: integer }, { key: "share_negative", label: "share negative", format: percent },
      { key: "baseline_share", label: "baseline (28 days)", format: percent }, { key: "lift", format: number(1) }, { key: "p_value", label: "p", format: pValue },
      { key: "threshold", label: "flag below p", format: pValue },
    ],
    alerts.rows,
    {
      onClick: (alert) => showTickets({ start: alert.date, end: alert.date, label: "negative", ...selectionOf(alert) }, `Negative tickets behind the flag: ${alert.value} on ${alert.date}`),
      csvName: `spikes_${start}_${end}`,
      note: alerts.rows.length ? `${alerts.rows.length} flags` : "No spike flagged in this range.",
    },
  );

  const current = entityTotals(entities);
  const earlier = entityTotals(entitiesBefore);
  const orders = current.get(`order_id\u0000${ANY_ORDER}`);
  if (orders) {
    // Summed per order number, a ticket naming two orders would count twice: ask for the exact counts.
    const [all, negative] = await Promise.all([
      api("/v1/tickets", { start, end, entity_type: "order_id", limit: 1 }),
      api("/v1/tickets", { start, end, entity_type: "order_id", label: "negative", limit: 1 }),
    ]);
    Object.assign(orders, { tickets: all.total, negative: negative.total, share_negative: all.total ? negative.total / all.total : null, avg_compound: null });
  }
  const issues = [...current.values()].sort((a, b) => b.mentions - a.mentions).slice(0, 20);
  const issueColumns = [
    { key: "type" }, { key: "value" }, { key: "mentions", format: integer }, { key: "tickets", format: integer },
    { key: "share_negative", label: "share negative", format: percent }, { key: "avg_compound", label: "avg sentiment", format: number(3) },
  ];
  const entityTickets = (row) =>
    showTickets({ start, end, entity_type: row.type, entity: row.value === ANY_ORDER ? null : row.value }, `Tickets mentioning ${row.value}`);
  renderTable("issues", issueColumns, issues, { onClick: entityTickets, csvName: `top_issues_${start}_${end}` });
  const movers = [...new Set([...current.keys(), ...earlier.keys()])]
    .map((key) => {
      const now = current.get(key);
      const then = earlier.get(key);
      const row = now ?? then;
      return { type: row.type, value: row.value, mentions: now?.mentions ?? 0, previous: then?.mentions ?? 0, change: (now?.mentions ?? 0) - (then?.mentions ?? 0), share_negative: now?.share_negative ?? null };
    })
    .sort((a, b) => Math.abs(b.change) - Math.abs(a.change))
    .slice(0, 10);
  const moversNote = earlier.size
    ? `change in mentions, ${previous.start} to ${previous.end} against this range`
    : `Nothing to compare: no mentions from ${previous.start} to ${previous.end}.`;
  renderTable(
    "movers",
    [{ key: "type" }, { key: "value" }, { key: "mentions", format: integer }, { key: "previous", label: "previous period", format: integer }, { key: "change", format: integer }, { key: "share_negative", label: "share negative now", format: percent }],
    earlier.size ? movers : [],
    { onClick: entityTickets, csvName: `movers_${start}_${end}`, note: moversNote },
  );

  renderTable(
    "agents",
    [
      { key: "agent_id", label: "agent" }, { key: "tickets", format: integer }, { key: "solved", format: integer },
      { key: "median_hours_to_resolve", label: "median hours to resolve", format: number(1) }, { key: "avg_csat", label: "avg csat", format: number(2) },
      { key: "avg_compound", label: "avg sentiment", format: number(3) }, { key: "improving", format: integer }, { key: "declining", format: integer },
      { key: "opened_negative", label: "opened negative", format: integer }, { key: "turnaround_share", label: "turnaround", format: percent },
    ],
    agentRows(agents.rows, agentDays.rows),
    { onClick: (row) => showTickets({ start, end, agent: row.agent_id, label: "negative" }, `Negative tickets of ${row.agent_id}`), csvName: `agents_${start}_${end}` },
  );

  await showTickets({ start, end, label: "negative" }, `Negative tickets, ${start} to ${end}`);
  window.scrollTo(0, 0);
  setStatus(`${start} to ${end} (UTC days). Click a flag, an issue, an agent or a ticket to go deeper.`);
  document.body.dataset.ready = "true";
}

async function open() {
  try {
    document.body.dataset.ready = "false";
    await show();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      sessionStorage.removeItem(KEY);
      $("app").hidden = true;
      setStatus(`The key was not accepted: ${error.message}`, true);
    } else {
      setStatus(`Could not load the dashboard: ${error.message}`, true);
    }
    document.body.dataset.ready = "error";
  }
}

function init() {
  const today = iso(Date.now());
  $("end").value = today;
  $("start").value = addDays(today, -29);
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("key").value.trim());
    $("key").value = "";
    open();
  });
  $("range-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (sessionStorage.getItem(KEY)) open();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    $("app").hidden = true;
    setStatus("Key forgotten. Paste a key to open the dashboard.");
  });
  if (sessionStorage.getItem(KEY)) open();
}

init();
