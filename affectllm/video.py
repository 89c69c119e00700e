"""Video samples: one frame sampling for training, HF generation and vLLM, so the tokens agree.

A video becomes frames the same way in every stage (`VideoSampling.sample`, decoded with PyAV):
frames are taken at `fps` frames per second of the clip, evenly spread, at most `max_frames` of
them. What the model then sees depends on the mode:

``frames``  every sampled frame is one image (image placeholders, the image pixel budget); works
            for every supported family.
``native``  the frames are one video input of the family's own video processor (Qwen2-VL /
            Qwen2.5-VL / Qwen3-VL: ``pixel_values_videos`` + ``video_grid_thw`` (+
            ``second_per_grid_ts``, from the sampled frame rate); LLaVA-OneVision: its video
            tokens), with the video pixel budget. The frame count is rounded to a multiple of the
            processor's temporal patch (2 for Qwen), so no processor adds or drops frames.

`expand_videos` rewrites chat messages (`affectllm.prompts.sample_messages`) for a mode: frames
mode turns each video part into that many image parts; native mode keeps one video part holding
a `Clip`. `processor_video_kwargs` is what the processor call adds for native clips (frames and frame
rates), so training (`affectllm.train.data`) and generation (`affectllm.generation`) pass the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from affectllm.errors import InputError

VIDEO_MODES = ("frames", "native")


@dataclass
class Clip:
    """Sampled frames of one video (RGB PIL images) and their frame rate (frames per second of
    the clip's time)."""

    frames: list
    fps: float


@dataclass(frozen=True)
class VideoSampling:
    """How a video becomes frames: `fps` frames per second of the clip, at most `max_frames`, at
    least one; in native mode a multiple of `frame_multiple` (the temporal patch size)."""

    mode: str = "frames"
    fps: float = 2.0
    max_frames: int = 8
    frame_multiple: int = 1

    def __post_init__(self):
        if self.mode not in VIDEO_MODES:
            raise InputError(f"video must be one of {', '.join(VIDEO_MODES)}, got {self.mode!r}")
        if self.fps <= 0 or self.max_frames < 1 or self.frame_multiple < 1:
            raise InputError(f"bad video sampling: fps {self.fps} must be > 0, max_frames "
                             f"{self.max_frames} and frame_multiple {self.frame_multiple} >= 1")

    def frame_count(self, duration: float) -> int:
        """How many frames a clip of `duration` seconds gives."""
        n = min(self.max_frames, max(1, round(duration * self.fps)))
        if self.frame_multiple > 1:
            n = max(self.frame_multiple, n - n % self.frame_multiple)
        return n

    def sample(self, path: str) -> Clip:
        """The frames of the video file at `path` (PyAV), evenly spread over the clip: frame k of
        n is the decoded frame at position (k + 1/2) / n of the clip. Only the picked frames are
        converted to images (the container's frame count and duration decide which)."""
        frames, duration = decode_video(path, self.frame_count)
        return Clip(frames, len(frames) / duration if duration > 0 else self.fps)


def _pick(total: int, n: int) -> list[int]:
    return [min(total - 1, int((k + 0.5) * total / n)) for k in range(n)]


def decode_video(path: str, frame_count: Any = None) -> tuple[list, float]:
    """Frames of the first video stream as RGB PIL images, and the clip's duration in seconds
    (frame count / average rate when the container does not say). Without `frame_count` every
    frame; with it (duration -> n), the n frames evenly spread over the clip."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = float(stream.average_rate or 0) or None
            duration = float(stream.duration * stream.time_base) if stream.duration else None
            total = int(stream.frames or 0)
            if frame_count is not None and total and duration:
                wanted = _pick(total, frame_count(duration))
                kept: dict[int, Any] = {}
                for index, frame in enumerate(container.decode(stream)):
                    if index in wanted:
                        kept[index] = frame.to_image()
                    if index >= wanted[-1]:
                        break
                if kept:  # a container may overstate its frame count: reuse the last frame
                    last = kept[max(kept)]
                    return [kept.get(i, last) for i in wanted], duration
            frames = [f.to_image() for f in container.decode(stream)]
    except (av.FFmpegError, IndexError, OSError) as e:
        raise InputError(f"not a readable video ({e})", path=str(path)) from None
    if not frames:
        raise InputError("no video frames could be decoded", path=str(path))
    if not duration:
        duration = len(frames) / rate if rate else float(len(frames))
    if frame_count is not None:
        frames = [frames[i] for i in _pick(len(frames), frame_count(duration))]
    return frames, duration


def sampling_for(processor: Any, mode: str = "frames", fps: float = 2.0,
                 max_frames: int = 8) -> VideoSampling:
    """The sampling for `processor`: native mode takes the video processor's temporal patch size
    as the frame multiple; native mode needs a video processor."""
    multiple = 1
    if mode == "native":
        video_processor = getattr(processor, "video_processor", None)
        if video_processor is None:
            raise InputError(f"video: native needs a model family with video input; "
                             f"{type(processor).__name__} has none (use video: frames)")
        multiple = int(getattr(video_processor, "temporal_patch_size", 1) or 1)
    return VideoSampling(mode, fps, max_frames, multiple)


def expand_videos(messages: list[dict], sampling: VideoSampling,
                  load: Any = None) -> list[dict]:
    """Messages whose video parts (``{"type": "video", "video": path}``) are sampled: in frames
    mode each becomes image parts holding the frames, in native mode one video part holding the
    `Clip`. `load` (path -> Clip) defaults to `sampling.sample`."""
    load = load or sampling.sample
    out = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            out.append(message)
            continue
        parts: list[dict] = []
        for part in content:
            src = part.get("video") if part["type"] == "video" else None
            if src is None or isinstance(src, Clip):
                parts.append(part)
                continue
            clip = load(src)
            if sampling.mode == "frames":
                parts += [{"type": "image", "image": frame} for frame in clip.frames]
            else:
                parts.append({"type": "video", "video": clip})
        out.append({**message, "content": parts})
    return out


def processor_video_kwargs(clips: list[Clip]) -> dict[str, Any]:
    """The processor arguments for native clips: ``videos`` (frame lists), their
    ``video_metadata`` (frame rate: Qwen2.5-VL's ``second_per_grid_ts``, Qwen3-VL's timestamps)
    and ``do_sample_frames=False``, so the processor keeps exactly the sampled frames."""
    if not clips:
        return {}
    from transformers.video_utils import VideoMetadata

    metadata = [VideoMetadata(total_num_frames=len(c.frames), fps=c.fps,
                              frames_indices=list(range(len(c.frames))),
                              duration=len(c.frames) / c.fps) for c in clips]
    return {"videos": [c.frames for c in clips], "video_metadata": metadata,
            "do_sample_frames": False}
