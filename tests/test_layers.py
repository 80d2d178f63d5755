"""The packages depend one way (docs/architecture.md): each imports only those below it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# package → the packages it may import from the project (itself included)
ALLOWED = {
    "paleon": {"paleon"},
    "configs": {"paleon", "configs"},
    "auth": {"paleon", "configs", "auth"},
    "rag": {"paleon", "configs", "rag"},
    "jobs": {"paleon", "configs", "rag", "jobs"},
    "deployments": {"paleon", "configs", "rag", "jobs", "auth", "deployments"},
}
PROJECT = set(ALLOWED) | {"tests", "bench"}


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] == ["paleon", "tools"]:
        return "paleon.tools"
    return parts[0] if parts[0] in PROJECT else None


def test_no_package_imports_one_above_it():
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in (ROOT / package).rglob("*.py"):
            if package == "paleon" and "tools" in path.relative_to(ROOT / "paleon").parts:
                continue  # the tools sit on top of everything
            for module in imported(path):
                target = layer(module)
                if target is not None and target not in allowed:
                    wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert wrong == []


def test_nothing_but_tests_imports_tests():
    for folder in ("bench", *ALLOWED):
        for path in (ROOT / folder).rglob("*.py"):
            assert not any(layer(m) == "tests" for m in imported(path)), path
