"""`postline demo` as a new user runs it: it makes its own DNG shoot, runs the order through the
line on a real Prefect server, and prints a delivery a client could open."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from record import work
from record.db import transaction
from record.models import QC_GATE, EventKind, PhotoStatus
from tasks.calibration import fits
from surfaces.cli import main
from tests.flowkit import Delivery

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_run(prefect_api, tmp_path_factory):
    """Run the demo once for this module, in a fresh home; returns what it printed."""
    from config.settings import get_settings

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("PREFECT_API_URL", prefect_api)
        monkeypatch.setenv("POSTLINE_HOME", str(tmp_path_factory.mktemp("demo-home")))
        get_settings.cache_clear()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["demo", "--folder", str(tmp_path_factory.mktemp("card")), "--client", "Demo Couple"]) == 0
        yield out.getvalue()
    get_settings.cache_clear()


def test_demo_delivers_every_frame_but_the_chart_with_a_matching_manifest(demo_run):
    last = demo_run.strip().splitlines()[-1]
    assert last.startswith("Delivery package: ")
    delivery = Delivery(Path(last.removeprefix("Delivery package: ")))
    assert delivery.mismatches() == []
    assert delivery.delivered_sources() == {f"DSC_000{i}.dng" for i in range(2, 7)}
    assert [(n["source_name"], n["status"], n["reason"]) for n in delivery.manifest["not_delivered"]] == [
        ("DSC_0001.dng", "chart", "colour chart frame, used for session calibration")]
    upright = delivery.full("DSC_0003.dng")        # shot with the camera held upright (orientation 6)
    assert upright.height > upright.width
    assert delivery.full("DSC_0002.dng").size == (1200, 800)
    exif = delivery.full("DSC_0002.dng").getexif()             # the demo's studio, in every file it delivers
    assert exif[0x013B] == "Demo Studio" and exif[0x8298].endswith("Demo Studio") and "©" in exif[0x8298].encode(
        "latin-1").decode("utf-8")
    assert "hello@demo-studio.example" in str(delivery.manifest["studio"])


def test_demo_calibrates_the_session_on_its_chart_frame(demo_run):
    line = next(line for line in demo_run.splitlines() if line.startswith("Session calibration:"))
    assert line.startswith("Session calibration: DSC_0001.dng, 24 patches")
    with transaction() as session:
        order = work.orders(session)[0]
    assert [fit.source for fit in fits(order)] == ["DSC_0001.dng"]


def test_demo_shows_the_overexposed_frame_reworked_once_and_counted(demo_run):
    with transaction() as session:  # the demo's record: its home is set for the whole module
        order = work.orders(session)[0]
        photo = next(p for p in work.photos(session, order.id) if p.source_name == "DSC_0006.dng")
        rejections = [e for e in work.events(session, order.id)
                      if e.photo_id == photo.id and e.stage == QC_GATE and e.kind is EventKind.REJECTED]
    assert photo.status is PhotoStatus.DELIVERED
    assert len(rejections) == 1
    assert rejections[0].blamed_stage == "cull_grade" and "clipped" in rejections[0].reason
    table = demo_run[demo_run.index("stage"):]
    grade_row = next(line for line in table.splitlines() if line.startswith("Cull & grade"))
    # 6 photos in (the chart frame too: it is set aside before grading), 5 finished in 6 passes (DSC_0006 twice),
    # 1 sent back, none failed; rework rate = photos sent back / photos finished = 1/5; first-pass yield 4/5.
    assert grade_row.split()[3:10] == ["6", "5", "6", "1", "0", "20.0%", "80.0%"]


def test_the_demo_on_a_fresh_machine_starts_its_own_prefect_server(tmp_path):
    """As a new user's first `make demo`: no Prefect server, no Prefect home yet (the temporary server makes its
    database first: 27.5 s here, past Prefect's own 20 s wait), and none of postline's settings in the
    environment: the command line sets them itself. And someone else runs an order at the same moment: each
    command's temporary server used to make Prefect's database at once, and one printed a server traceback
    (`duplicate column name`); one makes it while the other says it waits, both deliver, neither prints one."""
    from tasks.synthetic import write_card

    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PREFECT_") and not key.startswith("POSTLINE_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), POSTLINE_HOME=str(tmp_path / "postline"))
    command = [sys.executable, "-m", "surfaces.cli"]
    write_card(tmp_path / "other", 2, size=(240, 160))
    made = subprocess.run([*command, "order", "create", "--from", str(tmp_path / "other"), "--client", "Bo",
                           "--shoot", "portrait", "--no-selection"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    runs = [subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for args in ([*command, "demo", "--folder", str(tmp_path / "card"), "--client", "First Run"],
                         [*command, "order", "run", made.stdout.strip().splitlines()[-1]])]
    said = [run.communicate(timeout=900) for run in runs]
    for run, (out, err) in zip(runs, said):
        assert run.returncode == 0, err[-3000:]
        assert "this run uses a temporary one" in err
        assert "Traceback" not in err, err[-3000:]    # nor the temporary server's, stopped while it recorded the run
    assert sum("Another command is making Prefect's database" in err for _, err in said) == 1
    package = Path(said[0][0].strip().splitlines()[-1].removeprefix("Delivery package: "))
    assert Delivery(package).mismatches() == [] and len(Delivery(package).delivered_sources()) == 5
    other = Delivery(Path(said[1][0].strip().splitlines()[-1]))
    assert other.mismatches() == [] and len(other.delivered_sources()) == 2


def test_the_demo_writes_over_no_photo_of_a_folder_it_is_given(home, tmp_path):
    """`postline demo --folder F` wrote its DSC_0002.dng over the photographer's own (a camera's, or Adobe's DNG
    of a Nikon file: the same name) in F, and took F's other photos into the demo order. A folder holding anything
    but the demo's own files is refused, and nothing in it changes; a folder a demo wrote before is used again."""
    from tests.flowkit import cli, sha256

    folder = tmp_path / "shoot"
    folder.mkdir()
    (folder / "DSC_0002.dng").write_bytes(b"the photographer's own RAW")
    (folder / "IMG_9999.CR2").write_bytes(b"another")
    before = {path.name: sha256(path) for path in folder.iterdir()}
    code, out = cli("demo", "--folder", str(folder))
    assert code == 2 and "holds other files (DSC_0002.dng, IMG_9999.CR2)" in out and "writes over nothing" in out, out
    assert {path.name: sha256(path) for path in folder.iterdir()} == before
    with transaction() as session:
        assert work.orders(session) == []

    (tmp_path / "afile.txt").write_text("x")
    code, out = cli("demo", "--folder", str(tmp_path / "afile.txt"))
    assert code == 2 and "is a file" in out, out

    from surfaces.cli.demo import _write_card
    from surfaces.cli.errors import CliError
    from tasks.synthetic import make_demo_shoot

    def small(path: Path) -> list[Path]:
        return make_demo_shoot(path, width=120, height=80)

    first = [sha256(path) for path in _write_card(tmp_path / "card", small)]
    assert [sha256(path) for path in _write_card(tmp_path / "card", small)] == first     # its own files: used again
    assert sorted(p.name for p in (tmp_path / "card").iterdir()) == [".postline-demo",
                                                                      *(f"DSC_{i:04d}.dng" for i in range(1, 7))]

    def other(path: Path) -> list[Path]:          # a later version's demo shoot: other bytes, the same names
        return make_demo_shoot(path, width=130, height=90)

    left = tmp_path / "card" / ".demo-x1y2"           # what a demo stopped while writing left behind, long ago
    left.mkdir()
    os.utime(left, (time.time() - 3600, time.time() - 3600))
    assert [sha256(path) for path in _write_card(tmp_path / "card", other)] != first      # its folder: written again
    assert not left.exists()
    (tmp_path / "card" / "IMG_0001.CR3").write_bytes(b"a photo put in the demo's folder")
    with pytest.raises(CliError, match=r"holds other files \(IMG_0001.CR3\)"):
        _write_card(tmp_path / "card", small)
    (tmp_path / "card" / "IMG_0001.CR3").unlink()
    (tmp_path / "card" / "DSC_0002.dng").write_bytes(b"a real photo, copied over the demo's")
    with pytest.raises(CliError, match=r"holds other files \(DSC_0002.dng\)"):
        _write_card(tmp_path / "card", small)
    assert (tmp_path / "card" / "DSC_0002.dng").read_bytes() == b"a real photo, copied over the demo's"
    (tmp_path / "shoot" / ".demo-abc").mkdir()        # a refused folder's own hidden folders are not touched
    with pytest.raises(CliError):
        _write_card(tmp_path / "shoot", small)
    assert (tmp_path / "shoot" / ".demo-abc").is_dir()
