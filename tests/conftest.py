"""Shared fixtures: one Prefect test server for the session, a fresh postline home per test,
and the real camera files in ../shared/samples/raw."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from surfaces.prefect_env import SERVER_SETTINGS

SAMPLES = Path(os.environ.get("POSTLINE_SAMPLES", Path(__file__).resolve().parents[2] / "shared" / "samples" / "raw"))

# Prefect reads its settings when first imported: point it at a private home before that.
_PREFECT_HOME = tempfile.mkdtemp(prefix="postline-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.update(SERVER_SETTINGS)     # the test servers are set as `make server` is
os.environ.pop("PREFECT_API_URL", None)


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to run beside a studio's postline.env: every setting reads it (the record's URL, the line file, the
    shared folder), so the tests would work on the studio's production record and files."""
    studio = Path("postline.env")
    if studio.is_file():
        pytest.exit(f"{studio.resolve()} holds a studio's settings (its record, line file and folders): the tests "
                    "would read them and write into that production record. Run them in a clone of postline that "
                    "has no postline.env: git clone <this folder> /tmp/postline-tests && cd /tmp/postline-tests && "
                    "make test", returncode=2)


def sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.is_file():
        pytest.fail(f"real camera sample {path} is missing: the tests need ../shared/samples/raw beside the repo "
                    "(or POSTLINE_SAMPLES pointing at it)")
    return path


@pytest.fixture(scope="session")
def prefect_api() -> str:
    """A real local Prefect server for the whole session; returns its API URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield PREFECT_API_URL.value()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh postline home (SQLite record, archive, work, delivery) for one test."""
    from config.settings import get_settings

    home = tmp_path / "postline-home"
    monkeypatch.setenv("POSTLINE_HOME", str(home))
    monkeypatch.delenv("POSTLINE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def home_on_server(home: Path, prefect_api: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh postline home whose runs, the command line's included, go to the session's Prefect server."""
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    return home


@pytest.fixture(scope="module")
def portrait():
    """A real portrait photo (scikit-image's astronaut, 512x512), display sRGB float32 in [0, 1]."""
    import numpy as np

    data = pytest.importorskip("skimage.data")
    return data.astronaut().astype(np.float32) / 255.0


@pytest.fixture
def line_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``use(text)``: make ``text`` the line (POSTLINE_LINE_FILE, a file in the test's folder); returns its path."""
    from config.line import get_line

    def use(text: str) -> Path:
        path = tmp_path / "line.toml"
        path.write_text(text)
        monkeypatch.setenv("POSTLINE_LINE_FILE", str(path))
        get_line.cache_clear()
        return path

    yield use
    get_line.cache_clear()
