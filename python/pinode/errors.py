"""The library's error codes (include/pinode/error.h) and the exception that
carries them."""
import enum

from ._lib import lib, text


class ErrorCode(enum.IntEnum):
    """pn_error_code: the test of the struct layouts checks these values
    against include/pinode/error.h."""
    OK = 0
    ARG = -1
    MEM = -2
    IO = -3
    PARSE = -4
    STATE = -5
    USER_CALLBACK = -6
    MPI = -7
    NONFINITE = -8
    GRID = -9
    LIMIT = -10
    NOT_CONVERGED = -11
    REMOTE = -12
    INTERRUPTED = -13


def strerror(code):
    """The library's short description of a code ("invalid argument", ...)."""
    return text(lib.pn_strerror(int(code)))


class Error(Exception):
    """A libpinode call failed.

    ``code`` is the library's code (an ErrorCode when known), ``message`` the
    library's message (what went wrong and where: file, line, key, step,
    rank; pn_ctx_last_error), ``call`` the C function that returned it.  An
    exception raised by a Python callback (right-hand side, VJP, JVP, loss)
    is the ``__cause__`` of the Error it led to, and its text ends the message.
    """

    def __init__(self, code, message, call=""):
        try:
            code = ErrorCode(code)
        except ValueError:
            pass
        self.code = code
        self.message = message
        self.call = call
        name = code.name if isinstance(code, ErrorCode) else str(code)
        super().__init__("%s (%s: %s)" % (message or strerror(code), name, strerror(code)))
