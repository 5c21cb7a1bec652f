"""PageRank by plain Python, the oracle for jobs/pagerank.ts: graph lines `node<TAB>rank<TAB>out1,out2`,
`iterations` rounds of rank = (1-d)/N + d * sum(rank(u)/outdeg(u)) over in-links u; prints `node<TAB>rank`."""
import sys

path, iterations, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
rank, links = {}, {}
for line in open(path, encoding='utf-8'):
    node, r, outs = line.rstrip('\n').split('\t')
    rank[node] = float(r)
    links[node] = outs.split(',') if outs else []
for _ in range(iterations):
    incoming = {}
    for u, outs in links.items():
        for v in outs:
            incoming[v] = incoming.get(v, 0.0) + rank[u] / len(outs)
    rank = {v: (1 - d) / n + d * incoming.get(v, 0.0) for v in links}
for v in sorted(rank, key=lambda s: s.encode()):
    print(f'{v}\t{rank[v]!r}')
