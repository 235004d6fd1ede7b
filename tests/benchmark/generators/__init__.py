"""Tests of benchmark/generators/."""
