"""Make the synthetic reference media the example storyboards use (run from the repository root).

    python controls/make_reference_media.py

controls/pour.mp4: 2 s at 12 fps, 256x160: a stream pours into a glass that fills up, drawn with opencv.
storyboards/music/calm-bed.m4a: 12 s of a soft A-minor chord with a slow swell, made with ffmpeg.
"""

from pathlib import Path

import cv2
import numpy as np

from ltx_flows.media.ffmpeg import run_ffmpeg as _run_ffmpeg
from ltx_flows.media.write import write_clip

FPS, SECONDS, WIDTH, HEIGHT = 12, 2, 256, 160


def pour_frames() -> np.ndarray:
    frames = []
    for i in range(FPS * SECONDS):
        t = i / (FPS * SECONDS - 1)
        frame = np.full((HEIGHT, WIDTH, 3), 30, np.uint8)
        cv2.rectangle(frame, (0, 130), (WIDTH, HEIGHT), (40, 60, 90), -1)  # the table (colours are BGR)
        level = int(128 - 70 * t)  # the coffee rises in the glass
        cv2.rectangle(frame, (104, level), (152, 128), (40, 70, 110), -1)
        cv2.line(frame, (128, 0), (128, level), (60, 90, 140), 6)  # the stream
        cv2.polylines(frame, [np.array([[100, 40], [104, 128], [152, 128], [156, 40]])], False, (230, 230, 230), 2)
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    return np.stack(frames)


def main() -> None:
    write_clip(pour_frames(), Path("controls/pour.mp4"), fps=FPS, crf=18)
    bed = Path("storyboards/music/calm-bed.m4a")
    bed.parent.mkdir(parents=True, exist_ok=True)
    chord = "+".join(f"0.08*sin(2*PI*{hz}*t)" for hz in (220.0, 261.63, 329.63))
    _run_ffmpeg(
        ["-f", "lavfi", "-i", f"aevalsrc=({chord})*(0.6+0.4*sin(2*PI*0.25*t)):s=48000:d=12",
         "-ac", "2", "-c:a", "aac", "-b:a", "64k", str(bed)],
        bed,
    )


if __name__ == "__main__":
    main()
