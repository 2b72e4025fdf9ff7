"""A card that holds more than photos: a hybrid shooter's video clips (a PC's Thumbs.db is skipped). Files
refused for one reason, ten or more, are one line in `postline status` and in the order's report (how many, the
first names, why), so they do not bury the files that need someone: fewer, or refused for a reason of their own,
stay listed one by one, and `postline status N --all` lists each. Real camera files, the command line on the
tests' Prefect server."""

from __future__ import annotations

import os

from record.models import Photo, PhotoStatus
from record.work import FOLD_FROM, folded
from tests.conftest import sample
from tests.flowkit import cli, cli_order
from tests.test_report_flow import artifacts

NOT_A_PHOTO = "not a photo type postline reads (camera RAW, JPEG or TIFF). Remove it from the card folder, or convert it."


def test_files_refused_for_one_reason_are_one_line_and_the_others_each_their_own(home_on_server, tmp_path):
    card = tmp_path / "card"
    (card / "DCIM").mkdir(parents=True)
    (card / "CLIP").mkdir()
    (card / "DCIM" / "DSC_0001.NEF").write_bytes(sample("nikon_d1.nef").read_bytes())
    (card / "DCIM" / "IMG_0002.CRW").write_bytes(sample("canon_powershot_s40.crw").read_bytes())
    for n in range(1, 13):
        (card / "CLIP" / f"C{n:04d}.MP4").write_bytes(os.urandom(20_000))
    (card / "Thumbs.db").write_bytes(os.urandom(3_000))
    broken = sample("canon_eos_d30.crw").read_bytes()
    (card / "DCIM" / "IMG_0003.CRW").write_bytes(broken[:len(broken) // 2])
    (card / "DCIM" / "IMG_0004.CRW").write_bytes(broken[:len(broken) // 2])
    order_id = cli_order(card, client="Ines & Tom", shoot="portrait")
    code, ran = cli("order", "run", str(order_id))
    assert code == 0, ran

    status = cli("status", str(order_id))[1]
    assert f"[rejected] 12 files (CLIP/C0001.MP4, CLIP/C0002.MP4, CLIP/C0003.MP4, ...): {NOT_A_PHOTO}" in status, status
    assert "Thumbs.db" not in status and "C0004.MP4" not in status
    assert f"(`postline status {order_id} --all` lists each file)" in status
    every = cli("status", str(order_id), "--all")[1]
    assert all(f"[rejected] CLIP/C{n:04d}.MP4: {NOT_A_PHOTO}" in every for n in range(1, 13)) and "12 files" not in every
    for name in ("DCIM/IMG_0003.CRW", "DCIM/IMG_0004.CRW"):                 # two: each on its own line
        assert f"[rejected] {name}: not a readable RAW file" in status
    report = artifacts(f"order-{order_id}-delivery")[-1].data
    assert f"- (rejected) 12 files (CLIP/C0001.MP4, CLIP/C0002.MP4, CLIP/C0003.MP4, ...): {NOT_A_PHOTO}" in report
    assert "- `DCIM/IMG_0003.CRW` (rejected): DCIM/IMG_0003.CRW: not a readable RAW file" in report


def test_a_reason_that_names_its_own_file_again_is_not_shared():
    def photo(n: int, reason: str, status: PhotoStatus = PhotoStatus.REJECTED) -> Photo:
        return Photo(id=n, order_id=1, source_name=f"A/F{n:02d}.X", sha256="", size_bytes=0, status=status,
                     reason=reason.format(name=f"A/F{n:02d}.X"))

    same = [photo(n, "{name}: broken") for n in range(FOLD_FROM)]
    own = [photo(n, "{name}: broken; the F%02d.X copy on the card too" % n) for n in range(20, 20 + FOLD_FROM)]
    fewer = [photo(n, "{name}: broken", PhotoStatus.FAILED) for n in range(40, 40 + FOLD_FROM - 1)]
    listed, lines = folded(same + own + fewer)
    assert lines == [(PhotoStatus.REJECTED, f"{FOLD_FROM} files (A/F00.X, A/F01.X, A/F02.X, ...): broken")]
    assert listed == own + fewer
    assert folded(same + own, fold=False) == (same + own, [])
