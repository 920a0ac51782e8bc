"""The hash of a module's code, blind to docstrings, comments and formatting: what the book's runner
compares to call a chapter stale, and what the sample cache keys its entries by."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

__all__ = ["tree_hash", "module_hash"]


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


def module_hash(path: str | Path) -> str:
    """Hash of a module's code, blind to docstrings, comments and formatting (its normalised AST)."""
    return tree_hash(ast.parse(Path(path).read_text(), str(path)))
