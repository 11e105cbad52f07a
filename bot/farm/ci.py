"""CI results into `CiRun`s: GitHub Actions workflow_job, JUnit XML, Testing Farm requests.

Pure: bytes or decoded JSON in, a `CiRun` (or None for an event that is not a
finished run) out, `ValueError` with a reason for anything unreadable.

* workflow_job (https://docs.github.com/en/webhooks/webhook-events-and-payloads#workflow_job):
  ``action`` queued/in_progress/completed, ``workflow_job.conclusion``
  success/failure/skipped/cancelled/timed_out, ``labels``, ``head_branch``,
  ``html_url``.  Only completed jobs are runs; the platform is the first of the
  job's labels that the team names (a machine's labels), else the last label.
* JUnit XML has no official schema: ``<testsuites>`` or a bare ``<testsuite>``,
  ``<testcase>`` with a ``<failure>``, ``<error>`` or ``<skipped>`` child.
  Parsed with defusedxml: DTDs and entities are refused.
* Testing Farm request (https://api.testing-farm.io/redoc): ``id``, ``state``
  (new/queued/running/complete/error/canceled), ``result.overall``
  (passed/failed/error/skipped/unknown), ``result.xunit_url``,
  ``run.artifacts``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from bot.farm import values
from bot.farm.store import CiRun

PLATFORM = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_]{0,63}")
MAX_NAME = 200
MAX_CASES = 100_000
_CONCLUSIONS = {"success": "passed", "failure": "failed", "skipped": "skipped", "cancelled": "cancelled",
                "timed_out": "failed", "neutral": "passed", "action_required": "cancelled", "stale": "cancelled"}


def check_platform(raw: str | None) -> str:
    if not raw or not PLATFORM.fullmatch(raw):
        raise ValueError("platform must be a label like rocm-gfx1100 or cuda-sm90")
    return raw


def _url(raw: Any) -> str | None:
    return raw if isinstance(raw, str) and raw.startswith("https://") and len(raw) < 500 and " " not in raw else None


def _text(raw: Any, limit: int = MAX_NAME) -> str | None:
    return values.clean_text(raw, limit) if isinstance(raw, str) else None


def workflow_job(payload: Any, known_platforms: set[str], now: datetime) -> CiRun | None:
    if not isinstance(payload, dict) or not isinstance(payload.get("workflow_job"), dict):
        raise ValueError("workflow_job: no workflow_job object")
    if payload.get("action") != "completed":
        return None
    job = payload["workflow_job"]
    labels = [label for label in job.get("labels") or [] if isinstance(label, str) and PLATFORM.fullmatch(label)]
    platform = next((label for label in labels if label in known_platforms), labels[-1] if labels else None)
    if platform is None:
        raise ValueError("workflow_job: the job has no usable runner label to name its platform")
    job_id = job.get("id")
    if isinstance(job_id, bool) or not isinstance(job_id, int):
        raise ValueError("workflow_job: workflow_job.id must be a number")
    result = _CONCLUSIONS.get(job.get("conclusion"), "error")
    name = _text(job.get("name")) or "job"
    return CiRun(platform=platform, source="github", run_key=str(job_id), branch=_text(job.get("head_branch")),
                 finished=_time(job.get("completed_at"), now), result=result,
                 passed=int(result == "passed"), failed=int(result == "failed"), skipped=int(result == "skipped"),
                 failing=(name,) if result == "failed" else (), url=_url(job.get("html_url")))


def _time(raw: Any, now: datetime) -> datetime:
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if parsed.tzinfo is not None:
                return parsed
        except ValueError:
            pass
    return now


def junit(body: bytes, platform: str, branch: str | None, url: str | None, now: datetime) -> CiRun:
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ValueError(f"JUnit XML refused: {type(exc).__name__} (no DTDs or entities)") from None
    except ParseError as exc:
        raise ValueError(f"JUnit XML is not well-formed: {values.shorten(exc, 100)}") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise ValueError(f"JUnit XML: root is <{values.shorten(root.tag, 40)}>, not <testsuites> or <testsuite>")
    passed = failed = skipped = 0
    failing: list[str] = []
    for n, case in enumerate(root.iter("testcase")):
        if n >= MAX_CASES:
            raise ValueError(f"JUnit XML: more than {MAX_CASES} test cases")
        tags = {child.tag for child in case}
        if tags & {"failure", "error"}:
            failed += 1
            cls, name = case.get("classname"), case.get("name")
            label = _text(f"{cls}.{name}" if cls and name else name or cls or "?")
            if label and len(failing) < 50:
                failing.append(label)
        elif "skipped" in tags:
            skipped += 1
        else:
            passed += 1
    if passed + failed + skipped == 0:
        raise ValueError("JUnit XML: no <testcase> elements")
    digest = hashlib.sha256(body).hexdigest()[:32]  # the same upload twice is one run
    result = "failed" if failed else "passed" if passed else "skipped"
    return CiRun(platform=platform, source="junit", run_key=digest, branch=branch, finished=now, result=result,
                 passed=passed, failed=failed, skipped=skipped, failing=tuple(failing), url=_url(url))


_TF_RESULTS = {"passed": "passed", "failed": "failed", "error": "error", "skipped": "skipped"}


def testing_farm(payload: Any, platform: str, branch: str | None, now: datetime) -> CiRun | None:
    if not isinstance(payload, dict):
        raise ValueError("Testing Farm: expected a request object")
    request_id, state = payload.get("id"), payload.get("state")
    if not isinstance(request_id, str) or not re.fullmatch(r"[0-9a-fA-F-]{8,64}", request_id):
        raise ValueError("Testing Farm: id must be the request's UUID")
    if state not in ("new", "queued", "running", "complete", "error", "canceled", "cancel-requested"):
        raise ValueError(f"Testing Farm: unknown state {values.shorten(state, 30)!r}")
    if state not in ("complete", "error", "canceled"):
        return None
    result = payload.get("result") if isinstance(payload.get("result"), dict) else {}
    overall = "cancelled" if state == "canceled" else "error" if state == "error" else \
        _TF_RESULTS.get(result.get("overall"), "error")
    run = payload.get("run") if isinstance(payload.get("run"), dict) else {}
    return CiRun(platform=platform, source="testing-farm", run_key=request_id, branch=branch,
                 finished=_time(payload.get("updated"), now), result=overall,
                 passed=int(overall == "passed"), failed=int(overall in ("failed", "error")),
                 skipped=int(overall == "skipped"),
                 url=_url(run.get("artifacts")) or _url(result.get("xunit_url")))
