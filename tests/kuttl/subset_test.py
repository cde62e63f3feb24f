#!/usr/bin/python3
"""run_kuttl.py's subset rule, as kuttl defines it: maps are subsets key by key, arrays match
element by element with equal lengths, scalars are equal."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_kuttl import subset  # noqa: E402

actual = {"metadata": {"name": "a", "labels": {"x": "1", "y": "2"}},
          "status": {"readyReplicas": 1, "conditions": [{"type": "A", "status": "True"}, {"type": "B", "status": "False"}]}}
cases = [
    ({"metadata": {"name": "a"}}, True, "extra keys in the cluster are fine"),
    ({"metadata": {"labels": {"x": "1"}}}, True, "nested maps are subsets"),
    ({"status": {"readyReplicas": 1}}, True, "equal scalars"),
    ({"status": {"readyReplicas": 2}}, False, "different scalars"),
    ({"status": {"readyReplicas": "1"}}, False, "a string is not a number"),
    ({"status": {"missing": 1}}, False, "a missing key"),
    ({"status": {"conditions": [{"type": "A"}, {"type": "B"}]}}, True, "arrays element by element, each a subset"),
    ({"status": {"conditions": [{"type": "A"}]}}, False, "arrays of another length do not match"),
    ({"status": {"conditions": [{"type": "B"}, {"type": "A"}]}}, False, "arrays match in order"),
    ({"metadata": {"name": True}}, False, "a bool is not a string"),
]
bad = 0
for expected, want, what in cases:
    got = subset(expected, actual) is None
    print(("ok  " if got == want else "FAIL"), what)
    bad += got != want
sys.exit(1 if bad else 0)
