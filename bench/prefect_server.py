"""Orders on the local Prefect server (SQLite) as Prefect sets it and as postline sets it, side by side in one run.

Two `prefect server start` processes on this machine, each with its database in a folder of its own: one with
Prefect's defaults for writing what flow runs report (each task run event at once, in a transaction of its own;
other events in batches of 20), one with postline's settings (surfaces/prefect_env.py, SERVER_SETTINGS: both in
batches, once a second). Both have analytics off, and log each request they refuse for a retry.

Each round runs the same order on each server in turn, each in a process of its own and a fresh postline home
(as bench/scale.py's line does): ``--photos`` distinct synthetic 1 MP DNGs through the default line, ingest to
delivery zip. Reported per server: each order's wall time and its process's CPU time, the requests the server
refused ("database is locked", answered 503; the client tries again 2 s later), and the server's CPU time over the
rounds.

    python bench/prefect_server.py [--rounds 5] [--photos 20] [--workers 2]

The last line printed is JSON: ``wall_ratio`` is postline's orders' total wall time against the defaults'.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])   # not bench/: it would shadow the stdlib's `queue`

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402

from bench.scale import SMALL, PrefectServer, card_of, run_child, write_frames  # noqa: E402
from surfaces.prefect_env import SERVER_SETTINGS  # noqa: E402

SERVICES = {k: v for k, v in SERVER_SETTINGS.items() if k.startswith("PREFECT_SERVER_SERVICES_")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--photos", type=int, default=20, help="photos in each order")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="postline-prefect-server-"))
    servers = {}
    try:
        card = card_of(write_frames(work / "frames", args.photos, SMALL, args.workers), work / "card")
        for name, services in (("prefect_defaults", _prefect_defaults()), ("postline", SERVICES)):
            servers[name] = PrefectServer(work / name, {**services, "PREFECT_API_LOG_RETRYABLE_ERRORS": "true"})
        walls, cpus = {name: [] for name in servers}, {name: [] for name in servers}
        cpu = {name: server.cpu() for name, server in servers.items()}
        for index in range(args.rounds):
            for name, server in servers.items():
                home = work / "home"
                shutil.rmtree(home, ignore_errors=True)
                env = {**server.env, "POSTLINE_HOME": str(home), "POSTLINE_WORKERS": str(args.workers)}
                env.pop("POSTLINE_DATABASE_URL", None)
                order = run_child("line", card, env, "--client", f"Round {index + 1}")
                walls[name].append(order["wall"])
                cpus[name].append(order["cpu"])
            print(f"round {index + 1}: " + ", ".join(f"{name} {w[-1]:.1f} s" for name, w in walls.items()), flush=True)
        cpu = {name: server.cpu() - cpu[name] for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
    refused = {name: (work / name / "server.log").read_text().count("retryable exception") for name in servers}
    shutil.rmtree(work, ignore_errors=True)
    for name in servers:
        print(f"{name:17s} orders of {args.photos} photos: {', '.join(f'{w:.1f}' for w in walls[name])} s "
              f"(median {statistics.median(walls[name]):.1f}), the order's process CPU {sum(cpus[name]):.1f} s; "
              f"requests refused {refused[name]}; "
              f"server CPU {cpu[name]:.1f} s")
    old, new = "prefect_defaults", "postline"
    print(json.dumps({
        "orders": args.rounds, "photos": args.photos,
        "refused_defaults": refused[old], "refused_postline": refused[new],
        "median_order_s_defaults": round(statistics.median(walls[old]), 2),
        "median_order_s_postline": round(statistics.median(walls[new]), 2),
        "wall_ratio": round(sum(walls[new]) / sum(walls[old]), 3),
        "order_cpu_ratio": round(sum(cpus[new]) / sum(cpus[old]), 3),
        "server_cpu_ratio": round(cpu[new] / cpu[old], 3),
    }))


def _prefect_defaults() -> dict[str, str]:
    """Prefect's own defaults for the settings postline changes, stated so neither the environment nor postline's
    settings fill them."""
    from prefect.settings.models.server.services import (
        ServerServicesEventPersisterSettings,
        ServerServicesTaskRunRecorderSettings,
    )

    recorder, persister = ServerServicesTaskRunRecorderSettings.model_fields, \
        ServerServicesEventPersisterSettings.model_fields
    defaults = {"PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": recorder["batch_size"].default,
                "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": recorder["flush_interval"].default,
                "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": persister["batch_size"].default,
                "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": persister["flush_interval"].default}
    return {key: str(value) for key, value in defaults.items()}


if __name__ == "__main__":
    main()
