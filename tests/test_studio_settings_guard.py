"""`make test` in a studio's install folder, beside its postline.env, would have run every test on the studio's
production record and line file: the tests refuse to start there, and say where to run them instead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_the_tests_refuse_to_run_beside_a_studios_settings_file(tmp_path):
    (tmp_path / "postline.env").write_text("POSTLINE_DATABASE_URL=postgresql+psycopg://postline@db/postline\n")
    ran = subprocess.run([sys.executable, "-m", "pytest", str(TESTS / "test_errors.py"), "-q", "-p", "no:cacheprovider"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    said = ran.stdout + ran.stderr
    assert ran.returncode == 2, said
    assert f"{tmp_path / 'postline.env'} holds a studio's settings" in said and "make test" in said
    assert " passed" not in said
