"""benchmarks/cpu_time.py: the CPU of a block, this process and its children apart."""

import multiprocessing as mp
import subprocess
import sys
import time

from conftest import load_benchmark

BURN = 0.4  # seconds of CPU each burner spends
TICK = 0.05  # the system counts CPU time in clock ticks (10 ms)


def burn(seconds: float) -> None:
    """Spin on the CPU for ``seconds`` of this process's CPU time."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def burn_then_wait(seconds: float, done, release) -> None:
    burn(seconds)
    done.set()
    release.wait(30)


def test_own_cpu_is_this_process():
    cpu_time = load_benchmark("cpu_time").cpu_time
    with cpu_time() as spent:
        burn(BURN)
    assert BURN - TICK <= spent.own < BURN + 0.3
    assert spent.chains < 0.2  # idle worker processes of other tests


def test_a_child_alive_at_the_end_counts_for_the_chains():
    cpu_time = load_benchmark("cpu_time").cpu_time
    context = mp.get_context("fork")
    done, release = context.Event(), context.Event()
    with cpu_time() as spent:
        child = context.Process(target=burn_then_wait, args=(BURN, done, release))
        child.start()
        assert done.wait(30)
    release.set()
    child.join(30)
    assert BURN - TICK <= spent.chains < BURN + 0.3
    assert spent.own < BURN


def test_a_child_that_ended_counts_for_the_chains():
    cpu_time = load_benchmark("cpu_time").cpu_time
    code = f"import time\nend = time.process_time() + {BURN}\n"
    code += "while time.process_time() < end: pass\n"
    with cpu_time() as spent:
        subprocess.run([sys.executable, "-c", code], check=True)
    # the child's own start-up (the interpreter) counts too
    assert BURN - TICK <= spent.chains < BURN + 1.0
    assert spent.own < BURN
