"""The package's layering: data flows one way, noise -> sampling -> statistics -> findings -> book.

Each module is assigned a layer; it may import antinb modules of its own or a lower layer only.
A new module must be placed here, so the rule cannot be bypassed by adding files.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "antinb"

#: module (relative to antinb) -> layer. Lower layers never import higher ones.
LAYERS: dict[str, int] = {
    "_checks": 0, "_code": 0, "_files": 0, "_signals": 0, "_version": 0, "records": 0, "provenance": 0, "measurements": 0, "paper": 0, "data": 0, "metrics": 0,
    "prompts": 0, "noise": 1, "models": 1, "store": 1, "quality": 1, "gaussian": 1,
    "sampling": 2, "stats": 2, "training": 2, "control": 2, "toy": 2,
    "pairs": 3, "cache": 3, "dps": 3, "generate": 3, "plots": 3, "interop": 3,
    "estimation": 4,
    "findings": 5,
    "book": 6, "cli": 6, "__main__": 6, "__init__": 6,
}


def _layer(module: str) -> int:
    """Layer of ``module`` (dotted, relative to antinb); subpackages take their package's layer."""
    head = module.split(".")[0]
    if head not in LAYERS:
        raise KeyError(f"antinb.{module} has no layer: add it to tests/test_architecture.py LAYERS")
    return LAYERS[head]


def _modules() -> list[tuple[str, Path]]:
    out = []
    for f in sorted(PKG.rglob("*.py")):
        parts = f.with_suffix("").relative_to(PKG).parts
        out.append((".".join(parts), f))
    return out


def _imports(module: str, path: Path) -> set[str]:
    """antinb modules (dotted, relative to antinb) that ``path`` imports anywhere, functions included."""
    is_pkg = path.name == "__init__.py"
    here = module.split(".")[:-1] if not is_pkg else module.split(".")[:-1]
    deps: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[: len(here) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            if node.module is None:
                deps.update(".".join(target + [a.name]) for a in node.names)
            else:
                deps.add(".".join(target) or "__init__")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "antinb":
            deps.add(".".join(node.module.split(".")[1:]) or "__init__")
        elif isinstance(node, ast.Import):
            deps.update(".".join(a.name.split(".")[1:]) or "__init__" for a in node.names
                        if a.name.split(".")[0] == "antinb")
    return {d for d in deps if d}


@pytest.mark.parametrize("module,path", _modules(), ids=[m for m, _ in _modules()])
def test_module_imports_only_its_own_or_lower_layers(module, path):
    own = _layer(module if not module.endswith("__init__") or module == "__init__" else module.rsplit(".", 1)[0])
    for dep in _imports(module, path):
        if dep == "__init__" and module != "__init__":
            pytest.fail(f"antinb.{module} imports from antinb/__init__ (import the defining module instead)")
        if dep.startswith(module.split(".")[0] + ".") or dep == module.split(".")[0]:
            continue  # inside its own subpackage
        assert _layer(dep) <= own, (f"antinb.{module} (layer {own}) imports antinb.{dep} "
                                    f"(layer {_layer(dep)}): imports must run down the layers")


def test_import_antinb_loads_no_publishing_or_findings_machinery():
    code = ("import sys, antinb; bad = [m for m in ('papermill', 'jupytext', 'jupyter_book', 'antinb.book', "
            "'antinb.findings') if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import antinb loaded {out.stdout.strip()}"


def test_import_antinb_is_light_and_its_names_load_on_first_use():
    # a chapter's code closure holds what it uses, not everything the package re-exports
    code = ("import sys, antinb; before = sorted(m for m in sys.modules if m.startswith('antinb') or m == 'torch'); "
            "antinb.estimate; after = 'antinb.estimation' in sys.modules; print(before, after)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['antinb', 'antinb._version'] True"
    import antinb

    for name in antinb.__all__:
        assert getattr(antinb, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        antinb.nothing  # noqa: B018


def test_every_module_has_a_layer():
    for module, _ in _modules():
        _layer(module)
