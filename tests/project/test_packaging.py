"""What ``pip install .`` brings is what the product imports: a runtime import of a package
that only the ``dev`` or ``train`` extra installs would work in the test venv and fail in a
demo or production install (as ``lastmile smtpd`` did with aiosmtpd)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "lastmile"

# Modules of the package that a running lastmile never imports, each with its reason.
NOT_RUNTIME = {
    # `make train-sentiment` only: retrains the shipped model with scikit-learn, which the
    # `train` extra installs; the product loads the trained weights with numpy alone.
    "sentiment/train.py": "training script (scikit-learn, the `train` extra)",
    # `make train-sentiment` only: fine-tunes MiniLM with PyTorch and transformers and exports
    # it to ONNX (the `train` extra); the product serves it with onnxruntime and tokenizers.
    "sentiment/finetune.py": "fine-tuning script (the `train` extra)",
    # chdb:// only: ClickHouse embedded (534 MB), installed by the `dev` extra for the tests
    # and single-machine trials; clickhouse:// servers go through clickhouse-connect.
    "funnels/engines/chdb_session.py": "chdb:// only (chdb, the `dev` extra)",
}


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirement_name(requirement: str) -> str:
    """``psycopg[binary]>=3.2,<4`` -> ``psycopg``, normalised as PEP 503 does."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    assert name, requirement
    return re.sub(r"[-_.]+", "-", name.group(0)).lower()


def top_level_imports(path: Path) -> set[str]:
    """Absolute imports anywhere in the module (inside functions too: they run as well)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def third_party_imports() -> dict[str, str]:
    """{import name: first module importing it} over the package, without NOT_RUNTIME."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE).as_posix()
        if where in NOT_RUNTIME:
            continue
        for name in top_level_imports(path):
            if name == "lastmile" or name in sys.stdlib_module_names:
                continue
            found.setdefault(name, where)
    return found


def test_the_runtime_dependencies_cover_every_import_of_the_package():
    runtime = {requirement_name(r) for r in pyproject()["project"]["dependencies"]}
    distributions = importlib.metadata.packages_distributions()
    missing = {}
    for name, where in sorted(third_party_imports().items()):
        providers = {requirement_name(d) for d in distributions.get(name, [])}
        assert providers, f"{where} imports {name}, which no installed distribution provides"
        if not providers & runtime:
            missing[name] = (where, sorted(providers))
    assert missing == {}, "imported at run time but not in [project] dependencies"


def test_the_scan_sees_imports_inside_functions_and_the_excluded_modules_exist():
    imports = third_party_imports()
    assert {"django", "aiosmtpd", "numpy"} <= set(imports)  # aiosmtpd: inside a function
    for where in NOT_RUNTIME:
        assert (PACKAGE / where).is_file(), f"{where} moved: update NOT_RUNTIME"
    assert "sklearn" in top_level_imports(PACKAGE / "sentiment/train.py")


def test_the_demo_install_leaves_out_the_test_and_training_tools():
    project = pyproject()["project"]
    runtime = {requirement_name(r) for r in project["dependencies"]}
    assert not runtime & {"pytest", "playwright", "schemathesis", "scikit-learn", "hypothesis"}
    extras = {
        k: {requirement_name(r) for r in v} for k, v in project["optional-dependencies"].items()
    }
    assert {"pytest", "playwright", "schemathesis", "ruff", "mypy", "scikit-learn"} <= extras["dev"]
    assert "scikit-learn" in extras["train"]
