// Checks of our own on top of Atlassian's validator: rules the platform enforces at deploy or run time,
// or that are easy to get silently wrong, and the app summary the Python tests compare with the backend.
import { existsSync } from "node:fs";
import path from "node:path";

/** Lifecycle events a trigger may name besides the product events in Atlassian's mapping. */
const LIFECYCLE_EVENTS = new Set(["avi:forge:installed:app", "avi:forge:upgraded:app"]);
const UI_MODULE_TYPES = ["jira:issueContext", "jira:adminPage"];
const TOKEN_SCOPES = { appSystemToken: "read:app-system-token", appUserToken: "read:app-user-token" };

function problem(level, message, source = "project") {
  return { level, message, source };
}

function enabled(auth, token) {
  return Boolean(auth && auth[token] && auth[token].enabled === true);
}

function scopeKeys(scopes) {
  if (Array.isArray(scopes)) {
    return scopes.map(String);
  }
  return scopes && typeof scopes === "object" ? Object.keys(scopes) : [];
}

/** The parts of the manifest the backend must match, flattened for the tests. */
export function summarize(manifest) {
  const modules = manifest.modules || {};
  const endpoints = (modules.endpoint || []).map((endpoint) => ({
    key: endpoint.key,
    remote: endpoint.remote || null,
    route: (endpoint.route && endpoint.route.path) || null,
    appSystemToken: enabled(endpoint.auth, "appSystemToken"),
    appUserToken: enabled(endpoint.auth, "appUserToken"),
  }));
  const triggers = (modules.trigger || []).map((trigger) => ({
    key: trigger.key,
    endpoint: trigger.endpoint || null,
    events: Array.isArray(trigger.events) ? trigger.events : [],
    ignoreSelf: Boolean(trigger.filter && trigger.filter.ignoreSelf),
  }));
  const scheduledTriggers = (modules.scheduledTrigger || []).map((trigger) => ({
    key: trigger.key,
    endpoint: trigger.endpoint || null,
    interval: trigger.interval || null,
  }));
  const uiModules = UI_MODULE_TYPES.flatMap((type) =>
    (modules[type] || []).map((module) => ({
      type,
      key: module.key,
      resource: module.resource || null,
      endpoint: (module.resolver && module.resolver.endpoint) || null,
      icon: module.icon || null,
      useAsConfig: Boolean(module.useAsConfig),
    }))
  );
  return {
    appId: (manifest.app && manifest.app.id) || null,
    remotes: (manifest.remotes || []).map((remote) => ({
      key: remote.key,
      baseUrl: remote.baseUrl,
      operations: remote.operations || [],
      inScopeEUD: remote.storage ? remote.storage.inScopeEUD : null,
    })),
    endpoints,
    triggers,
    scheduledTriggers,
    uiModules,
    resources: (manifest.resources || []).map((resource) => ({ key: resource.key, path: resource.path })),
    scopes: scopeKeys(manifest.permissions && manifest.permissions.scopes),
  };
}

function checkBaseUrl(remote, url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return [problem("error", `remote '${remote}': baseUrl '${url}' is not a URL (is APP_BASE_URL set?)`)];
  }
  const found = [];
  if (parsed.protocol !== "https:") {
    found.push(problem("error", `remote '${remote}': baseUrl '${url}' must use https (Forge calls only https)`));
  }
  if (url.endsWith("/")) {
    found.push(problem("error", `remote '${remote}': baseUrl '${url}' must not end with '/' (routes start with one)`));
  }
  if (parsed.search || parsed.hash) {
    found.push(problem("error", `remote '${remote}': baseUrl '${url}' must not carry a query or fragment`));
  }
  return found;
}

/**
 * Our checks of an interpolated manifest (the object Atlassian's validator parsed).
 *
 * @param {object} manifest the manifest content, environment variables already substituted
 * @param {{manifestDir: string, triggerScopes: Function}} options `triggerScopes` is @forge/manifest's
 *   validateTriggerScopes(event, scopes) -> {requiredScopes: null for an event it does not know, missingScopes}
 * @returns {Promise<Array<{level: string, message: string, source: string}>>}
 */
export async function projectChecks(manifest, { manifestDir, triggerScopes }) {
  const found = [];
  const summary = summarize(manifest);

  for (const remote of summary.remotes) {
    const urls = typeof remote.baseUrl === "string" ? [remote.baseUrl] : Object.values(remote.baseUrl || {});
    for (const url of urls) {
      found.push(...checkBaseUrl(remote.key, String(url)));
    }
  }

  // Forge sends a token only when its scope is declared too (the validator checks neither).
  for (const [token, scope] of Object.entries(TOKEN_SCOPES)) {
    const users = summary.endpoints.filter((endpoint) => endpoint[token]).map((endpoint) => endpoint.key);
    if (users.length && !summary.scopes.includes(scope)) {
      found.push(problem("error", `endpoints ${users.join(", ")} ask for ${token}: add the scope ${scope}`));
    }
  }

  // Atlassian's event -> scope mapping: every event a trigger names must be in it (or be a lifecycle
  // event), and the scopes it requires must be declared.
  for (const trigger of summary.triggers) {
    for (const event of trigger.events) {
      if (LIFECYCLE_EVENTS.has(event)) {
        continue;
      }
      const result = await triggerScopes(event, summary.scopes);
      if (!result.requiredScopes) {
        found.push(problem("error", `trigger '${trigger.key}': '${event}' is not an event Forge sends`));
      }
      for (const scope of result.missingScopes || []) {
        found.push(problem("error", `trigger '${trigger.key}': '${event}' requires the scope ${scope}`, "atlassian"));
      }
    }
  }

  // Backend (trigger and scheduled) endpoints need a route; UI endpoints take theirs from invokeRemote.
  const uiEndpoints = new Set(summary.uiModules.map((module) => module.endpoint).filter(Boolean));
  const backendEndpoints = new Set(
    [...summary.triggers, ...summary.scheduledTriggers].map((trigger) => trigger.endpoint).filter(Boolean)
  );
  for (const endpoint of summary.endpoints) {
    if (backendEndpoints.has(endpoint.key) && !endpoint.route) {
      found.push(problem("error", `endpoint '${endpoint.key}' is called by a trigger but has no route.path`));
    }
    if (uiEndpoints.has(endpoint.key) && endpoint.route) {
      found.push(problem("warning", `endpoint '${endpoint.key}' serves screens: its route.path is ignored`));
    }
  }

  const folders = new Map(summary.resources.map((resource) => [resource.key, resource.path]));
  for (const resource of summary.resources) {
    const index = path.resolve(manifestDir, resource.path, "index.html");
    if (!existsSync(index)) {
      found.push(problem("error", `resource '${resource.key}': ${resource.path}/index.html is missing (run make forge)`));
    }
  }
  // Bundled icons ("resource:<key>;<path>"): the validator does not look for the file.
  for (const module of summary.uiModules) {
    const bundled = /^resource:([^;]+);(.+)$/.exec(module.icon || "");
    if (!bundled) {
      continue;
    }
    const [, key, file] = bundled;
    if (!folders.has(key)) {
      found.push(problem("error", `${module.type} '${module.key}': icon names resource '${key}', which is not declared`));
    } else if (!existsSync(path.resolve(manifestDir, folders.get(key), file))) {
      found.push(problem("error", `${module.type} '${module.key}': icon ${folders.get(key)}/${file} is missing`));
    }
  }
  return found;
}
