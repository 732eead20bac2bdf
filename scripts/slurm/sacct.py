#!/usr/bin/env python3
"""A stand-in `sacct` for a SLURM without an accounting daemon (scripts/slurm/up.sh's cluster).

submitit polls job states with `sacct -o JobID,State,NodeList --parsable2 -j ID ...`, and there is
no submitit setting to use anything else. Without slurmdbd the real `sacct` fails: submitit then
warns on every poll and keeps every job in state UNKNOWN, which it counts as unfinished, so a job
that dies without writing its result pickle (scancel, SIGKILL, node failure) is waited on forever.

This answers the same query from two sources: `scontrol show job -o` (pending, running and
recently finished jobs; slurmctld forgets finished ones after MinJobAge) and the job-completion
log (`JobCompType=jobcomp/filetxt`, `JobCompLoc` in slurm.conf; one line per finished run), for
jobs the controller no longer knows. The controller's record wins; of several completion lines
for one job (requeued runs) the last wins. Array tasks read `<array id>_<task>` and a pending
array's remaining tasks `<array id>_[0-3%2]`, as in the real sacct.

Supported: -o/--format FIELDS, -j/--jobs IDS, -P/--parsable2, -p/--parsable, -n/--noheader,
-X/--allocations (always on: no step lines), -a/--allusers (always on), -h/--help.
Fields: JobID JobIDRaw JobName State ExitCode NodeList Partition Start End Elapsed Restarts Reason
WorkDir.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

DEFAULT_FIELDS = "JobID,JobName,Partition,State,ExitCode"
# sacct field -> (key in `scontrol show job -o`, key in the jobcomp/filetxt line)
FIELDS = {
    "jobidraw": ("JobId", "JobId"),
    "jobname": ("JobName", "Name"),
    "state": ("JobState", "JobState"),
    "exitcode": ("ExitCode", "ExitCode"),
    "nodelist": ("NodeList", "NodeList"),
    "partition": ("Partition", "Partition"),
    "start": ("StartTime", "StartTime"),
    "end": ("EndTime", "EndTime"),
    "elapsed": ("RunTime", None),
    "restarts": ("Restarts", None),
    "reason": ("Reason", None),
    "workdir": ("WorkDir", "WorkDir"),
}
# A `key=` that starts a new pair: a space, then a key made of word characters, '/' or ':'.
_PAIR = re.compile(r"(?:^|\s)([\w/:]+)=")


def parse_record(line: str) -> dict[str, str]:
    """`Key=value Key=value ...` (values may hold spaces) -> dict."""
    matches = list(_PAIR.finditer(line.strip()))
    record = {}
    for match, after in zip(matches, matches[1:] + [None]):
        end = after.start() if after else len(line.strip())
        record[match.group(1)] = line.strip()[match.end() : end].strip()
    return record


def display_id(record: dict[str, str]) -> str:
    """sacct's JobID: `<array job>_<task>`, `<array job>_[<pending tasks>]`, or the plain id."""
    array_job, task = record.get("ArrayJobId"), record.get("ArrayTaskId")
    if not array_job or task is None:
        return record["JobId"]
    return f"{array_job}_{task}" if task.isdigit() else f"{array_job}_[{task}]"


def slurm_conf_value(key: str) -> str | None:
    path = os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return None
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line.lower().startswith(key.lower() + "="):
            return line.split("=", 1)[1].strip()
    return None


def live_records() -> list[dict[str, str]]:
    """Every job slurmctld still holds (pending, running, finished less than MinJobAge ago)."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"sacct (stand-in): scontrol show job failed: {out.stderr.strip()}")
    return [parse_record(line) for line in out.stdout.splitlines() if line.startswith("JobId=")]


def completed_records() -> list[dict[str, str]]:
    """Every finished run in the job-completion log (oldest first)."""
    if (slurm_conf_value("JobCompType") or "").lower() != "jobcomp/filetxt":
        return []
    path = slurm_conf_value("JobCompLoc")
    try:
        lines = open(path).read().splitlines() if path else []
    except OSError:
        return []
    return [parse_record(line) for line in lines if line.startswith("JobId=")]


def value(record: dict[str, str], field: str, live: bool) -> str:
    if field == "jobid":
        return display_id(record)
    if field not in FIELDS:
        sys.exit(f"sacct (stand-in): Invalid field requested: {field!r} (known: JobID, {', '.join(FIELDS)})")
    key = FIELDS[field][0 if live else 1]
    text = record.get(key, "") if key else ""
    return "" if text in ("(null)", "Unknown", "None") else text


def main(argv: list[str]) -> int:
    fields, wanted = DEFAULT_FIELDS, set()
    parsable, header = None, True
    args = iter(argv)
    for arg in args:
        name, _, inline = arg.partition("=")
        if name in ("-o", "--format"):
            fields = inline or next(args)
        elif name in ("-j", "--jobs"):
            wanted |= {j for j in (inline or next(args)).split(",") if j}
        elif name in ("-P", "--parsable2"):
            parsable = "|"
        elif name in ("-p", "--parsable"):
            parsable = "|+"
        elif name in ("-n", "--noheader"):
            header = False
        elif name in ("-X", "--allocations", "-a", "--allusers"):
            pass
        elif name in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            print(f"sacct (stand-in): unsupported option {arg!r}; see `sacct --help`", file=sys.stderr)
            return 2
    columns = [f.strip() for f in fields.split(",") if f.strip()]

    records: dict[str, tuple[dict[str, str], bool]] = {}  # sacct JobID -> (record, from slurmctld)
    for record in completed_records():
        records[display_id(record)] = (record, False)
    for record in live_records():
        records[display_id(record)] = (record, True)
    if wanted:  # `A_i`: that task; `A`: the job, or every task of array A; a raw id: its job
        records = {
            k: (r, live)
            for k, (r, live) in records.items()
            if k in wanted or k.split("_")[0] in wanted or r.get("JobId") in wanted
        }
    rows = {k: [value(r, c.lower(), live) for c in columns] for k, (r, live) in records.items()}

    lines = ([columns] if header else []) + [rows[k] for k in sorted(rows, key=_order)]
    for line in lines:
        if parsable == "|":
            print("|".join(line))
        elif parsable == "|+":
            print("|".join(line) + "|")
        else:
            print(" ".join(f"{cell:<12.12}" if i < len(line) - 1 else cell for i, cell in enumerate(line)))
    return 0


def _order(job_id: str) -> tuple:
    return tuple(int(n) if n.isdigit() else n for n in re.split(r"(\d+)", job_id))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
