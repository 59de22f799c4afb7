#!/usr/bin/python3
"""Result files of a scaling study: write one, check them, collect them into a CSV.

  collect_scaling.py point --raw RAW.json --study strong|weak --out POINT.json
                           [--method pipeline|parareal|batch] [--log LOG]
                           [--launcher TEXT] [--problem DIR] [--simulated PLATFORM]
      Turn the JSON of `pinode gradient --repeat R --json RAW.json` (one run on
      P ranks) into the study's machine-readable result file for that point:
      P, M, N, B, D, the time per gradient (median/min/max), the time per phase
      (forward, backward, waiting) and memory of every rank, iterations
      (Parareal: forward and adjoint, read from the run's output LOG; null for
      the pipeline, which is not iterative), the host (name, CPU, cores, load,
      kernel) and the SLURM job (id, array task, nodes, tasks, partition) if
      there is one.  --simulated: the run was simulated by SimGrid SMPI
      (scripts/simulate.sh) on that platform; its times are simulated ones.

  collect_scaling.py collect DIR [--csv OUT.csv]
      Read every DIR/**/point-*.json (recursively), check each, and write one
      CSV row per point (default DIR/scaling.csv), sorted by study and P, with
      speedup and parallel efficiency against the P = 1 point of the same
      study (strong: T1/TP and T1/(P*TP); weak, where the work grows with P:
      P*T1/TP and T1/TP); simulated points against the simulated P = 1 point
      of the same platform.  Prints the table.

The per-point format is documented in docs/clusters.md ("Result files").
"""
import argparse
import csv
import glob
import json
import math
import os
import platform
import re
import socket
import sys

FORMAT = "pinode-scaling-point/1"

COLUMNS = [
    "study", "method", "P", "G", "M", "N", "B", "D", "nparam", "scheme", "repeat",
    "t_median", "t_min", "t_max", "speedup", "efficiency",
    "t_forward_max", "t_backward_max", "t_wait_max", "t_busy_max",
    "rss_max_mb", "rss_per_rank_mb", "solver_mb_max", "iterations",
    "hostname", "nodes", "slurm_job", "launcher", "file", "simulated",
]


def host_info():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/loadavg") as f:
            load1 = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        load1 = None
    return {
        "hostname": socket.gethostname(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load1": load1,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def slurm_info():
    keys = {
        "job_id": "SLURM_JOB_ID", "array_job_id": "SLURM_ARRAY_JOB_ID",
        "array_task_id": "SLURM_ARRAY_TASK_ID", "nodelist": "SLURM_JOB_NODELIST",
        "nnodes": "SLURM_JOB_NUM_NODES", "ntasks": "SLURM_NTASKS",
        "partition": "SLURM_JOB_PARTITION", "cluster": "SLURM_CLUSTER_NAME",
        "restart_count": "SLURM_RESTART_COUNT",
    }
    if "SLURM_JOB_ID" not in os.environ:
        return None
    return {k: os.environ.get(v) for k, v in keys.items()}


def parareal_iterations(log):
    """Forward and adjoint iterations from pinode gradient's Parareal report."""
    with open(log) as f:
        text = f.read()
    fwd = re.search(r"^parareal: (\d+) iterations", text, re.M)
    adj = re.search(r"^ +adjoint \((\w+)\): (\d+) iterations", text, re.M)
    if not fwd or not adj:
        raise SystemExit(f"collect_scaling.py: {log}: no Parareal iteration report")
    return {"forward": int(fwd.group(1)), "adjoint": int(adj.group(2)), "adjoint_method": adj.group(1)}


def make_point(args):
    with open(args.raw) as f:
        raw = json.load(f)
    iterations = None
    if args.method == "parareal":
        if not args.log:
            raise SystemExit("collect_scaling.py: --method parareal needs --log (its iterations)")
        iterations = parareal_iterations(args.log)
    ranks = raw["per_rank"]
    P = raw["ranks"]
    if len(ranks) != P:
        raise SystemExit(f"collect_scaling.py: {args.raw}: {len(ranks)} per-rank entries for {P} ranks")
    t = raw["time_per_gradient"]
    per_rank = []
    for r in ranks:
        per_rank.append({
            "rank": r["rank"],
            "block": r["block"],
            "samples": r.get("samples"),
            "time_forward": r["time_forward"],
            "time_backward": r["time_backward"],
            "time_wait": r["time_wait"],
            "time_busy": r["time_forward"] + r["time_backward"] - r["time_wait"],
            "bytes_solver": r["bytes_solver"],
            "peak_rss_kb": r["peak_rss_kb"],
        })
    point = {
        "format": FORMAT,
        "study": args.study,
        "method": args.method,
        "problem": args.problem or raw.get("problem"),
        "scheme": raw["scheme"],
        "P": P,
        "G": raw.get("batch_groups", 1),
        "M": raw["microbatches"],
        "N": raw["steps"],
        "B": raw["batch"],
        "D": raw["dim"],
        "nparam": raw["nparam"],
        "repeat": raw["repeat"],
        "time_per_gradient": {"median": t["median"], "min": t["min"], "max": t["max"],
                              "samples": t.get("samples_sorted")},
        "phases_max": {
            "forward": max(r["time_forward"] for r in per_rank),
            "backward": max(r["time_backward"] for r in per_rank),
            "wait": max(r["time_wait"] for r in per_rank),
            "busy": max(r["time_busy"] for r in per_rank),
        },
        "memory_per_rank_kb": [r["peak_rss_kb"] for r in per_rank],
        "iterations": iterations,
        "per_rank": per_rank,
        "host": host_info(),
        "slurm": slurm_info(),
        "launcher": args.launcher,
        "source": "pinode gradient --repeat --json",
        "simulated": {"simulator": "SimGrid SMPI", "platform": args.simulated} if args.simulated else None,
    }
    check_point(point, args.out)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(point, f, indent=1)
        f.write("\n")
    os.replace(tmp, args.out)
    return 0


def finite(x):
    return isinstance(x, (int, float)) and math.isfinite(x)


def check_point(p, name):
    """Refuse a malformed result file (missing keys, non-finite or
    inconsistent numbers)."""
    def bad(msg):
        raise SystemExit(f"collect_scaling.py: {name}: {msg}")
    if p.get("format") != FORMAT:
        bad(f"format is {p.get('format')!r}, not {FORMAT!r}")
    for k in ("P", "M", "N", "B", "D", "nparam", "repeat"):
        if not isinstance(p.get(k), int) or p[k] < 1:
            bad(f"'{k}' must be an integer >= 1")
    sim = p.get("simulated")
    if sim is not None and not (isinstance(sim, dict) and isinstance(sim.get("platform"), str) and sim["platform"]):
        bad("'simulated' must name the simulated platform")
    if p["study"] not in ("strong", "weak"):
        bad("study must be strong or weak")
    if p.get("method") not in ("pipeline", "parareal", "batch"):
        bad("method must be pipeline, parareal or batch")
    it = p.get("iterations")
    if p["method"] == "parareal":
        if not (isinstance(it, dict) and isinstance(it.get("forward"), int) and 1 <= it["forward"]):
            bad("a Parareal point needs its iterations")
    elif it is not None:
        bad("a pipeline point has no iterations")
    t = p["time_per_gradient"]
    if not all(finite(t[k]) and t[k] > 0 for k in ("median", "min", "max")):
        bad("times per gradient must be finite and positive")
    if not t["min"] <= t["median"] <= t["max"]:
        bad("time per gradient: min <= median <= max does not hold")
    if len(p["per_rank"]) != p["P"] or len(p["memory_per_rank_kb"]) != p["P"]:
        bad("one per-rank entry per rank expected")
    steps = 0
    for r in p["per_rank"]:
        for k in ("time_forward", "time_backward", "time_wait", "time_busy"):
            if not finite(r[k]) or r[k] < 0:
                bad(f"rank {r['rank']}: {k} must be finite and >= 0")
        if r["peak_rss_kb"] <= 0:
            bad(f"rank {r['rank']}: peak RSS must be positive")
        lo, hi = r["block"]
        steps += hi - lo
    G = p.get("G", 1)  # every batch group covers all N steps
    if not isinstance(G, int) or G < 1 or p["P"] % G:
        bad(f"'G' must be an integer >= 1 dividing P = {p['P']}")
    if steps != G * p["N"]:
        bad(f"the ranks' blocks cover {steps} steps, not {G} group(s) x N = {p['N']}")


def collect(args):
    files = sorted(glob.glob(os.path.join(args.dir, "**", "point-*.json"), recursive=True))
    if not files:
        raise SystemExit(f"collect_scaling.py: no point-*.json under {args.dir}")
    points = []
    for path in files:
        with open(path) as f:
            p = json.load(f)
        check_point(p, path)
        p["_file"] = os.path.relpath(path, args.dir)
        points.append(p)
    def platform(p):
        return (p.get("simulated") or {}).get("platform", "")
    points.sort(key=lambda p: (p["study"], p["method"], platform(p), p["P"], p["N"]))
    base = {}
    for p in points:
        if p["P"] == 1:
            base.setdefault((p["study"], p["method"], platform(p)), p)
    rows = []
    for p in points:
        b = base.get((p["study"], p["method"], platform(p)))
        t = p["time_per_gradient"]["median"]
        if b is None:
            speedup = eff = float("nan")
        else:
            t1 = b["time_per_gradient"]["median"]
            if p["study"] == "strong":
                speedup, eff = t1 / t, t1 / (p["P"] * t)
            else:
                speedup, eff = p["P"] * t1 / t, t1 / t
        slurm = p.get("slurm") or {}
        rss = [kb / 1024 for kb in p["memory_per_rank_kb"]]
        rows.append({
            "study": p["study"], "method": p["method"], "P": p["P"], "G": p.get("G", 1),
            "M": p["M"], "N": p["N"],
            "B": p["B"], "D": p["D"], "nparam": p["nparam"], "scheme": p["scheme"],
            "repeat": p["repeat"], "t_median": t, "t_min": p["time_per_gradient"]["min"],
            "t_max": p["time_per_gradient"]["max"], "speedup": speedup, "efficiency": eff,
            "t_forward_max": p["phases_max"]["forward"],
            "t_backward_max": p["phases_max"]["backward"],
            "t_wait_max": p["phases_max"]["wait"], "t_busy_max": p["phases_max"]["busy"],
            "rss_max_mb": max(rss), "rss_per_rank_mb": ";".join(f"{x:.1f}" for x in rss),
            "solver_mb_max": max(r["bytes_solver"] for r in p["per_rank"]) / 1048576,
            "iterations": "" if p.get("iterations") is None
            else f"{p['iterations']['forward']}/{p['iterations']['adjoint']}",
            "hostname": p["host"]["hostname"], "nodes": slurm.get("nodelist") or p["host"]["hostname"],
            "slurm_job": slurm.get("job_id") or "", "launcher": p.get("launcher") or "",
            "file": p["_file"], "simulated": platform(p),
        })
    out = args.csv or os.path.join(args.dir, "scaling.csv")
    tmp = out + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    os.replace(tmp, out)
    print(f"{'study':6} {'method':8} {'P':>5} {'M':>4} {'N':>7} {'B':>5} {'median s':>10} {'speedup':>8} "
          f"{'effic.':>7} {'fwd s':>8} {'bwd s':>8} {'wait s':>8} {'RSS MB':>7}")
    for r in rows:
        print(f"{r['study']:6} {r['method']:8} {r['P']:5d} {r['M']:4d} {r['N']:7d} {r['B']:5d} {r['t_median']:10.4g} "
              f"{r['speedup']:8.3f} {100 * r['efficiency']:6.1f}% {r['t_forward_max']:8.4f} "
              f"{r['t_backward_max']:8.4f} {r['t_wait_max']:8.4f} {r['rss_max_mb']:7.1f} "
              f"{r['iterations']}" + (f" simulated: {r['simulated']}" if r["simulated"] else ""))
    print(f"wrote {out} ({len(rows)} points)")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("point", help="write the result file of one point")
    pp.add_argument("--raw", required=True)
    pp.add_argument("--study", required=True, choices=("strong", "weak"))
    pp.add_argument("--out", required=True)
    pp.add_argument("--launcher", default="")
    pp.add_argument("--method", default="pipeline", choices=("pipeline", "parareal", "batch"))
    pp.add_argument("--log", default="")
    pp.add_argument("--problem", default="")
    pp.add_argument("--simulated", default="", metavar="PLATFORM")
    pc = sub.add_parser("collect", help="collect the result files of a study into a CSV")
    pc.add_argument("dir")
    pc.add_argument("--csv", default="")
    args = ap.parse_args()
    return make_point(args) if args.cmd == "point" else collect(args)


if __name__ == "__main__":
    sys.exit(main())
