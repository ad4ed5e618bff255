#!/usr/bin/env python3
"""Lists the JUnit tests that failed, from the Surefire and Failsafe reports under the given directories.

A CI log is often read from its end; this puts the failing tests' names and the first line of each failure's message
there, so that nobody has to find them in thousands of lines of test output.
"""
import pathlib
import sys
import xml.etree.ElementTree as ET

MESSAGE_CHARS = 300


def failures(report):
    try:
        suite = ET.parse(report).getroot()
    except ET.ParseError as e:
        yield f"{report.name}: unreadable report ({e})"
        return
    for case in suite.iter("testcase"):
        for outcome in ("failure", "error"):
            for problem in case.findall(outcome):
                message = (problem.get("message") or problem.get("type") or "").strip().splitlines()
                first = message[0][:MESSAGE_CHARS] if message else ""
                yield f"{case.get('classname')}.{case.get('name')} [{outcome}]: {first}"


def main(roots):
    found = 0
    for root in roots:
        for report in sorted(pathlib.Path(root).glob("*/target/*-reports/TEST-*.xml")):
            for line in failures(report):
                print("  " + line)
                found += 1
    if found == 0:
        print("  (no failing test in the Surefire or Failsafe reports)")


if __name__ == "__main__":
    main(sys.argv[1:] or ["."])
