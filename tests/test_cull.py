"""The cull through the line: a card of real frames and of frames made from them (blurred, smeared, a burst,
exact and near duplicates, a portrait with eyes shut) is ingested by the real ingest flow; the signals are in
the record, `postline cull` flags what it should, and the review of the originals waits (a paused Prefect run)
with its form pre-filled with the suggestions, which `postline review decide --accept-suggestions` applies:
exactly those frames are culled, and each decision is recorded with whether it agreed."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from skimage import data
from sqlmodel import select

from flows.ingest import ingest_flow
from record import cull as cull_record
from record import work
from record.db import transaction
from record.models import CullDecision, PhotoStatus
from surfaces.actions.orders import create_order
from surfaces.cli import main
from tests import cullkit as kit
from tests.conftest import sample

T0 = datetime(2026, 6, 20, 14, 0, 0)
SUGGESTED = {  # what the cull must say of each frame on the card (photo: reasons); the rest are kept
    "IMG_0102.dng": ["duplicate"],                   # the burst's next frame, 1% over, a touch softer
    "IMG_0103.dng": ["blurred", "burst_not_best"],   # the burst's third: 3% over and out of focus
    "IMG_0202.dng": ["duplicate"],                   # the same frame again ten minutes later
    "IMG_0301.dng": ["blurred"],                     # camera shake, alone
    "PORTRAIT_2.jpg": ["eyes_closed", "duplicate"],  # she blinked
}


def _card(folder: Path) -> Path:
    folder.mkdir()
    box, lighter, city = (kit.linear(n) for n in ("canon_powershot_s40.crw", "canon_eos_d30.crw", "nikon_d1.nef"))
    kit.write_frame(folder / "IMG_0101.dng", box, T0)                                          # a burst of three
    kit.write_frame(folder / "IMG_0102.dng", kit.blurred(kit.shifted(box, 0.01, ev=0.3), 1), T0 + timedelta(seconds=1))
    kit.write_frame(folder / "IMG_0103.dng", kit.blurred(kit.shifted(box, 0.03), 3), T0 + timedelta(seconds=2))
    shutil.copy(folder / "IMG_0101.dng", folder / "IMG_0104.dng")                              # the same bytes
    kit.write_frame(folder / "IMG_0201.dng", lighter, T0 + timedelta(minutes=5))
    kit.write_frame(folder / "IMG_0202.dng", kit.blurred(lighter * 2 ** 0.2, 1), T0 + timedelta(minutes=15))
    left = city[:, :city.shape[1] * 6 // 20 * 2]
    kit.write_frame(folder / "IMG_0301.dng", kit.smeared(left, 15, 0), T0 + timedelta(minutes=20))
    shutil.copy(sample("nikon_d1.nef"), folder / "nikon_d1.nef")                               # a real file, sharp
    portrait = data.astronaut().astype(np.float32) / 255.0
    kit.write_jpeg(folder / "PORTRAIT_1.jpg", portrait, T0 + timedelta(minutes=25))
    kit.write_jpeg(folder / "PORTRAIT_2.jpg", kit.shut_eyes(portrait), T0 + timedelta(minutes=25, seconds=1))
    return folder


@pytest.fixture
def ingested(tmp_path, monkeypatch, home, prefect_api) -> int:
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.setenv("POSTLINE_PAUSE_POLL_SECONDS", "1")
    order_id = create_order(client="Lea & Tom", shoot="wedding", card=_card(tmp_path / "card"), preset_name=None,
                            due=None).id
    ingest_flow(order_id, str(tmp_path / "card"))
    return order_id


def test_the_cull_flags_what_it_should_and_prefills_the_review(ingested, capsys):
    order_id = ingested
    with transaction() as session:
        photos = {p.source_name: p for p in work.photos(session, order_id)}
        signals = cull_record.signals_of(session, order_id)
    assert photos["IMG_0104.dng"].status is PhotoStatus.DUPLICATE            # same bytes: set aside at ingest
    in_line = {name for name, p in photos.items() if p.status is PhotoStatus.INGESTED}
    assert {photos[name].id for name in in_line} == set(signals)             # every frame measured at ingest
    assert signals[photos["nikon_d1.nef"].id].source == "sensor" and signals[photos["PORTRAIT_1.jpg"].id].eyes == "open"

    assert main(["cull", str(order_id), "--format", "json"]) == 0
    listing = {item["photo"]: item for item in json.loads(capsys.readouterr().out)}
    assert set(listing) == in_line
    assert {name: item["reasons"] for name, item in listing.items() if item["suggestion"] == "reject"} == SUGGESTED
    assert all(item["suggestion"] == "keep" and item["reasons"] == [] for name, item in listing.items()
               if name not in SUGGESTED)
    burst = listing["IMG_0101.dng"]["group"]
    assert burst is not None and listing["IMG_0101.dng"]["best_of_group"]                 # the sharpest of three
    assert [listing[n]["group"] for n in ("IMG_0102.dng", "IMG_0103.dng")] == [burst, burst]
    blur = {n: listing[n]["signals"]["blur"] for n in ("IMG_0101.dng", "IMG_0102.dng", "IMG_0103.dng")}
    assert min(blur, key=blur.get) == "IMG_0101.dng"
    assert listing["PORTRAIT_1.jpg"]["best_of_group"] and listing["PORTRAIT_2.jpg"]["group"] == listing["PORTRAIT_1.jpg"]["group"]
    assert listing["IMG_0301.dng"]["group"] is None and listing["nikon_d1.nef"]["group"] is None
    assert main(["cull", str(order_id)]) == 0
    table = capsys.readouterr().out
    assert "the cull suggests leaving out 5" in table and "blurred, burst_not_best" in table

    review = kit.paused_review(order_id)
    schema = review.schema                                                # the form the Prefect UI shows
    prefilled = schema["properties"]["cull"]["default"]
    assert {c["photo"] for c in prefilled} == set(SUGGESTED) and schema["properties"]["approve_all"]["default"] is False
    assert {c["photo"]: c["reason"] for c in prefilled}["PORTRAIT_2.jpg"] == "eyes_closed"

    assert main(["review", "pending", str(order_id)]) == 0
    pending = capsys.readouterr().out
    assert "IMG_0103.dng" in pending and "suggested: cull: blurred, burst_not_best" in pending
    assert main(["review", "decide", str(order_id), "--accept-suggestions", "--keep", "IMG_0301.dng",
                 "--as", "sergei"]) == 0                                   # accepted, but the shaken frame kept
    assert "carries on" in capsys.readouterr().out
    review.runner.join(timeout=60)
    assert review.result["counts"] == {"approved": len(in_line) - 4, "culled": 4}

    with transaction() as session:
        culled = {p.source_name for p in work.photos(session, order_id, PhotoStatus.CULLED)}
        decisions = session.exec(select(CullDecision).where(CullDecision.order_id == order_id)).all()
        figures = cull_record.agreement(session, order_id=order_id)
    assert culled == set(SUGGESTED) - {"IMG_0301.dng"}
    assert len(decisions) == len(in_line) and {d.actor for d in decisions} == {"sergei"}
    assert [(d.suggested.value, d.decided.value) for d in decisions if not d.agreed] == [("reject", "keep")]
    assert (figures.decisions, figures.agreed, figures.suggested_rejects, figures.rejects_kept,
            figures.keeps_culled) == (len(in_line), len(in_line) - 1, 5, 1, 0)

