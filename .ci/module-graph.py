#!/usr/bin/env python3
"""The library's module graph: for each top-level module of shared/src, the modules it uses
(`crate::x`, comments and tests left out; `error` is everywhere and left out), its floor (the
longest path down to a module that uses none), and any cycle. Usage: .ci/module-graph.py [repo root]
"""
import os, re, sys, collections
root = sys.argv[1] if len(sys.argv) > 1 else "."
src = os.path.join(root, 'shared/src')
mods = {}
for d, _, fs in os.walk(src):
    for f in fs:
        if not f.endswith('.rs'): continue
        p = os.path.join(d, f); rel = os.path.relpath(p, src)
        top = rel.split('/')[0].removesuffix('.rs')
        if top in ('lib', 'error'): continue
        mods.setdefault(top, []).append(p)
edges = collections.defaultdict(set)
for m, files in mods.items():
    for p in files:
        t = open(p).read()
        t = re.split(r'#\[cfg\(test\)\]', t)[0]
        t = '\n'.join(l for l in t.split('\n') if not l.strip().startswith('//'))
        for u in re.findall(r'crate::([a-z_]+)', t):
            if u in mods and u != m: edges[m].add(u)
        # `use crate::{a, b::c}`
        for grp in re.findall(r'use crate::\{([^;]*)\};', t, re.S):
            for u in re.findall(r'(?:^|[\s,{])([a-z_]+)(?=::|[,}\s]|$)', grp):
                if u in mods and u != m: edges[m].add(u)
# floors: longest path to a leaf
import itertools
def reach(a):
    seen, todo = set(), [a]
    while todo:
        x = todo.pop()
        for n in edges[x]:
            if n not in seen: seen.add(n); todo.append(n)
    return seen
cyc = sorted(m for m in mods if m in reach(m))
floor = {}
def f(m):
    if m in floor: return floor[m]
    floor[m] = 0
    floor[m] = max([f(n) + 1 for n in edges[m] if m not in reach(n)] or [0]); return floor[m]
for m in mods: f(m)
print("modules:", len(mods), "edges:", sum(len(v) for v in edges.values()), "cycles:", cyc or "none")
for fl in sorted(set(floor.values())):
    print(f"floor {fl}:", ", ".join(f"{m}→{{{','.join(sorted(edges[m]))}}}" if edges[m] else m for m in sorted(k for k in mods if floor[k]==fl)))
sys.exit(1 if cyc else 0)
