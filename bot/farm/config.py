"""The `[teams.farm]` config section: the team's machines and how to watch them.

    [teams.farm]
    interval_seconds = 60          # how often machines report (agent --interval, scrape period)
    temperature_c = 85             # alert above this ...
    temperature_minutes = 5        # ... for this long
    hysteresis_c = 5               # and clear only below temperature_c - hysteresis_c
    alerts_per_hour = 10           # per team; the rest are summed up in one line
    digest_time = "09:00"          # daily digest, in the team's timezone ("" for none)
    main_branch = "main"
    github_secret_env = "FARM_GITHUB_SECRET"   # workflow_job webhook secret
    ci_token_env = "FARM_CI_TOKEN"             # bearer token for JUnit and Testing Farm uploads
    testing_farm_artifacts = ["https://artifacts.testing-farm.io/"]  # where a request's xunit_url may be fetched

    [[teams.farm.machines]]
    name = "gpu1"                  # the host name the agent sends (X-Sigbot-Host)
    gpus = 8
    model = "MI300X"               # or target = "gfx942"
    labels = ["rocm-gfx942"]
    driver = "6.8.5"               # baseline; any of driver/cuda/rocm may be given
    rocm = "6.3.1"
    secret_env = "FARM_GPU1_SECRET"   # agent: the host's own HMAC secret
    # prometheus = "http://gpu1:5000/metrics"         # or: scrape an exporter
    # prometheus_server = "http://prom:9090"          # or: ask a Prometheus server
    # prometheus_selector = 'Hostname="gpu1"'

Every machine reports one way: an agent (secret_env / secret_file) or
Prometheus.  Secrets are only ever named, never written (see bot/config).
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bot.config.model import Secret
from bot.core.record import record
from bot.web import urls

if TYPE_CHECKING:
    from bot.config.load import Checker
    from bot.config.sections import SectionContext

_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_]{0,252}")
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_]{0,63}")
_SELECTOR = re.compile(r'[A-Za-z_][A-Za-z0-9_]*\s*(=~?|!=|!~)\s*"[^"\\{}]*"'
                       r'(\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*(=~?|!=|!~)\s*"[^"\\{}]*")*')


TESTING_FARM_ARTIFACTS = ("https://artifacts.testing-farm.io/", "https://artifacts.dev.testing-farm.io/",
                          "https://artifacts.osci.redhat.com/")


@record
class Machine:
    name: str
    gpus: int | None = None
    model: str | None = None
    target: str | None = None
    labels: tuple[str, ...] = ()
    driver: str | None = None
    cuda: str | None = None
    rocm: str | None = None
    secret: Secret | None = None
    prometheus: str | None = None  # an exporter's /metrics URL
    prometheus_server: str | None = None  # a Prometheus server's base URL
    prometheus_selector: str | None = None

    @property
    def scraped(self) -> bool:
        return self.prometheus is not None or self.prometheus_server is not None


@record
class FarmSettings:
    machines: tuple[Machine, ...] = ()
    interval_seconds: int = 60
    offline_after_intervals: int = 3
    temperature_c: float = 85.0
    temperature_minutes: float = 5.0
    hysteresis_c: float = 5.0
    ecc_quiet_hours: float = 24.0  # an ECC alert clears after the count stays still this long
    alerts_per_hour: int = 10
    digest_time: time | None = time(9, 0)
    main_branch: str = "main"
    github_secret: Secret | None = None
    ci_token: Secret | None = None
    busy_pct: float = 10.0
    timezone: str = "UTC"
    # URL prefixes sigbot may fetch a Testing Farm request's xunit from: only
    # these, so an upload cannot make sigbot request an arbitrary address.
    testing_farm_artifacts: tuple[str, ...] = TESTING_FARM_ARTIFACTS

    @property
    def enabled(self) -> bool:
        return bool(self.machines) or self.github_secret is not None or self.ci_token is not None

    def machine(self, name: str) -> Machine | None:
        return next((m for m in self.machines if m.name == name), None)


_MACHINE_KEYS = {"name", "gpus", "model", "target", "labels", "driver", "cuda", "rocm", "secret_env",
                 "secret_file", "prometheus", "prometheus_server", "prometheus_selector"}


def _url(c: Checker, data: dict[str, Any], key: str, path: str) -> str | None:
    url: str | None = c.get(data, key, path, str)
    if url is not None and not url.startswith(("http://", "https://")):
        c.error(f"{path}.{key}", f"{url[:80]!r} is not an http(s) URL")
        return None
    return url


def _version(c: Checker, data: dict[str, Any], key: str, path: str) -> str | None:
    value: str | None = c.get(data, key, path, str)
    if value is not None and not value.strip():
        c.error(f"{path}.{key}", "must not be empty (leave it out for no baseline)")
    return value


def _machine(c: Checker, data: Any, path: str, base: Path) -> Machine | None:
    if not isinstance(data, dict):
        c.error(path, "must be a table ([[teams.farm.machines]])")
        return None
    c.table(data, path, _MACHINE_KEYS)
    name = c.get(data, "name", path, str, "", required=True)
    if name and not _HOST.fullmatch(name):
        c.error(f"{path}.name", f"{name[:80]!r} is not a host name (letters, digits, . - _)")
    gpus = c.get(data, "gpus", path, int)
    if gpus is not None and not 0 <= gpus <= 64:
        c.error(f"{path}.gpus", "must be 0..64")
    labels = c.get(data, "labels", path, list, [])
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not _LABEL.fullmatch(label):
            c.error(f"{path}.labels[{i}]", f"{str(label)[:40]!r} is not a label like rocm-gfx1100")
    secret = c.secret(data, "secret", path, base)
    exporter = _url(c, data, "prometheus", path)
    server = _url(c, data, "prometheus_server", path)
    selector = c.get(data, "prometheus_selector", path, str)
    if selector is not None and not _SELECTOR.fullmatch(selector.strip()):
        c.error(f"{path}.prometheus_selector", 'must be label matchers like Hostname="gpu1"')
    if server and not selector:
        c.error(f"{path}.prometheus_selector", "is required with prometheus_server")
    ways = [w for w in (secret, exporter, server) if w]
    if len(ways) != 1:
        c.error(path, "give exactly one way to report: secret_env/secret_file (agent), "
                      "prometheus (an exporter URL) or prometheus_server")
    return Machine(
        name=name, gpus=gpus, model=c.get(data, "model", path, str), target=c.get(data, "target", path, str),
        labels=tuple(label for label in labels if isinstance(label, str)),
        driver=_version(c, data, "driver", path), cuda=_version(c, data, "cuda", path),
        rocm=_version(c, data, "rocm", path), secret=secret, prometheus=exporter,
        prometheus_server=server, prometheus_selector=selector.strip() if selector else None,
    )


Number = TypeVar("Number", int, float)


def _positive(c: Checker, data: dict[str, Any], key: str, path: str, kind: type[Number], default: Number) -> Number:
    value: Number = c.get(data, key, path, kind, default)
    if value is not None and value <= 0:
        c.error(f"{path}.{key}", "must be more than 0")
        return default
    return value


def _digest_time(c: Checker, data: dict[str, Any], path: str) -> time | None:
    raw = c.get(data, "digest_time", path, str, "09:00")
    if raw == "":
        return None
    m = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", raw)
    if not m:
        c.error(f"{path}.digest_time", f"{raw[:20]!r} is not HH:MM (or \"\" for no digest)")
        return None
    return time(int(m.group(1)), int(m.group(2)))


def parse_team(c: Checker, data: dict[str, Any], path: str, ctx: SectionContext) -> FarmSettings:
    c.table(data, path, {"machines", "interval_seconds", "offline_after_intervals", "temperature_c",
                         "temperature_minutes", "hysteresis_c", "ecc_quiet_hours", "alerts_per_hour",
                         "digest_time", "main_branch", "github_secret_env", "github_secret_file",
                         "ci_token_env", "ci_token_file", "busy_pct", "testing_farm_artifacts"})
    raw_machines = c.get(data, "machines", path, list, [])
    machines = [m for i, d in enumerate(raw_machines) if (m := _machine(c, d, f"{path}.machines[{i}]", ctx.base))]
    names = [m.name for m in machines]
    for name in sorted({n for n in names if names.count(n) > 1}):
        c.error(f"{path}.machines", f"machine {name!r} is declared twice")
    hysteresis = c.get(data, "hysteresis_c", path, float, 5.0)
    if hysteresis < 0:
        c.error(f"{path}.hysteresis_c", "must be 0 or more")
    return FarmSettings(
        machines=tuple(machines),
        interval_seconds=_positive(c, data, "interval_seconds", path, int, 60),
        offline_after_intervals=_positive(c, data, "offline_after_intervals", path, int, 3),
        temperature_c=c.get(data, "temperature_c", path, float, 85.0),
        temperature_minutes=c.get(data, "temperature_minutes", path, float, 5.0),
        hysteresis_c=max(hysteresis, 0.0),
        ecc_quiet_hours=_positive(c, data, "ecc_quiet_hours", path, float, 24.0),
        alerts_per_hour=_positive(c, data, "alerts_per_hour", path, int, 10),
        digest_time=_digest_time(c, data, path),
        main_branch=c.get(data, "main_branch", path, str, "main"),
        github_secret=c.secret(data, "github_secret", path, ctx.base),
        ci_token=c.secret(data, "ci_token", path, ctx.base),
        busy_pct=c.get(data, "busy_pct", path, float, 10.0),
        timezone=ctx.timezone,
        testing_farm_artifacts=_prefixes(c, data, "testing_farm_artifacts", path),
    )


def _prefixes(c: Checker, data: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
    """URL prefixes ending in "/" (so "https://a.io" cannot match "https://a.io.evil.org"); see bot/web/urls.py."""
    raw = c.get(data, key, path, list, list(TESTING_FARM_ARTIFACTS))
    good = []
    for i, prefix in enumerate(raw):
        if not isinstance(prefix, str) or not re.fullmatch(r"https?://[^\s/?#]+/[^\s?#]*", prefix) \
                or not prefix.endswith("/") or urls.normalise(prefix) is None:
            c.error(f"{path}.{key}[{i}]", f"{str(prefix)[:80]!r} is not a URL prefix ending in /")
        else:
            good.append(prefix)
    return tuple(good)
