"""``expanso-cli`` for the emulated orchestrator (mechanics.md §4): the subcommands the seed uses.

    expanso-cli node list [--format table|json] [--no-style]
    expanso-cli job deploy FILE [--force]
    expanso-cli job list [--format json] [--no-style]
    expanso-cli job stop NAME
    expanso-cli execution list [--job NAME | --job-id NAME] [--format json] [--no-style]

Global flags: ``--endpoint URL`` (env ``EXPANSO_CLI_ENDPOINT`` / ``EXPANSO_ENDPOINT``, default
``http://127.0.0.1:9010``), ``--api-key KEY`` (env ``EXPANSO_CLI_AUTH_API_KEY``; sent, never
printed). Tables look like go-pretty's (``--no-style``: plain columns), JSON mirrors the API
field names. Errors: one line on stderr, exit code 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from repro_lib.clirender import render_json, render_table

__all__ = ["main", "TABLE_COLUMNS", "CliError"]

DEFAULT_ENDPOINT = "http://127.0.0.1:9010"
TABLE_COLUMNS = {
    "nodes": ("id", "name", "state", "labels"),
    "jobs": ("name", "id", "type", "state", "version", "created"),
    "executions": ("id", "job", "node", "state", "desired", "created"),
}
_EMPTY = {"nodes": "No nodes found", "jobs": "No jobs found", "executions": "No executions found"}


class CliError(Exception):
    """One line for stderr."""


def _request(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    url = args.endpoint.rstrip("/") + path
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if args.api_key:
        req.add_header("Authorization", f"Bearer {args.api_key}")
    try:
        with urllib.request.urlopen(req, timeout=args.timeout) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            detail = json.loads(e.read() or b"{}").get("error") or e.reason
        except ValueError:
            detail = e.reason
        raise CliError(str(detail)) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise CliError(f"cannot reach the orchestrator at {args.endpoint} ({reason}) — is it running? "
                       "set --endpoint or EXPANSO_CLI_ENDPOINT") from None


def _print_rows(args: argparse.Namespace, kind: str, rows: list[dict[str, Any]]) -> None:
    if args.format == "json":
        sys.stdout.write(render_json(rows, kind))
    elif not rows:
        print(_EMPTY[kind])
    else:
        sys.stdout.write(render_table(rows, TABLE_COLUMNS[kind], style="plain" if args.no_style else "box"))


def _run(args: argparse.Namespace) -> int:
    group, action = args.group, args.action
    base = "/api/v1/orchestrator"
    if group == "node" and action == "list":
        _print_rows(args, "nodes", _request(args, "GET", f"{base}/nodes"))
    elif group == "job" and action == "list":
        _print_rows(args, "jobs", _request(args, "GET", f"{base}/jobs"))
    elif group == "execution" and action == "list":
        job = args.job or args.job_id
        rows = _request(args, "GET", f"{base}/executions" + (f"?job={job}" if job else ""))
        _print_rows(args, "executions", rows)
    elif group == "job" and action == "deploy":
        if not args.target:
            raise CliError("job deploy needs a job specification file: expanso-cli job deploy FILE")
        if args.target == "-":
            text = sys.stdin.read()
        else:
            p = Path(args.target)
            if "://" in args.target or not p.is_file():
                raise CliError(f"failed to read job specification file {args.target!r}: no such file")
            text = p.read_text()
        res = _request(args, "PUT", f"{base}/jobs", {"spec": text, "force": args.force, "source": args.target})
        if args.format == "json":
            print(json.dumps(res, indent=2))
        else:
            print(f"Job {res['name']} {res['result']} (id {res['id']}, version {res['version']})")
    elif group == "job" and action == "stop":
        if not args.target:
            raise CliError("job stop needs a job name: expanso-cli job stop NAME")
        _request(args, "POST", f"{base}/jobs/stop", {"name": args.target})
        print(f"Job {args.target} stopped")
    else:
        raise CliError(f"unknown command {group} {action} — try: node list, job deploy FILE, job list, "
                       "job stop NAME, execution list")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="expanso-cli", description="Emulated Expanso CLI (repro_lib).")
    p.add_argument("group", choices=["node", "job", "execution"])
    p.add_argument("action", choices=["list", "deploy", "stop"])
    p.add_argument("target", nargs="?", help="job file for deploy, job name for stop")
    p.add_argument("--endpoint", default=os.environ.get("EXPANSO_CLI_ENDPOINT") or
                   os.environ.get("EXPANSO_ENDPOINT") or DEFAULT_ENDPOINT)
    p.add_argument("--api-key", default=os.environ.get("EXPANSO_CLI_AUTH_API_KEY") or "",
                   help="sent as a bearer token; never printed")
    p.add_argument("--format", "--output", "-o", dest="format", choices=["table", "json"], default="table")
    p.add_argument("--no-style", action="store_true", help="plain columns without borders")
    p.add_argument("--job", help="execution list: only this job's executions")
    p.add_argument("--job-id", help="execution list: only this job's executions")
    p.add_argument("--force", action="store_true", help="job deploy: redeploy an unchanged spec")
    p.add_argument("--timeout", type=float, default=10.0, help=argparse.SUPPRESS)
    p.add_argument("--namespace", help=argparse.SUPPRESS)
    p.add_argument("--profile", help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except CliError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
