"""Where the CLI records its flow runs: the Prefect server named by PREFECT_API_URL, else a local
server already running on the default port (the one a lead starts with `make server`), else a
temporary server of Prefect's own for this one command.

And how every Prefect server postline starts is set (``SERVER_SETTINGS``): `make server`, the CLI's temporary
server, the tests' servers and the benchmarks' all take these, unless the environment already sets them.
Nothing here imports Prefect at import time: the command line applies these before it does."""

from __future__ import annotations

import os
import sys
import time
import urllib.request
from collections.abc import MutableMapping

LOCAL_API = "http://127.0.0.1:4200/api"

# The Makefile exports the same values (tests/test_prefect_server.py checks it).
SERVER_SETTINGS = {
    # no usage reports; with them on, the local server logs a spurious "database is locked"
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # Write what the flow runs report in batches, once a second. By default the server writes each task run
    # event in a transaction of its own as it comes, and the other events in batches of 20. On SQLite, a sub-run
    # started right after a task (the order's ingest after start-order, each stage after next-stage) creates its
    # task run in the order's run while the server writes: SQLite refuses that write when another was committed
    # since it began reading ("database is locked", answered 503), and the client tries again 2 s later. Orders
    # of 20 photos, run alternately on a server of each kind (bench/prefect_server.py): with the defaults, 8
    # requests refused in 5 orders and 14.4 s an order (median); with these, none and 11.3 s. Rare, not
    # impossible: any write committed in that moment still does it. The UI shows a task run or an event up to a
    # second later (events: up to 5 s before). The recorder takes whole seconds: an interval under 1 is 0 to it.
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
    # How long a command waits for its temporary server to answer (Prefect's default: 20 s, counted in its own
    # steps of 0.1 s). Its first start on a machine makes the server's database: 27.5 s here to the first flow
    # run, 15 s once made, so `make demo` on a fresh machine stopped with "Timed out while attempting to connect
    # to ephemeral Prefect API server". Read by the command's own process when Prefect is imported: the command
    # line sets it first thing (surfaces/cli/__init__.py).
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def use_server_settings(environ: MutableMapping[str, str] = os.environ) -> MutableMapping[str, str]:
    """``environ`` with each of ``SERVER_SETTINGS`` it does not set already; for a Prefect server started from it."""
    for key, value in SERVER_SETTINGS.items():
        environ.setdefault(key, value)
    return environ


_temporary = False          # the last choose_prefect_server() left the runs to a temporary server


def _profile_api_url() -> str | None:
    """PREFECT_API_URL as the machine's active Prefect profile sets it (`prefect config set`, the way README's
    several machines are set up), read from the profiles file without loading Prefect (every command asks)."""
    import tomllib
    from pathlib import Path

    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    active = profiles.get("profiles", {}).get(os.environ.get("PREFECT_PROFILE") or profiles.get("active"), {})
    url = active.get("PREFECT_API_URL") if isinstance(active, dict) else None
    return url if isinstance(url, str) and url else None


def on_a_named_server() -> bool:
    """Whether this command's runs go to a Prefect server the environment or the machine's profile names (the
    studio's, as README's several machines set it up), not to a temporary one of its own."""
    return bool(os.environ.get("PREFECT_API_URL") or _profile_api_url())


def choose_prefect_server() -> str:
    """Sets PREFECT_API_URL when a local server is up; returns a sentence saying where runs go."""
    global _temporary
    use_server_settings()       # for the temporary server, when there is none
    _temporary = False
    if os.environ.get("PREFECT_API_URL"):
        return f"Prefect runs are recorded on {os.environ['PREFECT_API_URL']}"
    profile_url = _profile_api_url()     # `prefect config set PREFECT_API_URL=...`: Prefect reads it itself
    if profile_url and profile_url.rstrip("/") != LOCAL_API:    # the studio's server (a local one: as below)
        return f"Prefect runs are recorded on {profile_url} (the Prefect profile's server)"
    try:
        with urllib.request.urlopen(f"{LOCAL_API}/health", timeout=1) as response:
            up = response.status == 200
    except OSError:
        up = False
    if up:
        os.environ["PREFECT_API_URL"] = LOCAL_API
        return "Prefect runs are recorded on the local server: open http://127.0.0.1:4200 to watch them"
    _temporary = not _temporary_servers()     # not one started before (the tests' own): Prefect starts one
    return ("No Prefect server is running, so this run uses a temporary one, with no UI to watch it live; it is "
            "kept in Prefect's database. Start `make server` in another terminal to see it, and to watch the next "
            "orders in the Prefect UI.")


def start_temporary_server_alone() -> None:
    """When the runs go to a temporary server (:func:`choose_prefect_server`), start it now, in the main thread and
    guarded (:func:`guard_temporary_server`). While none has made Prefect's database on this machine yet (for this
    Prefect version), one command at a time: two `postline order run` starting their first temporary servers at
    once both made the database, and one server printed a traceback (`duplicate column name`) before Prefect
    started it again. A lock in PREFECT_HOME; once made, a mark beside it lets later commands start theirs without
    waiting for it."""
    if not _temporary:
        return
    import fcntl
    from pathlib import Path

    from prefect import __version__
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_HOME

    guard_temporary_server()
    home = Path(PREFECT_HOME.value())
    made = home / f".postline-database-made-{__version__}"
    if made.exists():
        SubprocessASGIServer().start()          # here, in the main thread: see guard_temporary_server
        return
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".postline-first-start.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("Another command is making Prefect's database (its first temporary server on this machine): "
                  "waiting for it.", file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
        SubprocessASGIServer().start()          # the server the run then uses (Prefect keeps one per process)
        made.touch()


def guard_temporary_server() -> None:
    """The command's temporary Prefect server, as Prefect starts it (a uvicorn process), started in a session of
    its own and ended when the command's process ends however it ends. Ctrl-C in a terminal goes to the whole
    foreground process group: it killed the server too, and the run, still going, waited about 5 minutes on a
    server that was gone before it stopped with "Connection refused" (exit 1, not 130, and status said so). And a
    command killed outright (SIGKILL) left its server running for good, a port and its memory held. The parent's
    death signal is the thread's that started it: :func:`start_temporary_server_alone` starts it in the main
    thread, which lasts as long as the process. Called before anything of the command may start the server
    (`order run` first asks Prefect whether a run holding the order still lives); nothing when the runs go to a
    server that stays."""
    if not _temporary:
        return
    import subprocess

    from prefect.server.api import server

    if isinstance(server.subprocess, _GuardedSubprocess):
        return
    server.subprocess = _GuardedSubprocess(subprocess)


class _GuardedSubprocess:
    """The ``subprocess`` module as Prefect's server module sees it: its Popen starts a process in a session of its
    own that gets SIGTERM when this one ends (Linux's parent-death signal)."""

    def __init__(self, real) -> None:  # noqa: ANN001 - the subprocess module
        self._real = real

    def __getattr__(self, name: str):  # noqa: ANN204 - everything else as the real module has it
        return getattr(self._real, name)

    def Popen(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201, N802 - subprocess.Popen's own
        import ctypes
        import signal

        parent, prctl = os.getpid(), ctypes.CDLL(None, use_errno=True).prctl    # looked up here, not in the child

        def end_with_parent() -> None:
            """In the child before it runs its program (system calls only: no import, no lock a thread of the
            parent may have held): SIGTERM when the thread that started it ends, at once if it has already."""
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)

        return self._real.Popen(*args, start_new_session=True, preexec_fn=end_with_parent, **kwargs)


PR_SET_PDEATHSIG = 1          # linux/prctl.h


def settle_temporary_server(seconds: float = 2.0) -> None:
    """When this command started a temporary Prefect server (Prefect stops it as the process exits), give its
    recorders ``seconds`` to write what the command's runs reported: they write once a second (SERVER_SETTINGS),
    and a server stopped in the middle of a write printed "Error flushing 4 events" and a traceback after the
    command's own output (2 of 10 `make demo` runs here; none of 10 since). Nothing to wait for when the runs
    went to a server that stays, or no temporary server was started."""
    if _temporary and _temporary_servers():
        time.sleep(seconds)


def _temporary_servers() -> bool:
    """Whether Prefect runs a temporary server in this process."""
    server = sys.modules.get("prefect.server.api.server")       # imported when Prefect starts one
    return server is not None and any(started.running for started in server.SubprocessASGIServer._instances.values())
