"""Run a simulated Jira site: ``python -m connect_app.devtools.jira_sim --port 8080 [--install URL]
[--install-forge URL --forge-app-id ARI]``.
"""

from __future__ import annotations

import argparse
import logging
import threading

from .server import JiraSimulator


def main(argv: list[str] | None = None) -> int:
    """Start the simulator with a demo project, optionally install an app, and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m connect_app.devtools.jira_sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--site", default="sim", help="site name (shown in the install payload)")
    parser.add_argument("--project", default="DEMO", help="key of the seeded project")
    parser.add_argument("--install", metavar="APP_BASE_URL", help="install the Connect app served there")
    parser.add_argument("--install-forge", metavar="APP_BASE_URL",
                        help="install a Forge Remote app whose remote is served there")
    parser.add_argument("--forge-app-id", metavar="ARI", help="the Forge app id (the app's FORGE_APP_ID)")
    parser.add_argument("--retry-base-delay", type=float, default=5.0, help="webhook retry backoff base (s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sim = JiraSimulator(args.host, args.port, site=args.site, webhook_retry_base_delay=args.retry_base_delay)
    sim.add_project(args.project, "Demo project")
    issue = sim.add_issue(args.project, "Checkout page fails on submit",
                          description_text="Clicking Pay shows an error.\n\nSeen on Chrome and Firefox.")
    sim.start()
    print(f"Jira simulator at {sim.base_url} (install keys: {sim.install_keys_url}); issue {issue['key']}")
    if args.install:
        result = sim.install(args.install)
        print(f"install {args.install}: HTTP {result['status']} installed={result['installed']}")
    if args.install_forge:
        forge = sim.install_forge(args.install_forge, app_id=args.forge_app_id)
        inst = forge["installation"]
        states = ", ".join(d["state"] for d in forge["deliveries"]) or "no lifecycle trigger"
        print(f"Forge install {args.install_forge}: app {inst['app_id']} installation "
              f"{inst['installation_id']} ({states}); FORGE_JWKS_URL={sim.forge_jwks_url}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
