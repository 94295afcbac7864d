"""The model and pagination tests pass with and without the splitter (the ``[fast]`` path).

The suite itself runs with msgspec's splitter on every answer beyond 2 KB
(``tests/conftest.py``); this runs the model and pagination modules again in a fresh
pytest without it, as an installation without msgspec decodes (one ``loads`` call).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
MODULES = [
    "unit/test_json_steps.py",
    "unit/test_models.py",
    "unit/test_lazy_leads.py",
    "unit/test_convert_props.py",
    "unit/test_pagination.py",
    "live/test_pagination.py",
]


def test_model_and_pagination_tests_pass_without_the_splitter() -> None:
    env = {**os.environ, "WHATCONVERTS_TEST_SPLITTER": "none"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            *(str(TESTS / module) for module in MODULES),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
        cwd=TESTS.parent,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
