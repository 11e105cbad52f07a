"""The farm agent's command line, standard library only (argparse).

The same `main()` runs as `sigbot farm-agent ...` and as the single-file agent
`python3 sigbot-farm-agent.pyz ...` (see bundle.py), so a farm host needs
nothing but Python: no sigbot, no pip, no third-party package.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from bot.farm.host import agent
from bot.farm.host.report import HostReport

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _interval(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if not 5 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{value} is not between 5 and 3600")
    return value


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"{value:g} is not between 0 and 600")
    return value


def parser(prog: str = "sigbot farm-agent") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description="Report this machine's GPUs (nvidia-smi, amd-smi, rocm-smi, xpu-smi) to sigbot, "
                               "signed, every --interval seconds.")
    p.add_argument("--url", help="sigbot's report endpoint, e.g. https://sigbot.example.org/farm/report.")
    p.add_argument("--host", help="This machine's name as declared in sigbot.toml (default: hostname).")
    p.add_argument("--secret-env", default="SIGBOT_FARM_SECRET",
                   help="Environment variable holding this host's secret (default: %(default)s).")
    p.add_argument("--secret-file", type=Path,
                   help="File holding this host's secret (instead of --secret-env; systemd's "
                        "$CREDENTIALS_DIRECTORY/farm-secret with LoadCredential=).")
    p.add_argument("--interval", type=_interval, default=60, help="Seconds between reports (default: 60).")
    p.add_argument("--once", action="store_true", help="Collect and send (or print) one report, then exit.")
    p.add_argument("--print", dest="print_", action="store_true",
                   help="Print the report as JSON instead of sending it.")
    p.add_argument("--timeout", type=_timeout, default=agent.TOOL_TIMEOUT,
                   help="Seconds each nvidia-smi/amd-smi/rocm-smi/xpu-smi call may take (default: %(default)g).")
    p.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS,
                   default=os.environ.get("SIGBOT_LOG_LEVEL", "INFO").upper(),
                   help="How much to log (default: $SIGBOT_LOG_LEVEL or INFO).")
    return p


def _secret(p: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    if args.secret_file:
        try:
            value: str = args.secret_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            p.error(f"cannot read {args.secret_file}: {getattr(exc, 'strerror', None) or exc}")
        if not value:
            p.error(f"{args.secret_file} is empty")
        return value
    value = os.environ.get(args.secret_env, "")
    if not value:
        p.error(f"environment variable {args.secret_env} is not set (or give --secret-file)")
    return value


def main(argv: list[str] | None = None, prog: str = "sigbot farm-agent") -> int:
    p = parser(prog)
    args = p.parse_args(argv)
    if args.log_level not in LOG_LEVELS:  # a bad $SIGBOT_LOG_LEVEL (argparse checks only given values)
        p.error(f"SIGBOT_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host = args.host or agent.default_host()
    try:
        HostReport(host=host)
    except ValueError as exc:
        p.error(f"--host: {exc}")
    if not args.url and not args.print_:
        p.error("give --url (or --print to print the report instead of sending it)")
    sender = None if args.print_ else agent.Sender(args.url, host, _secret(p, args))
    try:
        while True:
            started = time.monotonic()
            report = agent.collect(host, agent.utcnow(), lambda argv: agent.run_tool(argv, args.timeout))
            if sender is None:
                print(json.dumps(report.to_json(), indent=2, ensure_ascii=False), flush=True)
                ok = True
            else:
                ok = sender.send(agent.report_body(report))
            if args.once:
                return 0 if ok else 1
            time.sleep(max(args.interval - (time.monotonic() - started), 1))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
