"""Tests of benchmark/data/."""
