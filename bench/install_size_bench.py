"""What each install costs on disk: the scan-only base install beside the CDK user's ``[cdk]`` install.

Builds the wheel from this tree, installs it into two fresh venvs at this repository's pins (constraints.txt) and
prints each venv's size, its largest distributions and whether ``key-quarantine scan`` runs there with no PATH
(so no node). ``python bench/install_size_bench.py`` (a few minutes: two installs, pip's cache makes them cheaper).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LEAKY_TERRAFORM = REPO / "tests" / "fixtures" / "terraform" / "leaky"


def run(*command: str | Path) -> None:
    subprocess.run([str(c) for c in command], check=True, capture_output=True)


def size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def largest(venv: Path, count: int = 4) -> str:
    (site,) = venv.glob("lib/python3*/site-packages")
    tops = {p: size_mb(p) if p.is_dir() else p.stat().st_size / 1e6 for p in site.iterdir()}
    ranked = sorted(tops.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{p.name} {mb:.0f} MB" for p, mb in ranked)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="kq-install-") as scratch:
        root = Path(scratch)
        run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", root, REPO)
        (wheel,) = root.glob("cdk_key_quarantine-*.whl")
        for label, requirement in (("scan only", str(wheel)), ("[cdk]", f"{wheel}[cdk]")):
            venv = root / label.strip("[]").replace(" ", "-")
            started = time.monotonic()
            run(sys.executable, "-m", "venv", "--without-pip", venv)
            run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet",
                "--constraint", REPO / "constraints.txt", requirement)  # fmt: skip
            seconds = time.monotonic() - started
            scan = subprocess.run(
                [str(venv / "bin" / "key-quarantine"), "scan", str(LEAKY_TERRAFORM)],
                capture_output=True, env={"PATH": ""}, check=False,
            )  # fmt: skip
            print(
                f"{label:10} {size_mb(venv):6.0f} MB  install {seconds:5.1f} s  scan exit {scan.returncode}"
            )
            print(f"{'':10} largest: {largest(venv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
