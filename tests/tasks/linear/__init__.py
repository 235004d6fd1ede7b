"""Tests of tasks/linear/."""
