"""`sigbot site build` and `sigbot serve`: the archive site without the bot."""

from __future__ import annotations

import time
from pathlib import Path

import click

from bot.site.build import build_site
from bot.site.config import SiteOptions, site_settings


def _sources(ctx: click.Context, notes: Path | None, out: Path | None) -> tuple[Path, Path, SiteOptions]:
    """Notes folder, output folder and options: the options first, then the config (when there is one)."""
    config_path: Path = ctx.obj["config_path"]
    if notes is None and config_path.exists():
        from bot.config import ConfigError, load_config

        try:
            config = load_config(config_path)
        except ConfigError as exc:
            raise click.ClickException(f"{config_path}: " + "; ".join(exc.errors)) from None
        settings = site_settings(config)
        return config.notes_dir, out or settings.out, SiteOptions(settings.title, config.web_public_url)
    return notes or Path("notes"), out or Path("site"), SiteOptions()


def _build(notes: Path, out: Path, options: SiteOptions) -> None:
    if not notes.is_dir():
        raise click.ClickException(f"no notes folder at {notes} (give --notes DIR or a config)")
    started = time.perf_counter()
    report = build_site(notes, out, options)
    took = time.perf_counter() - started
    click.echo(f"{out}: {report.meetings} meetings; {len(report.written)} files written, "
               f"{len(report.removed)} removed in {took:.2f} s")


_notes_option = click.option("--notes", type=click.Path(file_okay=False, path_type=Path),
                             help="The notes folder (default: the config's bot.notes_dir, else ./notes).")
_out_option = click.option("--out", type=click.Path(file_okay=False, path_type=Path),
                           help="Where to write the site (default: the config's [site] out, else ./site).")


@click.group("site")
def site() -> None:
    """The notes archive web site: build it for any static host."""


@site.command("build")
@_notes_option
@_out_option
@click.pass_context
def site_build(ctx: click.Context, notes: Path | None, out: Path | None) -> None:
    """Render the notes into a static site; only what changed since the last build is rendered again."""
    _build(*_sources(ctx, notes, out))


@click.command("serve")
@_notes_option
@_out_option
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="host:port to serve on.")
@click.option("--no-build", is_flag=True, help="Serve the site as it is, without building it first.")
@click.pass_context
def serve(ctx: click.Context, notes: Path | None, out: Path | None, listen: str, no_build: bool) -> None:
    """Build the archive site, then serve it alone (without the bot) until Ctrl-C."""
    import asyncio

    from bot.config.load import listen_problem
    from bot.site.routes import add_site
    from bot.web.server import build_app, start_web

    problem = listen_problem(listen)
    if problem:
        raise click.BadParameter(problem, param_hint="--listen")
    notes, out, options = _sources(ctx, notes, out)
    if not no_build:
        _build(notes, out, options)

    async def main() -> None:
        from bot.runtime import Runtime

        app = build_app(Runtime(None, None), routes=[])  # type: ignore[arg-type]  # no bot: only the pages
        add_site(app, out)
        runner = await start_web(app, listen)
        click.echo(f"serving {out} on http://{listen}/ (Ctrl-C stops)")
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:  # start_web: the port is taken, the host is not this machine's
        raise click.ClickException(str(exc)) from None
