"""The layers show in the imports: every package file's imports (ast, also those inside functions and under
TYPE_CHECKING) go only to the packages the README's layer table allows; `bench/` and `tests/` are exempt."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# package -> project packages it may import (besides itself); siblings `pipeline` and `lifters` never meet,
# and only the CLI imports both `flows` and `lifters`
ALLOWED: dict[str, set[str]] = {
    "schemas": set(),
    "storage": {"schemas"},
    "pipeline": {"schemas", "storage"},
    "lifters": {"schemas", "storage"},
    "flows": {"schemas", "storage", "pipeline"},
    "cli": {"schemas", "storage", "pipeline", "lifters", "flows"},
}


def project_imports(path: Path, root: Path = ROOT) -> set[tuple[str, int]]:
    """(top-level project package, line) of every import in `path`; relative imports resolve to its own package."""
    own = path.relative_to(root).parts[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [own] if node.level else [node.module or ""]
        else:
            continue
        out |= {(n.split(".")[0], node.lineno) for n in names if n.split(".")[0] in ALLOWED}
    return out


def violations() -> list[str]:
    bad = []
    for pkg, allowed in ALLOWED.items():
        for path in sorted((ROOT / pkg).rglob("*.py")):
            bad += [f"{path.relative_to(ROOT)}:{line} imports {dep} ({pkg} may import: "
                    f"{', '.join(sorted(allowed)) or 'nothing of the project'})"
                    for dep, line in sorted(project_imports(path)) if dep != pkg and dep not in allowed]
    return bad


def test_no_package_imports_upward_or_sideways():
    assert violations() == []


def test_the_readme_layer_table_states_the_same_layers():
    table = re.search(r"\| layer \| folder \| owns \| imports \|\n\|[-|]+\|\n((?:\|.*\|\n)+)",
                      (ROOT / "README.md").read_text())
    assert table is not None, "README: the layer table (| layer | folder | owns | imports |) is missing"
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table[1].splitlines()]
    folders = {re.fullmatch(r"`(\w+)/`", r[1])[1]: r for r in rows}
    assert set(folders) == set(ALLOWED)
    for pkg, (_, _, _, imports) in folders.items():
        named = set(re.findall(r"`(\w+)`", imports))
        assert named == ALLOWED[pkg] or (imports == "everything below" and ALLOWED[pkg] == set(ALLOWED) - {pkg}), \
            f"README layer table row {pkg}: {imports!r}, the imports allowed: {sorted(ALLOWED[pkg])}"
    layer = {pkg: int(r[0]) for pkg, r in folders.items()}
    assert all(layer[dep] < layer[pkg] for pkg, deps in ALLOWED.items() for dep in deps)


def test_the_checker_sees_every_kind_of_import(tmp_path):
    """A sideways import inside a function, a relative import and a TYPE_CHECKING import are all found."""
    pkg = tmp_path / "lifters"
    pkg.mkdir()
    (pkg / "bad.py").write_text("from typing import TYPE_CHECKING\nfrom . import base\nif TYPE_CHECKING:\n"
                                "    import flows.plan\n\ndef f():\n    from pipeline.clip import Clip\n")
    assert project_imports(pkg / "bad.py", tmp_path) == {("lifters", 2), ("flows", 4), ("pipeline", 7)}
