"""A small real filesystem that tests fill up or make read-only: a tmpfs mount.

tmpfs counts space in pages: a file takes a page per started 4 KiB, creating a
file or a directory takes none.  :meth:`SmallDisk.leave_free` fills the
filesystem with a filler file and then frees exactly ``n`` pages, so that a
test can stop a writer at its first, second, ... page-allocating write.
Mounting needs root (CI runs as root); the mount is removed in :meth:`unmount`.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

__all__ = ["PAGE", "SmallDisk"]

PAGE = 4096
_CHUNK = 1 << 20


class SmallDisk:
    """A tmpfs of ``size`` (mount(8) syntax) at ``mountpoint``."""

    def __init__(self, mountpoint: Path, *, size: str = "16m") -> None:
        self.mountpoint = mountpoint
        self.size = size
        self.filler = mountpoint / "filler"

    def mount(self) -> SmallDisk:
        if os.geteuid() != 0:
            pytest.fail("mounting a small tmpfs needs root (CI runs the tests as root)")
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0755", "tmpfs", str(self.mountpoint)], check=True
        )
        return self

    def unmount(self) -> None:
        if subprocess.run(["umount", str(self.mountpoint)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(self.mountpoint)], check=True)  # a process still holds it

    def free_pages(self) -> int:
        st = os.statvfs(self.mountpoint)
        return st.f_bavail * st.f_frsize // PAGE

    def leave_free(self, pages: int) -> None:
        """Fill the filesystem, then free exactly ``pages`` pages."""
        self.release()
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            block = b"\0" * _CHUNK
            while True:
                try:
                    os.write(fd, block if self.free_pages() * PAGE >= _CHUNK else block[:PAGE])
                except OSError:
                    break
            size = os.fstat(fd).st_size
            os.ftruncate(fd, size - size % PAGE - pages * PAGE)
        finally:
            os.close(fd)
        assert self.free_pages() == pages, (self.free_pages(), pages)

    def release(self) -> None:
        """Give all the space back."""
        self.filler.unlink(missing_ok=True)

    def read_only(self, on: bool) -> None:
        """Remount read-only or read-write.  The kernel refuses a read-only remount while a
        file is open for writing (a running importer's short-lived file): try a few times."""
        command = ["mount", "-o", f"remount,{'ro' if on else 'rw'}", str(self.mountpoint)]
        for _ in range(50):
            if subprocess.run(command, capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        subprocess.run(command, check=True)
