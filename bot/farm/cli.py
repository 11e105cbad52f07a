"""`sigbot farm parse|bundle-agent` and `sigbot farm-agent`: the farm's command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from bot.core.files import READ_LIMIT, read_named_file, write_atomic
from bot.core.record import record
from bot.farm.bundle import agent_zipapp
from bot.farm.host import cli as agent_cli
from bot.farm.parsers import FORMATS as FARM_FORMATS
from bot.farm.parsers import parse_capture


@click.group()
def farm() -> None:
    """The GPU test farm: read captures of nvidia-smi, amd-smi, rocm-smi, xpu-smi and exporters."""


@record
class _Named:
    name: str
    text: str


class _NamedText(click.ParamType[_Named, _Named | str]):
    """A file a person names, read whole as text (undecodable bytes replaced), or - for stdin.

    Only a regular file of at most READ_LIMIT: /dev/zero or a FIFO would never end (see read_named_file).
    """

    name = "file"

    def convert(self, value: _Named | str, param: click.Parameter | None, ctx: click.Context | None) -> _Named:
        if isinstance(value, _Named):
            return value
        if value == "-":
            return _Named("-", sys.stdin.buffer.read(READ_LIMIT).decode("utf-8", errors="replace"))
        try:
            return _Named(value, read_named_file(Path(value), READ_LIMIT).decode("utf-8", errors="replace"))
        except OSError as exc:
            self.fail(f"cannot read {value}: {exc.strerror or exc}", param, ctx)


@farm.command("parse")
@click.option("--format", "fmt", required=True, type=click.Choice(FARM_FORMATS))
@click.argument("file", type=_NamedText())
@click.option("--host", default="unknown", show_default=True, help="Host name for tools that do not print it.")
@click.option("--apps", type=_NamedText(), help="nvidia-smi --query-compute-apps CSV (nvidia-smi-csv).")
@click.option("--static", "static", type=_NamedText(), help="amd-smi static --json (amd-smi-json).")
@click.option("--version-file", type=_NamedText(), help="nvidia-smi --version or amd-smi version --json.")
@click.option("--stats", "stats", type=_NamedText(), multiple=True,
              help="xpu-smi stats -d N -j, once per device (xpu-smi-json).")
@click.option("--details", "details", type=_NamedText(), multiple=True,
              help="xpu-smi discovery -d N -j, once per device: memory total, driver (xpu-smi-json).")
@click.option("--processes", type=_NamedText(),
              help="xpu-smi ps -j (xpu-smi-json), amd-smi process --json (amd-smi-json) "
                   "or rocm-smi --showpids --json (rocm-smi-json).")
@click.option("--gpu-list", "gpu_list", type=_NamedText(), help="amd-smi list --json: uuids (amd-smi-json).")
def farm_parse(fmt: str, file: _Named, host: str, apps: _Named | None, static: _Named | None,
               version_file: _Named | None, stats: tuple[_Named, ...], details: tuple[_Named, ...],
               processes: _Named | None, gpu_list: _Named | None) -> None:
    """Print the normalized JSON report of one capture (FILE, or - for stdin)."""
    def text(named: _Named | None) -> str | None:
        return named.text if named else None

    try:
        report = parse_capture(fmt, file.text, host=host, apps_text=text(apps), static_text=text(static),
                               version_text=text(version_file), stats_texts=[f.text for f in stats] or None,
                               details_texts=[f.text for f in details] or None,
                               processes_text=text(processes), list_text=text(gpu_list))
    except ValueError as exc:
        raise click.ClickException(f"{file.name}: {exc}") from None
    click.echo(json.dumps(report, indent=2, ensure_ascii=False))


@click.command("farm-agent", add_help_option=False,
               context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def farm_agent(args: tuple[str, ...]) -> None:
    """Report this machine's GPUs (nvidia-smi, amd-smi, rocm-smi, xpu-smi) to sigbot, signed, every --interval
    seconds."""
    # One command line for `sigbot farm-agent` and the single-file agent: argparse, in agent_cli.py.
    sys.exit(agent_cli.main(list(args)))


@farm.command("bundle-agent")
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
