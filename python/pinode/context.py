"""The context (include/pinode/ctx.h) and what every library object shares:
its handle, closing, and turning return codes into exceptions."""
import ctypes
import weakref

from mpi4py import MPI

from ._lib import MPI_Comm, lib, text
from .errors import Error


class Handle:
    """A library object: its C handle and the function that destroys it.

    ``close()`` destroys it, first closing what depends on it (a solver
    depends on its model and tableau, everything on its context), so no
    object ever uses a destroyed one; using a closed object raises
    ValueError.  Objects are closed when garbage-collected, and are context
    managers (``with pinode.Context() as ctx: ...``).
    """

    _destroy = None  # the library's destroy function, taking the handle's address

    def __init__(self, *parents):
        self._handle = ctypes.c_void_p()
        self._dependents = weakref.WeakSet()
        self._parents = parents  # kept alive: they must outlive this object
        for parent in parents:
            parent._dependents.add(self)

    @property
    def handle(self):
        """The C handle (a ctypes void pointer)."""
        if not self._handle:
            raise ValueError("this %s is closed" % type(self).__name__)
        return self._handle

    @property
    def closed(self):
        return not self._handle

    def close(self):
        """Destroy the C object (and first the objects that depend on it)."""
        for dependent in list(self._dependents):
            dependent.close()
        if self._handle:
            type(self)._destroy(ctypes.byref(self._handle))
            self._handle = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_handle", None):
            self.close()


class Context(Handle):
    """The ranks that share the time axis, over an mpi4py communicator
    (default MPI.COMM_WORLD); the library duplicates it.  Collective on
    ``comm``: create (and close) it on every rank.

    Every object is made from a context; a failing call raises ``Error``
    with the context's message (pn_ctx_last_error) and code.
    """

    _destroy = lib.pn_ctx_destroy

    def __init__(self, comm=None):
        super().__init__()
        comm = MPI.COMM_WORLD if comm is None else comm
        if not isinstance(comm, MPI.Comm):
            raise TypeError("pinode.Context needs an mpi4py communicator, got %r" % (comm,))
        self.comm = comm
        self._failure = None  # an exception a Python callback raised during the current call
        rc = lib.pn_ctx_create(MPI_Comm(MPI._handleof(comm)), ctypes.byref(self._handle))
        if rc != 0:
            raise Error(rc, "pn_ctx_create: cannot create a context over %r" % (comm,),
                        "pn_ctx_create")
        if (lib.pn_ctx_rank(self._handle), lib.pn_ctx_size(self._handle)) != \
                (comm.Get_rank(), comm.Get_size()):
            raise ImportError("pinode: libpinode and mpi4py do not use the same MPI library")

    @property
    def rank(self):
        """This process's rank in the context's communicator."""
        return lib.pn_ctx_rank(self.handle)

    @property
    def size(self):
        """The number of ranks."""
        return lib.pn_ctx_size(self.handle)

    @property
    def last_error(self):
        """The message of the last failure ("" if none)."""
        return text(lib.pn_ctx_last_error(self.handle))

    def check(self, rc, call):
        """Raise Error for a failing return code of the C function @p call."""
        failure, self._failure = self._failure, None
        if rc == 0:
            return
        message = "%s: %s" % (call, self.last_error)
        if failure is not None and not isinstance(failure, Exception):
            raise failure  # KeyboardInterrupt, SystemExit: the user's, not the library's
        if failure is not None:
            message += " (the Python callback raised %s: %s)" % (type(failure).__name__, failure)
        lib.pn_ctx_clear_error(self.handle)
        raise Error(rc, message, call) from failure

    def callback(self, fn, *args):
        """Run a Python callback for the library: 0 on success; on an
        exception, keep it for check() and return -1 (the library then fails
        with PN_ERR_USER_CALLBACK)."""
        try:
            fn(*args)
            return 0
        except BaseException as exc:  # noqa: B902 -- it is re-raised by check()
            if self._failure is None:
                self._failure = exc
            return -1


_local = None


def local_context():
    """A context over MPI.COMM_SELF for the calls that are not collective
    (data generators, dataset splits): they need a context only for errors."""
    global _local
    if _local is None or _local.closed:
        _local = Context(MPI.COMM_SELF)
    return _local
