// The coding page's code grid (pages/chart_grid.py): rows, findings under their rows, the add/replace
// box with code autocomplete, keyboard and mouse reordering.
//
// Python owns the rows. Every edit is applied here at once (so typing, moving and removing feel
// instant) and sent to Python as one message ({op: ...}); Python applies the same edit, validates
// and sends back `rows` and `notes`, which replace the local copy. Rows are keyed by `uid`, and the
// DOM is patched in place, so a focused input keeps its focus, caret and text while updates arrive.
// All user and code text is set with textContent, never as HTML.

const ICON = { error: "\u2716", warning: "\u25B2", info: "i" };
const SEARCH_DELAY_MS = 120;
const TEXT_DELAY_MS = 350;
const TOAST_MS = 8000;

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function newUid() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  return "r" + Math.random().toString(36).slice(2) + Date.now().toString(36);
}

function kindLabel(kind) {
  return kind === "procedure" ? "procedure" : "diagnosis";
}

export function render({ model, el }) {
  const state = {
    rows: (model.rows || []).map((r) => ({ ...r })),
    kind: "diagnosis",
    suggestions: [],
    active: -1,
    seq: 0,
    query: "",
    replacing: null,
    autoKind: false,
    pending: new Map(),
    drag: null,
    toastTimer: null,
    searchTimer: null,
  };
  const rowNodes = new Map();
  const root = h("div", { class: "scg" });
  el.append(root);

  const send = (msg) => model.send_msg(msg);

  // -- pending text edits: flushed before any other message, so Python sees edits in order ----------

  function queueText(uid, field, value, immediate) {
    const key = uid + "|" + field;
    const prior = state.pending.get(key);
    if (prior) clearTimeout(prior.timer);
    const entry = { uid, field, value, timer: null };
    if (immediate) {
      state.pending.delete(key);
      send({ op: "text", uid, field, value });
      return;
    }
    entry.timer = setTimeout(() => {
      state.pending.delete(key);
      send({ op: "text", uid, field, value });
    }, TEXT_DELAY_MS);
    state.pending.set(key, entry);
  }

  function flushText() {
    for (const [key, entry] of state.pending) {
      clearTimeout(entry.timer);
      state.pending.delete(key);
      send({ op: "text", uid: entry.uid, field: entry.field, value: entry.value });
    }
  }

  function op(msg) {
    flushText();
    send(msg);
  }

  // -- add / replace box ---------------------------------------------------------------------------

  const kindButtons = {};
  const kindGroup = h("div", { class: "scg-kind", role: "radiogroup", "aria-label": "Kind of code to add" });
  for (const kind of ["diagnosis", "procedure"]) {
    const button = h("button", {
      type: "button",
      role: "radio",
      class: "scg-kind__option",
      "data-kind": kind,
      text: kind === "diagnosis" ? "Diagnosis" : "Procedure",
      onclick: () => {
        state.autoKind = false;
        setKind(kind, true);
      },
    });
    kindButtons[kind] = button;
    kindGroup.append(button);
  }
  const search = h("input", {
    class: "scg-search",
    type: "text",
    role: "combobox",
    "aria-autocomplete": "list",
    "aria-expanded": "false",
    "aria-controls": "scg-list",
    "aria-label": "Add a code",
    autocomplete: "off",
    spellcheck: "false",
  });
  const list = h("ul", { class: "scg-list", id: "scg-list", role: "listbox", hidden: true });
  const replaceNote = h("div", { class: "scg-replace", hidden: true });
  const addBar = h(
    "div",
    { class: "scg-add" },
    kindGroup,
    h("div", { class: "scg-combo" }, search, list),
  );
  const addWrap = h("div", { class: "scg-addwrap" }, addBar, replaceNote);

  function setKind(kind, focus) {
    if (state.replacing) return;
    state.kind = kind;
    for (const [k, button] of Object.entries(kindButtons)) {
      button.setAttribute("aria-checked", k === kind ? "true" : "false");
      button.tabIndex = k === kind ? 0 : -1;
    }
    search.placeholder =
      kind === "diagnosis"
        ? "Add a diagnosis \u2014 type a code or words (J18.9, pneumonia), then Enter"
        : "Add a procedure \u2014 type an ICD-10-PCS code or words (0DTJ4ZZ, resection appendix), then Enter";
    if (focus) search.focus();
    if (search.value.trim()) requestSuggestions();
  }

  function currentKind() {
    if (state.replacing) {
      const row = state.rows.find((r) => r.uid === state.replacing);
      return row ? row.kind : state.kind;
    }
    return state.kind;
  }

  function requestSuggestions() {
    clearTimeout(state.searchTimer);
    const q = search.value.trim();
    if (!q) {
      closeList();
      return;
    }
    // ICD-10-CM codes start with a letter, ICD-10-PCS codes mostly with a digit: follow the typing,
    // and go back to diagnoses when a switch made this way no longer fits.
    if (!state.replacing && /^[0-9]/.test(q) && state.kind !== "procedure") {
      setKind("procedure", false);
      state.autoKind = true;
    } else if (!state.replacing && state.autoKind && /^[A-Za-z]/.test(q)) {
      state.autoKind = false;
      setKind("diagnosis", false);
    }
    state.searchTimer = setTimeout(() => {
      state.seq += 1;
      state.query = q;
      send({ op: "search", q, kind: currentKind(), seq: state.seq });
    }, SEARCH_DELAY_MS);
  }

  function closeList() {
    state.suggestions = [];
    state.active = -1;
    list.hidden = true;
    list.replaceChildren();
    search.setAttribute("aria-expanded", "false");
    search.removeAttribute("aria-activedescendant");
  }

  function showSuggestions(payload) {
    if (!payload || payload.seq !== state.seq || search.value.trim() !== payload.q) return;
    state.suggestions = payload.items || [];
    state.active = state.suggestions.length ? 0 : -1;
    list.replaceChildren();
    state.suggestions.forEach((item, i) => {
      const option = h(
        "li",
        {
          id: "scg-opt-" + i,
          role: "option",
          class: "scg-option" + (item.billable ? "" : " scg-option--header"),
          onmousedown: (event) => {
            event.preventDefault();
            choose(i);
          },
          onmousemove: () => highlight(i),
        },
        h("span", { class: "scg-option__code", text: item.code }),
        h("span", { class: "scg-option__desc", text: item.description }),
        item.billable ? null : h("span", { class: "scg-tag", text: "not billable \u00B7 Tab to narrow" }),
      );
      list.append(option);
    });
    if (!state.suggestions.length) {
      list.append(
        h("li", {
          class: "scg-option scg-option--empty",
          role: "presentation",
          text: "No match. Press Enter to add \u201C" + payload.q + "\u201D as typed; the checks will tell you if it is not a valid code.",
        }),
      );
    }
    list.hidden = false;
    search.setAttribute("aria-expanded", "true");
    highlight(state.active);
  }

  function highlight(i) {
    state.active = i;
    [...list.querySelectorAll('[role="option"]')].forEach((node, j) => {
      node.setAttribute("aria-selected", j === i ? "true" : "false");
      if (j === i) node.scrollIntoView({ block: "nearest" });
    });
    if (i >= 0) search.setAttribute("aria-activedescendant", "scg-opt-" + i);
    else search.removeAttribute("aria-activedescendant");
  }

  function choose(i) {
    const item = state.suggestions[i];
    const code = item ? item.code : search.value.trim();
    if (!code) return;
    const description = item ? item.description : "";
    if (state.replacing) {
      const uid = state.replacing;
      const row = state.rows.find((r) => r.uid === uid);
      if (row) Object.assign(row, { code, description, known: !!item, billable: !!(item && item.billable) });
      op({ op: "replace", uid, code });
      endReplace(true);
      renderRows();
      focusRow(uid);
    } else {
      const uid = newUid();
      const kind = state.kind;
      const principal = kind === "diagnosis" && !state.rows.some((r) => r.kind === "diagnosis" && r.principal);
      state.rows.push({
        uid, kind, code, description, principal, rationale: "", override_rationale: "",
        known: !!item, billable: !!(item && item.billable), fresh: true,
      });
      state.rows = [...rowsOf("diagnosis"), ...rowsOf("procedure")];
      op({ op: "add", uid, kind, code });
      search.value = "";
      closeList();
      if (state.autoKind) {
        state.autoKind = false;
        setKind("diagnosis", false);
      }
      renderRows();
      search.focus();
    }
  }

  search.addEventListener("input", requestSuggestions);
  search.addEventListener("keydown", (event) => {
    const n = state.suggestions.length;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      if (list.hidden) requestSuggestions();
      else if (n) highlight((state.active + 1) % n);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      if (n) highlight((state.active - 1 + n) % n);
    } else if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(state.searchTimer);
      const q = search.value.trim();
      if (!q) return;
      // Enter before the suggestions for the current text arrived: add what was typed.
      if (state.query !== q || list.hidden) choose(-1);
      else choose(state.active);
    } else if (event.key === "Tab" && !event.shiftKey && state.active >= 0 && !list.hidden) {
      const item = state.suggestions[state.active];
      if (item && !item.billable && search.value.trim() !== item.code) {
        event.preventDefault();
        search.value = item.code;
        requestSuggestions();
      }
    } else if (event.key === "Escape") {
      if (!list.hidden) closeList();
      else if (state.replacing) {
        const uid = state.replacing;
        endReplace(true);
        focusRow(uid);
      } else search.value = "";
    }
  });
  search.addEventListener("blur", () => setTimeout(() => {
    if (el.getRootNode().activeElement !== search) closeList();
  }, 150));

  function beginReplace(uid) {
    const row = state.rows.find((r) => r.uid === uid);
    if (!row || !model.editable) return;
    state.replacing = uid;
    const n = state.rows.filter((r) => r.kind === row.kind).findIndex((r) => r.uid === uid) + 1;
    replaceNote.replaceChildren(
      h("span", { text: "Replacing " + kindLabel(row.kind) + " row " + n + " (" + row.code + "): choose the new code, or Esc to cancel." }),
      h("button", { type: "button", class: "scg-linkbutton", text: "Cancel", onclick: () => { endReplace(true); focusRow(uid); } }),
    );
    replaceNote.hidden = false;
    addBar.classList.add("scg-add--replacing");
    for (const button of Object.values(kindButtons)) button.disabled = true;
    search.value = row.code;
    search.focus();
    search.select();
    requestSuggestions();
  }

  function endReplace(clear) {
    state.replacing = null;
    replaceNote.hidden = true;
    addBar.classList.remove("scg-add--replacing");
    for (const button of Object.values(kindButtons)) button.disabled = false;
    if (clear) search.value = "";
    closeList();
    setKind(state.kind, false);
  }

  // -- rows -----------------------------------------------------------------------------------------

  const head = h(
    "div",
    { class: "scg-head", role: "row" },
    h("span", { role: "columnheader", class: "scg-c-n", text: "#" }),
    h("span", { role: "columnheader", class: "scg-c-handle" }),
    h("span", { role: "columnheader", class: "scg-c-code", text: "Code" }),
    h("span", { role: "columnheader", class: "scg-c-desc", text: "Description" }),
    h("span", { role: "columnheader", class: "scg-c-principal", text: "Principal" }),
    h("span", { role: "columnheader", class: "scg-c-rationale", text: "Rationale" }),
    h("span", { role: "columnheader", class: "scg-c-actions" }),
  );
  const groups = {};
  for (const kind of ["diagnosis", "procedure"]) {
    const title = h("div", { class: "scg-group__title" });
    const body = h("div", { class: "scg-group__rows", role: "rowgroup", "data-kind": kind });
    const empty = h("div", { class: "scg-empty" });
    const group = h("section", { class: "scg-group", "aria-label": kind === "diagnosis" ? "Diagnoses" : "Procedures" }, title, body, empty);
    groups[kind] = { group, title, body, empty };
  }
  const table = h("div", { class: "scg-table", role: "table", "aria-label": "Codes on this chart" }, head, groups.diagnosis.group, groups.procedure.group);
  const toast = h("div", { class: "scg-toast", role: "status", hidden: true });
  const keys = h("p", { class: "scg-keys" });

  function rowsOf(kind) {
    return state.rows.filter((r) => r.kind === kind);
  }

  function makeRow(row) {
    const parts = {};
    const node = h("div", { class: "scg-row", role: "row", tabindex: "0", "data-uid": row.uid });
    parts.n = h("span", { class: "scg-c-n scg-n" });
    parts.handle = h("span", { class: "scg-c-handle scg-handle", "aria-hidden": "true", title: "Drag to reorder", text: "\u2807\u2807" });
    parts.code = h("button", { type: "button", class: "scg-c-code scg-code", title: "Replace this code (R)" });
    parts.desc = h("span", { class: "scg-desc-text" });
    parts.badges = h("span", { class: "scg-badges" });
    parts.principal = h("input", { type: "radio", name: "scg-principal", class: "scg-principal-input", "aria-label": "Principal diagnosis" });
    parts.principalCell = h("span", { class: "scg-c-principal" }, parts.principal);
    parts.rationale = h("input", {
      type: "text",
      class: "scg-rationale",
      placeholder: "Rationale (required)",
      "aria-label": "Rationale",
      maxlength: "2000",
    });
    parts.rationaleText = h("span", { class: "scg-rationale-text" });
    parts.up = h("button", { type: "button", class: "scg-icon", "aria-label": "Move up (Alt+\u2191)", title: "Move up (Alt+\u2191)", text: "\u2191" });
    parts.down = h("button", { type: "button", class: "scg-icon", "aria-label": "Move down (Alt+\u2193)", title: "Move down (Alt+\u2193)", text: "\u2193" });
    parts.remove = h("button", { type: "button", class: "scg-icon scg-icon--danger", "aria-label": "Remove (Delete)", title: "Remove (Delete)", text: "\u2715" });
    parts.actions = h("span", { class: "scg-c-actions scg-actions" }, parts.up, parts.down, parts.remove);
    parts.notes = h("div", { class: "scg-notes" });
    parts.line = h(
      "div",
      { class: "scg-line" },
      parts.n,
      parts.handle,
      parts.code,
      h("span", { class: "scg-c-desc scg-desc" }, parts.desc, parts.badges),
      parts.principalCell,
      h("span", { class: "scg-c-rationale" }, parts.rationale, parts.rationaleText),
      parts.actions,
    );
    node.append(parts.line, parts.notes);
    const uid = row.uid;
    parts.code.addEventListener("click", () => beginReplace(uid));
    parts.principal.addEventListener("change", () => makePrincipal(uid));
    parts.rationale.addEventListener("input", () => {
      localRow(uid, (r) => (r.rationale = parts.rationale.value));
      queueText(uid, "rationale", parts.rationale.value, false);
    });
    parts.rationale.addEventListener("change", () => queueText(uid, "rationale", parts.rationale.value, true));
    parts.rationale.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        queueText(uid, "rationale", parts.rationale.value, true);
        focusNextRationale(uid);
      } else if (event.key === "Escape") {
        event.preventDefault();
        focusRow(uid);
      }
    });
    parts.up.addEventListener("click", () => move(uid, -1));
    parts.down.addEventListener("click", () => move(uid, 1));
    parts.remove.addEventListener("click", () => removeRow(uid));
    node.addEventListener("keydown", (event) => rowKey(event, uid));
    parts.handle.addEventListener("mousedown", () => { if (model.editable) node.draggable = true; });
    node.addEventListener("dragstart", (event) => {
      state.drag = uid;
      node.classList.add("scg-row--dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", row.code);
    });
    node.addEventListener("dragend", () => {
      node.draggable = false;
      node.classList.remove("scg-row--dragging");
      state.drag = null;
      clearDropMarks();
    });
    node.addEventListener("dragover", (event) => {
      const dragged = state.rows.find((r) => r.uid === state.drag);
      const target = state.rows.find((r) => r.uid === uid);
      if (!dragged || !target || dragged.kind !== target.kind || dragged.uid === uid) return;
      event.preventDefault();
      const box = node.getBoundingClientRect();
      const after = event.clientY > box.top + box.height / 2;
      clearDropMarks();
      node.classList.add(after ? "scg-row--drop-after" : "scg-row--drop-before");
    });
    node.addEventListener("drop", (event) => {
      event.preventDefault();
      const dragged = state.drag;
      const after = node.classList.contains("scg-row--drop-after");
      clearDropMarks();
      if (!dragged || dragged === uid) return;
      const kind = state.rows.find((r) => r.uid === uid).kind;
      const others = rowsOf(kind).filter((r) => r.uid !== dragged);
      let index = others.findIndex((r) => r.uid === uid) + (after ? 1 : 0);
      moveTo(dragged, index);
    });
    return { node, parts };
  }

  function clearDropMarks() {
    for (const { node } of rowNodes.values()) node.classList.remove("scg-row--drop-before", "scg-row--drop-after");
  }

  function localRow(uid, fn) {
    const row = state.rows.find((r) => r.uid === uid);
    if (row) fn(row);
  }

  function updateRow(entry, row, n, editable) {
    const { node, parts } = entry;
    const note = (model.notes || {})[row.uid] || {};
    const level = note.level || "ok";
    node.className = "scg-row scg-row--" + level + (row.fresh ? " scg-row--fresh" : "");
    delete row.fresh;
    node.setAttribute(
      "aria-label",
      kindLabel(row.kind) + " row " + n + ", " + row.code + (row.principal ? ", principal" : "") +
        (level === "error" ? ", has errors" : level === "warning" ? ", has warnings" : ""),
    );
    parts.n.textContent = String(n);
    parts.code.textContent = row.code;
    parts.code.disabled = !editable;
    parts.code.title = editable ? "Replace this code (R)" : "";
    parts.desc.textContent = row.description || (row.known ? "" : "Not found in the code set");
    parts.desc.title = row.description || "";
    parts.desc.classList.toggle("scg-desc-text--unknown", !row.description);
    parts.badges.replaceChildren(
      ...(note.badges || []).map((b) => h("span", { class: "scg-chip scg-chip--" + b.toLowerCase(), text: b })),
      ...(level === "overridden" ? [h("span", { class: "scg-chip scg-chip--overridden", text: "Overridden" })] : []),
    );
    const isDx = row.kind === "diagnosis";
    parts.principal.hidden = !isDx;
    parts.principal.checked = !!row.principal;
    parts.principal.disabled = !editable;
    parts.principalCell.classList.toggle("scg-c-principal--on", !!row.principal);
    const active = el.getRootNode().activeElement;
    parts.rationale.hidden = !editable;
    parts.rationaleText.hidden = editable;
    if (editable && active !== parts.rationale && !state.pending.has(row.uid + "|rationale")) {
      parts.rationale.value = row.rationale || "";
    }
    parts.rationale.classList.toggle("scg-rationale--missing", !(row.rationale || "").trim());
    parts.rationale.title = row.rationale || "";
    parts.rationaleText.textContent = row.rationale || "No rationale";
    parts.rationaleText.classList.toggle("scg-muted", !row.rationale);
    // Kept in the row (the grid's columns stay aligned), just not shown, when read-only.
    parts.actions.style.visibility = editable ? "" : "hidden";
    parts.handle.style.visibility = editable ? "" : "hidden";
    const list = rowsOf(row.kind);
    parts.up.disabled = n <= 1;
    parts.down.disabled = n >= list.length;
    renderNotes(entry, row, note, editable);
  }

  function renderNotes(entry, row, note, editable) {
    const { parts } = entry;
    const key = JSON.stringify([note, editable]);
    const overrideInput = parts.notes.querySelector(".scg-override-input");
    const focused = overrideInput && el.getRootNode().activeElement === overrideInput;
    if (parts.notesKey === key) {
      if (overrideInput && !focused && !state.pending.has(row.uid + "|override_rationale")) {
        overrideInput.value = row.override_rationale || "";
      }
      return;
    }
    if (focused) return; // rebuilt after the coder leaves the field
    parts.notesKey = key;
    const items = [];
    for (const f of note.findings || []) {
      items.push(
        h(
          "li",
          { class: "scg-f scg-f--" + f.severity + (f.overridden ? " scg-f--overridden" : "") },
          h("span", { class: "scg-f__icon", "aria-hidden": "true", text: ICON[f.severity] || "i" }),
          h(
            "span",
            { class: "scg-f__body" },
            h("span", { class: "scg-f__msg", text: f.message }),
            h("span", { class: "scg-f__ref", text: [f.ref, f.rule_id].filter(Boolean).join(" \u00B7 ") }),
          ),
        ),
      );
    }
    if (note.overridable) {
      const input = h("input", {
        type: "text",
        class: "scg-override-input",
        placeholder: "Override rationale: why this combination is correct here",
        "aria-label": "Override rationale",
        maxlength: "2000",
      });
      input.value = row.override_rationale || "";
      input.disabled = !editable;
      input.addEventListener("input", () => {
        localRow(row.uid, (r) => (r.override_rationale = input.value));
        queueText(row.uid, "override_rationale", input.value, false);
      });
      input.addEventListener("change", () => queueText(row.uid, "override_rationale", input.value, true));
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === "Escape") {
          event.preventDefault();
          queueText(row.uid, "override_rationale", input.value, true);
          focusRow(row.uid);
        }
      });
      items.push(h("li", { class: "scg-override" }, h("label", { class: "scg-override__label", text: "Override" }), input));
    }
    for (const a of note.audit || []) {
      items.push(
        h(
          "li",
          { class: "scg-f scg-f--audit" },
          h("span", { class: "scg-chip scg-chip--supervisor", text: "Supervisor" }),
          h("span", { class: "scg-f__msg", text: a.text }),
        ),
      );
    }
    parts.notes.replaceChildren(...(items.length ? [h("ul", { class: "scg-findings" }, ...items)] : []));
  }

  function renderRows() {
    const editable = !!model.editable;
    const rootNode = el.getRootNode();
    const active = rootNode.activeElement;
    const selection = active && active.tagName === "INPUT" ? [active.selectionStart, active.selectionEnd] : null;
    const seen = new Set();
    for (const kind of ["diagnosis", "procedure"]) {
      const g = groups[kind];
      const rows = rowsOf(kind);
      const label = kind === "diagnosis" ? "Diagnoses" : "Procedures";
      const system = kind === "diagnosis" ? "ICD-10-CM" : "ICD-10-PCS";
      g.title.replaceChildren(
        h("span", { class: "scg-group__name", text: label }),
        h("span", { class: "scg-group__meta", text: system + " \u00B7 " + rows.length }),
      );
      rows.forEach((row, i) => {
        let entry = rowNodes.get(row.uid);
        if (!entry) {
          entry = makeRow(row);
          rowNodes.set(row.uid, entry);
        }
        seen.add(row.uid);
        updateRow(entry, row, i + 1, editable);
        const current = g.body.children[i];
        if (current !== entry.node) g.body.insertBefore(entry.node, current || null);
      });
      while (g.body.children.length > rows.length) g.body.lastChild.remove();
      g.empty.hidden = rows.length > 0;
      g.empty.textContent = emptyText(kind, editable);
    }
    for (const uid of [...rowNodes.keys()]) {
      if (!seen.has(uid)) {
        rowNodes.get(uid).node.remove();
        rowNodes.delete(uid);
      }
    }
    const now = rootNode.activeElement;
    if (active && active !== now && active.isConnected) {
      active.focus({ preventScroll: true });
      if (selection && active.setSelectionRange) active.setSelectionRange(selection[0], selection[1]);
    }
  }

  function emptyText(kind, editable) {
    const none = state.rows.length === 0;
    if (!editable) return kind === "diagnosis" ? "No diagnosis codes were entered on this chart." : "No procedure codes.";
    if (kind === "diagnosis") {
      return none
        ? "No codes yet. Start with the principal diagnosis: type a code or a few words in the box above and press Enter. The first diagnosis you add is marked principal."
        : "No diagnoses yet: add the principal diagnosis first.";
    }
    return "No procedures. Switch the box above to Procedure (or type a code that starts with a digit) to add ICD-10-PCS codes.";
  }

  // -- edits ----------------------------------------------------------------------------------------

  function move(uid, delta) {
    const row = state.rows.find((r) => r.uid === uid);
    if (!row || !model.editable) return;
    const list = rowsOf(row.kind);
    const index = list.findIndex((r) => r.uid === uid) + delta;
    if (index < 0 || index >= list.length) return;
    moveTo(uid, index);
  }

  function moveTo(uid, index) {
    const row = state.rows.find((r) => r.uid === uid);
    if (!row) return;
    const same = rowsOf(row.kind).filter((r) => r.uid !== uid);
    const clamped = Math.max(0, Math.min(index, same.length));
    same.splice(clamped, 0, row);
    const other = state.rows.filter((r) => r.kind !== row.kind);
    state.rows = row.kind === "diagnosis" ? [...same, ...other] : [...other, ...same];
    op({ op: "move", uid, index: clamped });
    renderRows();
    focusRow(uid);
  }

  function removeRow(uid) {
    const row = state.rows.find((r) => r.uid === uid);
    if (!row || !model.editable) return;
    const list = rowsOf(row.kind);
    const i = list.findIndex((r) => r.uid === uid);
    const next = list[i + 1] || list[i - 1];
    state.rows = state.rows.filter((r) => r.uid !== uid);
    op({ op: "delete", uid });
    renderRows();
    showToast(row);
    if (next) focusRow(next.uid);
    else search.focus();
  }

  function makePrincipal(uid) {
    if (!model.editable) return;
    for (const r of state.rows) r.principal = r.uid === uid && r.kind === "diagnosis";
    op({ op: "principal", uid });
    renderRows();
  }

  function showToast(row) {
    clearTimeout(state.toastTimer);
    toast.replaceChildren(
      h("span", { text: "Removed " + row.code + "." }),
      h("button", { type: "button", class: "scg-linkbutton", text: "Undo (Ctrl+Z)", onclick: undo }),
    );
    toast.hidden = false;
    state.toastTimer = setTimeout(() => (toast.hidden = true), TOAST_MS);
  }

  function undo() {
    if (toast.hidden) return;
    toast.hidden = true;
    clearTimeout(state.toastTimer);
    op({ op: "undo" });
  }

  // -- keyboard -------------------------------------------------------------------------------------

  function focusRow(uid) {
    const entry = rowNodes.get(uid);
    if (entry) entry.node.focus();
  }

  function focusNextRationale(uid) {
    const i = state.rows.findIndex((r) => r.uid === uid);
    const next = state.rows[i + 1];
    if (next) rowNodes.get(next.uid).parts.rationale.focus();
    else search.focus();
  }

  function rowKey(event, uid) {
    const onRow = event.target === rowNodes.get(uid)?.node;
    const editable = !!model.editable;
    if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
      if (!editable) return;
      event.preventDefault();
      const field = el.getRootNode().activeElement;
      move(uid, event.key === "ArrowUp" ? -1 : 1);
      if (!onRow && field && field.isConnected) field.focus();
      return;
    }
    if (!onRow) return;
    const i = state.rows.findIndex((r) => r.uid === uid);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const next = state.rows[i + (event.key === "ArrowDown" ? 1 : -1)];
      if (next) focusRow(next.uid);
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      const next = event.key === "Home" ? state.rows[0] : state.rows[state.rows.length - 1];
      if (next) focusRow(next.uid);
    } else if (!editable) {
      return;
    } else if (event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      removeRow(uid);
    } else if (event.key === "Enter" || event.key === "F2") {
      event.preventDefault();
      rowNodes.get(uid).parts.rationale.focus();
    } else if (event.key === "r" || event.key === "R") {
      event.preventDefault();
      beginReplace(uid);
    } else if (event.key === "p" || event.key === "P") {
      event.preventDefault();
      if (state.rows[i].kind === "diagnosis") makePrincipal(uid);
    }
  }

  function globalKey(event) {
    const target = event.composedPath()[0];
    const typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable);
    if ((event.ctrlKey || event.metaKey) && (event.key === "s" || event.key === "S")) {
      if (!model.editable) return;
      event.preventDefault();
      op({ op: "save" });
    } else if ((event.ctrlKey || event.metaKey) && event.key === "z" && !typing && !toast.hidden) {
      event.preventDefault();
      undo();
    } else if (event.key === "/" && !typing && model.editable) {
      event.preventDefault();
      search.focus();
    }
  }

  function beforeUnload(event) {
    if (model.dirty) {
      event.preventDefault();
      event.returnValue = "";
    }
  }

  document.addEventListener("keydown", globalKey);
  window.addEventListener("beforeunload", beforeUnload);

  // -- assembly and updates from Python -------------------------------------------------------------

  function build() {
    const editable = !!model.editable;
    root.replaceChildren();
    root.classList.toggle("scg--readonly", !editable);
    if (editable) root.append(addWrap);
    root.append(table, toast);
    keys.textContent = editable
      ? "Keyboard: / add a code \u00B7 \u2191\u2193 move between rows \u00B7 Alt+\u2191\u2193 reorder \u00B7 Enter rationale \u00B7 R replace code \u00B7 P principal \u00B7 Delete remove \u00B7 Ctrl+S save"
      : "";
    if (editable) root.append(keys);
    setKind(state.kind, false);
    renderRows();
  }

  model.on("rows", () => {
    state.rows = (model.rows || []).map((r) => ({ ...r }));
    renderRows();
  });
  model.on("notes", renderRows);
  model.on("editable", build);
  model.on("suggestions", () => showSuggestions(model.suggestions));
  model.on("msg:custom", (msg) => {
    if (msg && msg.focus === "search") search.focus();
  });
  model.on("remove", () => {
    document.removeEventListener("keydown", globalKey);
    window.removeEventListener("beforeunload", beforeUnload);
    flushText();
  });
  build();
}
