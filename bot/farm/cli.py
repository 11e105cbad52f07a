"""`sigbot farm-agent`: the command line of the agent (see agent.py)."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import click

from bot.farm import agent


def _read_secret(env: str | None, file: Path | None) -> str:
    if env:
        value = os.environ.get(env, "")
        if not value:
            raise click.UsageError(f"environment variable {env} is not set")
        return value
    if file:
        try:
            value = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise click.UsageError(f"cannot read {file}: {exc.strerror}") from None
        if not value:
            raise click.UsageError(f"{file} is empty")
        return value
    raise click.UsageError("give --secret-env or --secret-file (the host's secret, as named in sigbot.toml)")


@click.command("farm-agent")
@click.option("--url", help="sigbot's report endpoint, e.g. https://sigbot.example.org/farm/report.")
@click.option("--host", default=None, help="This machine's name as declared in sigbot.toml (default: hostname).")
@click.option("--secret-env", default="SIGBOT_FARM_SECRET", show_default=True,
              help="Environment variable holding this host's secret.")
@click.option("--secret-file", type=click.Path(dir_okay=False, path_type=Path),
              help="File holding this host's secret (instead of --secret-env).")
@click.option("--interval", type=click.IntRange(5, 3600), default=60, show_default=True,
              help="Seconds between reports.")
@click.option("--once", is_flag=True, help="Collect and send (or print) one report, then exit.")
@click.option("--print", "print_", is_flag=True, help="Print the report as JSON instead of sending it.")
@click.option("--timeout", type=float, default=agent.TOOL_TIMEOUT, show_default=True,
              help="Seconds each nvidia-smi/amd-smi/rocm-smi/xpu-smi call may take.")
def farm_agent(url: str | None, host: str | None, secret_env: str, secret_file: Path | None, interval: int,
               once: bool, print_: bool, timeout: float) -> None:
    """Report this machine's GPUs (nvidia-smi, amd-smi, rocm-smi, xpu-smi) to sigbot, signed, every --interval seconds."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host = host or agent.default_host()

    def run(argv: list[str]) -> str | None:
        return agent.run_tool(argv, timeout)

    try:
        agent.HostReport(host=host)
    except ValueError as exc:
        raise click.UsageError(f"--host: {exc}") from None
    if not url and not print_:
        raise click.UsageError("give --url (or --print to print the report instead of sending it)")
    sender = None if print_ else agent.Sender(url, host, _read_secret(None if secret_file else secret_env,
                                                                        secret_file))
    while True:
        started = time.monotonic()
        report = agent.collect(host, agent.utcnow(), run)
        if sender is None:
            click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
            ok = True
        else:
            ok = sender.send(agent.report_body(report))
        if once:
            sys.exit(0 if ok else 1)
        time.sleep(max(interval - (time.monotonic() - started), 1))
