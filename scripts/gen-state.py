#!/usr/bin/env python3
"""Writes a state file (the service's on-disk snapshot, version 1) for a generated registry of
REPOS repositories x TAGS tags, for benchmarks: `scripts/gen-state.py 10000 10 > state.json`.

The shape is the render bench's: per tag 3 base layers shared by 1 in 50 repositories, 1 layer
per repository, a config and a layer of its own; every 10th tag is an alias of the previous
one (same manifest digest)."""
import json
import sys

def main():
    repos = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    tags = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    d = lambda n: "sha256:%064x" % n
    blobs = {}
    out = []
    for r in range(repos):
        ts = []
        for t in range(tags):
            bl = [d((r % 50) * 10 + i) for i in range(3)]
            bl += [d(1_000_000 + r), d(10_000_000 + r * tags + t), d(50_000_000 + r * tags + t)]
            for i, b in enumerate(bl):
                blobs.setdefault(b, 1000 + i * 12345 + r * t)
            ts.append({
                "name": "v%d.0.%d" % (t, t * 7 % 13),
                "digest": d(90_000_000 + r * tags + t),
                "media_type": "application/vnd.docker.distribution.manifest.v2+json",
                "blobs": bl,
                "created": 1_700_000_000 + r * 60 + t * 3600,
            })
        out.append({"name": "group%d/sub%d/project-%d" % (r % 37, r % 5, r), "tags": ts})
    json.dump({"version": 1, "timestamp": 1_800_000_000.5, "repositories": out, "blobs": blobs},
              sys.stdout, separators=(",", ":"))

if __name__ == "__main__":
    main()
