"""Benchmarks that ship with the package, so that `lstmkit bench` runs from an install."""
