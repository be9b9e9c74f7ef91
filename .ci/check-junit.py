#!/usr/bin/env python3
"""Loads a JUnit XML file with junitparser (a common JUnit reader) and prints its counts.

Fails when the file does not load or holds no test; regressions are the comparison's business.
"""
import sys

from junitparser import JUnitXml

xml = JUnitXml.fromfile(sys.argv[1])
tests = failures = errors = skipped = 0
for suite in xml:
    for case in suite:
        tests += 1
        for result in case.result:
            kind = type(result).__name__
            failures += kind == "Failure"
            errors += kind == "Error"
            skipped += kind == "Skipped"
print(f"junit: {sys.argv[1]} loads in junitparser: {tests} tests, {failures} failures, {errors} errors, {skipped} skipped")
sys.exit(0 if tests > 0 else 1)
