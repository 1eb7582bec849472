"""The real-cluster tests' fixtures (see clusters.py)."""

from clusters import ray_head, reference, slurm  # noqa: F401  (fixtures)
