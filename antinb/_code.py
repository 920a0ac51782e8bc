"""The hash of a module's code, blind to docstrings, comments and formatting: what the book's runner
compares to call a chapter stale, and what the sample cache keys its entries by."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

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


def _names_used(nodes: list[ast.stmt]) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


def definition_closure(module: str, entries: list[str] | tuple[str, ...], package_dir: Path | None = None
                       ) -> dict[str, str]:
    """The code a module's functions ``entries`` can run, hashed at two grains.

    Inside ``module``: each top-level definition (function, class, assignment) reachable by name from
    the entries, ``"<module>:<name>" -> hash`` of its syntax tree without docstrings; what the module
    defines but the entries never reach (a figure, a verdict's wording) is not part of it. Below it:
    every antinb module the reached definitions use through an import, with everything those import
    (:func:`closure`, whole modules, without the packages' ``__init__`` files, which only re-export).
    """
    path = module_file(module, package_dir)
    if path is None:
        raise ValueError(f"module={module!r} is not a module of {PACKAGE}")
    _, tree = parsed(path)
    is_package = path.name == "__init__.py"
    defs = _top_level(tree)
    seen: set[str] = set()
    todo = [e for e in entries]
    out: dict[str, str] = {}
    used_modules: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        nodes = defs[name]
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if (alias.asname or alias.name).split(".")[0] != name:
                        continue
                    if isinstance(node, ast.Import):
                        if _is_ours(alias.name):
                            used_modules.add(alias.name)
                        continue
                    base = _import_base(node, module, is_package)
                    if _is_ours(base):  # the submodule itself when the name is one, else the module it comes from
                        sub = f"{base}.{alias.name}"
                        used_modules.add(sub if module_file(sub, package_dir) is not None else base)
                continue
        body = [n for n in nodes if not isinstance(n, (ast.Import, ast.ImportFrom))]
        if body:
            dump = "\n".join(ast.dump(n, annotate_fields=False, include_attributes=False) for n in body)
            out[f"{module}:{name}"] = hashlib.sha256(dump.encode()).hexdigest()[:16]
        todo.extend(sorted(_names_used(body) - seen))
    deps = closure(used_modules - {module}, package_dir, parents=False)
    deps = {m: h for m, h in deps.items() if m != module
            and (module_file(m, package_dir).name != "__init__.py" or m in used_modules)}
    return dict(sorted({**out, **deps}.items()))
