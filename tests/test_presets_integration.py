"""Integration: every preset renders offline from its real hub ids, as on a warm GPU worker.

`ltx-flows download --preset ... --tiny` fills an empty Hugging Face cache with the tiny twins under the
published repo ids; then, with HF_HUB_OFFLINE=1 and an empty ltx-flows cache (so nothing but the hub cache can
serve a model), `ltx-flows render` renders one storyboard per preset through the Prefect flow: checkpoint,
upsampler subfolder or repo root, stage-2 LoRA, IC-LoRA and temporal upscaler file names all resolved by
huggingface_hub. Where a generation has a published temporal upscaler the film is frame-rate upscaled x2.
"""

import json
import os
import subprocess
import sys

import av
import pytest

from ltx_flows.media.read import probe
from ltx_flows.storyboard.frame_rate import TEMPORAL_UPSCALERS
from ltx_flows.storyboard.presets import PRESETS

from .conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _ltx_flows(*args, env: dict, cwd=None) -> subprocess.CompletedProcess:
    # One torch thread: the twins' tensors are tiny, so each op costs its thread hand-off, not its arithmetic.
    # On 2 shared cores, one LTX-2 dev shot rendered in 1.4-3.6 s with one thread and 8-23 s with two, and
    # two threads burnt ~70% more CPU (spin-waiting).
    # A wide terminal, so the download table keeps whole repo names.
    env = {**env, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    run = subprocess.run([sys.executable, "-m", "ltx_flows.cli", *args], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=1500)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return run


@pytest.fixture(scope="session")
def hub_home(tmp_path_factory, tiny_cache):
    """One Hugging Face home, empty at first, filled by `download --tiny` with every preset's repos."""
    home = tmp_path_factory.mktemp("hf-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(home), PYTHONPATH=str(REPO), LTX_FLOWS_CACHE=str(tiny_cache))
    presets = [arg for name in PRESETS for arg in ("--preset", name)]
    run = _ltx_flows("download", "--tiny", *presets, env=env)
    assert "Lightricks/ltxv-spatial-upscaler-0.9.7" in run.stdout and "total" in run.stdout
    assert "temporal upscaler" in run.stdout
    return home


def _size(name: str) -> tuple[int, int]:
    # LTX-2.3's union IC-LoRA reads the control at half size in the half-size first pass: multiples of 128.
    return (128, 128) if PRESETS[name].generation == "ltx2-2.3" else (128, 64)


def _rates(name: str) -> tuple[str, int]:
    """(model keys, output fps): x2 frame-rate upscaling where the generation publishes a temporal upscaler
    (LTX-Video from its 30 fps, LTX-2 from 24 to 48 on purpose), else 24 fps."""
    generation = PRESETS[name].generation
    if generation not in TEMPORAL_UPSCALERS:
        return "", 24
    return ("", 60) if PRESETS[name].family == "ltxv" else (", generate_fps: 24", 48)


def _storyboard(name: str, clip: str) -> str:
    preset = PRESETS[name]
    # Few steps for the dev presets (the distilled ones keep their 8-step schedule; LTX-2's shifted dev schedule
    # needs two); two-pass, since every preset has an upsampler; one shot with a keyframe, and a control where
    # the preset has IC-LoRAs.
    steps = "" if preset.sigmas else ", steps: 2"
    control = f", control: {{kind: canny, source: {clip}}}" if preset.control_loras else ""
    width, height = _size(name)
    rate, fps = _rates(name)
    return (
        f"version: 1\nname: {name.replace('.', '_')}\nmodel: {{preset: {name}, two_pass: true{steps}{rate}}}\n"
        f"output: {{width: {width}, height: {height}, fps: {fps}}}\nshots:\n  - {{id: a, prompt: x, frames: 9, "
        f"keyframes: [{{image: keyframes/a.png, at: 0}}]{control}}}\n"
    )


def test_every_preset_renders_offline_from_its_hub_ids_through_the_flow(
    prefect_server, hub_home, workspace, reference_media, tmp_path
):
    files = []
    for name in PRESETS:
        path = workspace / f"{name}.yaml"
        path.write_text(_storyboard(name, reference_media["clip"]))
        files.append(path.name)
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    empty = tmp_path / "empty-ltx-flows-cache"
    env.update(HF_HOME=str(hub_home), HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO), LTX_FLOWS_CACHE=str(empty))
    # The session's Prefect server (already up for the other integration tests), as a worker reports to its
    # team's server: the CLI then starts no temporary server of its own (~4-20 s here).
    env["PREFECT_API_URL"] = PREFECT_API_URL.value()
    _ltx_flows("render", *files, "--out", "renders", env=env, cwd=workspace)

    assert not (empty / "twins").exists()  # nothing came from a twin built on the side
    for name, preset in PRESETS.items():
        film = workspace / "renders" / name.replace(".", "_")
        info = probe(film / f"{name.replace('.', '_')}.mp4")
        assert (info.frames, info.width, info.height, info.fps) == (9, *_size(name), _rates(name)[1]), name
        upscaling = json.loads((film / "manifest.json").read_text())["film"].get("frame_rate_upscaling")
        if preset.generation in TEMPORAL_UPSCALERS:  # the published file, resolved from the hub cache
            assert upscaling == {"generated_fps": _rates(name)[1] // 2, "rounds": 1,
                                 "temporal_upscaler": TEMPORAL_UPSCALERS[preset.generation]}, name
        else:
            assert upscaling is None, name
        if preset.control_loras:
            assert probe(film / "controls" / "a-canny.mp4").frames == 9
        if preset.family == "ltx2":  # picture and sound
            with av.open(str(film / "shots" / "a.mp4")) as container:
                assert container.streams.audio, name
