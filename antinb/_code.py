"""The hash of a module's code, blind to docstrings, comments and formatting: what the book's runner
compares to call a chapter stale, and what the sample cache keys its entries by."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

__all__ = ["tree_hash", "module_hash", "parsed"]


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
