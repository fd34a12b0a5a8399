/*
 * admin.js: the admin page (cost, health, settings) for one Jira site.
 *
 * GET /api/ui/admin fills the page; PUT /api/ui/admin/settings saves the form. Talks to the backend
 * only through window.JiraAITransport and draws charts with window.JiraAICharts. Every text from the
 * server goes on the page through textContent.
 */
(function () {
  "use strict";

  var INSTRUCTIONS_LIMIT = 1000;
  var SAVED_MS = 6000;

  var FIELDS = {
    daily_limit_usd: { id: "ad-daily-limit", label: "Daily limit" },
    alert_percentage: { id: "ad-alert-pct", label: "Alert percentage" },
    model: { id: "ad-model", label: "Model" },
    default_email_tone: { id: "ad-tone", label: "Default email tone" },
    semantic_cache: { id: "ad-semantic", label: "Semantic cache" },
    resolution_summary_on_done: { id: "ad-resolution", label: "Resolution summary" },
    enabled_projects: { id: "ad-projects", label: "Projects" },
    extra_instructions: { id: "ad-instructions", label: "Extra instructions" },
  };

  var INTENTS = {
    summary_request: "Summaries",
    email_request: "Email drafts",
    comment_request: "Comments",
    task_completion: "Task completion",
    help: "Help",
    unclear: "Clarifying questions",
    classification: "Classifying requests",
  };

  // Pipeline stages in the order a request meets them, with their names on the page.
  var STAGES = {
    context: "Read the issue",
    classify: "Classify the request",
    generate: "Write the reply",
    validate: "Check the reply",
    post: "Post the reply",
    llm: "AI model call",
    pipeline: "Whole request",
  };
  var STAGE_ORDER = Object.keys(STAGES);

  var TONES = { formal: "Formal", friendly: "Friendly", concise: "Concise", apologetic: "Apologetic" };

  var transport = window.JiraAITransport;
  var charts = window.JiraAICharts;
  var semanticAvailable = false;
  var savedTimer = null;
  var saving = false;
  var lastData = null;

  function $(id) {
    return document.getElementById(id);
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  function num(value) {
    var n = Number(value);
    return isFinite(n) ? n : 0;
  }

  function usd(value) {
    return charts.usd(value);
  }

  function micros(value) {
    return usd(num(value) / 1e6);
  }

  function pct(value, digits) {
    return (num(value) * 100).toFixed(digits === undefined ? 0 : digits) + "%";
  }

  function plural(n, one, many) {
    return n.toLocaleString("en-US") + " " + (n === 1 ? one : many);
  }

  function humanize(name) {
    if (INTENTS[name]) {
      return INTENTS[name];
    }
    var text = String(name).replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) {
      td.className = className;
    }
    if (text instanceof Node) {
      td.appendChild(text);
    } else {
      td.textContent = text;
    }
    row.appendChild(td);
    return td;
  }

  function emptyRow(tbody, columns, text) {
    var tr = document.createElement("tr");
    var td = cell(tr, text, "ak-empty");
    td.colSpan = columns;
    tbody.appendChild(tr);
  }

  function lozenge(text, kind) {
    var span = document.createElement("span");
    span.className = "ak-lozenge" + (kind ? " ak-lozenge--" + kind : "");
    span.textContent = text;
    return span;
  }

  function when(value) {
    if (value === null || value === undefined || value === "") {
      return "–";
    }
    var date = typeof value === "number" ? new Date(value * 1000) : new Date(String(value));
    if (isNaN(date.getTime())) {
      return String(value);
    }
    return date.toISOString().slice(0, 16).replace("T", " ");
  }

  // ------------------------------------------------------------------ errors
  function pageError(title, message) {
    show($("ad-loading"), false);
    $("ad-error-title").textContent = title;
    $("ad-error-text").textContent = message;
    show($("ad-error"), true);
  }

  // ------------------------------------------------------------------ cost
  function renderCost(cost, daily, suggestions) {
    var c = cost || {};
    var budget = c.budget || {};
    var today = c.today || {};
    var month = c.last_30_days || {};
    var spentToday = budget.spent_micros !== undefined ? num(budget.spent_micros) / 1e6 : num(today.cost_usd);
    $("ad-today-spent").textContent = usd(spentToday);
    charts.budgetMeter($("ad-meter"), {
      spentUsd: spentToday,
      limitUsd: num(budget.limit_usd),
      alertPercent: num(budget.alert_percentage),
    });
    $("ad-30-spent").textContent = usd(num(month.cost_usd));
    $("ad-30-calls").textContent = plural(num(month.calls), "model call", "model calls");
    $("ad-projected").textContent = usd(num((c.projection || {}).projected_month_usd));

    var hits = num(month.cache_hits);
    var misses = num(month.cache_misses);
    $("ad-hit-rate").textContent = hits + misses > 0 ? pct(hits / (hits + misses)) : "–";
    var saved = (c.cache_savings || {}).last_30_days_usd;
    $("ad-cache-saved").textContent =
      usd(saved !== undefined ? num(saved) : num(month.saved_usd)) + " saved · " + plural(hits, "hit", "hits") +
      " in " + plural(hits + misses, "lookup", "lookups");

    var alerts = ((c.alerts || {}).last_30_days || []).slice().reverse();
    $("ad-alerts-count").textContent = String(alerts.length);
    var refusals = num((c.refusals || {}).last_30_days);
    $("ad-refusals").textContent = refusals
      ? plural(refusals, "request", "requests") + " refused at the limit"
      : "No requests refused at the limit";
    var list = $("ad-alerts");
    list.replaceChildren();
    alerts.forEach(function (a) {
      var li = document.createElement("li");
      li.textContent =
        a.day + ": " + micros(a.spent_micros) + " of " + micros(a.limit_micros) + " spent (alert at " +
        num(a.percent) + "%)";
      list.appendChild(li);
    });
    if (!alerts.length) {
      var none = document.createElement("li");
      none.className = "ak-empty";
      none.textContent = "No alerts in the last 30 days.";
      list.appendChild(none);
    }

    var days = Array.isArray(daily) && daily.length ? daily : (c.daily || []).map(function (d) {
      return { day: d.day, cost_usd: num(d.cost_micros) / 1e6 };
    });
    charts.dailySpend($("ad-daily-chart"), days, { limitUsd: num(budget.limit_usd) });
    var tbody = $("ad-daily-table").querySelector("tbody");
    tbody.replaceChildren();
    days.slice().reverse().forEach(function (d) {
      var tr = document.createElement("tr");
      cell(tr, d.day);
      cell(tr, usd(num(d.cost_usd)), "num");
      tbody.appendChild(tr);
    });

    charts.barList($("ad-by-intent"), breakdown(month.by_intent), {
      title: "Spend by request type, last 30 days",
      emptyText: "No model calls in the last 30 days.",
    });
    charts.barList($("ad-by-model"), breakdown(month.by_model, true), {
      title: "Spend by model, last 30 days",
      emptyText: "No model calls in the last 30 days.",
    });
    renderSuggestions(suggestions);
  }

  function breakdown(rows, raw) {
    return Object.keys(rows || {})
      .map(function (name) {
        var r = rows[name] || {};
        var cost = num(r.cost_micros) / 1e6;
        var calls = num(r.calls);
        return {
          label: raw ? name : humanize(name),
          value: cost,
          calls: calls,
          text: usd(cost) + " · " + plural(calls, "call", "calls"),
        };
      })
      .filter(function (r) {
        return r.value > 0 || r.calls > 0;
      })
      .sort(function (a, b) {
        return b.value - a.value;
      });
  }

  function formatNumber(key, value) {
    if (typeof value === "boolean") {
      return value ? "yes" : "no";
    }
    if (value === null || value === undefined) {
      return "–";
    }
    if (typeof value === "object") {
      return Object.keys(value)
        .map(function (k) {
          return humanize(k) + " " + formatNumber(k, value[k]);
        })
        .join(", ");
    }
    if (typeof value === "number") {
      if (/_micros$/.test(key)) {
        return micros(value);
      }
      if (/_usd$/.test(key)) {
        return usd(value);
      }
      if (/_pct$|_percent$|percentage$/.test(key)) {
        return value.toLocaleString("en-US", { maximumFractionDigits: 1 }) + "%";
      }
      if (/ratio$/.test(key)) {
        return pct(value);
      }
      return value.toLocaleString("en-US", { maximumFractionDigits: 2 });
    }
    return String(value);
  }

  function numberLabel(key) {
    var text = key.replace(/_(micros|usd)$/, "").replace(/_pct$/, " %");
    return humanize(text);
  }

  function renderSuggestions(list) {
    var box = $("ad-suggestions");
    box.replaceChildren();
    var items = Array.isArray(list) ? list : [];
    if (!items.length) {
      var none = document.createElement("p");
      none.className = "ak-empty";
      none.textContent = "No suggestions: spending looks fine.";
      box.appendChild(none);
      return;
    }
    items.forEach(function (s) {
      var article = document.createElement("article");
      article.className = "ad-suggestion";
      var h = document.createElement("h4");
      h.textContent = s.title || humanize(s.code || "suggestion");
      article.appendChild(h);
      var p = document.createElement("p");
      p.textContent = s.detail || "";
      article.appendChild(p);
      var numbers = s.numbers || {};
      var keys = Object.keys(numbers);
      if (keys.length) {
        var dl = document.createElement("dl");
        dl.className = "ad-numbers ak-small";
        keys.forEach(function (key) {
          var dt = document.createElement("dt");
          dt.textContent = numberLabel(key);
          var dd = document.createElement("dd");
          dd.textContent = formatNumber(key, numbers[key]);
          dl.appendChild(dt);
          dl.appendChild(dd);
        });
        article.appendChild(dl);
      }
      box.appendChild(article);
    });
  }

  // ------------------------------------------------------------------ health
  var STATUS_KIND = { healthy: "success", degraded: "moved", unhealthy: "removed" };
  var BREAKER_KIND = { closed: "success", half_open: "moved", open: "removed" };
  var BREAKER_TEXT = { closed: "Closed", half_open: "Half-open", open: "Open" };

  function first(obj, names) {
    for (var i = 0; i < names.length; i += 1) {
      if (obj && obj[names[i]] !== undefined && obj[names[i]] !== null) {
        return obj[names[i]];
      }
    }
    return undefined;
  }

  function breakerName(name) {
    if (name === "llm") {
      return "AI model provider";
    }
    if (/^jira:/.test(name)) {
      return "Jira (this site)";
    }
    return String(name);
  }

  function renderHealth(health) {
    var h = health || {};
    var status = String(h.status || "unknown");
    var badge = $("ad-health-status");
    badge.textContent = status;
    badge.className = "ak-lozenge" + (STATUS_KIND[status] ? " ak-lozenge--" + STATUS_KIND[status] : "");
    var reasons = $("ad-health-reasons");
    reasons.replaceChildren();
    (h.reasons || []).forEach(function (r) {
      var li = document.createElement("li");
      li.textContent = r;
      reasons.appendChild(li);
    });
    show(reasons, Boolean((h.reasons || []).length));

    var rate = first(h, ["error_rate"]);
    var rateValue = rate && typeof rate === "object" ? rate.rate : rate;
    $("ad-error-rate").textContent = rateValue === null || rateValue === undefined ? "–" : pct(rateValue, 1);
    $("ad-error-rate-detail").textContent =
      rate && typeof rate === "object" && num(rate.requests) > 0
        ? plural(num(rate.failed), "failure", "failures") + " in " + plural(num(rate.requests), "request", "requests")
        : "No requests in the last hour";
    var queue = first(h, ["queue_depth", "queue"]);
    var depth = queue && typeof queue === "object" ? queue.depth : queue;
    $("ad-queue").textContent = depth === null || depth === undefined ? "–" : String(depth);

    var breakers = $("ad-breakers").querySelector("tbody");
    breakers.replaceChildren();
    (h.breakers || []).forEach(function (b) {
      var tr = document.createElement("tr");
      cell(tr, b.label ? String(b.label) : breakerName(b.name));
      cell(tr, lozenge(BREAKER_TEXT[b.state] || String(b.state), BREAKER_KIND[b.state]));
      cell(tr, String(num(b.failures)), "num");
      breakers.appendChild(tr);
    });
    if (!(h.breakers || []).length) {
      emptyRow(breakers, 3, "No circuit breakers have been used yet.");
    }

    var stages = first(h, ["stages", "latency", "performance"]) || {};
    if (stages.stages) {
      stages = stages.stages;
    }
    var latency = $("ad-latency").querySelector("tbody");
    latency.replaceChildren();
    var rows = Array.isArray(stages)
      ? stages
      : Object.keys(stages).map(function (name) {
          return Object.assign({ stage: name }, stages[name]);
        });
    rows.sort(function (a, b) {
      return stageRank(a) - stageRank(b);
    });
    rows.forEach(function (s) {
      var tr = document.createElement("tr");
      var stage = String(s.stage || s.name || "");
      cell(tr, STAGES[stage] || humanize(stage));
      cell(tr, num(s.count).toLocaleString("en-US"), "num");
      cell(tr, ms(s.p50_ms), "num");
      cell(tr, ms(s.p95_ms), "num");
      latency.appendChild(tr);
    });
    if (!rows.length) {
      emptyRow(latency, 4, "No requests measured yet.");
    }

    var errors = $("ad-errors").querySelector("tbody");
    errors.replaceChildren();
    var recent = first(h, ["recent_errors", "last_errors", "errors"]) || [];
    recent.forEach(function (e) {
      var tr = document.createElement("tr");
      cell(tr, when(e.at));
      cell(tr, e.code || "error", "ak-mono");
      cell(tr, e.intent ? humanize(e.intent) : "–");
      errors.appendChild(tr);
    });
    if (!recent.length) {
      emptyRow(errors, 3, "No errors recorded.");
    }
  }

  function stageRank(row) {
    var index = STAGE_ORDER.indexOf(String(row.stage || row.name || ""));
    return index === -1 ? STAGE_ORDER.length - 2 : index; // unknown stages before the totals
  }

  function ms(value) {
    if (value === null || value === undefined) {
      return "–";
    }
    var n = num(value);
    return n >= 1000 ? (n / 1000).toFixed(2) + " s" : Math.round(n) + " ms";
  }

  // ------------------------------------------------------------------ settings
  function fillOptions(select, values, labels, keepFirst) {
    var keep = keepFirst ? select.options[0] : null;
    select.replaceChildren();
    if (keep) {
      select.appendChild(keep);
    }
    (values || []).forEach(function (v) {
      var value = typeof v === "string" ? v : v && (v.value || v.id);
      if (!value) {
        return;
      }
      var option = document.createElement("option");
      option.value = value;
      option.textContent = (v && v.label) || (labels && labels[value]) || value;
      select.appendChild(option);
    });
  }

  function selectValue(select, value) {
    var wanted = value === null || value === undefined ? "" : String(value);
    var found = Array.prototype.some.call(select.options, function (o) {
      return o.value === wanted;
    });
    if (!found && wanted) {
      var option = document.createElement("option");
      option.value = wanted;
      option.textContent = wanted + " (not offered any more)";
      select.appendChild(option);
    }
    select.value = wanted;
  }

  function renderSettings(settings) {
    var s = settings || {};
    if (Array.isArray(s.allowed_models)) {
      fillOptions($("ad-model"), s.allowed_models.slice().sort(), null, true);
    }
    $("ad-daily-limit").placeholder = s.default_daily_limit_usd !== undefined && s.default_daily_limit_usd !== null
      ? "Default: " + s.default_daily_limit_usd : "";
    $("ad-alert-pct").placeholder = s.default_alert_percentage !== undefined && s.default_alert_percentage !== null
      ? "Default: " + s.default_alert_percentage : "";
    var defaultModel = s.default_model || s.effective_model;
    if (defaultModel) {
      $("ad-model").options[0].textContent = "Deployment default (" + defaultModel + ")";
    }
    if (Array.isArray(s.tones) && s.tones.length) {
      fillOptions($("ad-tone"), s.tones, TONES, false);
    }
    $("ad-daily-limit").value = s.daily_limit_usd === null || s.daily_limit_usd === undefined ? "" : String(s.daily_limit_usd);
    $("ad-alert-pct").value = s.alert_percentage === null || s.alert_percentage === undefined ? "" : String(s.alert_percentage);
    selectValue($("ad-model"), s.model);
    selectValue($("ad-tone"), s.default_email_tone || "formal");
    if (s.semantic_available !== undefined) {
      semanticAvailable = Boolean(s.semantic_available);
    }
    var semantic = $("ad-semantic");
    semantic.disabled = !semanticAvailable;
    semantic.checked = semanticAvailable && s.semantic_cache !== false;
    $("ad-semantic-help").textContent = semanticAvailable
      ? "Only for read-only requests (summaries, drafts) on this site; never shared with other sites."
      : "Not available on this deployment: it needs an embedding model, which the operator has not turned on " +
        "(USE_EMBEDDING_CACHE).";
    $("ad-resolution").checked = Boolean(s.resolution_summary_on_done);
    $("ad-projects").value = (s.enabled_projects || []).join(", ");
    $("ad-instructions").value = s.extra_instructions || "";
    countInstructions();
  }

  function countInstructions() {
    var n = Array.from($("ad-instructions").value).length;
    var counter = $("ad-instructions-count");
    counter.textContent = n.toLocaleString("en-US") + " / " + INSTRUCTIONS_LIMIT.toLocaleString("en-US");
    counter.classList.toggle("is-over", n > INSTRUCTIONS_LIMIT);
    if (n <= INSTRUCTIONS_LIMIT && $("ad-instructions").getAttribute("aria-invalid") === "true") {
      fieldError("extra_instructions", "");
    }
    return n;
  }

  function fieldError(name, message) {
    var field = FIELDS[name];
    if (!field) {
      return;
    }
    var input = $(field.id);
    var error = $(field.id + "-error");
    if (message) {
      input.setAttribute("aria-invalid", "true");
    } else {
      input.removeAttribute("aria-invalid");
    }
    if (error) {
      error.textContent = message;
      show(error, Boolean(message));
    }
  }

  function clearErrors() {
    Object.keys(FIELDS).forEach(function (name) {
      fieldError(name, "");
    });
    show($("ad-settings-error"), false);
  }

  function formError(message, name) {
    $("ad-settings-error-text").textContent = message;
    show($("ad-settings-error"), true);
    if (name) {
      fieldError(name, message);
      $(FIELDS[name].id).focus();
    }
  }

  // The API names the setting in its message ("alert_percentage must be ..."): point at that field
  // and say its label instead of the JSON name.
  function explain(message) {
    var text = String(message || "The settings were not accepted.");
    var found = null;
    Object.keys(FIELDS).forEach(function (name) {
      if (!found && text.indexOf(name) !== -1) {
        found = name;
      }
    });
    if (found) {
      text = text.split(found).join(FIELDS[found].label);
    }
    text = text.replace(/\(or null for the default\)/g, "(or empty for the default)");
    if (!found && /project key/i.test(text)) {
      found = "enabled_projects";
    }
    return { name: found, message: text.charAt(0).toUpperCase() + text.slice(1) };
  }

  function numberOrNull(id) {
    var raw = $(id).value.trim();
    if ($(id).validity && $(id).validity.badInput) {
      return NaN;
    }
    return raw === "" ? null : Number(raw);
  }

  function readSettings() {
    var limit = numberOrNull("ad-daily-limit");
    var alert = numberOrNull("ad-alert-pct");
    if (Number.isNaN(limit)) {
      formError("Daily limit must be a number, for example 5 or 12.50.", "daily_limit_usd");
      return null;
    }
    if (Number.isNaN(alert)) {
      formError("Alert percentage must be a whole number from 1 to 100.", "alert_percentage");
      return null;
    }
    var over = countInstructions() - INSTRUCTIONS_LIMIT;
    if (over > 0) {
      formError(
        "Extra instructions are limited to 1,000 characters; remove " + plural(over, "character", "characters") + ".",
        "extra_instructions"
      );
      return null;
    }
    var changes = {
      daily_limit_usd: limit,
      alert_percentage: alert,
      model: $("ad-model").value || null,
      default_email_tone: $("ad-tone").value,
      resolution_summary_on_done: $("ad-resolution").checked,
      enabled_projects: $("ad-projects")
        .value.split(/[\s,;]+/)
        .map(function (k) {
          return k.trim();
        })
        .filter(Boolean),
      extra_instructions: $("ad-instructions").value,
    };
    if (semanticAvailable) {
      changes.semantic_cache = $("ad-semantic").checked;
    }
    return changes;
  }

  function setSaving(isSaving) {
    saving = isSaving;
    var button = $("ad-save");
    button.disabled = isSaving;
    button.setAttribute("aria-busy", isSaving ? "true" : "false");
    show(button.querySelector(".ak-spinner"), isSaving);
    $("ad-form").setAttribute("aria-busy", isSaving ? "true" : "false");
  }

  function saved(text) {
    var node = $("ad-saved");
    node.textContent = text;
    node.classList.toggle("is-shown", Boolean(text));
    if (savedTimer) {
      window.clearTimeout(savedTimer);
    }
    if (text) {
      savedTimer = window.setTimeout(function () {
        node.textContent = "";
        node.classList.remove("is-shown");
      }, SAVED_MS);
    }
  }

  function save(event) {
    event.preventDefault();
    if (saving) {
      return;
    }
    clearErrors();
    saved("");
    var changes = readSettings();
    if (!changes) {
      return;
    }
    setSaving(true);
    transport
      .request("PUT", "/api/ui/admin/settings", changes)
      .then(
        function (result) {
          var next = result && result.settings ? result.settings : result;
          renderSettings(next);
          saved("Saved. The changes apply from the next request.");
          return load(true);
        },
        function (err) {
          if (err && err.status === 400) {
            var why = explain(err.message);
            formError(why.message, why.name);
          } else {
            formError((err && err.message) || "Try again in a moment.");
          }
        }
      )
      .finally(function () {
        setSaving(false);
      });
  }

  // ------------------------------------------------------------------ loading
  function redrawOnResize() {
    var timer = null;
    var lastWidth = document.documentElement.clientWidth;
    window.addEventListener("resize", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        var width = document.documentElement.clientWidth;
        if (lastData && width !== lastWidth) {
          lastWidth = width;
          renderCost(lastData.cost, lastData.daily, lastData.suggestions);
        }
      }, 150);
    });
  }

  function render(data, keepForm) {
    var d = data || {};
    lastData = d;
    var site = d.site || {};
    $("ad-site").textContent = site.base_url ? String(site.base_url).replace(/^https?:\/\//, "") : "this site";
    show($("ad-loading"), false);
    show($("ad-error"), false);
    show($("ad-content"), true); // visible first: the charts take the width they are drawn in
    renderCost(d.cost, d.daily, d.suggestions);
    renderHealth(d.health);
    if (!keepForm) {
      renderSettings(d.settings);
    }
  }

  function load(keepForm) {
    var button = $("ad-refresh");
    button.disabled = true;
    show(button.querySelector(".ak-spinner"), true);
    return transport
      .request("GET", "/api/ui/admin")
      .then(
        function (data) {
          render(data, keepForm);
        },
        function (err) {
          if (keepForm) {
            return; // the figures stay as they were; the save itself succeeded
          }
          var title = err && err.status === 403 ? "Only Jira administrators can see this page" : "This page could not load";
          pageError(title, (err && err.message) || "Reload the page and try again.");
          show($("ad-content"), false);
        }
      )
      .finally(function () {
        button.disabled = false;
        show(button.querySelector(".ak-spinner"), false);
      });
  }

  function start() {
    if (!transport || !charts) {
      pageError("This page could not load", "The page did not load completely. Reload it and try again.");
      return;
    }
    $("ad-form").addEventListener("submit", save);
    $("ad-instructions").addEventListener("input", countInstructions);
    $("ad-refresh").addEventListener("click", function () {
      load(!$("ad-content").hidden);
    });
    redrawOnResize();
    load(false);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
