"""Where the CLI records its flow runs: the Prefect server named by PREFECT_API_URL, else a local
server already running on the default port (the one a lead starts with `make server`), else a
temporary server of Prefect's own for this one command."""

from __future__ import annotations

import os
import urllib.request

LOCAL_API = "http://127.0.0.1:4200/api"


def choose_prefect_server() -> str:
    """Sets PREFECT_API_URL when a local server is up; returns a sentence saying where runs go."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if os.environ.get("PREFECT_API_URL"):
        return f"Prefect runs are recorded on {os.environ['PREFECT_API_URL']}"
    try:
        with urllib.request.urlopen(f"{LOCAL_API}/health", timeout=1) as response:
            up = response.status == 200
    except OSError:
        up = False
    if up:
        os.environ["PREFECT_API_URL"] = LOCAL_API
        return f"Prefect runs are recorded on the local server: open http://127.0.0.1:4200 to watch them"
    return ("No Prefect server is running, so this run uses a temporary one and will not stay in the UI. "
            "Start `make server` in another terminal to watch orders in the Prefect UI.")
