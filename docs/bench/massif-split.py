#!/usr/bin/env python3
# Used for BENCHMARKS.md "Where the memory goes at 10,000 agents": python3 massif-split.py massif.out
"""Splits the peak heap snapshot of a massif file into the gateway's components."""
import re, sys
from collections import defaultdict

RULES = [
    ("sled metrics histograms (calloc'd, never touched: not resident)", r"sled::metrics"),
    ("sled page cache and log", r"sled::"),
    ("WebSocket sockets (tungstenite buffers)", r"tungstenite"),
    ("MQTT client (rumqttc buffers, request channel)", r"rumqttc"),
    ("REST client (hyper, pool, bodies)", r"hyper|http_body|reqwest"),
    ("TLS (rustls, webpki roots)", r"rustls|webpki|ring::"),
    ("state table and zones (slots sized by the board)", r"presence_gateway::state|presence_gateway::zones|heatmap|\(table\.rs:|\(zones\.rs:|\(record\.rs:"),
    ("upstream (watch set, channels, resync)", r"presence_gateway::upstream"),
    ("publish stage", r"presence_gateway::publish"),
    ("decode", r"presence_gateway::decode"),
    ("config and board", r"presence_gateway::config|toml::"),
    ("monitor, metrics, audit", r"presence_gateway::monitor|presence_gateway::metrics"),
    ("tokio runtime and channels (tasks, queues, timers)", r"tokio::|tokio_util"),
    ("tracing / logging", r"tracing"),
]

def parse(path):
    lines = open(path).read().splitlines()
    snaps, cur = [], None
    i = 0
    while i < len(lines):
        l = lines[i]
        if l.startswith("snapshot="):
            cur = {"n": int(l.split("=")[1])}
            snaps.append(cur)
        elif l.startswith("mem_heap_B="):
            cur["heap"] = int(l.split("=")[1])
        elif l.startswith("mem_heap_extra_B="):
            cur["extra"] = int(l.split("=")[1])
        elif l.startswith("heap_tree="):
            cur["tree"] = l.split("=")[1]
            if cur["tree"] in ("peak", "detailed"):
                j = i + 1
                tree = []
                while j < len(lines) and not lines[j].startswith("#"):
                    tree.append(lines[j])
                    j += 1
                cur["lines"] = tree
                i = j - 1
        i += 1
    return snaps

NODE = re.compile(r"^( *)n(\d+): (\d+) (.*)$")

def walk(lines):
    # yields (bytes, [descriptions from root to leaf]) for leaves
    stack = []
    out = []
    for l in lines:
        m = NODE.match(l)
        if not m:
            continue
        depth, kids, b, desc = len(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        stack.append((depth, desc))
        if kids == 0:
            out.append((b, [d for _, d in stack]))
    return out

def classify(path):
    for rule, rx in RULES:
        for d in path:
            if re.search(rx, d):
                return rule
    return "other (std, allocator-level, below massif's threshold)"

def main(f):
    snaps = parse(f)
    peak = [s for s in snaps if s.get("tree") == "peak"][0]
    comp = defaultdict(int)
    for b, path in walk(peak["lines"]):
        comp[classify(path[1:])] += b
    total = peak["heap"] + peak["extra"]
    print(f"peak snapshot {peak['n']}: heap {peak['heap']:,} B + allocator overhead {peak['extra']:,} B = {total:,} B")
    for k, v in sorted(comp.items(), key=lambda kv: -kv[1]):
        print(f"| {k} | {v/1024/1024:.2f} MiB |")
    print(f"| allocator overhead (massif extra-heap) | {peak['extra']/1024/1024:.2f} MiB |")
    last = [s for s in snaps if "heap" in s][-1]
    print(f"last snapshot {last['n']}: heap {last['heap']:,} B + extra {last['extra']:,} B")

main(sys.argv[1])
