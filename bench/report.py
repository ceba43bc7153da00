#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the raw samples of one `make bench` guest boot into results.

    bench/report.py --kernel KVER [--results DIR] [--date STAMP] OUTDIR

OUTDIR is what bench/guest.sh wrote (runs/NNNN.*, env.txt, ...).
Writes, in DIR (default bench/results):

    KVER-STAMP.json   every sample, the summaries, the checks
    KVER-STAMP.md     the tables (bench/README.md explains them)
    KVER-STAMP.png    IOPS and context switches per I/O per mode (gnuplot)
    latest-KVER.{json,md,png}   copies of the above

and prints the markdown.  Exit status: 0 when the instrument self-check
passed and the guest kernel log is clean, 1 otherwise ("INSTRUMENT CHECK
FAILED: ..." / "KERNEL LOG NOT CLEAN: ..." say why).  Standard library only.
"""

import argparse
import datetime
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

# aloop-dio1: aloop with one hardware queue (aloop-dio has the default
# count), on the fast backing only: what parallel dispatch brings;
# aloop-worker: aloop whose workers submit blocking (module parameter
# nowait=N): what the IOCB_NOWAIT tries bring; aloop-poll: workers that
# spin poll_us for more work before they sleep: what polling brings
# (and costs: the CPU columns); aloop-nobatch: workers SCHED_NORMAL
# (module parameter sched_batch=N): what SCHED_BATCH brings;
# aloop-release: aloop-dio with the module and aloopctl of BENCH_RELEASE
# ("today's release", inline submission from ->queue_rq)
MODES = ["raw", "loop-buf", "loop-dio", "aloop-buf", "aloop-dio", "aloop-release", "aloop-dio1",
         "aloop-worker", "aloop-poll", "aloop-nobatch"]
WORKLOADS = [
    ("dev-randread-qd16", "device 4k randread, libaio QD16, jobs=vCPUs"),
    ("dev-randwrite-qd16", "device 4k randwrite, libaio QD16, jobs=vCPUs"),
    ("dev-randread-psync", "device 4k randread, psync, jobs=vCPUs"),
    ("sparse-randwrite-qd16", "sparse backing, 4k randwrite, libaio QD16"),
    ("fs-randread", "seed harness: ext4 on dev, psync 4 jobs, randread"),
    ("fs-read", "seed harness: read"),
    ("fs-randwrite", "seed harness: randwrite"),
    ("fs-write", "seed harness: write"),
    ("fast-randread-qd16", "fast backing (file on ext4 on brd), 4k randread, libaio QD16, jobs=vCPUs"),
    ("fast-randwrite-qd16", "fast backing, 4k randwrite, libaio QD16, jobs=vCPUs"),
    ("fast-randread-psync", "fast backing, 4k randread, psync, jobs=vCPUs"),
]
WL_NAMES = [w for w, _ in WORKLOADS]

# Seed 000 (Ming Lei, "block: loop: support DIO & AIO", 2015): 4 jobs
# psync fio inside ext4 over loop, KVM 4 vCPUs 2G, image on SSD.
SEED = {
    "source": "seeds/000: block: loop: support DIO & AIO (Ming Lei, 2015), "
              "KVM 4 vCPU 2G, ext4 over loop on an SSD image, fio psync 4 jobs size 1500M",
    "iops": {
        "fs-randread": (8015, 8136),
        "fs-read": (113811, 125040),
        "fs-randwrite": (67442, 67811),
        "fs-write": (106978, 111376),
    },
    "ctx_dio_over_buffered": 0.5,   # "context switch decreased by ~50%"
    "meminfo_mb": {"buffered": {"Buffers": "> 760", "Cached": "~950"},
                   "dio": {"Buffers": "< 5", "Cached": "~1600"}},
}

# Thresholds of the self-check (bench/README.md)
CTX_RAW_MAX_FRACTION = 0.25    # raw ctx/IO at QD16 < 1/4 of loop-buf's
RESIDENT_BUF_MIN = 0.50        # buffered modes: > 50% of the read in the backing file's cache
RESIDENT_DIO_MAX = 0.10        # aloop-dio: < 10%
RELEASE_MIN = 0.95             # issue 19: no workload below 0.95x today's release (paired median)
SPREAD_MIN = 0.02              # all modes within 2% = the instrument measures nothing


def kv_file(path):
    d = {}
    try:
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if "=" in line:
                    k, v = line.split("=", 1)
                    d[k.strip()] = v
    except FileNotFoundError:
        pass
    return d


def read_text(path, default=""):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return default


def proc_stat(path):
    cpu, ctxt = None, None
    for line in read_text(path).splitlines():
        p = line.split()
        if not p:
            continue
        if p[0] == "cpu":
            cpu = [int(x) for x in p[1:]]
        elif p[0] == "ctxt":
            ctxt = int(p[1])
    return cpu, ctxt


def meminfo(path):
    d = {}
    for line in read_text(path).splitlines():
        m = re.match(r"(\w+):\s+(\d+)", line)
        if m:
            d[m.group(1)] = int(m.group(2))
    return d


CPU_COLS = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]


PERF_LINE = re.compile(r"^\s*([\d.]+)%\s+([\d.]+)%\s+\[(.)\]\s+(\S.*?)\s*$")
IDLE_SYM = re.compile(r"safe_halt|default_idle|mwait|poll_idle|cpu_idle_poll|acpi_idle|intel_idle")
# (layer, how it is counted): "c:SYM|SYM" children % of the first symbol
# present, "u" self % of user-space symbols; all in microseconds per I/O
PERF_LAYERS = [
    ("fio itself (user space)", "u"),
    ("io_submit() syscall, all below it", "c:__x64_sys_io_submit"),
    ("io_getevents() syscall", "c:__x64_sys_io_getevents|__x64_sys_io_pgetevents"),
    ("block device O_DIRECT of the upper device (blkdev_read_iter)", "c:blkdev_read_iter"),
    ("aloop ->queue_rq (hand-off only)", "c:alo_queue_rq"),
    ("loop ->queue_rq", "c:loop_queue_rq"),
    ("queue worker threads (aloop's)", "c:alo_queue_thread"),
    ("workqueue workers (loop's, completions)", "c:worker_thread"),
    ("backing ext4 ->read_iter (direct I/O)", "c:ext4_file_read_iter"),
    ("brd (the RAM disk)", "c:brd_submit_bio"),
    ("blk-mq request completion (blk_mq_end_request)", "c:blk_mq_end_request"),
    ("schedule()", "c:schedule"),
]


def load_perf(rid, m):
    """A BENCH_PERF run: children %% per kernel symbol -> microseconds per I/O by layer."""
    try:
        fj = json.loads(read_text(rid + ".fio.json"))
        job = fj["jobs"][0]
        ios = sum(job[d]["total_ios"] for d in ("read", "write"))
        iops = sum(job[d]["iops"] for d in ("read", "write"))
    except (ValueError, KeyError, IndexError):
        ios, iops = 0, None
    children, user, idle = {}, 0.0, 0.0
    for line in read_text(rid + ".perf.txt").splitlines():
        g = PERF_LINE.match(line)
        if not g:
            continue
        ch, se, kind, sym = float(g.group(1)), float(g.group(2)), g.group(3), g.group(4)
        children.setdefault(sym, ch)
        if kind == ".":
            user += se
        elif IDLE_SYM.search(sym):
            idle += se
    try:
        nsamp, hz = int(m.get("perf_samples", "0")), int(m.get("perf_hz", "0"))
    except ValueError:
        nsamp, hz = 0, 0
    r = {"mode": m.get("mode"), "ios": ios, "iops": iops, "samples": nsamp, "hz": hz, "layers": {}}
    if not (ios and nsamp and hz):
        r["error"] = "no samples or no I/Os (rc %s)" % m.get("rc")
        return r
    us = nsamp * 1e6 / hz / ios / 100.0     # microseconds per I/O of 1 %
    r["busy_us_per_io"] = (100.0 - idle) * us
    for name, how in PERF_LAYERS:
        if how == "u":
            r["layers"][name] = user * us
            continue
        for sym in how[2:].split("|"):
            if sym in children:
                r["layers"][name] = children[sym] * us
                break
    return r


def load_samples(out, user_hz):
    samples, mem, perf = [], [], []
    for mpath in sorted(glob.glob(os.path.join(out, "runs", "*.meta"))):
        rid = mpath[:-5]
        m = kv_file(mpath)
        if m.get("kind") == "perf":
            perf.append(load_perf(rid, m))
            continue
        s = {
            "seq": int(m.get("seq", 0)), "rep": int(m.get("rep", 0)), "pos": int(m.get("pos", 0)),
            "mode": m.get("mode"), "workload": m.get("workload"), "dev": m.get("dev"),
            "dio": m.get("dio"), "dio_reason": m.get("dio_reason", "").replace("_", " "),
            "want_dio": m.get("want_dio"), "logical_block_size": m.get("lbs"),
            "rc": int(m.get("rc", -1)) if m.get("rc", "").lstrip("-").isdigit() else None,
        }
        c0, x0 = proc_stat(rid + ".stat0")
        c1, x1 = proc_stat(rid + ".stat1")
        if os.path.exists(rid + ".aloop.json"):
            try:
                s["aloop_status"] = json.loads(read_text(rid + ".aloop.json"))
            except ValueError:
                s["aloop_status"] = read_text(rid + ".aloop.json").strip()
        if m.get("kind") == "mem":
            m0, m1 = meminfo(rid + ".mem0"), meminfo(rid + ".mem1")
            fin = read_text(rid + ".fincore").split()
            s.update({
                "read_mib": int(m.get("read_mb", 0)),
                "backing_resident_bytes": int(fin[0]) if fin and fin[0].isdigit() else None,
                "meminfo_before_kb": {k: m0.get(k) for k in ("Buffers", "Cached", "MemFree", "Shmem")},
                "meminfo_after_kb": {k: m1.get(k) for k in ("Buffers", "Cached", "MemFree", "Shmem")},
            })
            s.update(aloop_meta(m))
            mem.append(s)
            continue
        try:
            fj = json.loads(read_text(rid + ".fio.json"))
            job = fj["jobs"][0]
            ios = sum(job[d]["total_ios"] for d in ("read", "write"))
            iops = sum(job[d]["iops"] for d in ("read", "write"))
            s.update({
                "fio_error": job.get("error", 0), "ios": ios, "iops": iops,
                "fio_job_runtime_ms": job.get("job_runtime"),
                "fio_ctx": job.get("ctx"), "fio_sys_cpu_pct": job.get("sys_cpu"),
                "fio_usr_cpu_pct": job.get("usr_cpu"),
                "bw_kib": sum(job[d]["bw"] for d in ("read", "write")),
                "lat_mean_us": {d: job[d]["lat_ns"]["mean"] / 1000.0
                                for d in ("read", "write") if job[d]["total_ios"]},
            })
        except (ValueError, KeyError, IndexError) as e:
            s.update({"ios": 0, "iops": None, "fio_error": "no fio output: %s" % e})
            err = read_text(rid + ".fio.err").strip()
            if err:
                s["fio_stderr"] = err[-2000:]
        try:
            s["wall_s"] = float(m["t1"]) - float(m["t0"])
        except (KeyError, ValueError):
            s["wall_s"] = None
        if c0 and c1 and x0 is not None and x1 is not None and s.get("ios"):
            dcpu = {CPU_COLS[i]: c1[i] - c0[i] for i in range(min(len(CPU_COLS), len(c0)))}
            s["d_ctxt"] = x1 - x0
            s["d_cpu_ticks"] = dcpu
            s["ctx_per_io"] = (x1 - x0) / s["ios"]
            s["sys_us_per_io"] = dcpu["system"] * 1e6 / user_hz / s["ios"]
            busy = dcpu["user"] + dcpu["nice"] + dcpu["system"] + dcpu["irq"] + dcpu["softirq"]
            s["busy_us_per_io"] = busy * 1e6 / user_hz / s["ios"]
        try:   # per-run counters (bench/guest.sh records the run's share)
            wrk, wak = int(m["aloop_reqs_worker"]), int(m["aloop_wakeups"])
            # before "aloop_counters=run" they were the device's totals
            s["reqs_per_wakeup"] = wrk / float(wak) if wak and m.get("aloop_counters") == "run" \
                else None
        except (KeyError, ValueError):
            pass
        if "sparse_allocated_after" in m:
            s["sparse_allocated_after"] = int(m["sparse_allocated_after"])
        s.update(aloop_meta(m))
        samples.append(s)
    return samples, mem, perf


def aloop_meta(m):
    """Which module served an aloop run, and its counters over the run
    (the release has reqs_inline, the current tree reqs_nowait ...)."""
    r = {}
    for k in ("aloop_module", "aloop_srcversion"):
        if m.get(k):
            r[k] = m[k]
    cnt = {k[6:]: int(v) for k, v in m.items()
           if k.startswith("aloop_reqs_") or k in ("aloop_wakeups", "aloop_nowait_again", "aloop_batches")
           if v.lstrip("-").isdigit()}
    if cnt:
        r["aloop_counters"] = cnt
    if "reqs_inline" in cnt and "reqs_worker" in cnt and cnt["reqs_inline"] + cnt["reqs_worker"]:
        r["inline_share"] = cnt["reqs_inline"] / float(cnt["reqs_inline"] + cnt["reqs_worker"])
    return r


def stats(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def fmt_n(v, digits=None):
    if v is None:
        return "–"
    if digits is not None:
        return "%.*f" % (digits, v)
    if v >= 100:
        return "%d" % round(v)
    if v >= 10:
        return "%.1f" % v
    if v >= 1:
        return "%.2f" % v
    return "%.3f" % v


def fmt_r(v):
    return "–" if v is None else "%.2f" % v


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--results", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "..", "bench", "results"))
    ap.add_argument("--date", default=datetime.datetime.now().strftime("%Y%m%d-%H%M"))
    ap.add_argument("--no-latest", action="store_true", help="do not update latest-KVER.*")
    return ap.parse_args()


def load_run(out):
    """Everything bench/guest.sh left in OUT, and what was measured."""
    env = kv_file(os.path.join(out, "env.txt"))
    user_hz = int(env.get("user_hz", "100") or 100)
    samples, mem, perf = load_samples(out, user_hz)
    return {
        "out": out, "env": env, "host": kv_file(os.path.join(out, "host.txt")), "user_hz": user_hz,
        "samples": samples, "mem": mem, "perf": perf, "reps": int(env.get("reps", "0") or 0),
        "modes": [m for m in MODES if any(s["mode"] == m for s in samples + mem)],
        "modes_cfg": env.get("modes", " ".join(MODES)).split(),
        "fast_modes_cfg": env.get("fast_modes", "").split(),
        "workloads": [w for w in WL_NAMES if any(s["workload"] == w for s in samples)],
        "read_mib": int(env.get("mem_mb", "256") or 256),
    }


def summarize(run):
    """Per workload and mode: stats of each figure; per mode: the memory figures."""
    samples, mem, modes, workloads = run["samples"], run["mem"], run["modes"], run["workloads"]
    summary = {}
    for w in workloads:
        summary[w] = {}
        for m in modes:
            ss = [s for s in samples if s["workload"] == w and s["mode"] == m]
            if not ss:
                continue
            summary[w][m] = {k: stats([s.get(k) for s in ss])
                             for k in ("iops", "ctx_per_io", "sys_us_per_io", "busy_us_per_io", "fio_ctx",
                                       "reqs_per_wakeup", "inline_share")}
    memsum = {}
    for m in modes:
        ss = [s for s in mem if s["mode"] == m]
        if not ss:
            continue
        mib = 1024.0

        def g(s, when, k):
            v = s["meminfo_%s_kb" % when].get(k)
            return None if v is None else v / mib
        memsum[m] = {
            "backing_resident_mib": stats([None if s["backing_resident_bytes"] is None
                                           else s["backing_resident_bytes"] / 1048576.0 for s in ss]),
            "buffers_after_mib": stats([g(s, "after", "Buffers") for s in ss]),
            "cached_after_mib": stats([g(s, "after", "Cached") for s in ss]),
            "d_buffers_mib": stats([None if g(s, "after", "Buffers") is None else
                                    g(s, "after", "Buffers") - g(s, "before", "Buffers") for s in ss]),
            "d_cached_mib": stats([None if g(s, "after", "Cached") is None else
                                   g(s, "after", "Cached") - g(s, "before", "Cached") for s in ss]),
        }

    return summary, memsum


def med(summary, w, m, k="iops"):
    try:
        return summary[w][m][k]["median"]
    except (KeyError, TypeError):
        return None


def resident(memsum, m):
    try:
        return memsum[m]["backing_resident_mib"]["median"]
    except (KeyError, TypeError):
        return None


def compute_ratios(summary, workloads):
    ratios = {}
    for w in workloads:
        ratios[w] = {
            "aloop-dio/raw": ratio(med(summary, w, "aloop-dio"), med(summary, w, "raw")),
            "aloop-dio/loop-dio": ratio(med(summary, w, "aloop-dio"), med(summary, w, "loop-dio")),
            "aloop-dio/aloop-buf": ratio(med(summary, w, "aloop-dio"), med(summary, w, "aloop-buf")),
            "loop-dio/raw": ratio(med(summary, w, "loop-dio"), med(summary, w, "raw")),
            "loop-buf/raw": ratio(med(summary, w, "loop-buf"), med(summary, w, "raw")),
            "loop-dio/loop-buf": ratio(med(summary, w, "loop-dio"), med(summary, w, "loop-buf")),
            "aloop-dio1/raw": ratio(med(summary, w, "aloop-dio1"), med(summary, w, "raw")),
            "aloop-dio/aloop-dio1": ratio(med(summary, w, "aloop-dio"), med(summary, w, "aloop-dio1")),
            "aloop-dio/aloop-worker": ratio(med(summary, w, "aloop-dio"), med(summary, w, "aloop-worker")),
            "aloop-poll/raw": ratio(med(summary, w, "aloop-poll"), med(summary, w, "raw")),
            "aloop-dio/aloop-release": ratio(med(summary, w, "aloop-dio"), med(summary, w, "aloop-release")),
            "aloop-release/raw": ratio(med(summary, w, "aloop-release"), med(summary, w, "raw")),
            "ctx aloop-dio/loop-dio": ratio(med(summary, w, "aloop-dio", "ctx_per_io"), med(summary, w, "loop-dio", "ctx_per_io")),
            "ctx loop-dio/loop-buf": ratio(med(summary, w, "loop-dio", "ctx_per_io"), med(summary, w, "loop-buf", "ctx_per_io")),
            "ctx aloop-dio/aloop-buf": ratio(med(summary, w, "aloop-dio", "ctx_per_io"), med(summary, w, "aloop-buf", "ctx_per_io")),
        }

    return ratios


PAIRED = [("aloop-dio", "raw"), ("aloop-dio", "loop-dio"), ("aloop-dio", "aloop-worker"),
          ("aloop-poll", "raw"), ("aloop-nobatch", "raw"), ("aloop-dio", "aloop-nobatch"), ("loop-dio", "raw"),
          ("aloop-dio", "aloop-release"), ("aloop-release", "raw")]


def paired_ratios(samples, workloads):
    """Per workload: the median over repetitions of A/B measured in the same
    repetition (a minute apart), which a host whose speed drifts over the
    run disturbs less than a ratio of medians."""
    iops, reps = {}, sorted({s["rep"] for s in samples})
    for s in samples:   # the first sample of (workload, mode, repetition)
        iops.setdefault((s["workload"], s["mode"], s["rep"]), s.get("iops"))
    out = {}
    for w in workloads:
        out[w] = {}
        for a, b in PAIRED:
            pairs = [(iops.get((w, a, r)), iops.get((w, b, r))) for r in reps]
            out[w]["%s/%s" % (a, b)] = stats([x / y for x, y in pairs if x and y])
    return out


def instrument_checks(run, summary, memsum):
    """The self-check: does the instrument measure what it claims to?"""
    env, out, samples, mem = run["env"], run["out"], run["samples"], run["mem"]
    modes, modes_cfg, workloads = run["modes"], run["modes_cfg"], run["workloads"]
    reps, read_mib = run["reps"], run["read_mib"]
    checks = []

    def check(name, ok, detail):
        checks.append({"name": name, "ok": ok, "detail": detail})

    rr = "dev-randread-qd16"
    raw_ctx, lb_ctx = med(summary, rr, "raw", "ctx_per_io"), med(summary, rr, "loop-buf", "ctx_per_io")
    if raw_ctx is None or lb_ctx is None:
        check("ctx/IO raw << loop-buf at QD16", None, "not measured (raw or loop-buf or %s missing)" % rr)
    else:
        check("ctx/IO raw << loop-buf at QD16", raw_ctx < CTX_RAW_MAX_FRACTION * lb_ctx,
              "%s: raw %.3f vs loop-buf %.3f ctx/IO (ratio %.3f, must be < %.2f)"
              % (rr, raw_ctx, lb_ctx, raw_ctx / lb_ctx if lb_ctx else float("inf"), CTX_RAW_MAX_FRACTION))

    for m in ("loop-buf", "aloop-buf"):
        r = resident(memsum, m)
        if r is None:
            check("page cache after %s read is large" % m, None, "not measured")
        else:
            check("page cache after %s read is large" % m, r > RESIDENT_BUF_MIN * read_mib,
                  "%s: backing file %.1f MiB in page cache after reading %d MiB (must be > %d%%)"
                  % (m, r, read_mib, RESIDENT_BUF_MIN * 100))
    r = resident(memsum, "aloop-dio")
    if r is None:
        check("page cache after aloop-dio read is small", None, "not measured")
    else:
        check("page cache after aloop-dio read is small", r < RESIDENT_DIO_MAX * read_mib,
              "aloop-dio: backing file %.1f MiB in page cache after reading %d MiB (must be < %d%%)"
              % (r, read_mib, RESIDENT_DIO_MAX * 100))

    # the instrument must tell modes apart
    def spread(vals):
        vals = [v for v in vals if v is not None]
        if len(vals) < 2 or max(vals) <= 0:
            return None
        return (max(vals) - min(vals)) / max(vals)
    if len(modes) >= 2:
        for k, label in (("iops", "IOPS"), ("ctx_per_io", "ctx/IO"), ("sys_us_per_io", "sys CPU/IO")):
            sp = {w: spread([med(summary, w, m, k) for m in modes]) for w in workloads}
            vals = [v for v in sp.values() if v is not None]
            if not vals:
                continue
            check("%s differs between modes" % label, max(vals) >= SPREAD_MIN,
                  "largest spread of the per-mode medians over the workloads: %.1f%% (%s); "
                  "fails when every workload is within %d%%"
                  % (100 * max(vals), max(sp, key=lambda x: sp[x] or 0), SPREAD_MIN * 100))
        sp = spread([resident(memsum, m) for m in modes])
        if sp is not None:
            check("page-cache residency differs between modes", sp >= SPREAD_MIN,
                  "spread %.1f%% over %s" % (100 * sp, ", ".join(modes)))

    bad = ["%s/%s rep %d: dio=%s, wanted %s (%s)" % (s["mode"], s["workload"], s["rep"], s["dio"],
                                                    s["want_dio"], s["dio_reason"] or "-")
           for s in samples + mem if s["dio"] != s["want_dio"]]
    check("every run used the I/O mode it is named after", not bad,
          "; ".join(bad[:8]) if bad else "dio state read from sysfs at the start of each run")

    if "aloop-release" in modes:
        ran = [s for s in samples + mem if (s["mode"] or "").startswith("aloop-")]
        srcv = {"current": env.get("aloop_srcversion"), "release": env.get("release_srcversion")}
        bad = ["%s/%s rep %d: module %s (srcversion %s)" % (s["mode"], s["workload"], s["rep"],
                                                            s.get("aloop_module"), s.get("aloop_srcversion"))
               for s in ran
               if s.get("aloop_module") != ("release" if s["mode"] == "aloop-release" else "current")
               or not s.get("aloop_srcversion")
               or s.get("aloop_srcversion") != srcv[s.get("aloop_module")]]
        check("every aloop run was served by its module", not bad,
              "; ".join(bad[:8]) if bad else "%d runs; srcversion %s (current), %s (release)"
              % (len(ran), srcv["current"], srcv["release"]))

    unw = [int(env.get("prefill_unwritten_extents", "0") or 0),
           int(env.get("unwritten_extents_end", "0") or 0)]
    ext_lines = read_text(os.path.join(out, "extents.txt")).split("\n")
    ext_bad = [l for l in ext_lines if re.search(r"unwritten=([1-9]\d*)", l)]
    check("backing file fully written (no unwritten extents)",
          unw == [0, 0] and not ext_bad,
          "unwritten extents in the backing file after pre-fill: %d, at the end: %d; after each mode: %s"
          % (unw[0], unw[1], "; ".join(ext_bad[:5]) if ext_bad else "0"))

    probs = []
    for s in samples:
        if s.get("rc") != 0 or s.get("fio_error") not in (0, None) or not s.get("ios"):
            probs.append("%s/%s rep %d: rc %s, fio error %s, %s I/Os" % (
                s["mode"], s["workload"], s["rep"], s.get("rc"), s.get("fio_error"), s.get("ios")))
    for s in mem:
        if s.get("rc") != 0 or s.get("backing_resident_bytes") is None:
            probs.append("%s/mem rep %d: rc %s" % (s["mode"], s["rep"], s.get("rc")))
    errors = [l for l in read_text(os.path.join(out, "errors.txt")).splitlines() if l.strip()]
    probs += ["guest: " + e for e in errors]
    fatal = read_text(os.path.join(out, "fatal")).strip()
    if fatal:
        probs.insert(0, "guest aborted: " + fatal)
    def modes_of(w):   # the fast backing has its own modes
        return run["fast_modes_cfg"] if w.startswith("fast-") else modes_cfg
    short = ["%s/%s: %d of %d" % (m, w, len([s for s in samples if s["mode"] == m and s["workload"] == w]),
                                  reps)
             for w in workloads for m in modes_of(w)
             if len([s for s in samples if s["mode"] == m and s["workload"] == w]) != reps]
    probs += ["missing samples " + x for x in short]
    if not samples:
        probs.append("no samples at all")
    check("every run completed", not probs, "; ".join(probs[:10]) if probs else
          "%d fio runs, %d memory runs" % (len(samples), len(mem)))

    return checks


def log_patterns(path=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "lib", "kernel-log-patterns")):
    """scripts/lib/kernel-log-patterns, the harness's one kernel-log policy."""
    with open(path) as f:
        pats = [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]
    return re.compile("|".join(pats))


def scan_kernel_log(out):
    """Offending lines of the guest's kernel log (with context) and the new taint flags."""
    logpat = log_patterns()
    dmesg = read_text(os.path.join(out, "dmesg.txt")) or read_text(os.path.join(out, "dmesg-live.txt"))
    hits = [l for l in dmesg.splitlines() if logpat.search(l)]
    try:
        ts = int(read_text(os.path.join(out, "taint-start"), "0").strip() or 0)
        te = int(read_text(os.path.join(out, "taint-end"), str(ts)).strip() or ts)
    except ValueError:
        ts = te = 0
    taint_new = (te & ~ts) & (128 | 512 | 16384)
    ctx = []
    if hits:
        left = 0
        for l in dmesg.splitlines():
            if logpat.search(l):
                left = 25
            if left:
                ctx.append(l)
                left -= 1
        ctx = ctx[:150]
    return {"dmesg": bool(dmesg), "hits": hits, "context": ctx, "taint_start": ts, "taint_end": te,
            "taint_new": taint_new, "ok": bool(dmesg) and not hits and not taint_new}


def conditions(a, run):
    """What the numbers were measured under."""
    env, host, out, reps, read_mib = run["env"], run["host"], run["out"], run["reps"], run["read_mib"]
    user_hz = run["user_hz"]
    mem_mib = int(env.get("mem_total_kb", "0") or 0) // 1024
    cond = {
        "accel": host.get("accel", "TCG"),
        "clocksource": env.get("clocksource") or "?",
        "qemu": host.get("qemu"), "host_cpu": host.get("host_cpu"), "host_cpus": host.get("host_cpus"),
        "host_disk_cache": host.get("host_cache"),
        "vcpus": int(env.get("vcpus", "0") or 0), "vm_mem": host.get("vm_mem"),
        "guest_mem_total_mib": mem_mib,
        "kernel": env.get("kernel", a.kernel), "fio": env.get("fio_version"),
        "backing": "%s on virtio-blk %s (logical block %s B, scheduler %s)" % (
            env.get("backing_fs"), env.get("backing_disk"), env.get("backing_disk_lbs"),
            (env.get("backing_sched") or "?").strip()),
        "file_mib": int(env.get("file_mb", "0") or 0), "sparse_mib": int(env.get("sparse_mb", "0") or 0),
        "prefill": "sequential fio write, %s s, %s extents, %s unwritten" % (
            env.get("prefill_seconds"), env.get("prefill_extents"), env.get("prefill_unwritten_extents")),
        "reps": reps, "quick": env.get("quick") == "1", "modes_order": read_text(os.path.join(out, "order.txt")).split("\n"),
        "work_per_run": {
            "dev_qd16_ios_per_job": int(env.get("dev_ios", "0") or 0),
            "dev_psync_ios_per_job": int(env.get("psync_ios", "0") or 0),
            # before BENCH_FAST_IOS the fast backing ran the dev counts
            "fast_ios_per_job": int(env.get("fast_ios", "0") or 0) or None,
            "fs_file_mib_per_job": int(env.get("fs_mb", "0") or 0),
            "fs_random_io_mib_per_job": int(env.get("fs_rand_mb", "0") or 0),
            "sparse_ios_per_job": int(env.get("sparse_ios", "0") or 0),
            "mem_read_mib": read_mib,
        },
        "aloop_version": env.get("aloop_version"), "aloop_dio_param": env.get("aloop_dio_param"),
        "release": {"rev": read_text(os.path.join(out, "release.txt")).strip() or env.get("release_rev"),
                    "version": env.get("release_version"), "srcversion": env.get("release_srcversion"),
                    "current_srcversion": env.get("aloop_srcversion")} if env.get("release_rev") else None,
        "git": read_text(os.path.join(out, "git.txt")).strip(),
        "bench_seconds": env.get("bench_seconds"), "user_hz": user_hz,
        "guest_cpu_model": env.get("cpu_model"),
    }

    # other VMs on the host while ours ran (bench/run.sh samples every 15 s)
    try:
        vstart = int(read_text(os.path.join(out, "vm.start"), "0").strip() or 0)
    except ValueError:
        vstart = 0
    load = []
    for line in read_text(os.path.join(out, "host-load.txt")).splitlines():
        p_ = line.split()
        if len(p_) >= 3 and p_[0].isdigit() and p_[1].isdigit() and int(p_[0]) >= vstart:
            load.append((int(p_[1]), float(p_[2])))
    cond["host_load"] = {
        "samples": len(load),
        "samples_with_other_qemu": len([q for q, _ in load if q >= 2]),
        "max_qemu_processes": max([q for q, _ in load], default=None),
        "max_loadavg1": max([l for _, l in load], default=None),
    }

    return cond


def update_latest(a, paths, trusted_why_not):
    """latest-* follows the newest run that can be trusted: self-check passed,
    kernel log clean, no other VM on the host (or there is none yet)."""
    latest_md = os.path.join(a.results, "latest-%s.md" % a.kernel)
    if a.no_latest:
        return "latest-%s.* not touched (--no-latest)" % a.kernel
    if trusted_why_not and os.path.exists(latest_md):
        return "latest-%s.* left as they were: %s" % (a.kernel, ", ".join(trusted_why_not))
    for ext, src in zip(("json", "md", "png"), paths):
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(a.results, "latest-%s.%s" % (a.kernel, ext)))
        else:
            try:
                os.unlink(os.path.join(a.results, "latest-%s.%s" % (a.kernel, ext)))
            except FileNotFoundError:
                pass
    return None


def print_outcome(md, cond, paths, png_ok, latest_note, checks, instrument_ok, klog):
    """The markdown, then one line per check and the verdicts; the exit status."""
    jpath, mpath, ppath = paths
    kernel_log_ok = klog["ok"]
    print(md)
    if hl_warn(cond):
        print("bench: WARNING: %s" % hl_warn(cond))
    print("bench: results: %s, %s%s" % (jpath, mpath, (", " + ppath) if png_ok else " (no PNG)"))
    if latest_note:
        print("bench: " + latest_note)
    rc = 0
    for c in checks:
        print("bench: check %s: %s: %s" % ({True: "ok", False: "FAILED", None: "not run"}[c["ok"]],
                                          c["name"], c["detail"]))
    if not instrument_ok:
        for c in checks:
            if c["ok"] is False:
                print("INSTRUMENT CHECK FAILED: %s: %s" % (c["name"], c["detail"]))
        if not any(c["ok"] for c in checks):
            print("INSTRUMENT CHECK FAILED: no check could be evaluated")
        rc = 1
    else:
        print("bench: instrument self-check passed")
    if not kernel_log_ok:
        if not klog["dmesg"]:
            print("KERNEL LOG NOT CLEAN: no guest kernel log was collected")
        else:
            print("KERNEL LOG NOT CLEAN: %d suspicious lines, new taint %d; first: %s"
                  % (len(klog["hits"]), klog["taint_new"], klog["hits"][0] if klog["hits"] else "-"))
        rc = 1
    else:
        print("bench: guest kernel log clean (no WARNING/BUG/Oops/hung task, no new taint)")
    return rc


def main():
    a = parse_args()
    run = load_run(a.outdir)
    summary, memsum = summarize(run)
    ratios = compute_ratios(summary, run["workloads"])
    paired = paired_ratios(run["samples"], run["workloads"])
    checks = instrument_checks(run, summary, memsum)
    instrument_ok = all(c["ok"] is not False for c in checks) and any(c["ok"] for c in checks)
    klog = scan_kernel_log(a.outdir)
    cond = conditions(a, run)

    base = "%s-%s" % (a.kernel, a.date)
    os.makedirs(a.results, exist_ok=True)
    paths = jpath, mpath, ppath = [os.path.join(a.results, base + ext) for ext in (".json", ".md", ".png")]
    png_ok = make_chart(ppath, run["workloads"], run["modes"], summary, cond)
    md = render_md(a, cond, run["modes"], run["workloads"], summary, ratios, memsum, checks, instrument_ok,
                   klog["context"], klog["ok"], klog["taint_new"], klog["dmesg"], base, png_ok,
                   run["read_mib"], run["mem"], run["perf"], paired)
    doc = document(a, cond, instrument_ok, checks, klog, summary, ratios, memsum, run)
    doc["paired_ratios"] = paired
    if "aloop-release" in run["modes"]:
        doc["release_comparison"] = {"min": RELEASE_MIN,
                                     "workloads": release_comparison(run["workloads"], summary, ratios,
                                                                     paired)}
    with open(jpath, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")
    with open(mpath, "w") as f:
        f.write(md)
    why_not = [x for x, bad in (("instrument self-check failed", not instrument_ok),
                                ("kernel log not clean", not klog["ok"]),
                                ("another VM ran on the host", bool(hl_warn(cond)))) if bad]
    latest_note = update_latest(a, paths, why_not)
    return print_outcome(md, cond, paths, png_ok, latest_note, checks, instrument_ok, klog)


def document(a, cond, instrument_ok, checks, klog, summary, ratios, memsum, run):
    """The JSON of a run: every sample, the summaries, the checks."""
    samples, mem = run["samples"], run["mem"]
    kernel_log_ok, ts, te = klog["ok"], klog["taint_start"], klog["taint_end"]
    klog_hits, klog_ctx = klog["hits"], klog["context"]
    doc = {
        "kernel": a.kernel, "date": a.date, "conditions": cond,
        "instrument_ok": instrument_ok, "checks": checks,
        "kernel_log_ok": kernel_log_ok, "kernel_log_hits": klog_hits, "kernel_log_context": klog_ctx,
        "taint_start": ts, "taint_end": te,
        "summary": summary, "ratios": ratios, "memory": memsum, "seed": SEED,
        "samples": samples, "memory_samples": mem, "perf": run["perf"],
        "units": {"iops": "fio IOPS (read+write), median/min/max over repetitions",
                  "ctx_per_io": "delta of ctxt in /proc/stat over the fio run / completed I/Os",
                  "sys_us_per_io": "delta of the system column of the cpu line of /proc/stat "
                                   "(USER_HZ) in microseconds / completed I/Os (all CPUs)",
                  "busy_us_per_io": "user+nice+system+irq+softirq, same way",
                  "backing_resident_mib": "fincore --bytes of the backing file after a buffered "
                                          "read of mem_read_mib from the device (raw: the file)"},
    }
    return doc


def hl_warn(cond):
    hl = cond.get("host_load") or {}
    if hl.get("samples_with_other_qemu"):
        return ("another QEMU ran on the host during %d of %d samples of this run: numbers perturbed"
                % (hl["samples_with_other_qemu"], hl["samples"]))
    return ""


def render_md(a, cond, modes, workloads, summary, ratios, memsum, checks, instrument_ok,
              klog_ctx, kernel_log_ok, taint_new, have_dmesg, base, png_ok, read_mib, mem_samples,
              perf=(), paired=None):
    L = []
    p = L.append
    wdesc = dict(WORKLOADS)
    quick = " — QUICK run" if cond["quick"] else ""
    p("# aloop benchmark: %s, %s%s" % (a.kernel, a.date, quick))
    p("")
    p("Generated by `make bench` (bench/run.sh); how to read it: [bench/README.md](../README.md). "
      "Every sample is in `%s.json`." % base)
    p("")
    hl = cond.get("host_load") or {}
    if hl.get("samples_with_other_qemu"):
        p("**Warning: another QEMU ran on this host during %d of %d samples of this run (up to %d QEMU "
          "processes, load average up to %.1f): the numbers are perturbed.**"
          % (hl["samples_with_other_qemu"], hl["samples"], hl["max_qemu_processes"], hl["max_loadavg1"]))
        p("")
    p("**Instrument self-check: %s.** Guest kernel log: %s."
      % ("passed" if instrument_ok else "FAILED (numbers below are not trustworthy)",
         "clean" if kernel_log_ok else "**NOT CLEAN** (see the end)"))
    p("")

    def iops_cell(st):
        if not st:
            return "–"
        return "%s (%s–%s)" % (fmt_n(st["median"]), fmt_n(st["min"]), fmt_n(st["max"]))

    p("## IOPS — median (min–max) of %d repetitions" % cond["reps"])
    p("")
    p("| workload | " + " | ".join(modes) + " |")
    p("|---" * (len(modes) + 1) + "|")
    for w in workloads:
        p("| %s | " % w + " | ".join(iops_cell((summary[w].get(m) or {}).get("iops")) for m in modes) + " |")
    p("")
    if "aloop-release" in modes:
        render_release(p, cond, workloads, summary, ratios, paired)
    p("## Ratios of median IOPS (the figures that matter)")
    p("")
    cols = ["aloop-dio/raw", "aloop-dio/loop-dio", "aloop-dio/aloop-buf", "loop-dio/raw", "loop-buf/raw",
            "loop-dio/loop-buf", "aloop-dio1/raw", "aloop-dio/aloop-dio1", "aloop-dio/aloop-worker",
            "aloop-poll/raw"]
    if "aloop-release" in modes:
        cols += ["aloop-dio/aloop-release", "aloop-release/raw"]
    p("| workload | " + " | ".join(cols) + " |")
    p("|---" * (len(cols) + 1) + "|")
    for w in workloads:
        p("| %s | " % w + " | ".join(fmt_r(ratios[w][c]) for c in cols) + " |")
    p("")
    pcols = ["%s/%s" % ab for ab in PAIRED if "aloop-release" in modes or "aloop-release" not in ab]
    if paired and any(paired[w][c] for w in workloads for c in pcols):
        p("## Paired ratios — median (min–max) over repetitions of the ratio within each repetition")
        p("")
        p("| workload | " + " | ".join(pcols) + " |")
        p("|---" * (len(pcols) + 1) + "|")
        for w in workloads:
            p("| %s | " % w + " | ".join(
                "%s (%s–%s)" % (fmt_r(st["median"]), fmt_r(st["min"]), fmt_r(st["max"])) if st else "–"
                for st in (paired[w][c] for c in pcols)) + " |")
        p("")
    p("## Context switches per I/O — median (Δctxt of /proc/stat ÷ completed I/Os)")
    p("")
    p("| workload | " + " | ".join(modes) + " | aloop-dio/loop-dio |")
    p("|---" * (len(modes) + 2) + "|")
    for w in workloads:
        p("| %s | " % w + " | ".join(fmt_n(((summary[w].get(m) or {}).get("ctx_per_io") or {}).get("median"))
                                     for m in modes)
          + " | %s |" % fmt_r(ratios[w]["ctx aloop-dio/loop-dio"]))
    p("")
    p("## sys CPU per I/O, µs — median (Δ system ticks of /proc/stat, all vCPUs ÷ I/Os)")
    p("")
    p("| workload | " + " | ".join(modes) + " |")
    p("|---" * (len(modes) + 1) + "|")
    for w in workloads:
        p("| %s | " % w + " | ".join(fmt_n(((summary[w].get(m) or {}).get("sys_us_per_io") or {}).get("median"), 0)
                                     for m in modes) + " |")
    p("")
    im = [m for m in modes if any(med(summary, w, m, "reqs_per_wakeup") is not None for w in workloads)]
    if im:
        p("## Requests per worker wake-up — median (reqs_worker ÷ wakeups, per run)")
        p("")
        p("| workload | " + " | ".join(im) + " |")
        p("|---" * (len(im) + 1) + "|")
        for w in workloads:
            p("| %s | " % w + " | ".join(fmt_n(med(summary, w, m, "reqs_per_wakeup"), 1) for m in im) + " |")
        p("")
    if perf:
        render_perf(p, perf)
    p("## Memory after a %d MiB buffered sequential read of the device (dd, caches dropped before)" % read_mib)
    p("")
    shm = statistics.median([s["meminfo_after_kb"].get("Shmem") or 0 for s in mem_samples]) / 1024.0 \
        if mem_samples else 0
    p("Medians. *Backing file cached*: `fincore --bytes` of the backing file. raw reads the backing "
      "file itself (buffered), so its one copy is the backing file's. Buffers is the device's page "
      "cache (the device is held open: its last close would drop it). Cached includes %.0f MiB of "
      "tmpfs (Shmem: the guest's copy of fio and its libraries); compare the Δ columns." % shm)
    p("")
    p("| mode | backing file cached MiB | ΔBuffers MiB | ΔCached MiB | Buffers after MiB | Cached after MiB |")
    p("|---|---|---|---|---|---|")
    for m in modes:
        ms = memsum.get(m)
        if not ms:
            continue

        def mm(k):
            return fmt_n((ms.get(k) or {}).get("median"), 1)
        p("| %s | %s | %s | %s | %s | %s |" % (m, mm("backing_resident_mib"), mm("d_buffers_mib"),
                                               mm("d_cached_mib"), mm("buffers_after_mib"),
                                               mm("cached_after_mib")))
    p("")
    p("## Against the seed's own table (seeds/000, 2015)")
    p("")
    p("Seed: %s. Its \"dio/buffered\" is base+loop aio ÷ base. Ours: the same harness scaled to the "
      "guest (4 psync jobs in ext4 on the device), dio ÷ buffered of the same driver." % SEED["source"])
    p("")
    p("| harness workload | seed base | seed base+aio | seed dio/buffered | loop-dio/loop-buf (ours) "
      "| aloop-dio/aloop-buf (ours) | aloop-dio/raw (ours) |")
    p("|---|---|---|---|---|---|---|")
    for w in ("fs-randread", "fs-read", "fs-randwrite", "fs-write"):
        b, d = SEED["iops"][w]
        r = ratios.get(w, {})
        p("| %s | %d | %d | %.2f | %s | %s | %s |" % (w, b, d, d / b, fmt_r(r.get("loop-dio/loop-buf")),
                                                     fmt_r(r.get("aloop-dio/aloop-buf")),
                                                     fmt_r(r.get("aloop-dio/raw"))))
    p("")
    p("| harness workload | seed ctx dio/buffered | loop-dio/loop-buf ctx (ours) | aloop-dio/aloop-buf ctx (ours) |")
    p("|---|---|---|---|")
    for w in ("fs-randread", "fs-read", "fs-randwrite", "fs-write"):
        r = ratios.get(w, {})
        p("| %s | ~0.5 (\"decreased by ~50%%\", all runs) | %s | %s |"
          % (w, fmt_r(r.get("ctx loop-dio/loop-buf")), fmt_r(r.get("ctx aloop-dio/aloop-buf"))))
    p("")

    def mcell(m, k):
        ms = memsum.get(m)
        return fmt_n(((ms or {}).get(k) or {}).get("median"), 0) if ms else "–"
    mm_modes = [m for m in ("loop-buf", "loop-dio", "aloop-buf", "aloop-dio") if m in memsum]
    p("| MiB | seed buffered | seed dio | " + " | ".join("%s (ours)" % m for m in mm_modes) + " |")
    p("|---" * (3 + len(mm_modes)) + "|")
    p("| Buffers | > 760 | < 5 | " + " | ".join(mcell(m, "buffers_after_mib") for m in mm_modes) + " |")
    p("| Cached | ~950 | ~1600 | " + " | ".join(mcell(m, "cached_after_mib") for m in mm_modes) + " |")
    p("| backing file cached | | | " + " | ".join(mcell(m, "backing_resident_mib") for m in mm_modes) + " |")
    p("")
    p("The seed's memory figures come from its fio run filling 2 GB of RAM; ours from one %d MiB read. "
      "What should match is the shape: with dio the backing file is not cached a second time." % read_mib)
    p("")
    p("## Conditions")
    p("")
    p("- **%s** (QEMU %s, no KVM): %d vCPUs, %s guest RAM (MemTotal %d MiB); host: %s, %s CPUs; "
      "host disk cache=%s." % (cond["accel"], (cond["qemu"] or "?").replace("QEMU emulator version ", ""),
                               cond["vcpus"], cond["vm_mem"], cond["guest_mem_total_mib"],
                               cond["host_cpu"], cond["host_cpus"], cond["host_disk_cache"]))
    if hl.get("samples"):
        p("- Host during the run: %d load samples, %d with another QEMU running (max %d QEMU processes, "
          "max load average %.1f on %s CPUs)." % (hl["samples"], hl["samples_with_other_qemu"],
                                                  hl["max_qemu_processes"], hl["max_loadavg1"],
                                                  cond["host_cpus"]))
    p("- Guest clocksource: %s (BENCH_CLOCK; under TCG every HPET read is an emulated MMIO access)."
      % cond["clocksource"])
    p("- Guest kernel %s; %s; aloop %s (dio=%s); tree %s." % (cond["kernel"], cond["fio"],
                                                             cond["aloop_version"], cond["aloop_dio_param"],
                                                             cond["git"] or "?"))
    if cond.get("release"):
        p("- aloop-release: %s, aloop %s, srcversion %s (this tree's module: %s)."
          % (cond["release"]["rev"], cond["release"]["version"], cond["release"]["srcversion"],
             cond["release"]["current_srcversion"]))
    p("- Backing: one %d MiB file on %s, pre-filled by a %s; the same file for every mode in one boot. "
      "Sparse case: a fresh %d MiB sparse file per run." % (cond["file_mib"], cond["backing"],
                                                            cond["prefill"], cond["sparse_mib"]))
    wk = cond["work_per_run"]
    p("- Work per run (fixed, not time based): QD16 %d × 4k I/Os per job; psync %d per job; fast backing "
      "%s per job; sparse %d per job; harness %d MiB file per job, random runs %d MiB per job. Caches "
      "dropped before each run; writes end with fsync."
      % (wk["dev_qd16_ios_per_job"], wk["dev_psync_ios_per_job"],
         wk.get("fast_ios_per_job") or "as QD16/psync",
                                  wk["sparse_ios_per_job"], wk["fs_file_mib_per_job"],
                                  wk["fs_random_io_mib_per_job"]))
    p("- %d repetitions, modes interleaved (ABAB…, order rotated each repetition)%s; whole run %s s."
      % (cond["reps"], ", **QUICK**: too few repetitions for firm conclusions" if cond["quick"] else "",
         cond["bench_seconds"]))
    p("- **Absolute IOPS under TCG are not comparable with hardware**: every guest instruction is "
      "emulated, so CPU-bound paths are 10–100× slower than on a real machine while the host disk is "
      "not. Only ratios between modes measured in the same boot mean something, and even those are "
      "skewed towards CPU cost.")
    p("")
    p("## Instrument self-check")
    p("")
    for c in checks:
        p("- %s **%s**: %s" % ({True: "✔", False: "✘", None: "–"}[c["ok"]], c["name"], c["detail"]))
    p("")
    if png_ok:
        p("![IOPS and context switches per I/O](%s.png)" % base)
        p("")
    p("## Guest kernel log")
    p("")
    if not have_dmesg:
        p("No kernel log was collected.")
    elif kernel_log_ok:
        p("Clean: no WARNING:/BUG:/Oops/hung task lines, no new taint.")
    else:
        p("**Not clean** (new taint flags %d). Lines with context:" % taint_new)
        p("")
        p("```")
        L.extend(klog_ctx)
        p("```")
    p("")
    p("Workloads: " + "; ".join("`%s` %s" % (w, wdesc[w]) for w in workloads) + ".")
    p("")
    return "\n".join(L)


def release_comparison(workloads, summary, ratios, paired):
    """Issue 19's acceptance: per workload, aloop-dio / aloop-release paired
    within each repetition, median over the repetitions, against 0.95."""
    rows = {}
    for w in workloads:
        st = (paired or {}).get(w, {}).get("aloop-dio/aloop-release")
        if not st and ratios[w].get("aloop-dio/aloop-release") is None:
            continue
        rows[w] = {
            "aloop_dio_iops": med(summary, w, "aloop-dio"),
            "aloop_release_iops": med(summary, w, "aloop-release"),
            "paired": st,
            "ratio_of_medians": ratios[w].get("aloop-dio/aloop-release"),
            "ok": None if not st else st["median"] >= RELEASE_MIN,
            "release_inline_share": med(summary, w, "aloop-release", "inline_share"),
            "ctx_per_io": [med(summary, w, "aloop-dio", "ctx_per_io"),
                           med(summary, w, "aloop-release", "ctx_per_io")],
        }
    return rows


def render_release(p, cond, workloads, summary, ratios, paired):
    """The table of aloop-dio against today's release (aloop-release)."""
    rows = release_comparison(workloads, summary, ratios, paired)
    rel = cond.get("release") or {}
    p("## Against today's release: aloop-dio / aloop-release (issue 19: no workload below %.2f×)"
      % RELEASE_MIN)
    p("")
    p("aloop-release is aloop-dio with the module and aloopctl of %s (module srcversion %s; this "
      "tree's: %s), swapped in and out in the same boot. The verdict reads the **paired** ratio: "
      "aloop-dio ÷ aloop-release within each repetition, median over the repetitions."
      % (rel.get("rev") or "?", rel.get("srcversion") or "?", rel.get("current_srcversion") or "?"))
    p("")
    p("| workload | aloop-dio IOPS | aloop-release IOPS | paired ratio, median (min–max) | pairs "
      "| ratio of medians | ≥ %.2f | ctx/IO dio / release | release: share inline |" % RELEASE_MIN)
    p("|---|---|---|---|---|---|---|---|---|")
    for w, r in rows.items():
        st = r["paired"]
        p("| %s | %s | %s | %s | %d | %s | %s | %s / %s | %s |" % (
            w, fmt_n(r["aloop_dio_iops"]), fmt_n(r["aloop_release_iops"]),
            "%s (%s–%s)" % (fmt_r(st["median"]), fmt_r(st["min"]), fmt_r(st["max"])) if st else "–",
            st["n"] if st else 0, fmt_r(r["ratio_of_medians"]),
            {True: "yes", False: "**NO**", None: "–"}[r["ok"]],
            fmt_n(r["ctx_per_io"][0]), fmt_n(r["ctx_per_io"][1]),
            "–" if r["release_inline_share"] is None else "%.0f%%" % (100 * r["release_inline_share"])))
    p("")
    judged = {w: r for w, r in rows.items() if r["ok"] is not None}
    below = ["%s %.2f" % (w, r["paired"]["median"]) for w, r in judged.items() if not r["ok"]]
    if not judged:
        p("No paired sample: no verdict.")
    elif below:
        p("**Below %.2f× the release: %s** (%d of %d workloads)." % (RELEASE_MIN, ", ".join(below),
                                                                     len(below), len(judged)))
    else:
        lo = min(judged, key=lambda w: judged[w]["paired"]["median"])
        p("Every workload at ≥ %.2f× the release (lowest: %s, %.2f)."
          % (RELEASE_MIN, lo, judged[lo]["paired"]["median"]))
    npairs = min([r["paired"]["n"] for r in judged.values()], default=0)
    if judged and npairs < 5:
        p("")
        p("Fewer than 5 pairs per workload (%d): indicative only; the acceptance asks for medians of ≥ 5."
          % npairs)
    p("")


def render_perf(p, perf):
    """BENCH_PERF: where the CPU time of an I/O goes, by layer."""
    pm = [r["mode"] for r in perf]
    p("## Where the time goes — fast-randread-qd16 under `perf record -a -g` (BENCH_PERF=1)")
    p("")
    p("One more run per mode after the repetitions, cpu-clock sampling on every vCPU. CPU µs per I/O: "
      "samples × (1/frequency) ÷ I/Os; a layer is the *children* time of its function (itself and "
      "everything it called), so layers nest and do not add up. Busy = all samples but the idle loop's.")
    p("")
    p("| µs per I/O | " + " | ".join(pm) + " |")
    p("|---" * (len(pm) + 1) + "|")
    p("| IOPS of this run | " + " | ".join(fmt_n(r.get("iops")) for r in perf) + " |")
    p("| **CPU busy** | " + " | ".join(fmt_n(r.get("busy_us_per_io"), 1) for r in perf) + " |")
    for name, _ in PERF_LAYERS:
        if not any(name in r["layers"] for r in perf):
            continue
        p("| %s | " % name + " | ".join(fmt_n(r["layers"].get(name), 1) for r in perf) + " |")
    bad = ["%s: %s" % (r["mode"], r["error"]) for r in perf if r.get("error")]
    if bad:
        p("")
        p("Not profiled: " + "; ".join(bad) + ".")
    p("")


def make_chart(ppath, workloads, modes, summary, cond):
    if not shutil.which("gnuplot") or not workloads or not modes:
        return False
    tmp = tempfile.mkdtemp(prefix="aloop-bench-")
    try:
        dat = os.path.join(tmp, "d.dat")
        with open(dat, "w") as f:
            for k in ("iops", "ctx_per_io"):
                f.write("# %s\n" % k)
                for w in workloads:
                    row = ['"%s"' % w]
                    for m in modes:
                        st = (summary[w].get(m) or {}).get(k)
                        if st:
                            row += ["%g" % max(st["median"], 1e-3), "%g" % max(st["min"], 1e-3),
                                    "%g" % max(st["max"], 1e-3)]
                        else:
                            row += ["NaN", "NaN", "NaN"]
                    f.write(" ".join(row) + "\n")
                f.write("\n\n")
        title = "aloop bench, %s, %s %d vCPU %s, %d reps%s" % (
            cond["kernel"], cond["accel"], cond["vcpus"], cond["vm_mem"], cond["reps"],
            " (QUICK)" if cond["quick"] else "")
        plots = []
        for i, m in enumerate(modes):
            c = 2 + 3 * i
            plots.append("'%s' index IDX using %d:%d:%d:xtic(1) title '%s'" % (dat, c, c + 1, c + 2, m))
        gp = os.path.join(tmp, "c.gp")
        with open(gp, "w") as f:
            f.write("""set terminal pngcairo size 1400,1000 font ',10'
set output '%s'
set multiplot layout 2,1 title '%s'
set style data histogram
set style histogram errorbars gap 1 lw 1
set style fill solid 0.8 border -1
set logscale y
set grid ytics
set key outside right top
set xtics rotate by -20 scale 0
set ylabel 'IOPS (median, min-max)'
set title 'IOPS per workload and mode (log scale; TCG, not comparable with hardware)'
plot %s
set ylabel 'context switches per I/O'
set title 'context switches per I/O (delta ctxt / I/Os, log scale)'
plot %s
unset multiplot
""" % (ppath, title, ", ".join(p.replace("IDX", "0") for p in plots),
                ", ".join(p.replace("IDX", "1") for p in plots)))
        r = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
        if r.returncode != 0 or not os.path.exists(ppath):
            sys.stderr.write("bench: gnuplot failed: %s\n" % r.stderr[-1000:])
            return False
        return True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
