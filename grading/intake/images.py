"""An image a notebook saved, checked before a page embeds it: its type, its size in bytes, the width and height its
header gives (a PNG's IHDR read before anything is decoded) and Pillow's verification."""

from grading import settings


IMAGE_SIGNATURES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}


def _png_size(raw):
    """(width, height) from a PNG's header chunk (IHDR: the first, 13 bytes, its CRC right), or None."""
    import struct
    import zlib

    if len(raw) < 33 or raw[8:16] != b"\x00\x00\x00\x0dIHDR":
        return None
    width, height = struct.unpack(">II", raw[16:24])
    if not (width and height) or zlib.crc32(raw[12:29]) != struct.unpack(">I", raw[29:33])[0]:
        return None
    return width, height


def checked_image(kind, data):
    """(bytes, None) of an image output (``kind`` its MIME type, ``data`` its base64 text, as a notebook saves it)
    that a page may embed, else (None, why not): an image of that type within ``settings.limits().shown_size`` bytes whose
    header says at most ``settings.limits().image_side`` pixels a side (a PNG's read before anything else), and that Pillow
    opens and verifies. Whatever a record or a notebook holds is checked before a page shows it, and a page embeds
    only the bytes, encoded again."""
    import base64
    import binascii
    import io
    import warnings

    not_one = "not an image the page can show"
    if kind not in IMAGE_SIGNATURES:
        return None, not_one
    if isinstance(data, list):
        data = "".join(line for line in data if isinstance(line, str))
    if not isinstance(data, str):
        return None, not_one
    if len(data) > settings.limits().shown_size * 4 // 3 + 4096:
        return None, f"image too large (more than {settings.limits().shown_size // 2**10:,} KiB)"
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return None, not_one
    if not raw.startswith(IMAGE_SIGNATURES[kind]):
        return None, not_one
    if len(raw) > settings.limits().shown_size:
        return None, f"image too large (more than {settings.limits().shown_size // 2**10:,} KiB)"
    size = _png_size(raw) if kind == "image/png" else None
    if kind == "image/png" and size is None:
        return None, not_one
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # a JPEG's size is known only here
            if size is None or max(size) <= settings.limits().image_side:
                with Image.open(io.BytesIO(raw), formats=[kind.split("/")[1].upper()]) as opened:
                    size = opened.size
                    opened.verify()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        return None, "image too large (more pixels than Pillow opens)"
    except Exception:  # Pillow raises many kinds on bytes that are no image
        return None, not_one
    if max(size) > settings.limits().image_side:
        return None, f"image too large ({size[0]} \u00d7 {size[1]})"
    return raw, None
