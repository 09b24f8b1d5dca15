"""The CLI imports only the module of the command it runs, so the table that names
each command's module must match what the modules register."""

from __future__ import annotations

import argparse
import importlib

from copr_importer.cli import COMMAND_MODULES, _parser


def test_each_command_is_registered_by_the_module_the_table_names() -> None:
    for name in set(COMMAND_MODULES.values()):
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"copr_importer.cli.{name}").register(sub)
        assert set(sub.choices) == {command for command, module in COMMAND_MODULES.items() if module == name}


def test_a_named_command_parses_with_only_its_module_and_help_lists_all() -> None:
    args = _parser(["import-step", "--task-json", "{}"]).parse_args(["import-step", "--task-json", "{}"])
    assert args.command == "import-step"
    help_text = _parser([]).format_help()
    assert all(command in help_text for command in COMMAND_MODULES)
