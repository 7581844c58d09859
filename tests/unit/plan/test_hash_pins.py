"""Content hashes pinned: a shot renders again only when what makes its pixels or sound changes, never because
the code moved.

Each example storyboard is planned with a real checkpoint (its generation's distilled preset: LTX-2, or
LTX-Video 0.9.8), from a copy of `storyboards/` and `controls/` (media paths resolve as in the repo). The values
were computed at 51ff4c2 and again after issue 18 (identical); issue 20 moved the LTX-2 ones (use_cross_timestep
False for 2.0, Lightricks' LTX-2 negative prompt). A change of these values must be on purpose
(a recipe that changes the pixels, a new RENDER_VERSION): it re-renders every user's cached shots, so update the
pins in the same commit and say so in its message. Shot hashes are listed first, then a long take's segment
hashes, then a shot's retake hashes (16 hex digits each).
"""

import shutil

import pytest
import yaml

from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.loading import load_storyboard

from ...conftest import REPO

PINNED = {
    "lesson-narrated": {
        "drop": [
            "1e640009350dcfc4"
        ],
        "rain": [
            "0953bf86b049f8d9"
        ],
        "cycle": [
            "2b1eb010de6ae9e6"
        ]
    },
    "cold-brew-spot": {
        "pour": [
            "a87c74d0ab8eae91"
        ],
        "sip": [
            "04041504e10b708a"
        ],
        "packshot": [
            "b62dc381a0e5e054"
        ]
    },
    "long-take-sound": {
        "pour": [
            "694f657d09716574",
            "12a5ec9a9bc9fb29",
            "694f657d09716574"
        ]
    },
    "long-take": {
        "orbit": [
            "c90cc063f7cc4160",
            "a202f2c194cabf0e",
            "15e1f5370e95abc2",
            "c90cc063f7cc4160"
        ],
        "finish": [
            "10e3be2a3afe8da5"
        ]
    },
    "pour-controlled": {
        "pour": [
            "7f61a1624ccecd8b"
        ],
        "glass": [
            "b4e04a4a1a430a47"
        ],
        "packshot": [
            "186fed4c66225a8b"
        ]
    },
    "quickstart": {
        "sunset": [
            "d3a5a6218e613932"
        ],
        "night": [
            "2596e7d55b0da1db"
        ]
    },
    "retake": {
        "reveal": [
            "19a520b8b216777b",
            "56f5a9945a732d8c",
            "19a520b8b216777b"
        ]
    },
    "spot-versions": {  # issue 23's example, planned as its first variant (load_storyboard)
        "pour": [
            "2f53dc4ba9fb5955"
        ],
        "packshot": [
            "1376d12499db158b"
        ]
    },
    "water-cycle": {
        "evaporation": [
            "b13773a57b72f4c7"
        ],
        "condensation": [
            "3742cc049328128d"
        ],
        "precipitation": [
            "5257db68e7f7a145"
        ]
    }
}


@pytest.fixture
def real_checkpoint_examples(tmp_path, monkeypatch):
    """The example storyboards with their model replaced by a real checkpoint's preset, in a copy of the repo's
    layout (the current directory is the workspace root, as for `ltx-flows plan`)."""
    shutil.copytree(REPO / "storyboards", tmp_path / "storyboards")
    shutil.copytree(REPO / "controls", tmp_path / "controls")
    monkeypatch.chdir(tmp_path)
    boards = {}
    for example in sorted((tmp_path / "storyboards").glob("*.yaml")):
        data = yaml.safe_load(example.read_text())
        family = data["model"].get("family", "ltxv")
        data["model"] = {"preset": "ltx2-distilled" if family == "ltx2" else "ltxv-0.9.8-distilled"}
        real = example.with_name(f"real-{example.name}")
        real.write_text(yaml.safe_dump(data, sort_keys=False))
        boards[example.stem] = real
    return boards


def test_content_hashes_of_real_checkpoint_storyboards_are_pinned(real_checkpoint_examples):
    hashes = {}
    for name, path in real_checkpoint_examples.items():
        plan = plan_storyboard(load_storyboard(path), path)
        hashes[name] = {
            shot.id: [shot.content_hash[:16]] + [s.content_hash[:16] for s in shot.segments]
            + [r.content_hash[:16] for r in shot.retakes]
            for shot in plan.shots
        }
    assert hashes == PINNED
