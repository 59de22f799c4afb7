#!/usr/bin/python3
"""pinode's performance lab (a development tool; scripts/bench.sh builds what it needs and runs it).

    scripts/bench/lab.py --build DIR [options] [PROBLEM_DIR ...]

Drives the public program and its peers on the same problems (default: tests/data/bench/spiral,
wide and long) and puts their numbers side by side:
  - `pinode bench --json` (on --ranks ranks): pinode's time per gradient in each configuration,
    its flop rate and peak memory, its agreement with DIR/ref/;
  - paired rounds (--pairs R): one pinode gradient of each storage (`pinode bench --repeat 1`),
    one PETSc TSAdjoint gradient (scripts/bench/petsc, a fresh process) and, for problems of at
    most 5000 steps, one PyTorch gradient (scripts/bench/torch) back to back; a ratio is the
    median over the rounds, so that a shared machine whose load changes between configurations
    moves both sides of it;
  - bench_dgemm: the BLAS kernel, OpenBLAS's DGEMM rate (n = 2048), and OpenBLAS's and pinode's
    products on each problem's shapes;
  - bench_tiny: the per-step cost of a tiny problem (D = 2, H = 16, B = 1, rk4);
then prints one table and the project's benchmark targets, checked on this run's numbers.
With --clock cpu, pinode is timed by CPU time and PETSc by its CPU time per gradient (the run's
CPU time less that of the same run without timed gradients); PyTorch (2 threads) is then not run.
"""
import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def int_in(lo, hi):
    """An argparse type: an integer in [lo, hi]."""
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"needs an integer in {lo}..{hi}, got '{text}'")
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"needs an integer in {lo}..{hi}, got '{text}'")
        return v
    return parse


def parse_args():
    p = argparse.ArgumentParser(
        prog="lab.py", description="pinode's performance lab: pinode, PETSc and PyTorch side "
        "by side (see the header of this file)")
    p.add_argument("problems", nargs="*", metavar="PROBLEM_DIR",
                   help="problem directories (default: tests/data/bench/{spiral,wide,long})")
    p.add_argument("--build", default=os.path.join(ROOT, "build-bench"),
                   help="the build directory (bin/pinode, scripts/bench/bench_*)")
    p.add_argument("--ranks", type=int_in(1, 1024), default=2,
                   help="ranks of pinode bench (default 2)")
    g = p.add_argument_group("passed to pinode bench")
    g.add_argument("--repeat", type=int_in(1, 10000), default=7)
    g.add_argument("--warmup", type=int_in(0, 10000), default=2)
    g.add_argument("--storage", default="stages,all")
    g.add_argument("--checkpoint-mb", type=int_in(0, 1 << 20), default=32)
    g.add_argument("--microbatches", default="auto")
    g.add_argument("--no-batch-groups", action="store_true")
    g.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    g = p.add_argument_group("the lab")
    g.add_argument("--threads", type=int_in(1, 256), default=2,
                   help="also measure DGEMM with T OpenBLAS threads (default 2)")
    g.add_argument("--no-dgemm", action="store_true", help="no DGEMM rates (the BLAS line stays)")
    g.add_argument("--tiny", type=int_in(0, 100000000), default=20000, metavar="STEPS",
                   help="steps of the tiny problem (default 20000; 0: no)")
    g.add_argument("--petsc", default=os.environ.get("PINODE_PETSC_DRIVER", ""),
                   help="the PETSc driver (default $PINODE_PETSC_DRIVER)")
    g.add_argument("--torch", default=os.environ.get("PINODE_TORCH_SCRIPT", ""),
                   help="torch_time.py (default $PINODE_TORCH_SCRIPT)")
    g.add_argument("--python", default="/usr/bin/python3", help="Python for it")
    g.add_argument("--pairs", type=int_in(1, 64), default=7,
                   help="paired rounds with the peers (default 7)")
    g.add_argument("--torch-repeat", type=int_in(1, 1000), default=3,
                   help="PyTorch's timed gradients on problems of more than 5000 steps (default 3)")
    a = p.parse_args()
    if not a.problems:
        a.problems = [os.path.join(ROOT, "tests/data/bench", n) for n in ("spiral", "wide", "long")]
    return a


def executable(path):
    return bool(path) and os.access(path, os.X_OK)


def run(argv, env=None):
    """Run argv; its exit status, its output (stdout and stderr) and its rusage."""
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        except OSError as e:
            return -1, str(e), None
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return proc.returncode, out.read().decode(errors="replace"), usage


def cpu_seconds(usage):
    return usage.ru_utime + usage.ru_stime


def meta(problem):
    """The problem's meta.txt as a dict of lists of words."""
    m = {}
    with open(os.path.join(problem, "meta.txt")) as f:
        for line in f:
            k, *v = line.split()
            m[k] = v
    return m


def name_of(problem):
    return os.path.basename(os.path.normpath(problem))


class Lab:
    def __init__(self, a):
        self.a = a
        self.pinode = os.path.join(a.build, "bin", "pinode")
        self.tools = os.path.join(a.build, "scripts", "bench")
        self.petsc = a.petsc if executable(a.petsc) else None
        self.torch = (a.torch if executable(a.python) and a.torch and os.access(a.torch, os.R_OK)
                      else None)
        self.rows = []           # pinode bench's rows (JSON)
        self.peer = {}           # problem -> {"petsc": (med, min, max, peak), "torch": ...}
        self.ratio = {}          # problem -> {"best": [...], "all": [...], "torch": [...]}
        self.dgemm = 0.0         # GFLOP/s, 1 thread
        self.tiny = None         # {"fwd", "grad": seconds per step; "flops_fwd", "flops_grad"}

    # ---- pinode ---------------------------------------------------------------------

    def bench_args(self, repeat, warmup, storage, ckpt, json_path):
        a = self.a
        args = [self.pinode, "bench", "--repeat", str(repeat), "--warmup", str(warmup),
                "--storage", storage, "--checkpoint-mb", str(ckpt), "--clock", a.clock,
                "--json", json_path]
        if a.no_batch_groups:
            args.append("--no-batch-groups")
        return args

    def run_pinode(self, tmp):
        """pinode bench on every problem, its output passed through."""
        a = self.a
        path = os.path.join(tmp, "bench.json")
        args = self.bench_args(a.repeat, a.warmup, a.storage, a.checkpoint_mb, path)
        args += ["--microbatches", a.microbatches] + a.problems
        if a.ranks > 1:
            args = ["mpiexec", "-n", str(a.ranks), "--oversubscribe"] + args
        sys.stdout.flush()
        status = subprocess.call(args)
        if status != 0:
            sys.exit(f"lab.py: pinode bench failed (exit {status})")
        with open(path) as f:
            self.rows = json.load(f)["rows"]

    def pinode_round(self, problem, tmp):
        """One gradient of each of stages and all (one rank): their seconds."""
        path = os.path.join(tmp, "round.json")
        status, out, _ = run(self.bench_args(1, 1, "stages,all", 0, path) + [problem])
        if status != 0:
            sys.exit(f"lab.py: pinode bench failed on {problem} (exit {status}):\n{out}")
        with open(path) as f:
            rows = json.load(f)["rows"]
        return {r["storage"]: r["time_per_gradient"]["median"] for r in rows}

    # ---- peers ----------------------------------------------------------------------

    def petsc_once(self, problem, nrep, warm, base_cpu=0.0):
        """(seconds per gradient, peak MB) of a fresh PETSc driver, or None (said why).  With
        --clock cpu the seconds are its CPU time per gradient less that of base_cpu."""
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        status, out, usage = run([self.petsc, "-data", problem, "-nrep", str(nrep), "-warm",
                                  str(warm)], env)
        line = next((l for l in out.splitlines() if "gradient median" in l), None)
        if status != 0 or line is None:
            print(f"  {name_of(problem):<8} PETSc TSAdjoint: failed (exit {status}):\n{out[:300]}")
            return None
        t = float(line.split("gradient median")[1].split()[0])
        if self.a.clock == "cpu":
            t = (cpu_seconds(usage) - base_cpu) / (nrep + warm)
        return t, usage.ru_maxrss / 1024.0

    def petsc_baseline(self, problem):
        """CPU seconds of the driver without timed gradients (setup, its checked gradient)."""
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        status, _, usage = run([self.petsc, "-data", problem, "-nrep", "0"], env)
        return cpu_seconds(usage) if status == 0 else None

    def torch_once(self, problem, reps):
        """(seconds per gradient, peak MB) of torch_time.py, or None (said why).  "Tuned" as
        scripts/bench/torch/README.md says: threads that sleep when idle."""
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
        env.pop("OPENBLAS_NUM_THREADS", None)
        status, out, usage = run([self.a.python, self.torch, problem, str(reps)], env)
        try:
            return float(out.split()[0]), usage.ru_maxrss / 1024.0
        except (IndexError, ValueError):
            print(f"  {name_of(problem):<8} PyTorch: failed (exit {status}):\n{out[:300]}")
            return None

    def paired_rounds(self, problem, tmp):
        """R rounds of pinode (stages, all), PETSc and PyTorch back to back."""
        a, name = self.a, name_of(problem)
        short = int(meta(problem)["steps"][0]) <= 5000
        torch_paired = self.torch and a.clock == "wall" and short
        base = self.petsc_baseline(problem) if self.petsc and a.clock == "cpu" else 0.0
        petsc = self.petsc if base is not None else None
        tp, tq, rb, ra, rq, pinode_best = [], [], [], [], [], []
        peak_p = peak_q = 0.0
        for _ in range(a.pairs):
            t = self.pinode_round(problem, tmp)
            best = min(t["stages"], t["all"])
            pinode_best.append(best)
            if petsc:
                got = self.petsc_once(problem, 1, 1, base)
                if got:
                    tp.append(got[0])
                    rb.append(got[0] / best)
                    ra.append(got[0] / t["all"])
                    peak_p = max(peak_p, got[1])
            if torch_paired:
                got = self.torch_once(problem, 1)
                if got:
                    tq.append(got[0])
                    rq.append(got[0] / best)
                    peak_q = max(peak_q, got[1])
        if self.torch and a.clock == "wall" and not short:  # one long run, after the rounds
            got = self.torch_once(problem, a.torch_repeat)
            if got:
                tq, peak_q = [got[0]], got[1]
                rq = [got[0] / statistics.median(pinode_best)]
        peers = self.peer.setdefault(name, {})
        if tp:
            peers["petsc"] = (statistics.median(tp), min(tp), max(tp), peak_p)
        if tq:
            peers["torch"] = (statistics.median(tq), min(tq), max(tq), peak_q)
        self.ratio[name] = {"best": rb, "all": ra, "torch": rq}
        if tp or tq:
            print(f"  {name:<8} paired rounds: PETSc {peers.get('petsc', (0,))[0]:.4f} s, "
                  f"PyTorch {peers.get('torch', (0,))[0]:.4f} s per gradient (medians)")

    # ---- the machine: BLAS, DGEMM, the tiny problem -----------------------------------

    def run_dgemm(self):
        args = [os.path.join(self.tools, "bench_dgemm"), "--threads", str(self.a.threads)]
        if self.a.no_dgemm:
            args.append("--no-rate")
        for problem in self.a.problems:
            m = meta(problem)
            D, B = int(m["dim"][0]), int(m["batch"][0])
            H = int(m["hidden"][0]) if m.get("hidden") else D
            if not self.a.no_dgemm:
                args += ["--shape", f"{name_of(problem)}:{B}:{D}:{H}"]
        status, out, _ = run(args, dict(os.environ, OPENBLAS_NUM_THREADS="1"))
        sys.stdout.write(out)
        sys.stdout.flush()
        for line in out.splitlines():  # a slow BLAS kernel is said where it is seen
            if line.startswith("WARNING"):
                print(line, file=sys.stderr)
        if status != 0:
            sys.exit(f"lab.py: bench_dgemm failed (exit {status})")
        for line in out.splitlines():
            if line.startswith("DGEMM ("):
                self.dgemm = float(line.split(":")[1].split()[0])

    def run_tiny(self):
        a = self.a
        status, out, _ = run([os.path.join(self.tools, "bench_tiny"), "--steps", str(a.tiny),
                              "--repeat", str(min(a.repeat, 1000)), "--warmup", str(a.warmup),
                              "--clock", a.clock])
        if status != 0:
            sys.exit(f"lab.py: bench_tiny failed (exit {status}):\n{out}")
        print("  " + out.strip())
        m = re.search(r"forward (\S+) ns per step \((\S+) flops\), gradient (\S+) ns per step "
                      r"\((\S+) flops\)", out)
        if not m:
            sys.exit(f"lab.py: bench_tiny printed no times:\n{out}")
        fwd, flops_fwd, grad, flops_grad = (float(x) for x in m.groups())
        self.tiny = {"fwd": fwd * 1e-9, "flops_fwd": flops_fwd, "grad": grad * 1e-9,
                     "flops_grad": flops_grad}

    # ---- report ---------------------------------------------------------------------

    def print_table(self):
        a = self.a
        head = ("CPU s per gradient: med [min-max]" if a.clock == "cpu"
                else "time per gradient: median [min-max]")
        print(f"\n{'problem':<8} {'configuration':<36} {head:<30} {'GFLOP/s':>8} {'%DGEMM':>7} "
              f"{'peak MB':>8} {'PETSc/':>8} {'PyTorch/':>9} {'err vs':>9}")
        print(f"{'':<8} {'':<36} {'':<30} {'':>8} {'':>7} {'':>8} {'pinode':>8} {'pinode':>9} "
              f"{'ref/':>9}")
        for problem in a.problems:
            name = name_of(problem)
            peers = self.peer.get(name, {})
            for r in (r for r in self.rows if r["problem"] == name):
                t = r["time_per_gradient"]
                rate = r["flops_per_gradient"] / t["median"] * 1e-9
                pct = f"{100 * rate / self.dgemm:.0f}%" if self.dgemm > 0 else "-"
                vp = f"{peers['petsc'][0] / t['median']:.2f}x" if "petsc" in peers else "-"
                vt = f"{peers['torch'][0] / t['median']:.1f}x" if "torch" in peers else "-"
                err = f"{r['ref_error']:.1e}" if r["ref_error"] is not None else "-"
                tt = f"{t['median']:.4f} s [{t['min']:.4f}-{t['max']:.4f}]"
                print(f"{name:<8} {'pinode ' + r['configuration']:<36} {tt:<30} {rate:>8.1f} "
                      f"{pct:>7} {r['peak_mb']:>8.1f} {vp:>8} {vt:>9} {err:>9}")
            for key, label in (("petsc", "PETSc TSAdjoint, 1 thr"),
                               ("torch", "PyTorch autograd, 2 thr")):
                if key in peers:
                    med, lo, hi, peak = peers[key]
                    tt = f"{med:.4f} s [{lo:.4f}-{hi:.4f}]"
                    print(f"{name:<8} {label:<36} {tt:<30} {'-':>8} {'-':>7} {peak:>8.1f} "
                          f"{'-':>8} {'-':>9} {'-':>9}")

    def one_rank(self, name, storage):
        rows = [r for r in self.rows if r["problem"] == name and r["ranks"] == 1
                and r["storage"] == storage and r["memory_limit_mb"] == 0]
        return rows[0] if rows else None

    def print_targets(self):
        """The project's benchmark targets on this run's numbers: spiral and wide against the
        faster of stages and all (one rank), long with every state kept; all the ranks against
        the faster one-rank configuration."""
        verdict = lambda met: "met" if met else "NOT met"
        print("\nproject benchmark targets, from this run:")
        for problem in self.a.problems:
            name = name_of(problem)
            st, al = self.one_rank(name, "stages"), self.one_rank(name, "all")
            med = lambda r: r["time_per_gradient"]["median"] if r else None
            times = [t for t in (med(st), med(al)) if t]
            if not times:
                continue
            best = min(times)
            is_long, is_wide, is_spiral = name == "long", name == "wide", name == "spiral"
            named = is_long or is_wide or is_spiral
            parts = []
            rt = self.ratio.get(name, {})
            ratios = rt.get("all" if is_long else "best", [])
            if ratios:
                r = statistics.median(ratios)
                parts.append(f"PETSc/pinode {r:.2f} [{min(ratios):.2f}-{max(ratios):.2f}] "
                             f"({'all states' if is_long else 'faster storage'}, {len(ratios)} "
                             f"paired rounds; target >= 2: {verdict(r >= 2.0)})")
            if rt.get("torch") and (is_spiral or not named):
                r = statistics.median(rt["torch"])
                parts.append(f"PyTorch/pinode {r:.1f} (target >= 30: {verdict(r >= 30.0)})")
            if self.dgemm > 0 and st and (is_wide or not named):
                f = st["flops_per_gradient"] / med(st) * 1e-9 / self.dgemm
                parts.append(f"stages at {100 * f:.0f}% of the DGEMM rate "
                             f"(target >= 70%: {verdict(f >= 0.7)})")
            ck = [r for r in self.rows if r["problem"] == name and r["ranks"] == 1
                  and r["memory_limit_mb"] > 0]
            if ck and al and (is_long or not named):
                q = med(ck[0]) / med(al)
                parts.append(f"checkpointed/all states {q:.2f} "
                             f"(target <= 1.5: {verdict(q <= 1.5)})")
            many = [r for r in self.rows if r["problem"] == name and r["ranks"] > 1
                    and r["method"] == "pipeline"]
            if many and (is_wide or is_long or not named):
                fast = min(many, key=med)
                how = "batch groups" if fast["batch_groups"] > 1 else "pipelined in time"
                s = best / med(fast)
                parts.append(f"{fast['ranks']} ranks ({how}) {s:.2f}x one rank "
                             f"(target >= 1.7: {verdict(s >= 1.7)})")
            if parts:
                print(f"  {name:<8} " + "; ".join(parts))
        t = self.tiny
        if t:
            line = (f"  tiny: forward {t['fwd'] * 1e9:.0f} ns, gradient {t['grad'] * 1e9:.0f} ns "
                    "per step")
            if self.dgemm > 0:  # 3x the flops at the DGEMM rate, plus 300 ns
                bf = 3 * t["flops_fwd"] / (self.dgemm * 1e9) + 300e-9
                bg = 3 * t["flops_grad"] / (self.dgemm * 1e9) + 300e-9
                line += (f"; target <= 3x flops at the DGEMM rate + 300 ns: forward "
                         f"{bf * 1e9:.0f} ns ({verdict(t['fwd'] <= bf)}), gradient "
                         f"{bg * 1e9:.0f} ns ({verdict(t['grad'] <= bg)})")
            print(line)


def main():
    a = parse_args()
    lab = Lab(a)
    for path in (lab.pinode, os.path.join(lab.tools, "bench_dgemm"),
                 os.path.join(lab.tools, "bench_tiny")):
        if not executable(path):
            sys.exit(f"lab.py: no {path} (build {a.build} first, or give --build)")
    for problem in a.problems:
        if not os.path.isfile(os.path.join(problem, "meta.txt")):
            sys.exit(f"lab.py: {problem} is not a problem directory (no meta.txt)")
    load = open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"
    print(f"pinode performance lab on {socket.gethostname()}, load average {load}")
    lab.run_dgemm()
    print("peers: PETSc " + (lab.petsc or "not available (--petsc or $PINODE_PETSC_DRIVER)") +
          ", PyTorch " + (lab.torch or "not available (--torch or $PINODE_TORCH_SCRIPT, and "
                          "python3-torch)"))
    with tempfile.TemporaryDirectory() as tmp:
        lab.run_pinode(tmp)
        if lab.petsc or lab.torch:
            for problem in a.problems:
                lab.paired_rounds(problem, tmp)
    if a.tiny > 0:
        lab.run_tiny()
    lab.print_table()
    lab.print_targets()


if __name__ == "__main__":
    main()
