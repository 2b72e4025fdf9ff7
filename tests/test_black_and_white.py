"""Photos asked for in black and white too: the recipe's ``[black_and_white]`` (its twins, its refusals), the
black-and-white look on real camera files, the studio asking with `postline order bw` after a real delivery and
the client in the delivered gallery, `postline status` saying the package lacks them, the package made again with
the twins (the colour files as they were), and the client ticking it in the selection in headless Chromium."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlmodel import select

from presets.recipe import BlackAndWhite, Filter, RecipeError, load_recipe, load_recipe_file
from record import black_and_white, work
from record.db import transaction
from record.models import ClientPick
from tasks.deliver_render import Job, Studio, internal, make_files, render_key
from tasks.pixels import mono, tags
from tasks.synthetic import write_card
from tests.browser import chromium_page, served
from tests.flowkit import Delivery, cli, cli_order
from tests.pg import postgres_url  # noqa: F401  (the session's PostgreSQL)
from tests.test_gallery import awaiting_order, studio  # noqa: F401  (studio: the gallery's fixture)

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "raw"
STUDIO = Studio(name="Studio", artist="A", copyright="© {year}", email="", phone="", website="", client="Dana",
                order_id=1, order_year=2026)


def test_the_recipe_names_the_renditions_a_photo_asked_for_in_black_and_white_gets_twice(tmp_path):
    wedding = load_recipe("wedding")
    assert [(t.key, t.zip_set, t.name, t.black_and_white) for t in wedding.twins] == [
        ("full-bw", "client", "{client}-{seq:04d}-bw", True), ("web-bw", "client", "{client}-{seq:04d}-web-bw", True)]
    assert [r.key for r in wedding.for_photo(True)] == ["full", "web", "social", "print", "proof", "full-bw", "web-bw"]
    assert wedding.for_photo(False) == wedding.renditions and wedding.offers_black_and_white

    # A photo not asked for keeps its render key whatever [black_and_white] says; one asked for changes with it.
    job = Job(photo_id=1, source_name="a.dng", source_sha256="0" * 64, original_path=None, master_path="m.tif",
              master_sha256="1" * 64)
    grey = Job(**{**job.__dict__, "black_and_white": True})
    plain = wedding.model_copy(update={"black_and_white": BlackAndWhite()})
    redder = wedding.model_copy(update={"black_and_white": wedding.black_and_white.model_copy(update={"filter": Filter.RED})})
    assert render_key(job, wedding, STUDIO, False) == render_key(job, plain, STUDIO, False) == \
        render_key(job, redder, STUDIO, False)
    assert render_key(grey, wedding, STUDIO, False) != render_key(grey, redder, STUDIO, False)
    assert render_key(grey, wedding, STUDIO, False) != render_key(job, wedding, STUDIO, False)

    base = (Path(__file__).resolve().parents[1] / "config" / "recipes" / "portrait.toml").read_text()
    base = base[:base.index("[black_and_white]")]
    for section, said in [
        ('renditions = ["full", "poster"]', "names ['poster'], not renditions of this recipe"),
        ('renditions = ["web", "web"]', "names a rendition twice"),
        ('filter = "blue"', "'black_and_white.filter'"),
        ("contrast = 150", "'black_and_white.contrast'"),
        ('renditions = ["full"]\ntonning = "warm"', "'black_and_white.tonning'"),
    ]:
        path = tmp_path / "bad.toml"
        path.write_text(base + "[black_and_white]\n" + section + "\n")
        with pytest.raises(RecipeError) as refused:
            load_recipe_file(path)
        assert str(path) in str(refused.value) and said in str(refused.value), str(refused.value)
    named = base.replace('name = "{client}-{seq:04d}-web"', 'name = "{client}-{seq:04d}-{rendition}"')
    (tmp_path / "named.toml").write_text(named + '[black_and_white]\nrenditions = ["web"]\n')
    assert [t.name for t in load_recipe_file(tmp_path / "named.toml").twins] == ["{client}-{seq:04d}-{rendition}"]
    clash = base.replace('key = "proof"', 'key = "web-bw"') + '[black_and_white]\nrenditions = ["web"]\n'
    (tmp_path / "clash.toml").write_text(clash)
    with pytest.raises(RecipeError, match="'web-bw', a rendition of this recipe already"):
        load_recipe_file(tmp_path / "clash.toml")


def _decoded(name: str) -> np.ndarray:
    """A real camera file graded with the neutral preset, in sRGB, as display values (what a finished master
    holds)."""
    from presets.model import OutputSpace, load_preset
    from tasks.pixels.render import render_image

    codes = render_image(SAMPLES / name, load_preset("neutral"), dtype=np.uint16, space=OutputSpace.SRGB)
    return codes.astype(np.float32) / 65535.0


def test_black_and_white_keeps_greys_and_the_filter_moves_colours_as_on_film():
    ramp = np.repeat(np.linspace(0, 1, 256, dtype=np.float32)[None, :, None], 3, axis=2)
    for weights in mono.FILTERS.values():                 # a neutral grey keeps its value under every filter
        assert np.abs(mono.grey(ramp, mono.Look(weights=weights, contrast=0.0)) - ramp).max() < 2e-4   # 1/20 of 8 bits
    curved = mono.grey(ramp, mono.Look(contrast=1.0))[0, :, 0]
    assert curved[0] == 0 and curved[-1] == pytest.approx(1) and np.all(np.diff(curved) >= 0)   # no greys swap
    assert curved[64] < ramp[0, 64, 0] and curved[192] > ramp[0, 192, 0]                        # more contrast

    # The ColorChecker shot by a real Canon G2: through a red filter its red patch comes out lighter, and its blue
    # one darker, than through a green one; untoned, every pixel is grey; warm toning warms the mid-tones only.
    from tasks.pixels.colour import to_lab

    chart = _decoded("canon_powershot_g2.crw")
    red, green = (mono.grey(chart, mono.Look.of(BlackAndWhite(filter=f))) for f in ("red", "green"))
    assert np.array_equal(red[..., 0], red[..., 1]) and np.array_equal(red[..., 1], red[..., 2])
    r, g, b = chart[..., 0], chart[..., 1], chart[..., 2]
    reddish, bluish = (r > 0.45) & (r > 1.6 * g) & (r > 1.6 * b), (b > 0.3) & (b > 1.4 * r) & (b > 1.2 * g)
    assert reddish.sum() > 1000 and bluish.sum() > 1000
    assert red[..., 0][reddish].mean() > green[..., 0][reddish].mean() + 0.08
    assert red[..., 0][bluish].mean() < green[..., 0][bluish].mean() - 0.05
    warm = mono.grey(chart, mono.Look.of(BlackAndWhite(toning="warm", toning_strength=1.0)))
    mid = np.abs(red[..., 0] - 0.5) < 0.1
    lab = to_lab(np.clip(warm[mid], 0, 1).reshape(-1, 1, 3), "srgb").reshape(-1, 3)
    assert lab[:, 2].mean() > 3                                      # yellower (b*) in the mid-tones
    toned = mono.grey(ramp, mono.Look.of(BlackAndWhite(toning="warm", toning_strength=1.0)))
    assert np.abs(toned[0, [0, -1]] - ramp[0, [0, -1]]).max() < 1e-6     # black and white stay neutral


def test_a_photo_asked_for_in_black_and_white_gets_grey_twins_from_one_decode():
    """make_files, as delivery calls it: the twins are grey, the size of their colour renditions, stamped with the
    studio's metadata, and the colour files are the same bytes as without the twins."""
    from tasks.pixels import imageio

    recipe = load_recipe("wedding")
    codes = imageio.to_u16(_decoded("nikon_d1.nef"))
    plain = make_files(codes, tags.Kept(), STUDIO, recipe, internal(recipe, False))
    both = make_files(codes, tags.Kept(), STUDIO, recipe, internal(recipe, False, True))
    assert set(both) - set(plain) == {"full-bw", "web-bw"}
    assert all(hashlib.sha256(plain[k]).digest() == hashlib.sha256(both[k]).digest() for k in plain)
    from io import BytesIO

    from PIL import Image

    for key in ("full", "web"):
        colour, bw = Image.open(BytesIO(both[key])), Image.open(BytesIO(both[f"{key}-bw"]))
        pixels = np.asarray(bw.convert("RGB")).astype(int)
        assert bw.size == colour.size and bw.info.get("icc_profile") == colour.info.get("icc_profile")
        assert np.abs(pixels[..., 0] - pixels[..., 1]).max() <= 2 and np.abs(pixels[..., 2] - pixels[..., 1]).max() <= 2
        assert bw.getexif().get(0x013B) == "A"                     # the studio's artist, as on every delivered file


def _without_black_and_white(shoot: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The studio's recipes, but ``shoot``'s without its [black_and_white] section (POSTLINE_RECIPES_DIR); the
    folder."""
    from config.settings import get_settings

    recipes = tmp_path / "recipes"
    shutil.copytree(Path(__file__).resolve().parents[1] / "config" / "recipes", recipes)
    text = (recipes / f"{shoot}.toml").read_text()
    (recipes / f"{shoot}.toml").write_text(text[:text.index("[black_and_white]")])
    monkeypatch.setenv("POSTLINE_RECIPES_DIR", str(recipes))
    get_settings.cache_clear()
    return recipes


def test_the_studio_asks_for_a_photo_in_black_and_white_after_delivery_and_packs_it_again(line_file, home_on_server,
                                                                                          tmp_path, monkeypatch):
    from tests.test_gallery import MANUAL_SKIN_LINE

    line_file(MANUAL_SKIN_LINE.replace('mode = "manual"', 'operation = "skin"'))
    order_id = cli_order(write_card(tmp_path / "card", 3), client="Dana")
    code, out = cli("order", "bw", str(order_id), "DSC_0002.dng")
    assert code == 2 and "photos are not in the record yet" in out and f"`postline order run {order_id}`" in out
    code, out = cli("order", "run", str(order_id))
    assert code == 0, out
    first = Delivery(Path(out.strip().splitlines()[-1]))
    assert not [e for e in first.manifest["files"] if e["rendition"].endswith("-bw")]

    code, out = cli("order", "bw", str(order_id), "DSC_0002.dng", "nope.dng")
    assert code == 2 and "no photo 'nope.dng' in this order" in out and "Nothing was changed" in out
    code, out = cli("order", "bw", str(order_id), "DSC_0002.dng")
    assert code == 0 and "asked for in black and white: DSC_0002.dng" in out
    assert "1 photo(s) asked for in black and white too (recipe portrait, black-and-white renditions: full-bw, " \
           "web-bw)" in out and f"`postline deliver {order_id}` packs it again" in out

    # A change request refused is refused whole: its black-and-white tick is not kept either (here: people work
    # no stage of the line; tests/test_gallery.py refuses one naming a photo not delivered).
    from qc.gates import DecisionError
    from surfaces.actions.client import request_changes

    with pytest.raises(DecisionError, match="Changes are made on request"):
        request_changes(order_id, changes=[("DSC_0002.dng", "brighter")], client="Dana",
                        in_black_and_white=["DSC_0003.dng"])
    with transaction() as session:
        assert len(black_and_white.requested(session, order_id)) == 1

    # The client, in the delivered gallery, asks for another.
    from surfaces.web import create_app

    with served(create_app()) as base:
        monkeypatch.setenv("POSTLINE_PUBLIC_URL", base)
        url = cli("gallery", str(order_id))[1].strip().splitlines()[-1]
        page = httpx.get(url, timeout=60).text
        rows = {name: int(i) for i, name in re.findall(r'name="photo-(\d+)" value="([^"]+)"', page)}
        assert page.count('class="bw"') == 2 and page.count("In black &amp; white too") == 1     # 0002 asked
        assert page.count("being added to your download") == 1                        # until the studio packs it
        # people work no stage of this line: no change to tick (it would come back as it was), write to the studio
        assert 'name="change-' not in page and 'name="note-' not in page and "Write to us, naming the photo" in page
        asked = httpx.post(f"{url}/changes", data={f"photo-{i}": n for n, i in rows.items()} | {
            f"change-{rows['DSC_0002.dng']}": "1", f"note-{rows['DSC_0002.dng']}": "warmer"}, timeout=60)
        assert asked.status_code == 422 and "Changes are made on request: nothing was sent. Write to us" in asked.text
        sent = httpx.post(f"{url}/changes", data={f"photo-{i}": n for n, i in rows.items()} | {
            f"bw-{rows['DSC_0003.dng']}": "1"}, timeout=60, follow_redirects=True)
        assert sent.status_code == 200 and "we have your requests" in sent.text
        assert sent.text.count("In black &amp; white too: being added to your download") == 2
    code, out = cli("status", str(order_id))
    assert "Black and white: 2 photo(s) asked for in black and white too; 2 delivered without their black-and-white " \
           f"files yet: `postline deliver {order_id}` adds them" in out and "delivered" in out.splitlines()[0]
    assert "black and white to pack" in cli("status")[1]

    code, out = cli("deliver", str(order_id))
    assert code == 0, out
    again = Delivery(Path(out.strip().splitlines()[-1]))
    twins = {(e["source_name"], e["rendition"]): e for e in again.manifest["files"] if e["rendition"].endswith("-bw")}
    assert sorted(twins) == [("DSC_0002.dng", "full-bw"), ("DSC_0002.dng", "web-bw"), ("DSC_0003.dng", "full-bw"),
                             ("DSC_0003.dng", "web-bw")]
    assert twins[("DSC_0002.dng", "full-bw")]["path"] == "full-bw/Dana-0002-bw.jpg"
    assert not again.mismatches()
    full, grey = again.full("DSC_0002.dng"), again.image(twins[("DSC_0002.dng", "full-bw")])
    pixels = np.asarray(grey.convert("RGB")).astype(int)
    assert grey.size == full.size and np.abs(pixels[..., 0] - pixels[..., 2]).max() <= 2
    colour = np.asarray(full.convert("L")).astype(float)
    assert np.corrcoef(colour.ravel(), pixels[..., 1].ravel())[0, 1] > 0.9        # the same picture, in grey
    before = {(e["source_name"], e["rendition"]): e["sha256"] for e in first.manifest["files"] if "rendition" in e}
    after = {(e["source_name"], e["rendition"]): e["sha256"] for e in again.manifest["files"] if "rendition" in e}
    assert {k: after[k] for k in before} == before                 # every colour file as it was
    keys = lambda delivery: {e["rendition"]: e["render_key"] for e in delivery.manifest["files"]  # noqa: E731
                             if e.get("source_name") == "DSC_0001.dng"}
    assert keys(again) == keys(first)             # the photo not asked for: its files as in the package before
    assert "without their black-and-white files" not in cli("status", str(order_id))[1]
    from surfaces.actions.client import gallery

    assert [(p.name, p.black_and_white, p.in_download, p.adding) for p in gallery(order_id).photos] == [
        ("DSC_0001.dng", False, False, False), ("DSC_0002.dng", True, True, False),
        ("DSC_0003.dng", True, True, False)]
    assert "black and white to pack" not in cli("status")[1]
    with transaction() as session:
        assert all(p.status.value == "delivered" for p in work.photos(session, order_id))

    code, out = cli("order", "bw", str(order_id), "--remove", "DSC_0002.dng", "DSC_0001.dng")
    assert code == 0 and "no longer in black and white: DSC_0002.dng" in out and "1 photo(s)" in out
    assert "not asked for in black and white, nothing to remove: DSC_0001.dng" in out
    assert f"does not have the change yet: `postline deliver {order_id}` packs it again" in out
    code, out = cli("deliver", str(order_id))
    assert code == 0 and sorted(e["source_name"] for e in Delivery(Path(out.strip().splitlines()[-1])).manifest["files"]
                                if e.get("rendition", "").endswith("-bw")) == ["DSC_0003.dng", "DSC_0003.dng"]

    code, out = cli("order", "bw", str(order_id), "DSC_0001.dng")                # asked, not packed yet
    assert code == 0 and f"`postline deliver {order_id}` packs it again" in out

    # A recipe that offers no black and white: asking is refused, naming the recipe and what to add.
    _without_black_and_white("portrait", tmp_path, monkeypatch)
    code, out = cli("order", "bw", str(order_id), "DSC_0002.dng")
    assert code == 2 and "recipe 'portrait' offers no black and white" in out
    with transaction() as session:
        assert {p.source_name for p in work.photos(session, order_id)
                if p.id in black_and_white.requested(session, order_id)} == {"DSC_0001.dng", "DSC_0003.dng"}
    # The gallery promises only what the package holds: 0003's files are in it; 0001's will not be added now.
    assert [(p.name, p.black_and_white, p.in_download, p.adding) for p in gallery(order_id).photos] == [
        ("DSC_0001.dng", True, False, False), ("DSC_0002.dng", False, False, False),
        ("DSC_0003.dng", True, True, False)]


def test_in_chromium_the_client_asks_for_a_photo_in_black_and_white(studio, monkeypatch):  # noqa: F811
    from surfaces.web import create_app

    order_id = awaiting_order(studio)
    with served(create_app()) as base:
        monkeypatch.setenv("POSTLINE_PUBLIC_URL", base)
        url = cli("gallery", str(order_id))[1].strip().splitlines()[-1]
        with chromium_page() as page:
            page.goto(url)
            assert page.locator("input.bw").count() == 4 and "Also in black &amp; white" in page.content()
            page.locator('input.fav[data-photo="IMG_0001.dng"]').check()
            page.locator("figure.pick", has_text="IMG_0003.dng").locator("input.bw").check()   # a favourite too
            page.locator("#send-selection").click()
            page.locator("#confirm-send").click()                  # "You marked 2 favourites ...": yes
            assert page.locator("#sent").inner_text() == "Thank you: we have your selection."
            assert "IMG_0003.dng · also in black &amp; white" in page.content()
    with transaction() as session:
        names = {p.id: p.source_name for p in work.photos(session, order_id)}
        favourites = {names[p.photo_id] for p in session.exec(select(ClientPick)).all() if p.favourite}
        asked = {names[i] for i in black_and_white.requested(session, order_id)}
    assert favourites == {"IMG_0001.dng", "IMG_0003.dng"} and asked == {"IMG_0003.dng"}
    code, out = cli("order", "bw", str(order_id))
    assert "IMG_0003.dng  (asked by Chloé)" in out


def test_a_gallery_whose_recipe_offers_no_black_and_white_has_no_tick_and_refuses_one(studio, monkeypatch,  # noqa: F811
                                                                                         tmp_path):
    from qc.gates import DecisionError
    from surfaces.actions import client

    recipes = _without_black_and_white("wedding", tmp_path, monkeypatch)
    order_id = awaiting_order(studio)
    assert not client.gallery(order_id).black_and_white
    with pytest.raises(DecisionError, match="Your gallery changed since you opened it"):   # the client's words
        client.submit_selection(order_id, favourites=[{"photo": "IMG_0001.dng", "black_and_white": True}],
                                client="Chloé")
    with pytest.raises(DecisionError, match="offers no black and white"):                # the studio's
        client.gates.decide(order_id, client.SelectionDecision(
            approve_all=False, favourites=[client.Favourite(photo="IMG_0001.dng", black_and_white=True)],
            client="Chloé"))
    with transaction() as session:
        assert black_and_white.requested(session, order_id) == set() and not session.exec(select(ClientPick)).all()
    (recipes / "wedding.toml").write_text("not = [toml")             # a broken recipe file: the gallery still works
    assert client.gallery(order_id).photos and not client.gallery(order_id).black_and_white
    with pytest.raises(DecisionError, match="Your gallery changed"):   # a page sent before the file broke
        client.submit_selection(order_id, favourites=[{"photo": "IMG_0001.dng", "black_and_white": True}],
                                client="Chloé")


def test_a_culled_photo_is_refused_and_an_order_not_delivered_has_it_next(studio):  # noqa: F811
    from record import moves
    from record.models import PhotoStatus

    order_id = awaiting_order(studio)
    with transaction() as session:
        photo = next(p for p in work.photos(session, order_id) if p.source_name == "IMG_0002.dng")
        moves.move_photo(session, photo, PhotoStatus.CULLED, stage="cull_grade", actor="senior", reason="eyes closed")
    code, out = cli("order", "bw", str(order_id), "IMG_0001.dng", "IMG_0002.dng")
    assert code == 2 and "IMG_0002.dng was culled in the review of the originals: it is not delivered" in out
    assert "Nothing was changed" in out
    with transaction() as session:
        photo = next(p for p in work.photos(session, order_id) if p.source_name == "IMG_0003.dng")
        moves.move_photo(session, photo, PhotoStatus.FAILED, stage="cull_grade", actor="postline-auto",
                         reason="not a readable RAW file")
    code, out = cli("order", "bw", str(order_id), "IMG_0003.dng")
    assert code == 2 and "IMG_0003.dng failed in the line (`postline order retry` puts it back" in out
    code, out = cli("order", "bw", str(order_id), "IMG_0001.dng")
    assert code == 0 and f"Its next delivery has the change (`postline status {order_id}`" in out
    assert "postline deliver" not in out
    with transaction() as session:
        assert [p.source_name for p in work.photos(session, order_id)
                if p.id in black_and_white.requested(session, order_id)] == ["IMG_0001.dng"]


def test_a_photo_asked_for_twice_at_once_is_asked_for_once(home, postgres_url, monkeypatch):
    """On PostgreSQL, two requests at the same moment (the client sending twice, the studio's command): the second
    waits for the first's uncommitted row, then writes nothing, where a plain INSERT would fail."""
    import threading
    import time

    from sqlmodel import Session

    from record.db import get_engine
    from tests.pg import use_empty_record
    from tests.test_queue import make_items, make_order

    use_empty_record(postgres_url, monkeypatch)
    with transaction() as session:
        order = make_order(session)
        make_items(session, order, 1)
        order_id, photo_id = order.id, work.photos(session, order.id)[0].id
    results: dict[str, object] = {}

    def client() -> None:
        try:
            with transaction() as session:
                results["client"] = black_and_white.ask(session, order_id, [photo_id], actor="client")
        except Exception as exc:  # noqa: BLE001 - the test reports what the second request met
            results["client"] = exc

    def waiting_on_a_lock() -> bool:
        with get_engine().connect() as conn:
            return bool(conn.exec_driver_sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                             "AND query ILIKE 'INSERT INTO black_and_white_requests%%'").scalar())

    with Session(get_engine()) as studio_session:
        assert black_and_white.ask(studio_session, order_id, [photo_id], actor="studio") == [photo_id]
        studio_session.flush()                          # the row written, not committed
        second = threading.Thread(target=client)
        second.start()
        deadline = time.monotonic() + 30
        while not waiting_on_a_lock():                  # it did not see the row, and its INSERT waits for it
            assert second.is_alive() and time.monotonic() < deadline, results
            time.sleep(0.05)
        studio_session.commit()
    second.join(30)
    assert results["client"] == [], results            # nothing failed, and it does not count the photo as its own
    with transaction() as session:
        assert [(r.photo_id, r.actor) for r in black_and_white.of_order(session, order_id)] == [(photo_id, "studio")]
