#!/usr/bin/env python3
"""Lists the tests ctest skipped, each with its reason, from ctest's --output-junit file."""
import sys
import xml.etree.ElementTree as ET


def reason(case):
    out = case.findtext("system-out") or ""
    lines = [l.strip() for l in out.splitlines() if l.strip()]
    # GoogleTest: "path:line: Skipped" then the message on the next lines.
    for i, l in enumerate(lines):
        if l.endswith(": Skipped") or l == "Skipped":
            rest = [x for x in lines[i + 1:i + 3] if not x.startswith("[")]
            if rest:
                return " ".join(rest)
    # A script that exits with the skip code: its last line says why.
    for l in reversed(lines):
        if not l.startswith("[") and "SKIP_RETURN_CODE" not in l:
            return l
    s = case.find("skipped")
    return (s.get("message") if s is not None else None) or "no reason given"


def main():
    if len(sys.argv) != 2:
        print("usage: ctest-skips.py CTEST_JUNIT_XML", file=sys.stderr)
        return 2
    try:
        root = ET.parse(sys.argv[1]).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"ctest-skips: cannot read {sys.argv[1]}: {e}", file=sys.stderr)
        return 2
    skipped = [c for c in root.iter("testcase")
               if c.get("status") in ("notrun", "disabled") or c.find("skipped") is not None]
    if not skipped:
        print("no test was skipped")
        return 0
    print(f"\n*** {len(skipped)} test(s) SKIPPED (they did not run; each line says why) ***")
    for c in skipped:
        print(f"  SKIPPED {c.get('name')}: {reason(c)[:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
