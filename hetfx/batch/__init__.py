"""Batch jobs: one compiled program, many datasets."""

from hetfx.batch.jobs import BatchError, Job, fit_many, read_jobs, read_manifest

__all__ = ["BatchError", "Job", "fit_many", "read_jobs", "read_manifest"]
