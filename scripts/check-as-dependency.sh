#!/usr/bin/env bash
# Builds a package outside this repository that depends on SystolicBench by version (a local tag
# on a clone of the current commit) and runs the harness through it: SwiftPM refuses a versioned
# dependency with unsafe build flags, so this is what shows the package is usable as one.
# Usage: scripts/check-as-dependency.sh [WORK_DIR]   (default: a fresh temporary directory)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"   # SwiftPM needs an absolute file:// URL
version="99.0.0"

# A clone of the commit being tested, with local changes, tagged with a version.
rm -rf "$work/SystolicBench" "$work/dependent"
git clone --quiet --no-hardlinks "$repo" "$work/SystolicBench"
git -C "$repo" diff HEAD --binary | git -C "$work/SystolicBench" apply --allow-empty
git -C "$repo" ls-files --others --exclude-standard -z | (cd "$repo" && xargs -0 -r cp --parents -t "$work/SystolicBench")
git -C "$work/SystolicBench" add -A
git -C "$work/SystolicBench" -c user.name=ci -c user.email=ci@localhost commit --quiet --allow-empty -m "as tested"
git -C "$work/SystolicBench" tag "$version"

mkdir -p "$work/dependent"
cp -R "$repo/scripts/dependent/Sources" "$work/dependent/"
sed -e "s|@URL@|file://$work/SystolicBench|" -e "s|@VERSION@|$version|" -e "s|@NAME@|SystolicBench|" \
    "$repo/scripts/dependent/Package.swift.in" > "$work/dependent/Package.swift"
cd "$work/dependent"
swift build
.build/debug/Dependent "$repo/Suites/gemm.json" "$work/dependent-results.json"
echo "a versioned dependent built and ran the harness"
