"""What the benchmarks share: a local Synapse for the run, p90, and where results go."""

from __future__ import annotations

import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from servers.synapse import Synapse, ensure_synapse, synapse_venv  # noqa: E402


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def with_synapse(run: Callable[[Synapse, Path], Any]) -> Any:
    """`run(synapse, tmp)` with a fresh local Synapse, stopped afterwards."""
    python = ensure_synapse(synapse_venv())
    with tempfile.TemporaryDirectory() as tmp:
        synapse = Synapse(python, Path(tmp) / "synapse")
        synapse.start()
        try:
            return run(synapse, Path(tmp))
        finally:
            synapse.stop()


def publish(name: str, text: str) -> None:
    """Print a result and keep it in bench/results-NAME.md."""
    print(text)
    (ROOT / "bench" / f"results-{name}.md").write_text(text)
