"""TFL3 TensorType codes <-> numpy dtypes."""
import numpy as np

# TensorType enum values from the schema; None where numpy has no dtype for it.
_TYPES = {
    0: ("FLOAT32", np.float32), 1: ("FLOAT16", np.float16), 2: ("INT32", np.int32),
    3: ("UINT8", np.uint8), 4: ("INT64", np.int64), 5: ("STRING", None), 6: ("BOOL", np.bool_),
    7: ("INT16", np.int16), 8: ("COMPLEX64", np.complex64), 9: ("INT8", np.int8),
    10: ("FLOAT64", np.float64), 11: ("COMPLEX128", np.complex128), 12: ("UINT64", np.uint64),
    13: ("RESOURCE", None), 14: ("VARIANT", None), 15: ("UINT32", np.uint32),
    16: ("UINT16", np.uint16), 17: ("INT4", None), 18: ("BFLOAT16", None),
}
TYPE_NAMES = {code: name for code, (name, _) in _TYPES.items()}
NUMPY_TYPE = {code: t for code, (_, t) in _TYPES.items() if t is not None}
TYPE_CODE = {np.dtype(t): code for code, t in NUMPY_TYPE.items()}


def type_name(code):
    return TYPE_NAMES.get(code, f"type {code}")


def numpy_type(code):
    """The numpy scalar type (np.float32, ...) for a TensorType code, or None."""
    return NUMPY_TYPE.get(code)


def type_code(dtype):
    return TYPE_CODE[np.dtype(dtype)]
