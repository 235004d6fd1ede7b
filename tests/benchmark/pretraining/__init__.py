"""Tests of benchmark/pretraining/."""
