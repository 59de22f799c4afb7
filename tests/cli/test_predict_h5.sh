#!/usr/bin/env bash
# HDF5 outputs and inputs of the program: predict --out NAME.h5 and train's
# output.predictions = NAME.h5 hold bitwise the numbers of the CSV path on 1, 2
# and 3 ranks (read with h5py), compressed or not; a prediction file serves as
# --initial and as training data with the same results as its CSV; malformed
# files are refused with messages naming the file and the dataset.
# Built without HDF5, the program must say so; the rest is then skipped (77).
# Usage: test_predict_h5.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
PINODE=$1
PY=/usr/bin/python3
T=$(mktemp -d /tmp/pinode_test_predict_h5.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { mpiexec -n "$1" --oversubscribe "$PINODE" "${@:2}"; }
expect_error() { # expected-substring command...
  local want=$1
  shift
  if "$@" >"$T/out.log" 2>"$T/err.log"; then fail "succeeded: $*"; fi
  grep -qF -- "$want" "$T/err.log" "$T/out.log" || fail "expected '$want', got: $(cat "$T/err.log")"
}

cat >"$T/cfg.ini" <<'EOF'
[parallel]
method = pipeline
[model]
hidden = 6 5
activation = tanh softplus
[solver]
scheme = rk38
steps = 30
[data]
source = lotka_volterra
trajectories = 5
points = 7
t1 = 3
scale = 0.5
[optimizer]
iterations = 10
[output]
predict_every = 2
EOF

if ! run 1 train "$T/cfg.ini" --quiet --set output.dir="$T/run" --set output.predictions=p.h5 \
  2>"$T/err.log"; then
  grep -qF "p.h5 is HDF5, but this pinode was built without HDF5" "$T/err.log" ||
    fail "$(cat "$T/err.log")"
  echo "SKIPPED: this pinode was built without HDF5 (and says so)"
  exit 77
fi
run 1 train "$T/cfg.ini" --quiet --set output.dir="$T/csvrun"
cmp -s "$T/run/model.pinode" "$T/csvrun/model.pinode" || fail "the .h5 run trained another model"

# The same bits as CSV: train's output, and predict's on 1..3 ranks,
# uncompressed and compressed.
same_as_csv() { # file.h5 file.csv
  $PY - "$1" "$2" <<'EOF' || fail "$1 differs from $2"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
c = np.loadtxt(sys.argv[2], delimiter=",", skiprows=1)
t, z, ids = f["time"][:], f["z"][:], f["trajectory"][:]
T, B, D = z.shape
assert t.shape == (T,) and ids.shape == (B,) and c.shape == (T * B, 2 + D), (z.shape, c.shape)
rows = np.concatenate([np.column_stack([np.full(T, ids[j]), t, z[:, j, :]]) for j in range(B)])
assert np.array_equal(rows.view(np.uint64), c.view(np.uint64)), "not the same bits"
assert f.attrs["scheme"] == "rk38" and f.attrs["step"] == 0.1, dict(f.attrs)
names = open(sys.argv[2]).readline().strip().split(",")[2:]   # the CSV's state names
assert list(f.attrs["columns"]) == names, (f.attrs["columns"], names)
EOF
}
same_as_csv "$T/run/p.h5" "$T/csvrun/predictions.csv"
for np_ in 1 2 3; do
  run $np_ predict "$T/cfg.ini" --model "$T/run/model.pinode" --out "$T/p$np_.h5" --quiet
  same_as_csv "$T/p$np_.h5" "$T/csvrun/predictions.csv"
  run $np_ predict "$T/cfg.ini" --model "$T/run/model.pinode" --out "$T/c$np_.h5" --quiet \
    --set output.compress=6
  same_as_csv "$T/c$np_.h5" "$T/csvrun/predictions.csv"
done
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1]); assert f['z'].compression == 'gzip'" "$T/c2.h5" ||
  fail "output.compress = 6 did not compress"
[ "$($PY -c "import h5py,sys; print(h5py.File(sys.argv[1]).attrs['model'])" "$T/p2.h5")" = \
  "$T/run/model.pinode" ] || fail "the model attribute is not the model file"

# A prediction file as initial states and as training data: the same as its CSV.
run 2 predict "$T/cfg.ini" --model "$T/run/model.pinode" --initial "$T/p1.h5" --out "$T/i.csv" \
  --quiet
run 2 predict "$T/cfg.ini" --model "$T/run/model.pinode" --initial "$T/csvrun/predictions.csv" \
  --out "$T/i_ref.csv" --quiet
cmp -s "$T/i.csv" "$T/i_ref.csv" || fail "--initial from HDF5 differs from its CSV"
$PY - "$T/csvrun/data.csv" "$T/data.h5" <<'EOF'
import sys, h5py, numpy as np
c = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)
ids = np.unique(c[:, 0]).astype(np.int64)
t = c[c[:, 0] == ids[0], 1]
z = np.stack([c[c[:, 0] == i, 2:] for i in ids], axis=1)
with h5py.File(sys.argv[2], "w") as f:
    f["time"], f["z"], f["trajectory"] = t, z, ids
    f.attrs["columns"] = ["u", "v"]
EOF
grep -v '^source\|^trajectories\|^points\|^t1' "$T/cfg.ini" >"$T/file.ini"
for f in data.h5 csvrun/data.csv; do
  run 2 train "$T/file.ini" --quiet --set data.source=csv --set data.file="$T/$f" \
    --set output.dir="$T/from_${f%%/*}"
done
cmp -s "$T/from_data.h5/model.pinode" "$T/from_csvrun/model.pinode" ||
  fail "training from HDF5 data differs from training from its CSV"
[ "$(head -1 "$T/from_data.h5/data.csv")" = "trajectory,time,u,v" ] ||
  fail "the HDF5 data's column names were not kept: $(head -1 "$T/from_data.h5/data.csv")"

# Malformed files: each refused, naming the file and the dataset.
$PY - "$T" <<'EOF'
import sys, h5py, numpy as np
d = sys.argv[1]
t, z = np.linspace(0, 3, 16), np.ones((16, 2, 2))
def make(name, **sets):
    with h5py.File("%s/%s.h5" % (d, name), "w") as f:
        for k, v in sets.items():
            f[k] = v
make("no_z", time=t)
make("no_time", z=z)
make("int_z", time=t, z=np.ones((16, 2, 2), dtype=np.int32))
make("flat_z", time=t, z=np.ones((16, 4)))
make("short_time", time=t[:9], z=z)
make("ids", time=t, z=z, trajectory=np.arange(3))
make("backwards", time=t[::-1], z=z)
make("one_name", time=t, z=z)
with h5py.File(d + "/one_name.h5", "a") as f:
    f.attrs["columns"] = ["a"]
zn = z.copy(); zn[5, 1, 0] = np.nan
make("nan", time=t, z=zn)
EOF
printf 'trajectory,time,a,b\n0,0,1,1\n' >"$T/text.h5"
init() { run 2 predict "$T/cfg.ini" --model "$T/run/model.pinode" --out "$T/x.csv" --initial "$@"; }
expect_error "$T/no_z.h5: no dataset 'z'; a trajectory file holds time[T], z[T][B][D]" init "$T/no_z.h5"
expect_error "$T/no_time.h5: no dataset 'time'" init "$T/no_time.h5"
expect_error "$T/int_z.h5: dataset 'z' holds integers, not floating-point numbers" init "$T/int_z.h5"
expect_error "$T/flat_z.h5: dataset 'z' has 2 dimensions, not 3" init "$T/flat_z.h5"
expect_error "$T/short_time.h5: dataset 'z' has 16 times, 'time' 9" init "$T/short_time.h5"
expect_error "$T/ids.h5: dataset 'trajectory' has 3 ids, 'z' 2 trajectories" init "$T/ids.h5"
expect_error "$T/backwards.h5: dataset 'time' is not strictly increasing" init "$T/backwards.h5"
expect_error "$T/nan.h5: dataset 'z'[5][1][0] = nan" init "$T/nan.h5"
expect_error "$T/text.h5 is not an HDF5 file" init "$T/text.h5"
expect_error "$T/one_name.h5: attribute 'columns' is not 2 variable-length strings" init "$T/one_name.h5"
expect_error "cannot read $T/none.h5: No such file or directory" init "$T/none.h5"
expect_error "$T/no/dir/p.h5: cannot create the temporary file" \
  run 2 predict "$T/cfg.ini" --model "$T/run/model.pinode" --out "$T/no/dir/p.h5"
expect_error "key 'output.compress': '10' is not an integer in 0..9" run 1 train "$T/cfg.ini" --set output.compress=10
expect_error "output.predictions: 'a/p.h5' is not a file name" \
  run 1 train "$T/cfg.ini" --set output.predictions=a/p.h5
ls "$T" | grep -q '[.]tmp[.]' && fail "a temporary file was left: $(ls "$T")"
echo "test_predict_h5: all checks passed"
