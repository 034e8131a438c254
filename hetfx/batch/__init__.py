"""Batch jobs: one compiled program, many datasets.

``jobs`` describes a job and reads job files, ``worker`` fits one job,
``run`` (:func:`fit_many`) runs many on this machine, a process pool or Dask.
"""

from hetfx.batch.jobs import BatchError, Job, read_jobs
from hetfx.batch.run import fit_many, read_manifest

__all__ = ["BatchError", "Job", "fit_many", "read_jobs", "read_manifest"]
