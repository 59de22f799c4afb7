#!/usr/bin/python3
"""Write a SimGrid platform file (XML) describing a cluster, for
scripts/simulate.sh: NODES nodes of CORES cores each (one MPI rank a core),
joined by one non-blocking switch.

usage: scripts/make_platform.py --nodes N --cores C [options] OUT.xml

options (units as SimGrid reads them: s, ms, us, ns; Bps, kBps, MBps, GBps):
  --latency L          node-to-node latency of a small message, end to end
                       (default 1.3us: InfiniBand HDR through one switch)
  --bandwidth W        node-to-node bandwidth, per direction (default 12.5GBps)
  --intra-latency L    latency between two cores of one node (default 0.4us)
  --intra-bandwidth W  bandwidth between two cores of one node (default 10GBps)
  --speed X            a core's speed relative to one core of the machine that
                       runs the simulation (default 1: the same); e.g. 1.5 when
                       `pinode bench` is 1.5 times faster per core on the cluster
  --name ID            the cluster's name (default: from OUT)

The latencies and bandwidths are what a ping-pong between two ranks measures
(`pinode bench --model` prints them: run it with two ranks on one node for
--intra-*, on two nodes for the others).  scripts/simulate.sh runs SMPI with
its latency and bandwidth correction factors at 1, so these are used as given:
a message of s bytes between nodes takes L + s/W.  Compute speed: simulate.sh
tells SMPI that the simulating core runs at 1 Gflop/s (smpi/host-speed), so a
speed of X Gf makes each measured compute burst X times shorter.
"""
import argparse
import os
import re
import sys

UNIT = {"latency": {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9},
        "bandwidth": {"Bps": 1.0, "kBps": 1e3, "MBps": 1e6, "GBps": 1e9, "TBps": 1e12}}


def quantity(kind, text):
    """A positive number with one of SimGrid's units, returned in s or B/s."""
    m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]+)", text.strip())
    if not m or m.group(2) not in UNIT[kind] or float(m.group(1)) <= 0:
        units = ", ".join(UNIT[kind])
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive {kind} in {units}")
    return float(m.group(1)) * UNIT[kind][m.group(2)]


def positive(kind):
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            v = 0
        if v <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
        return v
    return parse


def platform_xml(name, nodes, cores, lat, bw, intra_lat, intra_bw, speed):
    # A message between nodes crosses the sender's link, the switch (the
    # backbone, as wide as all nodes together: non-blocking) and the
    # receiver's link: each link carries half the end-to-end latency.
    return f"""<?xml version='1.0'?>
<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">
<!-- {nodes} nodes x {cores} cores; between nodes {lat * 1e6:g} us, {bw / 1e9:g} GB/s;
     within a node {intra_lat * 1e6:g} us, {intra_bw / 1e9:g} GB/s; core speed {speed:g} x the
     simulating machine's.  Made by scripts/make_platform.py. -->
<platform version="4.1">
  <cluster id="{name}" prefix="{name}-" suffix="" radical="0-{nodes - 1}" core="{cores}"
           speed="{speed:g}Gf" bw="{bw:.6g}Bps" lat="{lat / 2:.6g}s" sharing_policy="SPLITDUPLEX"
           bb_bw="{bw * nodes:.6g}Bps" bb_lat="0s" bb_sharing_policy="SHARED"
           loopback_bw="{intra_bw:.6g}Bps" loopback_lat="{intra_lat:.6g}s"/>
</platform>
"""


def main(argv):
    ap = argparse.ArgumentParser(prog="make_platform.py", add_help=False)
    ap.add_argument("--nodes", type=positive(int), required=True)
    ap.add_argument("--cores", type=positive(int), required=True)
    ap.add_argument("--latency", type=lambda t: quantity("latency", t), default="1.3us")
    ap.add_argument("--bandwidth", type=lambda t: quantity("bandwidth", t), default="12.5GBps")
    ap.add_argument("--intra-latency", type=lambda t: quantity("latency", t), default="0.4us")
    ap.add_argument("--intra-bandwidth", type=lambda t: quantity("bandwidth", t), default="10GBps")
    ap.add_argument("--speed", type=positive(float), default=1.0)
    ap.add_argument("--name")
    ap.add_argument("-h", "--help", action="store_true")
    ap.add_argument("out", nargs="?")
    if any(a in ("-h", "--help") for a in argv[1:]):
        print(__doc__.strip())
        return 0
    a = ap.parse_args(argv[1:])
    if not a.out:
        ap.error("OUT.xml is missing")
    name = a.name or re.sub(r"[^A-Za-z0-9_]", "_", os.path.splitext(os.path.basename(a.out))[0])
    text = platform_xml(name, a.nodes, a.cores, a.latency, a.bandwidth, a.intra_latency,
                        a.intra_bandwidth, a.speed)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
