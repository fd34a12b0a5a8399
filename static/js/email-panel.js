/*
 * email-panel.js: the "AI email draft" issue panel.
 *
 * Loads the panel data (GET /api/ui/panel), drafts an email as a UI job (POST /api/ui/drafts, then
 * polls GET /api/ui/jobs/<id>), shows subject and body with copy buttons, and posts the draft as an
 * issue comment (POST /api/ui/comments, also a job). Talks to the backend only through
 * window.JiraAITransport; every text from the server is put on the page with textContent.
 */
(function () {
  "use strict";

  var POLL_FIRST_MS = 250;
  var POLL_GROWTH = 1.25;
  var POLL_MAX_MS = 1000;
  var JOB_TIMEOUT_MS = 120000;
  var SLOW_NOTICE_MS = 8000;
  var NOTES_LIMIT = 2000;
  var FEEDBACK_MS = 2000;

  var LABELS = {
    recipient: { customer: "Customer", stakeholder: "Stakeholder", team: "Team", vendor: "Vendor", other: "Someone else…" },
    purpose: {
      status_update: "Status update",
      delay: "Delay",
      resolution: "Resolution",
      request_info: "Request for information",
      other: "Something else…",
    },
    tone: { formal: "Formal", friendly: "Friendly", concise: "Concise", apologetic: "Apologetic" },
  };

  // Words for failures that arrive without a message of their own (job failures carry plain words).
  var FAILURES = {
    budget_exceeded: "Today's AI budget for this site is used up. Try again tomorrow, or ask a Jira administrator to raise the daily limit.",
    circuit_open: "The AI service is having trouble right now. Try again in a few minutes.",
    llm_error: "The AI service did not answer. Try again in a moment.",
    jira_error: "Jira did not accept the request. Try again in a moment.",
    jira_unavailable: "Jira is not answering right now. Try again in a moment.",
    rate_limited: "Too many requests right now. Wait a moment and try again.",
    storage_error: "The app could not save its work. Try again in a moment.",
  };

  var transport = window.JiraAITransport;
  var busy = false;
  var drafted = null;

  function $(id) {
    return document.getElementById(id);
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  function plural(n, one, many) {
    return n + " " + (n === 1 ? one : many);
  }

  function codePoints(text) {
    return Array.from(text || "").length;
  }

  // ------------------------------------------------------------------ messages
  function showError(title, message) {
    $("ep-error-title").textContent = title;
    $("ep-error-text").textContent = message;
    show($("ep-error"), true);
  }

  function clearError() {
    show($("ep-error"), false);
  }

  function progress(text) {
    $("ep-progress").textContent = text || "";
  }

  function announce(text) {
    var node = $("ep-announce");
    node.textContent = "";
    window.setTimeout(function () {
      node.textContent = text;
    }, 50);
  }

  function failureText(err, fallback) {
    if (err && err.message) {
      return err.message;
    }
    return (err && err.code && FAILURES[err.code]) || fallback;
  }

  // ------------------------------------------------------------------ panel data
  function optionList(list, labels) {
    if (!Array.isArray(list) || !list.length) {
      return null;
    }
    var out = [];
    list.forEach(function (item) {
      var value = typeof item === "string" ? item : item && (item.value || item.key || item.id);
      if (!value) {
        return;
      }
      var label = (item && typeof item === "object" && (item.label || item.name)) || labels[value] || value;
      out.push({ value: String(value), label: String(label) });
    });
    return out.length ? out : null;
  }

  function fillSelect(select, list, labels) {
    var options = optionList(list, labels);
    if (!options) {
      return;
    }
    var current = select.value;
    select.replaceChildren();
    options.forEach(function (o) {
      var node = document.createElement("option");
      node.value = o.value;
      node.textContent = o.label;
      select.appendChild(node);
    });
    if (options.some(function (o) { return o.value === current; })) {
      select.value = current;
    }
  }

  function setDrafts(count) {
    var lozenge = $("ep-drafts");
    if (count === null || count === undefined || count === "") {
      return; // Jira did not say: keep what is shown
    }
    var n = Number(count);
    if (!isFinite(n) || n < 0) {
      return;
    }
    lozenge.textContent = plural(n, "draft", "drafts");
    lozenge.title = plural(n, "email draft", "email drafts") + " made on this issue";
    lozenge.className = n > 0 ? "ak-lozenge ak-lozenge--inprogress" : "ak-lozenge";
    show(lozenge, true);
  }

  function setBudget(budget) {
    var exhausted = Boolean(budget && budget.exhausted);
    show($("ep-budget"), exhausted);
  }

  function applyPanel(data) {
    var panel = data || {};
    var issue = panel.issue || {};
    if (issue.key) {
      $("ep-issue-key").textContent = issue.key;
      document.title = "AI email draft · " + issue.key;
    }
    $("ep-issue-summary").textContent = issue.summary ? "· " + issue.summary : "";
    fillSelect($("ep-recipient"), panel.recipients, LABELS.recipient);
    fillSelect($("ep-purpose"), panel.purposes, LABELS.purpose);
    fillSelect($("ep-tone"), panel.tones, LABELS.tone);
    var tone = panel.defaults && panel.defaults.tone;
    if (tone && Array.prototype.some.call($("ep-tone").options, function (o) { return o.value === tone; })) {
      $("ep-tone").value = tone;
    }
    setDrafts(panel.drafts);
    setBudget(panel.budget);
    show($("ep-loading"), false);
    show($("ep-form"), true);
    syncOtherFields();
    countNotes();
  }

  function loadFailed(err) {
    show($("ep-loading"), false);
    showError("The email panel could not open", failureText(err, "Reload the page and try again."));
  }

  // ------------------------------------------------------------------ the form
  function syncOtherFields() {
    var recipientOther = $("ep-recipient").value === "other";
    var purposeOther = $("ep-purpose").value === "other";
    show($("ep-recipient-text-field"), recipientOther);
    show($("ep-purpose-text-field"), purposeOther);
    if (!recipientOther) {
      fieldError("ep-recipient-text", "");
    }
    if (!purposeOther) {
      fieldError("ep-purpose-text", "");
    }
  }

  function countNotes() {
    var n = codePoints($("ep-notes").value);
    var counter = $("ep-notes-count");
    counter.textContent = n.toLocaleString("en-US") + " / " + NOTES_LIMIT.toLocaleString("en-US");
    counter.classList.toggle("is-over", n > NOTES_LIMIT);
    if (n <= NOTES_LIMIT) {
      fieldError("ep-notes", "");
    }
    return n;
  }

  function fieldError(id, message) {
    var input = $(id);
    var error = $(id + "-error");
    error.textContent = message;
    show(error, Boolean(message));
    if (message) {
      input.setAttribute("aria-invalid", "true");
    } else {
      input.removeAttribute("aria-invalid");
    }
  }

  function readForm() {
    var recipient = $("ep-recipient").value;
    var purpose = $("ep-purpose").value;
    var recipientText = $("ep-recipient-text").value.trim();
    var purposeText = $("ep-purpose-text").value.trim();
    var notes = $("ep-notes").value.trim();
    var firstBad = null;
    if (recipient === "other" && !recipientText) {
      fieldError("ep-recipient-text", "Say who the email is for.");
      firstBad = firstBad || "ep-recipient-text";
    } else {
      fieldError("ep-recipient-text", "");
    }
    if (purpose === "other" && !purposeText) {
      fieldError("ep-purpose-text", "Say what the email is about.");
      firstBad = firstBad || "ep-purpose-text";
    } else {
      fieldError("ep-purpose-text", "");
    }
    var over = countNotes() - NOTES_LIMIT;
    if (over > 0) {
      fieldError("ep-notes", "Notes are limited to 2,000 characters; remove " + plural(over, "character", "characters") + ".");
      firstBad = firstBad || "ep-notes";
    }
    if (firstBad) {
      $(firstBad).focus();
      return null;
    }
    return {
      recipient: recipient,
      recipient_text: recipient === "other" ? recipientText : "",
      purpose: purpose,
      purpose_text: purpose === "other" ? purposeText : "",
      tone: $("ep-tone").value,
      notes: notes,
    };
  }

  // ------------------------------------------------------------------ busy state
  function setBusy(button, isBusy, text) {
    busy = isBusy;
    ["ep-draft", "ep-regenerate", "ep-post"].forEach(function (id) {
      var b = $(id);
      b.disabled = isBusy || (id === "ep-post" && b.classList.contains("is-done"));
    });
    if (button) {
      show(button.querySelector(".ak-spinner"), isBusy);
      button.setAttribute("aria-busy", isBusy ? "true" : "false");
    }
    $("ep-form").setAttribute("aria-busy", isBusy ? "true" : "false");
    $("ep-result").setAttribute("aria-busy", isBusy ? "true" : "false");
    if (text !== undefined) {
      progress(text);
    }
  }

  // ------------------------------------------------------------------ jobs
  function pollJob(jobId) {
    var started = Date.now();
    var delay = POLL_FIRST_MS;
    var retries = 0;
    return new Promise(function (resolve, reject) {
      function tick() {
        transport.request("GET", "/api/ui/jobs/" + encodeURIComponent(jobId)).then(
          function (job) {
            retries = 0;
            var status = job && job.status;
            if (status === "done") {
              resolve((job && job.result) || {});
              return;
            }
            if (status === "failed") {
              var e = (job && job.error) || {};
              reject({ code: e.code || "failed", message: e.message || "The job failed. Try again." });
              return;
            }
            later();
          },
          function (err) {
            var transient = err && (err.code === "network" || err.code === "timeout");
            if (transient && retries < 3) {
              retries += 1;
              later();
              return;
            }
            reject(err);
          }
        );
      }
      function later() {
        if (Date.now() - started > JOB_TIMEOUT_MS) {
          reject({ code: "timeout", message: "This is taking much longer than usual. Try again in a moment." });
          return;
        }
        delay = Math.min(POLL_MAX_MS, Math.round(delay * POLL_GROWTH));
        window.setTimeout(tick, delay);
      }
      window.setTimeout(tick, POLL_FIRST_MS);
    });
  }

  function runJob(path, body) {
    return transport.request("POST", path, body).then(function (accepted) {
      if (!accepted || !accepted.job_id) {
        throw { code: "bad_answer", message: "The app gave an unexpected answer. Try again." };
      }
      return pollJob(accepted.job_id);
    });
  }

  // ------------------------------------------------------------------ drafting
  function draft(button, fresh) {
    if (busy) {
      return;
    }
    var payload = readForm();
    if (!payload) {
      return;
    }
    if (fresh) {
      payload.fresh = true;
    }
    clearError();
    setBusy(button, true, "Drafting your email…");
    var slow = window.setTimeout(function () {
      progress("Still drafting… this can take up to a minute.");
    }, SLOW_NOTICE_MS);
    runJob("/api/ui/drafts", payload)
      .then(showDraft, function (err) {
        progress("");
        showError("The draft could not be made", failureText(err, "Try again in a moment."));
      })
      .finally(function () {
        window.clearTimeout(slow);
        setBusy(button, false);
      });
  }

  function showDraft(result) {
    drafted = result || {};
    $("ep-subject").value = drafted.subject || "";
    $("ep-body").value = drafted.body || drafted.markdown || "";
    show($("ep-offline"), Boolean(drafted.offline));
    show($("ep-cached"), Boolean(drafted.cached));
    var note = drafted.note || (drafted.offline
      ? "The AI could not write this draft, so it was made from a template. Check it before sending."
      : "");
    $("ep-note-text").textContent = note;
    show($("ep-note"), Boolean(note));
    if (drafted.budget_exhausted) {
      setBudget({ exhausted: true });
    }
    if (drafted.drafts !== undefined) {
      setDrafts(drafted.drafts);
    }
    var cost = Number(drafted.cost_usd);
    $("ep-cost").textContent = isFinite(cost) && cost > 0 ? "Cost of this draft: $" + cost.toFixed(4) : "";
    show($("ep-cost"), isFinite(cost) && cost > 0);
    var post = $("ep-post");
    post.classList.remove("is-done");
    post.querySelector(".ep-button-text").textContent = "Post as comment";
    show($("ep-posted"), false);
    show($("ep-result"), true);
    fitBody();
    progress("");
    announce(drafted.offline ? "Your draft is ready (offline template)." : "Your draft is ready.");
    $("ep-result-title").focus();
  }

  function fitBody() {
    var body = $("ep-body");
    body.style.height = "auto";
    body.style.height = Math.min(body.scrollHeight + 4, 480) + "px";
  }

  // ------------------------------------------------------------------ posting
  function postComment() {
    var button = $("ep-post");
    if (busy || button.classList.contains("is-done")) {
      return;
    }
    var subject = $("ep-subject").value.trim();
    var body = $("ep-body").value.trim();
    if (!body) {
      showError("Nothing to post", "The body is empty. Draft an email first or write one.");
      $("ep-body").focus();
      return;
    }
    clearError();
    setBusy(button, true, "Posting the draft as a comment…");
    runJob("/api/ui/comments", { subject: subject, body: body })
      .then(
        function (result) {
          var id = result && result.comment_id;
          button.classList.add("is-done");
          button.querySelector(".ep-button-text").textContent = "Posted";
          var posted = $("ep-posted");
          posted.textContent = id ? "Posted as comment " + id + " on this issue." : "Posted as a comment on this issue.";
          show(posted, true);
          progress("");
          announce(posted.textContent);
        },
        function (err) {
          progress("");
          showError("The comment was not posted", failureText(err, "Try again in a moment."));
        }
      )
      .finally(function () {
        setBusy(button, false);
      });
  }

  // ------------------------------------------------------------------ copying
  function fallbackCopy(text) {
    var buffer = document.createElement("textarea");
    buffer.value = text;
    buffer.setAttribute("readonly", "");
    buffer.setAttribute("aria-hidden", "true");
    buffer.className = "ep-copy-buffer";
    var previous = document.activeElement;
    document.body.appendChild(buffer);
    buffer.select();
    buffer.setSelectionRange(0, buffer.value.length);
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (err) {
      ok = false;
    }
    document.body.removeChild(buffer);
    if (previous && typeof previous.focus === "function") {
      previous.focus();
    }
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copyText(text) {
    var clip = navigator.clipboard;
    if (clip && typeof clip.writeText === "function" && window.isSecureContext) {
      return clip.writeText(text).catch(function () {
        return fallbackCopy(text);
      });
    }
    return fallbackCopy(text);
  }

  function copyFrom(button) {
    var field = $(button.getAttribute("data-copy"));
    var what = button.getAttribute("data-what");
    var label = "Copy " + what.toLowerCase();
    copyText(field.value).then(
      function () {
        button.textContent = "Copied";
        button.classList.add("is-done");
        announce(what + " copied to the clipboard.");
        window.setTimeout(function () {
          button.textContent = label;
          button.classList.remove("is-done");
        }, FEEDBACK_MS);
      },
      function () {
        field.focus();
        field.select();
        announce("Could not copy. The text is selected: press Ctrl+C (⌘C on a Mac).");
        showError("Could not copy", "Your browser did not allow copying. The text is selected: press Ctrl+C (⌘C on a Mac).");
      }
    );
  }

  // ------------------------------------------------------------------ start
  function start() {
    $("ep-form").addEventListener("submit", function (event) {
      event.preventDefault();
      draft($("ep-draft"));
    });
    $("ep-regenerate").addEventListener("click", function () {
      draft($("ep-regenerate"), true);
    });
    $("ep-post").addEventListener("click", postComment);
    $("ep-recipient").addEventListener("change", syncOtherFields);
    $("ep-purpose").addEventListener("change", syncOtherFields);
    $("ep-notes").addEventListener("input", countNotes);
    $("ep-notes").addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        draft($("ep-draft"));
      }
    });
    $("ep-body").addEventListener("input", fitBody);
    Array.prototype.forEach.call(document.querySelectorAll("[data-copy]"), function (button) {
      button.addEventListener("click", function () {
        copyFrom(button);
      });
    });
    if (!transport) {
      loadFailed({ message: "The page did not load completely. Reload it and try again." });
      return;
    }
    transport.request("GET", "/api/ui/panel").then(applyPanel, loadFailed);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
