"""CPU time of a fit, split between its own process and the chains' (not a test).

A fit's chains run in other processes: httpstan's worker processes, which live
on from fit to fit, or CmdStan's, which end with their chains. The CPU the
chains spend divided by the cores that run them (the fit's ``cores``) is a
floor of the fit's wall time on this machine: no change outside the chains'
arithmetic goes below it.
"""

from __future__ import annotations

import resource
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil


def _live_children() -> dict[int, float]:
    """CPU seconds so far of each live descendant process."""
    out = {}
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:  # ended meanwhile: counted by RUSAGE_CHILDREN
            continue
        out[child.pid] = times.user + times.system
    return out


def _ended_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CPUTime:
    """Seconds of CPU of this process (``own``) and of the chains' (``chains``)
    while the block ran."""

    own: float = 0.0
    chains: float = 0.0

    def floor(self, cores: int) -> float:
        """The chains' CPU over the cores that ran them: no wall time below."""
        return self.chains / cores


@contextmanager
def cpu_time() -> Iterator[CPUTime]:
    """Measure the CPU time of the block, this process and its children apart.

    A live child is counted from its CPU at the start (0 if it started within
    the block); a child that ended within the block, from what the system
    reports of waited-for children.
    """
    spent = CPUTime()
    own, live, ended = psutil.Process().cpu_times(), _live_children(), _ended_children()
    try:
        yield spent
    finally:
        after = psutil.Process().cpu_times()
        spent.own = after.user + after.system - own.user - own.system
        now = _live_children()
        spent.chains = sum(cpu - live.get(pid, 0.0) for pid, cpu in now.items())
        spent.chains += _ended_children() - ended
