"""The suggested cull's rules (qc/cull.py) over signals in the record: what makes a burst and a near-duplicate,
which frame of a group is the best, and when closed eyes are suggested and when the doubt is only said."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from config.line import get_line
from qc import cull
from record import cull as cull_record
from record import work
from record.db import transaction
from record.models import CullSignals, Photo, PhotoStatus, ShootType

T0 = datetime(2026, 6, 20, 14, 0, 0)


def _hash(bits: int) -> str:
    """A pHash ``bits`` bits away from all-zero."""
    return f"{(1 << bits) - 1:016x}"


def _order(frames: list[dict]) -> int:
    """An order whose photos have the given signals: name, seconds (after T0; None: no capture time), bits
    (hash distance from the all-zero hash), blur, eyes (as recorded)."""
    with transaction() as session:
        order = work.create_order(session, client="Test", shoot=ShootType.WEDDING, preset_name="neutral",
                                  preset_version=1, preset_hash="x", preset_json="{}", due=None, card_folder="/card")
        for n, f in enumerate(frames):
            taken = None if f.get("seconds") is None else T0 + timedelta(seconds=f["seconds"])
            photo = work.add_photo(session, Photo(order_id=order.id, source_name=f["name"], sha256=f"{n:064x}",
                                                  size_bytes=1, status=PhotoStatus.INGESTED, capture_time=taken,
                                                  original_path=f"/{f['name']}", camera_make=f.get("camera")),
                                   first_stage="cull_grade")
            cull_record.add_signals(session, CullSignals(
                photo_id=photo.id, order_id=order.id, source="sensor", width=1536, height=1024, subject="face",
                blur=f.get("blur", 0.3), motion=0.05, motion_angle=0, highlights=0.0, shadows=0.0, median_luma=0.45,
                faces=len(f.get("eyes", "").split(",")) if f.get("eyes") else 0, eyes=f.get("eyes", ""),
                phash=_hash(f["bits"])))
        return order.id


def _suggested(order_id: int) -> dict[str, cull.Suggestion]:
    with transaction() as session:
        return {s.photo: s for s in cull.suggest(session, order_id)}


def test_bursts_by_time_and_hash_near_duplicates_by_hash_alone(home):
    spec = get_line().cull
    order_id = _order([
        {"name": "A1.dng", "seconds": 0, "bits": 0, "blur": 0.40},
        {"name": "A2.dng", "seconds": 1, "bits": spec.burst_hash_distance, "blur": 0.30},   # the sharpest
        {"name": "B1.dng", "seconds": 600, "bits": 40},
        {"name": "B2.dng", "seconds": 600 + spec.burst_seconds + 5, "bits": 40 - spec.burst_hash_distance},
        {"name": "C1.dng", "seconds": 1200, "bits": 60},
        {"name": "C2.dng", "seconds": None, "bits": 60 - spec.duplicate_hash_distance, "blur": 0.35},
    ])
    s = _suggested(order_id)
    assert s["A1.dng"].group == s["A2.dng"].group is not None and s["A2.dng"].best
    assert s["A1.dng"].reasons == (cull.Reason.BURST_NOT_BEST,)   # a burst frame, but not near-identical to the best
    assert s["B1.dng"].group is None and s["B2.dng"].group is None    # near, but seconds too far apart
    assert s["C1.dng"].group == s["C2.dng"].group is not None         # near-identical: whenever taken
    assert s["C1.dng"].best and s["C2.dng"].reasons == (cull.Reason.DUPLICATE,)
    assert [s[n].group for n in ("A1.dng", "C1.dng")] == [1, 2]       # numbered in capture order


def test_alike_frames_do_not_chain_a_shoot_into_one_group_nor_two_bodies_into_a_burst(home):
    """A wedding of alike frames (the same pose and light, minutes apart) was one group of 107 frames from three
    bodies and six bursts, each a step from the next and 22 from the first; the cull suggested leaving out all
    but one. A near-duplicate joins a group only when alike to every frame of it; a burst is one body's."""
    spec = get_line().cull
    step = spec.duplicate_hash_distance
    order_id = _order([
        *({"name": f"P{k}.dng", "seconds": 600 * k, "bits": step * k} for k in range(5)),   # 0, 6, 12, 18, 24
        {"name": "CANON.dng", "seconds": 3600, "bits": 63, "camera": "Canon"},
        {"name": "NIKON.dng", "seconds": 3601, "bits": 63 - spec.burst_hash_distance, "camera": "Nikon"},
    ])
    s = _suggested(order_id)
    groups = {name: sug.group for name, sug in s.items()}
    assert groups["P0.dng"] == groups["P1.dng"] == groups["P2.dng"] is not None   # P2 is 12 from P0: alike enough
    assert groups["P3.dng"] == groups["P4.dng"] is not None != groups["P0.dng"]   # P3 is 18 from P0: a group apart
    assert groups["CANON.dng"] is None and groups["NIKON.dng"] is None            # two bodies at once: no burst


def test_many_frames_of_a_few_alike_pictures_are_grouped_as_pictures():
    """A product shoot: hundreds of frames of each of four pictures, each picture 6 bits from the next. Frames of
    one hash are one group, and pictures alike to every frame of a group join it: A, B and C (12 apart at most),
    D apart; the shortcuts that make this fast (one group per hash, a picture's nearest alike pictures) group it
    as comparing every frame with every other did. Its speed is bench/cull_groups.py's."""
    from types import SimpleNamespace

    spec = get_line().cull
    a = 0
    b = a ^ 0x3F
    c = b ^ (0x3F << 6)
    d = c ^ (0x3F << 12)
    frames = [(None, SimpleNamespace(phash=f"{h:016x}")) for h in [a] * 200 + [b] * 200 + [c] * 200 + [d] * 200]
    groups = cull._groups(frames, spec, [None] * len(frames))
    assert sorted(map(len, groups)) == [200, 600]


def test_closed_eyes_on_a_clear_reading_or_against_the_burst_and_otherwise_only_a_note(home):
    order_id = _order([
        {"name": "shut.dng", "seconds": 0, "bits": 0, "eyes": "shut"},                         # alone
        {"name": "missed.dng", "seconds": 100, "bits": 20, "eyes": "not_found", "blur": 0.20},  # a burst with ...
        {"name": "open.dng", "seconds": 101, "bits": 22, "eyes": "open", "blur": 0.40},         # ... her eyes open
        {"name": "doubt.dng", "seconds": 300, "bits": 50, "eyes": "not_found"},                 # alone
        {"name": "wink.dng", "seconds": 500, "bits": 64, "eyes": "unsure"},
    ])
    s = _suggested(order_id)
    assert s["shut.dng"].reasons == (cull.Reason.EYES_CLOSED,)
    assert s["missed.dng"].reasons == (cull.Reason.EYES_CLOSED, cull.Reason.DUPLICATE)
    assert s["open.dng"].best                                     # eyes open beats the sharper frame with them shut
    assert s["doubt.dng"].verdict.value == "keep" and any("no verdict" in n for n in s["doubt.dng"].notes)
    assert s["wink.dng"].verdict.value == "keep" and s["wink.dng"].reasons == ()


def test_the_line_file_decides(home, tmp_path, monkeypatch):
    line = Path(__file__).resolve().parents[1] / "config" / "line.toml"
    text = line.read_text().replace("max_blur = 0.6 ", "max_blur = 0.35").replace("eyes_closed = true", "eyes_closed = false")
    (tmp_path / "line.toml").write_text(text)
    monkeypatch.setenv("POSTLINE_LINE_FILE", str(tmp_path / "line.toml"))
    get_line.cache_clear()
    try:
        order_id = _order([{"name": "soft.dng", "seconds": 0, "bits": 0, "blur": 0.40, "eyes": "shut"}])
        assert _suggested(order_id)["soft.dng"].reasons == (cull.Reason.BLURRED,)
    finally:
        get_line.cache_clear()


def test_a_bursts_best_frame_is_not_a_blurred_one_nor_one_the_photographer_rejected(home):
    """A blurred frame, whose eyes could not be read, was named best over sharp frames read as eyes shut, and the
    sharp ones suggested as its duplicates: accepting the suggestion culled the moment. And a best frame the
    photographer rejected stayed best, so the whole burst went."""
    from record import ratings
    from tasks.pixels.ratings import FrameRating

    order_id = _order([
        {"name": "D1.dng", "seconds": 0, "bits": 0, "blur": 0.9, "eyes": "not_found"},   # blurred
        {"name": "D2.dng", "seconds": 1, "bits": 1, "blur": 0.30, "eyes": "shut"},
        {"name": "D3.dng", "seconds": 2, "bits": 2, "blur": 0.32, "eyes": "shut"},
    ])
    s = _suggested(order_id)
    assert s["D1.dng"].group == s["D2.dng"].group == s["D3.dng"].group is not None
    assert cull.Reason.BLURRED in s["D1.dng"].reasons and not s["D1.dng"].best
    assert s["D2.dng"].best and "group 1's best frame is D2.dng" in s["D3.dng"].notes
    with transaction() as session:
        ratings.put(session, order_id, s["D2.dng"].photo_id, FrameRating(stars=-1))
    s = _suggested(order_id)
    assert s["D3.dng"].best and not s["D2.dng"].best                # chosen again among the rest
