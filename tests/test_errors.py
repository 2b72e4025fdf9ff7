"""One tree of errors (config/errors.py), mapped in one place by each surface: the command line's exit codes
(surfaces/cli/errors.py) and the web page's HTTP statuses (surfaces/web_errors.py). Every error postline
defines has its kind, and so its exit code and status; a new one that fits no kind fails here."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import config
import flows
import presets
import qc
import record
import surfaces
import tasks
from config.errors import PostlineError
from surfaces.cli import main
from surfaces.cli.errors import exit_code
from surfaces.web_errors import status_of
from tests.test_web import client_for, csrf, line, seed_order  # noqa: F401 - `line` is a fixture

# (module, error) -> (exit code, HTTP status): what a person sees for each of postline's errors
EXPECTED = {
    # not there: a usage error, "no such page"
    ("config.errors", "NotFound"): (2, 404), ("record.queue", "NoSuchItem"): (2, 404),
    ("record.people", "UnknownPerson"): (2, 404),
    # a value that does not fit
    ("config.errors", "Invalid"): (2, 422), ("config.line", "LineFileError"): (2, 500),   # the server's file
    ("presets.model", "PresetError"): (2, 422), ("presets.recipe", "RecipeError"): (2, 422),
    ("tasks.inputs", "NotReady"): (2, 422),
    ("surfaces.actions.delivery", "NotDeliveredYet"): (2, 422), ("record.people", "PeopleError"): (2, 422),
    ("record.rounds", "RevisionError"): (2, 422), ("record.rounds", "RetryError"): (2, 422),
    ("record.rounds", "HeldError"): (2, 422), ("record.db", "RecordUnreachable"): (1, 503),
    ("record.db", "RecordMigrationFailed"): (1, 503),
    ("qc.gates", "DecisionError"): (2, 422),
    ("qc.gates", "NotTakenNow"): (2, 422),
    ("surfaces.cli.errors", "CliError"): (2, 422), ("surfaces.actions.orders", "CardError"): (2, 422),
    ("surfaces.actions.cameras", "ClockError"): (2, 422), ("tasks.ingest", "CopiedWrongFile"): (2, 422),
    ("tasks.pixels.contract", "ParamsError"): (2, 422), ("tasks.pixels.layout", "LayoutError"): (2, 422),
    ("surfaces.web_upload", "TooLarge"): (2, 413), ("surfaces.web_upload", "BadForm"): (2, 400),
    # not this person's to do
    ("config.errors", "Forbidden"): (1, 403), ("record.errors", "NoSkill"): (1, 403),
    ("record.queue", "NotYourClaim"): (1, 403), ("surfaces.actions.queue", "NotPeoplesStage"): (1, 403),
    ("surfaces.actions.queue", "NotOnTheLine"): (1, 403), ("surfaces.web_views", "Forbidden"): (1, 403),
    # cannot be done now
    ("config.errors", "Refused"): (1, 409), ("record.errors", "QueueError"): (1, 409),
    ("record.moves", "IllegalMove"): (1, 409), ("record.moves", "StaleMove"): (1, 409),
    ("record.runs", "OrderRunLive"): (1, 409), ("record.runs", "NotTheHolder"): (1, 409),
    ("flows.waiting", "WaitedTooLong"): (1, 409),
    ("tasks.runs", "LineChangeRefused"): (1, 409), ("qc.results", "WorkingFileUnreadable"): (1, 409),
    ("record.schema", "RecordTooNew"): (1, 409), ("tasks.ingest", "CopyAgainFailed"): (1, 409),
    # will not work as it is
    ("config.errors", "Permanent"): (1, 422), ("qc.results", "ResultRefused"): (1, 422),
    ("tasks.errors", "PhotoError"): (1, 422), ("tasks.deliver", "NothingDelivered"): (1, 422),
    ("tasks.files", "NotRegularFile"): (1, 422), ("tasks.pixels.colourchecker", "ChartNotFound"): (1, 422),
    ("tasks.pixels.calibrate", "ChartRejected"): (1, 422), ("tasks.pixels.metadata", "UnreadablePhoto"): (1, 422),
    ("tasks.pixels.lut", "LutError"): (1, 422), ("tasks.deliver_render", "MasterGone"): (1, 422),
    ("tasks.runners", "ClusterUnfit"): (1, 422),
    # the machine: try again
    ("config.errors", "Retryable"): (1, 503), ("tasks.errors", "OutOfSpace"): (1, 503),
    ("tasks.errors", "NoPermission"): (1, 503), ("tasks.errors", "DiskError"): (1, 503),
    ("tasks.errors", "RecordUnavailable"): (1, 503), ("tasks.handoff", "WakeError"): (1, 503),
    # the client's links (record/links.py) and e-mail (tasks/mail.py)
    ("record.links", "LinkRefused"): (1, 409), ("record.links", "UnknownLink"): (2, 404),
    ("record.links", "LinkExpired"): (1, 410), ("record.links", "LinkRevoked"): (1, 410),
    ("record.links", "PinNeeded"): (1, 401), ("record.links", "WrongPin"): (1, 403),
    ("record.links", "PinLocked"): (1, 429), ("record.links", "BadPin"): (2, 422),
    ("config.secret", "BadSecret"): (1, 422), ("tasks.mail", "MailNotSet"): (2, 422),
    ("tasks.mail", "MailFailed"): (1, 503),
}


def _every_error() -> dict[tuple[str, str], type[PostlineError]]:
    """Every subclass of PostlineError the application defines (all its modules imported)."""
    for package in (config, record, tasks, qc, flows, presets, surfaces):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not module.name.endswith("__main__"):          # `python -m surfaces.cli` runs the command line
                importlib.import_module(module.name)
    found, todo = {}, [PostlineError]
    while todo:
        for kind in todo.pop().__subclasses__():
            if not kind.__module__.startswith("tests"):
                found[(kind.__module__, kind.__name__)] = kind
            todo.append(kind)
    return found


def test_every_error_of_postline_has_its_exit_code_and_http_status():
    found = _every_error()
    assert set(found) == set(EXPECTED), "an error was added or removed: give it its kind (config/errors.py)"
    seen = {key: (exit_code(kind.__new__(kind)), status_of(kind.__new__(kind))) for key, kind in found.items()}
    assert seen == EXPECTED


def test_the_command_line_says_an_unknown_work_item_as_a_usage_error(home, tmp_path, capsys):
    result = tmp_path / "edit.tif"
    result.write_bytes(b"II*\x00")
    assert main(["queue", "submit", "9999", str(result), "--as", "ana"]) == 2
    assert capsys.readouterr().err == ("error: there is no work item 9999; `postline queue mine --as NAME` lists "
                                       "your claims\n")


def test_the_web_page_answers_each_kind_with_its_status(line):
    item_id = seed_order(Path(line))[0]
    rita = client_for("rita")
    token = csrf(rita.get("/").text)
    claimed = rita.post("/claim", data={"stage": "liquify_skin", "csrf": token}, follow_redirects=False)
    assert claimed.status_code == 303 and claimed.headers["location"] == f"/items/{item_id}"
    sam = client_for("sam")
    token = csrf(sam.get("/").text)
    theirs = sam.post(f"/items/{item_id}/release", data={"csrf": token})
    assert theirs.status_code == 403 and "claimed by rita, not by you" in theirs.text             # Forbidden
    assert sam.post("/items/424242/release", data={"csrf": token}).status_code == 404            # NotFound
    automatic = sam.post("/claim", data={"stage": "cull_grade", "csrf": token})
    assert automatic.status_code == 403 and "not worked by people" in automatic.text              # Forbidden
    assert rita.post(f"/items/{item_id}/release", data={"csrf": csrf(rita.get('/').text)},
                     follow_redirects=False).status_code == 303
    again = rita.post(f"/items/{item_id}/extend", data={"csrf": csrf(rita.get('/').text)})
    assert again.status_code == 403 and "not claimed by you" in again.text                       # Forbidden


@pytest.mark.parametrize("kind", sorted({k for k in EXPECTED}))
def test_each_kind_keeps_the_built_in_exception_callers_catch(kind):
    error = _every_error()[kind]
    code, status = EXPECTED[kind]
    if code == 2:
        assert issubclass(error, ValueError)          # Invalid and NotFound were ValueError / LookupError
    if status in (403, 409):
        assert issubclass(error, RuntimeError)        # Refused: RuntimeError, as StaleMove and OrderRunLive were
