"""The command line as a lead uses it: help, creating orders, clear errors and exit codes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading

import pytest

from record import work
from record.models import Photo, PhotoStatus
from record.db import transaction
from surfaces.cli import main
from tasks.files import sha256_of
from tasks.synthetic import write_card


@pytest.fixture
def card(tmp_path):
    return write_card(tmp_path / "card", 1, size=(64, 48))


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "surfaces.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("order", "status", "report", "demo"):
        assert command in out


def test_order_create_prints_the_new_id_alone_on_the_last_line(home, card, capsys):
    assert main(["order", "create", "--client", "Anna & Ben", "--shoot", "wedding", "--from", str(card),
                 "--due", "2026-12-24"]) == 0
    first = capsys.readouterr().out.strip().splitlines()
    assert main(["order", "create", "--client", "Chloe", "--shoot", "children", "--from", str(card),
                 "--same-card"]) == 0
    second = capsys.readouterr().out.strip().splitlines()
    assert first[-1] == "1" and second[-1] == "2"
    assert main(["status"]) == 0
    listing = capsys.readouterr().out
    assert "Anna & Ben" in listing and "2026-12-24" in listing and "Chloe" in listing


def test_a_folder_with_no_photo_is_refused_at_create(home, tmp_path, capsys):
    """The wrong folder given (the card's MISC folder, a notes folder): it was taken as a card of one file, and the
    run then said nothing was delivered."""
    folder = tmp_path / "MISC"
    folder.mkdir()
    (folder / "info.txt").write_text("camera settings\n")
    code = main(["order", "create", "--client", "X", "--shoot", "portrait", "--from", str(folder)])
    assert code == 2
    assert (f"{folder}: no photo in this folder (1 file(s), none a camera RAW, JPEG or TIFF: info.txt); give the "
            "folder that holds the card's photos") in capsys.readouterr().err
    with transaction() as session:
        assert work.orders(session) == []


def test_missing_folder_is_a_clear_error(home, tmp_path, capsys):
    code = main(["order", "create", "--client", "X", "--shoot", "portrait", "--from", str(tmp_path / "nope")])
    assert code == 2
    assert "nope: no such folder" in capsys.readouterr().err
    one_file = tmp_path / "IMG_0001.dng"                 # a file given for the folder: it exists, it is no folder
    one_file.write_bytes(b"x")
    assert main(["order", "create", "--client", "X", "--shoot", "portrait", "--from", str(one_file)]) == 2
    assert "IMG_0001.dng: a file, not a folder; give the folder that holds the card's photos" in \
        capsys.readouterr().err


def test_a_gates_pending_list_of_an_order_that_does_not_exist_is_a_usage_error(home, capsys):
    """`qc pending 999` and `review pending 999` said 'Order 999: 0 photo(s) waiting.' and exit 0."""
    for gate in ("qc", "review"):
        assert main([gate, "pending", "999"]) == 2
        assert "no order 999; `postline status` lists the orders" in capsys.readouterr().err


def test_status_says_how_many_card_files_a_stopped_run_did_not_read(home, tmp_path, capsys):
    """A disk that filled during ingest stopped the run after 1 of 3 files: status said 'Photos: 1 in the line',
    and nothing of the 2 not read yet."""
    card = write_card(tmp_path / "card", 3, size=(32, 24))
    assert main(["order", "create", "--client", "Half Read", "--shoot", "portrait", "--from", str(card),
                 "--no-selection"]) == 0
    capsys.readouterr()
    with transaction() as session:
        first = sorted(card.iterdir())[0]
        work.add_photo(session, Photo(order_id=1, source_name=first.name, sha256=sha256_of(first), size_bytes=1,
                                      status=PhotoStatus.INGESTED), first_stage="cull_grade")
    assert main(["status", "1"]) == 0
    out = capsys.readouterr().out
    assert "Card: 2 of its 3 file(s) not read yet (its last run stopped first): `postline order run 1` reads them" \
        in out, out


def test_unknown_preset_lists_the_library(home, card, capsys):
    code = main(["order", "create", "--client", "X", "--shoot", "portrait", "--from", str(card), "--preset", "vintage"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no preset named 'vintage'" in err and "neutral" in err


def test_bad_date_and_bad_shoot_are_usage_errors(home, card, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["order", "create", "--client", "X", "--shoot", "portrait", "--from", str(card), "--due", "24/12"])
    assert exit_info.value.code == 2 and "use YYYY-MM-DD" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["order", "create", "--client", "X", "--shoot", "party", "--from", str(card)])


@pytest.mark.parametrize(("argv", "said"), [
    (["queue", "pull", "--as", "rita", "--lease", "-5"], "--lease: -5 minutes: give 1 to 10080"),   # lost at once
    (["queue", "pull", "--as", "rita", "--lease", "0"], "--lease: 0 minutes: give 1 to 10080"),     # meant 60
    (["queue", "extend", "4", "--as", "rita", "--lease", "999999999"], "--lease: 999999999 minutes"),  # year 3928
    (["report", "--until", "9999-12-31"], "--until: 9999-12-31: give a day from 1900 to 2999"),  # OverflowError
    (["web", "--port", "99999"], "--port: 99999 port: give 1 to 65535"),                          # OverflowError
])
def test_a_number_or_day_out_of_its_range_is_a_usage_error_not_nonsense_or_a_traceback(home, capsys, argv, said):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and said in capsys.readouterr().err


@pytest.mark.parametrize("client", ["", "   ", "x" * 5000])
def test_a_blank_or_endless_client_name_is_refused(home, card, capsys, client):
    """A blank name made files named `full/-0001.jpg` in the folder `client/`; a 5,000-character one padded every
    row of `postline status` to its width."""
    assert main(["order", "create", "--client", client, "--shoot", "portrait", "--from", str(card)]) == 2
    assert "give the client's name, 1 to 120 characters" in capsys.readouterr().err
    with transaction() as session:
        assert work.orders(session) == []


def test_the_list_of_orders_counts_photos_not_the_cards_refused_files_and_copies(home, capsys):
    """It said 242 photos of an order with 235: its 5 refused files and 2 copies counted."""
    from record.models import ShootType

    with transaction() as session:
        order = work.create_order(session, client="Count", shoot=ShootType.WEDDING, preset_name="neutral",
                                  preset_version=1, preset_hash="x", preset_json="{}", due=None, card_folder="/card")
        for n, status in enumerate([PhotoStatus.INGESTED, PhotoStatus.DELIVERED, PhotoStatus.REJECTED,
                                    PhotoStatus.DUPLICATE]):
            session.add(Photo(order_id=order.id, source_name=f"F{n}.dng", sha256=f"{n:064x}", size_bytes=1,
                              status=status))
    assert main(["status"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "Count" in line)
    assert row.split()[-3] == "2", row


@pytest.mark.parametrize(("chart", "said"), [("/etc/passwd", "is not on the card"), ("../x.dng", "is not on the card"),
                                             ("nope.dng", "no such file")])
def test_a_chart_not_on_the_card_is_refused_saying_so(home, card, capsys, chart, said):
    """`--chart /etc/passwd` said "no such file" of a file that exists: it is not on the card."""
    assert main(["order", "create", "--client", "X", "--shoot", "portrait", "--from", str(card), "--chart", chart]) == 2
    assert f"--chart {chart}: {said} in {card}" in capsys.readouterr().err


def test_running_an_unknown_order_says_so(home, capsys):
    assert main(["order", "run", "42"]) == 2
    assert "no order 42" in capsys.readouterr().err


def test_report_on_an_empty_record(home, capsys):
    assert main(["report", "--since", "2026-01-01"]) == 0
    out = capsys.readouterr().out
    assert "Cull & grade" in out and "people passes/touch h" in out and "Late against the due date: none." in out


@pytest.mark.parametrize("waiting_on, waiting, command", [
    ("original_review", "the review of the originals (the senior photographer)", "`postline review pending 1`, then "
     "`postline review decide 1 --accept-suggestions`"),
    ("qc_gate", "the QC gate (the QC lead's review)", "`postline qc pending 1`, then `postline qc decide 1 --approve-all`"),
    ("liquify_skin", "Liquify & skin (retouchers)", "`postline queue pull --stage liquify_skin --as NAME`, then "
     "`postline queue submit ITEM FILE --as NAME`"),
])
def test_status_names_the_next_command_for_each_wait(home, card, capsys, waiting_on, waiting, command):
    from record import work
    from record.db import transaction

    assert main(["order", "create", "--client", "Anna & Ben", "--shoot", "wedding", "--from", str(card)]) == 0
    with transaction() as session:                   # what the order's run records when it pauses there
        order = work.get_order(session, 1)
        order.waiting_on = waiting_on
        session.add(order)
    capsys.readouterr()
    assert main(["status", "1"]) == 0
    out = capsys.readouterr().out
    assert f"Waiting on: {waiting}\n" in out and "Next: " in out and command in out.split("Next: ")[1]


def test_the_same_card_made_an_order_twice_is_refused_and_a_new_card_in_the_same_reader_is_not(home, tmp_path,
                                                                                             capsys):
    """The same `order create` run twice (or the card copied to a second folder) made two orders of one shoot, and
    both were delivered. A card whose files are an earlier order's is refused, naming it, unless --same-card; the
    next shoot's card in the same reader folder is another card."""
    reader = tmp_path / "reader"
    write_card(reader, 2, size=(64, 48))
    create = ["order", "create", "--client", "Anna & Ben", "--shoot", "wedding", "--no-selection", "--from"]
    assert main([*create, str(reader)]) == 0
    capsys.readouterr()
    assert main([*create, str(reader)]) == 2
    err = capsys.readouterr().err
    assert f"{reader}: these are the files of order 1, Anna & Ben, made " in err and "from this folder" in err
    assert "`postline order run 1` runs it; nothing was recorded" in err and "add --same-card" in err
    copy = tmp_path / "copied"
    shutil.copytree(reader, copy)                                    # the card copied twice
    assert main([*create, str(copy)]) == 2
    assert f"from {reader}: the same card" in capsys.readouterr().err
    with transaction() as session:
        assert [o.id for o in work.orders(session)] == [1]               # nothing recorded by the refusals
    assert main([*create, str(copy), "--same-card"]) == 0           # meant: another order of the same files
    assert capsys.readouterr().out.strip().splitlines()[-1] == "2"
    shutil.rmtree(reader)
    write_card(reader, 3, size=(64, 48))                             # the next shoot's card, same reader
    assert main([*create, str(reader)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "3"
    with transaction() as session:                          # orders 1 and 2 ingested: their photos' sizes known
        for order_id in (1, 2):
            for path in sorted(copy.iterdir()):
                work.add_photo(session, Photo(order_id=order_id, source_name=path.name, sha256=sha256_of(path),
                                              size_bytes=path.stat().st_size, status=PhotoStatus.INGESTED),
                               first_stage="cull_grade")
    alike = tmp_path / "alike"            # uncompressed RAW files all of one size: the same names and sizes, other
    write_card(alike, 2, size=(64, 48), first_seed=900)              # pictures (it was refused as the same card)
    assert sorted((p.name, p.stat().st_size) for p in alike.iterdir()) == \
        sorted((p.name, p.stat().st_size) for p in copy.iterdir())
    assert main([*create, str(alike)]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip().splitlines()[-1] == "4"
    assert main([*create, str(copy)]) == 2                           # the same files: still refused
    capsys.readouterr()
    with transaction() as session:                                   # order 4 ingested too
        for path in sorted(alike.iterdir()):
            work.add_photo(session, Photo(order_id=4, source_name=path.name, sha256=sha256_of(path),
                                          size_bytes=path.stat().st_size, status=PhotoStatus.INGESTED),
                           first_stage="cull_grade")
    formatted = tmp_path / "formatted"                               # numbering started again: the same names,
    write_card(formatted, 2, size=(96, 64))                          # other files (other sizes)
    assert main([*create, str(formatted)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "5"


def test_another_card_with_the_same_names_is_not_refused_before_the_first_order_has_run(home, tmp_path, capsys):
    """Two cameras' cards, numbered alike, made orders before either ran: the second was refused as "the same
    card" (no photo recorded yet, the names alone were compared); their files are compared instead."""
    create = ["order", "create", "--client", "Anna & Ben", "--shoot", "wedding", "--no-selection", "--from"]
    first, second = tmp_path / "k1", tmp_path / "k2"
    write_card(first, 3, size=(64, 48))
    write_card(second, 3, size=(64, 48), first_seed=500)            # the same names and sizes, other pictures
    assert sorted((p.name, p.stat().st_size) for p in first.iterdir()) == \
        sorted((p.name, p.stat().st_size) for p in second.iterdir())
    for card in (first, second):
        os.mkfifo(card / "zz-pipe.dng")               # never opened: reading a pipe waits for a writer, for good
    assert main([*create, str(first)]) == 0
    capsys.readouterr()
    done: list[int] = []
    creating = threading.Thread(target=lambda: done.append(main([*create, str(second)])), daemon=True)
    creating.start()
    creating.join(timeout=60)
    assert done == [0], ("order create hung on the pipe" if not done else capsys.readouterr().err)
    assert capsys.readouterr().out.strip().splitlines()[-1] == "2"
    copy = tmp_path / "copied"
    shutil.copytree(first, copy, ignore=shutil.ignore_patterns("zz-pipe.dng"))     # the first card copied: still
    os.mkfifo(copy / "zz-pipe.dng")                                                  # the same card
    assert main([*create, str(copy)]) == 2
    assert "these are the files of order 1, Anna & Ben, made " in capsys.readouterr().err


from tests.pg import postgres_url  # noqa: E402,F401  (the session's PostgreSQL)
from tests.test_queue import record  # noqa: E402,F401  (an empty record on SQLite or PostgreSQL)


def test_two_creates_of_the_same_card_at_the_same_moment_make_one_order(record, tmp_path):
    """Two people (or one double-click) making an order of the same card at once: on PostgreSQL both checked
    before either had recorded, and both orders were made. One order is made; the other is refused."""
    import threading

    from surfaces.actions.orders import CardError, create_order

    for attempt in range(4):
        card = write_card(tmp_path / f"card-{attempt}", 6, size=(32, 24), first_number=attempt * 10 + 1)
        start, outcomes = threading.Barrier(2), []

        def create() -> None:
            start.wait()
            try:
                outcomes.append(create_order(client=f"Shoot {attempt}", shoot="wedding", card=card,
                                             preset_name=None, due=None).id)
            except CardError:
                outcomes.append("refused")
        threads = [threading.Thread(target=create) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes, key=str).count("refused") == 1, (attempt, outcomes)


def test_an_order_made_a_rush_goes_first_in_the_queues_and_a_due_date_can_change(home, tmp_path, capsys):
    """The queues serve rush orders first, then by due date, and the report's forecast has a rush column; nothing
    could make an order a rush (order create refused --rush)."""
    from record import queue
    from tests.test_queue import SKIN, add_people, make_items, make_order

    with transaction() as session:
        first, second = make_order(session, client="First"), make_order(session, client="Second")
        make_items(session, first, 2)
        make_items(session, second, 2)
        add_people(session, "ana")
    assert queue.claim(person="ana", stages=[SKIN]).order_id == first.id
    assert main(["order", "rush", str(second.id)]) == 0
    assert capsys.readouterr().out.strip() == (f"Order {second.id}: rush, no due date. Its 2 photo(s) waiting in the "
                                               "queues are served before every order that is not a rush.")
    assert queue.claim(person="ana", stages=[SKIN]).order_id == second.id
    assert main(["order", "rush", str(second.id), "--off"]) == 0
    assert main(["order", "due", str(first.id), "2026-12-24"]) == 0
    assert f"Order {first.id}: not a rush, due 2026-12-24. Its 1 photo(s)" in capsys.readouterr().out
    assert queue.claim(person="ana", stages=[SKIN]).order_id == first.id           # a due date before none
    assert main(["order", "due", "99", "none"]) == 2

    card = write_card(tmp_path / "card", 1, size=(32, 24))
    assert main(["order", "create", "--client", "Urgent", "--shoot", "portrait", "--from", str(card), "--rush"]) == 0
    with transaction() as session:
        assert work.get_order(session, int(capsys.readouterr().out.strip().splitlines()[-1])).rush


def test_commands_that_need_no_run_do_not_load_prefect():
    """Every command loaded Prefect (and the line's tasks) first: 5-7 s before `postline --help`, `status` or
    `queue stages` said anything. Listing commands, the record's status and the queues do without it."""
    for argv in (["--help"], ["status"], ["queue", "stages"], ["report", "--format", "json"]):
        probe = (f"import sys\nfrom surfaces.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
                 "print('PREFECT' if 'prefect' in sys.modules else 'NONE', file=sys.stderr)")
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
        assert done.stderr.strip().splitlines()[-1] == "NONE", (argv, done.stderr[-2000:])


def test_the_status_of_one_order_does_not_load_prefect(home, card, capsys):
    """`postline status N` loaded Prefect to say what the order holds on disk: 5-6 s a call, 12-20 s while
    orders ran; 2-3 s without."""
    assert main(["order", "create", "--client", "Anna", "--shoot", "portrait", "--from", str(card)]) == 0
    order_id = capsys.readouterr().out.strip().splitlines()[-1]
    probe = (f"import sys\nfrom surfaces.cli import main\nmain(['status', '{order_id}'])\n"
             "print('PREFECT' if 'prefect' in sys.modules else 'NONE', file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert "Disk: " in done.stdout and done.stderr.strip().splitlines()[-1] == "NONE", done.stderr[-2000:]


def test_status_says_an_open_order_past_its_due_date_is_late(home, capsys):
    """The list said nothing of an order still in the line two weeks after its due date."""
    from datetime import timedelta

    from record.models import OrderStatus, utcnow
    from tests.test_queue import make_order

    today = utcnow().date()
    with transaction() as session:
        late = make_order(session, client="Late", due=today - timedelta(days=14))
        make_order(session, client="Fine", due=today + timedelta(days=3))
        done = make_order(session, client="Done", due=today - timedelta(days=14))
        done.status = OrderStatus.DELIVERED
    assert main(["status"]) == 0
    rows = {line.split()[1]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert f"{today - timedelta(days=14)} LATE " in rows["Late"] and " wd" in rows["Late"]
    assert "LATE" not in rows["Fine"] and "LATE" not in rows["Done"]
    assert main(["status", str(late.id)]) == 0
    assert "LATE" in capsys.readouterr().out.splitlines()[0]
