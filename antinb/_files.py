"""Safe file writes: no write follows a symbolic link or reuses a predictable temporary name.

Every file antinb writes (store chunks, sidecars and manifests, lock files, the runner's stamps and
executed notebooks, training checkpoints and snapshots, cache memos, bench reports, model cards, the
book's generated pages) goes through this module, because stores and output folders may be shared
by a group, and a co-user may plant a symbolic link where antinb is about to write:

- :func:`write_atomic` / :func:`atomic_open` write to a new temporary file made by
  ``tempfile.mkstemp`` in the target's folder (``O_CREAT | O_EXCL``: it never opens an existing
  name, link or not), give it mode ``0666`` minus the umask, fsync it and ``os.replace`` it onto the
  target. A symbolic link at the target is *replaced*, never followed (a warning names it); a
  directory there is refused with an :class:`UnsafeFileError` naming it.
- :func:`open_lock` opens a lock file with ``O_NOFOLLOW`` and checks, with ``fstat`` on the
  descriptor, that it opened a regular file with one link; a planted symbolic or hard link is
  refused with a warning naming it (and removed, so the next claim creates a real lock file).
- :func:`make_temp_dir` makes a fresh temporary folder beside a target (``mkdtemp``), for what is
  written as a folder (training snapshots).

A failing write (disk full, ``ulimit -f``) raises an ``OSError`` that names the file and leaves the
previous file in place; the temporary file is removed.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

__all__ = ["UnsafeFileError", "write_atomic", "atomic_open", "open_lock", "make_temp_dir", "temp_prefix", "HOST"]

log = logging.getLogger("antinb.files")

#: This machine's name as it appears in temporary file names (dots replaced: names are split on dots).
HOST = socket.gethostname().replace(".", "_") or "host"


class UnsafeFileError(OSError):
    """A path antinb must write is not a plain file it may replace (a directory, a device, a link it
    could not remove); the message names it."""


def temp_prefix(path: Path) -> str:
    """``.<name>.<host>.<pid>.``: the prefix of this process's temporary files beside ``path`` (so a
    leftover of a writer that died can be told from a live writer's, see :mod:`antinb.store`)."""
    return f".{path.name}.{HOST}.{os.getpid()}."


def _umask_mode(base: int = 0o666) -> int:
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def _describe_link(path: Path) -> str:
    try:
        return f"{path} (a symbolic link to {os.readlink(path)})"
    except OSError:
        return str(path)


def _named(err: OSError, path: Path, doing: str) -> OSError:
    """``err`` again, its message naming ``path`` (``OSError: [Errno 27] File too large`` names nothing)."""
    if isinstance(err, UnsafeFileError):
        return err
    text = f"cannot {doing} {path}: {err.strerror or err}"
    try:
        out = type(err)(text)
    except TypeError:
        out = OSError(text)
    out.errno = err.errno
    return out


def _check_target(path: Path, *, warn: bool = True) -> None:
    """Refuse a target that is a directory or a device; warn about a symbolic link (it is replaced)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        if warn:
            log.warning("%s is a symbolic link: replacing the link, not writing through it", _describe_link(path))
        return
    if stat.S_ISDIR(st.st_mode):
        raise UnsafeFileError(f"{path} is a directory, not a file antinb wrote: remove it "
                                            "(nothing was written)")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFileError(f"{path} is not a regular file (a device, FIFO or socket): "
                                            "remove it (nothing was written)")


@contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file to write; on leaving the block it is fsynced and renamed onto ``path``.

    Nothing is written at ``path`` if the block raises (the temporary file is removed).
    """
    path = Path(path)
    _check_target(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=".tmp")
    except OSError as err:
        raise _named(err, path, "write") from None
    try:
        os.fchmod(fd, _umask_mode())  # an ordinary file (mkstemp makes it private): stores are shared
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        _check_target(path, warn=False)  # a link planted meanwhile is replaced, not followed; a directory refused
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(err, OSError) and not isinstance(err, UnsafeFileError):
            raise _named(err, path, "write") from None
        raise
    _fsync_dir(path.parent)


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` (``str``: UTF-8) to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path) as f:
        f.write(data.encode() if isinstance(data, str) else data)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def open_lock(path: str | os.PathLike, *, attempts: int = 5) -> int:
    """A read-write descriptor of the lock file ``path`` (created with mode ``0666`` minus the umask).

    Opened with ``O_NOFOLLOW`` and checked with ``fstat`` on the descriptor: a symbolic link, or a
    regular file with more than one link (a hard link to someone's file), is refused with a warning
    naming it and removed (removing a link never touches its target), then a fresh lock file is
    created. A directory, device or FIFO there raises :class:`UnsafeFileError` naming it.
    """
    path = Path(path)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    for _ in range(attempts):
        try:
            fd = os.open(path, flags, 0o666)
        except OSError as err:
            if err.errno == errno.ELOOP:  # O_NOFOLLOW met a symbolic link
                _remove_planted(path, f"{_describe_link(path)}: refusing to open a lock through a link")
                continue
            if err.errno == errno.EISDIR:
                raise UnsafeFileError(f"{path} is a directory, not a lock file: remove it") from None
            raise _named(err, path, "open the lock file") from None
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise UnsafeFileError(f"{path} is not a regular file (a device, FIFO or socket), "
                                                "not a lock file: remove it")
        if st.st_nlink != 1:
            os.close(fd)
            _remove_planted(path, f"{path} has {st.st_nlink} hard links: refusing to use another file as a lock")
            continue
        return fd
    raise UnsafeFileError(f"{path}: links keep being planted there; refusing to use it as a lock")


def _remove_planted(path: Path, why: str) -> None:
    log.warning("%s; removing it", why)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        raise UnsafeFileError(f"{why}, and it cannot be removed ({err.strerror}): remove it") from None


def make_temp_dir(target: str | os.PathLike) -> Path:
    """A new, empty folder beside ``target`` (``mkdtemp``: never an existing name), with mode ``0777``
    minus the umask, named ``.<target name>.<host>.<pid>.XXXXXXXX.tmp``; rename it onto ``target``."""
    target = Path(target)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=temp_prefix(target), suffix=".tmp"))
    os.chmod(tmp, _umask_mode(0o777))
    return tmp
