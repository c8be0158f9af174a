"""requirements/lock.txt agrees with pyproject.toml: same dependency tables (digest), every
declared requirement pinned at a version its specifier allows, every pin hash-checked."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def _lock_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock_script", ROOT / "scripts" / "lock.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lock = _lock_script()
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCKED_TABLES = [("dependencies", PROJECT["dependencies"])] + [
    (extra, PROJECT["optional-dependencies"][extra]) for extra in lock.EXTRAS
]


def test_lock_was_compiled_from_this_pyproject() -> None:
    first = lock.LOCK.read_text().splitlines()[0]
    assert first == lock.DIGEST_PREFIX + lock.dependency_digest(), (
        "pyproject.toml's dependencies changed since requirements/lock.txt was compiled: "
        "run `python scripts/lock.py compile` (or `make lock` to upgrade everything)"
    )


def test_the_digest_sees_a_changed_requirement(tmp_path: Path) -> None:
    changed = tmp_path / "pyproject.toml"
    changed.write_text(
        (ROOT / "pyproject.toml").read_text().replace('"scipy>=1.11"', '"scipy>=1.12"')
    )
    assert lock.dependency_digest(changed) != lock.dependency_digest()


@pytest.mark.parametrize(
    "requirement",
    [f"{table}: {r}" for table, reqs in LOCKED_TABLES for r in reqs],
)
def test_every_requirement_is_pinned_within_its_range(requirement: str) -> None:
    req = Requirement(requirement.split(": ", 1)[1])
    name = lock.normalise(req.name)
    if name in lock.UNLOCKED:
        pytest.skip(f"{name} is pinned outside the lock (Makefile / install script)")
    pins = lock.read_pins()
    assert name in pins, f"{name} is required by pyproject.toml but not in the lock"
    assert req.specifier.contains(Version(pins[name]), prereleases=True), (
        f"{name}=={pins[name]} in the lock is outside pyproject's {req.specifier}"
    )


def test_every_pin_carries_a_hash() -> None:
    entries = re.split(r"\n(?=[a-z0-9])", lock.LOCK.read_text().split("\n", 3)[3])
    pinned = [e for e in entries if "==" in e.split("\n")[0]]
    assert len(pinned) == len(lock.read_pins()) > 50
    assert all("--hash=sha256:" in e for e in pinned)


def test_the_unlocked_pins_fit_pyproject() -> None:
    """torch (Makefile's TORCH_SPEC) and llama-cpp-python (the install script) are pinned
    outside the lock; their pins must still satisfy pyproject's ranges."""
    declared = {
        lock.normalise(Requirement(r).name): Requirement(r)
        for _, reqs in [*LOCKED_TABLES, ("llamacpp", PROJECT["optional-dependencies"]["llamacpp"])]
        for r in reqs
    }
    torch = re.search(r"^TORCH_SPEC \?= torch==(\S+)$", (ROOT / "Makefile").read_text(), re.M)
    llama = re.search(
        r"LLAMA_CPP_VERSION:-([0-9.]+)", (ROOT / "scripts/install_llamacpp.sh").read_text()
    )
    assert torch and llama
    assert declared["torch"].specifier.contains(torch.group(1))
    assert declared["llama-cpp-python"].specifier.contains(llama.group(1))
