#!/usr/bin/env python3
"""The other half of StrictnessTests: every violation in Tests/Fixtures/strictness/violations.json
that a JSON Schema can express must be refused by that schema too, and every base file accepted.
Together they show each loader refusing what its schema refuses (and, for the violations marked
`beyond_schema`, more: a summary that disagrees with its cases, a day that is not in the calendar)."""
import copy
import json
import pathlib
import sys

import jsonschema
from referencing import Registry, Resource

repo = pathlib.Path(__file__).resolve().parent.parent
resources = []
for path in (repo / "schemas").glob("*.schema.json"):
    schema = json.loads(path.read_text())
    resources.append((schema["$id"], Resource.from_contents(schema)))
registry = Registry().with_resources(resources)


def edited(document, violation):
    doc = copy.deepcopy(document)
    *parents, last = violation["path"]
    target = doc
    for key in parents:
        target = target[key]
    if violation.get("delete"):
        del target[last]
    else:
        target[last] = violation["value"]
    return doc


fixture = json.loads((repo / "Tests/Fixtures/strictness/violations.json").read_text())
failures = 0
checked = 0
for entry in fixture["files"]:
    schema = json.loads((repo / entry["schema"]).read_text())
    validator = jsonschema.Draft202012Validator(schema, registry=registry, format_checker=jsonschema.FormatChecker())
    base = json.loads((repo / entry["base"]).read_text())
    for e in list(validator.iter_errors(base))[:3]:
        print(f"{entry['base']}: the base file itself violates {entry['schema']}: {e.message}")
        failures += 1
    for v in entry["violations"]:
        if v.get("beyond_schema"):
            continue
        checked += 1
        if validator.is_valid(edited(base, v)):
            print(f"{entry['schema']} accepts the violation {v['path']} = {v.get('value', '(deleted)')!r}")
            failures += 1
print(f"{checked} violations refused by their schemas; {failures} problems")
sys.exit(1 if failures else 0)
