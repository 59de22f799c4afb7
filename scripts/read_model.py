#!/usr/bin/env python3
"""Read a pinode model or checkpoint file with NumPy.

    import read_model                      # (scripts/ on sys.path)
    m = read_model.load("out/spiral/model.pinode")
    m["header"]["scheme"], m["arrays"]["theta"], m["layers"]   # [(W, b), ...]
    f = read_model.rhs(m, t, z)            # the network, z of shape (B, D)
    Z = read_model.integrate(m, z0, t0, t1, steps)   # fixed-step RK, (steps+1, B, D)

or from the shell:  scripts/read_model.py FILE   (prints the header and the arrays' sizes)

The format (include/pinode/modelfile.h): a first line "pinode-model 2", then
"KEY VALUE" lines, "array NAME COUNT" followed by COUNT lines of one number
each (the shortest decimal that reads back as the same double, so every
double round-trips exactly), and a last line
"end crc32 X": the CRC-32 (zlib.crc32) of the lines before it, each ending in
one newline.  Version-1 files (before the checksum) end with "end" alone.
theta holds, layer by layer from the input, W (out x in, row-major) then b.
"""
import sys
import zlib

import numpy as np

# Butcher tableaux (A, b, c) of the schemes a model is usually trained with.
TABLEAUX = {
    "euler": ([[0.0]], [1.0], [0.0]),
    "midpoint": ([[0, 0], [0.5, 0]], [0, 1], [0, 0.5]),
    "heun": ([[0, 0], [1, 0]], [0.5, 0.5], [0, 1]),
    "ralston": ([[0, 0], [2 / 3, 0]], [0.25, 0.75], [0, 2 / 3]),
    "rk4": (
        [[0, 0, 0, 0], [0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 1, 0]],
        [1 / 6, 1 / 3, 1 / 3, 1 / 6],
        [0, 0.5, 0.5, 1],
    ),
    "rk38": (
        [[0, 0, 0, 0], [1 / 3, 0, 0, 0], [-1 / 3, 1, 0, 0], [1, -1, 1, 0]],
        [1 / 8, 3 / 8, 3 / 8, 1 / 8],
        [0, 1 / 3, 2 / 3, 1],
    ),
}

ACTIVATIONS = {
    "identity": lambda x: x,
    "tanh": np.tanh,
    "softplus": lambda x: np.logaddexp(0.0, x),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0.0),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
}


def load(path):
    """Parse a model file: {"header": {key: str}, "arrays": {name: ndarray},
    and for an MLP "layers": [(W, b), ...], "activations": [name, ...]}."""
    with open(path, encoding="utf-8-sig") as f:  # utf-8-sig: a byte-order mark is skipped
        lines = f.read().split("\n")
    lines = [s[:-1] if s.endswith("\r") else s for s in lines]  # CRLF line ends
    version = lines[0].strip() if lines else ""
    if version not in ("pinode-model 1", "pinode-model 2"):
        raise ValueError("%s:1: not a pinode model file (versions 1 and 2)" % path)
    header, arrays, i, ended, crc = {}, {}, 1, False, zlib.crc32((lines[0] + "\n").encode())
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        i += 1
        if s == "end" or s.startswith("end "):
            if version == "pinode-model 2" and s != "end crc32 %08x" % crc:
                raise ValueError("%s:%d: %r, but the lines before it give crc32 %08x (changed or "
                                 "damaged)" % (path, i, s, crc))
            ended = True
            break
        crc = zlib.crc32((line + "\n").encode(), crc)
        if not s or s.startswith("#"):
            continue
        if s.startswith("array "):
            _, name, count = s.split()
            n = int(count)
            if i + n > len(lines):
                raise ValueError("%s:%d: array %s is truncated" % (path, i, name))
            for x in lines[i : i + n]:
                crc = zlib.crc32((x + "\n").encode(), crc)
            arrays[name] = np.array([float(x) for x in lines[i : i + n]], dtype=np.float64)
            i += n
        else:
            key, _, value = s.partition(" ")
            header[key] = value.strip()
    if not ended:
        raise ValueError("%s: no 'end' line (truncated?)" % path)
    model = {"header": header, "arrays": arrays}
    if header.get("kind") == "mlp":
        model.update(_layers(header, arrays["theta"]))
    return model


def _layers(header, theta):
    dim = int(header["dim"])
    hidden = [int(w) for w in header["hidden"].split()]
    acts = header["activation"].split()
    sizes_in = [dim + int(header["time_input"])] + hidden
    sizes_out = hidden + [dim]
    layers, off = [], 0
    for nin, nout in zip(sizes_in, sizes_out):
        W = theta[off : off + nin * nout].reshape(nout, nin)
        off += nin * nout
        b = theta[off : off + nout]
        off += nout
        layers.append((W, b))
    if off != theta.size:
        raise ValueError("theta has %d numbers, the shape needs %d" % (theta.size, off))
    return {"layers": layers, "activations": acts}


def rhs(model, t, z):
    """f(t, z) of the MLP for states z of shape (B, D)."""
    x = np.atleast_2d(z)
    if model["header"]["time_input"] == "1":
        x = np.hstack([x, np.full((x.shape[0], 1), t)])
    layers = model["layers"]
    for (W, b), act in zip(layers[:-1], model["activations"]):
        x = ACTIVATIONS[act](x @ W.T + b)
    W, b = layers[-1]
    return x @ W.T + b


def integrate(model, z0, t0, t1, steps, scheme=None):
    """States at t0 + n (t1 - t0)/steps, n = 0..steps, by the fixed-step RK scheme
    (default: the one the model was trained with).  Returns (steps+1, B, D)."""
    A, bw, c = (np.array(x, dtype=np.float64) for x in TABLEAUX[scheme or model["header"]["scheme"]])
    h = (t1 - t0) / steps
    z = np.array(np.atleast_2d(z0), dtype=np.float64)
    out = [z.copy()]
    for n in range(steps):
        t = t0 + n * h
        k = []
        for i in range(len(bw)):
            y = z + h * sum(A[i, j] * k[j] for j in range(i)) if i else z
            k.append(rhs(model, t + c[i] * h, y))
        z = z + h * sum(bw[i] * k[i] for i in range(len(bw)))
        out.append(z.copy())
    return np.array(out)


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    m = load(argv[1])
    for k, v in m["header"].items():
        if not k.startswith("config."):
            print("%-14s %s" % (k, v))
    for k, v in m["arrays"].items():
        print("array %-18s %d numbers" % (k, v.size))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
