#!/usr/bin/python3
"""Does BDAT (RFC 3030) towards the next hop pay?  Prints a table.

submitd delivers the same queued messages to a real Postfix next hop twice:
once with Postfix offering CHUNKING (submitd sends each message as one
"BDAT n LAST" chunk, no dot-stuffing, no 354 to wait for) and once with
"smtpd_discard_ehlo_keywords = chunking" (DATA, dot-stuffed).  The messages
are submitted while the next hop is down, so that only delivery is timed:
from "submitctl flush" until the log says every recipient was sent.

    bench/chunking.py [--submitd build/submitd] [--count N] [--sizes 4096,1048576]

Run as root on Debian 12 with the test dependencies (./install-deps.sh
test) and a built tree; it uses the test harness (tests/integration) and
removes what it made.  Not part of "make check": figures, not assertions.
"""

import argparse
import os
import re
import smtplib
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness as h  # noqa: E402
import peers  # noqa: E402


def submit(env, count, size):
    body = (b"x" * 76 + b"\r\n") * max(1, size // 78)
    msg = (b"From: " + h.USER.encode() + b"\r\nTo: bob@pf.test\r\n"
           b"Subject: bench\r\n\r\n" + body)
    s = smtplib.SMTP("127.0.0.1", env.port, timeout=30)
    s.starttls(context=h.client_context())
    s.login(h.USER, h.PASSWORD)
    for _ in range(count):
        s.sendmail(h.USER, ["bob@pf.test"], msg)
    s.quit()
    return len(msg)


def cpu_seconds(pid):
    """User + system CPU of a process so far (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(binary, chunking, count, size):
    env = h.Env(queue={"retry_min": 3600, "retry_max": 3600,
                       "messages_per_connection": 100})
    pf = peers.Postfix(env.cert, env.key, ["pf.test"],
                       extra="" if chunking else
                       "smtpd_discard_ehlo_keywords = chunking")
    env.update_config(**{'route "pf.test"': {"host": pf.address, "tls": "may"}})
    d = h.Daemon(env, binary=binary).start()
    try:
        octets = submit(env, count, size)
        h.wait_until(lambda: len(re.findall(r"event=deferred",
                                            d.full_log())) >= count, 120)
        pf.start()
        cpu = cpu_seconds(d.pid)
        start = time.monotonic()
        h.submitctl(env, "flush")
        done = h.wait_until(lambda: len(re.findall(r"result=sent",
                                                   d.full_log())) >= count, 600)
        elapsed = time.monotonic() - start
        cpu = cpu_seconds(d.pid) - cpu
        used = "BDAT" if "bdat=" in pf.log() else "DATA"
        if not done:
            raise SystemExit("not all delivered: %s" % d.log()[-2000:])
        return used, elapsed, cpu, octets
    finally:
        d.stop()
        pf.stop()
        env.remove()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--submitd", default=None)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--sizes", default="4096,1048576")
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    binary = a.submitd or h.daemon_binary()
    print("submitd %s, Postfix %s as the next hop, %d messages per run" % (
        binary, os.popen("postconf -d -h mail_version").read().strip(), a.count))
    print("%-10s %-6s %9s %9s %9s %14s" % ("size", "verb", "seconds",
                                           "msg/s", "MB/s", "submitd CPU s"))
    for size in (int(x) for x in a.sizes.split(",")):
        for _ in range(a.repeat):
            for chunking in (False, True):
                used, t, cpu, octets = run(binary, chunking, a.count, size)
                print("%-10d %-6s %9.2f %9.1f %9.1f %14.2f" % (
                    size, used, t, a.count / t, a.count * octets / t / 1e6,
                    cpu), flush=True)


if __name__ == "__main__":
    main()
