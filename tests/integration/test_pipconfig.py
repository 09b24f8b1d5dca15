"""The index pip is configured with, as the pypi provider reads it, against pip itself.

pip prints ``Looking in indexes: <url>`` before it looks; each case asks the real
pip (``pip download`` of a project on a closed port, no retries) and compares.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from copr_importer.adapters.providers.pipconfig import configured_index_url


def pip_index(env: dict[str, str], tmp_path: Path) -> str:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--retries", "0", "--timeout", "2"]
    result = subprocess.run(
        [*command, "-d", str(tmp_path / "dl"), "no-such-project-x"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Looking in indexes: (\S+)", result.stdout + result.stderr)
    assert match, result.stdout + result.stderr
    return match.group(1)


@pytest.mark.parametrize("case", ["global", "user-download-section", "config-file", "environment"])
def test_the_same_index_as_pip(case: str, tmp_path: Path) -> None:
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    (home / ".config" / "pip").mkdir(parents=True)
    (xdg / "pip").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(HOME=str(home), XDG_CONFIG_DIRS=str(xdg), XDG_CONFIG_HOME=str(home / ".config"))
    (xdg / "pip" / "pip.conf").write_text("[global]\nindex-url = http://127.0.0.1:9/global/simple\n")
    if case == "user-download-section":
        (home / ".config" / "pip" / "pip.conf").write_text(
            "[global]\nindex-url = http://127.0.0.1:9/user/simple\n[download]\nindex-url = http://127.0.0.1:9/dl/simple\n"
        )
    if case == "config-file":
        (home / ".config" / "pip" / "pip.conf").write_text("[global]\nindex-url = http://127.0.0.1:9/ignored\n")
        (tmp_path / "pip.conf").write_text("[global]\nindex-url = http://127.0.0.1:9/file/simple\n")
        env["PIP_CONFIG_FILE"] = str(tmp_path / "pip.conf")
    if case == "environment":
        env["PIP_INDEX_URL"] = "http://127.0.0.1:9/env/simple"
    assert configured_index_url(env) == pip_index(env, tmp_path)
