"""Two checkouts' in-process page times by short turns, for a machine whose speed moves from minute to minute.

    .venv/bin/python bench/pages_turns.py BASE [CHANGED] [--rounds 40] [--batch 20] [--url /assets ...]

Each checkout (BASE, e.g. a `git worktree` of main, and CHANGED, this checkout if not given) runs in a process
of its own with this venv, on a demo instance of its own built as bench/pages_inprocess.py builds it, signed
in as a supply officer. The two then take turns: a batch of GETs of one URL in one, the same batch in the
other, the order swapped every round, so that a slow minute of the host falls on both alike. Printed per URL:
the median over the rounds of each batch's median time (wall and CPU) in each checkout, their ratio, and
the spread of the per-round ratios (quartiles)."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

URLS = ("/assets", "/assets/1", "/loans/queue", "/e-service")


def serve() -> None:
    """The child: build the demo instance, sign in, then answer "URL N" lines with N GETs' times."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pages_inprocess import signed_in_client

    client = signed_in_client("khruphan-turns-")
    print("ready", flush=True)
    for line in sys.stdin:
        url, n = line.rsplit(" ", 1)
        wall, cpu = [], []
        for _ in range(int(n)):
            started, started_cpu = time.perf_counter(), time.process_time()
            resp = client.get(url)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            assert resp.status_code == 200, (url, resp.status_code)
        print(json.dumps([statistics.median(wall), statistics.median(cpu)]), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("base", nargs="?")
    parser.add_argument("changed", nargs="?", default=".")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--url", action="append", dest="urls")
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    me = str(Path(__file__).resolve())
    children = {
        name: subprocess.Popen(
            [sys.executable, me, "--serve"], cwd=path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for name, path in (("base", args.base), ("changed", args.changed))
    }
    for child in children.values():
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"

    def turn(name: str, url: str, n: int) -> list[float]:
        child = children[name]
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(f"{url} {n}\n")
        child.stdin.flush()
        return json.loads(child.stdout.readline())

    for url in args.urls or URLS:
        for name in children:
            turn(name, url, 20)  # warm-up
        got: dict[str, list[list[float]]] = {"base": [], "changed": []}
        for i in range(args.rounds):
            for name in ("base", "changed") if i % 2 == 0 else ("changed", "base"):
                got[name].append(turn(name, url, args.batch))
        for k, what in ((0, "wall"), (1, "CPU")):
            base = [r[k] for r in got["base"]]
            changed = [r[k] for r in got["changed"]]
            ratios = sorted(c / b for b, c in zip(base, changed, strict=True))
            q1, q3 = ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]
            print(
                f"{url} {what}: base {statistics.median(base):.2f} ms, changed {statistics.median(changed):.2f} ms, "
                f"changed/base {statistics.median(ratios):.2f} (quartiles {q1:.2f}–{q3:.2f}, {args.rounds} rounds "
                f"of {args.batch})",
                flush=True,
            )
    for child in children.values():
        assert child.stdin is not None
        child.stdin.close()
        child.wait()


if __name__ == "__main__":
    main()
