"""Estimated peak GPU memory of one training process (one GPU), term by term.

Notation (per GPU): P all parameters, T trainable, F = P - T frozen, Q of them stored in 4 bit,
N data-parallel processes (GPUs), w bytes per activation element (2 for bf16/fp16, 4 for fp32),
b micro-batch (``per_device_train_batch_size``), s tokens per sequence (image tokens + prompt +
completion), c completion tokens, L / h / i / kv / V the language model's layers, hidden size,
MLP width, key-value width (heads x head_dim) and vocabulary.

Model states (weights, gradients, optimizer states)
    DeepSpeed ZeRO (stage 1/2 and 3): DeepSpeed's own estimators,
    ``estimate_zero2_model_states_mem_needs`` / ``estimate_zero3_model_states_mem_needs``, on the
    trainable parameters; frozen parameters cost their 16-bit weights only, which is what the
    same estimators give with the optimizer offloaded (``cpu_offload=True``: 2 F for ZeRO-2,
    2 F / N for ZeRO-3 plus the 4 x largest-layer gather buffer). The weights row is the
    estimators' optimizer-offloaded value, the gradients + optimizer row the rest. ZeRO-1 uses
    the ZeRO-2 estimator (it shards gradients too, so it is a lower bound for stage 1).
    No DeepSpeed (DDP or one GPU), with e the stored bytes of each trainable parameter (bf16: 2;
    peft's float32 adapters: 4): weights as stored (4/8-bit weights as quantised, see
    `affectllm.plan.model.NF4_BYTES` / ``INT8_BYTES``); gradients e T, plus e T of DDP gradient buckets when
    N > 1; AdamW's two moments 2 e T.

Activations of one training micro-step (SDPA / flash attention: no s x s attention matrix)
    stored per token and decoder layer: w (6 h + 2 kv + 4 i) (norm inputs/outputs, q/k/v,
    attention output, residuals, the SwiGLU gate, up, activation and product); LoRA with dropout
    adds its dropped-out inputs: (w + 1) (6 h + i) (the copies and their masks).
    With activation checkpointing only each layer's input is kept, w h per token and layer, plus
    one layer recomputed: b s (L w h + per-layer); without it b s L per-layer.
    A trainable vision tower adds the same for its tokens (image tokens x merge^2), per token and
    vision layer w (6 h_v + 3 i_v); a frozen one only runs forward (one layer's working set).
    Logits: SFT keeps the logits of every position, b s V (2 w + 12) (bf16 logits and their
    gradient, the float32 upcast of the loss, its saved log-softmax and gradient); GRPO only of
    the completion, b (c + 1) V 3 w (logits, the temperature-scaled copy, their gradient; TRL's
    per-row log-softmax adds no full float32 copy).

GRPO
    reference model (``beta > 0`` and no LoRA: with LoRA the reference is the base model with
    the adapter disabled, no copy): another copy of the weights, as the weights row.
    HF generation (``use_vllm: false``): KV cache 2 L kv w g (s_prompt + c) for the g = b x
    ``steps_per_generation`` rows each process generates at once, plus one prefill layer's
    working set g s_prompt w (4 h + 3 i). Generation and the training step do not overlap, so
    the peak holds the larger of the two.
    vLLM colocate: vLLM reserves ``vllm_gpu_memory_utilization`` x the GPU's memory for its
    weights (2 P / tensor-parallel size) and KV cache; server mode uses other GPUs (0 here).

Context
    CUDA context, cuBLAS workspaces and (N > 1) NCCL buffers outside PyTorch's allocator:
    `CONTEXT_GIB` (+ `NCCL_GIB`), measured values of typical set-ups, not a formula.

Peak = weights + gradients/optimizer + reference + vLLM share + context
       + max(activations + logits, generation).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from dataclasses import dataclass, field, replace

from affectllm.errors import InputError
from affectllm.models import FAMILIES
from affectllm.plan.model import ModelPlan

GIB = 2 ** 30
CONTEXT_GIB = 1.0
NCCL_GIB = 0.5


@dataclass(frozen=True)
class Launch:
    """How the run is launched: processes, DeepSpeed ZeRO stage and offload, GPU size."""

    gpus: int = 1
    nodes: int = 1
    zero_stage: int = 0               # 0: no DeepSpeed (DDP or one process)
    offload_optimizer: bool = False
    offload_param: bool = False
    gpu_memory_gib: float = 80.0
    source: str = "one process"

    @property
    def label(self) -> str:
        if not self.zero_stage:
            return "DDP" if self.gpus > 1 else "one process"
        offload = [k for k, on in (("optimizer", self.offload_optimizer),
                                   ("params", self.offload_param)) if on]
        return f"DeepSpeed ZeRO-{self.zero_stage}" + (
            f" (offload {' + '.join(offload)})" if offload else "")


@dataclass(frozen=True)
class Workload:
    """What one process computes per step (see the module docstring for the symbols)."""

    method: str                        # "sft" or "grpo"
    micro_batch: int
    image_tokens: int
    prompt_tokens: int                 # text tokens of the prompt (chat template included)
    completion_tokens: int
    activation_checkpointing: bool
    activation_bytes: int = 2
    lora_dropout: bool = False
    generation_rows: int = 0           # GRPO: rows generated at once per process
    beta: float = 0.0
    use_vllm: bool = False
    vllm_mode: str = "colocate"
    vllm_gpu_memory_utilization: float = 0.0
    vllm_tensor_parallel_size: int = 1
    assumptions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def prompt_length(self) -> int:
        return self.image_tokens + self.prompt_tokens

    @property
    def sequence_length(self) -> int:
        return self.prompt_length + self.completion_tokens


@dataclass(frozen=True)
class Row:
    name: str
    bytes: float
    note: str = ""


@dataclass(frozen=True)
class Estimate:
    rows: tuple[Row, ...]
    peak_bytes: float
    allocated_bytes: float            # without the context: what torch's allocator peaks at
    cpu_bytes: float                  # host memory for offloaded states (DeepSpeed's estimate)
    warnings: tuple[str, ...] = ()

    @property
    def peak_gib(self) -> float:
        return self.peak_bytes / GIB


def _deepspeed_estimators():
    if importlib.util.find_spec("deepspeed") is None:
        raise InputError("planning a DeepSpeed ZeRO launch uses DeepSpeed's memory estimators: "
                         "pip install 'affectllm[deepspeed]'")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
        from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs
    return estimate_zero2_model_states_mem_needs, estimate_zero3_model_states_mem_needs


def model_states(model: ModelPlan, launch: Launch) -> tuple[float, float, float, str]:
    """``(weights, gradients + optimizer states, CPU bytes, method)`` per GPU."""
    quantised_bytes = model.quantised * model.quantised_bytes
    if not launch.zero_stage:
        e_t = model.trainable_bytes
        buckets = e_t if launch.gpus > 1 else 0.0
        return model.weight_bytes, e_t + buckets + 2 * e_t, 0.0, "weights as stored + AdamW"
    zero2, zero3 = _deepspeed_estimators()
    per_node = max(1, launch.gpus // launch.nodes)
    unquantised_frozen = model.frozen - model.quantised
    if launch.zero_stage < 3:
        def gpu(n: int, offload: bool) -> tuple[float, float]:
            cpu, mem = zero2(n, num_gpus_per_node=per_node, num_nodes=launch.nodes,
                             cpu_offload=offload)
            return mem, cpu

        weights = gpu(unquantised_frozen, True)[0] + gpu(model.trainable, True)[0]
        full, cpu = gpu(model.trainable, launch.offload_optimizer)
        states = full - gpu(model.trainable, True)[0]
        method = "DeepSpeed estimate_zero2_model_states_mem_needs"
    else:
        def gpu(n: int, largest: int, offload: bool) -> tuple[float, float]:
            cpu, mem, _ = zero3(n, largest, num_gpus_per_node=per_node, num_nodes=launch.nodes,
                                cpu_offload=offload or launch.offload_param,
                                cpu_offload_params=launch.offload_param, zero_init=True)
            return mem, cpu

        weights = gpu(unquantised_frozen, 0, True)[0] + \
            gpu(model.trainable, model.largest_layer, True)[0]
        full, cpu = gpu(model.trainable, 0, launch.offload_optimizer)
        states = full - gpu(model.trainable, 0, True)[0]
        method = "DeepSpeed estimate_zero3_model_states_mem_needs"
    return weights + quantised_bytes, states, cpu if launch.offload_optimizer else 0.0, method


def activations(model: ModelPlan, work: Workload) -> tuple[float, float]:
    """``(decoder + vision activations, logits)`` of one training micro-step, in bytes."""
    s, w, b = model.shape, work.activation_bytes, work.micro_batch
    per_layer = w * (6 * s.hidden + 2 * s.kv_dim + 4 * s.intermediate)
    if work.lora_dropout:
        per_layer += (w + 1) * (6 * s.hidden + s.intermediate)
    tokens = b * work.sequence_length
    if work.activation_checkpointing:
        decoder = tokens * (s.layers * w * s.hidden + per_layer)
    else:
        decoder = tokens * s.layers * per_layer
    vision_tokens = b * work.image_tokens * s.vision_merge ** 2
    vision_layer = w * (6 * s.vision_hidden + 3 * s.vision_intermediate)
    if model.by_part["vision"][1]:
        stored = s.vision_layers * (w * s.vision_hidden if work.activation_checkpointing
                                    else vision_layer)
        vision = vision_tokens * (stored + vision_layer)
    else:
        vision = vision_tokens * vision_layer
    if work.method == "grpo":
        logits = b * (work.completion_tokens + 1) * s.vocab * 3 * w
    else:
        logits = b * work.sequence_length * s.vocab * (2 * w + 12)
    return decoder + vision, logits


def generation(model: ModelPlan, work: Workload) -> float:
    """HF generation in GRPO: KV cache of the rows generated at once plus one prefill layer."""
    if work.method != "grpo" or work.use_vllm:
        return 0.0
    s, w, g = model.shape, work.activation_bytes, work.generation_rows
    kv = 2 * s.layers * s.kv_dim * w * g * work.sequence_length
    prefill = g * work.prompt_length * w * (4 * s.hidden + 3 * s.intermediate)
    return kv + prefill


def estimate(model: ModelPlan, work: Workload, launch: Launch) -> Estimate:
    """The peak memory per GPU of `work` on `model` under `launch` (module docstring)."""
    weights, states, cpu, method = model_states(model, launch)
    acts, logits = activations(model, work)
    gen = generation(model, work)
    reference = 0.0
    if work.method == "grpo" and work.beta > 0 and not model.use_peft:
        reference = weights
    vllm = 0.0
    warnings: list[str] = []
    if work.method == "grpo" and work.use_vllm and work.vllm_mode == "colocate":
        vllm = work.vllm_gpu_memory_utilization * launch.gpu_memory_gib * GIB
        vllm_weights = model.total * 2 / max(1, work.vllm_tensor_parallel_size)
        if vllm_weights >= vllm:
            warnings.append(f"vLLM's share ({vllm / GIB:.1f} GiB) cannot hold its copy of the "
                            f"weights ({vllm_weights / GIB:.1f} GiB): raise "
                            "vllm_gpu_memory_utilization or vllm_tensor_parallel_size")
    context = (CONTEXT_GIB + (NCCL_GIB if launch.gpus > 1 else 0.0)) * GIB
    step = acts + logits
    rows = [
        Row("weights", weights, method if launch.zero_stage else "as stored"),
        Row("gradients + optimizer states", states,
            "fp32 master weights, grads, Adam moments" if launch.zero_stage
            else "grads, DDP buckets, AdamW moments"),
        Row("activations (training micro-step)", acts,
            f"b={work.micro_batch}, s={work.sequence_length}, "
            f"checkpointing {'on' if work.activation_checkpointing else 'off'}"),
        Row("logits", logits, "completion only" if work.method == "grpo" else "every position"),
    ]
    if work.method == "grpo":
        rows.append(Row("generation (HF): KV cache + prefill", gen,
                        f"{work.generation_rows} rows at once" if gen else
                        "vLLM generates instead" if work.use_vllm else ""))
        rows.append(Row("reference model", reference,
                        f"beta={work.beta:g}" + (", LoRA: adapter disabled" if model.use_peft
                                                 else "")))
        rows.append(Row("vLLM colocate share", vllm,
                        f"vllm_gpu_memory_utilization={work.vllm_gpu_memory_utilization:g}"
                        if vllm else (f"vllm_mode={work.vllm_mode}" if work.use_vllm else "")))
    rows.append(Row("CUDA / NCCL context", context, "fixed, outside PyTorch's allocator"))
    allocated = weights + states + reference + max(step, gen)
    peak = allocated + vllm + context
    return Estimate(tuple(rows), peak, allocated, cpu, tuple(warnings))


@dataclass(frozen=True)
class Knob:
    change: str
    estimate: Estimate


def knobs(model: ModelPlan, work: Workload, launch: Launch) -> list[Knob]:
    """Single changes that lower the peak, best first."""
    base = estimate(model, work, launch).peak_bytes
    options: list[tuple[str, ModelPlan, Workload, Launch]] = []
    if not work.activation_checkpointing:
        options.append(("activation_checkpointing: true", model,
                        replace(work, activation_checkpointing=True), launch))
    if work.micro_batch > 1:
        half = work.micro_batch // 2
        options.append((f"per_device_train_batch_size: {half} with gradient_accumulation_steps "
                        "x2 (same global batch)", model, replace(work, micro_batch=half), launch))
    quantised = model.quantised > 0  # bitsandbytes: DDP, no ZeRO sharding
    if launch.zero_stage < 3 and launch.gpus > 1 and not quantised:
        options.append(("DeepSpeed ZeRO-3 (recipes/accelerate_configs/zero3.yaml)", model, work,
                        replace(launch, zero_stage=3)))
    if not launch.offload_optimizer and launch.zero_stage >= 2 and not quantised:
        where = ("recipes/accelerate_configs/zero3_offload.yaml" if launch.zero_stage == 3
                 else "offload_optimizer_device: cpu in the accelerate config")
        options.append((f"offload to CPU ({where})", model, work,
                        replace(launch, offload_optimizer=True,
                                offload_param=launch.zero_stage == 3)))
    if not model.use_peft and model.lora_candidates:
        lora = replace(model, trainable=model.lora_candidates,
                       trainable_bytes=4.0 * model.lora_candidates, use_peft=True,
                       weight_bytes=model.weight_bytes + 4.0 * model.lora_candidates,
                       total=model.total + model.lora_candidates,
                       by_part={**model.by_part, "vision": [model.by_part["vision"][0], 0]})
        options.append(("use_peft: true (LoRA on the language model)", lora, work, launch))
    if work.method == "grpo" and work.use_vllm and work.vllm_mode == "colocate":
        needed = (model.total * 2 / max(1, work.vllm_tensor_parallel_size)) * 1.3 + GIB
        util = round(-(-needed / (launch.gpu_memory_gib * GIB) // 0.05) * 0.05, 2)
        if util < work.vllm_gpu_memory_utilization:
            options.append((f"vllm_gpu_memory_utilization: {util:g}", model,
                            replace(work, vllm_gpu_memory_utilization=util), launch))
        options.append(("vllm_mode: server (`trl vllm-serve` on other GPUs)", model,
                        replace(work, vllm_mode="server"), launch))
    if work.image_tokens > 64 and FAMILIES[model.model_type][0] == "qwen":  # a pixel budget
        options.append(("max_pixels halved (half the image tokens)", model,
                        replace(work, image_tokens=work.image_tokens // 2), launch))
    found = [Knob(change, estimate(m, w, la)) for change, m, w, la in options]
    return sorted((k for k in found if k.estimate.peak_bytes < base),
                  key=lambda k: k.estimate.peak_bytes)
