"""The package reads as the loop: one subpackage per stage, dependencies pointing backwards.

Every ``import`` of the package (module level or inside a function) is checked against the
stages a stage may use. A stage may use an earlier stage's public modules, never its private
ones (``_name``), and nothing but the command line imports the command line.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "companion" / "closedloop"

#: The stages in loop order, each with the stages it may import (config: the workspace;
#: plots: the shared figure style).
ALLOWED = {
    "config": set(),
    "plots": set(),
    "contract": {"config"},
    "simulate": {"contract"},
    "model": {"config", "contract"},
    "explain": {"config", "contract", "model"},
    "fairness": {"config", "contract", "model"},
    "gates": {"config", "contract", "model", "fairness"},
    "scoring": {"config", "contract", "model", "explain", "monitoring"},
    "business": {"contract", "model", "scoring"},
    "monitoring": {"config", "contract", "model", "fairness"},
    "serving": {"config", "contract", "model", "explain", "scoring", "monitoring", "abtest"},
    "retrain": {"config", "contract", "simulate", "model", "fairness", "gates", "business",
                "monitoring"},
    "abtest": {"config", "contract", "model", "gates", "scoring", "business", "monitoring"},
    "platform": {"config", "contract", "model", "monitoring"},
    "cli": {"config", "contract", "simulate", "model", "gates", "scoring", "serving",
            "business", "monitoring", "retrain", "explain", "fairness", "abtest", "platform"},
}


def _stage(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "closedloop":
                for alias in node.names:
                    yield node.lineno, f"closedloop.{alias.name}"
            elif node.module.startswith("closedloop."):
                for alias in node.names:
                    yield node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("closedloop."):
                    yield node.lineno, alias.name


#: Modules that belong to a stage (the package's ``__init__`` and ``__main__`` belong to none:
#: ``__main__`` is ``python -m closedloop``, the one place outside ``cli`` that may import it).
MODULES = sorted(p for p in PACKAGE.rglob("*.py")
                 if p.parent != PACKAGE or p.name not in {"__init__.py", "__main__.py"})


def test_the_folder_list_reads_as_the_loop():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}
    assert folders == set(ALLOWED) - {"config", "plots"}
    top_modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert top_modules == {"__init__", "__main__", "config", "plots"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_stage_imports_only_earlier_stages_public_modules(path):
    stage, problems = _stage(path), []
    for line, target in _imports(path):
        parts = target.split(".")
        other = parts[1]
        if other == stage or other == "__version__":
            continue
        if other not in ALLOWED[stage] and other in ALLOWED:
            problems.append(f"line {line}: {stage} imports {target} (a later stage, or cli)")
        if any(part.startswith("_") for part in parts[2:]):
            problems.append(f"line {line}: {stage} imports {target}, private to {other}")
    assert not problems, "\n".join(problems)


def test_the_dependency_rules_checked_are_the_design_ones():
    # The rules the design states in words, so that loosening ALLOWED is a visible change.
    assert ALLOWED["contract"] == {"config"}
    assert "retrain" not in ALLOWED["monitoring"] and "retrain" not in ALLOWED["gates"]
    assert all("cli" not in allowed for allowed in ALLOWED.values())


def test_the_checker_sees_a_violation(tmp_path):
    # A check that cannot fail checks nothing: feed it a module that breaks every rule.
    bad = tmp_path / "bad.py"
    bad.write_text("from closedloop.monitoring._storage import digest\n"
                   "def f():\n    from closedloop.retrain.workflow import run_retraining\n")
    found = [target for _, target in _imports(bad)]
    assert found == ["closedloop.monitoring._storage.digest",
                     "closedloop.retrain.workflow.run_retraining"]


def test_every_public_module_has_an_api_page_entry():
    book = PACKAGE.parents[1] / "book"
    pages = "\n".join(p.read_text() for p in [book / "api.md", *(book / "api").glob("*.md")])
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if any(part.startswith("_") and part != "__init__" for part in parts):
            continue
        name = ".".join(("closedloop", *parts)).removesuffix(".__init__")
        if f".. automodule:: {name}\n" not in pages:
            missing.append(name)
    assert not missing, f"no API page documents {missing}"
