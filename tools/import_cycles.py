"""Circles in livseg's import graph (every import, at module level or in a function).

    python tools/import_cycles.py    # prints each circle; exit 1 when there is one

An edge is what a module names (``from livseg.io.files import x``: livseg.io.files), as
import-graph tools draw it.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The livseg modules ``path`` imports (the deepest existing module of each name)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name in modules:
                found.add(name)
                break
    return found


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in ROOT.joinpath("livseg").rglob("*.py")}
    modules = set(files)
    edges = {name: imports(path, modules) for name, path in files.items()}
    for name in edges:
        edges[name].discard(name)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


if __name__ == "__main__":
    circles = cycles(graph())
    for circle in circles:
        print("circle:", " -> ".join(circle))
    print(f"{len(circles)} circle(s)")
    sys.exit(1 if circles else 0)
