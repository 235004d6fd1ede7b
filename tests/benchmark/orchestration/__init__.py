"""Tests of benchmark/orchestration/."""
