"""`sigbot farm-agent` and `sigbot farm bundle-agent`: the agent's commands (see agent_cli.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bot.core.files import write_atomic
from bot.farm import agent_cli
from bot.farm.bundle import agent_zipapp


@click.command("farm-agent", add_help_option=False,
               context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def farm_agent(args: tuple[str, ...]) -> None:
    """Report this machine's GPUs (nvidia-smi, amd-smi, rocm-smi, xpu-smi) to sigbot, signed, every --interval seconds."""
    # One command line for `sigbot farm-agent` and the single-file agent: argparse, in agent_cli.py.
    sys.exit(agent_cli.main(list(args)))


@click.command("bundle-agent")
@click.argument("out", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def bundle_agent(out: Path) -> None:
    """Write the single-file farm agent (a zipapp; `python3 OUT --help`) for hosts without sigbot."""
    if not out.name:  # "" reaches here as Path("."), which click does not check
        raise click.BadParameter("give the file to write, e.g. sigbot-agent.pyz", param_hint="OUT")
    try:
        write_atomic(out, agent_zipapp())
        out.chmod(0o755)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"{out}: run it on a farm host as `python3 {out.name} --url https://.../farm/report --host NAME`")
