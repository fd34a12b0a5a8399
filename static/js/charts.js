/*
 * charts.js: small inline SVG charts drawn with DOM calls (never innerHTML, so no label can inject
 * markup). Each chart has role="img", a <title> and a <desc>, and every bar its own <title>.
 *
 *   JiraAICharts.dailySpend(container, days, {limitUsd})   // days: [{day: "2024-05-01", cost_usd}]
 *   JiraAICharts.barList(container, rows, {title, unit})   // rows: [{label, value, text}]
 *   JiraAICharts.budgetMeter(container, {spentUsd, limitUsd, alertPercent})
 *   JiraAICharts.usd(value)                                // "$1.23", "$0.0042"
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  var counter = 0;

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) {
      node.setAttribute(key, String(attrs[key]));
    });
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  function nextId(prefix) {
    counter += 1;
    return prefix + "-" + counter;
  }

  function usd(value) {
    var n = Number(value) || 0;
    if (n === 0) {
      return "$0.00";
    }
    if (Math.abs(n) < 0.01) {
      return "$" + n.toFixed(4);
    }
    return "$" + n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  // Axis labels: cents when the value is whole cents, else as many decimals as it needs (up to 4).
  function axisUsd(value) {
    var cents = Math.round(value * 100);
    if (Math.abs(value * 100 - cents) < 1e-9) {
      return usd(value);
    }
    return "$" + Number(value.toFixed(4)).toString();
  }

  function shortDay(day) {
    var parts = String(day).split("-");
    if (parts.length !== 3) {
      return String(day);
    }
    return MONTHS[Number(parts[1]) - 1] + " " + Number(parts[2]);
  }

  // A "nice" upper bound for an axis: a round step times a power of ten.
  function niceMax(value) {
    if (!(value > 0)) {
      return 1;
    }
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10];
    for (var i = 0; i < steps.length; i += 1) {
      if (steps[i] * power >= value) {
        return steps[i] * power;
      }
    }
    return 10 * power;
  }

  // Draw at the container's real width so 1 SVG unit is 1 CSS pixel and text keeps its size.
  function widthOf(container, fallback, minimum) {
    var w = Math.floor(container.getBoundingClientRect().width || container.clientWidth || 0);
    return Math.max(minimum, w || fallback);
  }

  // Rough width of a label in 12px system font; enough to lay out columns without measuring.
  function textWidth(text) {
    return Math.ceil(String(text).length * 6.8);
  }

  function frame(container, width, height, title, desc) {
    var titleId = nextId("chart-title");
    var descId = nextId("chart-desc");
    var svg = el("svg", {
      class: "ak-chart",
      viewBox: "0 0 " + width + " " + height,
      width: width,
      height: height,
      role: "img",
      "aria-labelledby": titleId + " " + descId,
      focusable: "false",
    });
    svg.appendChild(el("title", { id: titleId }, title));
    svg.appendChild(el("desc", { id: descId }, desc));
    container.replaceChildren(svg);
    return svg;
  }

  function dailySpend(container, days, options) {
    var opts = options || {};
    var rows = (days || []).map(function (d) {
      return { day: d.day, cost: Number(d.cost_usd) || 0 };
    });
    var width = widthOf(container, 720, 280);
    var height = 220;
    var left = 56;
    var right = 8;
    var top = 12;
    var bottom = 28;
    var plotW = width - left - right;
    var plotH = height - top - bottom;
    var total = rows.reduce(function (sum, r) {
      return sum + r.cost;
    }, 0);
    var peak = rows.reduce(function (best, r) {
      return r.cost > best.cost ? r : best;
    }, { day: null, cost: 0 });
    var limit = Number(opts.limitUsd) || 0;
    var showLimit = limit > 0 && peak.cost >= limit * 0.5;
    var max = niceMax(Math.max(peak.cost, showLimit ? limit : 0));
    var desc =
      "Total " + usd(total) + " over " + rows.length + " days" +
      (peak.day ? "; highest " + usd(peak.cost) + " on " + peak.day + "." : "; no spend yet.");
    var svg = frame(container, width, height, opts.title || "Spend per day, last " + rows.length + " days", desc);

    [0, 0.5, 1].forEach(function (f) {
      var y = top + plotH - f * plotH;
      svg.appendChild(el("line", { class: f === 0 ? "axis-line" : "grid-line", x1: left, x2: width - right, y1: y, y2: y }));
      svg.appendChild(el("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, axisUsd(max * f)));
    });

    var slot = plotW / Math.max(1, rows.length);
    var barW = Math.max(2, slot * 0.7);
    rows.forEach(function (r, i) {
      var h = max > 0 ? (r.cost / max) * plotH : 0;
      var x = left + i * slot + (slot - barW) / 2;
      var bar = el("rect", {
        class: i === rows.length - 1 ? "bar bar--today" : "bar",
        x: x.toFixed(2),
        y: (top + plotH - h).toFixed(2),
        width: barW.toFixed(2),
        height: Math.max(0, h).toFixed(2),
        rx: 1,
      });
      bar.appendChild(el("title", {}, r.day + ": " + usd(r.cost)));
      svg.appendChild(bar);
      var isLast = i === rows.length - 1;
      if (i % 7 === 0 || isLast) {
        if (!isLast && rows.length - 1 - i < 4) {
          return; // too close to the last label
        }
        svg.appendChild(el("text", { x: (x + barW / 2).toFixed(2), y: height - 8, "text-anchor": "middle" }, shortDay(r.day)));
      }
    });

    if (showLimit) {
      var ly = top + plotH - (limit / max) * plotH;
      var line = el("line", { class: "limit-line", x1: left, x2: width - right, y1: ly.toFixed(2), y2: ly.toFixed(2) });
      line.appendChild(el("title", {}, "Daily limit " + usd(limit)));
      svg.appendChild(line);
    }
    return svg;
  }

  function barList(container, rows, options) {
    var opts = options || {};
    var items = (rows || []).filter(function (r) {
      return r && r.label;
    });
    if (!items.length) {
      var empty = document.createElement("p");
      empty.className = "ak-empty";
      empty.textContent = opts.emptyText || "Nothing yet.";
      container.replaceChildren(empty);
      return null;
    }
    var rowH = 28;
    var width = widthOf(container, 480, 240);
    var longestLabel = 0;
    var longestValue = 0;
    items.forEach(function (r) {
      longestLabel = Math.max(longestLabel, textWidth(String(r.label).slice(0, 24)));
      longestValue = Math.max(longestValue, textWidth(r.text || usd(r.value)));
    });
    var labelW = Math.min(Math.round(width * 0.4), longestLabel + 12);
    var valueW = Math.min(Math.round(width * 0.4), longestValue + 12);
    var height = items.length * rowH + 4;
    var max = items.reduce(function (m, r) {
      return Math.max(m, Number(r.value) || 0);
    }, 0);
    var desc = items
      .map(function (r) {
        return r.label + ": " + (r.text || usd(r.value));
      })
      .join("; ");
    var svg = frame(container, width, height, opts.title || "Breakdown", desc);
    var plotW = width - labelW - valueW;
    items.forEach(function (r, i) {
      var y = i * rowH + 2;
      var value = Number(r.value) || 0;
      var w = max > 0 ? Math.max(value > 0 ? 2 : 0, (value / max) * plotW) : 0;
      var label = String(r.label);
      svg.appendChild(el("text", { class: "label", x: 0, y: y + 17 }, label.length > 24 ? label.slice(0, 23) + "…" : label));
      var bar = el("rect", { class: "bar", x: labelW, y: y + 5, width: w.toFixed(2), height: rowH - 12, rx: 2 });
      bar.appendChild(el("title", {}, label + ": " + (r.text || usd(value))));
      svg.appendChild(bar);
      svg.appendChild(el("text", { class: "value", x: width, y: y + 17, "text-anchor": "end" }, r.text || usd(value)));
    });
    return svg;
  }

  function budgetMeter(container, options) {
    var opts = options || {};
    var spent = Math.max(0, Number(opts.spentUsd) || 0);
    var limit = Math.max(0, Number(opts.limitUsd) || 0);
    var alertPct = Number(opts.alertPercent) || 0;
    var pct = limit > 0 ? (spent / limit) * 100 : spent > 0 ? 100 : 0;
    var state = pct >= 100 || limit === 0 ? "over" : alertPct && pct >= alertPct ? "alert" : "ok";
    var text =
      limit > 0
        ? usd(spent) + " of " + usd(limit) + " used today (" + Math.round(pct) + "%)"
        : "Daily limit is " + usd(0) + ": the AI is paused for this site";
    var wrapper = document.createElement("div");
    wrapper.className = "ak-meter ak-meter--" + state;
    wrapper.setAttribute("role", "meter");
    wrapper.setAttribute("aria-label", "Today's spend against the daily limit");
    wrapper.setAttribute("aria-valuemin", "0");
    wrapper.setAttribute("aria-valuemax", String(limit));
    wrapper.setAttribute("aria-valuenow", String(Math.min(spent, limit)));
    wrapper.setAttribute("aria-valuetext", text);
    var width = widthOf(container, 480, 120);
    var svg = el("svg", {
      class: "ak-chart",
      viewBox: "0 0 " + width + " 16",
      width: width,
      height: 16,
      "aria-hidden": "true",
      focusable: "false",
    });
    svg.appendChild(el("rect", { class: "ak-meter__track", x: 0, y: 2, width: width, height: 12, rx: 3 }));
    var fillW = Math.min(100, pct) / 100 * width;
    svg.appendChild(el("rect", { class: "ak-meter__fill--" + state, x: 0, y: 2, width: fillW.toFixed(2), height: 12, rx: 3 }));
    if (alertPct > 0 && alertPct < 100 && limit > 0) {
      var mx = (alertPct / 100) * width;
      svg.appendChild(el("line", { class: "ak-meter__mark", x1: mx, x2: mx, y1: 0, y2: 16 }));
    }
    wrapper.appendChild(svg);
    var caption = document.createElement("p");
    caption.className = "ak-small ak-subtle ak-meter__caption";
    caption.textContent = text + (alertPct && limit > 0 ? ". Alert at " + alertPct + "%." : ".");
    wrapper.appendChild(caption);
    container.replaceChildren(wrapper);
    return wrapper;
  }

  window.JiraAICharts = { dailySpend: dailySpend, barList: barList, budgetMeter: budgetMeter, usd: usd };
})();
