#!/usr/bin/env python3
"""Flame graph (SVG) and flat profile from `perf script` output, with no other tool.

    perf record --call-graph dwarf -o perf.data CMD
    perf script -i perf.data | python3 bench/flamegraph.py --svg flame.svg --top 25

Reads the samples' call stacks from standard input, merges identical stacks, and writes an SVG in
which each box is a function, its width the share of samples in which it is on the stack, and
the boxes above it its callees (hover for the name and share). --top N prints the N functions
with the most self samples and the most inclusive samples (a function counted once per sample).
"""
import argparse
import collections
import html
import re
import sys

FRAME = re.compile(r"^\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")


def read_stacks(lines):
    """Yields each sample's stack, outermost caller first."""
    frames = []
    for line in lines:
        if not line.strip():
            if frames:
                yield list(reversed(frames))
            frames = []
            continue
        if not line[0].isspace():
            continue  # the sample's header line
        m = FRAME.match(line)
        if not m:
            continue
        symbol = m.group(1)
        symbol = re.sub(r"\+0x[0-9a-f]+$", "", symbol)
        if symbol == "[unknown]":
            symbol = "[" + m.group(2).rsplit("/", 1)[-1] + "]"
        frames.append(shorten(symbol))
    if frames:
        yield list(reversed(frames))


def shorten(symbol):
    """Drops argument lists and template arguments: halite::models::cell_residual(...) -> ..."""
    depth, out = 0, []
    for c in symbol:
        if c in "<(":
            depth += 1
        elif c in ">)":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(c)
    return "".join(out).replace("halite::", "").replace("(anonymous namespace)::", "") or symbol


def build_tree(stacks):
    root = {"name": "all", "count": 0, "children": {}}
    for stack in stacks:
        root["count"] += 1
        node = root
        for name in stack:
            node = node["children"].setdefault(name, {"name": name, "count": 0, "children": {}})
            node["count"] += 1
    return root


def svg(root, path, width=1200, row=17):
    boxes = []

    def place(node, x, depth):
        boxes.append((x, depth, node))
        cx = x
        for child in sorted(node["children"].values(), key=lambda n: n["name"]):
            place(child, cx, depth + 1)
            cx += child["count"]

    place(root, 0, 0)
    depth_max = max(d for _, d, _ in boxes)
    height = (depth_max + 2) * row
    scale = width / root["count"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="monospace" font-size="11">']
    for x, depth, node in boxes:
        w = node["count"] * scale
        if w < 0.5:
            continue
        y = height - (depth + 1) * row
        share = 100.0 * node["count"] / root["count"]
        hue = 20 + (hash(node["name"]) % 40)
        name = html.escape(node["name"])
        out.append(f'<g><title>{name} ({share:.1f} %)</title>'
                   f'<rect x="{x * scale:.2f}" y="{y}" width="{w:.2f}" height="{row - 1}" '
                   f'fill="hsl({hue},80%,60%)"/>')
        chars = int(w / 7)
        if chars >= 4:
            label = name if len(name) <= chars else name[: chars - 2] + ".."
            out.append(f'<text x="{x * scale + 2:.2f}" y="{y + row - 5}">{label}</text>')
        out.append("</g>")
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--svg", help="write the flame graph here")
    ap.add_argument("--top", type=int, default=20, help="functions in the flat profile")
    args = ap.parse_args()
    stacks = list(read_stacks(sys.stdin))
    if not stacks:
        sys.exit("flamegraph.py: no samples with call stacks on standard input")
    self_count = collections.Counter(s[-1] for s in stacks)
    inclusive = collections.Counter()
    for s in stacks:
        inclusive.update(set(s))
    n = len(stacks)
    print(f"# {n} samples")
    print(f"{'self %':>7} {'incl %':>7}  function (top {args.top} by self samples)")
    for name, c in self_count.most_common(args.top):
        print(f"{100.0 * c / n:7.1f} {100.0 * inclusive[name] / n:7.1f}  {name}")
    print(f"\n{'incl %':>7}  function (top {args.top} by inclusive samples)")
    for name, c in inclusive.most_common(args.top):
        print(f"{100.0 * c / n:7.1f}  {name}")
    if args.svg:
        svg(build_tree(stacks), args.svg)
        print(f"\nflame graph: {args.svg}")


if __name__ == "__main__":
    main()
