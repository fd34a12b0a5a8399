/*
 * transport-connect.js: how the screens reach our backend from inside a Connect iframe.
 *
 *   window.JiraAITransport = {
 *     request(method, path, body) -> Promise<json>      // rejects with {code, message, status}
 *     context()                   -> Promise<{issueKey}> // issueKey is null outside an issue
 *   }
 *
 * Every call asks Atlassian's all.js for a fresh context token (AP.context.getToken) and sends it as
 * "Authorization: JWT <token>". The Forge door ships its own file with the same two functions, so
 * the screens never touch AP (or Forge's bridge) directly.
 */
(function () {
  "use strict";

  var TIMEOUT_MS = 20000;
  var script = document.currentScript;
  var apiBase = (script && script.getAttribute("data-api-base")) || "";

  function failure(code, message, status) {
    return { code: code, message: message, status: status || 0 };
  }

  function host() {
    var ap = window.AP;
    if (!ap || !ap.context || typeof ap.context.getToken !== "function") {
      return null;
    }
    return ap;
  }

  function noHost() {
    return failure(
      "no_jira",
      "This page only works inside Jira. Open it from the issue or from the app's settings in Jira."
    );
  }

  function token() {
    return new Promise(function (resolve, reject) {
      var ap = host();
      if (!ap) {
        reject(noHost());
        return;
      }
      var settled = false;
      var timer = setTimeout(function () {
        if (!settled) {
          settled = true;
          reject(failure("no_token", "Jira did not answer in time. Reload the page and try again."));
        }
      }, TIMEOUT_MS);
      function done(value) {
        if (settled) {
          return;
        }
        settled = true;
        clearTimeout(timer);
        if (typeof value === "string" && value) {
          resolve(value);
        } else {
          reject(failure("no_token", "Jira did not give this page a session. Reload the page and try again."));
        }
      }
      try {
        var maybe = ap.context.getToken(done);
        if (maybe && typeof maybe.then === "function") {
          maybe.then(done, function () {
            done(null);
          });
        }
      } catch (err) {
        done(null);
      }
    });
  }

  // Plain words for what the HTTP status means to the person looking at the screen.
  function plainWords(status, body) {
    var serverMessage = body && typeof body.message === "string" ? body.message : "";
    var code = (body && typeof body.error === "string" && body.error) || "http_" + status;
    if (status === 401) {
      return failure(
        code,
        "Your Jira session for this app has expired or could not be checked. Reload the page to continue.",
        status
      );
    }
    if (status === 403) {
      return failure(code, serverMessage || "You do not have permission to do this.", status);
    }
    if (status === 404) {
      return failure(code, serverMessage || "That item no longer exists. Try again.", status);
    }
    if (status === 413) {
      return failure(code, "That is too much text to send. Shorten it and try again.", status);
    }
    if (status === 429) {
      return failure(code, serverMessage || "Too many requests right now. Wait a moment and try again.", status);
    }
    if (status >= 500) {
      return failure(
        code,
        serverMessage && status !== 500
          ? serverMessage
          : "Something went wrong on our side. Try again in a moment.",
        status
      );
    }
    return failure(code, serverMessage || "The request was not accepted (HTTP " + status + ").", status);
  }

  function send(method, path, body, jwt) {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller
      ? setTimeout(function () {
          controller.abort();
        }, TIMEOUT_MS)
      : null;
    var init = {
      method: method,
      headers: { Authorization: "JWT " + jwt, Accept: "application/json" },
      credentials: "omit",
      cache: "no-store",
      signal: controller ? controller.signal : undefined,
    };
    if (body !== undefined && body !== null) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(apiBase + path, init)
      .then(
        function (res) {
          return res.text().then(function (text) {
            var data = null;
            if (text) {
              try {
                data = JSON.parse(text);
              } catch (err) {
                data = null;
              }
            }
            if (!res.ok) {
              throw plainWords(res.status, data);
            }
            return data;
          });
        },
        function (err) {
          if (err && err.name === "AbortError") {
            throw failure("timeout", "The app took too long to answer. Try again in a moment.");
          }
          throw failure("network", "Could not reach the AI assistant. Check your connection and try again.");
        }
      )
      .finally(function () {
        if (timer) {
          clearTimeout(timer);
        }
      });
  }

  function request(method, path, body) {
    return token().then(function (jwt) {
      return send(String(method || "GET").toUpperCase(), path, body, jwt);
    });
  }

  function context() {
    return new Promise(function (resolve, reject) {
      var ap = host();
      if (!ap) {
        reject(noHost());
        return;
      }
      function pick(ctx) {
        var issue = ctx && ctx.jira && ctx.jira.issue;
        resolve({ issueKey: (issue && issue.key) || null });
      }
      if (typeof ap.context.getContext !== "function") {
        pick(null);
        return;
      }
      try {
        var maybe = ap.context.getContext(pick);
        if (maybe && typeof maybe.then === "function") {
          maybe.then(pick, function () {
            pick(null);
          });
        }
      } catch (err) {
        pick(null);
      }
    });
  }

  window.JiraAITransport = { request: request, context: context };
})();
