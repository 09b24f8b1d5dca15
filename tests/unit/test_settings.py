"""Settings files: our TOML and copr-dist-git's INI."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from copr_importer.cli.common import controller_url
from copr_importer.configuration import coprconf
from copr_importer.configuration.coprconf import read_copr
from copr_importer.configuration.locate import CONFIG_ENV, DEFAULT_CONFIG, config_path
from copr_importer.errors import ConfigError
from copr_importer.settings import FrontendSettings, load_settings


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


def test_no_settings_file_lets_task_records_read_local_files(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("[download]\nlocal_files = true\n")
    with pytest.raises(ConfigError, match=r"download\.local_files"):
        load_settings(path)


def test_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    assert load_settings(None, **{"frontend.password_file": str(secret)}).frontend.resolved_password() == "hunter2"
    with pytest.raises(ConfigError):
        load_settings(None, **{"frontend.password_file": str(tmp_path / "missing")}).frontend.resolved_password()


# --- copr-dist-git's files, with copr-dist-git's defaults ------------------------------


def copr_conf(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "copr-dist-git.conf"
    path.write_text("[dist-git]\n" + text)
    return path


def test_what_copr_dist_git_conf_does_not_set_takes_copr_dist_gits_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(coprconf, "DIST_GIT_CONF", tmp_path / "no-dist-git.conf")  # whatever this machine has
    settings = load_settings(copr_conf(tmp_path, "frontend_base_url=https://copr.example\nfrontend_auth=pw\n"))
    assert settings.git_root == Path("/var/lib/dist-git/git")  # dist-git.conf's shipped gitroot_dir
    assert settings.lookaside_root == Path("/var/lib/dist-git/cache/lookaside/pkgs")
    assert settings.log_root == Path("/var/lib/copr-dist-git/per-task-logs")
    assert settings.cgit_list_path == Path("/var/cache/cgit/repo-configuration.rc")
    assert settings.cgit_lock == Path("/var/cache/cgit/copr-repo.lock")
    assert settings.cgit_subdirs == Path("/var/cache/cgit/repo-subdirs.list")
    assert settings.executor.workers == 10 and settings.git.default_branch == "master"
    assert settings.data_dir == Path("/var/lib/copr-importer")  # our spool and outbox
    assert settings.frontend.poll_interval == FrontendSettings().poll_interval  # not copr's 15 s, on purpose
    bare = load_settings(copr_conf(tmp_path, ""))
    assert bare.frontend.base_url == "http://copr-fe" and bare.frontend.password == "PASSWORDHERE"


def test_the_git_root_and_default_branch_come_from_dist_git_conf(tmp_path: Path) -> None:
    dist_git = tmp_path / "dist-git.conf"
    dist_git.write_text(
        "[dist-git]\ngit_author_name = Copr\nlookaside_dir = /elsewhere\ngitroot_dir = /srv/git\n"
        "default_branch = main\n[upload]\nnomd5 = True\n"
    )
    copr = read_copr(copr_conf(tmp_path, "max_workers = 3\n"), dist_git_conf=dist_git)
    assert copr.data["git_dir"] == "/srv/git" and copr.data["git"]["default_branch"] == "main"
    assert copr.data["executor"]["workers"] == 3 and not copr.warnings  # dist-git.conf's other keys are not ours


def test_unknown_and_meaningless_keys_are_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = copr_conf(
        tmp_path,
        "frontend_base_ur1=https://copr.example\nredis_host=localhost\nlog_dir=/tmp/x\nsentry_dsn=x\n"
        "git_base_url=/var/lib/dist-git/git/%%(module)s\n[extra]\nx=1\n",
    )
    with caplog.at_level(logging.INFO, logger="copr_importer.settings"):
        settings = load_settings(path)
    assert settings.frontend.base_url == "http://copr-fe"  # as copr-dist-git would poll
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"{path}: [dist-git] frontend_base_ur1 is not a copr-dist-git setting, ignored"
        " (did you mean frontend_base_url?)",
        f"{path}: section [extra] is not read by copr-dist-git, ignored",
    ]
    notes = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    for key in ("git_base_url", "log_dir", "redis_host", "sentry_dsn"):
        assert f"{key}: " in notes


def test_a_git_base_url_that_names_other_repositories_is_a_warning(tmp_path: Path) -> None:
    copr = read_copr(copr_conf(tmp_path, "git_base_url=/srv/other/%%(module)s\n"), dist_git_conf=tmp_path / "none")
    (warning,) = copr.warnings
    assert "git_base_url = '/srv/other/%(module)s'" in warning and "/var/lib/dist-git/git" in warning


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_workers = ten\n", "[dist-git] max_workers = 'ten': expected an integer, as copr reads it"),
        ("max_workers = -1\n", "[dist-git] max_workers = -1: expected an integer >= 0"),
        ("sleep_time = 0.5\n", "[dist-git] sleep_time = '0.5': expected an integer"),
        ("lookaside_location =\n", '[dist-git] lookaside_location = "": expected a path'),
        ("frontend_auth = 100%sure\n", "[dist-git] frontend_auth: '%' must be followed by '%' or '('"),
    ],
)
def test_a_value_copr_would_refuse_names_the_copr_key(tmp_path: Path, text: str, message: str) -> None:
    path = copr_conf(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value).startswith(f"{path}: {message}")


def test_a_file_without_a_dist_git_section_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.conf"
    path.write_text("[main]\nx = 1\n")
    with pytest.raises(ConfigError, match=r"no \[dist-git\] section"):
        load_settings(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.conf")


def test_toml_can_start_from_coprs_files_and_set_anything_on_top(tmp_path: Path) -> None:
    dist_git = tmp_path / "dist-git.conf"
    dist_git.write_text("[dist-git]\ngitroot_dir = /srv/git\n")
    copr = copr_conf(tmp_path, "frontend_base_url=https://copr.example\nmax_workers=12\nmax_workrs=1\n")
    toml = tmp_path / "importer.toml"
    toml.write_text(
        f'copr_dist_git_conf = "{copr}"\ndist_git_conf = "{dist_git}"\ndata_dir = "/srv/importer"\n'
        "[executor]\nper_owner = 2\n"
    )
    settings = load_settings(toml)
    assert settings.frontend.base_url == "https://copr.example" and settings.executor.workers == 12
    assert settings.executor.per_owner == 2 and settings.data_dir == Path("/srv/importer")
    assert settings.git_root == Path("/srv/git")
    toml.write_text(f'copr_dist_git_conf = "{copr}"\n[executor]\nworkers = "many"\n')
    with pytest.raises(ConfigError, match=rf'^{toml}: executor.workers = "many"'):
        load_settings(toml)
    copr.write_text("[dist-git]\nmax_workers = many\n")  # named in copr's file, where it is wrong
    toml.write_text(f'copr_dist_git_conf = "{copr}"\n')
    with pytest.raises(ConfigError, match=rf"^{copr}: \[dist-git\] max_workers = 'many'"):
        load_settings(toml)
    toml.write_text(f'dist_git_conf = "{dist_git}"\n')
    with pytest.raises(ConfigError, match="dist_git_conf is read only with copr_dist_git_conf"):
        load_settings(toml)


def test_command_line_values_are_checked_and_named_as_such() -> None:
    with pytest.raises(ConfigError, match=r"^command line: executor.workers = -2: expected an integer >= 0$"):
        load_settings(None, **{"executor.workers": -2})
    assert load_settings(None, **{"executor.workers": 2, "data_dir": None}).executor.workers == 2


# --- which file, when none is named ----------------------------------------------------


def test_the_config_file_is_the_option_then_the_environment_then_the_default(tmp_path: Path) -> None:
    default = tmp_path / "importer.toml"
    given = tmp_path / "given.toml"
    assert config_path(given, environ={CONFIG_ENV: "/x.toml"}, default=default) == given
    assert config_path(None, environ={CONFIG_ENV: "/x.toml"}, default=default) == Path("/x.toml")
    assert config_path(None, environ={}, default=default) is None  # no default file: built-in defaults
    default.write_text("")
    assert config_path(None, environ={}, default=default) == default
    assert config_path(None, environ={CONFIG_ENV: ""}, default=default) is None  # empty: no file at all
    assert DEFAULT_CONFIG == Path("/etc/copr-importer/importer.toml")


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        ("127.0.0.1:9420", "http://127.0.0.1:9420"),
        ("0.0.0.0:9500", "http://127.0.0.1:9500"),
        ("[::]:9500", "http://[::1]:9500"),
        ("fd00::7:9420", "http://[fd00::7]:9420"),
        ("status.example:80", "http://status.example:80"),
    ],
)
def test_status_finds_the_controller_at_its_listen_address(listen: str, url: str) -> None:
    assert controller_url(load_settings(None, **{"telemetry.listen": listen})) == url


@pytest.mark.parametrize("listen", ["", "127.0.0.1:0"])
def test_status_needs_an_address_it_can_know(listen: str) -> None:
    with pytest.raises(ConfigError, match="give --url"):
        controller_url(load_settings(None, **{"telemetry.listen": listen}))
