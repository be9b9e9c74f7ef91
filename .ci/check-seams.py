#!/usr/bin/env python3
"""Fails when a module reaches across a seam it must not cross (from `swift package describe`).

The check judges every device, the emulator included, so neither it nor anything that only runs,
records or compares devices may depend on the emulator or its kernels: a layout or rounding
mistake shared with the emulator would appear identically in the output and in the reference
that judges it. Usage: .ci/check-seams.py [describe.json]  (default: runs swift package describe).
"""
import json
import subprocess
import sys

text = open(sys.argv[1]).read() if len(sys.argv) > 1 else subprocess.run(
    ["swift", "package", "describe", "--type", "json"], check=True, capture_output=True, text=True).stdout
targets = {t["name"]: t for t in json.loads(text[text.index("{"):])["targets"]}

def closure(name):
    seen, todo = set(), [name]
    while todo:
        for dep in targets[todo.pop()].get("target_dependencies", []):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen

emulator = {"SystolicEmulation", "CSystolicKernels"}
must_not_reach = {name: emulator for name in
                  ["SystolicDevice", "SystolicResults", "SystolicCheck", "SystolicHarness", "SystolicCompare",
                   "SystolicProtocol", "SystolicProcess", "CSystolicReference"]}
# Comparing stored results needs neither a device run nor a check.
must_not_reach["SystolicCompare"] = emulator | {"SystolicHarness", "SystolicCheck"}
must_not_reach["SystolicEmulation"] = {"SystolicCheck", "CSystolicReference", "SystolicHarness"}
bad = 0
for name, forbidden in sorted(must_not_reach.items()):
    reached = sorted(closure(name) & forbidden)
    print(f"{name} -> {', '.join(sorted(closure(name))) or '(nothing)'}")
    if reached:
        print(f"  error: {name} depends on {', '.join(reached)}")
        bad += 1
sys.exit(1 if bad else 0)
