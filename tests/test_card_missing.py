"""A file that was on the card when the order was created and is gone when it runs (moved, deleted, a sub-folder
dragged elsewhere) is not silently left out: it is named, with what to do, the rest of the order is delivered, and
once it is back the order's next run takes it and makes the delivery again with it. The command line on the tests'
Prefect server, real SQLite, real files."""

from __future__ import annotations

import shutil
from pathlib import Path

from record.models import PhotoStatus
from tasks.synthetic import write_card
from tests.flowkit import Delivery, cli, cli_order, photos_by_name

GONE = "DSC_0003.dng"


def test_a_file_gone_from_the_card_since_the_order_was_made_is_named_and_taken_once_back(home_on_server, tmp_path):
    card = write_card(tmp_path / "card", 4, size=(300, 200))
    order_id = cli_order(card, client="Odile")
    aside = tmp_path / GONE
    shutil.move(card / GONE, aside)

    code, ran = cli("order", "run", str(order_id))
    assert code == 0, ran
    package = Path(ran.strip().splitlines()[-1])
    assert Delivery(package).delivered_sources() == {"DSC_0001.dng", "DSC_0002.dng", "DSC_0004.dng"}
    gone = photos_by_name(order_id)[GONE]
    assert gone.status is PhotoStatus.REJECTED
    assert gone.reason == (f"{GONE}: on the card folder when order {order_id} was created, not there now. Put it "
                           f"back in {card} (copy it from the card again), then run the order again: the run takes "
                           "it then.")
    code, status = cli("status", str(order_id))
    assert f"{GONE}: on the card folder when order {order_id} was created, not there now" in status

    code, again = cli("order", "run", str(order_id))         # still gone: nothing redone, still named
    assert code == 0 and Path(again.strip().splitlines()[-1]) == package
    assert len([p for p in photos_by_name(order_id).values() if p.source_name == GONE]) == 1

    shutil.move(aside, card / GONE)                            # back: the next run takes it
    code, back = cli("order", "run", str(order_id))
    assert code == 0, back
    assert Path(back.strip().splitlines()[-1]) == package
    assert Delivery(package).delivered_sources() == {"DSC_0001.dng", "DSC_0002.dng", GONE, "DSC_0004.dng"}
    assert Delivery(package).mismatches() == []
    assert photos_by_name(order_id)[GONE].status is PhotoStatus.DELIVERED



def test_a_card_put_away_after_the_order_ran_is_not_needed_by_a_later_run(home_on_server, tmp_path):
    card = write_card(tmp_path / "card", 3, size=(300, 200))
    order_id = cli_order(card, client="Odile")
    code, ran = cli("order", "run", str(order_id))
    assert code == 0, ran
    package = Path(ran.strip().splitlines()[-1])
    shutil.rmtree(card)                                         # the card wiped and shot on again
    code, said = cli("order", "revise", str(order_id), "--photo", "DSC_0002.dng:fine_retouch:less warm")
    assert code == 0, said
    code, again = cli("order", "run", str(order_id))           # the client's revision, from the archive
    assert code == 0, again
    revised = Path(again.strip().splitlines()[-1])
    assert revised == package.with_name("delivery-rev1")
    assert Delivery(revised).delivered_sources() == {"DSC_0001.dng", "DSC_0002.dng", "DSC_0003.dng"}
    assert Delivery(revised).mismatches() == []
    assert all(p.status is PhotoStatus.DELIVERED for p in photos_by_name(order_id).values())


def test_an_order_whose_card_is_not_there_at_its_first_run_says_so_and_reads_nothing(home_on_server, tmp_path):
    card = write_card(tmp_path / "card", 2, size=(300, 200))
    order_id = cli_order(card, client="Odile")
    shutil.move(card, tmp_path / "elsewhere")
    code, said = cli("order", "run", str(order_id))
    assert code != 0, said
    assert f"order {order_id} cannot run: its card folder {card} is not there" in said
    assert "Put it back there" in said and "Traceback" not in said
    assert photos_by_name(order_id) == {}
    shutil.move(tmp_path / "elsewhere", card)
    code, ran = cli("order", "run", str(order_id))
    assert code == 0, ran
    assert Delivery(Path(ran.strip().splitlines()[-1])).delivered_sources() == {"DSC_0001.dng", "DSC_0002.dng"}
