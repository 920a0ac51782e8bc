"""SampleStore: atomic chunks with sidecars, detection of unfinished or damaged chunks, config folders."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from antinb.store import SampleStore, StoreMismatchError, config_key


def _store(root, config=None, **kw) -> SampleStore:
    layout = dict(n_groups=5, chunk_groups=2, group_size=2, keys=["a", "images"])
    return SampleStore(root, config or {"name": "x", "n": 10}, **{**layout, **kw})


def _chunk(store: SampleStore, c: int) -> dict[str, torch.Tensor]:
    rows = store.rows(c)
    g = torch.Generator().manual_seed(c)
    return {"a": torch.randn(rows, generator=g, dtype=torch.float64), "images": torch.randn(rows, 1, 4, 4, generator=g)}


def _fill(store: SampleStore) -> dict[int, dict[str, torch.Tensor]]:
    chunks = {c: _chunk(store, c) for c in range(store.n_chunks)}
    for c, t in chunks.items():
        store.write(c, t)
    return chunks


def test_layout_write_read_gather(tmp_path):
    store = _store(tmp_path)
    assert store.folder == tmp_path / config_key({"n": 10, "name": "x"})
    assert store.n_chunks == 3 and [store.rows(c) for c in range(3)] == [4, 4, 2]
    assert [list(store.groups(c)) for c in range(3)] == [[0, 1], [2, 3], [4]]
    assert store.pending() == [0, 1, 2]
    with pytest.raises(FileNotFoundError, match="3 of 3 chunks"):
        store.gather()
    chunks = _fill(store)
    assert store.pending() == [] and store.done() == [0, 1, 2]
    out = store.gather()
    assert torch.equal(out["a"], torch.cat([chunks[c]["a"] for c in range(3)]))
    assert torch.equal(out["images"], torch.cat([chunks[c]["images"] for c in range(3)]))
    assert out["a"].dtype == torch.float64 and out["images"].shape == (10, 1, 4, 4)
    # only the final files: no temporary file survives a write
    names = sorted(p.name for p in store.folder.iterdir())
    assert names == ["chunk-00000.json", "chunk-00000.pt", "chunk-00001.json", "chunk-00001.pt",
                     "chunk-00002.json", "chunk-00002.pt", "manifest.json"]
    side = json.loads(store.sidecar_path(2).read_text())
    assert side["rows"] == 2 and side["keys"] == ["a", "images"] and side["groups"] == [4, 5]
    assert side["bytes"] == store.chunk_path(2).stat().st_size and len(side["sha256"]) == 64
    # reopening from the folder sees the same store
    again = SampleStore.open(store.folder)
    assert again.config == store.config and again.pending() == [] and torch.equal(again.read(1)["a"], chunks[1]["a"])


def test_write_checks_rows_and_keys(tmp_path):
    store = _store(tmp_path)
    with pytest.raises(ValueError, match="expected 4 rows"):
        store.write(0, {"a": torch.zeros(3), "images": torch.zeros(3, 1, 4, 4)})
    with pytest.raises(ValueError, match="keys"):
        store.write(0, {"a": torch.zeros(4)})
    with pytest.raises(ValueError, match="chunk=3"):
        store.write(3, _chunk(store, 2))
    assert store.pending() == [0, 1, 2]


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_sidecar", "bad_sidecar", "no_chunk", "wrong_rows"])
def test_damaged_chunk_is_not_done(tmp_path, caplog, damage):
    store = _store(tmp_path)
    chunks = _fill(store)
    path, side = store.chunk_path(1), store.sidecar_path(1)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        i = len(data) - 100  # inside the tensor payload: the file may still load, the hash does not match
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:])
    elif damage == "no_sidecar":
        side.unlink()
    elif damage == "bad_sidecar":
        side.write_text("{not json")
    elif damage == "no_chunk":
        path.unlink()
    elif damage == "wrong_rows":  # a chunk that is internally consistent but has the wrong rows
        other = SampleStore(tmp_path / "other", {"o": 1}, n_groups=5, chunk_groups=2, group_size=2,
                            keys=["a", "images"])
        other.write(2, _chunk(other, 2))
        path.write_bytes(other.chunk_path(2).read_bytes())
        side.write_text(other.sidecar_path(2).read_text())
    with caplog.at_level(logging.WARNING, logger="antinb.store"):
        assert store.pending() == [1]
    assert "chunk 1 is not done" in caplog.text
    with pytest.raises(FileNotFoundError, match="chunk 1"):
        store.read(1)
    with pytest.raises(FileNotFoundError, match=r"\[1\]"):
        store.gather()
    store.write(1, chunks[1])  # regenerating the chunk repairs the store
    assert store.pending() == [] and torch.equal(store.gather()["a"], torch.cat([chunks[c]["a"] for c in range(3)]))


def test_configs_never_mix(tmp_path):
    a = _store(tmp_path, {"name": "x", "seed": 0})
    b = _store(tmp_path, {"name": "x", "seed": 1})
    assert a.folder != b.folder and a.folder.parent == b.folder.parent == tmp_path
    a.write(0, _chunk(a, 0))
    assert b.pending() == [0, 1, 2] and a.pending() == [1, 2]
    # key order does not matter; the same config re-opens the same folder with its chunks
    assert _store(tmp_path, {"seed": 0, "name": "x"}).pending() == [1, 2]
    # same config, other layout: refused
    with pytest.raises(StoreMismatchError, match="chunk_groups"):
        _store(tmp_path, {"name": "x", "seed": 0}, chunk_groups=1)
    with pytest.raises(StoreMismatchError, match="keys"):
        _store(tmp_path, {"name": "x", "seed": 0}, keys=["a"])
    # a manifest that does not hold this config (edited by hand): refused
    m = json.loads((a.folder / "manifest.json").read_text())
    m["config"]["seed"] = 7
    (a.folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(StoreMismatchError, match="config"):
        _store(tmp_path, {"name": "x", "seed": 0})
    with pytest.raises(StoreMismatchError):
        SampleStore.open(a.folder)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="JSON"):
        _store(tmp_path, {"x": float("nan")})
    with pytest.raises(ValueError, match="JSON"):
        _store(tmp_path, {"x": object()})
    with pytest.raises(ValueError, match="chunk_groups"):
        _store(tmp_path, chunk_groups=0)
    with pytest.raises(ValueError, match="keys"):
        _store(tmp_path, keys=["a", "a"])
    with pytest.raises(FileNotFoundError, match="manifest"):
        SampleStore.open(tmp_path)
