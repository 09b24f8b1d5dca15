"""Reading the operator's configuration into :mod:`copr_importer.settings`.

* :mod:`.checks`    every value checked against its settings field's type hint and bounds;
* :mod:`.coprconf`  copr-dist-git's ``copr-dist-git.conf`` and dist-git's ``dist-git.conf``,
  with copr-dist-git's own defaults;
* :mod:`.files`     a settings file (TOML, possibly over copr's files, or copr's INI) as a mapping;
* :mod:`.locate`    which file to read when the command line names none.
"""
