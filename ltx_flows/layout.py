"""Layout: every path ltx-flows writes under a storyboard's render folder, in one place.

```
renders/<name>/                   one film; with `variants:`, one such folder per variant: renders/<name>/<variant>/
  <name>.mp4                      the film
  manifest.json                   what the film is made of (finish/manifest.py)
  review.html                     the review page (finish/review.py)
  shots/<shot>.mp4                a shot's clip, `.json` record and (LTX-2) `.audio.npy` sound latents beside it
  segments/<shot>/NN-<hash>.mp4   a long take's segments, each with `.json`, `.sound.npy`, `.audio.npy`
  retakes/<shot>/base-<hash>.mp4  a shot's own render before retakes; `NN-<hash>.mp4` each retake stage
  controls/<shot>-<kind>.mp4      the control video a shot followed, for review
  takes/<shot>/<hash>.mp4         a shot's takes and quality retries (each its own seed), one is copied to shots/
  notes/<shot>.txt                a reviewer's note on a shot (the review server writes it)
  enhanced/<key>.json             an enhanced prompt, cached by its inputs (plan/enhance.py)
  overlays/<deliverable>-*.png    overlay images drawn for a deliverable (logo, end card, legal line)
  <name>_<variant>_<deliverable>.mp4  a deliverable's file (`deliverables:`; a `render` one's working film is in
                                  the subfolder <deliverable>/)
```

The plan records clip names relative to the folder (`ShotPlan.clip`, `SegmentPlan.cache`, ...); `FilmFolder`
turns them into paths. These names are on disk in every render folder: changing one re-renders every shot.
"""

from dataclasses import dataclass
from pathlib import Path

# Folders under the render folder that hold clips a writer may have been killed in the middle of.
SHOTS, SEGMENTS, RETAKES, CONTROLS, TAKES = "shots", "segments", "retakes", "controls", "takes"
# Overlay images drawn for a film's deliverables.
OVERLAYS = "overlays"


def shot_clip_name(shot_id: str) -> str:
    return f"{SHOTS}/{shot_id}.mp4"


def segment_clip_name(shot_id: str, index: int, content_hash: str) -> str:
    return f"{SEGMENTS}/{shot_id}/{index:02d}-{content_hash[:16]}.mp4"


def retake_clip_name(shot_id: str, index: int, content_hash: str) -> str:
    return f"{RETAKES}/{shot_id}/{index:02d}-{content_hash[:16]}.mp4"


def base_clip_name(shot_id: str, content_hash: str) -> str:
    """Where a retaken shot's own render (before any retake) is kept."""
    return f"{RETAKES}/{shot_id}/base-{content_hash[:16]}.mp4"


def take_clip_name(shot_id: str, content_hash: str) -> str:
    """A take or quality retry of a shot: the shot with another seed, cached by its own content hash."""
    return f"{TAKES}/{shot_id}/{content_hash[:16]}.mp4"


def control_video_name(shot_id: str, kind: str) -> str:
    return f"{CONTROLS}/{shot_id}-{kind}.mp4"


def variant_folder(name: str, variant: str) -> str:
    """A variant's render folder, relative to the render root: `<name>/<variant>/`."""
    return f"{name}/{variant}"


def variant_film_name(name: str, variant: str) -> str:
    """A variant's film (and its progress bar) is named `<name>_<variant>`: one name per film of the batch."""
    return f"{name}_{variant}"


def delivery_file_name(name: str, variant: str | None, deliverable: str) -> str:
    """A deliverable's file, from the template `${name}_${variant}_${deliverable}.mp4` (no variant: left out)."""
    return "_".join(part for part in (name, variant, deliverable) if part) + ".mp4"


def record_path(clip: Path) -> Path:
    """The JSON record beside a clip: what vouches for its bytes and how it was made."""
    return clip.with_name(clip.name + ".json")


def audio_latents_path(clip: Path) -> Path:
    """An LTX-2 clip's final audio latents beside it (float32 .npy)."""
    return clip.with_name(clip.name + ".audio.npy")


def segment_sound_paths(segment: Path) -> dict[str, Path]:
    """A long-take segment's sound files, by the key its record names them with (`NN-<hash>.sound.npy`, ...)."""
    return {"sound": segment.with_name(f"{segment.stem}.sound.npy"),
            "audio_latents": segment.with_name(f"{segment.stem}.audio.npy")}


@dataclass(frozen=True)
class FilmFolder:
    """A storyboard's render folder (`renders/<name>/`)."""

    root: Path

    def __truediv__(self, relative: str | Path) -> Path:
        return self.root / relative

    def film(self, name: str) -> Path:
        return self.root / f"{name}.mp4"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def review(self) -> Path:
        return self.root / "review.html"

    @property
    def overlays(self) -> Path:
        """The overlay images drawn for the film's deliverables (`<deliverable>-logo.png`, ...)."""
        return self.root / OVERLAYS

    def segments(self, shot_id: str) -> Path:
        return self.root / SEGMENTS / shot_id

    def retakes(self, shot_id: str) -> Path:
        return self.root / RETAKES / shot_id

    def note(self, shot_id: str) -> Path:
        return self.root / "notes" / f"{shot_id}.txt"

    def enhanced(self, key: str) -> Path:
        """The cached enhanced prompt whose inputs hash to `key`."""
        return self.root / "enhanced" / f"{key}.json"

    def clip_folders(self) -> list[Path]:
        """Every folder ltx-flows writes clips into (where a killed write may leave a partial file)."""
        folders = [self.root, self.root / SHOTS]
        for parent in (self.root / SEGMENTS, self.root / RETAKES, self.root / TAKES):
            if parent.is_dir():
                folders.extend(path for path in parent.iterdir() if path.is_dir())
        return folders
