"""Long fuzz run of sparsesim's input contract; prints cases and outcomes by entry point.

    .venv/bin/python tools/fuzz.py --cases 100000 --jobs 2 --json fuzz.json

Each case is drawn from the table in ``tests/fuzzlib`` (entry point, generator,
independent reference) from ``(seed, case number)`` alone, so any case is rerun with
``--repro N``.  Cases run in worker processes; one that runs past ``--timeout``
seconds is a hang (the worker is replaced), one that ends its worker (a crash, the
memory limit ``--mem-gb``) is an other exception.  Outcomes (see
``tests/fuzzlib/core.py``): ok, refused, valid_refused, and the ones the contract
forbids: other_exception, invalid_accepted, wrong_result, hang, cli_traceback,
cli_bad_exit.  The exit status is 1 when any forbidden outcome occurred.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from multiprocessing.connection import wait
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"


def _load_table():
    sys.path.insert(0, str(TESTS))
    import fuzzlib

    return fuzzlib


def _names(fz, only, group, everything=False):
    names = [n for n, e in fz.ENTRIES.items() if (not only or re.search(only, n)) and (not group or e.group == group)
             and (e.in_scope or everything)]
    if not names:
        raise SystemExit(f"no entry point matches --only {only!r} --group {group!r}")
    return names


def _one(fz, seed, idx, names, tmp: Path):
    """Run case ``idx``; returns (entry, outcome, detail, kind)."""
    rng = fz.case_rng(seed, idx)
    name = fz.pick_entry(rng, names)
    case_dir = tmp / f"c{idx}"
    case_dir.mkdir(parents=True, exist_ok=True)
    try:
        try:
            case = fz.make_case(name, rng, case_dir)
        except Exception as exc:  # noqa: BLE001 - a bug of the generator, reported apart
            return name, "generator_error", f"{type(exc).__name__}: {exc}", ""
        out = fz.run_case(fz.ENTRIES[name], case)
        return name, out.outcome, out.detail, case.kind
    finally:
        shutil.rmtree(case_dir, ignore_errors=True)


def _worker(conn, seed, names, mem_gb, tmp):
    import resource
    import warnings

    if mem_gb:
        lim = int(mem_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    warnings.simplefilter("ignore")
    fz = _load_table()
    import sparsesim.cli  # noqa: F401 - import cost outside the first case's time

    tmp = Path(tmp)
    conn.send("ready")
    while True:
        idx = conn.recv()
        if idx is None:
            return
        t0 = time.perf_counter()
        res = _one(fz, seed, idx, names, tmp)
        conn.send((idx, *res, time.perf_counter() - t0))


class Pool:
    def __init__(self, jobs, seed, names, mem_gb, timeout, tmp):
        self.args = (seed, names, mem_gb, str(tmp))
        self.timeout = timeout
        self.ctx = mp.get_context("spawn")
        self.workers = [self._start() for _ in range(jobs)]

    def _start(self):
        parent, child = self.ctx.Pipe()
        p = self.ctx.Process(target=_worker, args=(child, *self.args), daemon=True)
        p.start()
        child.close()
        w = {"proc": p, "conn": parent, "idx": None, "t0": None, "ready": False}
        return w

    def _replace(self, w):
        try:
            w["proc"].kill()
        except Exception:  # noqa: BLE001
            pass
        w["proc"].join(5)
        self.workers[self.workers.index(w)] = self._start()

    def run(self, indices, on_result):
        todo = list(indices)[::-1]
        busy = 0
        while todo or busy:
            for w in self.workers:
                if w["ready"] and w["idx"] is None and todo:
                    w["idx"], w["t0"] = todo.pop(), time.monotonic()
                    w["conn"].send(w["idx"])
                    busy += 1
            conns = [w["conn"] for w in self.workers]
            ready = wait(conns, timeout=1.0)
            for w in list(self.workers):
                if w["conn"] in ready:
                    try:
                        msg = w["conn"].recv()
                    except (EOFError, OSError):
                        if w["idx"] is not None:
                            code = w["proc"].exitcode
                            on_result(w["idx"], None, "other_exception", f"worker died (exit code {code})", "")
                            busy -= 1
                        self._replace(w)
                        continue
                    if msg == "ready":
                        w["ready"] = True
                        continue
                    idx, name, outcome, detail, kind, dt = msg
                    on_result(idx, name, outcome, detail, kind, dt)
                    w["idx"] = None
                    busy -= 1
            now = time.monotonic()
            for w in list(self.workers):
                if w["idx"] is not None and now - w["t0"] > self.timeout:
                    on_result(w["idx"], None, "hang", f"no result after {self.timeout:g} s", "", self.timeout)
                    busy -= 1
                    self._replace(w)

    def close(self):
        for w in self.workers:
            try:
                w["conn"].send(None)
            except Exception:  # noqa: BLE001
                pass
        for w in self.workers:
            w["proc"].join(5)
            if w["proc"].is_alive():
                w["proc"].kill()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0, help="first case number")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds before a case counts as a hang")
    ap.add_argument("--mem-gb", type=float, default=4.0, help="address-space limit of a worker (0: none)")
    ap.add_argument("--only", default=None, help="regular expression on entry-point names")
    ap.add_argument("--group", choices=("api", "config", "cli"), default=None)
    ap.add_argument("--all", action="store_true", help="also the entry points registered for later hardening")
    ap.add_argument("--json", default=None, help="write counts and every bad case here")
    ap.add_argument("--examples", type=int, default=3, help="bad cases shown per entry point and outcome")
    ap.add_argument("--repro", type=int, default=None, help="run case N in this process and show its outcome")
    args = ap.parse_args(argv)

    fz = _load_table()
    names = _names(fz, args.only, args.group, args.all)
    if args.repro is not None:
        rng = fz.case_rng(args.seed, args.repro)
        name = fz.pick_entry(rng, names)
        with tempfile.TemporaryDirectory() as d:
            case = fz.make_case(name, rng, Path(d))
            print(f"case {args.repro}: {name}\n  kind: {case.kind}\n  valid: {case.valid}")
            out = fz.run_case(fz.ENTRIES[name], case)
            print(f"  outcome: {out.outcome}\n  detail: {out.detail}")
        return 0

    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    counts = defaultdict(Counter)
    bad_cases = []
    t0 = time.monotonic()
    done = [0]

    seconds = Counter()

    def on_result(idx, name, outcome, detail, kind, dt=0.0):
        if name is None:
            name = fz.pick_entry(fz.case_rng(args.seed, idx), names)
        counts[name][outcome] += 1
        seconds[name] += dt
        if outcome in fz.BAD or outcome == "generator_error":
            bad_cases.append({"case": idx, "entry": name, "outcome": outcome, "detail": detail, "kind": kind})
        done[0] += 1
        if done[0] % 2000 == 0:
            nbad = sum(1 for b in bad_cases)
            print(f"  {done[0]}/{args.cases} cases, {nbad} bad, {time.monotonic() - t0:.0f} s", file=sys.stderr,
                  flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="sparsesim-fuzz-"))
    pool = Pool(args.jobs, args.seed, names, args.mem_gb, args.timeout, tmp)
    try:
        pool.run(range(args.start, args.start + args.cases), on_result)
    finally:
        pool.close()
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - t0
    _report(fz, counts, bad_cases, args, elapsed, seconds)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "cases": args.cases, "seed": args.seed, "start": args.start, "seconds": elapsed,
            "by_entry": {k: dict(v) for k, v in sorted(counts.items())},
            "seconds_by_entry": dict(seconds),
            "totals": dict(sum(counts.values(), Counter())), "bad": bad_cases}, indent=1))
    return 1 if any(b["outcome"] in fz.BAD for b in bad_cases) else 0


def _report(fz, counts, bad_cases, args, elapsed, seconds):
    cols = list(fz.OUTCOMES) + (["generator_error"] if any(b["outcome"] == "generator_error" for b in bad_cases)
                                else [])
    short = {"ok": "ok", "refused": "refused", "valid_refused": "valid-ref", "other_exception": "other-exc",
             "invalid_accepted": "inval-acc", "wrong_result": "wrong", "hang": "hang", "cli_traceback": "cli-tb",
             "cli_bad_exit": "cli-exit", "generator_error": "gen-err"}
    width = max(len(n) for n in counts) if counts else 10
    print(f"{args.cases} cases, seed {args.seed}, {elapsed:.0f} s, timeout {args.timeout:g} s per case")
    print(f"{'entry point':{width}} {'cases':>7} " + " ".join(f"{short[c]:>9}" for c in cols) + "   ms/case")
    total = Counter()
    for name in sorted(counts):
        c = counts[name]
        total += c
        ms = 1e3 * seconds[name] / max(sum(c.values()), 1)
        print(f"{name:{width}} {sum(c.values()):7d} " + " ".join(f"{c[o]:9d}" for o in cols) + f" {ms:9.1f}")
    print(f"{'TOTAL':{width}} {sum(total.values()):7d} " + " ".join(f"{total[o]:9d}" for o in cols))
    by_group = defaultdict(Counter)
    for name, c in counts.items():
        by_group[fz.ENTRIES[name].group] += c
    for g, c in sorted(by_group.items()):
        print(f"  {g}: {sum(c.values())} cases; " + ", ".join(f"{o} {c[o]}" for o in fz.BAD if c[o]) or "")
    shown = Counter()
    for b in bad_cases:
        key = (b["entry"], b["outcome"], b["detail"].split(" at ")[-1][:60])
        if shown[key[:2]] >= args.examples:
            continue
        shown[key[:2]] += 1
        print(f"[{b['outcome']}] {b['entry']} case {b['case']}: {b['kind'][:100]} -> {b['detail'][:200]}")


if __name__ == "__main__":
    sys.exit(main())
