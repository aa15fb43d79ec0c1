#!/usr/bin/env python3
"""The issue-12 figures of a rehearsal's report.json: fault causes, test participation,
"0 error rows" after files with errors, password links per kommune, corrections per day.

Usage: python3 scripts/season_truth.py out/rehearsal-2017/report.json
"""
import json
import sys


def main(path):
    r = json.load(open(path, encoding="utf-8"))
    ks = r["kommuner"]
    causes = sorted({c for k in ks for p in k["phases"] if p.get("cause") for c in p["cause"].split(",")})
    tested = sum(1 for k in ks for p in k["phases"] if p["phase"] == "test_submission" and p["status"] != "not_attempted")
    zero_after_errors = 0
    links = 0
    correcting = 0
    for k in ks:
        tl = k["timeline"]
        errors_sent = any(e["kind"].endswith("-submitted") and e["kind"] != "test-submitted" and "; 0 errors" not in e["detail"] for e in tl)
        if errors_sent and any(e["kind"] == "feedback-opened" and e["detail"].startswith("feedback") and ": 0 error rows" in e["detail"] for e in tl):
            zero_after_errors += 1
        links = max(links, sum(1 for e in tl if e["kind"] == "link-requested"))
        if any(e["kind"] == "correction-submitted" for e in tl):
            correcting += 1
    busiest = max((d["corrections"] for d in r["daily"]), default=0)
    n = len(ks)
    print(f"kommuner: {n}")
    print(f"fault causes ({len(causes)}): {', '.join(causes)}")
    print(f"tested: {tested} of {n} (seed 001: 288 of 427)")
    print(f"'0 error rows' after a file with errors: {zero_after_errors}")
    print(f"most password links of one kommune: {links}")
    print(f"corrections: {correcting} kommuner ({100 * correcting / n:.0f} %), busiest day {busiest} ({100 * busiest / n:.0f} %)")


if __name__ == "__main__":
    main(sys.argv[1])
