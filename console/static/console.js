// govshare console: sends each form once per page view, asks before an action that cannot be taken back, and
// checks the catalog form's R-CAT-1 fields as you type (the catalog service checks them again and its answer is
// shown beside the fields). No inline script anywhere: this file is the only one.
"use strict";
(function () {
  // A double click on a form's button posted it twice (two applications, the second reply refused as already
  // answered): once a form is on its way, another submit of it is dropped. A checked form the page stopped (the
  // catalog form's own listener, which runs first) is not on its way. A page the back button brings back from
  // the browser's cache may be sent again, as a person going back means to.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || String(form.method).toLowerCase() !== "post") { return; }
    if (form.getAttribute("data-sent")) { event.preventDefault(); return; }
    // An action that cannot be taken back (停用, 重置, 撤销授权) asks first, naming what it ends: one click
    // disabled a person or a department's business system. Cancelled, the form is not on its way.
    var question = event.submitter && event.submitter.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); return; }
    form.setAttribute("data-sent", "1");
    keepRequestId(form);
  });
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    Array.prototype.forEach.call(document.querySelectorAll("form[data-sent]"), function (form) {
      form.removeAttribute("data-sent");
    });
  });
  // A form holding a request_id (申请使用) is one request however often it is sent: sent again, the service returns
  // what the first sending made. The back button brings its page back from the server, not the browser's cache
  // (every page is no-store), with a new request_id while the browser fills the fields in as they were: sent
  // again, it made a second application. The request_id sent is kept in this history entry's state, which the
  // back button returns to, and put back in the form; a form opened anew (a new history entry) has none kept.
  function keepRequestId(form) {
    var field = form.elements.request_id;
    if (!field || !field.value || !window.history.replaceState) { return; }
    var state = Object.assign({}, window.history.state || {});
    state.requestIds = Object.assign({}, state.requestIds || {});
    state.requestIds[form.getAttribute("action") || ""] = field.value;
    window.history.replaceState(state, "");
  }
  var kept = (window.history.state || {}).requestIds || {};
  Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
    var id = kept[form.getAttribute("action") || ""];
    if (id && form.elements.request_id) { form.elements.request_id.value = id; }
  });
})();
(function () {
  // A form the console sent back refused comes back as a new page, read from its top: a screen-reader user heard
  // the page's title and menu again, nothing of what to correct, and the keyboard's focus was at the page's start,
  // the refused field maybe two screens below. The first field (or group) said to be wrong takes the focus: its
  // label and, through aria-describedby, why it was refused are read, and the person can correct it at once.
  var refused = document.querySelector("main [aria-invalid='true'], main fieldset[aria-describedby*='-error']");
  if (!refused) { return; }
  if (refused.tagName === "FIELDSET") { refused = refused.querySelector("input, select, textarea") || refused; }
  refused.focus();
})();
(function () {
  var form = document.getElementById("entry-form");
  if (!form) { return; }
  var CODE = /^([1-3])([0-9]{2})([0-9]{3})([0-9]{3})?\/([0-9]{6})$/;
  var MACHINE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;
  var DATASET = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
  var SUBJECTS = {
    "1": ["人口", "法人单位", "自然资源和空间地理", "社会信用", "电子证照"],
    "2": ["健康保障", "社会保障", "食品药品安全", "安全生产", "价格监管", "能源安全", "信用体系", "城乡建设",
          "社区治理", "生态环保", "应急维稳"]
  };
  function value(name) { var el = form.elements[name]; return el ? String(el.value || "").trim() : ""; }
  // A code typed with a Chinese input method (full-width digits and slash, １０１００１／０００００１) is the code it
  // shows: the console saves it so (console/forms.typed_code), so it is checked so.
  function ascii(v) {
    return v.replace(/[\uFF10-\uFF19\uFF0F]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) - 0xFEE0); });
  }
  function shareType() { return value("share_type"); }
  var checks = {
    required: function (v) { return v ? "" : "此项必填。"; },
    code: function (v) {
      if (!v) { return "请填写信息资源代码。"; }
      var m = CODE.exec(ascii(v));
      if (!m) { return "格式应为 类(1位,1-3)项(2位)目(3位)[细目(3位)]/顺序码(6位)，如 201002/000001。"; }
      var category = value("category");
      if (category && m[1] !== category) { return "代码首位“" + m[1] + "”与所选信息资源分类不一致（基础=1，主题=2，部门=3）。"; }
      return "";
    },
    // Counted in characters as the catalog counts them: v.length counts a character beyond the BMP (𠮷, the rarer
    // characters of place and person names) twice, and said a summary the catalog takes was too long.
    // The name's limit, counted as the summary's is: the field's maxlength (UTF-16 units) stopped a name of 100
    // characters holding 𠮷 short of its last ones, which the catalog takes.
    entry_name: function (v) {
      if (!v) { return "此项必填。"; }
      var n = Array.from(v).length;
      return n > 100 ? "名称不超过 100 个字，现在 " + n + " 个字。" : "";
    },
    summary: function (v) { var n = Array.from(v).length; return n > 256 ? "摘要不超过 256 个字，现在 " + n + " 个字。" : ""; },
    subject: function (v) {
      if (!v) { return "请填写类目。"; }
      var allowed = SUBJECTS[value("category")];
      if (allowed && allowed.indexOf(v) < 0) { return "此分类的类目应为：" + allowed.join("、") + "。"; }
      return "";
    },
    share_condition: function (v) {
      if (shareType() === "2" && !v) { return "有条件共享的资源必须写明共享条件。"; }
      return shareType() === "1" && v ? "无条件共享的资源不设共享条件：请清空，或将共享类型改为有条件共享。" : "";
    },
    legal_basis: function (v) { return shareType() === "3" && !v ? "不予共享的资源必须写明法律、行政法规或政策依据。" : ""; },
    share_methods: function () {
      var any = form.querySelectorAll("input[name=share_methods]:checked").length > 0;
      return (shareType() === "1" || shareType() === "2") && !any ? "共享的资源至少选择一种共享方式。" : "";
    },
    dataset: function (v) { return !v ? "请填写数据集名。" : (DATASET.test(v) ? "" : "只能使用字母、数字、_ . -。"); },
    machine_name: function (v) { return !v ? "请填写英文名。" : (MACHINE.test(v) ? "" : "英文名用小写字母、数字和单个下划线，以字母开头，如 citizen_id。"); },
    machine_name_optional: function (v) { return !v || MACHINE.test(v) ? "" : "英文名用小写字母、数字和单个下划线，以字母开头。"; },
    codes: function (v) {
      var bad = v.split(/[,，]/).map(function (c) { return c.trim(); }).filter(function (c) { return c && !CODE.test(ascii(c)); });
      return bad.length ? "以下代码格式不正确：" + bad.join("、") : "";
    }
  };
  function run(el) {
    var kind = el.getAttribute("data-check");
    var message = checks[kind] ? checks[kind](el.tagName === "FIELDSET" ? "" : String(el.value || "").trim()) : "";
    var box = el.closest(".field, td");
    var live = box ? box.querySelector(".live-error") : null;
    if (live) { live.textContent = message; }
    var target = el.tagName === "FIELDSET" ? null : el;
    if (target) {
      if (message) { target.setAttribute("aria-invalid", "true"); } else { target.removeAttribute("aria-invalid"); }
    }
    return message;
  }
  var all = Array.prototype.slice.call(form.querySelectorAll("[data-check]"));
  all.forEach(function (el) {
    el.addEventListener("input", function () { run(el); });
    el.addEventListener("change", function () { run(el); });
    el.addEventListener("blur", function () { run(el); });
  });
  // Fields that depend on another one are checked again when it changes.
  ["category", "share_type"].forEach(function (name) {
    var el = form.elements[name];
    if (el) { el.addEventListener("change", function () { all.forEach(function (other) { if (other.value || other.tagName === "FIELDSET") { run(other); } }); }); }
  });
  form.addEventListener("change", function (event) {
    if (event.target && event.target.name === "share_methods") { all.forEach(function (el) { if (el.getAttribute("data-check") === "share_methods") { run(el); } }); }
  });
  // 增加一行信息项: a copy of the last row, emptied, numbered one more (its names, ids and labels), so an entry of
  // more items than the rows shown is written at once. The console reads up to 502 rows (forms.MAX_ITEM_ROWS).
  var add = document.getElementById("add-item-row");
  var rows = form.querySelector("table.items tbody");
  if (add && rows) {
    add.hidden = false;
    add.addEventListener("click", function () {
      var last = rows.lastElementChild;
      var n = rows.children.length;
      if (!last || n >= 502) { return; }
      var row = last.cloneNode(true);
      var from = "items[" + (n - 1) + "]", to = "items[" + n + "]";
      var fromId = "items-" + (n - 1) + "-", toId = "items-" + n + "-";
      row.querySelectorAll("input, select").forEach(function (el) {
        ["name", "id", "aria-describedby"].forEach(function (attr) {
          var v = el.getAttribute(attr);
          if (v) { el.setAttribute(attr, v.split(from).join(to).split(fromId).join(toId)); }
        });
        var label = el.getAttribute("aria-label");
        if (label) { el.setAttribute("aria-label", label.replace("第" + n + "项", "第" + (n + 1) + "项")); }
        el.removeAttribute("aria-invalid");
        if (el.type === "checkbox") { el.checked = false; } else if (el.tagName === "SELECT") { el.selectedIndex = 0; }
        else { el.value = ""; }
      });
      row.querySelectorAll(".field-error, .live-error").forEach(function (el) {
        if (el.classList.contains("field-error")) { el.remove(); } else { el.textContent = ""; }
      });
      row.querySelectorAll("[id]").forEach(function (el) {
        el.id = el.id.split(fromId).join(toId);
      });
      row.firstElementChild.textContent = String(n + 1);
      rows.appendChild(row);
      row.querySelectorAll("[data-check]").forEach(function (el) {
        all.push(el);
        el.addEventListener("input", function () { run(el); });
        el.addEventListener("change", function () { run(el); });
        el.addEventListener("blur", function () { run(el); });
      });
      row.querySelector("input").focus();
    });
  }
  form.addEventListener("submit", function (event) {
    var first = null;
    all.forEach(function (el) { if (run(el) && !first) { first = el; } });
    if (first) {
      event.preventDefault();
      (first.tagName === "FIELDSET" ? first.querySelector("input") : first).focus();
    }
  });
})();
(function () {
  // 待办: how many matters wait on the person, beside the menu entry that handles each kind and, in all, beside
  // 首页 (console/todo.py counts them as the person). Asked when the page opens and again every data-todo-poll
  // seconds while the page is shown, so an application that arrives shows without a reload; a service that could
  // not count is said under the menu, and a session that ended stops the asking (it does not keep it alive).
  var nav = document.querySelector("nav[data-todo-poll]");
  if (!nav || !window.fetch) { return; }
  var every = Number(nav.getAttribute("data-todo-poll")) * 1000;
  var notice = document.getElementById("todo-notice");
  var timer = null;
  function said(count, more) { return more ? count + "+" : String(count); }
  function badge(path, count, more, labels) {
    var el = nav.querySelector('.todo-count[data-todo="' + path + '"]');
    if (!el) { return; }
    el.textContent = "";
    if (!count) { el.hidden = true; el.removeAttribute("title"); return; }
    // The link's name says the count alone (首页，3 项待办), so no entry's name holds another's (首页's naming
    // 授权); the kinds are in the badge's title.
    var hidden = document.createElement("span");
    hidden.className = "sr-only";
    hidden.textContent = "，" + (more ? "超过 " + count : count) + " 项待办";
    var shown = document.createElement("span");
    shown.setAttribute("aria-hidden", "true");
    shown.textContent = said(count, more);
    el.appendChild(shown);
    el.appendChild(hidden);
    el.title = labels.join("；");
    el.hidden = false;
  }
  function show(answer) {
    var byPath = {};
    var total = { count: 0, more: false, labels: [] };
    (answer.kinds || []).forEach(function (kind) {
      var entry = byPath[kind.path] || (byPath[kind.path] = { count: 0, more: false, labels: [] });
      var label = kind.label + " " + (kind.more ? "超过 " + kind.count : kind.count) + " 项";
      entry.count += kind.count; entry.more = entry.more || kind.more;
      total.count += kind.count; total.more = total.more || kind.more;
      if (kind.count) { entry.labels.push(label); total.labels.push(label); }
    });
    Array.prototype.forEach.call(nav.querySelectorAll(".todo-count"), function (el) {
      var path = el.getAttribute("data-todo");
      var entry = path === "/" ? total : byPath[path];
      badge(path, entry ? entry.count : 0, entry ? entry.more : false, entry ? entry.labels : []);
    });
    if (notice) { notice.textContent = answer.notice || ""; notice.hidden = !answer.notice; }
    // How many answers the menu has shown: a page's reader (a test, an assistive tool's script) can wait for the
    // next one rather than read the badges between the answer's arrival and its showing.
    nav.setAttribute("data-todo-shown", String(Number(nav.getAttribute("data-todo-shown") || 0) + 1));
  }
  function ask() {
    fetch("/todo", { credentials: "same-origin", headers: { accept: "application/json" } }).then(function (response) {
      if (response.status === 401 && timer !== null) { clearInterval(timer); timer = null; }
      return response.json();
    }).then(show, function () {
      if (notice) { notice.textContent = "待办数量暂时无法更新（无法连接控制台），稍后会自动重试。"; notice.hidden = false; }
    });
  }
  ask();
  timer = setInterval(function () { if (!document.hidden) { ask(); } }, every);
  document.addEventListener("visibilitychange", function () { if (!document.hidden && timer !== null) { ask(); } });
})();
