"""The built wheel carries everything the app reads at run time."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_templates_static_policies_codes_and_migrations(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", str(tmp_path)],
        check=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("casework-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "casework/templates/base.html",
        "casework/templates/home.html",
        "casework/policies/003-green-labyrinth.toml",
        "casework/data/mark_codes.toml",
        "casework/migrations/env.py",
        "casework/migrations/alembic.ini",
        "casework/migrations/script.py.mako",
        "casework/migrations/versions/0001_initial_schema.py",
        "casework/migrations/versions/0004_cases.py",
        "casework/documents/assets/fonts/DejaVuSans.ttf",
        "casework/documents/assets/fonts/DejaVuSans-Bold.ttf",
        "casework/documents/assets/fonts/LICENSE-DejaVu.txt",
        # The vendored design system: pages need no Node.js once installed.
        "casework/static/vendor/casework.css",
        "casework/static/vendor/govuk-frontend.min.js",
        "casework/static/vendor/moj-frontend.min.js",
        "casework/static/vendor/LICENSE-govuk-frontend.txt",
        "casework/static/vendor/LICENSE-moj-frontend.txt",
        "casework/static/app.mjs",
        "casework/static/swagger-init.js",
    }
    assert expected <= names
    assert (
        len([n for n in names if n.startswith("casework/policies/") and n.endswith(".toml")]) == 5
    )
