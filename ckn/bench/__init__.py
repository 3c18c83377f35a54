"""Benchmarks (``make bench``): speed as ratios to references measured in the same run."""
