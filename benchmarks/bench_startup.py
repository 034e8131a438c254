"""Start-up time: ``python -c "import hetfx"`` and ``hetfx --help`` in fresh
processes, and which heavy libraries the import pulls in (prints figures; not a
test).

Usage: python benchmarks/bench_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import time

HEAVY = ("arviz", "matplotlib", "scipy.stats", "statsmodels", "stan", "cmdstanpy")


def seconds(cmd: list[str], repeat: int) -> list[float]:
    """Wall-clock seconds of ``cmd`` in fresh processes, after one warm-up run."""
    subprocess.run(cmd, check=True, capture_output=True)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    exe = shutil.which("hetfx")
    help_cmd = [exe, "--help"] if exe else [sys.executable, "-m", "hetfx.cli", "-h"]
    runs = {
        'python -c "import hetfx"': [sys.executable, "-c", "import hetfx"],
        "hetfx --help": help_cmd,
        'python -c "pass" (the interpreter alone)': [sys.executable, "-c", "pass"],
    }
    print(
        f"{platform.machine()}, {platform.python_version()}, "
        f"median of {args.repeat} fresh processes"
    )
    for label, cmd in runs.items():
        times = seconds(cmd, args.repeat)
        print(
            f"{label:45s} median {statistics.median(times):.2f} s "
            f"(min {min(times):.2f}, max {max(times):.2f})"
        )
    probe = f"import sys, hetfx; print([m for m in {HEAVY!r} if m in sys.modules])"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.strip()
    print(f"heavy libraries imported by `import hetfx`: {loaded}")


if __name__ == "__main__":
    main()
