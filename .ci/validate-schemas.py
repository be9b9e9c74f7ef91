#!/usr/bin/env python3
"""Validates files against the repository's JSON Schemas with the standard `jsonschema` package.

Usage: validate-schemas.py SCHEMA FILE... (schemas are read from schemas/, so $refs resolve).
"""
import json
import pathlib
import sys

import jsonschema
from referencing import Registry, Resource

root = pathlib.Path(__file__).resolve().parent.parent / "schemas"
resources = []
for path in root.glob("*.schema.json"):
    schema = json.loads(path.read_text())
    resources.append((schema["$id"], Resource.from_contents(schema)))
registry = Registry().with_resources(resources)

schema_name, files = sys.argv[1], sys.argv[2:]
schema = json.loads((root / schema_name).read_text())
validator = jsonschema.Draft202012Validator(schema, registry=registry, format_checker=jsonschema.FormatChecker())
bad = 0
for name in files:
    errors = sorted(validator.iter_errors(json.loads(pathlib.Path(name).read_text())), key=lambda e: list(e.path))
    for e in errors[:5]:
        print(f"{name}: {'/'.join(map(str, e.path)) or 'top level'}: {e.message}")
    bad += bool(errors)
    if not errors:
        print(f"valid {name} against {schema_name}")
sys.exit(1 if bad else 0)
