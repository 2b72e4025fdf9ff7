"""Retouchers and leads: names, skills, roles and passwords that are never stored as given."""

from __future__ import annotations

import io

import pytest
from sqlmodel import select

from record import people
from record.db import transaction
from record.models import Person, PersonRole
from surfaces.cli import main

STAGES = ["cull_grade", "liquify_skin", "fine_retouch", "design_layout"]


def test_a_password_is_kept_only_as_a_salted_scrypt_hash():
    first, second = people.hash_password("correct horse"), people.hash_password("correct horse")
    assert first.startswith("scrypt$") and "correct horse" not in first
    assert first != second                                     # a salt of its own each time
    assert people.verify_password(first, "correct horse") and people.verify_password(second, "correct horse")
    assert not people.verify_password(first, "correct horsE")
    assert not people.verify_password(None, "correct horse") and not people.verify_password("garbage", "x")
    with pytest.raises(people.PeopleError, match="too short: use at least 10"):
        people.hash_password("short")


def test_people_sign_in_only_with_their_own_password(home):
    with transaction() as session:
        ana = people.add_person(session, name="ana", role="retoucher", skills="liquify_skin, fine_retouch",
                                password="ana's long secret", known_skills=STAGES)
        people.add_person(session, name="lea", role=PersonRole.LEAD, skills=[], password=None)
        assert people.skills_of(ana) == ["liquify_skin", "fine_retouch"]
    with transaction() as session:
        assert people.authenticate(session, name="ana", password="ana's long secret").name == "ana"
        assert people.authenticate(session, name="ana", password="lea's long secret") is None
        assert people.authenticate(session, name="lea", password="") is None        # no password: no sign-in
        assert people.authenticate(session, name="eve", password="anything at all") is None
        stored = session.exec(select(Person.password_hash).where(Person.name == "ana")).one()
        assert "secret" not in stored


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="Ana Maria"), "not a usable name"),
    (dict(role="boss"), "role 'boss' is not one of retoucher, lead"),
    (dict(skills="liquify_skin,skin_magic"), "unknown skill\\(s\\) skin_magic; the line's stages need cull_grade"),
    (dict(password="1234"), "too short"),
])
def test_bad_people_are_refused_with_the_reason(home, kwargs, message):
    args = dict(name="ana", role="retoucher", skills="liquify_skin", password="a long enough one",
                known_skills=STAGES) | kwargs
    with pytest.raises(people.PeopleError, match=message):
        with transaction() as session:
            people.add_person(session, **args)


def test_names_are_unique(home):
    with transaction() as session:
        people.add_person(session, name="ana", role="retoucher", skills="", password=None)
    with pytest.raises(people.PeopleError, match="already a person called 'ana'"):
        with transaction() as session:
            people.add_person(session, name="ana", role="lead", skills="", password=None)


def test_cli_adds_people_with_a_password_from_stdin_and_lists_them(home, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("ana's long secret\n"))
    assert main(["people", "add", "ana", "--role", "retoucher", "--skills", "liquify_skin,fine_retouch",
                 "--display-name", "Ana K.", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("another long secret\n"))
    assert main(["people", "add", "bob", "--role", "retoucher", "--skills", "skin", "--password-stdin"]) == 2
    assert "unknown skill(s) skin" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(""))   # not a terminal, no --password-stdin: refuse, never default
    assert main(["people", "add", "cy", "--role", "lead"]) == 2
    assert "--password-stdin" in capsys.readouterr().err
    assert main(["people", "list"]) == 0
    out = capsys.readouterr().out
    assert "Ana K." in out and "liquify_skin, fine_retouch" in out and "bob" not in out and "secret" not in out
    with transaction() as session:
        assert people.authenticate(session, name="ana", password="ana's long secret") is not None


def test_cli_changes_skills_and_passwords(home, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("ana's long secret\n"))
    assert main(["people", "add", "ana", "--role", "retoucher", "--skills", "liquify_skin", "--password-stdin"]) == 0
    assert main(["people", "skills", "ana", "fine_retouch,design_layout"]) == 0
    assert main(["people", "skills", "ana", "retouch"]) == 2
    assert main(["people", "skills", "zoe", "fine_retouch"]) == 2
    monkeypatch.setattr("sys.stdin", io.StringIO("ana's new long secret\n"))
    assert main(["people", "password", "ana", "--password-stdin"]) == 0
    with transaction() as session:
        assert people.skills_named(session, "ana") == ["fine_retouch", "design_layout"]
        assert people.authenticate(session, name="ana", password="ana's long secret") is None
        assert people.authenticate(session, name="ana", password="ana's new long secret") is not None
