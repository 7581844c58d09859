"""Reading words on pictures with Debian's tesseract (tesseract-ocr), one process per clip.

Tesseract spends most of a small clip's OCR loading its model (~0.08 s of CPU before it reads a pixel), so a
`TextReader` starts the process first, where the caller still has work to do (the clip's decode, see
`render.quality.measure_clip`): the model loads meanwhile, and the frames go to it on stdin when they are ready.
Called as a plain subprocess rather than through pytesseract, which only runs tesseract on a file it has written.
"""

import os
import shutil
import subprocess

import numpy as np

# A word counts when tesseract is this sure of it and it has this many letters or digits (generated grain reads
# as stray one- and two-letter "words").
CONFIDENCE = 70
MIN_CHARACTERS = 3
TIMEOUT_SECONDS = 120
# Frames taller than this are read at a whole fraction of their size, at most this tall: tesseract's time grows
# with the pixels, and a caption large enough to matter on a 1080p frame (40-50 px letters) still has letters
# of 15 px or more at a third of the size, which it reads.
MAX_HEIGHT = 384


def tesseract_available() -> bool:
    return shutil.which("tesseract") is not None


def ocr_picture(luma: np.ndarray) -> np.ndarray:
    """A frame's luma plane as the text check reads it: a copy, averaged down by a whole factor to at most
    MAX_HEIGHT rows."""
    factor = -(-luma.shape[0] // MAX_HEIGHT)
    if factor == 1:
        return luma.copy()
    height, width = luma.shape[0] // factor * factor, luma.shape[1] // factor * factor
    blocks = luma[:height, :width].reshape(height // factor, factor, width // factor, factor)
    return blocks.mean(axis=(1, 3), dtype=np.float32).round().astype(np.uint8)


class TextReader:
    """One tesseract run: started (model loading) on entry, `read` gives it the pictures and returns the words it
    is sure of; leaving the block ends it if it was never read (a decode that failed)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "TextReader":
        # psm 3 (automatic page layout): the sparse-text mode (psm 11) reads the same captions at 2-3 times the time
        # on grain. One OpenMP thread: its threads spin while waiting and, with text on screen, double the CPU time
        # for no gain on frames this small.
        self.process = subprocess.Popen(
            [shutil.which("tesseract") or "tesseract", "stdin", "stdout", "--psm", "3", "tsv"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        )
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def read(self, images: list[np.ndarray]) -> list[str]:
        """The confident words on these greyscale pictures (all the same width), read in one pass over them stacked
        (one run, one model load, for every frame)."""
        stacked = np.ascontiguousarray(np.concatenate(images, axis=0), dtype=np.uint8)
        # Binary PGM: leptonica reads it from stdin as is, with nothing to compress or decompress.
        pgm = f"P5\n{stacked.shape[1]} {stacked.shape[0]}\n255\n".encode() + stacked.tobytes()
        out, err = self.process.communicate(pgm, timeout=TIMEOUT_SECONDS)
        if self.process.returncode != 0:
            raise RuntimeError(f"tesseract failed ({self.process.returncode}): {err.decode(errors='replace')[-300:]}")
        return confident_words(out.decode(errors="replace"))


def confident_words(tsv: str) -> list[str]:
    """The words of tesseract's TSV output (columns ... conf, text) it is sure of."""
    words = []
    for line in tsv.splitlines()[1:]:
        columns = line.split("\t")
        if len(columns) < 12:
            continue
        text = columns[11].strip()
        if float(columns[10]) >= CONFIDENCE and sum(c.isalnum() for c in text) >= MIN_CHARACTERS:
            words.append(text)
    return words
