"""A photo that failed in a stage for a cause outside its file (here: the skin stage breaking on it, as a bug or a
broken LUT would) is not a dead end: once the cause is fixed, `postline order retry N` puts it back in the line at
the stage it failed in, and the next run delivers it, the delivered order's package made again in place with it.
The command line on the tests' Prefect server."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from record import work
from record.db import transaction
from record.models import EventKind, PhotoStatus
from tasks import stages
from surfaces.web import create_app
from tasks.synthetic import write_card
from tests.browser import served
from tests.flowkit import Delivery, cli, cli_order, photos_by_name

BROKEN = "DSC_0002.dng"


def numbers(package: Path) -> dict[str, int]:
    """Each delivered photo's sequence number, and the file names carrying it, the same in every rendition."""
    seqs: dict[str, set] = {}
    for entry in Delivery(package).manifest["files"]:
        seqs.setdefault(entry["source_name"], set()).add(entry["seq"])
        assert f"{entry['seq']:04d}" in Path(entry["path"]).name, entry
    assert all(len(seq) == 1 for seq in seqs.values()), seqs
    return {name: seq.pop() for name, seq in seqs.items()}


def _skin_breaks_on(name: str, monkeypatch):  # noqa: ANN202 - the stages' step, as it was
    """The skin stage breaks on the photo ``name`` (as a bug or a broken LUT would) until the step returned is put
    back."""
    step = stages.step

    def breaks_on_one(operation, image, source, ctx, **options):
        if operation.value == "skin" and name in Path(source).name:
            raise RuntimeError("the skin model crashed")
        return step(operation, image, source, ctx, **options)

    monkeypatch.setattr(stages, "step", breaks_on_one)
    return step


def test_a_failed_photo_is_put_back_where_it_failed_and_delivered_with_the_rest(home_on_server, tmp_path,
                                                                              monkeypatch):
    card = write_card(tmp_path / "card", 3, size=(300, 200))
    order_id = cli_order(card, client="Noor")
    step = _skin_breaks_on(BROKEN, monkeypatch)
    code, ran = cli("order", "run", str(order_id))
    assert code == 0, ran
    package = Path(ran.strip().splitlines()[-1])
    assert Delivery(package).delivered_sources() == {"DSC_0001.dng", "DSC_0003.dng"}
    assert numbers(package) == {"DSC_0001.dng": 1, "DSC_0003.dng": 2}
    status = cli("status", str(order_id))[1]
    assert f"[failed] {BROKEN}: could not be processed (RuntimeError)" in status
    assert f"`postline order retry {order_id}` puts the failed photos back" in status

    monkeypatch.setattr(stages, "step", step)                        # the cause fixed
    code, said = cli("order", "retry", str(order_id), "DSC_0001.dng", "NOPE.dng")
    assert code == 2 and f"not failed in order {order_id}: DSC_0001.dng (delivered), NOPE.dng (no such photo)" in said
    code, said = cli("order", "retry", str(order_id))
    assert code == 0, said
    assert f"  {BROKEN} (Liquify & skin)" in said and f"postline order run {order_id}" in said

    code, ran = cli("order", "run", str(order_id))
    assert code == 0, ran
    assert Path(ran.strip().splitlines()[-1]) == package             # the same delivery, made again with it
    delivery = Delivery(package)
    assert delivery.delivered_sources() == {"DSC_0001.dng", BROKEN, "DSC_0003.dng"}
    assert delivery.mismatches() == []
    # the client has Noor-0002 as DSC_0003: it keeps its name, and the photo delivered since comes after
    assert numbers(package) == {"DSC_0001.dng": 1, "DSC_0003.dng": 2, BROKEN: 3}
    code, packed = cli("deliver", str(order_id))                     # packed again: the names stay
    assert code == 0, packed
    assert numbers(package) == {"DSC_0001.dng": 1, "DSC_0003.dng": 2, BROKEN: 3}
    with transaction() as session:
        photo = next(p for p in work.photos(session, order_id) if p.source_name == BROKEN)
        kinds = [e.kind for e in work.events(session, order_id) if e.photo_id == photo.id]
        order = work.get_order(session, order_id)
    assert photo.status is PhotoStatus.DELIVERED and order.revisions == 0       # not a client's revision
    assert kinds.index(EventKind.FAILED) < kinds.index(EventKind.RETRIED) < kinds.index(EventKind.DELIVERED)
    code, said = cli("order", "retry", str(order_id))
    assert code == 2 and "no photo of order" in said and "has failed" in said


def test_a_photo_whose_revision_fails_is_delivered_as_before_not_dropped(home_on_server, tmp_path, monkeypatch):
    """The client had the photo; the change they asked for breaks on it. The revised delivery is the whole order
    again: the photo stays in it as delivered before (same files, same name), and the studio is told the change
    was not made and how to make it; once retried, the next run delivers the change in that same revision."""
    card = write_card(tmp_path / "card", 3, size=(300, 200))
    order_id = cli_order(card, client="Noor")
    code, ran = cli("order", "run", str(order_id))
    assert code == 0, ran
    first = Delivery(Path(ran.strip().splitlines()[-1]))
    assert first.delivered_sources() == {"DSC_0001.dng", BROKEN, "DSC_0003.dng"}

    step = _skin_breaks_on(BROKEN, monkeypatch)
    code, said = cli("order", "revise", str(order_id), "--photo", f"{BROKEN}:liquify_skin:softer skin please")
    assert code == 0, said
    code, ran = cli("order", "run", str(order_id))
    assert code == 0, ran
    revised = Delivery(Path(ran.strip().splitlines()[-1]))
    assert revised.path.name == "delivery-rev1"
    assert revised.delivered_sources() == {"DSC_0001.dng", BROKEN, "DSC_0003.dng"}
    assert revised.mismatches() == []
    for rendition in {e["rendition"] for e in first.manifest["files"]}:
        before, now = first.entry(BROKEN, rendition), revised.entry(BROKEN, rendition)
        assert (now["path"], now["sha256"]) == (before["path"], before["sha256"]), rendition
    assert [n["source_name"] for n in revised.manifest["not_delivered"]] == []
    as_before = revised.manifest["delivered_as_before"]
    assert [a["source_name"] for a in as_before] == [BROKEN]
    assert "could not be processed (RuntimeError)" in as_before[0]["reason"]
    status = cli("status", str(order_id))[1]
    assert f"[failed] {BROKEN}: could not be processed (RuntimeError)" in status
    assert f"Delivered as before, the change asked for not made (the package has the version delivered earlier):\n  [failed] {BROKEN}" in status
    assert f"`postline order retry {order_id}` puts the failed photos back" in status
    with served(create_app()) as base:                               # the client's gallery shows it, as they have it
        monkeypatch.setenv("POSTLINE_PUBLIC_URL", base)
        url = cli("gallery", str(order_id))[1].strip().splitlines()[-1]
        with httpx.Client(timeout=60) as client:
            page = client.get(url).text
            figures = dict(re.findall(r'alt="([^"]+)"(.*?)</figure>', page, re.S))
            assert set(figures) == {"DSC_0001.dng", BROKEN, "DSC_0003.dng"}
            assert "The change you asked for is not made yet" in figures[BROKEN]
            assert 'name="change-' not in page and "Write to us" in page     # the default line: no person to
            assert 'name="bw-' not in figures[BROKEN] and 'name="bw-' in figures["DSC_0001.dng"]  # make a change
            picture = client.get(base + re.search(rf'src="([^"]+)" alt="{re.escape(BROKEN)}"', page)[1])
            assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"

    monkeypatch.setattr(stages, "step", step)                        # the cause fixed
    code, said = cli("order", "retry", str(order_id))
    assert code == 0, said
    code, ran = cli("order", "run", str(order_id))
    assert code == 0, ran
    again = Delivery(Path(ran.strip().splitlines()[-1]))
    assert again.path == revised.path                                # the same revision, made again with the change
    assert again.delivered_sources() == {"DSC_0001.dng", BROKEN, "DSC_0003.dng"}
    assert again.manifest.get("delivered_as_before", []) == []
    assert photos_by_name(order_id)[BROKEN].status is PhotoStatus.DELIVERED
