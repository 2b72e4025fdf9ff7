"""`postline report` as the ops manager types it: one table, CSV and JSON as a spreadsheet or a script reads
them, and bad input refused with what to do."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from surfaces.cli import main
from tests.eventlog import record_october

OCTOBER = ["--since", "2026-10-01", "--until", "2026-10-31"]


@pytest.fixture
def record(home, tmp_path, monkeypatch):
    from config.line import get_line

    record_october(tmp_path, monkeypatch)
    yield
    get_line.cache_clear()


def test_csv_is_one_table_of_raw_numbers_with_titles(record, capsys):
    assert main(["report", *OCTOBER, "--by", "stage", "--format", "csv"]) == 0
    rows = {r["stage"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert list(rows) == ["Ingest", "Cull & grade", "Liquify & skin", "QC gate", "Delivery"]
    skin = rows["Liquify & skin"]
    assert (skin["finished"], skin["passes out"], skin["touch median (seconds)"], skin["rework rate (fraction)"]) == \
        ("5", "7", "2400.0", "0.2")                     # the units the screen's "40 min" and "20.0%" said


def test_json_names_stages_by_key(record, capsys):
    assert main(["report", *OCTOBER, "--by", "reason", "--format", "json"]) == 0
    rework = json.loads(capsys.readouterr().out)
    assert rework["rejections_by_stage"] == {"cull_grade": 2, "liquify_skin": 2} and rework["reasons_given"] == 5
    assert main(["report", *OCTOBER, "--format", "json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert whole["period"] == {"first_day": "2026-10-01", "last_day": "2026-10-31", "calendar_days": 31,
                               "working_days": 21}


def test_one_table_by_retoucher_and_by_client(record, capsys):
    assert main(["report", *OCTOBER, "--by", "retoucher"]) == 0
    out = capsys.readouterr().out
    rita = next(line for line in out.splitlines() if line.startswith("rita"))
    assert rita.split()[:5] == ["rita", "5", "4", "3", "1.67"] and "+66.7%" in rita and "Flow" not in out
    assert main(["report", *OCTOBER, "--by", "client"]) == 0
    assert "Anna & Ben" in capsys.readouterr().out
    assert main(["report", *OCTOBER, "--by", "client", "--client", "anna & ben"]) == 0     # any case: as recorded
    assert "Anna & Ben" in capsys.readouterr().out


def test_the_orders_and_the_forecast_as_one_table_each_for_a_spreadsheet(record, capsys):
    assert main(["report", *OCTOBER, "--by", "order", "--format", "csv"]) == 0
    orders = {r["client"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert list(orders) == ["Anna & Ben", "Chloe", "Eve"]
    assert (orders["Chloe"]["due"], orders["Chloe"]["delivered"], orders["Eve"]["working days"],
            orders["Eve"]["over promise"]) == ("2026-10-08", "2026-10-12", "30", "True")
    assert main(["report", *OCTOBER, "--by", "forecast", "--format", "csv"]) == 0
    forecast = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["client"] for r in forecast] == ["Finn", "Dan"] and forecast[1]["due"] == "2026-12-01"    # rush first
    assert main(["report", *OCTOBER, "--by", "order", "--format", "json"]) == 0
    assert [o["client"] for o in json.loads(capsys.readouterr().out)["delivered"]] == ["Anna & Ben", "Chloe", "Eve"]
    assert main(["report", *OCTOBER, "--by", "forecast"]) == 0
    table = capsys.readouterr().out
    assert "Forecast for open orders" in table and "Little's law" in table and "Flow" not in table


@pytest.mark.parametrize("args, message", [
    (["--stage", "nope"], "--stage nope: no such stage"),
    (["--format", "csv"], "CSV holds one table: choose it with --by"),
    (["--since", "2026-10-05", "--until", "2026-10-01"], "--until 2026-10-01 is before --since 2026-10-05"),
    (["--compare-since", "2025-10-01"], "give both --compare-since and --compare-until"),
    (["--client", "x" * 200], "--client: String should have at most 120 characters"),
    (["--client", "Anna and Ben"], "--client 'Anna and Ben': no order of a client of that name in the record (Anna"),
    (["--retoucher", "nobody"], "--retoucher 'nobody': nobody of that name works on the line or did any of its work"),
    (["--preset", "nonexist"], "--preset 'nonexist': no order in the record was graded with a preset of that name"),
])
def test_bad_input_is_a_usage_error_that_says_what_to_do(record, capsys, args, message):
    assert main(["report", *args]) == 2
    assert message in capsys.readouterr().err


def test_a_retoucher_not_found_is_told_the_people_not_postlines_own_run_ids(record, capsys):
    """`--retoucher nope` listed as people the ids of order runs and postline's own worker (who recorded moves)."""
    assert main(["report", "--retoucher", "nope"]) == 2
    said = capsys.readouterr().err
    listed = said[said.index("did any of its work (") + len("did any of its work ("):].rstrip().rstrip(")")
    assert listed and "rita" in listed, said
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", listed) and "postline-auto" not in listed, said


def test_a_period_ending_before_the_record_begins_is_that_day_not_a_period_running_backwards(record, capsys):
    assert main(["report", "--until", "2025-01-01", "--format", "json"]) == 0
    period = json.loads(capsys.readouterr().out)["period"]
    assert (period["first_day"], period["last_day"], period["calendar_days"]) == ("2025-01-01", "2025-01-01", 1)


def test_a_bad_holidays_file_names_its_line(record, tmp_path, monkeypatch, capsys):
    from config.settings import get_settings

    (tmp_path / "holidays.txt").write_text("2026-10-05\nChristmas\n")
    get_settings.cache_clear()
    assert main(["report"]) == 2
    assert "holidays.txt, line 2: 'Christmas' is not a date" in capsys.readouterr().err
    get_settings.cache_clear()


def test_a_weekend_has_no_working_day_to_forecast_with_though_photos_went_through_qc(record, capsys):
    """Two photos went through QC on Saturday 10 October; the report of that day said no photo went through QC."""
    from record.db import transaction
    from record.models import PhotoStatus, ShootType
    from tests.eventlog import Log

    with transaction() as session:
        log = Log(session)
        order = log.order("Ines", ShootType.PORTRAIT, "classic-portrait", "2026-10-09 08:00")
        for i in (1, 2):
            photo = log.photo(order, f"S{i}.dng", PhotoStatus.PASSED, "2026-10-09 08:00")
            log.gate(order, photo, 1, "2026-10-09 09:00", "2026-10-10 10:00")
    assert main(["report", "--since", "2026-10-10", "--until", "2026-10-10"]) == 0
    out = capsys.readouterr().out
    assert "no photo went through QC" not in out
    assert "the period has no working day (2 photos through QC on its days off)" in out


def test_a_delivery_on_a_day_off_after_its_due_date_is_late_by_less_than_a_working_day(record, capsys):
    """Ines's order, due Friday 9 October, was delivered on Saturday the 10th: it was listed as '0 working days
    late'."""
    from datetime import date

    from record.db import transaction
    from record.models import PhotoStatus, ShootType
    from tests.eventlog import Log

    with transaction() as session:
        log = Log(session)
        order = log.order("Ines", ShootType.PORTRAIT, "classic-portrait", "2026-10-07 08:00", due=date(2026, 10, 9))
        photo = log.photo(order, "S1.dng", PhotoStatus.DELIVERED, "2026-10-07 08:00")
        log.gate(order, photo, 1, "2026-10-07 09:00", "2026-10-10 09:00")
        log.deliver(order, photo, "2026-10-10 10:00")
    assert main(["report", *OCTOBER]) == 0
    out = capsys.readouterr().out
    late = next(line for line in out.splitlines() if line.startswith("Late against the due date"))
    assert f"order {order} (Ines, late on a day off)" in late, late
    assert not re.search(r"\b0 working d", out)
    ines = next(line for line in out.splitlines() if " Ines " in line and "2026-10-10" in line)
    assert "late on a day off" in ines, ines
