"""Write and check `requirements/lock.txt`, the versions the test suite passed with.

    python scripts/lock.py compile [--upgrade]   # resolve pyproject.toml into the lock (uv)
    python scripts/lock.py check-installed      # the running environment equals the lock

The lock covers the extras `make test` installs (dev, train, openai) and the `server` extra's
dependencies (the llamacpp backend's tests), for CPython 3.11 on x86-64 Linux, with hashes.
torch and llama-cpp-python are left out of it: torch's CPU or CUDA build is chosen by the
Makefile's TORCH_SPEC (pinned there), llama-cpp-python is built from source by
`scripts/install_llamacpp.sh` (pinned there). The first line records a digest of
pyproject.toml's dependency tables, so `tests/test_lock.py` fails when they change and the lock
was not compiled again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements" / "lock.txt"
EXTRAS = ("dev", "train", "openai", "server")
# Installed outside the lock (see the module docstring).
UNLOCKED = ("torch", "llama-cpp-python")
DIGEST_PREFIX = "# pyproject-dependencies-sha256: "


def dependency_digest(pyproject: Path = PYPROJECT) -> str:
    """sha256 of the dependency tables (core and every extra), in a canonical JSON form."""
    project = tomllib.loads(pyproject.read_text())["project"]
    tables = {"dependencies": project["dependencies"], **project["optional-dependencies"]}
    return hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()


def read_pins(lock: Path = LOCK) -> dict[str, str]:
    """{normalised name: version} of every `name==version` line in the lock."""
    pins: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        if line[:1].isalnum() and "==" in line:
            name, version = line.split(";")[0].split("==")
            pins[normalise(name)] = version.split()[0].rstrip("\\").strip()
    return pins


def normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def compile_lock(upgrade: bool) -> None:
    torch_cpu = ROOT / "build" / "torch-cpu.txt"
    torch_cpu.parent.mkdir(exist_ok=True)
    # Resolve against the CPU build, so the lock holds none of the CUDA build's nvidia-* wheels.
    torch_cpu.write_text("torch==2.13.0+cpu\n")
    command = [
        "uv", "pip", "compile", str(PYPROJECT), "--quiet", "--generate-hashes",
        "--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28",
        "--find-links", "/opt/wheels", "--override", str(torch_cpu),
        "--custom-compile-command", "make lock", "-o", str(LOCK),
    ]  # fmt: skip
    for extra in EXTRAS:
        command += ["--extra", extra]
    for name in UNLOCKED:
        command += ["--no-emit-package", name]
    if upgrade:  # without it, uv keeps the pins of the existing lock where they still fit
        command.append("--upgrade")
    subprocess.run(command, check=True, cwd=ROOT)
    LOCK.write_text(f"{DIGEST_PREFIX}{dependency_digest()}\n{LOCK.read_text()}")


def check_installed() -> int:
    """Exit status 1 and one line per package where the environment differs from the lock."""
    wrong = []
    for name, version in sorted(read_pins().items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            wrong.append(f"{name}: locked {version}, not installed")
            continue
        if installed != version:
            wrong.append(f"{name}: locked {version}, installed {installed}")
    for line in wrong:
        print(f"lock: {line}", file=sys.stderr)
    if not wrong:
        print(f"lock: all {len(read_pins())} locked packages installed at their locked versions")
    return 1 if wrong else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("compile").add_argument("--upgrade", action="store_true")
    sub.add_parser("check-installed")
    args = parser.parse_args()
    if args.command == "compile":
        compile_lock(args.upgrade)
        return 0
    return check_installed()


if __name__ == "__main__":
    raise SystemExit(main())
