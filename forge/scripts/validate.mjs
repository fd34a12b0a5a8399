// Validates forge/manifest.yml offline with Atlassian's own validator (@forge/manifest's validate(): the
// full validation `forge lint` and `forge deploy` run, and its event -> scope mapping for triggers), then
// with our own checks (lib/checks.mjs). Prints one JSON object per manifest:
//
//   {"manifest", "appBaseUrl", "appBaseUrlSource", "valid", "errors": [...], "warnings": [...], "app": {...}}
//
// each problem {level, message, source: "atlassian"|"project", line?, column?, reference?}; "app" is the
// summary the Python tests compare with the backend's routes. Several manifests (the tests check broken
// copies too) give a JSON array, validated in one process: Atlassian's schema takes seconds to compile,
// once. Exit status 0 when no manifest has an error, 1 when one has, 2 when the validator could not run.
//
// Usage: node scripts/validate.mjs [--brief] [path/to/manifest.yml ...]   (--brief: leave out "app")
// APP_BASE_URL (the remote's baseUrl) is read from the environment; without it a placeholder is used,
// which is fine for validating but never for `forge deploy`.
import path from "node:path";

import { validate, validateTriggerScopes } from "@forge/manifest";

import { projectChecks, summarize } from "./lib/checks.mjs";
import { FORGE_DIR } from "./lib/screens.mjs";

const PLACEHOLDER_BASE_URL = "https://jira-ai.example.com";

function atlassian(error) {
  const item = { level: error.level || "error", message: error.message, source: "atlassian" };
  for (const field of ["reference", "line", "column"]) {
    if (error[field] !== undefined) {
      item[field] = error[field];
    }
  }
  return item;
}

/** Atlassian's verdict and ours on one manifest file. */
async function check(manifestPath, { brief, source }) {
  const result = await validate(false, manifestPath);
  const problems = (result.errors || []).map(atlassian);
  // The parsed manifest, environment variables substituted (absent when the YAML did not parse).
  const parsed = result.manifestObject || {};
  const content = parsed.typedContent || parsed.yamlContent || null;
  if (content) {
    const options = { manifestDir: path.dirname(manifestPath), triggerScopes: validateTriggerScopes };
    problems.push(...(await projectChecks(content, options)));
  }
  const errors = problems.filter((item) => item.level === "error");
  const report = {
    manifest: manifestPath,
    appBaseUrl: process.env.APP_BASE_URL,
    appBaseUrlSource: source,
    valid: errors.length === 0,
    errors,
    warnings: problems.filter((item) => item.level !== "error"),
  };
  if (!brief) {
    report.app = content ? summarize(content) : null;
  }
  return report;
}

async function main() {
  const args = process.argv.slice(2);
  const brief = args.includes("--brief");
  const given = args.filter((arg) => arg !== "--brief");
  const manifests = (given.length ? given : [path.join(FORGE_DIR, "manifest.yml")]).map((file) => path.resolve(file));
  const source = process.env.APP_BASE_URL ? "environment" : "placeholder";
  if (source === "placeholder") {
    process.env.APP_BASE_URL = PLACEHOLDER_BASE_URL;
  }
  const reports = [];
  for (const manifest of manifests) {
    reports.push(await check(manifest, { brief, source }));
  }
  const output = reports.length === 1 ? reports[0] : reports;
  process.stdout.write(JSON.stringify(output, null, 2) + "\n");
  process.exitCode = reports.every((report) => report.valid) ? 0 : 1;
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ valid: false, crashed: true, message: String(err && err.message) }) + "\n");
  process.exitCode = 2;
});
