// The feedback list of /queue and /account (mode "coder") and the disputed findings of /review
// (mode "supervisor"): pages/feedback_panel.py.
//
// Python owns the data: `items` (one entry per feedback item or per disputed finding, text already
// worded) and `notices` (key -> {kind, text, seq}). A button sends one message ({op: "acknowledge" |
// "dispute" | "resolve", ...}) and stays disabled until Python answers by changing that item or its
// notice. Items are keyed and rebuilt only when their data changed, so a comment being typed in one
// item keeps its focus and text while another item updates. All text is set with textContent.

const MAX_TEXT = 2000;

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

function pill(text, tone) {
  return h("span", { class: "fb-pill" + (tone ? " fb-pill--" + tone : ""), text });
}

export function render({ model, el }) {
  const root = h("div", { class: "fb", "aria-live": "polite" });
  el.append(root);
  const nodes = new Map(); // key -> {sig, node}
  const open = new Set(); // finding ids whose dispute box is open
  const drafts = new Map(); // finding id -> comment or note being typed

  const send = (msg) => model.send_msg(msg);

  function busy(button) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  }

  function notice(key) {
    const n = (model.notices || {})[key];
    if (!n) return null;
    return h("p", { class: "fb-notice fb-notice--" + n.kind, role: n.kind === "error" ? "alert" : "status", text: n.text });
  }

  function what(f) {
    const parts = [h("span", { class: "fb-code", text: f.from })];
    if (f.to) parts.push(h("span", { class: "fb-arrow", text: "\u2192", "aria-label": "should be" }), h("span", { class: "fb-code", text: f.to }));
    parts.push(h("span", { class: "fb-verdict", text: f.verdict }));
    if (f.severity) parts.push(pill(f.severity, f.severity_tone));
    if (f.category) parts.push(h("span", { class: "fb-dim", text: f.category }));
    return h("div", { class: "fb-what" }, ...parts);
  }

  function findingText(f) {
    const box = h("div", { class: "fb-finding__main" }, what(f));
    if (f.note) box.append(h("p", { class: "fb-note", text: f.note }));
    if (f.dispute) {
      box.append(
        h("p", { class: "fb-dispute" }, h("b", { text: f.dispute.label + " " }), "\u201C" + f.dispute.comment + "\u201D",
          f.dispute.waiting ? " \u2014 waiting for a supervisor." : ""),
      );
    }
    if (f.resolution) {
      const line = h("p", { class: "fb-resolution fb-resolution--" + f.resolution.tone }, h("b", { text: f.resolution.label }));
      line.append(f.resolution.note ? ": " + f.resolution.note : ".");
      box.append(line);
    }
    return box;
  }

  function textBox(id, { multiline, label, placeholder, cls }) {
    const input = h(multiline ? "textarea" : "input", {
      class: "fb-input " + cls,
      maxlength: MAX_TEXT,
      placeholder,
      rows: multiline ? 3 : null,
      "aria-label": label,
      oninput: () => drafts.set(id, input.value),
    });
    input.value = drafts.get(id) || "";
    return input;
  }

  // -- coder --------------------------------------------------------------------------------------

  function disputeForm(f) {
    const area = textBox(f.id, {
      multiline: true,
      label: "Why is this finding wrong?",
      placeholder: "Point to the documentation or the guideline that supports your code.",
      cls: "sc-fb-comment",
    });
    const sendButton = h("button", { class: "fb-btn fb-btn--primary sc-fb-send", type: "button", text: "Send dispute" });
    const cancel = h("button", { class: "fb-btn fb-btn--text sc-fb-cancel", type: "button", text: "Cancel" });
    const error = h("p", { class: "fb-notice fb-notice--error", role: "alert", hidden: true });
    sendButton.addEventListener("click", () => {
      const comment = area.value.trim();
      if (!comment) {
        error.textContent = "Explain why the finding is wrong before sending the dispute.";
        error.hidden = false;
        area.focus();
        return;
      }
      busy(sendButton);
      send({ op: "dispute", id: f.id, comment });
    });
    cancel.addEventListener("click", () => {
      open.delete(f.id);
      drafts.delete(f.id);
      update();
    });
    return h(
      "div",
      { class: "fb-form sc-fb-form" },
      h("label", { class: "fb-form__label", text: "Why is this finding wrong?" }),
      area,
      error,
      h("div", { class: "fb-form__actions" }, sendButton, cancel),
    );
  }

  function coderFinding(f) {
    const row = h("li", { class: "fb-finding sc-fb-finding" });
    const button = h("button", {
      class: "fb-btn fb-btn--outline sc-fb-dispute",
      type: "button",
      text: f.disputable ? "Dispute" : "Disputed",
      disabled: !f.disputable,
      title: f.disputable ? "Dispute this finding with a comment" : "You disputed this finding",
    });
    button.addEventListener("click", () => {
      open.add(f.id);
      update();
      const area = root.querySelector(`[data-finding="${f.id}"] textarea`);
      if (area) area.focus();
    });
    row.setAttribute("data-finding", f.id);
    row.append(h("div", { class: "fb-finding__row" }, findingText(f), button));
    if (f.disputable && open.has(f.id)) row.append(disputeForm(f));
    if (!f.disputable) {
      open.delete(f.id);
      drafts.delete(f.id);
    }
    const n = notice(f.id);
    if (n) row.append(n);
    return row;
  }

  function coderItem(item) {
    const node = h("article", { class: "fb-item sc-fb-item" + (item.ack === "todo" ? " fb-item--todo" : "") });
    node.append(
      h("div", { class: "fb-head" },
        h("a", { href: item.link, text: item.chart }),
        item.chart_meta ? h("span", { class: "fb-dim", text: "\u00B7 " + item.chart_meta }) : null,
        pill(item.decision, item.decision_tone)),
    );
    const meta = h("p", { class: "fb-meta", text: item.meta + " \u00B7 " });
    if (item.ack === "todo") meta.append(pill("To acknowledge", "warn"));
    else meta.append(h("span", { text: item.ack_text }));
    node.append(meta);
    if (item.scores.length) node.append(h("div", { class: "fb-scores" }, ...item.scores.map((s) => pill(s.text, s.tone))));
    if (item.body) node.append(h("p", { class: "fb-body", text: item.body }));
    if (item.findings.length) node.append(h("ul", { class: "fb-findings" }, ...item.findings.map(coderFinding)));
    if (item.correct) node.append(h("p", { class: "fb-correct", text: item.correct }));
    const actions = h("div", { class: "fb-actions" });
    if (item.ack === "todo") {
      const ack = h("button", { class: "fb-btn fb-btn--primary sc-fb-ack", type: "button", text: "Acknowledge" });
      ack.addEventListener("click", () => {
        busy(ack);
        send({ op: "acknowledge", id: item.feedback_id });
      });
      actions.append(ack);
    } else if (item.ack === "done" && item.just_acknowledged) {
      actions.append(h("span", { class: "fb-done sc-fb-acknowledged", text: "\u2713 Acknowledged" }));
    }
    const n = notice(item.key);
    if (n) actions.append(n);
    if (actions.childNodes.length) node.append(actions);
    return node;
  }

  // -- supervisor ---------------------------------------------------------------------------------

  function supervisorItem(item) {
    const f = item.finding;
    const node = h("article", { class: "fb-item sc-dispute-row" });
    node.append(
      h("div", { class: "fb-head" },
        h("a", { href: item.link, text: item.chart }),
        item.chart_meta ? h("span", { class: "fb-dim", text: "\u00B7 " + item.chart_meta }) : null),
      h("p", { class: "fb-meta", text: item.meta }),
      findingText(f),
    );
    if (item.resolvable) {
      const note = textBox(f.id, { multiline: false, label: "Note for the coder (optional)", placeholder: "Note for the coder (optional)", cls: "sc-dispute-note" });
      const uphold = h("button", { class: "fb-btn fb-btn--primary sc-dispute-uphold", type: "button", text: "Uphold finding" });
      const overturn = h("button", { class: "fb-btn fb-btn--outline fb-btn--warn sc-dispute-overturn", type: "button", text: "Overturn finding" });
      const resolve = (resolution, button) => {
        busy(uphold);
        busy(overturn);
        button.setAttribute("aria-busy", "true");
        send({ op: "resolve", id: f.id, resolution, note: note.value.trim() });
      };
      uphold.addEventListener("click", () => resolve("upheld", uphold));
      overturn.addEventListener("click", () => resolve("overturned", overturn));
      node.append(h("div", { class: "fb-resolve" }, note, uphold, overturn));
    } else {
      drafts.delete(f.id);
    }
    const n = notice(item.key);
    if (n) node.append(n);
    return node;
  }

  // -- the list -----------------------------------------------------------------------------------

  function update() {
    if (!model.loaded) {
      root.replaceChildren(h("p", { class: "fb-loading", text: "Loading\u2026" }));
      nodes.clear();
      return;
    }
    const items = model.items || [];
    if (!items.length) {
      const empty = model.empty || {};
      root.replaceChildren(
        h("div", { class: "fb-empty sc-fb-empty" },
          h("p", { class: "fb-empty__title", text: empty.title || "" }),
          h("p", { class: "fb-empty__text", text: empty.text || "" })),
      );
      nodes.clear();
      return;
    }
    const build = model.mode === "supervisor" ? supervisorItem : coderItem;
    const notices = model.notices || {};
    const wanted = [];
    const seen = new Set();
    if (root.querySelector(".fb-empty, .fb-loading")) root.replaceChildren();
    for (const item of items) {
      const ids = [item.key, ...(item.findings || []).map((f) => f.id), ...(item.finding ? [item.finding.id] : [])];
      const sig = JSON.stringify([item, ids.map((k) => notices[k] || null), ids.filter((k) => open.has(k))]);
      let entry = nodes.get(item.key);
      if (!entry || entry.sig !== sig) {
        const fresh = build(item);
        if (entry) entry.node.replaceWith(fresh);
        entry = { sig, node: fresh };
        nodes.set(item.key, entry);
      }
      wanted.push(entry.node);
      seen.add(item.key);
    }
    for (const [key, entry] of nodes) {
      if (!seen.has(key)) {
        entry.node.remove();
        nodes.delete(key);
      }
    }
    wanted.forEach((node, i) => {
      if (root.children[i] !== node) root.insertBefore(node, root.children[i] || null);
    });
  }

  model.on("items", () => update());
  model.on("notices", () => update());
  model.on("loaded", () => update());
  update();
}
