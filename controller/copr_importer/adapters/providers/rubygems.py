"""The rubygems provider: a .gem from a RubyGems-compatible source → a spec → ``rpmbuild -bs``.

1. ``<source>/info/<gem>`` (the compact index ``gem`` and bundler read) names the
   releases and their sha256; the pinned or newest release is chosen
   (core/gemrelease.py).
2. ``<source>/gems/<gem>-<version>.gem`` is fetched with the SRPM download's
   limits and retries and checked against that sha256.
3. The gem is a tar: its ``metadata.gz`` is the ``Gem::Specification`` as YAML,
   read with bounded size and Ruby's tags dropped; the spec is rendered from
   ``templates/rubygem.spec.j2`` (core/gemspec.py), modelled on gem2rpm's.
4. ``rpmbuild -bs`` with the gem as the only source.

The source URL is ``sources.rubygems_url``, else the first of gem's configured
``:sources:`` (``/etc/gemrc``, ``~/.gemrc``), so no host is written here.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import tarfile
import zlib
from pathlib import Path
from typing import Any

import yaml

from ...core.gemrelease import choose_release, parse_info
from ...core.gemspec import gem_context
from ...core.sourcespec import RubygemSource
from ...errors import BadInputError, ConfigError
from ...settings import Settings
from .fetch import check_digest, fetch
from .rpmbuild import build_srpm
from .runner import Limits
from .spectemplate import render_spec

__all__ = ["build_from_rubygems", "read_gem_metadata", "source_url"]

log = logging.getLogger(__name__)
_MAX_METADATA = 4 * 1024 * 1024


def source_url(settings: Settings) -> str:
    """The RubyGems source: the setting, else gem's configuration."""
    url = settings.sources.rubygems_url or _gemrc_source()
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"the RubyGems source must be an http(s) URL, not {url!r}")
    return url.rstrip("/") + "/"


def _gemrc_source() -> str:
    home = os.environ.get("HOME")
    for path in [*([Path(home) / ".gemrc"] if home else []), Path("/etc/gemrc")]:
        try:
            config = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue
        sources = config.get(":sources:") if isinstance(config, dict) else None
        if isinstance(sources, list) and sources and isinstance(sources[0], str):
            return sources[0]
    raise ConfigError("no RubyGems source: set sources.rubygems_url or :sources: in gemrc")


def build_from_rubygems(source: RubygemSource, *, pkg_name: str, settings: Settings, workdir: Path) -> Path:
    """Build the SRPM of ``source`` in ``workdir``; return its path."""
    base = source_url(settings)
    gem = source.gem_name
    info = fetch(base + f"info/{gem}", dest=workdir / "info", settings=settings.download, what=f"gem {gem}")
    release = choose_release(parse_info(info.read_text(errors="replace")), gem=gem, version=source.gem_version)
    filename = f"{gem}-{release.version}.gem"
    log.info("gem %s %s: %s", gem, release.version, filename)
    sources = workdir / "sources"
    sources.mkdir()
    path = fetch(base + f"gems/{filename}", dest=sources / filename, settings=settings.download, what=filename)
    if release.sha256:
        check_digest(path, algorithm="sha256", expected=release.sha256, what=filename)
    else:
        log.warning("%s: the source publishes no checksum; nothing to check it against", filename)
    context = gem_context(
        read_gem_metadata(path),
        gem=gem,
        version=release.version,
        source_url=base + "gems/",
        pkg_name=pkg_name,
        packager=f"{settings.git.user_name} <{settings.git.user_email}>",
    )
    spec = render_spec("rubygem.spec.j2", context=context, dest=workdir / f"{pkg_name}.spec")
    log.info("generated %s (License: %s)", spec.name, context["license"])
    return build_srpm(spec, sourcedir=sources, workdir=workdir, limits=Limits.from_settings(settings.sources))


class _RubyLoader(yaml.SafeLoader):
    """YAML with Ruby's ``!ruby/object:Gem::…`` tags read as plain mappings and lists."""


def _untagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_RubyLoader.add_multi_constructor("!ruby/", _untagged)


def read_gem_metadata(path: Path) -> dict[str, Any]:
    """The ``Gem::Specification`` in a .gem's ``metadata.gz``."""
    try:
        with tarfile.open(path, mode="r:") as gem:
            member = gem.getmember("metadata.gz")
            stream = gem.extractfile(member) if member.isfile() else None
            if stream is None:
                raise KeyError("metadata.gz is not a file")
            compressed = stream.read(_MAX_METADATA)
        text = _gunzip(compressed)
        meta = yaml.load(text, Loader=_RubyLoader)
    except (tarfile.TarError, KeyError, OSError, EOFError, zlib.error, yaml.YAMLError) as exc:
        raise BadInputError(f"{path.name}: cannot read its metadata: {exc}", code="spec_generation_failed") from None
    if not isinstance(meta, dict):
        raise BadInputError(f"{path.name}: its metadata is not a specification", code="spec_generation_failed")
    return meta


def _gunzip(data: bytes) -> str:
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        text = stream.read(_MAX_METADATA + 1)
    if len(text) > _MAX_METADATA:
        raise OSError(f"metadata larger than {_MAX_METADATA} bytes")
    return text.decode("utf-8", errors="replace")
