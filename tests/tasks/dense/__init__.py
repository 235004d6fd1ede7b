"""Tests of tasks/dense/."""
