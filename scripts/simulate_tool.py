#!/usr/bin/python3
"""Helpers of scripts/simulate.sh (SimGrid SMPI scaling studies).

  simulate_tool.py hostfile PLATFORM P OUT
      Check the SimGrid platform file, list its hosts and cores in document
      order and write a hostfile placing P ranks one a core, block by block
      (SLURM's default: node 0's cores first).  Prints the platform's
      inter-node latency and bandwidth if it is one cluster ("L W"; "- -" if
      unknown).  Fails with a clear message when P exceeds its cores.
  simulate_tool.py distance OUTDIR REFDIR
      Largest norm-wise relative difference of loss, grad_theta and grad_z0
      (as pinode gradient --compare computes it).
  simulate_tool.py row RAW.json LOG P STUDY DISTANCE SIMWALL
      One CSV row (without speedup and efficiency) from pinode gradient's
      --repeat --json output.
  simulate_tool.py table ROWS.csv OUT.csv|-
      Add speedup and efficiency against the P = 1 row of each method (strong:
      T1/TP and T1/(P TP); weak: P T1/TP and T1/TP), print the table, write
      the CSV.

Times: `seconds` is the median cold gradient, `time_per_gradient_cold` of the
JSON when pinode reports it apart, else `time_per_gradient` (the repeated
gradients of `pinode gradient --repeat` carry nothing from one to the next,
so each is a cold one); `warm_seconds` is `time_per_gradient_warm` (a
gradient after one training step of theta, for methods that warm-start),
empty when the JSON has none.
"""
import csv
import json
import math
import os
import re
import sys
import xml.etree.ElementTree as ET

COLUMNS = ["ranks", "method", "seconds", "speedup", "efficiency", "warm_seconds", "adjoint",
           "iterations", "rel_error", "study", "steps", "batch", "dim", "microbatches",
           "sim_wall_seconds"]

TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12}
BW_UNITS = {"Bps": 1.0, "kBps": 1e3, "KBps": 1e3, "MBps": 1e6, "GBps": 1e9, "TBps": 1e12,
            "bps": 0.125, "kbps": 125.0, "Mbps": 1.25e5, "Gbps": 1.25e8}


def fail(msg):
    print(f"simulate: {msg}", file=sys.stderr)
    sys.exit(1)


def radical(text, where):
    out = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+))?\s*", part)
        if not m:
            fail(f"{where}: radical {text!r} is not like 0-63 or 0-3,8")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        out.extend(range(lo, hi + 1))
    return out


def value(text, units, what):
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([A-Za-z]*)\s*", text or "")
    if not m or (m.group(2) and m.group(2) not in units):
        return None
    try:
        return float(m.group(1)) * (units[m.group(2)] if m.group(2) else 1.0)
    except ValueError:
        return None


def hostfile(platform, p, out):
    try:
        root = ET.parse(platform).getroot()
    except (OSError, ET.ParseError) as e:
        fail(f"{platform}: not a readable SimGrid platform file ({e})")
    if root.tag != "platform":
        fail(f"{platform}: the root element is <{root.tag}>, not <platform>")
    slots, clusters = [], []
    for el in root.iter():
        where = f"{platform}: <{el.tag} id={el.get('id')!r}>"
        if el.tag == "cluster":
            for k in ("prefix", "radical", "speed"):
                if el.get(k) is None:
                    fail(f"{where} has no {k}")
            cores = int(el.get("core", "1"))
            for i in radical(el.get("radical"), where):
                slots.extend([f"{el.get('prefix')}{i}{el.get('suffix', '')}"] * cores)
            clusters.append(el)
        elif el.tag == "host":
            if el.get("id") is None or el.get("speed") is None:
                fail(f"{where} needs an id and a speed")
            slots.extend([el.get("id")] * int(el.get("core", "1")))
    if not slots:
        fail(f"{platform}: no <cluster> or <host>: no cores to run ranks on")
    if p > len(slots):
        fail(f"{p} ranks do not fit on {platform}: it has {len(slots)} cores "
             f"(one rank a core); make a larger one with scripts/make_platform.py")
    with open(out, "w") as f:
        f.writelines(h + "\n" for h in slots[:p])
    lat = bw = None
    if len(clusters) == 1:
        c = clusters[0]
        link = value(c.get("lat"), TIME_UNITS, "lat")
        bb = value(c.get("bb_lat", "0s"), TIME_UNITS, "bb_lat")
        bw = value(c.get("bw"), BW_UNITS, "bw")
        lat = 2 * link + bb if link is not None and bb is not None else None
    print(f"{lat:.6g} {bw:.6g}" if lat is not None and bw is not None else "- -")


def read_numbers(path):
    with open(path) as f:
        return [float(x) for x in f.read().split()]


def distance(outdir, refdir):
    worst = 0.0
    for name in ("loss.txt", "grad_theta.txt", "grad_z0.txt"):
        x, r = read_numbers(os.path.join(outdir, name)), read_numbers(os.path.join(refdir, name))
        if len(x) != len(r):
            fail(f"{outdir}/{name} has {len(x)} numbers, {refdir}/{name} {len(r)}")
        d = math.sqrt(sum((a - b) ** 2 for a, b in zip(x, r)))
        n = math.sqrt(sum(b * b for b in r))
        worst = max(worst, d / n if n > 0 else d)
    print(f"{worst:.3e}")


def row(raw_path, log, p, study, dist, simwall):
    with open(raw_path) as f:
        raw = json.load(f)
    if raw.get("ranks") != int(p):
        fail(f"{raw_path}: {raw.get('ranks')} ranks, expected {p}")
    cold = raw.get("time_per_gradient_cold", raw["time_per_gradient"])["median"]
    warm = (raw.get("time_per_gradient_warm") or {}).get("median")
    pr = raw.get("parareal") or {}
    iters = ""
    if pr:
        iters = f"{pr.get('iterations')}/{pr.get('adjoint_iterations')}"
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow([p, raw["method"], f"{cold:.6g}", "", "", "" if warm is None else f"{warm:.6g}",
                pr.get("adjoint", ""), iters, dist, study, raw["steps"], raw["batch"], raw["dim"],
                raw["microbatches"], simwall])


def table(rows_path, out):
    with open(rows_path, newline="") as f:
        rows = list(csv.DictReader(f, fieldnames=[c for c in COLUMNS]))
    base = {}
    for r in rows:
        key = (r["method"], r["adjoint"], r["study"])
        if int(r["ranks"]) == 1:
            base.setdefault(key, float(r["seconds"]))
    for r in rows:
        t1, t, p = base.get((r["method"], r["adjoint"], r["study"])), float(r["seconds"]), int(r["ranks"])
        if t1 is not None:
            s, e = (t1 / t, t1 / (p * t)) if r["study"] == "strong" else (p * t1 / t, t1 / t)
            r["speedup"], r["efficiency"] = f"{s:.4g}", f"{e:.4g}"
    print(f"{'P':>5} {'method':9} {'adjoint':8} {'seconds':>10} {'speedup':>8} {'effic.':>7} "
          f"{'warm s':>9} {'iters':>7} {'rel. error':>10} {'sim. wall s':>11}")
    for r in rows:
        eff = f"{100 * float(r['efficiency']):6.1f}%" if r["efficiency"] else f"{'-':>7}"
        print(f"{int(r['ranks']):5d} {r['method']:9} {r['adjoint'] or '-':8} {float(r['seconds']):10.4g} "
              f"{r['speedup'] or '-':>8} {eff} {r['warm_seconds'] or '-':>9} {r['iterations'] or '-':>7} "
              f"{r['rel_error'] or '-':>10} {r['sim_wall_seconds']:>11}")
    if out != "-":
        tmp = out + ".tmp"
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, out)
        print(f"wrote {out}")


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 2
    cmd, args = argv[1], argv[2:]
    if cmd == "hostfile" and len(args) == 3:
        hostfile(args[0], int(args[1]), args[2])
    elif cmd == "distance" and len(args) == 2:
        distance(*args)
    elif cmd == "row" and len(args) == 6:
        row(*args)
    elif cmd == "table" and len(args) == 2:
        table(*args)
    else:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
