"""Just enough PNG, BMP and drawing for the demo and the CLI, with numpy and zlib only.

read_png decodes 8-bit non-interlaced PNGs (grey, grey+alpha, RGB, RGBA, palette) into an
HxWxC uint8 array; read_bmp decodes uncompressed 8-bit (palette) and 24/32-bit BMPs the same way;
write_png writes uint8 grey/RGB/RGBA. draw_box and draw_dot paint in place.
"""
import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}   # PNG colour type -> samples per pixel


class PNGError(ValueError):
    """The bytes are not a PNG this module can read."""


def read_png(path_or_bytes):
    data = path_or_bytes if isinstance(path_or_bytes, (bytes, bytearray)) else _read(path_or_bytes)
    if data[:8] != _SIGNATURE:
        raise PNGError("not a PNG file (bad signature)")
    pos, header, palette, idat = 8, None, None, []
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length:
            raise PNGError(f"truncated {kind!r} chunk")
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise PNGError("no IHDR chunk")
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in _CHANNELS or interlace:
        raise PNGError(f"unsupported PNG: bit depth {depth}, colour type {colour}, interlace {interlace} "
                       "(only 8-bit, non-interlaced)")
    channels = _CHANNELS[colour]
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as e:
        raise PNGError(f"corrupt image data: {e}") from e
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise PNGError(f"image data holds {len(raw)} bytes, expected {height * (stride + 1)}")
    image = _unfilter(np.frombuffer(raw, np.uint8).reshape(height, stride + 1), channels)
    image = image.reshape(height, width, channels)
    if colour == 3:
        if palette is None:
            raise PNGError("palette image without a PLTE chunk")
        image = palette[image[..., 0]]
    return image


def _unfilter(rows, bpp):
    """Undo the per-row PNG filters (None, Sub, Up, Average, Paeth)."""
    height, width = rows.shape[0], rows.shape[1] - 1
    out = np.zeros((height, width), np.uint8)
    prev = np.zeros(width, np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 2:
            cur = (line + prev) & 0xFF
        elif kind in (1, 3, 4):
            cur = line.copy()
            for x in range(width):  # left neighbour depends on the bytes just decoded
                left = cur[x - bpp] if x >= bpp else 0
                up = prev[x]
                if kind == 1:
                    pred = left
                elif kind == 3:
                    pred = (left + up) >> 1
                else:
                    upleft = prev[x - bpp] if x >= bpp else 0
                    p = left + up - upleft
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
                    pred = left if pa <= pb and pa <= pc else (up if pb <= pc else upleft)
                cur[x] = (cur[x] + pred) & 0xFF
        else:
            raise PNGError(f"unknown filter type {kind} in row {y}")
        out[y] = cur
        prev = cur
    return out


def write_png(path, image):
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"write_png takes uint8 pixels, not {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    height, width, channels = image.shape
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    rows = np.concatenate([np.zeros((height, 1), np.uint8), image.reshape(height, -1)], axis=1)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    data = (_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(data)


class BMPError(ValueError):
    """The bytes are not a BMP this module can read."""


def read_bmp(path_or_bytes):
    """HxWxC uint8 (C = 1 for an 8-bit image with a grey palette, else 3 = RGB)."""
    data = path_or_bytes if isinstance(path_or_bytes, (bytes, bytearray)) else _read(path_or_bytes)
    if len(data) < 54 or data[:2] != b"BM":
        raise BMPError("not a BMP file (no 'BM' header)")
    offset, = struct.unpack_from("<I", data, 10)
    header, width, height, planes, bpp, compression = struct.unpack_from("<IiiHHI", data, 14)
    if compression not in (0, 3) or bpp not in (8, 24, 32) or width <= 0 or height == 0:
        raise BMPError(f"unsupported BMP: {bpp} bits per pixel, compression {compression}, {width}x{height}")
    rows = abs(height)
    stride = (width * bpp // 8 + 3) // 4 * 4
    if offset + stride * rows > len(data):
        raise BMPError(f"BMP pixel data ({rows} rows of {stride} bytes at {offset}) runs past the file end")
    pixels = np.frombuffer(data, np.uint8, stride * rows, offset).reshape(rows, stride)
    if height > 0:   # stored bottom-up
        pixels = pixels[::-1]
    if bpp == 8:
        index = pixels[:, :width]
        colours, = struct.unpack_from("<I", data, 46)
        count = colours or 256
        palette = np.frombuffer(data, np.uint8, 4 * count, 14 + header).reshape(count, 4)[:, 2::-1]
        grey = np.arange(count, dtype=np.uint8)
        if all((palette[:, c] == grey).all() for c in range(3)):
            return np.ascontiguousarray(index)[:, :, None]
        return palette[np.minimum(index, count - 1)]
    channels = bpp // 8
    bgr = pixels[:, :width * channels].reshape(rows, width, channels)[:, :, 2::-1]
    return np.ascontiguousarray(bgr)


def read_image(path):
    """A PNG or BMP file as HxWxC uint8."""
    data = _read(path)
    if data[:8] == _SIGNATURE:
        return read_png(data)
    if data[:2] == b"BM":
        return read_bmp(data)
    raise ValueError(f"{path}: not a PNG or BMP file")


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def draw_box(image, x0, y0, x1, y1, colour, thickness=2):
    """Outline the rectangle [x0, x1] x [y0, y1] (pixels, clipped to the image) in place."""
    h, w = image.shape[:2]
    x0, x1 = sorted((int(round(x0)), int(round(x1))))
    y0, y1 = sorted((int(round(y0)), int(round(y1))))
    t = max(1, int(thickness))
    for (ya, yb, xa, xb) in ((y0, y0 + t, x0, x1 + 1), (y1 - t + 1, y1 + 1, x0, x1 + 1),
                             (y0, y1 + 1, x0, x0 + t), (y0, y1 + 1, x1 - t + 1, x1 + 1)):
        ya, yb, xa, xb = max(ya, 0), min(yb, h), max(xa, 0), min(xb, w)
        if ya < yb and xa < xb:
            image[ya:yb, xa:xb] = colour


def draw_dot(image, x, y, colour, radius=3):
    """A filled disc centred on (x, y), clipped to the image, in place."""
    h, w = image.shape[:2]
    yy, xx = np.ogrid[:h, :w]
    image[(xx - x) ** 2 + (yy - y) ** 2 <= radius * radius] = colour
