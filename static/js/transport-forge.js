/*
 * transport-forge.js: how the screens reach our backend from inside Forge (Custom UI).
 *
 *   window.JiraAITransport = {
 *     request(method, path, body) -> Promise<json>      // rejects with {code, message, status}
 *     context()                   -> Promise<{issueKey}> // issueKey is null outside an issue
 *   }
 *
 * The same two functions as transport-connect.js, so the screens run unchanged on either door. Here a
 * call goes through Forge's bridge: invokeRemote({path, method, body}) on the module's remote endpoint
 * (manifest: resolver.endpoint = ui-endpoint), which Forge sends to the backend with a Forge Invocation
 * Token. The screens' API paths map one to one: "/api/ui/<rest>" is sent as "/forge/ui/<rest>". The issue
 * key comes from view.getContext(); the backend takes it from the signed token, never from the request.
 *
 * Only `make forge` uses this file: esbuild bundles it, with @forge/bridge, into the Custom UI resources.
 * The bridge is loaded lazily, so a page opened outside Jira shows a plain message instead of breaking.
 */

const UI_API_PREFIX = "/api/ui";
const FORGE_UI_PREFIX = "/forge/ui";
// Forge gives a UI invocation 25 seconds; give up a little later if the bridge never answers.
const TIMEOUT_MS = 30000;
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];

function failure(code, message, status) {
  return { code: code, message: message, status: status || 0 };
}

function noHost() {
  return failure(
    "no_jira",
    "This page only works inside Jira. Open it from the issue or from the app's settings in Jira."
  );
}

/** The remote path for a screen API path: "/api/ui/jobs/1?x=2" -> "/forge/ui/jobs/1?x=2". */
export function forgePath(path) {
  const text = String(path || "");
  if (text === UI_API_PREFIX || text.indexOf(UI_API_PREFIX + "/") === 0 || text.indexOf(UI_API_PREFIX + "?") === 0) {
    return FORGE_UI_PREFIX + text.slice(UI_API_PREFIX.length);
  }
  throw failure("bad_path", "The page asked for something the app does not offer (" + text + ").");
}

// Plain words for what the HTTP status means to the person looking at the screen (as on the Connect door).
function plainWords(status, body) {
  const serverMessage = body && typeof body.message === "string" ? body.message : "";
  const code = (body && typeof body.error === "string" && body.error) || "http_" + status;
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
      serverMessage && status !== 500 ? serverMessage : "Something went wrong on our side. Try again in a moment.",
      status
    );
  }
  return failure(code, serverMessage || "The request was not accepted (HTTP " + status + ").", status);
}

function parsed(body) {
  if (typeof body !== "string") {
    return body === undefined ? null : body;
  }
  if (!body) {
    return null;
  }
  try {
    return JSON.parse(body);
  } catch (err) {
    return null;
  }
}

/*
 * What invokeRemote resolved with, as the screens expect it. Current bridges resolve with an envelope
 * {status, headers, body} for every answer (2xx or not); older ones resolved with the JSON body itself.
 */
function unwrap(answer) {
  const envelope =
    answer && typeof answer === "object" && typeof answer.status === "number" && ("headers" in answer || "body" in answer);
  if (envelope) {
    const body = parsed(answer.body);
    if (answer.status >= 200 && answer.status < 300) {
      return body;
    }
    throw plainWords(answer.status, body);
  }
  return answer === undefined ? null : answer;
}

function bridgeFailed(err) {
  if (err && typeof err.code === "string" && typeof err.message === "string") {
    return err; // already one of ours
  }
  return failure("network", "Could not reach the AI assistant. Check your connection and try again.");
}

function withTimeout(promise) {
  let timer = null;
  const timeout = new Promise(function (resolve, reject) {
    timer = setTimeout(function () {
      reject(failure("timeout", "The app took too long to answer. Try again in a moment."));
    }, TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(function () {
    clearTimeout(timer);
  });
}

/**
 * A transport over Forge's bridge. `loadBridge` returns (a promise of) the @forge/bridge module; it is
 * called on first use, and again after a failure.
 */
export function createForgeTransport(loadBridge) {
  let loading = null;

  function bridge() {
    if (!loading) {
      loading = Promise.resolve()
        .then(loadBridge)
        .then(function (mod) {
          if (!mod || typeof mod.invokeRemote !== "function" || !mod.view) {
            throw noHost();
          }
          return mod;
        })
        .catch(function () {
          loading = null;
          throw noHost();
        });
    }
    return loading;
  }

  function request(method, path, body) {
    const verb = String(method || "GET").toUpperCase();
    let input;
    try {
      if (METHODS.indexOf(verb) < 0) {
        throw failure("bad_method", "The page asked for something the app does not offer (" + verb + ").");
      }
      input = { path: forgePath(path), method: verb, headers: { Accept: "application/json" } };
    } catch (err) {
      return Promise.reject(err);
    }
    if (body !== undefined && body !== null && verb !== "GET") {
      input.body = body;
      input.headers["Content-Type"] = "application/json";
    }
    return bridge().then(function (mod) {
      let call;
      try {
        call = Promise.resolve(mod.invokeRemote(input));
      } catch (err) {
        call = Promise.reject(err);
      }
      return withTimeout(call.catch(function (err) {
        throw bridgeFailed(err);
      })).then(unwrap);
    });
  }

  function context() {
    return bridge().then(function (mod) {
      return Promise.resolve(mod.view.getContext()).then(
        function (ctx) {
          const issue = ctx && ctx.extension && ctx.extension.issue;
          return { issueKey: (issue && issue.key) || null };
        },
        function () {
          return { issueKey: null };
        }
      );
    });
  }

  return { request: request, context: context };
}

if (typeof window !== "undefined") {
  window.JiraAITransport = createForgeTransport(function () {
    return import("@forge/bridge");
  });
}
