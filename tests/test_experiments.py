"""Every experiment config runs at --scale tiny; a killed experiment resumes without redoing units."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flanlab.evaluate.compare import Comparison
from flanlab.experiments.config import BUILTIN_CONFIGS, builtin_config_names, resolve_experiment
from flanlab.experiments.runner import run_experiment
from flanlab.experiments.studies import plan
from flanlab.report.build import build_report
from flanlab.report.page import publish_page
from flanlab.tasks.registry import load_registry
from tests.conftest import REPO, run_cli


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_configs_folder_lists_every_study():
    from flanlab.experiments.studies import PLANNERS

    studies = {resolve_experiment(name).study for name in builtin_config_names()}
    assert studies == set(PLANNERS)
    for name in builtin_config_names():  # configs/ shows every built-in experiment
        assert (REPO / "configs" / f"{name}.yaml").resolve() == (BUILTIN_CONFIGS / f"{name}.yaml").resolve()


@pytest.mark.parametrize("name", builtin_config_names())
def test_every_config_plans_at_every_scale(name, registry):
    config = resolve_experiment(name)
    for scale in ("tiny", "default", "paper"):
        arms = plan(config.at_scale(scale), registry)
        assert arms and all(arm.evals or arm.name == "tuned" for arm in arms)
        inits = {arm.name for arm in arms} | {"base"}
        assert all(arm.init in inits for arm in arms)


@pytest.mark.slow
@pytest.mark.parametrize("name", builtin_config_names())
def test_every_config_runs_at_tiny_scale(name, registry, tmp_path):
    config = resolve_experiment(name)
    record_path = run_experiment(config.at_scale("tiny"), tmp_path, registry)
    record = json.loads(record_path.read_text())
    assert record["arms"] and record["units_reused"] + record["units_run"] > 0
    for arm in record["arms"]:
        for evaluation in arm["evals"]:
            results = json.loads((tmp_path / evaluation["results"]).read_text())
            assert results["tasks"], f"{name}/{arm['name']} evaluated nothing"
        if arm["train"]:
            assert arm["train"]["steps"] > 0 and (tmp_path / arm["train"]["log"]).exists()
    arms = plan(config.at_scale("tiny"), registry)
    paired = {(c["a"], c["b"]) for c in record["comparisons"] if c["differences"]}
    expected = {(arm.name, arm.compare_to) for arm in arms if arm.compare_to and arm.evals}
    expected |= {(f"{arm.name}@{arm.compare_shots[0]}-shot", f"{arm.name}@{arm.compare_shots[1]}-shot") for arm in arms if arm.compare_shots}
    assert paired == expected
    written = build_report(tmp_path)
    assert "model tiny-llama" in written["markdown"].read_text()
    assert written["summary"].stat().st_size > 0
    (tmp_path / "pages" / "notes").mkdir(parents=True)
    (tmp_path / "pages" / "notes" / f"{name}.md").write_text("A person's reading.\n")
    summary = publish_page(tmp_path, tmp_path / "pages", "flanlab report RUN --publish pages", written)
    page = (tmp_path / "pages" / summary.page).read_text()
    figures = re.findall(r"\]\(([^)]+\.png)\)", page)
    assert figures and all((tmp_path / "pages" / figure).exists() for figure in figures)
    assert f"**Verdict: {summary.verdict}.**" in page and "95% CI" in page
    assert re.search(r"\d+ of \d+ rows at or below the majority-class line", page)
    assert "## Reading this result\n\nA person's reading.\n" in page  # kept across regenerations
    assert (tmp_path / "pages" / name / "experiment.json").exists()


@pytest.mark.slow
def test_killed_experiment_rerun_skips_finished_units(tmp_path):
    out = tmp_path / "exp"
    command = [sys.executable, "-m", "flanlab", "experiment", "run", "flan2022_table1_method_ablations", "--scale", "tiny", "--out", str(out)]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    finished_train: list[Path] = []
    while time.monotonic() < deadline and not finished_train:
        finished_train = [p for p in out.glob("units/train-*/unit.json")]
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert finished_train, "no training unit finished before the deadline"
    assert not (out / "experiment.json").exists(), "the experiment finished before it could be killed"
    stamps = {path: path.stat().st_mtime_ns for path in out.glob("units/*/unit.json")}

    result = run_cli("experiment", "run", "flan2022_table1_method_ablations", "--scale", "tiny", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((out / "experiment.json").read_text())
    assert record["units_reused"] >= len(stamps)
    for path, stamp in stamps.items():
        assert path.stat().st_mtime_ns == stamp, f"{path.parent.name} was redone"


def test_unknown_config_is_a_one_line_error():
    result = run_cli("experiment", "run", "fig99_nothing", "--scale", "tiny")
    assert result.returncode == 2 and "built-in:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def record_results(out: Path) -> str:
    return json.loads((out / "experiment.json").read_text())["arms"][0]["evals"][0]["results"]


def test_flanlab_run_writes_a_report(tmp_path):
    out = tmp_path / "run"
    result = run_cli("run", "--scale", "tiny", "--held-out", "nli", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| base model |" in result.stdout and "| instruction-tuned |" in result.stdout
    figures = ("figures/per_dataset.png", "figures/loss.png", "figures/differences.png")
    for name in ("report.md", "report.html", "experiment.json", *figures):
        assert (out / name).stat().st_size > 0, name
    assert "data:image/png;base64," in (out / "report.html").read_text()  # self-contained
    report = (out / "report.md").read_text()
    record = json.loads((out / "experiment.json").read_text())
    [comparison] = [Comparison.model_validate(c) for c in record["comparisons"]]
    [overall] = comparison.overall()
    shape = r"^paired difference \(tuned - base\): [+-]\d+\.\d pp, 95% CI \[[+-]\d+\.\d, [+-]\d+\.\d\], n = \d+$"
    [line] = re.findall(shape, report, flags=re.MULTILINE)
    stored = f"{overall.difference:+.1f} pp, 95% CI [{overall.ci_low:+.1f}, {overall.ci_high:+.1f}], n = {overall.n}"
    assert line.endswith(stored), (line, stored)
    assert overall.ci_low <= overall.difference <= overall.ci_high and overall.n > 0
    header = next(row for row in report.splitlines() if row.startswith("| dataset | metric |"))
    assert header.endswith("| chance | majority |")
    published = run_cli("report", str(out), "--publish", str(tmp_path / "pages"))
    assert published.returncode == 0, published.stderr[-2000:]
    index = (tmp_path / "pages" / "README.md").read_text()
    assert index.count("| not yet run at default scale |") == len(builtin_config_names()) - 1  # all but the main job
    assert "flanlab report runs/*-default --publish" in index
    results = json.loads((out / record_results(out)).read_text())
    lines = results["tasks"][0]["lines"]
    assert f"| {lines['chance']:.1f} | {lines['majority']:.1f} |" in report
    # best-dev template selection is on by default and reported beside the template mean
    assert re.search(r"\| base model \| [\d.]+ ± [\d.]+ \(best-dev [\d.]+\) \|", (out / "report.md").read_text())
    # the report leads with the answer: the verdict, then what was run, how long each stage took, the command
    answer = report.split("## The answer", 1)[1].split("\n## ", 1)[0]
    assert report.index("## The answer") < report.index("| arm |")
    assert re.search(r"\*\*instruction-tuned vs base model, zero-shot, mean over 1 dataset: "
                     r"(no measurable difference|a measurable (improvement|drop))\.\*\*", answer)
    assert "Training (instruction-tuned): 3 optimizer steps" in answer and "random weights" in answer
    assert "Wall time per stage: evaluation (base model)" in answer
    assert "Reproduce: `flanlab run --scale tiny --held-out nli --out " in answer


def _science(record: dict) -> dict:
    """experiment.json without what depends on the clock or on where the run was written."""
    clock = {"seconds", "elapsed_s", "command", "log"}
    if isinstance(record, dict):
        return {key: _science(value) for key, value in record.items() if key not in clock}
    return [_science(value) for value in record] if isinstance(record, list) else record


def test_two_tiny_runs_write_identical_results(tmp_path):
    for name in ("one", "two"):
        result = run_cli("run", "--scale", "tiny", "--out", str(tmp_path / name))
        assert result.returncode == 0, result.stderr[-2000:]
    one, two = (json.loads((tmp_path / name / "experiment.json").read_text()) for name in ("one", "two"))
    assert _science(one) == _science(two)
    results = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").glob("units/*/results.json"))
    assert len(results) == 2
    for relative in results:
        for name in ("results.json", "samples.jsonl"):
            path = relative.parent / name
            # the tuned model's location names the run folder; nothing else may differ
            one_text = (tmp_path / "one" / path).read_text().replace(str(tmp_path / "one"), "RUN")
            assert one_text == (tmp_path / "two" / path).read_text().replace(str(tmp_path / "two"), "RUN"), path


@pytest.mark.parametrize("name", builtin_config_names())
def test_expected_signs_name_paired_arms_of_the_default_scale(name, registry):
    """A study page's verdict reads `finding.expect`: each arm it names must be paired at default scale."""
    config = resolve_experiment(name)
    if config.finding is None:
        return
    arms = {arm.name: arm for arm in plan(config.at_scale("default"), registry)}
    for side in config.finding.expect:
        arm_name, _, shots = side.partition("@")  # "tuned@3-shot": the arm's 3-shot vs its 0-shot answers
        arm = arms[arm_name]
        assert arm.evals and (arm.compare_shots if shots else arm.compare_to), side
        if shots:
            assert shots == f"{arm.compare_shots[0]}-shot", side
