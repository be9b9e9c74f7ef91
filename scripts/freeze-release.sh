#!/usr/bin/env bash
# Writes Certification/release.json: the digests of the suites, the profiles and the tolerance
# rules that conformance release VERSION freezes, with the harness version. Run it when cutting a
# release; a test fails while the repository's files differ from the release they claim.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: scripts/freeze-release.sh VERSION HARNESS_VERSION}
harness=${2:?usage: scripts/freeze-release.sh VERSION HARNESS_VERSION}
python3 - "$version" "$harness" <<'PY'
import hashlib, json, sys, glob
def frozen(path, name):
    return {"file": path, "name": name, "digest": "sha256:" + hashlib.sha256(open(path, "rb").read()).hexdigest()}
suites = [frozen(p, json.load(open(p))["name"]) for p in sorted(glob.glob("Suites/*.json"))]
profiles = [frozen(p, json.load(open(p))["name"]) for p in sorted(glob.glob("Certification/profiles/*.json"))]
release = {"format": "systolic-bench.release/1", "version": sys.argv[1], "harness": sys.argv[2], "suites": suites,
           "profiles": profiles, "tolerances": frozen("Baselines/tolerances.json", "tolerances")}
open("Certification/release.json", "w").write(json.dumps(release, indent=2) + "\n")
print(f"froze release {sys.argv[1]}: {len(suites)} suites, {len(profiles)} profiles, harness {sys.argv[2]}")
PY
