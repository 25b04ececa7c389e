"""Images: confirm that an upload is one, measure it, and make its thumbnail (Pillow).

Everything here is CPU-bound and blocking: callers run it in the files
thread pool, never on the reactor. A decompression bomb (a small file that
decodes to billions of pixels) is refused before any pixel is decoded: the
header's size is checked against ``MAX_PIXELS`` (and Pillow's own
``MAX_IMAGE_PIXELS`` check is turned into an error rather than a warning).
Such a file, or bytes that only start like an image, is stored as a plain
file with no thumbnail. A thumbnail is a new image made of the pixels only:
no EXIF (GPS position, camera, time) or other metadata survives into it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

# 50 megapixels: more than any phone photo, far less than a bomb.
MAX_PIXELS = 50_000_000
THUMBNAIL_SIZE = (320, 320)
_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """A confirmed image: its type and size, and a thumbnail (PNG or JPEG bytes) or None."""

    content_type: str
    width: int
    height: int
    thumbnail: bytes | None


def inspect(path: str, claimed: str, max_pixels: int = MAX_PIXELS) -> ImageInfo | None:
    """Return what the image at ``path`` is, or None if it is not one we show.

    ``claimed`` is the type sniffed from the magic numbers; the decoded
    format must agree with it (a PNG header on a JPEG body is not shown).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                kind = _FORMATS.get(image.format or "")
                width, height = image.size
                if kind != claimed or width <= 0 or height <= 0:
                    return None
                if width * height > max_pixels:
                    return None
                image.verify()
            with Image.open(path) as image:
                image.load()
                thumbnail = _thumbnail(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Warning, EOFError):
        return None
    except MemoryError:
        return None
    return ImageInfo(kind, width, height, thumbnail)


def _thumbnail(image: Image.Image) -> bytes:
    """A JPEG (or PNG, for transparency) of at most ``THUMBNAIL_SIZE``, without metadata."""
    oriented = ImageOps.exif_transpose(image)  # the photo's own rotation, then EXIF is gone
    oriented.thumbnail(THUMBNAIL_SIZE)
    has_alpha = oriented.mode in ("RGBA", "LA", "P")
    out = io.BytesIO()
    if has_alpha:
        # A fresh image from the pixels only: no info dict, no EXIF, no text chunks.
        clean = Image.new("RGBA", oriented.size)
        clean.paste(oriented.convert("RGBA"))
        clean.save(out, format="PNG", optimize=True)
    else:
        clean = Image.new("RGB", oriented.size)
        clean.paste(oriented.convert("RGB"))
        clean.save(out, format="JPEG", quality=80)
    return out.getvalue()
