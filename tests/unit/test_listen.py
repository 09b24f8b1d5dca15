"""``--listen HOST:PORT`` parsing (adapters/opsserver.py)."""

from __future__ import annotations

import pytest

from copr_importer.adapters.opsserver import parse_listen
from copr_importer.errors import ConfigError
from copr_importer.settings import TelemetrySettings


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("127.0.0.1:9420", ("127.0.0.1", 9420)),
        ("10.1.2.3:0", ("10.1.2.3", 0)),
        ("[::1]:9421", ("::1", 9421)),
        ("fd00::7:9420", ("fd00::7", 9420)),  # $(POD_IP):PORT with an IPv6 pod IP
        ("localhost:80", ("localhost", 80)),
    ],
)
def test_parse_listen(address: str, parsed: tuple[str, int]) -> None:
    assert parse_listen(address) == parsed


@pytest.mark.parametrize("address", ["9420", ":9420", "host:", "host:port", "host:70000", "$(POD_IP)"])
def test_bad_addresses_are_config_errors(address: str) -> None:
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_listen(address)


def test_the_defaults_are_loopback() -> None:
    defaults = TelemetrySettings()
    assert parse_listen(defaults.listen)[0] == "127.0.0.1"
    assert parse_listen(defaults.writer_listen)[0] == "127.0.0.1"
