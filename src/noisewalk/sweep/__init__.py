"""Noise studies at scale: experiment specs, a durable results store, resume, executors."""
