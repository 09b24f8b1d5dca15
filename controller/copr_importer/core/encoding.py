"""Text or binary: the lookaside decision of rpkg's ``import_srpm``.

rpkg sends a file to the lookaside when libmagic's ``--mime-encoding`` says
``binary``.  libmagic looks at the first 64 KiB (``FILE_ENCODING_MAX`` in
file 5.40 and later) and calls a buffer text when it is ASCII, UTF-8, UTF-16 or
UTF-32 with a byte-order mark, ISO-8859 or "extended ASCII"; an empty buffer is
``binary``.  This module reproduces that decision with byte-class tests done in
C by ``bytes.translate``; the integration tests compare it with ``file(1)``.
Not reproduced: UTF-7 and EBCDIC detection (neither occurs in SRPMs in practice).
"""

from __future__ import annotations

import codecs

__all__ = ["SNIFF_BYTES", "is_binary"]

SNIFF_BYTES = 64 * 1024

# libmagic's text_chars table: bytes that can never occur in text.
_NEVER_TEXT = bytes([*range(0x07), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _looks_bom_unicode(sample: bytes) -> bool:
    for bom, codec in zip(_BOMS, ("utf-32-le", "utf-32-be", "utf-16-le", "utf-16-be"), strict=True):
        if sample.startswith(bom):
            decoder = codecs.getincrementaldecoder(codec)()
            try:
                text = decoder.decode(sample[len(bom) :], final=False)
            except UnicodeDecodeError:
                return False
            return not any(ch in text for ch in _NEVER_TEXT.decode("latin-1"))
    return False


def is_binary(sample: bytes) -> bool:
    """True when rpkg would put a file starting with ``sample`` into the lookaside."""
    sample = sample[:SNIFF_BYTES]
    if not sample:
        return True
    if _looks_bom_unicode(sample):
        return False
    # Without a never-text byte the buffer passes at least libmagic's
    # "extended ASCII" test (and UTF-8 and ISO-8859 are narrower cases of it).
    return len(sample.translate(None, _NEVER_TEXT)) != len(sample)
