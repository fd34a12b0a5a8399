// Builds the Custom UI resources of the Forge app into forge/static/<resource>/ (git-ignored):
//   index.html   the Connect page's markup (templates/*.html) with a Forge head (see lib/page.mjs)
//   app.js       esbuild bundle: @forge/bridge + static/js/transport-forge.js + the screen's scripts
//   css/, img/   the page's stylesheets and the images they and the markup use, in the Connect layout
//
// Usage: node scripts/build.mjs   (run by `make forge` after `npm ci`)
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";

import { build } from "esbuild";

import { forgePage } from "./lib/page.mjs";
import { FORGE_DIR, OUTPUT_DIR, PRODUCT_NAME, ROOT_DIR, SCREENS } from "./lib/screens.mjs";

const SCRIPT = "app.js";
const STATIC_DIR = path.join(ROOT_DIR, "static");
// Browsers Jira Cloud supports; esbuild lowers newer syntax for them.
const TARGETS = ["chrome109", "edge109", "firefox115", "safari15"];

async function readTemplate(file) {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new Error(`${path.relative(ROOT_DIR, file)} is missing: the Forge screens are built from it (${err.code})`);
  }
}

/** index.html, stylesheets and images of one resource. */
async function writePage(screen, outDir) {
  const where = path.relative(ROOT_DIR, screen.template);
  const template = await readTemplate(screen.template);
  const page = forgePage(template, { title: screen.title, product: PRODUCT_NAME, script: SCRIPT, where });
  await writeFile(path.join(outDir, "index.html"), page.html);
  for (const sheet of page.stylesheets) {
    const target = path.resolve(outDir, sheet);
    if (!target.startsWith(outDir + path.sep)) {
      throw new Error(`${where}: stylesheet ${sheet} points outside the resource folder`);
    }
    await mkdir(path.dirname(target), { recursive: true });
    await cp(path.join(STATIC_DIR, sheet), target);
  }
  await cp(path.join(STATIC_DIR, "img"), path.join(outDir, "img"), { recursive: true });
}

/** app.js of every resource, in one esbuild run. */
async function bundle() {
  const entryPoints = Object.fromEntries(
    SCREENS.map((screen) => [`${screen.resource}/${path.parse(SCRIPT).name}`, screen.entry])
  );
  const result = await build({
    absWorkingDir: FORGE_DIR,
    entryPoints,
    outdir: OUTPUT_DIR,
    bundle: true,
    format: "iife",
    platform: "browser",
    target: TARGETS,
    minify: true,
    sourcemap: false,
    legalComments: "eof",
    charset: "utf8",
    // static/js/transport-forge.js lives outside forge/: resolve its @forge/bridge import from here.
    nodePaths: [path.join(FORGE_DIR, "node_modules")],
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "warning",
    metafile: true,
  });
  return result.metafile;
}

async function main() {
  await rm(OUTPUT_DIR, { recursive: true, force: true });
  for (const screen of SCREENS) {
    const outDir = path.join(OUTPUT_DIR, screen.resource);
    await mkdir(outDir, { recursive: true });
    await writePage(screen, outDir);
  }
  const metafile = await bundle();
  for (const [file, info] of Object.entries(metafile.outputs)) {
    const kib = (info.bytes / 1024).toFixed(1);
    console.log(`built ${path.relative(ROOT_DIR, path.join(FORGE_DIR, file))} (${kib} KiB)`);
  }
}

main().catch((err) => {
  console.error(`forge build failed: ${err.message}`);
  process.exit(1);
});
