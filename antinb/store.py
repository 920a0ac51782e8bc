"""A resumable, crash-safe store of generated samples: :class:`SampleStore`.

A store lives in ``<root>/<key>/`` where ``key`` is the first 16 hex digits of the SHA-256 of the
canonical JSON of its configuration (sorted keys, no whitespace), so two runs with different
configurations never share a folder. The folder holds

- ``manifest.json`` — the configuration and the chunk layout (number of groups, groups per
  chunk, rows per group, number of chunks, the tensor keys of every chunk and, where the creator
  declares them, each key's dtype and per-row shape). It is written once,
  atomically; opening an existing folder with a different configuration or layout raises
  :class:`StoreMismatchError`.
- ``chunk-00012.pt`` — the tensors of chunk 12 (``torch.save`` of a dict of tensors whose first
  axis is the chunk's rows), written to a temporary file in the same folder, fsynced and renamed
  into place with ``os.replace``;
- ``chunk-00012.json`` — its sidecar, written (atomically, too) *after* the chunk: the store's key,
  the chunk index, its group range, the chunk's SHA-256, size, row count and keys.

A chunk is *done* iff its sidecar exists, names this store's key, this chunk index and this
chunk's group range, and the chunk file's size and SHA-256 match it, the file loads
(``weights_only``) and holds exactly the manifest's keys with the expected number of rows (and the
declared dtype and per-row shape of each key: a chunk of another dtype is refused even with a
sidecar re-hashed to match it).
Anything else — missing, truncated, bytes flipped, unreadable, wrong keys or rows, a chunk (with
its sidecar) copied from another store or from another position of this one — counts as *not
done*: a warning names the file and why, and the next run regenerates it. A foreign or misplaced
chunk is never read as data: :meth:`SampleStore.read` raises ``FileNotFoundError`` naming the
file and why, :meth:`SampleStore.gather` one listing the chunks that are not done. A corrupt
``manifest.json`` raises :class:`StoreMismatchError` naming it.

Several processes may fill one store at once (``accelerate`` workers, or independent
``antinb generate`` runs on the same folder). A writer *claims* a chunk before computing it with
an exclusive ``fcntl.flock`` on ``.chunk-00012.lock`` (the kernel drops the lock when its process
dies, so a crashed writer leaves no stale claim; on a network file system the locks need its
lock support), re-checks that the chunk is still not done, and
writes it while holding the claim; :meth:`SampleStore.write` never replaces a chunk that is done.
Files are created with mode ``0666`` minus the umask (a store shared by a group stays readable),
and temporary files left by killed writers (``.chunk-*.tmp`` of a process that no longer runs)
are removed when the store is next opened.

A shared store may hold links planted by a co-user: no write follows one (:mod:`antinb._files`).
Lock files are opened with ``O_NOFOLLOW`` and checked with ``fstat`` (a planted link is refused with
a warning naming it, and removed), chunks, sidecars and the manifest are written to ``mkstemp``
files renamed into place (a link there is replaced, not followed), chunk files and sidecars are
read without following links (a linked chunk is *not done*), and a store folder that is itself a
symbolic link is refused. A directory where a file should be raises an error naming it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch

from ._files import HOST as _HOST, UnsafeFileError, open_lock, write_atomic

__all__ = ["SampleStore", "StoreMismatchError", "config_key", "canonical_json"]

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"


class StoreMismatchError(ValueError):
    """An existing store folder holds a different configuration or chunk layout."""


def canonical_json(config: Mapping[str, Any]) -> str:
    """The canonical JSON text of ``config``: sorted keys, no whitespace, no NaN."""
    try:
        return json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"config must be JSON-serialisable (finite numbers, str keys): {err}") from err


def config_key(config: Mapping[str, Any]) -> str:
    """First 16 hex digits of the SHA-256 of :func:`canonical_json` of ``config``."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        pass
    try:  # Linux: a zombie (exited, not yet reaped) writes nothing any more
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a new ``mkstemp`` file beside ``path`` (mode ``0666`` minus the umask), fsync,
    then ``os.replace`` (:func:`antinb._files.write_atomic`: a link at ``path`` is replaced, not followed)."""
    write_atomic(path, data)


def _read_plain(path: Path) -> bytes:
    """The bytes of ``path`` read without following a symbolic link (``OSError`` for a link or a
    non-regular file: a planted link is never read as a chunk)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        return f.read()


def _read_json(path: Path) -> Any:
    """``json.loads`` of a file; a corrupt file raises :class:`StoreMismatchError` naming it."""
    if path.is_symlink():
        raise StoreMismatchError(f"{path} is a symbolic link (to {os.readlink(path)}): a store never reads or "
                                 f"writes through one; remove it")
    try:
        return json.loads(path.read_bytes())
    except IsADirectoryError:
        raise StoreMismatchError(f"{path} is a directory, not a file: remove it") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise StoreMismatchError(f"{path} is corrupt (not valid JSON: {err}); delete {path.parent} "
                                 "to start this store afresh") from None


class SampleStore:
    """Chunks of generated tensors under ``<root>/<config_key(config)>/``, written atomically.

    Args:
        root: the folder that holds stores (created if needed).
        config: a JSON-serialisable dict that fully describes what is generated; it names the folder.
        n_groups: number of groups (independent units) in the whole run.
        chunk_groups: groups per chunk; chunk ``c`` holds groups ``[c * chunk_groups, ...)``.
        group_size: rows per group (a chunk of ``g`` groups holds ``g * group_size`` rows).
        keys: the tensor names every chunk holds.
        dtypes: the dtype of some or all keys (``{"brightness": "float64"}``); a chunk of another
            dtype is refused, written or read. Recorded in the manifest.
        shapes: the shape of one row of some or all keys (``{"brightness": ()}`` for one number per
            row, ``{"images": (1, 28, 28)}``); a chunk of another shape is refused. Recorded in the manifest.
    """

    def __init__(self, root: str | os.PathLike, config: Mapping[str, Any], *, n_groups: int, chunk_groups: int,
                 group_size: int = 1, keys: list[str] | tuple[str, ...],
                 dtypes: Mapping[str, str] | None = None, shapes: Mapping[str, Any] | None = None) -> None:
        for name, value in (("n_groups", n_groups), ("chunk_groups", chunk_groups), ("group_size", group_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive integer")
        keys = list(keys)
        if not keys or len(set(keys)) != len(keys) or not all(isinstance(k, str) and k for k in keys):
            raise ValueError(f"keys={keys!r} must be distinct non-empty strings")
        text = canonical_json(config)
        self.config: dict[str, Any] = json.loads(text)  # what a reader of the manifest will see
        self.key = config_key(self.config)
        self.root = Path(root)
        self.folder = self.root / self.key
        self.n_groups = n_groups
        self.chunk_groups = chunk_groups
        self.group_size = group_size
        self.n_chunks = -(-n_groups // chunk_groups)
        self.keys = keys
        self.dtypes, self.shapes = self._declared(dtypes, shapes)
        self._held: set[int] = set()  # chunks this object has claimed (see claim)
        if self.folder.is_symlink():
            log.warning("sample store %s is a symbolic link: refused", self.folder)
            raise StoreMismatchError(f"{self.folder} is a symbolic link (to {os.readlink(self.folder)}): refusing to "
                                     "read or write a store through it; remove the link")
        self._write_manifest()
        self._clean_leftovers()

    # ------------------------------------------------------------------ manifest

    def _declared(self, dtypes: Mapping[str, str] | None, shapes: Mapping[str, Any] | None
                  ) -> tuple[dict[str, str], dict[str, list[int]]]:
        out_d: dict[str, str] = {}
        for k, name in dict(dtypes or {}).items():
            name = str(name).removeprefix("torch.")
            if k not in self.keys or not isinstance(getattr(torch, name, None), torch.dtype):
                raise ValueError(f"dtypes={dict(dtypes)!r} must map keys of {self.keys} to torch dtype names")
            out_d[k] = name
        out_s: dict[str, list[int]] = {}
        for k, shape in dict(shapes or {}).items():
            try:
                dims = [int(d) for d in shape]
            except (TypeError, ValueError):
                dims = None
            if k not in self.keys or dims is None or any(d < 0 for d in dims):
                raise ValueError(f"shapes={dict(shapes)!r} must map keys of {self.keys} to row shapes (tuples of sizes)")
            out_s[k] = dims
        return out_d, out_s

    def manifest(self) -> dict[str, Any]:
        from ._version import __version__

        out = {"format": FORMAT, "key": self.key, "config": self.config, "n_groups": self.n_groups,
               "chunk_groups": self.chunk_groups, "group_size": self.group_size, "n_chunks": self.n_chunks,
               "keys": self.keys, "antinb_version": __version__}
        if self.dtypes:
            out["dtypes"] = self.dtypes
        if self.shapes:
            out["shapes"] = self.shapes
        return out

    def _mismatch(self, name: str, t: Any, rows: int) -> str | None:
        """Why tensor ``t`` cannot be key ``name`` of a chunk of ``rows`` rows (``None``: it can)."""
        if not isinstance(t, torch.Tensor) or t.ndim < 1 or t.shape[0] != rows:
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            return f"{name!r} has shape {shape}, expected {rows} rows"
        want = self.dtypes.get(name)
        if want is not None and str(t.dtype).removeprefix("torch.") != want:
            return f"{name!r} has dtype {str(t.dtype).removeprefix('torch.')}, the store declares {want}"
        row = self.shapes.get(name)
        if row is not None and list(t.shape[1:]) != row:
            return f"{name!r} has rows of shape {tuple(t.shape[1:])}, the store declares {tuple(row)}"
        return None

    def _write_manifest(self) -> None:
        path = self.folder / MANIFEST
        wanted = self.manifest()
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            # several processes may race here: each writes the same bytes and renames atomically
            _atomic_write(path, (json.dumps(wanted, indent=1, sort_keys=True) + "\n").encode())
        found = _read_json(path)
        if not isinstance(found, dict):
            raise StoreMismatchError(f"{path} is corrupt (not a JSON object); delete {self.folder}")
        fields = ("format", "key", "config", "n_groups", "chunk_groups", "group_size", "n_chunks", "keys")
        diff = [f for f in fields if found.get(f) != wanted[f]]
        # declarations: a store made before they existed has none (this object's still apply to what it
        # reads and writes); a store that has them must declare the same
        diff += [f for f in ("dtypes", "shapes") if f in found and found[f] != wanted.get(f, {})]
        if diff:
            raise StoreMismatchError(
                f"{path} describes a different run ({', '.join(diff)} differ): refusing to mix chunks. "
                f"Use another root folder or delete {self.folder}.")

    @classmethod
    def open(cls, folder: str | os.PathLike) -> "SampleStore":
        """Open an existing store folder from its ``manifest.json``."""
        folder = Path(folder)
        path = folder / MANIFEST
        if not path.exists():
            raise FileNotFoundError(f"{folder} is not a sample store: no {MANIFEST}")
        m = _read_json(path)
        if not isinstance(m, dict):
            raise StoreMismatchError(f"{path} is corrupt (not a JSON object)")
        if m.get("format") != FORMAT:
            raise StoreMismatchError(f"{path} has format {m.get('format')!r}; this antinb reads format {FORMAT}")
        missing = [f for f in ("config", "n_groups", "chunk_groups", "group_size", "keys") if f not in m]
        if missing:
            raise StoreMismatchError(f"{path} is corrupt: it lacks {missing}")
        if m.get("key") != folder.name or config_key(m["config"]) != folder.name:
            raise StoreMismatchError(f"{path}: the folder name {folder.name!r} is not the hash of its config")
        return cls(folder.parent, m["config"], n_groups=m["n_groups"], chunk_groups=m["chunk_groups"],
                   group_size=m["group_size"], keys=m["keys"], dtypes=m.get("dtypes"), shapes=m.get("shapes"))

    # ------------------------------------------------------------------ layout

    def _check_chunk(self, c: int) -> int:
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < self.n_chunks:
            raise ValueError(f"chunk={c!r} must be an integer in [0, {self.n_chunks})")
        return c

    def groups(self, c: int) -> range:
        """The group indices of chunk ``c``."""
        self._check_chunk(c)
        return range(c * self.chunk_groups, min((c + 1) * self.chunk_groups, self.n_groups))

    def rows(self, c: int) -> int:
        """Number of rows of chunk ``c``."""
        return len(self.groups(c)) * self.group_size

    def chunk_path(self, c: int) -> Path:
        return self.folder / f"chunk-{c:05d}.pt"

    def sidecar_path(self, c: int) -> Path:
        return self.folder / f"chunk-{c:05d}.json"

    def lock_path(self, c: int) -> Path:
        return self.folder / f".chunk-{c:05d}.lock"

    # ------------------------------------------------------------------ claims (concurrent writers)

    @contextmanager
    def claim(self, c: int, *, wait: bool = True) -> Iterator[bool]:
        """Hold the exclusive claim on chunk ``c`` (yields ``True``), or yield ``False`` at once when
        ``wait=False`` and another writer holds it.

        The claim is an ``fcntl.flock`` on :meth:`lock_path`: released when the block ends or when
        the process dies (no stale claims). The lock file is removed while still locked, and a
        claimer checks that the file it locked is still the one at the path, so two writers never
        hold the same chunk. Claims are not re-entrant across objects; within one object a nested
        claim of a held chunk yields ``True`` without locking again.
        """
        self._check_chunk(c)
        if c in self._held:
            yield True
            return
        import fcntl

        path = self.lock_path(c)
        while True:
            # O_NOFOLLOW and fstat on the descriptor: a planted link is refused (warned about, removed)
            fd = open_lock(path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                yield False
                return
            except BaseException:
                os.close(fd)
                raise
            try:
                here, held = os.lstat(path), os.fstat(fd)
                same = (here.st_ino, here.st_dev) == (held.st_ino, held.st_dev)
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the previous holder removed that file: lock the current one
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{_HOST} {os.getpid()}\n".encode())
        except OSError:
            pass
        self._held.add(c)
        try:
            yield True
        finally:
            self._held.discard(c)
            try:
                os.unlink(path)
            except OSError:
                pass
            os.close(fd)

    def _clean_leftovers(self) -> None:
        """Remove temporary files of writers that died (this host, process gone; or older than a day)
        and lock files nobody holds (a killed writer's lock file stays, its lock does not)."""
        try:
            entries = list(self.folder.glob(".*.tmp"))
            locks = list(self.folder.glob(".chunk-*.lock"))
        except OSError:
            return
        for p in locks:
            digits = p.name[len(".chunk-"):-len(".lock")]
            if digits.isdigit() and int(digits) < self.n_chunks:
                try:
                    with self.claim(int(digits), wait=False):
                        pass  # held by nobody: claiming and releasing removes the file
                except UnsafeFileError as err:  # a directory where a lock should be: writing that chunk fails
                    log.warning("sample store %s: %s", self.folder, err)
        for p in entries:
            parts = p.name.split(".")
            # new names: .<file>.<host>.<pid>.<token>.tmp ; old mkstemp names have no host and pid
            dead = False
            if len(parts) >= 5 and parts[-4] == _HOST and parts[-3].isdigit():
                dead = not _pid_alive(int(parts[-3]))
            else:
                try:
                    dead = time.time() - p.stat().st_mtime > 86400
                except OSError:
                    continue
            if dead:
                try:
                    p.unlink()
                    log.info("sample store %s: removed %s, left by a writer that died", self.folder, p.name)
                except OSError:
                    pass

    # ------------------------------------------------------------------ reading and checking

    def _load(self, c: int) -> tuple[dict[str, torch.Tensor] | None, str | None]:
        """The chunk's tensors, or ``None`` and why it is not done (``None`` reason: simply absent)."""
        self._check_chunk(c)
        side, path = self.sidecar_path(c), self.chunk_path(c)
        if not side.exists():
            return None, (f"{path.name} has no sidecar {side.name} (unfinished write)" if path.exists() else None)
        try:
            meta = json.loads(_read_plain(side))
            data = _read_plain(path)
        except (OSError, ValueError) as err:
            links = [p.name for p in (side, path) if p.is_symlink()]
            if links:
                return None, f"{' and '.join(links)} is a symbolic link: a store never reads or writes through one"
            return None, f"{path.name} or {side.name} is unreadable ({type(err).__name__}: {err})"
        if not isinstance(meta, dict):
            return None, f"{side.name} is not a JSON object"
        if meta.get("store") != self.key:
            return None, (f"{side.name} belongs to store {meta.get('store')!r}, not to this store {self.key!r} "
                          "(copied from another run?)")
        groups = self.groups(c)
        if meta.get("chunk") != c or meta.get("groups") != [groups.start, groups.stop]:
            return None, (f"{side.name} describes chunk {meta.get('chunk')!r} (groups {meta.get('groups')!r}), "
                          f"not chunk {c} (groups [{groups.start}, {groups.stop}]): moved or swapped?")
        if len(data) != meta.get("bytes"):
            return None, f"{path.name} has {len(data)} bytes, its sidecar says {meta.get('bytes')} (truncated?)"
        if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            return None, f"{path.name} does not match the SHA-256 in {side.name} (corrupted)"
        try:
            tensors = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unpickling failure means "not done"
            return None, f"{path.name} does not load ({type(err).__name__}: {err})"
        rows = self.rows(c)
        if not isinstance(tensors, dict) or sorted(tensors) != sorted(self.keys) or meta.get("keys") != self.keys:
            got = sorted(tensors) if isinstance(tensors, dict) else type(tensors).__name__
            return None, f"{path.name} holds {got}, expected keys {self.keys}"
        for name, t in tensors.items():
            why = self._mismatch(name, t, rows)
            if why is not None:
                return None, f"{path.name}: {why}"
        if meta.get("rows") != rows:
            return None, f"{side.name} says {meta.get('rows')} rows, expected {rows}"
        return tensors, None

    def info(self, c: int) -> dict[str, Any]:
        """The ``info`` dict a done chunk was written with (e.g. which process wrote it)."""
        self.read(c)
        return _read_json(self.sidecar_path(c)).get("info", {})

    def _check(self, c: int) -> dict[str, torch.Tensor] | None:
        tensors, why = self._load(c)
        if why is not None:
            log.warning("sample store %s: chunk %d is not done and will be regenerated: %s", self.folder, c, why)
        return tensors

    def get(self, c: int) -> dict[str, torch.Tensor] | None:
        """The tensors of chunk ``c`` if it is done, else ``None`` (with a warning naming a damaged chunk):
        one read where :meth:`is_done` then :meth:`read` would read the file twice."""
        return self._check(c)

    def is_done(self, c: int) -> bool:
        """Whether chunk ``c`` is complete and intact (see the module docstring)."""
        return self._check(c) is not None

    def pending(self) -> list[int]:
        """The chunks that are not done, in order."""
        return [c for c in range(self.n_chunks) if not self.is_done(c)]

    def done(self) -> list[int]:
        """The chunks that are done, in order."""
        return [c for c in range(self.n_chunks) if self.is_done(c)]

    def read(self, c: int) -> dict[str, torch.Tensor]:
        """The tensors of chunk ``c``; raises :class:`FileNotFoundError` if it is not done."""
        tensors, why = self._load(c)
        if tensors is None:
            raise FileNotFoundError(f"chunk {c} of {self.folder} is not done"
                                    + (f": {why}" if why else " (never written)"))
        return tensors

    def gather(self) -> dict[str, torch.Tensor]:
        """All chunks concatenated in order, one tensor per key; raises if any chunk is not done."""
        missing = self.pending()
        if missing:
            raise FileNotFoundError(f"{len(missing)} of {self.n_chunks} chunks of {self.folder} are not done: "
                                    f"{missing[:20]}{' ...' if len(missing) > 20 else ''}")
        parts = [self.read(c) for c in range(self.n_chunks)]
        return {k: torch.cat([p[k] for p in parts]) for k in self.keys}

    # ------------------------------------------------------------------ writing

    def write(self, c: int, tensors: Mapping[str, torch.Tensor], *, info: Mapping[str, Any] | None = None) -> bool:
        """Write chunk ``c`` atomically (the chunk file, then its sidecar; ``info`` goes into the sidecar).

        Holds the chunk's claim while writing (waiting for another writer's). Returns ``False``
        without writing when the chunk is already done: a done chunk is never replaced or deleted.
        """
        self._check_chunk(c)
        rows = self.rows(c)
        if sorted(tensors) != sorted(self.keys):
            raise ValueError(f"chunk {c}: got keys {sorted(tensors)}, expected {self.keys}")
        out = {}
        for name in self.keys:
            t = tensors[name]
            why = self._mismatch(name, t, rows)
            if why is not None:
                raise ValueError(f"chunk {c}: {why}")
            out[name] = t.detach().cpu().contiguous().clone()
        buf = io.BytesIO()
        torch.save(out, buf)
        data = buf.getvalue()
        with self.claim(c) as held:
            assert held
            if self._load(c)[0] is not None:
                # another writer finished it meanwhile: a done chunk is never replaced
                log.debug("sample store %s: chunk %d is already done; not rewritten", self.folder, c)
                return False
            side = self.sidecar_path(c)
            try:
                side.unlink(missing_ok=True)  # a stale sidecar must never vouch for the new bytes
            except OSError as err:  # a directory there
                raise UnsafeFileError(f"{side} cannot be replaced ({err.strerror}): remove it") from None
            _atomic_write(self.chunk_path(c), data)
            groups = self.groups(c)
            meta = {"store": self.key, "chunk": c, "groups": [groups.start, groups.stop],
                    "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "rows": rows,
                    "keys": self.keys, "info": dict(info or {})}
            _atomic_write(side, (json.dumps(meta, indent=1) + "\n").encode())
        return True

    def __repr__(self) -> str:
        return f"SampleStore({str(self.folder)!r}, n_chunks={self.n_chunks})"
