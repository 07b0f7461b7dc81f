"""Writing a file atomically: readers and failures never see a truncated or emptied file."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile

__all__ = ["write_atomically"]


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary file in ``path``'s directory, then move it over ``path``.

    A path that exists but is not a regular file (a device, a pipe) is written directly, and so
    is one under ``/dev`` or ``/proc`` (``/dev/stdout``, ``/dev/fd/N``): it leads to an open
    descriptor, whose file a rename would not replace but orphan.
    """
    target = os.path.realpath(path)  # through a symlink, replace the file it points to
    try:
        mode: int | None = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    # /dev/stdout, /dev/fd/N, /proc/self/fd/N: links to an open descriptor. (A regular file
    # under /dev/shm is no link, and is replaced atomically as any other.)
    given = os.path.abspath(path)
    special = given.startswith(("/dev/", "/proc/")) and target != given
    if (mode is not None and not stat.S_ISREG(mode)) or special:
        # By the name given: /dev/stdout on a pipe resolves to "pipe:[N]", which no open finds.
        with open(path if special else target, "wb") as handle:
            handle.write(data)
        return
    try:
        fd, temp = tempfile.mkstemp(prefix=".scribe-", suffix=".tmp", dir=os.path.dirname(target))
    except PermissionError:
        if mode is None:
            raise
        # A writable file in a directory we may not create files in: the content is complete
        # already, so writing it in place is the best left.
        with open(target, "wb") as handle:
            handle.write(data)
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        # mkstemp creates 0600; keep the old file's permissions, or give a new one the usual.
        os.chmod(temp, stat.S_IMODE(mode) if mode is not None else 0o666 & ~_umask())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _umask() -> int:
    """The process umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022
