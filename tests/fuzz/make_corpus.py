#!/usr/bin/python3
"""Write the seed corpus of the fuzz harnesses (tests/fuzz/corpus/<target>/).

Valid inputs of every reader plus the hostile classes of docs/reliability.md: malformed,
truncated, enormous counts, NaN/Inf/1e308, negative sizes, 2^31 rows/entries, binary
garbage, NUL bytes, repeated keys, byte-order marks, checksum mismatches.  The files are committed; rerun this script after changing it:
    /usr/bin/python3 tests/fuzz/make_corpus.py
"""
import os
import random
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "..", "data", "bench", "small")
SEP = "\n----8<----\n"
rng = random.Random(10)


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(name):
    with open(os.path.join(BENCH, name)) as f:
        return f.read()


GARBAGE = bytes(rng.randrange(256) for _ in range(300))

# ---- problem directories: meta, theta, z0, times, targets -------------------
meta, theta, z0, times, targets = (read(n) for n in
                                   ("meta.txt", "theta.txt", "z0.txt", "times.txt", "targets.txt"))


def problem(name, m=meta, th=theta, z=z0, t=times, y=targets, parts=5):
    put("problem", name, SEP.join([m, th, z, t, y][:parts]))


problem("valid_small")
problem("valid_two_layers_time",
        "dim 1\nhidden 2 3\nactivation tanh relu\ntime_input 1\nbatch 2\nt0 0\nt1 1\n"
        "steps 4\nscheme heun\n",
        "\n".join(str(0.1 * i) for i in range(2 * 2 + 2 + 2 * 3 + 3 + 3 * 1 + 1)) + "\n",
        "0.5\n-0.5\n", "0.25\n1\n", "1\n2\n3\n4\n")
problem("nan_theta", th=theta.replace(theta.split("\n")[3], "nan", 1))
problem("inf_z0", z="inf\n-1\n")
problem("huge_values", z="1e308\n-1e308\n", y="1e308\n1e308\n")
problem("negative_batch", meta.replace("batch 1", "batch -1"))
problem("batch_2_31", meta.replace("batch 1", "batch 2147483648"))
problem("steps_2_40", meta.replace("steps 10", "steps 1099511627776"))
problem("steps_negative", meta.replace("steps 10", "steps -5"))
problem("huge_hidden", meta.replace("hidden 8", "hidden 1048576 1048576 1048576"))
problem("no_hidden", meta.replace("hidden 8\nactivation tanh", "hidden"), th="\n".join(["0.1"] * 6))
problem("unknown_key", meta + "colour blue\n")
problem("missing_scheme", meta.replace("scheme euler\n", ""))
problem("unknown_scheme", meta.replace("scheme euler", "scheme rk99"))
problem("t1_before_t0", meta.replace("t1 1.0", "t1 -1.0"))
problem("label_off_grid", t="0.123456\n")
problem("label_outside", t="7\n")
problem("many_labels", t="\n".join(["0.5"] * 40) + "\n", y="1\n" * 80)
problem("truncated_theta", th=theta[: len(theta) // 2])
problem("missing_files", parts=2)
problem("meta_only", parts=1)
problem("garbage", GARBAGE.decode("latin-1"), GARBAGE.decode("latin-1"))
problem("crlf", meta.replace("\n", "\r\n"), theta.replace("\n", "\r\n"))
problem("comments_blank", "# a comment\n\n" + meta, "# theta\n\n" + theta)
problem("seventy_values", meta.replace("hidden 8", "hidden " + " ".join(["1"] * 70)))
problem("duplicate_key", meta + "steps 20\n")
problem("nul_in_meta", meta.replace("steps 10", "steps 10\0 junk"))
problem("nul_in_z0", z="0.5\0garbage\n-1\n")
problem("bom_files", "\ufeff" + meta, "\ufeff" + theta, "\ufeff" + z0)
problem("bom_inside_meta", meta.replace("steps 10", "\ufeffsteps 10"))

# ---- CSV data ------------------------------------------------------------------
valid = "trajectory,time,x,y\n" + "".join(
    f"{j},{i * 0.25},{rng.uniform(-2, 2)!r},{rng.uniform(-2, 2)!r}\n" for j in range(3) for i in range(5))
put("csv", "valid", valid)
put("csv", "valid_no_header", "\n".join(valid.split("\n")[1:]))
put("csv", "valid_3d_uneven",
    "trajectory,time,a,b,c\n0,0,1,2,3\n0,0.5,1,2,3\n7,0,1,1,1\n7,1,2,2,2\n7,1.5,3,3,3\n")
put("csv", "nan_value", valid.replace(valid.split(",")[6], "nan", 1))
put("csv", "inf_time", "trajectory,time,x\n0,0,1\n0,inf,2\n")
put("csv", "huge_values", "trajectory,time,x\n0,0,1e308\n0,1,-1e308\n0,2,1.8e308\n")
put("csv", "negative_id", "trajectory,time,x\n-1,0,1\n-1,1,2\n-9223372036854775808,0,1\n")
put("csv", "id_2_31", "trajectory,time,x\n2147483648,0,1\n2147483648,1,2\n")
put("csv", "id_overflow", "trajectory,time,x\n99999999999999999999,0,1\n")
put("csv", "unsorted_times", "trajectory,time,x\n0,1,1\n0,0.5,2\n")
put("csv", "equal_times", "trajectory,time,x\n0,1,1\n0,1,2\n")
put("csv", "non_contiguous", "trajectory,time,x\n0,0,1\n1,0,1\n0,1,1\n")
put("csv", "ragged", "trajectory,time,x,y\n0,0,1,2\n0,1,1\n0,2,1,2,3\n")
put("csv", "empty_fields", "trajectory,time,x\n0,,1\n,0,1\n")
put("csv", "header_only", "trajectory,time,x\n")
put("csv", "bad_header", "id,t,x\n0,0,1\n")
put("csv", "wide_4097", "0,0," + ",".join(["1"] * 4097) + "\n")
put("csv", "many_blank_lines", "\n" * 3000 + "0,0,1\n0,1,2\n")
put("csv", "comments_crlf", "# data\r\ntrajectory,time,x\r\n0,0,1\r\n# more\r\n0,1,2\r\n")
put("csv", "nul_byte", b"trajectory,time,x\n0,0,1\x00\n0,1,2\n")
put("csv", "garbage", GARBAGE)
put("csv", "hex_floats", "trajectory,time,x\n0,0x0p0,0x1.8p1\n0,0x1p-2,-0x1p1022\n")
put("csv", "subnormal", "trajectory,time,x\n0,0,4.9406564584124654e-324\n0,1e-320,-0\n")
put("csv", "no_newline_at_end", "trajectory,time,x\n0,0,1\n0,1,2")
put("csv", "bom_header", "\ufeff" + valid)
put("csv", "bom_in_row", "trajectory,time,x\n0,0,1\n\ufeff0,1,2\n")

# ---- model and checkpoint files ------------------------------------------------
def model(dim=2, hidden=(3,), acts=("tanh",), time_input=0, theta=None, extra="", end=True,
          nparam=None, version=1):
    """Version 1 (no checksum: mutations reach the whole parser) unless version=2."""
    n_in = dim + time_input
    P, prev = 0, n_in
    for w in list(hidden) + [dim]:
        P += prev * w + w
        prev = w
    if theta is None:
        theta = [rng.uniform(-1, 1) for _ in range(P)]
    text = (f"pinode-model {version}\n# written by make_corpus.py\ncontent checkpoint\nkind mlp\n"
            f"dim {dim}\nhidden {' '.join(map(str, hidden))}\nactivation {' '.join(acts)}\n"
            f"time_input {time_input}\nnparam {P if nparam is None else nparam}\n"
            f"iteration 3\nt0 0\nrng.batch 1 2 3 18446744073709551615\n" + extra +
            f"array theta {len(theta)}\n" + "".join(f"{x!r}\n" for x in theta) +
            "array optimizer_state 3\n1\n2\n3\narray history.loss 3\n0.5\nnan\ninf\n")
    if not end:
        return text
    return text + ("end\n" if version == 1 else "end crc32 %08x\n" % zlib.crc32(text.encode()))


put("modelfile", "valid", model(version=2))
put("modelfile", "valid_version_1", model())
put("modelfile", "checksum_mismatch", model(version=2).replace("iteration 3", "iteration 4"))
put("modelfile", "version_2_without_checksum",
    model(version=2).rsplit("end crc32", 1)[0] + "end\n")
put("modelfile", "bom_crlf", "\ufeff" + model(version=2).replace("\n", "\r\n"))
put("modelfile", "valid_deep_time", model(dim=1, hidden=(2, 2, 2), acts=("relu", "silu", "sigmoid"),
                                         time_input=1))
put("modelfile", "no_hidden", model(hidden=(), acts=()))
put("modelfile", "truncated", model()[:150])
put("modelfile", "no_end", model(end=False))
put("modelfile", "nan_theta", model(theta=[float("nan")] * 17))
put("modelfile", "inf_theta", model(theta=[1e308, float("inf")] + [0.0] * 15))
put("modelfile", "wrong_nparam", model(nparam=16))
put("modelfile", "negative_count", model().replace("array theta 17", "array theta -1"))
put("modelfile", "count_2_31", model().replace("array theta 17", "array theta 2147483648"))
put("modelfile", "count_2_64", model().replace("array theta 17", "array theta 18446744073709551616"))
put("modelfile", "huge_shape", model().replace("hidden 3", "hidden 32767 32767"))
put("modelfile", "huge_dim", model().replace("dim 2", "dim 1048576"))
put("modelfile", "bad_activation", model().replace("activation tanh", "activation swish"))
put("modelfile", "duplicate_key", model(extra="t0 1\n"))
put("modelfile", "text_after_end", model() + "more\n")
put("modelfile", "version_3", model().replace("pinode-model 1", "pinode-model 3"))
put("modelfile", "rng_negative", model().replace("rng.batch 1 2 3 18446744073709551615",
                                                 "rng.batch -1 2 3 18446744073709551616"))
put("modelfile", "long_value", model(extra="note " + "x" * 5000 + "\n"))
put("modelfile", "crlf", model().replace("\n", "\r\n"))
put("modelfile", "nul_byte", model().encode().replace(b"kind mlp", b"kind\x00mlp"))
put("modelfile", "garbage", b"pinode-model 1\n" + GARBAGE)

# ---- training configurations (INI; after a ----8<---- line: --set options) -----
with open(os.path.join(HERE, "..", "..", "scripts", "configs", "spiral.ini")) as f:
    spiral = f.read()
put("config", "spiral", spiral)
put("config", "minimal", "[solver]\nsteps = 10\n[data]\nsource = pendulum\n")
put("config", "all_sections",
    "[model]\nhidden = 8, 8\nactivation = tanh relu\ntime_input = yes\nseed = 18446744073709551615\n"
    "init =\n[solver]\nscheme = dopri5\nsteps = 20\nt0 = 0\nt1 = 2\nstorage = every:4\n"
    "memory_limit_mb = 64\ncheck_finite = on\n[adjoint]\nmethod = continuous-interp\nsweep = single\n"
    "[data]\nsource = csv\nfile = data.csv\nvalidation = 0\nscale = 0.5\nseed = 3\n"
    "[loss]\nkind = mse\nreduction = sum\n[optimizer]\nmethod = sgd\nlr = 1e-3\nmomentum = 0.5\n"
    "nesterov = true\nweight_decay = 1e-4\nclip_norm = 1\nschedule = cosine\ndecay_iterations = 50\n"
    "lr_min = 1e-5\nwarmup = 5\niterations = 100\nbatch_size = 4\nseed = 2\n"
    "[parallel]\nmicrobatches = 3\n[output]\ndir = /tmp/x\noverwrite = true\ncheckpoint_every = 0\n"
    "log_every = 1\nvalidate_every = 2\npredict_every = 5\n")
put("config", "with_sets", "[solver]\nsteps = 10\n[data]\nsource = lorenz\n" + SEP +
    "optimizer.lr=0.5\nsolver.steps=1000000000000000\nmodel.hidden=\nbogus\ndata.x=1\n")
put("config", "nan_inf_huge", "[solver]\nsteps = 10\nt0 = nan\nt1 = inf\n[data]\nsource = spiral\n"
    "noise = 1e308\n[optimizer]\nlr = -1\niterations = 2147483648\n")
put("config", "negative", "[solver]\nsteps = -1\n[data]\nsource = spiral\ntrajectories = -5\n")
put("config", "steps_huge", "[solver]\nsteps = 999999999999999999999\n[data]\nsource = spiral\n")
put("config", "unknown", "[model]\ncolour = blue\n[extra]\nx = 1\n")
put("config", "twice", "[solver]\nsteps = 1\nsteps = 2\n[data]\nsource = spiral\n")
put("config", "no_section", "steps = 1\n")
put("config", "long_line", "[solver]\nsteps = " + "1" * 400 + "\n")
put("config", "many_widths", "[model]\nhidden = " + " ".join(["1"] * 70) + "\n")
put("config", "comments", "; c\n# c\n[solver] ; c\nsteps = 10 # ten\n[data]\nsource = spiral ; s\n")
put("config", "garbage", GARBAGE)
put("config", "nul_byte", b"[solver]\nsteps = 1\x00\n")
put("config", "bom", "\ufeff[solver]\nsteps = 10\n[data]\nsource = spiral\n")
put("config", "bom_in_key", "[solver]\n\ufeffsteps = 10\n[data]\nsource = spiral\n")
print("corpus written to", os.path.join(HERE, "corpus"))
