#!/usr/bin/env python3
"""Every MX and NVFP4 case of Suites/gemm.json (all profiles) on the emulator declaring each scale
rounding (docs/formats.md), honest and with the fault scale-rounding-undeclared (it rounds the
other way than it declares): a markdown table of verdicts and worst ratios.

    scripts/block-format-verdicts.py [SYSTOLIC_BENCH]    (default .build/release/systolic-bench)

Exit 1 when an honest run fails a case; 2 on bad arguments."""
import json, os, subprocess, sys, tempfile

def main():
    if len(sys.argv) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    bench = sys.argv[1] if len(sys.argv) == 2 else ".build/release/systolic-bench"
    if not os.access(bench, os.X_OK):
        print(f"block-format-verdicts: cannot run {bench}: build it first (swift build -c release)", file=sys.stderr)
        return 2
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    suite = json.load(open(os.path.join(root, "Suites/gemm.json")))
    suite["cases"] = [c for c in suite["cases"] if "block_format" in c]
    preset = json.load(open(os.path.join(root, "Sources/SystolicEmulation/Presets/hbm-inference.json")))
    work = tempfile.mkdtemp(prefix="block-format-verdicts-")
    suite_path = os.path.join(work, "gemm.json")
    json.dump(suite, open(suite_path, "w"))
    columns, table, honest_failed = [], {}, False
    for mx, nvfp4 in [("floor", "nearest"), ("rceil", "up"), ("even", "nearest")]:
        config = dict(preset)
        config["arithmetic"] = dict(preset["arithmetic"], scale_rounding={"mx": mx, "nvfp4": nvfp4})
        config_path = os.path.join(work, f"{mx}-{nvfp4}.json")
        json.dump(config, open(config_path, "w"))
        for fault in [None, "scale-rounding-undeclared"]:
            out = os.path.join(work, f"{mx}-{nvfp4}-{fault}.json")
            command = [bench, "run", suite_path, "--all-profiles", "--device-config", config_path, "--out", out]
            if fault:
                command += ["--fault", fault]
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            name = f"{mx} / {nvfp4}" + (" + undeclared" if fault else "")
            columns.append(name)
            for case in json.load(open(out))["cases"]:
                ratio = (case.get("check") or {}).get("max_ratio_to_bound")
                shown = f"{ratio:.3g}" if isinstance(ratio, (int, float)) else ratio   # "inf" is written as a string
                cell = case["verdict"] + (f" ({shown})" if ratio is not None and case["verdict"] == "fail" else "")
                table.setdefault(case["id"], {})[name] = cell
                if not fault and case["verdict"] != "pass":
                    honest_failed = True
    print("| case | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for case_id, cells in table.items():
        print(f"| `{'/'.join(case_id.split('/')[1:])}` | " + " | ".join(cells.get(c, "-") for c in columns) + " |")
    return 1 if honest_failed else 0

if __name__ == "__main__":
    sys.exit(main())
