"""``expanso-emulator`` / ``python -m repro_lib.emulator``: the three emulated binaries in one.

    expanso-emulator orchestrator run [--config FILE] [--log-level debug] [--data-dir DIR]
                                      [--nats-url URL] [--api-port 9010]
    expanso-emulator edge run [--config FILE] [--log-level debug] [--data-dir DIR] [--nats-url URL]
                              [--name edge1]
    expanso-emulator cli node list | job deploy FILE | job list | execution list [--format json]

In the emulated images ``expanso-orchestrator``, ``expanso-edge`` and ``expanso-cli`` are thin
wrappers around this, so the compose file's commands are the real binaries' commands.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["main"]


def _daemon(role: str, argv: list[str]) -> int:
    from repro_lib.emulator.runtime import LogOut, load_config

    p = argparse.ArgumentParser(prog=f"expanso-{role}", description=f"Emulated Expanso {role} (repro_lib).")
    p.add_argument("command", nargs="?", default="run", choices=["run", "bootstrap"] if role == "edge" else ["run"])
    p.add_argument("--token", help=argparse.SUPPRESS if role != "edge" else "bootstrap token (never printed)")
    p.add_argument("--config", "-c")
    p.add_argument("--log-level")
    p.add_argument("--data-dir")
    p.add_argument("--nats-url")
    p.add_argument("--api-port", type=int)
    p.add_argument("--name")
    args, unknown = p.parse_known_args(argv)
    env = dict(os.environ)
    if args.data_dir:
        env["EXPANSO_DATA_DIR"] = args.data_dir
    if args.nats_url:
        env["EXPANSO_NATS_URL"] = args.nats_url
    if args.api_port:
        env["EXPANSO_API_PORT"] = str(args.api_port)
    if args.name:
        env["EXPANSO_NODE_NAME"] = args.name
    try:
        cfg = load_config(role, args.config, args.log_level, env)
    except SystemExit as e:
        print(f"expanso-{role}: {e}" if not str(e).startswith(role) else str(e), file=sys.stderr)
        return 2
    out = LogOut(cfg.log_format, cfg.log_level)
    if args.command == "bootstrap":
        return _bootstrap(cfg, out, args.token or env.get("EXPANSO_EDGE_BOOTSTRAP_TOKEN", ""), env)
    if unknown:
        from repro_lib.emulator.runtime import Clock

        out.log(Clock().now(), role if role == "orchestrator" else cfg.name, "WARN",
                "EMULATOR: ignoring flags the emulator does not know", flags=" ".join(unknown))
    if role == "orchestrator":
        from repro_lib.emulator.orchestrator import main as orch_main

        return orch_main(cfg, out)
    from repro_lib.emulator.edge import main as edge_main

    Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
    return edge_main(cfg, out)


def _bootstrap(cfg: object, out: object, token: str, env: dict[str, str]) -> int:
    """``expanso-edge bootstrap --token T``: the emulated edge only checks that a token was given
    and notes the bootstrap in its data dir (the token itself is never printed or stored)."""
    import json

    from repro_lib.emulator.runtime import Clock, EmulatorConfig, LogOut

    assert isinstance(cfg, EmulatorConfig) and isinstance(out, LogOut)
    if not token.strip():
        print("expanso-edge: bootstrap needs a token (--token or EXPANSO_EDGE_BOOTSTRAP_TOKEN)", file=sys.stderr)
        return 2
    now = Clock().now()
    Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
    (Path(cfg.data_dir) / "bootstrap.json").write_text(json.dumps({"bootstrapped_at": now,
                                                                    "endpoint": env.get("EXPANSO_ENDPOINT", "")}))
    out.log(now, cfg.name, "INFO", "EDGE: bootstrapped", endpoint=env.get("EXPANSO_ENDPOINT", ""),
            token_chars=len(token))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: expanso-emulator {orchestrator,edge,cli} ..."
    if not argv or argv[0] in ("-h", "--help"):
        print(usage + "\n\n" + (__doc__ or ""))
        return 0 if argv else 2
    role, rest = argv[0], argv[1:]
    if role in ("orchestrator", "edge"):
        return _daemon(role, rest)
    if role == "cli":
        from repro_lib.emulator.cli import main as cli_main

        return cli_main(rest)
    print(f"expanso-emulator: unknown role {role!r}\n{usage}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
