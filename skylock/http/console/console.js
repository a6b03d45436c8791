// SkyLock console: a single page over the node's own REST API (same origin, no libraries).
// Everything shown comes from /v1/... with the operator's bearer token; every failure is
// shown in words where it happened. Text from the cluster only ever enters the page as
// textContent, never as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "skylock.console.token";
  const CLUSTER_EVERY_MS = 2000;
  const SESSIONS_EVERY_MS = 3000;
  const WATCH_TIMEOUT_S = 25;
  const WATCH_RETRY_MS = 3000;
  const MAX_EVENTS = 1000;
  const MAX_CHILDREN_SHOWN = 500;

  // ---------------------------------------------------------------------------- DOM helpers

  /** An element with attributes (class, data-*, on* handlers) and children (nodes or text). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "class") el.className = value;
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function fill(el, ...children) {
    el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  }

  function emptyRow(columns, text) {
    return h("tr", {}, h("td", { class: "empty-row", colspan: columns }, text));
  }

  const badge = (text, kind) => h("span", { class: "badge" + (kind ? " badge-" + kind : "") }, text);
  const mono = (text) => h("span", { class: "mono" }, text);

  function clock(date) {
    return (date || new Date()).toLocaleTimeString([], { hour12: false });
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return "—";
    if (ms % 60000 === 0 && ms >= 600000) return `${ms / 60000} min`;
    return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
  }

  /** ``text`` ending as a sentence does, so a hint can follow it. */
  function sentence(text) {
    const trimmed = String(text).trim();
    return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
  }

  function when(ms) {
    return ms ? `${new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC")}` : "—";
  }

  // ---------------------------------------------------------------------------- the API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }

    /** The error in words, e.g. "401 Unauthenticated: this cluster requires a token." */
    get words() {
      const head = this.status ? `${this.status} ${this.code}` : this.code;
      return `${head}: ${sentence(this.message)}`;
    }
  }

  const token = {
    get: () => sessionStorage.getItem(TOKEN_KEY) || "",
    set: (value) => (value ? sessionStorage.setItem(TOKEN_KEY, value) : sessionStorage.removeItem(TOKEN_KEY)),
  };

  /** A node path as the tail of a route: "/a b/c" -> "/a%20b/c", "/" -> "/". */
  function routePath(path) {
    return "/" + path.split("/").filter(Boolean).map(encodeURIComponent).join("/");
  }

  /** One REST call; resolves {status, body, headers}, rejects with an ApiError in words. */
  async function api(method, url, { body, signal } = {}) {
    const headers = {};
    const bearer = token.get();
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    const init = { method, headers, signal, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(url, init);
    } catch (err) {
      if (signal && signal.aborted) throw err;
      throw new ApiError(0, "Unreachable", `the node serving this page did not answer (${err.message})`);
    }
    const text = await resp.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch (_) {
      parsed = null;
    }
    if (!resp.ok) {
      const e = parsed && parsed.error;
      const error = new ApiError(resp.status, (e && e.code) || resp.statusText || "Error",
        (e && e.message) || text.trim() || "the node answered with no explanation");
      if (resp.status === 401) auth.demand(error);
      throw error;
    }
    auth.satisfied();
    return { status: resp.status, body: parsed, headers: resp.headers };
  }

  function wordsOf(err) {
    return err instanceof ApiError ? err.words : `Error: ${err && err.message ? err.message : err}`;
  }

  /** Show ``err`` in the alert ``el`` (a 401 also tells where to give a token). */
  function showError(el, err, doing) {
    const extra = err && err.status === 401 ? " Enter a bearer token in the bar above." : "";
    fill(el, h("strong", {}, doing ? `Could not ${doing}.` : "Error."), wordsOf(err) + extra);
    el.classList.remove("alert-ok");
    el.hidden = false;
  }

  function showNote(el, text) {
    fill(el, text);
    el.classList.add("alert-ok");
    el.hidden = false;
  }

  function clearAlert(el) {
    el.hidden = true;
    el.classList.remove("alert-ok");
    el.replaceChildren();
  }

  // ---------------------------------------------------------------------------- token

  const auth = {
    demand(error) {
      $("auth-title").textContent = `401 ${error.code}`;
      $("auth-message").textContent = token.get()
        ? `${sentence(error.message)} The token given was refused: enter another one.`
        : `${sentence(error.message)} This node runs in secure mode: enter a bearer token to continue.`;
      $("auth-banner").hidden = false;
    },
    satisfied() {
      $("auth-banner").hidden = true;
    },
    use(value) {
      token.set(value.trim());
      $("token-button").textContent = token.get() ? "Token ✓" : "Token";
      refreshAll();
    },
  };

  function setupToken() {
    $("token-button").textContent = token.get() ? "Token ✓" : "Token";
    $("auth-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      auth.use($("auth-token").value);
      $("auth-token").value = "";
    });
    $("token-button").addEventListener("click", () => {
      $("token-input").value = token.get();
      $("token-dialog").showModal();
    });
    $("token-dialog").addEventListener("close", () => {
      const choice = $("token-dialog").returnValue;
      if (choice === "save") auth.use($("token-input").value);
      if (choice === "clear") auth.use("");
      $("token-input").value = "";
    });
  }

  /** Ask before a write: resolves true only when the operator confirms. */
  function confirmAction(title, text, okLabel) {
    const dialog = $("confirm-dialog");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = okLabel || "Confirm";
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    });
  }

  // ---------------------------------------------------------------------------- tabs

  const tabs = { current: "cluster" };

  function showTab(name) {
    if (!document.querySelector(`[data-panel="${name}"]`)) name = "cluster";
    tabs.current = name;
    for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.tab === name);
    for (const panel of document.querySelectorAll(".panel")) panel.hidden = panel.dataset.panel !== name;
    if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
    if (name === "sessions") sessions.refresh();
    if (name === "tree" && !tree.loaded) tree.start();
  }

  // ---------------------------------------------------------------------------- cluster

  const cluster = {
    busy: false,

    async refresh() {
      if (this.busy) return;  // a slow answer must not pile up requests behind it
      this.busy = true;
      try {
        const { body } = await api("GET", "/v1/cluster/members");
        clearAlert($("cluster-error"));
        this.render(body);
        $("cluster-updated").textContent = `Updated ${clock()} · refreshes every ${CLUSTER_EVERY_MS / 1000} s`;
      } catch (err) {
        showError($("cluster-error"), err, "read the cluster status");
        if (!$("members-body").children.length) fill($("members-body"), emptyRow(11, "Nothing to show: see the error above"));
        const chip = $("cluster-chip");
        chip.className = "chip chip-bad";
        chip.textContent = err.status === 401 ? "token needed" : "unavailable";
      } finally {
        this.busy = false;
      }
    },

    render(status) {
      const members = status.members || [];
      const healthy = members.filter((m) => m.health === "ok").length;
      const leader = members.find((m) => m.id === status.leader);
      const chip = $("cluster-chip");
      chip.className = "chip " + (status.leader ? "chip-ok" : "chip-bad");
      chip.textContent = status.leader ? `leader: node ${status.leader} · term ${status.term}` : "no leader";
      const card = (label, value) => h("div", { class: "stat-card" }, h("div", { class: "label" }, label),
        h("div", { class: "value" }, value));
      fill($("cluster-cards"),
        card("Leader", leader ? `node ${leader.id}` : "none"),
        card("Term", status.term ?? "—"),
        card("Commit index", status.commit ?? "—"),
        card("Healthy members", `${healthy} / ${members.length}`));
      fill($("members-body"), members.length ? members.map((m) => this.row(m, status.leader)) : emptyRow(11, "no members"));
    },

    row(m, leaderId) {
      const isLeader = m.id === leaderId;
      const reachable = !!m.reachable;
      const role = isLeader ? badge("leader", "leader") : badge(m.role || "unknown");
      const health = m.health === "ok" ? badge("ok", "ok") : badge(m.health || "unknown", reachable ? "warn" : "bad");
      const lag = m.lag === null || m.lag === undefined ? "—" : m.lag;
      const dash = (v) => (reachable && v !== undefined ? v : "—");
      return h("tr", { "data-node": m.id, class: isLeader ? "is-leader" : "" },
        h("td", {}, h("strong", {}, `node ${m.id}`), isLeader ? h("span", { class: "star", title: "leader" }, "★") : null),
        h("td", { class: "role" }, reachable ? role : badge("unknown")),
        h("td", { class: "num" }, dash(m.term)),
        h("td", { class: "num" }, dash(m.commit)),
        h("td", { class: "num" }, dash(m.applied)),
        h("td", { class: "num" }, dash(m.last_index)),
        h("td", { class: "num" }, lag),
        h("td", {}, reachable ? badge("yes", "ok") : badge("no", "bad")),
        h("td", { class: "health" }, health),
        h("td", {}, mono(m.client_address || "—")),
        h("td", { class: "num" }, m.http_port ?? "—"));
    },
  };

  // ---------------------------------------------------------------------------- tree

  /** Bytes <-> the API's data field, and a hex dump for binary data. */
  const bytes = {
    of(node) {
      if (node.encoding === "base64") return Uint8Array.from(atob(node.data), (c) => c.charCodeAt(0));
      return new TextEncoder().encode(node.data || "");
    },
    hexdump(data) {
      if (!data.length) return "";
      const lines = [];
      for (let off = 0; off < data.length; off += 16) {
        const row = Array.from(data.slice(off, off + 16));
        const hex = row.map((b) => b.toString(16).padStart(2, "0")).join(" ");
        const ascii = row.map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
        lines.push(`${off.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
      }
      return lines.join("\n");
    },
  };

  const tree = {
    loaded: false,
    selected: null,
    node: null,
    view: "text",

    start() {
      this.loaded = true;
      fill($("tree-root"), this.item("/", "/"));
      this.expand($("tree-root").firstChild);
      this.open("/");
    },

    parentOf(path) {
      const cut = path.lastIndexOf("/");
      return cut <= 0 ? "/" : path.slice(0, cut);
    },

    join(parent, name) {
      return parent === "/" ? `/${name}` : `${parent}/${name}`;
    },

    item(path, label) {
      const li = h("li", { "data-path": path });
      const twisty = h("span", { class: "twisty" }, "▸");
      twisty.addEventListener("click", (ev) => {
        ev.stopPropagation();
        this.toggle(li);
      });
      const row = h("div", { class: "tree-row" }, twisty, h("span", { class: "tree-name" }, label));
      row.addEventListener("click", () => {
        this.open(path);
        if (!li.classList.contains("open")) this.expand(li);
      });
      li.append(row);
      return li;
    },

    toggle(li) {
      if (li.classList.contains("open")) {
        li.classList.remove("open");
        li.querySelector(":scope > ul")?.remove();
        li.querySelector(".twisty").textContent = "▸";
      } else {
        this.expand(li);
      }
    },

    async expand(li) {
      const path = li.dataset.path;
      li.querySelector(":scope > ul")?.remove();
      const list = h("ul", {});
      li.append(list);
      li.classList.add("open");
      li.querySelector(".twisty").textContent = "▾";
      try {
        const { body } = await api("GET", `/v1/children${routePath(path)}`);
        const names = body.children || [];
        if (!names.length) {
          li.querySelector(".twisty").textContent = "·";
          list.remove();
          return;
        }
        fill(list, names.slice(0, MAX_CHILDREN_SHOWN).map((name) => this.item(this.join(path, name), name)));
        if (names.length > MAX_CHILDREN_SHOWN) {
          list.append(h("li", { class: "tree-note" }, `… and ${names.length - MAX_CHILDREN_SHOWN} more (open a path above)`));
        }
        this.mark();
      } catch (err) {
        fill(list, h("li", { class: "tree-note" }, wordsOf(err)));
      }
    },

    mark() {
      for (const row of document.querySelectorAll("#tree-root .tree-row")) {
        row.classList.toggle("selected", row.parentElement.dataset.path === this.selected);
      }
    },

    find(path) {
      return Array.from(document.querySelectorAll("#tree-root li")).find((el) => el.dataset.path === path);
    },

    /** Open the branches down to ``path`` so the hierarchy shows where it is. */
    async reveal(path) {
      let current = "/";
      for (const part of path.split("/").filter(Boolean)) {
        const li = this.find(current);
        if (!li) return;
        if (!li.classList.contains("open")) await this.expand(li);
        current = this.join(current, part);
      }
      this.mark();
    },

    /** Re-read the hierarchy, keeping the open branches open. */
    async reload() {
      const open = Array.from(document.querySelectorAll("#tree-root li.open")).map((li) => li.dataset.path);
      fill($("tree-root"), this.item("/", "/"));
      for (const path of open) {
        const li = this.find(path);
        if (li) await this.expand(li);
      }
      if (this.selected) this.open(this.selected);
    },

    async open(path) {
      this.selected = path;
      this.mark();
      $("goto-path").value = path;
      try {
        const { body } = await api("GET", `/v1/nodes${routePath(path)}`);
        clearAlert($("tree-error"));
        this.node = body;
        this.view = body.encoding === "base64" ? "hex" : "text";
        const li = this.find(path);
        if (li && !li.classList.contains("open") && body.stat && body.stat.num_children === 0) {
          li.querySelector(".twisty").textContent = "·";  // a leaf: nothing to expand
        }
        this.renderDetail();
      } catch (err) {
        this.node = null;
        showError($("tree-error"), err, `open ${path}`);
        fill($("node-detail"), h("div", { class: "empty" }, `${path}: ${wordsOf(err)}`));
      }
    },

    renderDetail() {
      const node = this.node;
      const actions = h("div", { class: "detail-actions" },
        h("button", { class: "btn btn-small", type: "button", id: "node-create", onclick: () => this.createForm() }, "New child"),
        h("button", { class: "btn btn-small", type: "button", id: "node-edit", onclick: () => this.editForm() }, "Edit data"),
        node.path === "/" ? null
          : h("button", { class: "btn btn-small", type: "button", id: "node-delete", onclick: () => this.remove() }, "Delete"));
      fill($("node-detail"),
        h("div", { class: "detail-head" }, h("span", { class: "detail-path", id: "node-path" }, node.path), actions),
        h("div", { id: "node-body" }, this.dataSection(), this.statSection()));
    },

    dataSection() {
      const node = this.node;
      const data = bytes.of(node);
      const binary = node.encoding === "base64";
      const seg = h("span", { class: "seg" },
        h("button", { type: "button", class: this.view === "text" ? "on" : "", disabled: binary,
          title: binary ? "the data is not UTF-8 text" : null,
          onclick: () => { this.view = "text"; this.renderDetail(); } }, "Text"),
        h("button", { type: "button", class: this.view === "hex" ? "on" : "",
          onclick: () => { this.view = "hex"; this.renderDetail(); } }, "Hex"));
      const shown = this.view === "hex" ? bytes.hexdump(data) : node.data;
      const label = `Data · ${data.length} byte${data.length === 1 ? "" : "s"}${binary ? " · binary" : ""}`;
      return [
        h("div", { class: "section-title" }, h("span", {}, label), seg),
        h("pre", { class: "data" + (shown ? "" : " is-empty"), id: "node-data", "data-view": this.view },
          shown || "(empty)"),
      ];
    },

    statSection() {
      const s = this.node.stat || {};
      const rows = (pairs) => h("table", { class: "stat" },
        h("tbody", {}, pairs.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, v)))));
      return [
        h("div", { class: "section-title" }, h("span", {}, "Stat")),
        h("div", { class: "stat-columns", id: "node-stat" },
          rows([["version", s.version], ["cversion", s.cversion], ["data length", s.data_length],
            ["children", s.num_children], ["ephemeral owner", s.ephemeral_owner || "— (persistent)"]]),
          rows([["czxid", s.czxid], ["mzxid", s.mzxid], ["pzxid", s.pzxid],
            ["ctime", when(s.ctime)], ["mtime", when(s.mtime)]])),
      ];
    },

    form(title, fields, submitLabel, onSubmit) {
      const form = h("form", { id: "node-form" },
        h("div", { class: "form-title" }, title),
        h("div", { class: "form-grid" }, fields),
        h("div", { class: "form-actions" },
          h("button", { class: "btn", type: "button", onclick: () => this.renderDetail() }, "Cancel"),
          h("button", { class: "btn btn-primary", type: "submit" }, submitLabel)));
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        onSubmit(form);
      });
      fill($("node-body"), form);
      return form;
    },

    editForm() {
      const node = this.node;
      const binary = node.encoding === "base64";
      this.form(`Set the data of ${node.path}`, [
        h("label", { for: "f-data" }, binary ? "Data (base64)" : "Data"),
        h("textarea", { id: "f-data", spellcheck: "false" }, node.data),
        h("label", {}, "Encoding"),
        h("label", { class: "check" }, h("input", { type: "checkbox", id: "f-base64", checked: binary }), "the data is base64"),
        h("label", { for: "f-version" }, "Expected version"),
        h("div", { class: "version-field" },
          h("input", { type: "number", id: "f-version", value: node.stat.version, min: -1 }),
          h("span", { class: "muted" }, "refused if the node changed since; -1 sets whatever the version")),
      ], "Save", () => this.save());
    },

    async save() {
      const path = this.node.path;
      const version = Number($("f-version").value);
      const body = { data: $("f-data").value, version };
      if ($("f-base64").checked) body.encoding = "base64";
      const check = version === -1 ? "whatever its version" : `only if it is still at version ${version}`;
      if (!(await confirmAction("Set data", `Replace the data of ${path} (${check})?`, "Set data"))) return;
      try {
        const { body: result } = await api("POST", `/v1/nodes${routePath(path)}`, { body });
        showNote($("tree-error"), `Set ${path}: now at version ${result.stat.version}.`);
        this.open(path);
      } catch (err) {
        showError($("tree-error"), err, `set ${path}`);
      }
    },

    createForm() {
      const parent = this.node.path;
      this.form(`New node under ${parent}`, [
        h("label", { for: "f-path" }, "Path"),
        h("input", { type: "text", id: "f-path", value: parent === "/" ? "/" : `${parent}/`, spellcheck: "false" }),
        h("label", { for: "f-data" }, "Data"),
        h("textarea", { id: "f-data", spellcheck: "false" }),
        h("label", {}, "Options"),
        h("label", { class: "check" }, h("input", { type: "checkbox", id: "f-sequential" }), "sequential (a counter is appended)"),
      ], "Create", () => this.create());
    },

    async create() {
      const path = $("f-path").value.trim();
      const body = { data: $("f-data").value, sequential: $("f-sequential").checked };
      if (!(await confirmAction("Create node", `Create ${path}${body.sequential ? "NNNNNNNNNN" : ""}?`, "Create"))) return;
      try {
        const { body: result } = await api("PUT", `/v1/nodes${routePath(path)}`, { body });
        showNote($("tree-error"), `Created ${result.path}.`);
        this.selected = result.path;
        await this.reload();
      } catch (err) {
        showError($("tree-error"), err, `create ${path}`);
      }
    },

    async remove() {
      const path = this.node.path;
      const version = this.node.stat.version;
      if (!(await confirmAction("Delete node", `Delete ${path}, only if it is still at version ${version}?`, "Delete"))) return;
      try {
        await api("DELETE", `/v1/nodes${routePath(path)}?version=${version}`);
        showNote($("tree-error"), `Deleted ${path}.`);
        this.selected = this.parentOf(path);
        await this.reload();
      } catch (err) {
        showError($("tree-error"), err, `delete ${path}`);
      }
    },

    setup() {
      $("goto-form").addEventListener("submit", (ev) => {
        ev.preventDefault();
        const typed = $("goto-path").value.trim() || "/";
        const path = typed.startsWith("/") ? typed : `/${typed}`;
        this.open(path);
        this.reveal(path);
      });
      $("tree-refresh").addEventListener("click", () => this.reload());
    },
  };

  // ---------------------------------------------------------------------------- sessions and locks


  const sessions = {
    locks: [],
    busy: false,

    async refresh() {
      if (this.busy) return;
      this.busy = true;
      const [sessionList, lockList] = await Promise.allSettled([
        api("GET", "/v1/sessions"), api("GET", "/v1/locks")]);
      this.busy = false;
      if (lockList.status === "fulfilled") {
        clearAlert($("locks-error"));
        this.locks = lockList.value.body.locks || [];
        this.renderLocks();
      } else {
        showError($("locks-error"), lockList.reason, "list the locks");
      }
      if (sessionList.status === "fulfilled") {
        clearAlert($("sessions-error"));
        this.renderSessions(sessionList.value.body.sessions || []);
      } else {
        showError($("sessions-error"), sessionList.reason, "list the sessions");
      }
      $("sessions-updated").textContent = `Updated ${clock()} · refreshes every ${SESSIONS_EVERY_MS / 1000} s`;
    },

    /** "holds" or "waits (#n)" for a session's entry on a lock, from the lock list. */
    standing(name, entry) {
      const lock = this.locks.find((l) => l.name === name);
      if (!lock) return "queued";
      if (lock.holder && lock.holder.entry === entry) return "holds";
      const at = (lock.waiters || []).findIndex((w) => w.entry === entry);
      return at >= 0 ? `waits (#${at + 1})` : "queued";
    },

    renderSessions(list) {
      $("sessions-count").textContent = `${list.length} open`;
      fill($("sessions-body"), list.length ? list.map((s) => {
        const locks = [];
        const nodes = [];
        for (const lock of s.locks || []) {
          const standing = this.standing(lock.name, lock.entry);
          locks.push(h("li", {}, mono(lock.name), " ", badge(standing, standing === "holds" ? "ok" : "warn")));
        }
        for (const path of s.ephemerals || []) {
          nodes.push(h("li", {}, mono(path)));
        }
        return h("tr", { "data-session": s.public_id },
          h("td", {}, mono(s.public_id)),
          h("td", {}, s.client_id || h("span", { class: "muted" }, "—")),
          h("td", { class: "num" }, duration(s.ttl_ms)),
          h("td", {}, locks.length ? h("ul", { class: "plain" }, locks) : h("span", { class: "muted" }, "none")),
          h("td", {}, nodes.length ? h("ul", { class: "plain" }, nodes) : h("span", { class: "muted" }, "none")));
      }) : emptyRow(5, "No open sessions"));
    },

    renderLocks() {
      const list = this.locks;
      const held = list.filter((l) => l.holder).length;
      $("locks-count").textContent = `${list.length} known · ${held} held`;
      const who = (entry, extra) => [h("div", { class: "who" }, entry.owner || "(no owner label)"),
        h("div", { class: "who-detail" }, `session ${entry.session} · ${entry.entry}${extra || ""}`)];
      fill($("locks-body"), list.length ? list.map((l) => h("tr", { "data-lock": l.name },
        h("td", {}, mono(l.name)),
        h("td", { class: "holder" }, l.holder ? who(l.holder) : badge("free")),
        h("td", { class: "num" }, l.holder ? l.holder.token : "—"),
        h("td", { class: "waiters" }, (l.waiters || []).length
          ? h("ol", { class: "waiters" }, l.waiters.map((w) => h("li", {}, who(w, ` · token ${w.token}`))))
          : h("span", { class: "muted" }, "none")),
      )) : emptyRow(4, "No locks"));
    },
  };

  // ---------------------------------------------------------------------------- live events

  const events = {
    control: null,
    count: 0,

    status(text, kind) {
      const el = $("watch-status");
      el.textContent = text;
      el.className = "status-dot" + (kind ? ` ${kind}` : "");
    },

    toggle() {
      if (this.control) this.stop();
      else this.start($("watch-path").value.trim() || "/");
    },

    start(path) {
      const control = new AbortController();
      this.control = control;
      $("watch-toggle").textContent = "Stop";
      $("watch-path").disabled = true;
      this.loop(path, control).finally(() => {
        if (this.control === control) this.stop();
      });
    },

    stop() {
      if (this.control) this.control.abort();
      this.control = null;
      $("watch-toggle").textContent = "Watch";
      $("watch-path").disabled = false;
      this.status("Not watching");
    },

    /** Long-poll the recursive watch; the first poll only anchors where the watch starts
     * (a short timeout answers at once with the zxid), so nothing written after the page
     * says "Watching" can be missed: each poll resumes from the last one's zxid. */
    async loop(path, control) {
      let from = null;
      const url = (timeout) => `/v1/watch${routePath(path)}?kind=recursive&timeout=${timeout}`
        + (from === null ? "" : `&from_zxid=${from}`);
      while (!control.signal.aborted) {
        try {
          const resp = await api("GET", url(from === null ? 0.05 : WATCH_TIMEOUT_S), { signal: control.signal });
          clearAlert($("events-error"));
          if (resp.status === 200) this.add(resp.body.events || []);
          from = Number(resp.headers.get("X-SkyLock-Zxid"));
          this.status(`Watching ${path} and everything under it · after zxid ${from}`, "live");
        } catch (err) {
          if (control.signal.aborted) return;
          showError($("events-error"), err, `watch ${path}`);
          if (err.status === 410) {
            from = null;  // history compacted: start again from now
            continue;
          }
          if (err.status && err.status < 500 && err.status !== 408) return;  // will not get better by itself
          this.status(`Retrying in ${WATCH_RETRY_MS / 1000} s`, "failed");
          await new Promise((resolve) => setTimeout(resolve, WATCH_RETRY_MS));
        }
      }
    },

    add(list) {
      const body = $("events-body");
      if (body.querySelector(".empty-row")) body.replaceChildren();
      for (const e of list) {
        this.count += 1;
        const detail = [];
        if (e.child) detail.push(`child ${e.child}`);
        if (e.session_id) detail.push(`session ${e.session_id}`);
        if (e.reason) detail.push(e.reason);
        const kind = { created: "ok", deleted: "bad", data_changed: "leader", session_closed: "warn" }[e.type];
        body.prepend(h("tr", { class: "fresh", "data-type": e.type, "data-path": e.path },
          h("td", {}, clock()), h("td", { class: "num" }, e.zxid), h("td", {}, badge(e.type, kind)),
          h("td", {}, mono(e.path || "—")), h("td", { class: "muted" }, detail.join(" · "))));
      }
      while (body.children.length > MAX_EVENTS) body.lastChild.remove();
      $("events-count").textContent = `${this.count} event${this.count === 1 ? "" : "s"}`;
    },

    setup() {
      fill($("events-body"), emptyRow(5, "No events yet: start a watch, then change something"));
      $("watch-form").addEventListener("submit", (ev) => {
        ev.preventDefault();
        this.toggle();
      });
      $("watch-clear").addEventListener("click", () => {
        this.count = 0;
        $("events-count").textContent = "";
        fill($("events-body"), emptyRow(5, "No events yet"));
      });
    },
  };

  // ---------------------------------------------------------------------------- start

  function refreshAll() {
    cluster.refresh();
    if (tabs.current === "sessions") sessions.refresh();
    if (tree.loaded) tree.reload();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("node-addr").textContent = location.host;
    setupToken();
    tree.setup();
    events.setup();
    for (const tab of document.querySelectorAll(".tab")) {
      tab.addEventListener("click", () => showTab(tab.dataset.tab));
    }
    showTab(location.hash.slice(1) || "cluster");
    window.addEventListener("hashchange", () => showTab(location.hash.slice(1)));
    cluster.refresh();
    setInterval(() => cluster.refresh(), CLUSTER_EVERY_MS);
    setInterval(() => { if (tabs.current === "sessions") sessions.refresh(); }, SESSIONS_EVERY_MS);
  });
})();
