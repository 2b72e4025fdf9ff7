"""One card file postline's user may not read (a permission set wrong on one file) is that file's problem, not the
machine's: the order goes on and delivers the rest, the file is named with what to do, and once it can be read the
order's next run takes it. (Root reads every file: the run drops root's right to read past permissions, as a
studio's ordinary user has none.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from record.models import PhotoStatus
from tasks.synthetic import write_card
from tests.flowkit import Delivery, cli, cli_order, photos_by_name

LOCKED = "DSC_0002.dng"
NOT_ROOT = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else []


def _run_as_a_user(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([*NOT_ROOT, sys.executable, "-m", "surfaces.cli", *argv], capture_output=True, text=True,
                          env=dict(os.environ), cwd=Path(__file__).resolve().parents[1], timeout=900)


def test_a_file_postline_may_not_read_is_named_and_the_rest_is_delivered(home_on_server, tmp_path):
    card = write_card(tmp_path / "card", 4, size=(300, 200))
    order_id = cli_order(card, client="Ines")
    (card / LOCKED).chmod(0)
    try:
        ran = _run_as_a_user("order", "run", str(order_id))
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
        assert "Traceback" not in ran.stderr
        package = Path(ran.stdout.strip().splitlines()[-1])
        assert Delivery(package).delivered_sources() == {"DSC_0001.dng", "DSC_0003.dng", "DSC_0004.dng"}
        locked = photos_by_name(order_id)[LOCKED]
        assert locked.status is PhotoStatus.REJECTED
        assert locked.reason.startswith(f"{LOCKED}: cannot be read: permission denied")
        assert "the user running postline" in locked.reason and "`chmod a+r`" in locked.reason
        assert "run the order again" in locked.reason
        status = cli("status", str(order_id))[1]
        assert f"{LOCKED}: cannot be read: permission denied" in status

        again = _run_as_a_user("order", "run", str(order_id))   # still locked: refused again, nothing else redone
        assert again.returncode == 0 and Path(again.stdout.strip().splitlines()[-1]) == package
        assert photos_by_name(order_id)[LOCKED].status is PhotoStatus.REJECTED
    finally:
        (card / LOCKED).chmod(0o644)
    code, fixed = cli("order", "run", str(order_id))          # readable now: the next run takes it
    assert code == 0, fixed
    assert Delivery(Path(fixed.strip().splitlines()[-1])).delivered_sources() == {
        "DSC_0001.dng", LOCKED, "DSC_0003.dng", "DSC_0004.dng"}
    assert photos_by_name(order_id)[LOCKED].status is PhotoStatus.DELIVERED
