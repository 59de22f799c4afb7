"""Explicit Runge–Kutta tableaux (include/pinode/tableau.h)."""
import ctypes

from ._arrays import as_input, copy_out
from ._lib import double_ptr, lib, text
from .context import Handle


def tableau_names():
    """The names of the built-in tableaux."""
    count = ctypes.c_int()
    names = lib.pn_tableau_names(ctypes.byref(count))
    return [text(names[i]) for i in range(count.value)]


class Tableau(Handle):
    """A Butcher tableau: a built-in one by name (``Tableau(ctx, "rk4")``) or
    your own (``Tableau.custom``).  Not collective."""

    _destroy = lib.pn_tableau_destroy

    def __init__(self, ctx, name="rk4"):
        super().__init__(ctx)
        self.ctx = ctx
        if name is not None:  # None: no tableau yet, for custom()
            ctx.check(lib.pn_tableau_create(ctx.handle, str(name).encode(),
                                            ctypes.byref(self._handle)), "pn_tableau_create")

    @classmethod
    def custom(cls, ctx, name, A, b, c, order):
        """Your tableau: A (s × s) strictly lower triangular, b and c (s,), and
        the order you claim; the library checks the order conditions up to
        min(order, 4), Σ b = 1 and c_i = Σ_j a_ij to 1e-12 (Error naming the
        violated one).  The coefficients are copied."""
        b = as_input(b, (None,), "b")
        s = b.shape[0]
        A = as_input(A, (s, s), "A")
        c = as_input(c, (s,), "c")
        tab = cls(ctx, None)
        ctx.check(lib.pn_tableau_create_custom(ctx.handle, str(name).encode(), s, double_ptr(A),
                                               double_ptr(b), double_ptr(c), int(order),
                                               ctypes.byref(tab._handle)),
                  "pn_tableau_create_custom")
        return tab

    @property
    def name(self):
        return text(lib.pn_tableau_name(self.handle))

    @property
    def stages(self):
        return lib.pn_tableau_stages(self.handle)

    @property
    def order(self):
        return lib.pn_tableau_order(self.handle)

    @property
    def A(self):
        """A copy of the s × s matrix A."""
        return copy_out(lib.pn_tableau_a(self.handle), (self.stages, self.stages))

    @property
    def b(self):
        return copy_out(lib.pn_tableau_b(self.handle), (self.stages,))

    @property
    def c(self):
        return copy_out(lib.pn_tableau_c(self.handle), (self.stages,))
