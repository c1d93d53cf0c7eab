#!/usr/bin/env python3
"""Resume after a crash: is finishing an interrupted first index cheaper than starting afresh?

    scripts/resume-after-kill.py VAULT [--runs 3] [--kill-at 0.5] [--bin target/release/deepvault]

For each run: (fresh) `deepvault serve` on an empty index folder, time to /readyz 200; (resume)
`serve` on another empty index folder, SIGKILL once /readyz reports that --kill-at of the vault
is committed, then `serve` again, time from the restart to /readyz 200. A restart must resume:
its time should be about (1 - kill-at) of the fresh one, never more than the fresh time.
Prints the medians and their ratio as JSON. Make a vault with `scripts/gen-vault.py`.
"""

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_http import Server, percentile  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readyz(server):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/readyz", timeout=5) as r:
            return json.load(r)
    except urllib.error.HTTPError as err:
        return json.load(err)
    except OSError:
        return {}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vault")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kill-at", type=float, default=0.5)
    parser.add_argument("--bin", default=os.environ.get("DEEPVAULT_BIN", os.path.join(ROOT, "target/release/deepvault")))
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="dv-resume-")
    fresh, resumed, killed_at = [], [], []
    try:
        for run in range(args.runs):
            index = os.path.join(work, f"fresh-{run}")
            os.mkdir(index)
            server = Server(args.bin, args.vault, index)
            fresh.append(server.wait_ready())
            server.stop()
            shutil.rmtree(index, ignore_errors=True)  # a 120k-note index is ~0.6 GB

            index = os.path.join(work, f"resume-{run}")
            os.mkdir(index)
            server = Server(args.bin, args.vault, index)
            while True:
                status = readyz(server)
                total = (status.get("progress") or {}).get("total") or 0
                if status.get("ready"):
                    sys.exit("the first index finished before the kill: use a larger vault")
                if total and status.get("notes", 0) >= args.kill_at * total:
                    killed_at.append(status["notes"] / total)
                    break
                time.sleep(0.01)
            server.process.send_signal(signal.SIGKILL)
            server.process.wait()
            server.log.close()
            server = Server(args.bin, args.vault, index)
            resumed.append(server.wait_ready())
            server.stop()
            shutil.rmtree(index, ignore_errors=True)
            print(f"run {run + 1}: fresh {fresh[-1]:.2f} s, resume {resumed[-1]:.2f} s "
                  f"(killed with {killed_at[-1]:.0%} committed)", file=sys.stderr)
        figures = {
            "vault": os.path.basename(os.path.abspath(args.vault)),
            "runs": args.runs,
            "fresh_median_s": round(percentile(fresh, 50), 2),
            "resume_median_s": round(percentile(resumed, 50), 2),
            "committed_at_kill_median": round(percentile(killed_at, 50), 2),
            "resume_over_fresh": round(percentile(resumed, 50) / percentile(fresh, 50), 3),
        }
        print(json.dumps(figures))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
