# Sourced by pinode's scripts: one OpenBLAS thread per MPI rank unless the
# caller chose otherwise, and an OpenBLAS kernel that suits the CPU.
# Debian's OpenBLAS 0.3.21 does not recognise some recent CPUs and silently
# falls back to its generic "Prescott" kernel (about 5x slower); on a CPU with
# AVX-512 we select the SkylakeX kernel, on one with AVX2 the Haswell kernel.
# A value the caller set is kept.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -r /proc/cpuinfo ]; then
  if grep -q -m1 -w avx512f /proc/cpuinfo; then
    export OPENBLAS_CORETYPE=SkylakeX
  elif grep -q -m1 -w avx2 /proc/cpuinfo; then
    export OPENBLAS_CORETYPE=Haswell
  fi
fi
