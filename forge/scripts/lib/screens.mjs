// The Custom UI resources `make forge` builds: one per screen, each the Connect page's markup with the
// Forge transport bundled in. `resource` is the folder under forge/static/ that manifest.yml's
// `resources` entry with the same key points at.
import path from "node:path";
import { fileURLToPath } from "node:url";

/** forge/ (the Forge app folder) and the repository root above it. */
export const FORGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const ROOT_DIR = path.dirname(FORGE_DIR);

/** Where the resources are written (git-ignored build output). */
export const OUTPUT_DIR = path.join(FORGE_DIR, "static");

/** The product name the templates show when the backend does not pass another one. */
export const PRODUCT_NAME = "Jira AI Assistant";

export const SCREENS = [
  {
    resource: "email-panel",
    template: path.join(ROOT_DIR, "templates", "email_panel.html"),
    entry: path.join(FORGE_DIR, "src", "email-panel.js"),
    title: "AI email draft",
  },
  {
    resource: "admin",
    template: path.join(ROOT_DIR, "templates", "admin.html"),
    entry: path.join(FORGE_DIR, "src", "admin.js"),
    title: `${PRODUCT_NAME}: cost, health and settings`,
  },
];
