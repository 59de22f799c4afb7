"""NumPy arrays in and out of the library.

Inputs are passed to C without a copy when they already are float64 and
C-contiguous (np.ascontiguousarray returns them as they are); anything else
(a list, float32, a transposed or sliced view) is converted once, into a
temporary copy.  Callbacks see the library's own memory as NumPy views.
"""
import ctypes

import numpy as np


def as_input(x, shape, name, dtype=np.float64):
    """@p x as a C-contiguous array of @p dtype and @p shape (None: any extent
    there); ValueError naming @p name otherwise.  No copy when x already fits."""
    a = np.ascontiguousarray(x, dtype=dtype)
    if a.ndim != len(shape) or any(n is not None and n != m for n, m in zip(shape, a.shape)):
        want = "(%s%s)" % (", ".join("any" if n is None else str(n) for n in shape),
                           "," if len(shape) == 1 else "")
        raise ValueError("%s: expected an array of shape %s, got %s"
                         % (name, want, a.shape))
    return a


def view(address, shape, writable=False):
    """The library's memory at @p address as a float64 array (no copy);
    valid only while the library lends it (during a callback)."""
    n = int(np.prod(shape))
    if n == 0 or not address:
        return np.zeros(shape)
    buf = (ctypes.c_double * n).from_address(address)
    a = np.frombuffer(buf, dtype=np.float64).reshape(shape)
    a.flags.writeable = writable
    return a


def copy_out(address, shape):
    """A copy of library-owned numbers at a double pointer (an array the
    library keeps or frees)."""
    n = int(np.prod(shape))
    if n == 0:
        return np.zeros(shape)
    return np.array(np.ctypeslib.as_array(address, shape=(n,)), dtype=np.float64).reshape(shape)


def result(value, shape, what):
    """A callback's return value as a float64 array of exactly @p shape
    (no broadcasting: a wrong shape is the callback's error)."""
    a = np.asarray(value, dtype=np.float64)
    if a.shape != tuple(shape):
        raise ValueError("%s returned shape %s, expected %s" % (what, a.shape, tuple(shape)))
    return a
