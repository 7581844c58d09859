"""Unit tests: reading words with tesseract (media/ocr.py). Runs Debian's tesseract; nothing stubbed."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ltx_flows.media.ocr import MAX_HEIGHT, TextReader, confident_words, ocr_picture, tesseract_available


def caption(height: int, width: int, size: int) -> np.ndarray:
    """Grain with a white-on-black caption of `size` px letters near the bottom."""
    picture = np.random.default_rng(1).normal(128, 30, (height, width)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(picture)
    draw = ImageDraw.Draw(image)
    draw.rectangle([width // 20, height - 3 * size, width - width // 20, height - size // 2], fill=0)
    draw.text((width // 20 + size, height - 3 * size + size // 2), "HELLO WORLD SUBTITLE", fill=255,
              font=ImageFont.load_default(size=size))
    return np.asarray(image)


def test_a_tall_frame_is_read_at_a_whole_fraction_of_its_size():
    assert ocr_picture(np.zeros((256, 384), np.uint8)).shape == (256, 384)  # small frames as they are
    small = ocr_picture(np.arange(1080 * 1920, dtype=np.uint32).reshape(1080, 1920).astype(np.uint8))
    assert small.shape == (360, 640) and small.shape[0] <= MAX_HEIGHT


@pytest.mark.skipif(not tesseract_available(), reason="tesseract is not installed")
def test_a_1080p_caption_is_still_read_after_the_shrink_and_grain_reads_nothing():
    frame = caption(1080, 1920, size=48)
    with TextReader() as reader:
        words = reader.read([ocr_picture(frame), ocr_picture(frame)])
    assert {"HELLO", "WORLD", "SUBTITLE"} <= set(words), words
    with TextReader() as reader:
        assert reader.read([ocr_picture(np.random.default_rng(2).normal(128, 30, (1080, 1920))
                                        .clip(0, 255).astype(np.uint8))]) == []


@pytest.mark.skipif(not tesseract_available(), reason="tesseract is not installed")
def test_a_reader_never_read_is_ended_on_leaving():
    with TextReader() as reader:
        process = reader.process
    assert process.poll() is not None


def test_only_confident_words_of_three_characters_count():
    tsv = ("level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
           "1\t1\t0\t0\t0\t0\t0\t0\t10\t10\t-1\t\n"
           "5\t1\t1\t1\t1\t1\t0\t0\t10\t10\t91.5\tHELLO\n"
           "5\t1\t1\t1\t1\t2\t0\t0\t10\t10\t40.0\tWORLD\n"
           "5\t1\t1\t1\t1\t3\t0\t0\t10\t10\t95.0\tOK\n")
    assert confident_words(tsv) == ["HELLO"]
