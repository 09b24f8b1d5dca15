"""Settings files: our TOML and copr-dist-git's INI."""

from __future__ import annotations

from pathlib import Path

import pytest

from copr_importer.errors import ConfigError
from copr_importer.settings import load_settings


def test_toml_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        'data_dir = "/srv/x"\n[executor]\nworkers = 7\n[lookaside]\nhashtype = "sha512"\nsources_style = "bsd"\n'
    )
    settings = load_settings(path, **{"executor.per_owner": 2})
    assert settings.executor.workers == 7
    assert settings.executor.per_owner == 2
    assert settings.git_root == Path("/srv/x/git")
    assert settings.lookaside.hashtype == "sha512"


def test_copr_dist_git_conf_is_a_drop_in(tmp_path: Path) -> None:
    path = tmp_path / "copr-dist-git.conf"
    path.write_text(
        "[dist-git]\nfrontend_base_url=http://127.0.0.1:1\nfrontend_auth=pw\nmax_workers=12\nsleep_time=15\n"
        "lookaside_location=/var/lib/dist-git/cache/lookaside/pkgs/\ngit_user_name=Bot\nredis_host=localhost\n"
        "cgit_cache_file=/var/cache/cgit/repo-configuration.rc\ncgit_cache_list_file=/var/cache/cgit/x.list\n"
    )
    settings = load_settings(path)
    assert settings.frontend.base_url == "http://127.0.0.1:1"
    assert settings.frontend.resolved_password() == "pw"
    assert settings.executor.workers == 12
    assert settings.frontend.poll_interval == 15.0
    assert settings.lookaside_root == Path("/var/lib/dist-git/cache/lookaside/pkgs/")
    assert settings.git.user_name == "Bot"
    assert settings.cgit_list_path == Path("/var/cache/cgit/repo-configuration.rc")  # the file copr's cgitrc includes


@pytest.mark.parametrize(
    "text",
    ["[executor]\nworkers = -1\n", "[executor]\nbogus = 1\n", '[lookaside]\nhashtype = "sha512"\n', "nonsense = 1\n"],
)
def test_invalid_settings_are_refused_with_the_setting_named(tmp_path: Path, text: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_settings(path)


def test_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    assert load_settings(None, **{"frontend.password_file": str(secret)}).frontend.resolved_password() == "hunter2"
    with pytest.raises(ConfigError):
        load_settings(None, **{"frontend.password_file": str(tmp_path / "missing")}).frontend.resolved_password()
