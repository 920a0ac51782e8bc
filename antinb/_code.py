"""The hash of a module's code, blind to docstrings, comments and formatting: what the book's runner
compares to call a chapter stale, and what the sample cache keys its entries by."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path
from typing import Any

__all__ = ["tree_hash", "module_hash", "parsed", "imported", "module_file", "module_info", "closure",
           "definition_closure", "PACKAGE", "PACKAGE_DIR"]


class _DropDocstrings(ast.NodeTransformer):
    """Removes bare string statements (docstrings and string "comments"): they never run."""

    def visit_Expr(self, node: ast.Expr) -> ast.AST | None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return None
        return node


def tree_hash(tree: ast.AST) -> str:
    """Hash of a syntax tree without docstrings and positions (the tree is modified)."""
    dump = ast.dump(_DropDocstrings().visit(tree), annotate_fields=False, include_attributes=False)
    return hashlib.sha256(dump.encode()).hexdigest()[:16]


#: ``(path, size, mtime) -> (hash, tree)``: each file is parsed once while it is unchanged.
_PARSED: dict[tuple[str, int, int], tuple[str, ast.Module]] = {}


def parsed(path: str | Path) -> tuple[str, ast.Module]:
    """``(module_hash, syntax tree without docstrings)`` of a module file, parsed once per process while
    the file's size and modification time stay the same (do not modify the tree)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _PARSED:
        tree = ast.parse(path.read_text(), str(path))
        _PARSED[key] = (tree_hash(tree), tree)
    return _PARSED[key]


def module_hash(path: str | Path) -> str:
    """Hash of a module's code, blind to docstrings, comments and formatting (its normalised AST)."""
    return parsed(path)[0]


# --------------------------------------------------------------------------- import closures

#: The package whose modules a code closure follows.
PACKAGE = "antinb"
#: Its folder (tests point closures at a copy).
PACKAGE_DIR = Path(__file__).resolve().parent


def _is_ours(name: str | None) -> bool:
    return bool(name) and (name == PACKAGE or name.startswith(PACKAGE + "."))


def imported(tree: ast.AST, module: str | None = None, is_package: bool = False) -> set[str]:
    """Candidate antinb module names imported anywhere in ``tree`` (function bodies included).

    ``from antinb.x import y`` gives ``antinb.x`` and ``antinb.x.y`` (kept only if ``y`` is a
    module); relative imports are resolved against ``module``.
    """
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if _is_ours(a.name))
        elif isinstance(node, ast.ImportFrom):
            base = _import_base(node, module, is_package)
            if not _is_ours(base):
                continue
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names if a.name != "*")
    return out


def _import_base(node: ast.ImportFrom, module: str | None, is_package: bool) -> str | None:
    """The absolute module an ``ImportFrom`` reads from (``None`` when it cannot be resolved)."""
    if not node.level:
        return node.module or ""
    if module is None:
        return None
    here = module.split(".") if is_package else module.split(".")[:-1]
    if node.level - 1 > len(here) - 1:
        return None
    here = here[:len(here) - (node.level - 1)]
    return ".".join(here + ([node.module] if node.module else []))


def module_file(module: str, package_dir: Path | None = None) -> Path | None:
    """The file of ``antinb.x.y`` under ``package_dir`` (a package's ``__init__.py``), or None."""
    package_dir = Path(package_dir or PACKAGE_DIR)
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_dir.joinpath(*parts[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if parts[1:] and base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


_IMPORTS: dict[tuple[str, str, bool], frozenset[str]] = {}


def module_info(path: Path, module: str) -> tuple[str, frozenset[str]]:
    """``(module_hash, imported antinb names)`` of ``module``'s file, parsed once while unchanged."""
    digest, tree = parsed(path)
    key = (digest, module, path.name == "__init__.py")
    if key not in _IMPORTS:
        _IMPORTS[key] = frozenset(imported(tree, module, key[2]))
    return digest, _IMPORTS[key]


def closure(names: set[str] | list[str], package_dir: Path | None = None, *, parents: bool = True
            ) -> dict[str, str]:
    """``{module: module_hash}`` of the antinb modules ``names`` and everything they import, transitively.

    Importing ``antinb.a.b`` also runs ``antinb/__init__.py`` and ``antinb/a/__init__.py``: with
    ``parents`` those packages are part of the closure too.
    """
    todo = sorted(names)
    found: dict[str, str] = {}
    while todo:
        name = todo.pop()
        parts = name.split(".")
        chain = [".".join(parts[:i]) for i in range(1, len(parts) + 1)] if parents else [name]
        for mod in chain:
            if mod in found:
                continue
            f = module_file(mod, package_dir)
            if f is None:
                continue
            found[mod], imports = module_info(f, mod)
            todo.extend(sorted(imports - set(found)))
    return dict(sorted(found.items()))


# --------------------------------------------------------------------------- definition closures


def _top_level(tree: ast.Module) -> dict[str, list[ast.stmt]]:
    """Top-level statements of a module by each name they bind (a name bound twice keeps both)."""
    out: dict[str, list[ast.stmt]] = {}
    for node in tree.body:
        names: list[str] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [(a.asname or a.name).split(".")[0] for a in node.names]
        for name in names:
            out.setdefault(name, []).append(node)
    return out


_BINDING = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign, ast.AugAssign,
            ast.Import, ast.ImportFrom)


class _Module:
    """A module's top-level definitions, what its import statements bind, and its other top-level statements."""

    def __init__(self, module: str, path: Path, package_dir: Path | None):
        _, tree = parsed(path)
        self.defs = _top_level(tree)
        is_package = path.name == "__init__.py"
        #: name -> ("module", target) for a module bound by an import, ("name", (module, attribute)) for a name
        #: imported from an antinb module; names imported from other packages are not listed.
        self.imports: dict[str, tuple[str, Any]] = {}
        for node in tree.body:
            if isinstance(node, ast.Import):
                for a in node.names:
                    if _is_ours(a.name):
                        bound = a.asname or a.name.split(".")[0]
                        self.imports[bound] = ("module", a.name if a.asname else a.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                base = _import_base(node, module, is_package)
                if not _is_ours(base):
                    continue
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    self.imports[a.asname or a.name] = (("module", sub) if module_file(sub, package_dir) is not None
                                                        else ("name", (base, a.name)))
        #: statements that run at import but bind no name of their own (registrations, conditional imports)
        self.effects = [n for n in tree.body if not isinstance(n, _BINDING)]


_MODULES: dict[tuple[str, str, str], _Module] = {}


def _module(module: str, package_dir: Path | None) -> _Module | None:
    path = module_file(module, package_dir)
    if path is None:
        return None
    digest, _ = parsed(path)
    key = (module, digest, str(package_dir))
    if key not in _MODULES:
        _MODULES[key] = _Module(module, path, package_dir)
    return _MODULES[key]


def _uses(nodes: list[ast.stmt], imports: dict[str, tuple[str, Any]]) -> tuple[set[str], set[tuple[str, str]]]:
    """Names ``nodes`` use bare, and ``(alias, attribute)`` pairs where a module alias is only read for an
    attribute (``stats.mean``)."""
    bases: set[int] = set()
    attrs: set[tuple[str, str]] = set()
    for node in nodes:
        for n in ast.walk(node):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) \
                    and imports.get(n.value.id, ("",))[0] == "module":
                bases.add(id(n.value))
                attrs.add((n.value.id, n.attr))
    names = {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name) and id(n) not in bases}
    return names, attrs


def definition_closure(module: str, entries: list[str] | tuple[str, ...], package_dir: Path | None = None
                       ) -> dict[str, str]:
    """The code a module's functions ``entries`` can run, hashed by definition.

    Each top-level definition (function, class with its methods, assignment) that the entries reach by name,
    ``"<module>:<name>" -> hash`` of its syntax tree without docstrings, followed across antinb modules:
    a name imported from another antinb module (``from ..cache import memo``) or read from an imported
    module (``stats.mean``) is followed into that module's definitions. A module reached this way also
    contributes its top-level statements that bind no name (registrations, conditional imports) as
    ``"<module>:<effects>"``. A module used as a value (passed, returned) is taken whole with what it
    imports (:func:`closure`). What a module defines but the entries never reach (a figure, a verdict's
    wording, an unrelated helper) is not part of it.
    """
    if module_file(module, package_dir) is None:
        raise ValueError(f"module={module!r} is not a module of {PACKAGE}")
    out: dict[str, str] = {}
    whole: set[str] = set()
    seen: set[tuple[str, str]] = set()
    effects: set[str] = set()
    todo = [(module, e) for e in entries]

    def visit(mod: str, info: _Module, nodes: list[ast.stmt]) -> None:
        names, attrs = _uses(nodes, info.imports)
        todo.extend((mod, n) for n in sorted(names))
        for alias, attr in sorted(attrs):
            target = info.imports[alias][1]
            if module_file(f"{target}.{attr}", package_dir) is not None:
                whole.add(f"{target}.{attr}")  # a submodule read as an attribute: taken whole
            else:
                todo.append((target, attr))

    while todo:
        mod, name = todo.pop()
        if (mod, name) in seen:
            continue
        seen.add((mod, name))
        info = _module(mod, package_dir)
        if info is None:
            continue
        if mod not in effects:
            effects.add(mod)
            if info.effects:
                dump = "\n".join(ast.dump(n, annotate_fields=False, include_attributes=False) for n in info.effects)
                out[f"{mod}:<effects>"] = hashlib.sha256(dump.encode()).hexdigest()[:16]
                visit(mod, info, info.effects)
        if name in info.imports:
            kind, target = info.imports[name]
            if kind == "module":
                whole.add(target)  # the module itself used as a value
            else:
                todo.append(target)
        nodes = [n for n in info.defs.get(name, []) if not isinstance(n, (ast.Import, ast.ImportFrom))]
        if not nodes:
            continue
        dump = "\n".join(ast.dump(n, annotate_fields=False, include_attributes=False) for n in nodes)
        out[f"{mod}:{name}"] = hashlib.sha256(dump.encode()).hexdigest()[:16]
        visit(mod, info, nodes)
    if whole:
        out.update(closure(whole, package_dir, parents=False))
    return dict(sorted(out.items()))
