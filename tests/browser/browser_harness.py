"""What the browser tests and the screenshot script share: Chromium, Jira's tokens, and a stand-in for all.js.

Jira loads an app page with ``?jwt=`` (HS256 with the installation's shared secret, ``qsh`` of the
page URL), and the page's all.js hands out context tokens (``qsh: "context-qsh"``, the user in ``sub``,
the issue in ``context.jira.issue``). :class:`JiraTokens` signs both the way Jira does; :func:`ap_stub`
is the small script served in place of all.js, giving the page one of those context tokens.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from connect_app.platform.connect.jwt import CONTEXT_QSH, encode_hs256, query_string_hash

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync", "--disable-quic",
]
ALL_JS = "https://connect-cdn.atl-paas.net/all.js"
DANA = "712020:5f0c2b9e-4d1a-4c7e-9b8a-2e6f1d3c4b5a"  # a Jira user who is not an administrator
PANEL_PATH = "/connect/pages/email-panel"
ADMIN_PATH = "/connect/pages/admin"


def launch(playwright: Any) -> Any:
    """Debian's headless Chromium (Playwright cannot download browsers here)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


class JiraTokens:
    """Signs page and context tokens for one installation, as Jira Cloud does for its users."""

    def __init__(self, installation: dict[str, Any], app_url: str, sim: Any) -> None:
        self.client_key = installation["client_key"]
        self.secret = installation["shared_secret"]
        self.app_url = app_url
        self.sim = sim

    def jira_context(self, issue_key: str | None) -> dict[str, Any]:
        """The ``context`` claim Jira puts in tokens for a page on an issue (or outside one)."""
        if not issue_key:
            return {}
        issue = self.sim.issue(issue_key)
        project = issue["fields"]["project"]
        return {"jira": {"issue": {"key": issue_key, "id": issue["id"], "issuetype": {"id": "10001"}},
                         "project": {"key": project["key"], "id": project["id"]}}}

    def _claims(self, account_id: str, qsh: str, issue_key: str | None, ttl: int, issued: int | None
                ) -> dict[str, Any]:
        now = int(time.time()) if issued is None else issued
        return {"iss": self.client_key, "sub": account_id, "aud": [self.client_key], "iat": now,
                "exp": now + ttl, "qsh": qsh, "context": self.jira_context(issue_key)}

    def page_url(self, path: str, account_id: str, *, issue_key: str | None = None, ttl: int = 180,
                 issued: int | None = None) -> str:
        """The URL Jira opens in the iframe: its usual query parameters, then ``jwt`` for exactly that URL."""
        params = {"xdm_e": self.sim.base_url, "xdm_c": "channel-jira-ai-test", "cp": "", "lic": "none",
                  "cv": "1001.0.0-SNAPSHOT", "tz": "Europe/London", "loc": "en-GB", "user_locale": "en_GB"}
        if issue_key:
            issue = self.sim.issue(issue_key)
            params.update({"issueKey": issue_key, "issueId": issue["id"],
                           "projectKey": issue["fields"]["project"]["key"]})
        url = f"{path}?{urlencode(params)}"
        qsh = query_string_hash("GET", url, self.app_url)
        token = encode_hs256(self._claims(account_id, qsh, issue_key, ttl, issued), self.secret)
        return f"{self.app_url}{url}&jwt={token}"

    def context_token(self, account_id: str, *, issue_key: str | None = None, ttl: int = 120,
                      issued: int | None = None) -> str:
        """What ``AP.context.getToken()`` gives the page: ``qsh`` is the literal ``context-qsh``."""
        return encode_hs256(self._claims(account_id, CONTEXT_QSH, issue_key, ttl, issued), self.secret)


_AP_STUB = """(function () {
  var token = __TOKEN__, context = __CONTEXT__;
  function later(cb, value) {
    return new Promise(function (resolve) {
      setTimeout(function () { if (cb) { cb(value); } resolve(value); }, 5);
    });
  }
  window.AP = {
    context: {
      getToken: function (cb) { return later(cb, token); },
      getContext: function (cb) { return later(cb, context); }
    },
    resize: function () {}, sizeToParent: function () {}
  };
})();
"""


def ap_stub(token: str, issue_key: str | None) -> str:
    """JavaScript standing in for all.js: ``AP.context.getToken``/``getContext`` (callback or Promise)."""
    context = {"jira": {"issue": {"key": issue_key}}} if issue_key else {}
    return (_AP_STUB.replace("__TOKEN__", json.dumps(token))
            .replace("__CONTEXT__", json.dumps(context)))


_A11Y_SCRIPT = r"""() => {
  const problems = [];
  const shown = (el) => !el.closest('[hidden], [aria-hidden="true"]') && el.getClientRects().length > 0;
  for (const el of document.querySelectorAll('input, select, textarea, button')) {
    if (el.type === 'hidden' || !shown(el)) continue;
    const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') ||
      el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim());
    if (!named) problems.push('no label or name: ' + el.tagName.toLowerCase() + '#' + el.id);
  }
  const rgba = (text) => {
    const m = /rgba?\(([^)]+)\)/.exec(text);
    if (!m) return null;
    const p = m[1].split(',').map(parseFloat);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const background = (el) => {
    const layers = [];
    for (let n = el; n; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let out = [255, 255, 255];
    for (let i = layers.length - 1; i >= 0; i--) {
      const [r, g, b, a] = layers[i];
      out = [r * a + out[0] * (1 - a), g * a + out[1] * (1 - a), b * a + out[2] * (1 - a)];
    }
    return out;
  };
  const lum = (rgb) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(rgb[0]) + 0.7152 * f(rgb[1]) + 0.0722 * f(rgb[2]);
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    const el = node.parentElement;
    if (!text || !el || el.closest('svg, option, script, style, .ak-visually-hidden, :disabled')) continue;
    if (!shown(el)) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility === 'hidden' || parseFloat(cs.opacity) === 0) continue;
    const fg = rgba(cs.color);
    const bg = background(el);
    const ink = [0, 1, 2].map((i) => fg[i] * fg[3] + bg[i] * (1 - fg[3]));
    const [hi, lo] = [lum(ink), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(cs.fontSize);
    const large = size >= 24 || (parseInt(cs.fontWeight, 10) >= 700 && size >= 18.66);
    if (ratio < (large ? 3 : 4.5)) problems.push(`contrast ${ratio.toFixed(2)}:1 for "${text.slice(0, 40)}"`);
  }
  return problems;
}"""


def accessibility_problems(page: Any) -> list[str]:
    """Visible controls without a label or name, and visible text below WCAG AA contrast."""
    return list(page.evaluate(_A11Y_SCRIPT))
