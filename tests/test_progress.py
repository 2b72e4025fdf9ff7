"""`postline order run` on a terminal shows progress bars of the order's steps (from the production record),
drawn on stderr; what it prints on stdout, last line the delivery zip, is what it was without them."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

from surfaces.actions.orders import create_order, progress
from tasks.synthetic import DngMeta, render_scene, write_dng

REPO = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
PHOTOS = 5


def _card(folder: Path) -> Path:
    folder.mkdir()
    for i in range(PHOTOS):
        write_dng(folder / f"DSC_{i + 1:04d}.dng", render_scene(("portrait", "landscape")[i % 2], 160, 120, seed=i),
                  DngMeta())
    return folder


def _drain(fd: int, into: bytearray) -> threading.Thread:
    def read() -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:      # the terminal's other side closed (the command ended)
                return
            if not chunk:
                return
            into.extend(chunk)
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_order_run_on_a_terminal_shows_each_step_and_keeps_stdout_as_it_was(home, tmp_path, prefect_api):
    order_id = create_order(client="Progress", shoot="portrait", card=_card(tmp_path / "card"), preset_name=None,
                            due=None).id
    assert [(s.label, s.done, s.total) for s in progress(order_id, on_card=PHOTOS)][0] == ("Ingest", 0, PHOTOS)
    out_master, out_slave = pty.openpty()
    err_master, err_slave = pty.openpty()
    env = {**os.environ, "POSTLINE_HOME": str(home), "PREFECT_API_URL": prefect_api, "TERM": "xterm-256color",
           "COLUMNS": "100"}
    proc = subprocess.Popen([sys.executable, "-m", "surfaces.cli", "order", "run", str(order_id)], cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stdout=out_slave, stderr=err_slave)
    os.close(out_slave)
    os.close(err_slave)
    out, err = bytearray(), bytearray()
    readers = [_drain(out_master, out), _drain(err_master, err)]
    assert proc.wait(timeout=600) == 0, ANSI.sub("", err.decode(errors="replace"))[-3000:]
    for reader in readers:
        reader.join(timeout=10)
    shown_err = ANSI.sub("", err.decode(errors="replace"))
    for step in ("Ingest", "Cull & grade", "QC gate", "Delivery"):
        assert re.search(rf"{re.escape(step)}\s.*{PHOTOS}/{PHOTOS}", shown_err), f"no finished bar for {step}"
    lines = ANSI.sub("", out.decode(errors="replace")).strip().split("\n")
    package = Path(lines[-1].strip())                              # the delivery package's folder, last
    assert package.name == "delivery" and (package / "manifest.json").is_file()
    assert f"{PHOTOS}/{PHOTOS}" not in "\n".join(lines)          # no bar on stdout
    assert [(s.label, s.done) for s in progress(order_id, on_card=PHOTOS)][-1] == ("Delivery", PHOTOS)
