"""One vocabulary: the CLI, the input rules, the engines, the run context, the public exports
and the docs' tables all say what tasks/vocabulary.py says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tasks
from runbooks.cli import input_schema
from runbooks.cli import main as cli
from runbooks.engines import registry as engine
from tasks.state import run_context as runctx
from tasks.vocabulary import (
    ACTING,
    ENGINE_JOBS,
    GOOD_OUTCOMES,
    JOBS,
    OUTCOMES,
    ClusterState,
    OutcomeWord,
)

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]


def docs_text() -> str:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return "\n".join(p.read_text() for p in pages)


def table_heads(text: str) -> set[str]:
    """The first cell of every table row, without backticks."""
    return {m.strip("` ") for m in re.findall(r"^\|\s*([^|]+?)\s*\|", text, re.MULTILINE)}


def test_the_code_takes_its_words_from_the_registry() -> None:
    assert tuple(cli.JOBS) == tuple(JOBS)
    assert set(ACTING) == {"upgrade", "abort", "recover", "stage"}
    assert tuple(JOBS) == input_schema.JOB_NAMES and input_schema.OUTCOMES == OUTCOMES
    assert engine.ENGINE_JOBS == ENGINE_JOBS
    assert runctx.GOOD_OUTCOMES is GOOD_OUTCOMES
    for job in JOBS.values():
        assert callable(getattr(tasks, job.task)), job.task  # exported by `tasks`
        assert job.task in tasks.__all__
        module = cli.JOBS[job.name]
        assert callable(module.prepare) and callable(module.add_arguments), job.cli


def test_every_dry_run_word_is_an_outcome_and_reaches_the_goal() -> None:
    for job in JOBS.values():
        assert (job.would is not None) == job.acting, job.name
        if job.would is not None:
            assert job.would in GOOD_OUTCOMES and str(job.would) == f"would-{job.name}"


def test_the_docs_tables_list_every_job_state_and_outcome() -> None:
    text = docs_text()
    heads = table_heads(text)
    for name in JOBS:
        assert name in heads, f"no docs table row for the job {name}"
    for state in ClusterState:
        assert str(state) in heads, f"no docs table row for the state {state}"
    for word in OutcomeWord:
        assert f"`{word}`" in text, f"the docs never name the outcome {word}"
