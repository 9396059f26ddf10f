#!/usr/bin/env python3
"""bench/spool_candidates.py - three ways to make messages durable, timed
on this machine's disk (the choice behind src/journal.c).

    bench/spool_candidates.py [--dir DIR] [--messages N] [--batch B] [--size S]

Each candidate stores N messages of S octets, B at a time (B clients
committing together), and prints messages/s and syncs per message:

  files    a file per message: write, fsync, rename into place, fsync the
           directory once per batch (submitd before the journal, with its
           group commit of the directory);
  journal  one append-only segment: the batch appended, one fdatasync
           (submitd's journal; the files it also writes are synced only at
           checkpoints, not counted here);
  sqlite   SQLite in WAL mode, synchronous=FULL, one transaction per batch
           (a well-kept embedded engine with group commit).

Python's own cost is the same for all three and small next to a sync.
"""
import argparse
import os
import shutil
import sqlite3
import tempfile
import time


def files(d, n, batch, body):
    q = os.path.join(d, "queue")
    t = os.path.join(d, "tmp")
    os.makedirs(q)
    os.makedirs(t)
    qfd = os.open(q, os.O_RDONLY | os.O_DIRECTORY)
    syncs = 0
    for i in range(0, n, batch):
        for k in range(i, min(i + batch, n)):
            p = os.path.join(t, "%020d" % k)
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, body)
            os.fsync(fd)
            os.close(fd)
            os.rename(p, os.path.join(q, "%020d" % k))
            syncs += 1
        os.fsync(qfd)
        syncs += 1
    os.close(qfd)
    return syncs


def journal(d, n, batch, body):
    fd = os.open(os.path.join(d, "segment"), os.O_WRONLY | os.O_CREAT, 0o600)
    syncs = 0
    off = 0
    for i in range(0, n, batch):
        for k in range(i, min(i + batch, n)):
            off += os.pwrite(fd, b"%048d" % k + body, off)
        os.fdatasync(fd)
        syncs += 1
    os.close(fd)
    return syncs


def sqlite(d, n, batch, body):
    db = sqlite3.connect(os.path.join(d, "queue.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, body BLOB)")
    syncs = 0
    for i in range(0, n, batch):
        db.execute("BEGIN")
        for k in range(i, min(i + batch, n)):
            db.execute("INSERT INTO m VALUES (?, ?)", (k, body))
        db.execute("COMMIT")
        syncs += 1      # the WAL's fsync at commit (checkpoints add more)
    db.close()
    return syncs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--size", type=int, default=4096)
    a = ap.parse_args()
    body = os.urandom(a.size // 2).hex().encode()[:a.size]
    print("%d messages of %d octets, %d per batch, in %s (sqlite %s)"
          % (a.messages, a.size, a.batch, a.dir, sqlite3.sqlite_version))
    print("%-8s %12s %16s" % ("", "messages/s", "syncs/message"))
    for name, fn in (("files", files), ("journal", journal),
                     ("sqlite", sqlite)):
        d = tempfile.mkdtemp(prefix="spool-cand-", dir=a.dir)
        try:
            t0 = time.monotonic()
            syncs = fn(d, a.messages, a.batch, body)
            dt = time.monotonic() - t0
        finally:
            shutil.rmtree(d)
        print("%-8s %12.0f %16.2f" % (name, a.messages / dt,
                                      syncs / a.messages))


if __name__ == "__main__":
    main()
