"""Write a model (the object-API ModelT the reader unpacks to) back to TFL3 bytes.

Deterministic: the same ModelT always gives the same bytes. Buffer data are 16-byte aligned (as
the official converter writes them), so typed constants can be viewed in place after loading.
Operator codes follow the TFL3 rule: deprecated_builtin_code = min(code, 127), builtin_code = code.
"""
import copy

import flatbuffers
import numpy as np

from . import schema_fb as fb
from .model import FILE_IDENTIFIER, SCHEMA_VERSION

BUFFER_ALIGNMENT = 16


class _AlignedBuffer(fb.BufferT):
    """A BufferT whose data vector is written 16-byte aligned."""

    def __init__(self, src):
        super().__init__()
        self.data, self.offset, self.size = src.data, src.offset, src.size

    def Pack(self, builder):
        data = None
        if self.data is not None:
            raw = np.ascontiguousarray(np.asarray(self.data, dtype=np.uint8).reshape(-1))
            builder.StartVector(1, raw.size, BUFFER_ALIGNMENT)
            builder.head -= raw.size
            builder.Bytes[builder.head:builder.head + raw.size] = raw.tobytes()
            data = builder.EndVector()
        fb.BufferStart(builder)
        if data is not None:
            fb.BufferAddData(builder, data)
        fb.BufferAddOffset(builder, self.offset)
        fb.BufferAddSize(builder, self.size)
        return fb.BufferEnd(builder)


def write_model(model_t):
    """Serialize a ModelT to bytes. The caller's object is not modified."""
    m = copy.copy(model_t)
    m.version = SCHEMA_VERSION if not m.version else m.version
    m.buffers = [_AlignedBuffer(b) for b in (m.buffers or [fb.BufferT()])]
    codes = []
    for oc in m.operatorCodes or []:
        oc = copy.copy(oc)
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        oc.builtinCode = code
        oc.deprecatedBuiltinCode = min(code, 127)
        codes.append(oc)
    m.operatorCodes = codes
    size_hint = sum(0 if b.data is None else len(b.data) for b in m.buffers) + 4096
    builder = flatbuffers.Builder(size_hint)
    builder.Finish(m.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def save_model(model_t, path):
    """Write atomically: a half-written .tflite never replaces a good one."""
    import os
    import tempfile
    data = write_model(model_t)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".litert-", suffix=".tflite", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return len(data)
