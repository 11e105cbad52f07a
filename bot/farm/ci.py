"""CI results into `CiRun`s: GitHub Actions workflow_job, JUnit XML, Testing Farm requests.

Pure: bytes or decoded JSON in, a `CiRun` (or None for an event that is not a
finished run) out, `ValueError` with a reason for anything unreadable.

* workflow_job (https://docs.github.com/en/webhooks/webhook-events-and-payloads#workflow_job):
  ``action`` queued/waiting/in_progress/completed, ``workflow_job.conclusion``
  success/failure/skipped/cancelled/timed_out, ``labels``, ``runner_name``,
  ``created_at``, ``head_branch``, ``html_url``.  Every action moves the job
  in the CI queue (`job_state`); completed jobs are also runs
  (`workflow_job`).  The platform is the first of the job's labels that the
  team names (a machine's labels), else the last label.
* JUnit XML has no official schema: ``<testsuites>`` or a bare ``<testsuite>``,
  ``<testcase>`` with a ``<failure>``, ``<error>`` or ``<skipped>`` child.
  Testing Farm's xunit (tmt) says it in an attribute instead:
  ``<testcase result="failed">``, and a plan without test cases is one
  ``<testsuite result=... tests=N>``.  Parsed with defusedxml: DTDs and
  entities are refused.
* Testing Farm request (https://api.testing-farm.io/redoc): ``id``, ``state``
  (new/queued/running/complete/error/canceled), ``result.overall``
  (passed/failed/error/skipped/unknown), ``result.xunit`` (the results
  inline, older API) or ``result.xunit_url``, ``run.artifacts``.  The counts
  and failing test names come from the xunit (`testing_farm_xunit` says
  where it is; web.py fetches a URL only from the configured artifact hosts).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from bot.core.record import record
from bot.farm.host import values
from bot.farm.store import JOB_STATES, CiJob, CiRun

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

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


def _word(raw: Any, table: dict[str, str], default: str, what: str) -> str:
    """`table`'s entry for the word `raw`, `default` for another word or null; ValueError for a list,
    number or object: that is a malformed body, not a word GitHub or Testing Farm may add later."""
    if raw is None:
        return default
    if not isinstance(raw, str):
        raise ValueError(f"{what} must be a word, not {type(raw).__name__}")
    return table.get(raw, default)


def _job(payload: Any, known_platforms: set[str]) -> tuple[dict[str, Any], str, str]:
    """The workflow_job object, its platform and its id, or ValueError."""
    if not isinstance(payload, dict) or not isinstance(payload.get("workflow_job"), dict):
        raise ValueError("workflow_job: no workflow_job object")
    job = payload["workflow_job"]
    raw_labels = job.get("labels") if isinstance(job.get("labels"), list) else []
    labels = [label for label in raw_labels if isinstance(label, str) and PLATFORM.fullmatch(label)]
    platform = next((label for label in labels if label in known_platforms), labels[-1] if labels else None)
    if platform is None:
        raise ValueError("workflow_job: the job has no usable runner label to name its platform")
    job_id = job.get("id")
    if isinstance(job_id, bool) or not isinstance(job_id, int):
        raise ValueError("workflow_job: workflow_job.id must be a number")
    return job, platform, str(job_id)


def job_state(payload: Any, known_platforms: set[str], now: datetime) -> CiJob | None:
    """Where a workflow_job event puts its job in the queue; None for an action GitHub may add later."""
    job, platform, job_id = _job(payload, known_platforms)
    action = payload.get("action")
    if not isinstance(action, str):
        raise ValueError("workflow_job: action must be a word such as queued or completed")
    if action not in JOB_STATES:
        return None
    state = "queued" if action == "waiting" else action
    stamp = {"queued": "created_at", "in_progress": "started_at", "completed": "completed_at"}[state]
    return CiJob(job_id=job_id, platform=platform, state=state, since=_time(job.get(stamp), now),
                 runner=_text(job.get("runner_name"), 100), name=_text(job.get("name")),
                 url=_url(job.get("html_url")), matched=platform in known_platforms)


def workflow_job(payload: Any, known_platforms: set[str], now: datetime) -> CiRun | None:
    job, platform, job_id = _job(payload, known_platforms)
    if payload.get("action") != "completed":
        return None
    result = _word(job.get("conclusion"), _CONCLUSIONS, "error", "workflow_job: workflow_job.conclusion")
    name = _text(job.get("name")) or "job"
    return CiRun(platform=platform, source="github", run_key=job_id, branch=_text(job.get("head_branch")),
                 finished=_time(job.get("completed_at"), now), result=result,
                 passed=int(result == "passed"), failed=int(result == "failed"), skipped=int(result == "skipped"),
                 failing=(name,) if result == "failed" else (), url=_url(job.get("html_url")))


def _time(raw: Any, now: datetime) -> datetime:
    """An ISO 8601 time with its zone, in UTC; `now` for anything else. A time at the edge of
    datetime's range (year 1 or 9999) overflows when moved to UTC: that is `now` too."""
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if parsed.tzinfo is not None:
                return parsed.astimezone(timezone.utc)
        except (ValueError, OverflowError):
            pass
    return now


@record
class Counts:
    passed: int
    failed: int
    skipped: int
    failing: tuple[str, ...]

    @property
    def result(self) -> str:
        return "failed" if self.failed else "passed" if self.passed else "skipped"


# tmt/Testing Farm result words; "info" and "warn" do not fail a plan.
_CASE_RESULTS = {"passed": "passed", "pass": "passed", "info": "passed", "warn": "passed",
                 "failed": "failed", "fail": "failed", "error": "failed", "errored": "failed",
                 "skipped": "skipped", "skip": "skipped", "not_applicable": "skipped", "pending": "skipped"}


def _case_outcome(case: Element) -> str:
    tags = {child.tag for child in case}
    if tags & {"failure", "error"}:
        return "failed"
    if "skipped" in tags:
        return "skipped"
    return _CASE_RESULTS.get((case.get("result") or "").lower(), "passed")


def xunit_counts(body: bytes, what: str = "JUnit XML") -> Counts:
    """Pass/fail/skip counts and failing names of a JUnit or Testing Farm xunit document."""
    # Here: only a CI upload needs an XML parser (pyexpat and ElementTree: memory, issue 14).
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ValueError(f"{what} refused: {type(exc).__name__} (no DTDs or entities)") from None
    except ParseError as exc:
        raise ValueError(f"{what} is not well-formed: {values.shorten(exc, 100)}") from None
    except LookupError as exc:  # <?xml encoding="..."?> naming a codec Python does not have
        raise ValueError(f"{what}: {values.shorten(exc, 100)}") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise ValueError(f"{what}: root is <{values.shorten(root.tag, 40)}>, not <testsuites> or <testsuite>")
    outcomes = {"passed": 0, "failed": 0, "skipped": 0}
    failing: list[str] = []
    # A Testing Farm plan that ran no test cases still says how it went.
    suites = [s for s in root.iter("testsuite") if s.find("testcase") is None and s.get("result")]
    for n, case in enumerate([*root.iter("testcase"), *suites]):
        if n >= MAX_CASES:
            raise ValueError(f"{what}: more than {MAX_CASES} test cases")
        outcome = _case_outcome(case)
        outcomes[outcome] += 1
        if outcome == "failed" and len(failing) < 50:
            cls, name = case.get("classname"), case.get("name")
            label = _text(f"{cls}.{name}" if cls and name else name or cls or "?")
            if label:
                failing.append(label)
    if sum(outcomes.values()) == 0:
        raise ValueError(f"{what}: no <testcase> elements")
    return Counts(outcomes["passed"], outcomes["failed"], outcomes["skipped"], tuple(failing))


def junit(body: bytes, platform: str, branch: str | None, url: str | None, now: datetime,
          counts: Counts | None = None) -> CiRun:
    """A JUnit upload as a run; `counts` when the body was counted already (bot/farm/ci_apart.py)."""
    counts = counts if counts is not None else xunit_counts(body)
    digest = hashlib.sha256(body).hexdigest()[:32]  # the same upload twice is one run
    return CiRun(platform=platform, source="junit", run_key=digest, branch=branch, finished=now,
                 result=counts.result, passed=counts.passed, failed=counts.failed, skipped=counts.skipped,
                 failing=counts.failing, url=_url(url))


_TF_RESULTS = {"passed": "passed", "failed": "failed", "error": "error", "skipped": "skipped"}
MAX_XUNIT_BYTES = 8 * 1024 * 1024


def testing_farm_xunit(payload: Any) -> bytes | str | None:
    """Where a finished request's results are: the xunit itself (bytes), its URL (str), or None."""
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(result, dict):
        return None
    inline = result.get("xunit")
    if isinstance(inline, str) and inline.strip():
        return inline.encode("utf-8")[:MAX_XUNIT_BYTES]
    url = result.get("xunit_url")
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) < 500 else None


_TF_STATES = {"new": "queued", "queued": "queued", "running": "in_progress", "cancel-requested": "in_progress",
              "complete": "completed", "error": "completed", "canceled": "completed"}


def _tf_request(payload: Any) -> tuple[str, str]:
    """A Testing Farm request's id and state, or ValueError."""
    if not isinstance(payload, dict):
        raise ValueError("Testing Farm: expected a request object")
    request_id, state = payload.get("id"), payload.get("state")
    if not isinstance(request_id, str) or not re.fullmatch(r"[0-9a-fA-F-]{8,64}", request_id):
        raise ValueError("Testing Farm: id must be the request's UUID")
    if not isinstance(state, str) or state not in _TF_STATES:
        raise ValueError(f"Testing Farm: unknown state {values.shorten(state, 30)!r}")
    return request_id, state


def _object(payload: dict[str, Any], key: str) -> dict[str, Any]:
    """The JSON object under `key` ({} when absent or null); ValueError for any other kind of value."""
    value = payload.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"Testing Farm: {key} must be an object, not {type(value).__name__}")
    return value


def testing_farm_job(payload: Any, platform: str, now: datetime) -> CiJob:
    """Where a request posted at any state puts it in the CI queue (its `platform` is the team's)."""
    request_id, state = _tf_request(payload)
    stamp = payload.get("created") if _TF_STATES[state] == "queued" else payload.get("updated")
    run = _object(payload, "run")
    return CiJob(job_id=f"testing-farm:{request_id}", platform=platform, state=_TF_STATES[state],
                 since=_time(stamp, now), name="Testing Farm request", url=_url(run.get("artifacts")),
                 matched=True)


def testing_farm(payload: Any, platform: str, branch: str | None, now: datetime,
                 xunit: bytes | None = None, counts: Counts | None = None) -> CiRun | None:
    """A finished request as a run; with its `xunit` (or that xunit's `counts`), the counts and failing tests too."""
    request_id, state = _tf_request(payload)
    result, run = _object(payload, "result"), _object(payload, "run")
    overall = _word(result.get("overall"), _TF_RESULTS, "error", "Testing Farm: result.overall")
    if _TF_STATES[state] != "completed":
        return None
    if state in ("canceled", "error"):
        overall = "cancelled" if state == "canceled" else "error"
    if counts is None:
        counts = xunit_counts(xunit, "Testing Farm xunit") if xunit is not None else \
            Counts(int(overall == "passed"), int(overall in ("failed", "error")), int(overall == "skipped"), ())
    return CiRun(platform=platform, source="testing-farm", run_key=request_id, branch=branch,
                 finished=_time(payload.get("updated"), now), result=overall,
                 passed=counts.passed, failed=counts.failed, skipped=counts.skipped, failing=counts.failing,
                 url=_url(run.get("artifacts")) or _url(result.get("xunit_url")))
