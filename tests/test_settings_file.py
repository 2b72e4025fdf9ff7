"""Every setting a studio writes in `postline.env` (the README's way of setting a machine up) is read, not only the
ones of config/settings.py: the web page's, the signing secret's, the links' and the mail's too."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from config.links import LinkSettings
from config.mail import MailSettings
from config.secret import SecretSettings
from config.settings import SETTINGS_FILE, PostlineSettings
from surfaces.web_session import WebSettings

SECRET = "s" * 40
LINES = {
    "POSTLINE_STUDIO_NAME": "Studio From The File",
    "POSTLINE_WEB_SECURE_COOKIE": "true",
    "POSTLINE_WEB_SESSION_HOURS": "2",
    "POSTLINE_WEB_SECRET": SECRET,
    "POSTLINE_GALLERY_DAYS": "9",
    "POSTLINE_SMTP_PORT": "2526",
}


@pytest.fixture
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in LINES:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / SETTINGS_FILE).write_text("".join(f"{k}={v}\n" for k, v in LINES.items()))
    monkeypatch.chdir(tmp_path)
    return tmp_path / SETTINGS_FILE


def test_the_settings_file_sets_the_web_page_the_secret_the_links_and_the_mail(settings_file):
    web = WebSettings()
    assert (web.secure_cookie, web.session_hours, web.secret) == (True, 2.0, SECRET)
    assert SecretSettings().secret == SECRET
    assert LinkSettings().gallery_days == 9
    assert MailSettings().port == 2526
    assert PostlineSettings().studio_name == "Studio From The File"


def test_the_environment_wins_over_the_file(settings_file, monkeypatch):
    monkeypatch.setenv("POSTLINE_WEB_SESSION_HOURS", "5")
    assert WebSettings().session_hours == 5.0


def test_no_settings_class_forgets_the_file():
    """A settings class added later reads the file too (each of postline's, found among BaseSettings' subclasses)."""
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    ours = [c for c in subclasses(BaseSettings) if c.__module__.split(".")[0] in {"config", "surfaces", "record",
                                                                                  "tasks", "flows", "qc"}]
    assert {c.__name__ for c in ours} >= {"PostlineSettings", "WebSettings", "SecretSettings", "LinkSettings",
                                          "MailSettings"}
    assert [c.__name__ for c in ours if c.model_config.get("env_file") != SETTINGS_FILE] == []


def test_a_wrong_smtp_setting_is_named_as_written_and_makes_no_link(home, monkeypatch, tmp_path):
    """`postline gallery N --email ...` with POSTLINE_SMTP_SECURITY=ssl: the variable is named with what it takes,
    and no link is left behind without its address printed (each retry made another live link)."""
    from pydantic import ValidationError

    from record.db import transaction
    from record.models import ClientLink, LinkPurpose
    from sqlmodel import select
    from surfaces.actions.client import make_link
    from surfaces.actions.orders import create_order
    from surfaces.cli.errors import message
    from tasks.synthetic import write_card

    order = create_order(client="Lena", shoot="wedding", card=write_card(tmp_path / "card", 1, size=(64, 48)),
                         preset_name=None, due=None)
    monkeypatch.setenv("POSTLINE_SMTP_SECURITY", "ssl")
    with pytest.raises(ValidationError) as raised:
        make_link(order_id=order.id, purpose=LinkPurpose.GALLERY, email="anna@example.com")
    said = message(raised.value)
    assert said.startswith("POSTLINE_SMTP_SECURITY = 'ssl': String should match pattern")
    assert said.endswith("(set in the environment or postline.env)")
    with transaction() as session:
        assert session.exec(select(ClientLink)).all() == []


def test_a_wrong_setting_never_shows_a_password(monkeypatch):
    """A check of several settings together printed every one of them, the SMTP password and the database URL's
    password in clear (`POSTLINE_SMTP_ = {'host': ..., 'password': 'hunter2secret'}: Value error, ...`). Its
    sentence is said alone; a wrong value of a secret is not shown, nor a URL's password."""
    from pydantic import ValidationError

    from surfaces.cli.errors import message

    monkeypatch.setenv("POSTLINE_SMTP_HOST", "mail.example")
    monkeypatch.setenv("POSTLINE_SMTP_USER", "me")
    monkeypatch.setenv("POSTLINE_SMTP_PASSWORD", "hunter2secret")
    with pytest.raises(ValidationError) as raised:
        MailSettings()
    said = message(raised.value)
    assert "hunter2secret" not in said and "POSTLINE_SMTP_SENDER" in said and "{" not in said, said
    assert not said.startswith("POSTLINE_SMTP_ =") and "Value error" not in said, said

    monkeypatch.setenv("POSTLINE_DATABASE_URL", "postgresql+psycopg://postline:DBPASSWORD@db.studio/postline")
    monkeypatch.setenv("POSTLINE_RUN_LEASE_SECONDS", "10")
    with pytest.raises(ValidationError) as raised:
        PostlineSettings()
    said = message(raised.value)
    assert "DBPASSWORD" not in said and "POSTLINE_RUN_HEARTBEAT_SECONDS" in said and "{" not in said, said

    monkeypatch.setenv("POSTLINE_RUN_LEASE_SECONDS", "120")
    monkeypatch.setenv("POSTLINE_DATABASE_URL", "mysql://postline:DBPASSWORD@db.studio/postline")
    with pytest.raises(ValidationError) as raised:       # refused when it is read, not a driver's traceback later
        PostlineSettings()
    said = message(raised.value)
    assert "DBPASSWORD" not in said and said.startswith("POSTLINE_DATABASE_URL = 'mysql://postline:***@db.studio")
    for odd in ("mysql://bob:s3@cr3t@db/x", "mysql://bob:s3/cr3t@db/x", "oracle://bob:s3:cr3t@db/x"):
        monkeypatch.setenv("POSTLINE_DATABASE_URL", odd)        # a password holding '@', '/' or ':'
        with pytest.raises(ValidationError) as raised:
            PostlineSettings()
        assert "cr3t" not in message(raised.value) and "bob:***@db/x" in message(raised.value), message(raised.value)
    assert "the production record is SQLite (sqlite:////path/to/postline.db) or PostgreSQL" in said


def test_a_plain_postgresql_url_is_taken_and_an_empty_setting_is_its_default(monkeypatch, tmp_path):
    """POSTLINE_DATABASE_URL=postgresql://... (what PostgreSQL's tools give) failed with `No module named
    'psycopg2'`; POSTLINE_HOME= made a record in the working folder."""
    monkeypatch.setenv("POSTLINE_DATABASE_URL", "postgresql://postline:pw@db.studio/postline")
    assert PostlineSettings().database_url == "postgresql+psycopg://postline:pw@db.studio/postline"
    monkeypatch.setenv("POSTLINE_SMTP_PORT", "")                # every settings class alike
    assert MailSettings().port == 587
    monkeypatch.setenv("POSTLINE_DATABASE_URL", "")
    monkeypatch.setenv("POSTLINE_HOME", "")
    monkeypatch.chdir(tmp_path)
    settings = PostlineSettings()
    assert settings.database_url is None and settings.home == (Path.home() / "postline").resolve()


def test_a_misspelt_placeholder_in_the_copyright_line_is_refused(monkeypatch):
    """POSTLINE_STUDIO_COPYRIGHT="© {yaer} {Studio}" was written as it is into every delivered file's EXIF."""
    from pydantic import ValidationError

    from surfaces.cli.errors import message

    monkeypatch.setenv("POSTLINE_STUDIO_COPYRIGHT", "© {yaer} {Studio}")
    with pytest.raises(ValidationError) as raised:
        PostlineSettings()
    assert message(raised.value).startswith("POSTLINE_STUDIO_COPYRIGHT = '© {yaer} {Studio}': unknown placeholder "
                                            "{Studio}, {yaer}: the copyright line takes {year}")
    monkeypatch.setenv("POSTLINE_STUDIO_COPYRIGHT", "© {year} {studio}, all rights reserved")
    assert PostlineSettings().copyright_for(2026).startswith("© 2026 ")


def test_a_misspelt_setting_is_warned_of_not_ignored_without_a_word(monkeypatch, tmp_path, capsys):
    """POSTLINE_RETENTION_YEAR=3 (the setting is YEARS) was ignored without a word; another tool's POSTLINE_
    variable like no setting is left alone."""
    from surfaces.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "postline.env").write_text("POSTLINE_REVISON_WINDOW_DAYS=60\n")
    monkeypatch.setenv("POSTLINE_RETENTION_YEAR", "3")
    monkeypatch.setenv("POSTLINE_BACKUP_TARGET", "s3://studio")
    monkeypatch.setenv("POSTLINE_HOME", str(tmp_path / "home"))
    assert main(["status"]) == 0
    said = capsys.readouterr().err.splitlines()
    assert said == ["warning: POSTLINE_RETENTION_YEAR is not a postline setting and is ignored: did you mean "
                    "POSTLINE_RETENTION_YEARS?",
                    "warning: POSTLINE_REVISON_WINDOW_DAYS is not a postline setting and is ignored: did you mean "
                    "POSTLINE_REVISION_WINDOW_DAYS?"], said


def test_a_misspelt_record_setting_stops_the_command_before_it_starts_a_record_of_its_own(monkeypatch, tmp_path,
                                                                                          capsys):
    """POSTLINE_DATABSE_URL in a studio machine's postline.env was warned of, and postline went on with a new empty
    SQLite record: `status` said 'No orders yet', and orders made there were in no one else's record."""
    from surfaces.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POSTLINE_DATABASE_URL", raising=False)
    monkeypatch.setenv("POSTLINE_HOME", str(tmp_path / "home"))
    (tmp_path / "postline.env").write_text("POSTLINE_DATABSE_URL=postgresql+psycopg://postline@db/postline\n")
    assert main(["status"]) == 2
    said = capsys.readouterr().err
    assert said.startswith("error: POSTLINE_DATABSE_URL is not a postline setting: did you mean "
                           "POSTLINE_DATABASE_URL? Without POSTLINE_DATABASE_URL postline would use a production "
                           "record of its own on this machine"), said
    assert not (tmp_path / "home" / "postline.db").exists()
    (tmp_path / "postline.env").write_text("POSTLINE_DATABSE_URL=x\nPOSTLINE_DATABASE_URL=sqlite:///"
                                           f"{tmp_path / 'studio.db'}\n")
    assert main(["status"]) == 0                      # the right one set too: the other is a leftover, warned of
    assert "warning: POSTLINE_DATABSE_URL is not a postline setting" in capsys.readouterr().err
