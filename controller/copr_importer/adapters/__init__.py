"""Adapters: the only modules that talk to the outside world (HTTP, files, git)."""
