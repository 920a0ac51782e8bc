"""A resumable, crash-safe store of generated samples: :class:`SampleStore`.

A store lives in ``<root>/<key>/`` where ``key`` is the first 16 hex digits of the SHA-256 of the
canonical JSON of its configuration (sorted keys, no whitespace), so two runs with different
configurations never share a folder. The folder holds

- ``manifest.json`` — the configuration and the chunk layout (number of groups, groups per
  chunk, rows per group, number of chunks, the tensor keys of every chunk). It is written once,
  atomically; opening an existing folder with a different configuration or layout raises
  :class:`StoreMismatchError`.
- ``chunk-00012.pt`` — the tensors of chunk 12 (``torch.save`` of a dict of tensors whose first
  axis is the chunk's rows), written to a temporary file in the same folder, fsynced and renamed
  into place with ``os.replace``;
- ``chunk-00012.json`` — its sidecar, written (atomically, too) *after* the chunk: the store's key,
  the chunk index, its group range, the chunk's SHA-256, size, row count and keys.

A chunk is *done* iff its sidecar exists, names this store's key, this chunk index and this
chunk's group range, and the chunk file's size and SHA-256 match it, the file loads
(``weights_only``) and holds exactly the manifest's keys with the expected number of rows.
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
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import secrets
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch

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


_HOST = socket.gethostname().replace(".", "_") or "host"


def _tmp_name(path: Path) -> Path:
    """A temporary name beside ``path`` naming this host and process (so leftovers can be told dead)."""
    return path.parent / f".{path.name}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


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
    """Write ``data`` to a unique temporary file beside ``path``, fsync, then ``os.replace``.

    The file is created with mode ``0666`` minus the process's umask (``mkstemp`` would force 0600).
    """
    tmp = _tmp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def _read_json(path: Path) -> Any:
    """``json.loads`` of a file; a corrupt file raises :class:`StoreMismatchError` naming it."""
    try:
        return json.loads(path.read_text())
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
    """

    def __init__(self, root: str | os.PathLike, config: Mapping[str, Any], *, n_groups: int, chunk_groups: int,
                 group_size: int = 1, keys: list[str] | tuple[str, ...]) -> None:
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
        self._held: set[int] = set()  # chunks this object has claimed (see claim)
        self._write_manifest()
        self._clean_leftovers()

    # ------------------------------------------------------------------ manifest

    def manifest(self) -> dict[str, Any]:
        from ._version import __version__

        return {"format": FORMAT, "key": self.key, "config": self.config, "n_groups": self.n_groups,
                "chunk_groups": self.chunk_groups, "group_size": self.group_size, "n_chunks": self.n_chunks,
                "keys": self.keys, "antinb_version": __version__}

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
                   group_size=m["group_size"], keys=m["keys"])

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
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
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
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
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
                with self.claim(int(digits), wait=False):
                    pass  # held by nobody: claiming and releasing removes the file
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
            meta = json.loads(side.read_text())
            data = path.read_bytes()
        except (OSError, ValueError) as err:
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
            if not isinstance(t, torch.Tensor) or t.ndim < 1 or t.shape[0] != rows:
                shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                return None, f"{path.name}: {name!r} has shape {shape}, expected {rows} rows"
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
            if not isinstance(t, torch.Tensor) or t.ndim < 1 or t.shape[0] != rows:
                shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise ValueError(f"chunk {c}: {name!r} has shape {shape}, expected {rows} rows")
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
            side.unlink(missing_ok=True)  # a stale sidecar must never vouch for the new bytes
            _atomic_write(self.chunk_path(c), data)
            groups = self.groups(c)
            meta = {"store": self.key, "chunk": c, "groups": [groups.start, groups.stop],
                    "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "rows": rows,
                    "keys": self.keys, "info": dict(info or {})}
            _atomic_write(side, (json.dumps(meta, indent=1) + "\n").encode())
        return True

    def __repr__(self) -> str:
        return f"SampleStore({str(self.folder)!r}, n_chunks={self.n_chunks})"
