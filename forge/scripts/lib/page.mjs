// Turns a Connect page template (templates/*.html, Jinja) into a Custom UI index.html: the same <body>
// markup, so both doors show one screen, with a head of our own: the template's stylesheets from the
// resource folder and one bundled script instead of all.js and the Connect transport.
//
// The body may use only the few Jinja expressions below; anything else stops the build with a message
// naming it, so a template change can never ship half-rendered.

const NAMES = {
  // Static files sit next to index.html in the resource folder, in the same css/ and img/ layout.
  static_base: ".",
};

function escapeHtml(text) {
  return String(text)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** The value of one `{{ expression }}` of a template body, or throws naming what is not supported. */
function render(expression, names, where) {
  const expr = expression.trim().replace(/\s+/g, " ");
  if (Object.hasOwn(names, expr)) {
    return escapeHtml(names[expr]);
  }
  // `x if x is defined and x else "literal"`: a value the Connect backend passes to the page (the issue
  // key, ...). Forge passes none, so the literal default is shown and the screen fills in the rest.
  const fallback = /^([A-Za-z_]\w*) if \1 is defined and \1 else (["'])(.*)\2$/.exec(expr);
  if (fallback) {
    return escapeHtml(fallback[3]);
  }
  throw new Error(
    `${where}: the Forge build cannot render {{ ${expr} }} in the page body; ` +
      "teach forge/scripts/lib/page.mjs what it means inside Forge"
  );
}

/** The stylesheet paths (relative to static/, e.g. "css/admin.css") the template links, in order. */
export function stylesheets(template) {
  const found = [];
  const link = /<link\b[^>]*>/gi;
  let match;
  while ((match = link.exec(template)) !== null) {
    const tag = match[0];
    if (!/\brel=["']stylesheet["']/i.test(tag)) {
      continue;
    }
    const href = /\bhref=["']\{\{\s*static_base\s*\}\}\/([^"']+)["']/i.exec(tag);
    if (href) {
      found.push(href[1]);
    }
  }
  return found;
}

/** The template's <body> element with its Jinja expressions rendered for Forge. */
export function body(template, { names, where }) {
  const match = /<body\b[^>]*>[\s\S]*<\/body>/i.exec(template);
  if (!match) {
    throw new Error(`${where}: no <body> element found`);
  }
  const markup = match[0];
  const statement = /\{%[\s\S]*?%\}|\{#[\s\S]*?#\}/.exec(markup);
  if (statement) {
    throw new Error(
      `${where}: the Forge build cannot render ${statement[0].slice(0, 60)} in the page body; ` +
        "teach forge/scripts/lib/page.mjs what it means inside Forge"
    );
  }
  return markup.replace(/\{\{([\s\S]*?)\}\}/g, (_, expression) => render(expression, names, where));
}

/**
 * The index.html of one Custom UI resource.
 *
 * @param {string} template the Jinja template's text
 * @param {{title: string, product: string, script: string, where: string}} options
 * @returns {{html: string, stylesheets: string[]}}
 */
export function forgePage(template, { title, product, script, where }) {
  const names = { ...NAMES, product };
  const sheets = stylesheets(template);
  if (sheets.length === 0) {
    throw new Error(`${where}: no stylesheet under {{ static_base }} found; the screen would be unstyled`);
  }
  const head = [
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    '<link rel="icon" href="./img/app-icon.svg" type="image/svg+xml">',
    ...sheets.map((sheet) => `<link rel="stylesheet" href="./${escapeHtml(sheet)}">`),
    `<script src="./${escapeHtml(script)}" defer></script>`,
  ];
  const html = [
    "<!DOCTYPE html>",
    `<!-- Built by forge/scripts/build.mjs from ${escapeHtml(where)}; edit the template, not this file. -->`,
    '<html lang="en">',
    "<head>",
    ...head.map((line) => `  ${line}`),
    "</head>",
    body(template, { names, where }),
    "</html>",
    "",
  ].join("\n");
  return { html, stylesheets: sheets };
}
