"""Run a pipeline stage by stage in a run directory, resumably.

    RUN/pipeline.yaml        the resolved pipeline (chaining filled in), rewritten each run
    RUN/state.json           per stage: status (running|done), inputs, outputs, times
    RUN/<stage>/stage.yaml   the stage's resolved inputs and exact command
    RUN/<stage>/log.txt      the stage's output
    RUN/<stage>/...          what the stage writes: a model (sft, grpo), corpus.jsonl (synth),
                             report.json (eval)
    RUN/<stage>/eval/        the evaluation of a training stage that asks for one (`eval:`)
    RUN/report.md, .json     the stage table (`affectllm.pipeline.report`) and RUN/stages.png

A stage marked done is skipped. A stage found `running` was interrupted: it is run again with its
own resume (training recipes get `--resume_from_checkpoint true` when a checkpoint exists, the
synthesis loop continues from its manifest, evaluation reuses its kept intermediates). `--from`
forgets a stage and those after it, deleting their folders, and runs them again. A stage's
evaluation has its own status in the state (``eval``): a finished one is never run again, an
interrupted one resumes.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from affectllm.errors import InputError
from affectllm.io import write_json, write_yaml
from affectllm.launch import override_args, recipe_command, run_logged
from affectllm.pipeline.config import Pipeline, Stage
from affectllm.pipeline.live import LiveLine

STATE_FILE = "state.json"


def _load_state(run_dir: Path) -> dict:
    path = run_dir / STATE_FILE
    if not path.is_file():
        return {"stages": {}}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"corrupt state file: {e}", path=path) from None


def _expand(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, sub in variables.items():
            value = value.replace("{" + key + "}", sub)
        return value
    if isinstance(value, dict):
        return {k: _expand(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, variables) for v in value]
    return value


class PipelineRunner:
    """Executes `pipeline` in `run_dir`; `log` receives one-line status messages."""

    def __init__(self, pipeline: Pipeline, run_dir: str | Path, log=print):
        self.pipeline = pipeline
        self.run_dir = Path(run_dir).resolve()
        self.log = log
        self.state = _load_state(self.run_dir)
        data_dir = str(Path(pipeline.data).resolve().parent) if pipeline.data else ""
        self.variables = {"run_dir": str(self.run_dir), "data_dir": data_dir}

    # ---------------------------------------------------------------- state

    def _save_state(self) -> None:
        write_json(self.run_dir / STATE_FILE, self.state)

    def status(self, stage: Stage) -> str | None:
        return self.state["stages"].get(stage.name, {}).get("status")

    def forget_from(self, stage_name: str) -> None:
        """Drop the state and outputs of `stage_name` and every stage after it."""
        start = self.pipeline.index(stage_name)
        for stage in self.pipeline.stages[start:]:
            self.state["stages"].pop(stage.name, None)
            shutil.rmtree(self.run_dir / stage.name, ignore_errors=True)
        self._save_state()

    # ---------------------------------------------------------------- chaining

    def plan(self) -> list[dict[str, Any]]:
        """Inputs and outputs of every stage after chaining, in order."""
        model, data = self.pipeline.model, self.pipeline.data
        plans = []
        for stage in self.pipeline.stages:
            stage_dir = self.run_dir / stage.name
            inputs = {"model": _expand(stage.model, self.variables) or model,
                      "data": _expand(stage.data, self.variables) or
                      (data if stage.kind != "eval" else None),
                      "data_root": stage.data_root or (self.pipeline.data_root
                                                       if stage.kind != "eval" else None)}
            if inputs["model"] is None:
                raise InputError(f"stage {stage.name!r} has no model: set 'model' in the pipeline "
                                 "or the stage", path=self.pipeline.source)
            if stage.kind == "eval" and inputs["data"] is None:
                raise InputError(f"eval stage {stage.name!r} needs 'data'",
                                 path=self.pipeline.source)
            outputs: dict[str, str] = {}
            if stage.trains:
                outputs["model"] = str(stage_dir)
                model = str(stage_dir)
            elif stage.kind == "synth":
                outputs["corpus"] = str(stage_dir / "corpus.jsonl")
                data = outputs["corpus"]
            else:
                outputs["report"] = str(stage_dir / "report.json")
            plans.append({"stage": stage, "dir": stage_dir, "inputs": inputs, "outputs": outputs})
        return plans

    # ---------------------------------------------------------------- commands

    def command(self, plan: dict[str, Any], resume: bool) -> list[str]:
        stage: Stage = plan["stage"]
        inputs, stage_dir = plan["inputs"], plan["dir"]
        if stage.trains:
            overrides = {"model_name_or_path": inputs["model"], "output_dir": str(stage_dir),
                         "dataset_train": inputs["data"], "data_root": inputs["data_root"],
                         **_expand(stage.overrides, self.variables)}
            if resume and any(stage_dir.glob("checkpoint-*")):
                overrides["resume_from_checkpoint"] = "true"
            return recipe_command(stage.recipe, stage.config, overrides,
                                  stage.accelerate_config, stage.num_processes)
        cli = [sys.executable, "-m", "affectllm.cli"]
        if stage.kind == "synth":
            args = {"model": inputs["model"], "rounds": stage.rounds, "out": str(stage_dir),
                    "data": inputs["data"], "data-root": inputs["data_root"],
                    **_expand(stage.args, self.variables)}
            return cli + ["synth", "--config", str(stage.config)] + override_args(args)
        return self._eval_command(stage.benchmark, inputs["model"], inputs["data"], stage_dir,
                                  stage.args)

    def _eval_command(self, benchmark: str, model: str, data: str, out: Path,
                      args: dict[str, Any]) -> list[str]:
        data_flag = "data" if benchmark == "facial" else "data-root"
        options = {"model": model, data_flag: data, "out": str(out),
                   **_expand(args, self.variables)}
        return [sys.executable, "-m", "affectllm.cli", "eval", benchmark] + override_args(options)

    def eval_command(self, plan: dict[str, Any]) -> list[str] | None:
        """The evaluation a training stage asks for (`eval:`), of the model it wrote."""
        stage: Stage = plan["stage"]
        if stage.eval is None:
            return None
        return self._eval_command(stage.eval["benchmark"], str(plan["dir"]),
                                  _expand(stage.eval["data"], self.variables),
                                  plan["dir"] / "eval", stage.eval["args"])

    # ---------------------------------------------------------------- run

    def run(self) -> list[dict[str, Any]]:
        """Run every stage not yet done, in order; returns the plans."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        plans = self.plan()
        write_yaml(self.run_dir / "pipeline.yaml", {
            "name": self.pipeline.name, "source": self.pipeline.source,
            "stages": [{**{k: v for k, v in asdict(p["stage"]).items() if v not in (None, {}, [])},
                        "inputs": p["inputs"], "outputs": p["outputs"]} for p in plans]})
        for plan in plans:
            stage: Stage = plan["stage"]
            status = self.status(stage)
            done_with = self.state["stages"].get(stage.name, {}).get("inputs")
            if status == "done" and done_with not in (None, plan["inputs"]):
                raise InputError(f"stage {stage.name!r} in {self.run_dir} was done with other "
                                 f"inputs ({done_with}, now {plan['inputs']}): rerun it with "
                                 f"--from {stage.name}, or use a new run directory",
                                 path=self.pipeline.source)
            if status == "done":
                self.log(f"[{stage.name}] done already, skipping")
            else:
                self._run_stage(plan, resume=status == "running")
            if stage.eval is not None:
                self._evaluate_stage(plan)
            self.write_report(plans)
        return plans

    def write_report(self, plans: list[dict[str, Any]]) -> dict:
        """RUN/report.md, RUN/report.json and RUN/stages.png from what the stages wrote."""
        from affectllm.pipeline.report import write_stage_report

        return write_stage_report(self.run_dir, self.pipeline.name, plans)

    def _run_live(self, name: str, argv: list[str], log_file: Path, what: str) -> None:
        """Run a stage's command into `log_file`, with its live line on a terminal; children
        draw their progress bars into the log (AFFECTLLM_PROGRESS=1) for the live line to read."""
        with LiveLine(name, log_file):
            run_logged(argv, log_file, env={"AFFECTLLM_PROGRESS": "1"}, what=what)

    def _evaluate_stage(self, plan: dict[str, Any]) -> None:
        stage: Stage = plan["stage"]
        entry = self.state["stages"][stage.name]
        status = entry.get("eval", {}).get("status")
        if status == "done":
            self.log(f"[{stage.name}] evaluated already, skipping its evaluation")
            return
        argv = self.eval_command(plan)
        entry["eval"] = {"status": "running", "started": time.time(),
                         "report": str(plan["dir"] / "eval" / "report.json")}
        self._save_state()
        log_file = plan["dir"] / "eval" / "log.txt"
        self.log(f"[{stage.name}] {'resuming the evaluation' if status else 'evaluating'} "
                 f"(log: {log_file}): {shlex.join(argv)}")
        start = time.perf_counter()
        self._run_live(f"{stage.name} eval", argv, log_file, f"evaluation of stage {stage.name!r}")
        if not Path(entry["eval"]["report"]).is_file():
            raise RuntimeError(f"the evaluation of stage {stage.name!r} finished but "
                               f"{entry['eval']['report']} is missing")
        entry["eval"].update(status="done", finished=time.time(),
                             seconds=time.perf_counter() - start)
        self._save_state()
        self.log(f"[{stage.name}] evaluated in {entry['eval']['seconds']:.0f}s")

    def _run_stage(self, plan: dict[str, Any], resume: bool) -> None:
        stage: Stage = plan["stage"]
        stage_dir: Path = plan["dir"]
        stage_dir.mkdir(parents=True, exist_ok=True)
        argv = self.command(plan, resume)
        write_yaml(stage_dir / "stage.yaml", {"kind": stage.kind, "inputs": plan["inputs"],
                                              "outputs": plan["outputs"], "resume": resume,
                                              "command": shlex.join(argv)})
        entry = {"status": "running", "kind": stage.kind, "inputs": plan["inputs"],
                 "outputs": plan["outputs"], "started": time.time()}
        self.state["stages"][stage.name] = entry
        self._save_state()
        self.log(f"[{stage.name}] {'resuming' if resume else 'running'} {stage.kind} "
                 f"(log: {stage_dir / 'log.txt'}): {shlex.join(argv)}")
        start = time.perf_counter()
        self._run_live(stage.name, argv, stage_dir / "log.txt", f"stage {stage.name!r}")
        for key, out in plan["outputs"].items():
            if not Path(out).exists():
                raise RuntimeError(f"stage {stage.name!r} finished but its {key} {out} is missing")
        entry.update(status="done", finished=time.time(), seconds=time.perf_counter() - start)
        self._save_state()
        self.log(f"[{stage.name}] done in {entry['seconds']:.0f}s")


def stage_report(run_dir: str | Path, stage_name: str) -> dict:
    """The report.json of an eval stage (or {} when absent)."""
    path = Path(run_dir) / stage_name / "report.json"
    return json.loads(path.read_text()) if path.is_file() else {}
