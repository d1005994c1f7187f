"""litert's exceptions: one base class, and ValueError subclasses where the official
interpreter raises ValueError, so code written against ai_edge_litert keeps working."""


class LitertError(Exception):
    """Base class of every error litert raises on purpose."""


class InvalidModelError(LitertError, ValueError):
    """The file is not a well-formed TFL3 model (broken flatbuffer, bad index, size or shape)."""


class UnsupportedOpError(LitertError, ValueError):
    """The model uses operators litert has no kernel for; `ops` lists every one of them."""

    def __init__(self, message, ops=()):
        super().__init__(message)
        self.ops = list(ops)


class PrepareError(LitertError, ValueError):
    """An operator cannot run with these shapes, types or options (found in allocate_tensors)."""


class ArenaTooSmallError(LitertError, ValueError):
    """The planned memory does not fit the cap given as `arena_size=`."""


class TensorError(LitertError, ValueError):
    """A bad tensor index, or a value of the wrong dtype or shape for set_tensor."""


class StateError(LitertError, RuntimeError):
    """The interpreter is not in a state that allows the call (e.g. views from tensor() held)."""


class InvokeError(LitertError, RuntimeError):
    """invoke() failed because of the data (e.g. an index outside its tensor)."""
