#!/usr/bin/env python3
"""Helper of bench/latency.sh (stdlib only).

latency:    runs `logbus run` on tail -> parse-syslog -> fail2ban (dry-run,
            rules [sshd]) -> bans on stdout; appends `Invalid user` lines for
            distinct addresses at a steady rate (each is an immediate ban),
            notes the time just before each append and the time each ban
            decision is read from logbus's stdout, matched by address.
            Prints one JSON object: n, missing, p50/p99/max in ms.
throughput: times N lines through `tail` (appended in one go to a followed
            file: from the start of the append to the last line on stdout)
            or through the read-once `file` input (from process start).
            Prints one JSON object: seconds, lines_per_s.
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time


def follow_stderr(proc, ready_text, ready, sink):
    """Drains logbus's stderr; sets `ready` once `ready_text` appears."""
    for raw in proc.stderr:
        line = raw.decode("utf-8", "replace")
        sink.append(line)
        if ready_text in line:
            ready.set()


def start(binary, config, ready_text):
    proc = subprocess.Popen(
        [binary, "run", config], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    ready, log = threading.Event(), []
    threading.Thread(
        target=follow_stderr, args=(proc, ready_text, ready, log), daemon=True
    ).start()
    if not ready.wait(30):
        proc.kill()
        sys.exit("logbus did not start following in 30 s:\n" + "".join(log))
    return proc, log


def peak_rss_mib(proc):
    """Peak resident memory of a live process (VmHWM), in MiB."""
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def stop(proc):
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def percentile(sorted_values, p):
    """Nearest-rank percentile."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def latency(args):
    work = tempfile.mkdtemp(prefix="latency.", dir=args.work)
    try:
        log = os.path.join(work, "auth.log")
        open(log, "w").close()
        config = os.path.join(work, "pipeline.yml")
        with open(config, "w") as f:
            f.write(
                f"""state_path: {work}/state.db
stats_interval: 1h
pipeline:
  auth: {{module: tail, paths: [{log}]}}
  syslog: {{module: parse-syslog, inChannels: [auth]}}
  ban:
    module: fail2ban
    inChannels: [syslog]
    rules: [sshd]
    backend: {{type: dry-run}}
    bansChannel: bans
  bans-out: {{module: stdout, inChannels: [bans]}}
"""
            )
        proc, stderr = start(args.bin, config, "following " + log)
        appended, arrived = {}, {}
        done = threading.Event()

        def read_bans():
            for raw in proc.stdout:
                t = time.monotonic_ns()
                try:
                    ev = json.loads(raw)
                except ValueError:
                    continue
                if ev.get("event", {}).get("action") == "ban":
                    ip = ev.get("client", {}).get("ip")
                    arrived.setdefault(ip, t)
                    if len(arrived) >= args.bans:
                        done.set()

        reader = threading.Thread(target=read_bans, daemon=True)
        reader.start()
        fd = os.open(log, os.O_WRONLY | os.O_APPEND)
        t0 = time.monotonic()
        for i in range(args.bans):
            due = t0 + i / args.rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            # 198.18.0.0/15 (benchmarking range): distinct, never allow-listed.
            ip = f"198.18.{i // 250}.{i % 250 + 1}"
            stamp = datetime.datetime.now(datetime.timezone.utc).isoformat()
            line = f"{stamp} srv sshd[{1000 + i}]: Invalid user u{i} from {ip} port 22\n"
            appended[ip] = time.monotonic_ns()
            os.write(fd, line.encode())
        os.close(fd)
        done.wait(30)
        rss = peak_rss_mib(proc)
        stop(proc)
        lat = sorted((arrived[ip] - t) / 1e6 for ip, t in appended.items() if ip in arrived)
        print(
            json.dumps(
                {
                    "n": len(lat),
                    "missing": len(appended) - len(lat),
                    "p50_ms": round(percentile(lat, 50), 3),
                    "p99_ms": round(percentile(lat, 99), 3),
                    "max_ms": round(lat[-1], 3) if lat else None,
                    "peak_rss_mib": rss,
                }
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def count_lines(stream, want, on_done):
    """Counts newlines on `stream` (in large chunks: C speed) until `want`."""
    seen = 0
    while seen < want:
        chunk = stream.read1(1 << 20)
        if not chunk:
            break
        seen += chunk.count(b"\n")
    on_done(seen, time.monotonic())
    # Keep draining so that logbus never blocks on a full pipe.
    while stream.read1(1 << 20):
        pass


def throughput(args):
    work = tempfile.mkdtemp(prefix="throughput.", dir=args.work)
    try:
        config = os.path.join(work, "pipeline.yml")
        followed = os.path.join(work, "followed.log")
        if args.mode == "tail":
            open(followed, "w").close()
            source = f"{{module: tail, paths: [{followed}]}}"
        else:
            source = f"{{module: file, paths: [{args.src}]}}"
        with open(config, "w") as f:
            f.write(
                f"""state_path: {work}/state.db
stats_interval: 1h
pipeline:
  in: {source}
  out: {{module: stdout, inChannels: [in]}}
"""
            )
        result = {}
        finished = threading.Event()

        def on_done(seen, t):
            result["seen"], result["t1"] = seen, t
            finished.set()

        if args.mode == "tail":
            proc, _ = start(args.bin, config, "following " + followed)
            threading.Thread(
                target=count_lines, args=(proc.stdout, args.lines, on_done), daemon=True
            ).start()
            t0 = time.monotonic()
            # Appended in one go, as `cat big.log >> followed.log` would.
            with open(args.src, "rb") as src, open(followed, "ab") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            appended = time.monotonic() - t0
        else:
            t0 = time.monotonic()
            proc = subprocess.Popen(
                [args.bin, "-q", "run", config],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            threading.Thread(
                target=count_lines, args=(proc.stdout, args.lines, on_done), daemon=True
            ).start()
            appended = 0.0
        finished.wait(600)
        rss = peak_rss_mib(proc)
        stop(proc)
        if result.get("seen", 0) < args.lines:
            sys.exit(f"only {result.get('seen', 0)} of {args.lines} lines arrived")
        secs = result["t1"] - t0
        print(
            json.dumps(
                {
                    "seconds": round(secs, 3),
                    "lines_per_s": round(args.lines / secs),
                    "append_s": round(appended, 3),
                    "peak_rss_mib": rss,
                }
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--bin", required=True)
    lat.add_argument("--work", default=None)
    lat.add_argument("--rate", type=float, default=200)
    lat.add_argument("--bans", type=int, default=2000)
    thr = sub.add_parser("throughput")
    thr.add_argument("--bin", required=True)
    thr.add_argument("--work", default=None)
    thr.add_argument("--src", required=True)
    thr.add_argument("--lines", type=int, required=True)
    thr.add_argument("--mode", choices=["tail", "file"], default="tail")
    args = ap.parse_args()
    {"latency": latency, "throughput": throughput}[args.cmd](args)


if __name__ == "__main__":
    main()
