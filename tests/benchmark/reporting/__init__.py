"""Tests of benchmark/reporting/."""
