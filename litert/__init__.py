"""litert: a TensorFlow Lite compatible runtime with numba kernels."""
from .errors import (ArenaTooSmallError, InvalidModelError, LitertError, PrepareError, StateError,
                     TensorError, UnsupportedOpError)
from .registry import register_custom_op
