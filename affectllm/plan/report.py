"""The plan as a text table (what `affectllm plan` and the recipes' dry runs print) and as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from affectllm.plan.memory import GIB

if TYPE_CHECKING:
    from affectllm.plan import Plan


def _count(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(int(n))


def render(plan: Plan) -> str:
    m, w, la, e = plan.model, plan.workload, plan.launch, plan.estimate
    lines = [f"plan: {m.name} ({m.model_type}), {w.method.upper()}, config from {m.config_source}",
             "", f"{'parameters':<28}{'total':>10}{'trainable':>12}"]
    for part, (total, trainable) in m.by_part.items():
        lines.append(f"  {part:<26}{_count(total):>10}{_count(trainable):>12}")
    lines.append(f"  {'all':<26}{_count(m.total):>10}{_count(m.trainable):>12}"
                 f"  ({100 * m.trainable / max(1, m.total):.2f}% trainable)")
    if m.quantised:
        kind = "4-bit (NF4)" if m.quantised_bytes < 1 else "8-bit"
        lines.append(f"  {kind} weights: {_count(m.quantised)}")
    if m.use_peft:
        targets = ", ".join(f"{k} {v}" for k, v in sorted(m.lora_by_target().items()))
        parts = ", ".join(f"{k} {v}" for k, v in sorted(m.lora_by_part().items()))
        lines.append(f"  LoRA modules matched: {len(m.lora_modules)} ({targets}); by part: {parts}")
    lines += ["", f"memory per GPU: {la.label}, {la.gpus} GPU(s) of {la.gpu_memory_gib:g} GiB "
              f"(launch: {la.source})"]
    for row in e.rows:
        lines.append(f"  {row.name:<38}{row.bytes / GIB:>8.2f} GiB  {row.note}")
    lines.append(f"  {'peak (estimated)':<38}{e.peak_gib:>8.2f} GiB")
    if e.cpu_bytes:
        lines.append(f"  host memory for offloaded states: {e.cpu_bytes / GIB:.1f} GiB "
                     "(DeepSpeed's estimate)")
    lines.append("  tokens per sample: " + f"{w.image_tokens} image + {w.prompt_tokens} prompt + "
                 f"{w.completion_tokens} completion = {w.sequence_length}")
    lines += [f"  assumed: {a}" for a in w.assumptions]
    lines.append("")
    if plan.fits:
        lines.append(f"fits: {e.peak_gib:.1f} of {la.gpu_memory_gib:g} GiB per GPU")
    else:
        lines.append(f"DOES NOT FIT: {e.peak_gib:.1f} GiB needed per GPU, "
                     f"{la.gpu_memory_gib:g} GiB available")
    if plan.knobs:
        best = plan.knobs[0]
        lines.append(f"{'to lower the peak' if plan.fits else 'the knob that helps most'}: "
                     f"{best.change} -> {best.estimate.peak_gib:.1f} GiB")
        lines += [f"  also: {k.change} -> {k.estimate.peak_gib:.1f} GiB" for k in plan.knobs[1:4]]
    lines += [f"problem: {p}" for p in plan.problems]
    return "\n".join(lines)


def as_dict(plan: Plan) -> dict[str, Any]:
    """The plan's numbers, for ``--json`` and the GPU benchmark."""
    m, e = plan.model, plan.estimate
    return {
        "model": m.name, "model_type": m.model_type, "method": plan.workload.method,
        "parameters": {"total": m.total, "trainable": m.trainable,
                       "by_part": {k: {"total": v[0], "trainable": v[1]}
                                   for k, v in m.by_part.items()},
                       "quantised": m.quantised},
        "lora_modules": m.lora_modules,
        "launch": {"label": plan.launch.label, "gpus": plan.launch.gpus,
                   "gpu_memory_gib": plan.launch.gpu_memory_gib},
        "memory_gib": {row.name: round(row.bytes / GIB, 3) for row in e.rows},
        "allocated_gib": round(e.allocated_bytes / GIB, 3),
        "peak_gib": round(e.peak_gib, 3), "fits": plan.fits,
        "knobs": [{"change": k.change, "peak_gib": round(k.estimate.peak_gib, 3)}
                  for k in plan.knobs],
        "problems": plan.problems,
    }
