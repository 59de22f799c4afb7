"""Option structs (pn_solver_opts, pn_generator_opts) from keyword arguments
and back: each keyword is the C field of that name, nested structs are
dicts; ``enums`` maps a dotted field name to (parse, name) functions,
``flags`` names the fields that are booleans in Python."""
import ctypes
import operator


def _set(struct, field, value, what, enums, flags):
    """One C field from a Python value, refusing what it cannot hold."""
    ctype = dict(struct._fields_)[field]
    if what in enums:
        value = enums[what][0](value, what)
    elif what in flags:
        value = int(bool(value))
    if issubclass(ctype, ctypes.Array):  # a name (char[N])
        raw = str(value).encode()
        if len(raw) >= ctypes.sizeof(ctype):
            raise ValueError("%s = %r: at most %d characters"
                             % (what, value, ctypes.sizeof(ctype) - 1))
        setattr(struct, field, raw)
        return
    if ctype is ctypes.c_double:
        setattr(struct, field, float(value))
        return
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError("%s = %r: expected an integer" % (what, value)) from None
    setattr(struct, field, value)
    if getattr(struct, field) != value:  # ctypes wraps what does not fit
        raise ValueError("%s = %r is out of range" % (what, value))


def fill(struct, options, label, enums=None, flags=(), prefix=""):
    """Set the fields of @p struct named by @p options; TypeError for an
    unknown one (naming the known ones)."""
    enums = enums or {}
    names = [name for name, _ in struct._fields_]
    for key, value in options.items():
        if key not in names:
            raise TypeError("unknown %s %r (known: %s)" % (label, prefix + key, ", ".join(names)))
        sub = getattr(struct, key)
        if isinstance(sub, ctypes.Structure):
            if not isinstance(value, dict):
                raise TypeError("%s %r takes a dict" % (label, prefix + key))
            fill(sub, value, label, enums, flags, prefix + key + ".")
        else:
            _set(struct, key, value, prefix + key, enums, flags)


def as_dict(struct, enums=None, flags=(), prefix=""):
    """The fields of @p struct as a dict (enums by name, flags as bool)."""
    enums = enums or {}
    out = {}
    for key, _ in struct._fields_:
        value = getattr(struct, key)
        what = prefix + key
        if isinstance(value, ctypes.Structure):
            value = as_dict(value, enums, flags, what + ".")
        elif isinstance(value, bytes):
            value = value.decode()
        elif what in enums:
            value = enums[what][1](value)
        elif what in flags:
            value = bool(value)
        out[key] = value
    return out
