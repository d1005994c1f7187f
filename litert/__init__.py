"""litert: a TensorFlow Lite compatible runtime with numba kernels."""
from .errors import (ArenaTooSmallError, InvalidModelError, LitertError, PrepareError, StateError,
                     TensorError, UnsupportedOpError)
from .registry import register_custom_op
from .interpreter import Interpreter, OpResolverType, SignatureRunner

__all__ = ["Interpreter", "OpResolverType", "SignatureRunner", "register_custom_op", "LitertError",
           "InvalidModelError", "UnsupportedOpError", "PrepareError", "ArenaTooSmallError",
           "TensorError", "StateError"]
