#!/usr/bin/env bash
# Writes Certification/release.json: the digests of the suites, the profiles, the tolerance
# rules and the waivers it issues (Certification/waivers/, each naming VERSION) that conformance
# release VERSION freezes, with the harness version. Run it when cutting a release; a test fails
# while the repository's files differ from the release they claim.
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
# Waivers the release issues: each must name this release (a waiver is bound to it).
waivers = []
for p in sorted(glob.glob("Certification/waivers/*.json")):
    w = json.load(open(p))
    if w.get("release") != sys.argv[1]:
        sys.exit(f"{p}: issued for release {w.get('release')!r}, not {sys.argv[1]}")
    waivers.append(frozen(p, p.rsplit("/", 1)[-1][:-5]))
release = {"format": "systolic-bench.release/1", "version": sys.argv[1], "harness": sys.argv[2], "suites": suites,
           "profiles": profiles, "tolerances": frozen("Baselines/tolerances.json", "tolerances"), "waivers": waivers}
open("Certification/release.json", "w").write(json.dumps(release, indent=2) + "\n")
print(f"froze release {sys.argv[1]}: {len(suites)} suites, {len(profiles)} profiles, {len(waivers)} waivers, harness {sys.argv[2]}")
PY
