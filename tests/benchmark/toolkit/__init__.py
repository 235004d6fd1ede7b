"""Tests of benchmark/toolkit/."""
