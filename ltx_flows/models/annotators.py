"""Detector weights for depth and pose controls: where they come from, checking them, loading the detectors.

controlnet-aux's detectors read their weights by file name from a folder that mirrors the hub repo
`lllyasviel/Annotators`, or from that repo itself. Where they come from:

1. `$LTX_FLOWS_ANNOTATORS`, a local folder (or a hub repo id), when it is set;
2. with `checkpoint: tiny`, the tiny annotators: the real detector architectures with random weights,
   built offline once into the cache (like the tiny checkpoints; their maps are noise);
3. else the hub repo `lllyasviel/Annotators`, downloaded once into the hub cache.

Every file a kind needs is checked before any model is loaded, so a missing one is a clear error naming
the file and the folder rather than a download that fails deep inside controlnet-aux. Canny needs none.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..files import build_folder_once
from ..storyboard.sources import model_source
from .checkpoints import MODEL_LOAD_LOCK, cache_dir

ANNOTATORS_ENV = "LTX_FLOWS_ANNOTATORS"
HUB_ANNOTATORS = "lllyasviel/Annotators"
# controlnet-aux 0.0.10's default file names (`MidasDetector` with dpt_hybrid, `OpenposeDetector`).
WEIGHT_FILES = {
    "canny": (),
    "depth": ("dpt_hybrid-midas-501f0c75.pt",),
    "pose": ("body_pose_model.pth", "hand_pose_model.pth", "facenet.pth"),
}
# Bump when `build_tiny_annotators` changes what it saves.
TINY_ANNOTATORS_VERSION = 1

_detectors: dict[tuple, object] = {}


def forget_detectors() -> None:
    """Drop every loaded detector (when the batch moves to another model)."""
    with MODEL_LOAD_LOCK:
        _detectors.clear()


def annotators_source(checkpoint: str) -> str:
    """Where depth and pose weights come from for a storyboard using `checkpoint`: a folder or a hub repo."""
    configured = os.environ.get(ANNOTATORS_ENV)
    if configured:
        return configured
    if model_source(checkpoint).kind == "tiny":
        return str(ensure_tiny_annotators())
    return HUB_ANNOTATORS


def check_weights(kind: str, source: str) -> None:
    """Make sure every weight file `kind` needs is there (downloading it once from a hub repo)."""
    files = WEIGHT_FILES[kind]
    if not files:
        return
    folder = model_source(source).path
    if folder is not None:  # a local folder
        missing = [name for name in files if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{kind} control needs {', '.join(missing)} in {folder.resolve()} (a folder laid out like the hub "
                f"repo {HUB_ANNOTATORS}; download the file(s) there, or point ${ANNOTATORS_ENV} at a folder that "
                "has them)"
            )
        return
    from huggingface_hub import hf_hub_download

    for name in files:
        try:
            hf_hub_download(source, name)
        except Exception as error:
            raise FileNotFoundError(
                f"{kind} control needs {name} from the hub repo {source} and it could not be fetched ({error}); "
                f"download it into a folder and set ${ANNOTATORS_ENV} to that folder"
            ) from None


def load_detector(kind: str, source: str, device: str):
    """The controlnet-aux detector for `kind`, loaded once per process from `source`."""
    key = (kind, source, device)
    with MODEL_LOAD_LOCK:
        if key not in _detectors:
            check_weights(kind, source)
            # controlnet-aux's package import loads every detector it has (seconds): canny, which needs no
            # model, goes straight to opencv, exactly as controlnet-aux's CannyDetector does.
            if kind == "canny":
                detector = _canny
            else:
                # The package import warns about detectors we do not use (mediapipe, timm registry names).
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    from controlnet_aux.midas import MidasDetector
                    from controlnet_aux.open_pose import OpenposeDetector
                detector_class = MidasDetector if kind == "depth" else OpenposeDetector
                detector = detector_class.from_pretrained(source).to(device)
            _detectors[key] = detector
        return _detectors[key]


def _canny(frame: np.ndarray, low_threshold: int, high_threshold: int, **_) -> np.ndarray:
    import cv2

    edges = cv2.Canny(frame, low_threshold, high_threshold)
    return np.repeat(edges[:, :, None], 3, axis=2)


def _strided_random_state(state: dict, seed: int) -> dict:
    """The same keys and shapes with random values that take a few kilobytes on disk.

    Every float tensor is a strided view of one short random vector (element [i, j, ...] is
    `base[i + j + ...]`); `torch.save` stores the vector and the strides, not the full tensors.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    longest = max(sum(size - 1 for size in tensor.shape) + 1 for tensor in state.values())
    base = torch.randn(longest, generator=generator) * 0.05
    return {
        key: base.as_strided(tensor.shape, (1,) * tensor.dim()) if tensor.is_floating_point() else tensor.clone()
        for key, tensor in state.items()
    }


def build_tiny_annotators(path: Path) -> None:
    """Write random-weight depth and pose files for controlnet-aux's real detector classes into `path`.

    The architectures are the real ones (MiDaS DPT-hybrid, OpenPose body, hand and face), so loading,
    resizing and timing follow the real code; the files are ~100 KB in all and the maps they give are noise.
    """
    import torch
    from controlnet_aux.midas.midas.dpt_depth import DPTDepthModel
    from controlnet_aux.open_pose.face import FaceNet
    from controlnet_aux.open_pose.model import bodypose_model, handpose_model

    def without_first_part(state: dict) -> dict:
        # OpenPose's body and hand files predate the wrapping module: controlnet-aux's `transfer` drops the
        # first component of every key when it loads them.
        return {key.split(".", 1)[1]: tensor for key, tensor in state.items()}

    path.mkdir(parents=True, exist_ok=True)
    files = {
        "body_pose_model.pth": without_first_part(bodypose_model().state_dict()),
        "hand_pose_model.pth": without_first_part(handpose_model().state_dict()),
        "facenet.pth": FaceNet().state_dict(),
        "dpt_hybrid-midas-501f0c75.pt": DPTDepthModel(path=None, backbone="vitb_rn50_384", non_negative=True).state_dict(),
    }
    for seed, (name, state) in enumerate(files.items()):
        torch.save(_strided_random_state(state, seed), path / name)


def ensure_tiny_annotators() -> Path:
    """The tiny annotators folder, built once into the cache."""
    target = cache_dir() / "annotators" / f"tiny-v{TINY_ANNOTATORS_VERSION}"
    with MODEL_LOAD_LOCK:
        return build_folder_once(target, build_tiny_annotators, done=target / WEIGHT_FILES["pose"][-1])
