// mms-gateway console. Everything it shows comes from the service's documented JSON API
// (GET /stats, GET /messages, GET /messages/{id}, POST /messages/{id}/resend, GET/PUT/DELETE
// /opt-outs…), sent with the tab's API key when the service has API_KEYS. The key lives in memory
// and in sessionStorage only: never in localStorage, a cookie or a URL.
"use strict";

const KEY_SLOT = "mms-gateway.apiKey";
const REFRESH_MS = 3000;
const PAGE_SIZE = 25;
const STATUSES = ["accepted", "sending", "queued", "sent", "delivered", "undelivered", "failed"];
const RESENDABLE = new Set(["failed", "undelivered"]);

const $ = (id) => document.getElementById(id);
let apiKey = sessionStorage.getItem(KEY_SLOT);
let keyRequired = false;
let view = null;            // "messages" | "message" | "opt-outs" | "key"
let refreshing = false;

/** An API answer that was not a success, with the contract's `code` and sentence. */
class ApiFailure extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

/** Calls the JSON API; a 401 asks for a key. */
async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (apiKey) headers.Authorization = "Bearer " + apiKey;
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  let response;
  try { response = await fetch(path, init); }
  catch { throw new ApiFailure(0, "unreachable", "The service did not answer. Is it running?"); }
  const text = await response.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = null; } }
  if (response.status === 401) {
    askForKey(apiKey ? "wrong" : "missing");
    throw new ApiFailure(401, "unauthorized", "An API key is needed.");
  }
  if (!response.ok) {
    const message = data && data.error ? data.error : `The service answered ${response.status}.`;
    throw new ApiFailure(response.status, data && data.code, message);
  }
  return data;
}

// ---------- small DOM helpers (text only: nothing from the API is parsed as HTML) ----------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function setText(id, text) { const node = $(id); if (node.textContent !== text) node.textContent = text; }

function timeEl(iso) {
  if (!iso) return el("span", { class: "muted", text: "–" });
  const at = new Date(iso);
  return el("time", { datetime: iso, title: iso, text: isNaN(at) ? iso : at.toLocaleString() });
}

function badge(status) {
  const known = STATUSES.includes(status);
  return el("span", { class: "badge " + (known ? "s-" + status : "s-other"), text: status || "–" });
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "none";
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function showNotice(message) {
  const notice = $("notice");
  notice.textContent = message || "";
  notice.hidden = !message;
}

function failed(error) { showNotice(error instanceof ApiFailure ? error.message : String(error)); }

// A message record of either direction, read the same way (inbound ones have from/to/text).
const numberOf = (m) => m.direction === "inbound" ? (m.from || m.recipientNumber) : (m.recipientNumber || m.to);
const textOf = (m) => m.messageText ?? m.text ?? "";
const createdOf = (m) => m.createdAt || m.receivedAt;

// ---------- the key prompt ----------

function askForKey(why) {
  keyRequired = true;
  if (apiKey) { sessionStorage.removeItem(KEY_SLOT); apiKey = null; }
  show("key");
  $("key-why").textContent = why === "wrong"
    ? "The key was refused (401 unauthorized): it is not one of this service's API_KEYS."
    : "This service requires an API key (API_KEYS is set). Enter one of its keys.";
  const error = $("key-error");
  error.hidden = why !== "wrong";
  error.textContent = why === "wrong" ? "Wrong API key: check it and try again." : "";
  $("forget-key").hidden = true;
  $("key-input").focus();
}

async function useKey(event) {
  event.preventDefault();
  const candidate = $("key-input").value.trim();
  if (!candidate) return;
  apiKey = candidate;
  try {
    await api("GET", "/stats");
  } catch (error) {
    if (!(error instanceof ApiFailure && error.status === 401)) failed(error);
    return;
  }
  sessionStorage.setItem(KEY_SLOT, candidate);
  $("key-input").value = "";
  $("key-error").hidden = true;
  $("forget-key").hidden = false;
  route();
}

function forgetKey() {
  sessionStorage.removeItem(KEY_SLOT);
  apiKey = null;
  askForKey("missing");
}

// ---------- the header: queue depth, oldest undelivered, counts by status ----------

async function refreshStats() {
  const stats = await api("GET", "/stats");
  setText("stat-depth", String(stats.queueDepth));
  setText("stat-oldest", stats.oldestUndeliveredAt ? age(stats.oldestUndeliveredAgeSeconds) : "none");
  const list = $("stat-statuses");
  const names = STATUSES.concat(Object.keys(stats.byStatus || {}).filter((s) => !STATUSES.includes(s)));
  if (list.children.length !== names.length) {
    list.replaceChildren(...names.map((status) => el("li", {},
      el("a", { href: `#/messages?status=${encodeURIComponent(status)}`, class: "s-" + (STATUSES.includes(status) ? status : "other") },
        status + " ", el("b", { "data-count": status, text: "0" })))));
  }
  for (const status of names) {
    const node = list.querySelector(`[data-count="${CSS.escape(status)}"]`);
    const count = String((stats.byStatus || {})[status] ?? 0);
    if (node && node.textContent !== count) node.textContent = count;
  }
  setText("stats-state", `Updated ${new Date(stats.at).toLocaleTimeString()}`);
}

// ---------- the message log ----------

const log = { filters: {}, cursors: [null], page: 0, shown: "" };

function filtersFromHash(query) {
  const params = new URLSearchParams(query);
  const filters = {};
  for (const name of ["status", "direction", "recipientNumber"]) {
    const value = (params.get(name) || "").trim();
    if (value) filters[name] = value;
  }
  return filters;
}

function hashForFilters(filters) {
  const query = new URLSearchParams(filters).toString();
  return "#/messages" + (query ? "?" + query : "");
}

async function loadLog() {
  const params = new URLSearchParams(log.filters);
  params.set("limit", String(PAGE_SIZE));
  const cursor = log.cursors[log.page];
  if (cursor) params.set("cursor", cursor);
  const page = await api("GET", "/messages?" + params.toString());
  if (view !== "messages") return;
  if (page.nextCursor) log.cursors[log.page + 1] = page.nextCursor;
  else log.cursors.length = log.page + 1;
  $("log-next").disabled = !page.nextCursor;
  $("log-prev").disabled = log.page === 0;
  $("log-newest").disabled = log.page === 0;
  setText("log-page", `Page ${log.page + 1}`);
  const shown = JSON.stringify(page.messages);
  if (shown === log.shown) return;       // unchanged: keep the DOM (and the focus) as it is
  log.shown = shown;
  $("log-empty").hidden = page.messages.length > 0;
  $("log-rows").replaceChildren(...page.messages.map((m) => el("tr", { "data-id": m.id },
    el("td", { "data-label": "Created" }, el("a", { href: `#/messages/${encodeURIComponent(m.id)}`, "aria-label": `Message ${m.id}` }, timeEl(createdOf(m)))),
    el("td", { "data-label": "Status" }, badge(m.status)),
    el("td", { "data-label": "Direction", text: m.direction || "outbound" }),
    el("td", { "data-label": "Number", class: "num", text: numberOf(m) || "–" }),
    el("td", { "data-label": "Text", class: "text", text: textOf(m) }))));
}

function fillFilterForm() {
  $("filter-status").value = log.filters.status || "";
  $("filter-direction").value = log.filters.direction || "";
  $("filter-number").value = log.filters.recipientNumber || "";
}

function applyFilters(event) {
  event.preventDefault();
  const form = new FormData($("filters"));
  const filters = {};
  for (const [name, value] of form.entries()) if (String(value).trim()) filters[name] = String(value).trim();
  location.hash = hashForFilters(filters);
}

function turnPage(to) {
  log.page = to;
  log.shown = "";
  loadLog().catch(failed);
}

// ---------- one message ----------

const message = { id: null, shown: "" };
const FIELD_ORDER = ["id", "direction", "status", "recipientNumber", "from", "to", "senderNumber", "messageText",
  "text", "mediaUrls", "mediaIds", "messageUuid", "errorCode", "errorMessage", "outcomeUnknown", "duplicateUuids",
  "callbackUrl", "batchId", "resendOf", "resentAs", "redacted", "createdAt", "receivedAt", "updatedAt"];
const LINKED = new Set(["resendOf", "resentAs"]);

function fieldValue(name, value) {
  if (value === null || value === undefined || (Array.isArray(value) && value.length === 0)) {
    return el("span", { class: "muted", text: "–" });
  }
  const values = Array.isArray(value) ? value : [value];
  if (LINKED.has(name)) {
    const span = el("span");
    values.forEach((id, i) => { if (i) span.append(", "); span.append(el("a", { href: `#/messages/${encodeURIComponent(id)}`, text: id })); });
    return span;
  }
  if (name.endsWith("At") && typeof value === "string") return timeEl(value);
  if (typeof value === "object" && !Array.isArray(value)) return el("code", { text: JSON.stringify(value) });
  return el("span", { text: values.map((v) => typeof v === "object" ? JSON.stringify(v) : String(v)).join(", ") });
}

async function loadMessage() {
  const id = message.id;
  const record = await api("GET", `/messages/${encodeURIComponent(id)}`);
  if (view !== "message" || message.id !== id) return;
  const shown = JSON.stringify(record);
  if (shown === message.shown) return;
  message.shown = shown;
  setText("message-title", `Message ${record.id}`);
  $("message-status").replaceWith(Object.assign(badge(record.status), { id: "message-status" }));
  $("resend").hidden = !RESENDABLE.has(record.status);
  const names = FIELD_ORDER.filter((n) => n in record)
    .concat(Object.keys(record).filter((n) => !FIELD_ORDER.includes(n) && n !== "events" && n !== "callbackAttempts"));
  $("message-fields").replaceChildren(...names.flatMap((n) => [el("dt", { text: n }), el("dd", { "data-field": n }, fieldValue(n, record[n]))]));
  $("message-events").replaceChildren(...(record.events || []).map((e) => el("li", {},
    badge(e.status), " ", timeEl(e.at),
    e.errorCode ? el("span", { class: "detail", text: `error code ${e.errorCode}` }) : null,
    e.detail ? el("span", { class: "detail", text: e.detail }) : null)));
  const attempts = record.callbackAttempts || [];
  const none = $("attempts-none");
  none.hidden = attempts.length > 0;
  none.textContent = record.callbackUrl
    ? "No status event has been posted to the caller yet."
    : "No callbackUrl: status events are not posted for this message.";
  $("attempts").hidden = attempts.length === 0;
  $("attempt-rows").replaceChildren(...attempts.map((a) => el("tr", {},
    el("td", { "data-label": "At" }, timeEl(a.at)),
    el("td", { "data-label": "Event", class: "num", title: a.eventId, text: String(a.eventId || "").slice(0, 13) }),
    el("td", { "data-label": "Status" }, badge(a.status)),
    el("td", { "data-label": "Attempt", class: "num", text: String(a.attempt) }),
    el("td", { "data-label": "Answer", text: a.responseStatus ? String(a.responseStatus) : "no answer" }),
    el("td", { "data-label": "Error", text: (a.exhausted ? "gave up (exhausted) " : "") + (a.error || "") }))));
}

async function resend() {
  const button = $("resend");
  button.disabled = true;
  const result = $("resend-result");
  result.className = "small";
  try {
    const created = await api("POST", `/messages/${encodeURIComponent(message.id)}/resend`);
    result.replaceChildren("Resent as ", el("a", { href: `#/messages/${encodeURIComponent(created.id)}`, id: "resent-as", text: created.id }), ` (${created.status}).`);
    message.shown = "";
    await loadMessage();
  } catch (error) {
    if (error.status === 401) return;
    result.className = "small error";
    result.textContent = `Not resent: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

// ---------- opt-outs ----------

const optOuts = { cursors: [null], page: 0 };

async function loadOptOuts() {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  const cursor = optOuts.cursors[optOuts.page];
  if (cursor) params.set("cursor", cursor);
  const page = await api("GET", "/opt-outs?" + params.toString());
  if (view !== "opt-outs") return;
  const list = page.optOuts || [];
  if (page.nextCursor) optOuts.cursors[optOuts.page + 1] = page.nextCursor;
  else optOuts.cursors.length = optOuts.page + 1;
  $("opt-outs-next").disabled = !page.nextCursor;
  $("opt-outs-prev").disabled = optOuts.page === 0;
  $("opt-outs-newest").disabled = optOuts.page === 0;
  $("opt-outs-empty").hidden = list.length > 0;
  $("opt-out-rows").replaceChildren(...list.map((o) => el("tr", { "data-number": o.number },
    el("td", { "data-label": "Number", class: "num", text: o.number }),
    el("td", { "data-label": "Source", text: o.source || "–" }),
    el("td", { "data-label": "Since" }, timeEl(o.at)),
    el("td", { "data-label": "Action" }, Object.assign(
      el("button", { type: "button", class: "danger", "aria-label": `Remove the opt-out of ${o.number}`, text: "Remove" }),
      { onclick: () => changeOptOut("DELETE", o.number) })))));
}

async function changeOptOut(method, number) {
  const result = $("opt-out-result");
  result.className = "small";
  try {
    await api(method, `/opt-outs/${encodeURIComponent(number)}`);
    result.textContent = method === "PUT" ? `${number} opted out.` : `${number} removed from the opt-out list.`;
    if (method === "PUT") $("opt-out-number").value = "";
    optOuts.page = 0;
    await loadOptOuts();
  } catch (error) {
    if (error.status === 401) return;
    result.className = "small error";
    result.textContent = error.message;
  }
}

// ---------- views and the refresh loop ----------

function show(name) {
  view = name;
  for (const v of ["key", "messages", "message", "opt-outs"]) $("view-" + v).hidden = v !== name;
  const current = { "nav-messages": name === "messages" || name === "message", "nav-opt-outs": name === "opt-outs" };
  for (const [id, on] of Object.entries(current)) {
    if (on) $(id).setAttribute("aria-current", "page"); else $(id).removeAttribute("aria-current");
  }
}

async function route() {
  if (keyRequired && !apiKey) { askForKey("missing"); return; }
  showNotice("");
  const hash = location.hash.replace(/^#/, "") || "/messages";
  const [path, query] = hash.split("?");
  const one = path.match(/^\/messages\/(.+)$/);
  if (one) {
    show("message");
    message.id = decodeURIComponent(one[1]);
    message.shown = "";
    setText("message-title", `Message ${message.id}`);
    $("resend").hidden = true;
    $("resend-result").textContent = "";
  } else if (path === "/opt-outs") {
    show("opt-outs");
    optOuts.cursors = [null];
    optOuts.page = 0;
  } else {
    show("messages");
    log.filters = filtersFromHash(query || "");
    log.cursors = [null];
    log.page = 0;
    log.shown = "";
    fillFilterForm();
  }
  document.title = `${$("view-" + view).querySelector("h2").textContent} · mms-gateway console`;
  await refresh(true);
}

async function refresh(viewToo) {
  if (refreshing || (keyRequired && !apiKey)) return;
  refreshing = true;
  try {
    await refreshStats();
    if (viewToo || view === "message" || (view === "messages" && log.page === 0)) {
      if (view === "messages") await loadLog();
      else if (view === "message") await loadMessage();
      else if (view === "opt-outs" && viewToo) await loadOptOuts();
    }
    showNotice("");
  } catch (error) {
    if (error.status !== 401) {
      failed(error);
      setText("stats-state", "Not updated: " + error.message);
    }
  } finally {
    refreshing = false;
  }
}

function start() {
  $("key-form").addEventListener("submit", useKey);
  $("forget-key").addEventListener("click", forgetKey);
  $("forget-key").hidden = !apiKey;
  $("filters").addEventListener("submit", applyFilters);
  $("filters-clear").addEventListener("click", () => { location.hash = "#/messages"; });
  $("log-next").addEventListener("click", () => turnPage(log.page + 1));
  $("log-prev").addEventListener("click", () => turnPage(Math.max(0, log.page - 1)));
  $("log-newest").addEventListener("click", () => turnPage(0));
  $("resend").addEventListener("click", resend);
  $("opt-out-add").addEventListener("submit", (event) => {
    event.preventDefault();
    const number = $("opt-out-number").value.trim();
    if (number) changeOptOut("PUT", number);
  });
  const optOutPage = (to) => { optOuts.page = to; loadOptOuts().catch(failed); };
  $("opt-outs-next").addEventListener("click", () => optOutPage(optOuts.page + 1));
  $("opt-outs-prev").addEventListener("click", () => optOutPage(Math.max(0, optOuts.page - 1)));
  $("opt-outs-newest").addEventListener("click", () => optOutPage(0));
  window.addEventListener("hashchange", () => { route(); $("main").focus({ preventScroll: true }); });
  setInterval(() => { if (!document.hidden) refresh(false); }, REFRESH_MS);
  route();
}

start();
