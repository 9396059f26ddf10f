#!/usr/bin/env python3
"""submitd under faults, with a real next hop (peers.Peer, aiosmtpd) and
real clients over STARTTLS + AUTH:

  Kill9UnderLoadTest   six clients submit without pause while submitd is
                       killed with SIGKILL three times and restarted: no
                       acknowledged message is lost, and the only messages
                       the next hop gets twice are those that were in
                       flight on a connection open at a kill.
  FullSpoolTest        the spool is a 2 MiB tmpfs and the next hop is down:
                       once it is full, submitd answers 452 4.3.1; what it
                       acknowledged is intact in the queue and delivered
                       once the next hop is up; with space back it accepts
                       mail again.

Each test prints its figures (accepted, arrivals, repeats, ...).  Run by
`make check` as `$(PYTHON3) tests/integration/test_faults.py` with
top_builddir/top_srcdir set; SUBMITD names the daemon otherwise (see
harness.daemon_binary).  Needs root for the tmpfs (that test is skipped
when mount fails).  aiosmtpd comes from Debian's python3-aiosmtpd, which
loads in /usr/bin/python3 only: another interpreter re-executes this file
with it.  Exit 0: all passed; 1: a failure; 77: aiosmtpd is missing.
KEEP_TMP=1 keeps the temporary directories (config, log, spool).
"""

import collections
import os
import random
import re
import ssl
import subprocess
import sys
import threading
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness as h  # noqa: E402

h.require_modules("aiosmtpd")

import peers  # noqa: E402

OPTIONAL_TOOLS = ()
USER = h.USER
RCPT = h.RCPT

# The load must not run into the per-login and per-address limits.
NO_RATE_LIMITS = {"messages_per_hour": 0, "recipients_per_hour": 0,
                  "connection_rate": 0, "connections_per_ip": 1000}

SUBJECT_TOKEN = re.compile(rb"\r\nSubject: submitd test (\S+)\r\n")

# What the load's clients may meet when the daemon dies under them.
CONNECTION_ERRORS = (OSError, h.ConnectionClosed, TimeoutError, ssl.SSLError,
                     AssertionError, ValueError)


def token_of(data):
    """The token in a message's Subject (harness.make_message), or None."""
    m = SUBJECT_TOKEN.search(b"\r\n" + data)
    return m.group(1).decode() if m else None


def body_of(data):
    return data.partition(b"\r\n\r\n")[2]


def arrival_counts(peer):
    """{token: number of arrivals at peer}."""
    return collections.Counter(token_of(a.data) for a in list(peer.arrivals))


class Load:
    """nclients threads, each on one STARTTLS + AUTH connection (a new one
    when the old breaks), submitting harness.make_message(token) messages
    one after the other.  A token is accepted only when its client read
    "250 2.0.0 ... queued as ID" for it."""

    def __init__(self, port, nclients=6):
        self.port = port
        self.nclients = nclients
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.attempted = set()
        self.accepted = {}                      # token -> queue id
        self.refusals = collections.Counter()   # replies other than 250
        self.reconnects = 0
        self.threads = []
        self.prefix = uuid.uuid4().hex[:6]

    def start(self):
        for n in range(self.nclients):
            t = threading.Thread(target=self._client, args=(n,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self, timeout=30):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout)
        return not any(t.is_alive() for t in self.threads)

    def naccepted(self):
        with self.lock:
            return len(self.accepted)

    def _refused(self, where, r):
        with self.lock:
            self.refusals["%s: %s" % (where, r.lines[0] if r.lines else r)] += 1

    def _client(self, n):
        c = None
        seq = 0
        while not self.stopping.is_set():
            try:
                if c is None:
                    c = h.connect_authenticated(self.port, timeout=10)
                seq += 1
                token = "%s-%d-%06d" % (self.prefix, n, seq)
                r = c.cmd("MAIL FROM:<%s>" % USER)
                if r.code != 250:
                    self._refused("MAIL", r)
                    c.cmd("RSET")
                    continue
                r = c.cmd("RCPT TO:<%s>" % RCPT)
                if r.code != 250:
                    self._refused("RCPT", r)
                    c.cmd("RSET")
                    continue
                r = c.cmd("DATA")
                if r.code != 354:
                    self._refused("DATA", r)
                    c.cmd("RSET")
                    continue
                with self.lock:
                    self.attempted.add(token)
                c.send(h.dot_stuff(h.make_message(token)))
                r = c.reply(timeout=20)
                qid = h.queued_id(str(r))
                if r.code == 250 and qid:
                    with self.lock:
                        self.accepted[token] = qid
                else:
                    self._refused("end of DATA", r)
            except CONNECTION_ERRORS:
                if c is not None:
                    c.close()
                    c = None
                    with self.lock:
                        self.reconnects += 1
                self.stopping.wait(0.05)    # the daemon may be down
        if c is not None:
            try:
                c.cmd("QUIT", timeout=2)
            except CONNECTION_ERRORS:
                pass
            c.close()


class FaultTestCase(h.DaemonTestCase):

    def ctl(self, *args):
        p = h.submitctl(self.env, *args)
        self.assertEqual(p.returncode, 0, "submitctl %s: %s%s"
                         % (" ".join(args), p.stderr, self.log_tail()))
        return p.stdout

    def queue_ids(self):
        """Queue ids with a queue/ or state/ file (state/ID.new, the
        temporary name of a state file being replaced, is not one)."""
        return sorted(set(h.queue_files(self.env.spool)) |
                      {n for n in h.queue_files(self.env.spool, "state")
                       if "." not in n})

    def queue_empty(self):
        return not self.queue_ids()

    def leftovers(self):
        """Files in tmp/ and state/ that belong to no queued message."""
        ids = set(self.queue_ids())
        return (["tmp/" + n for n in h.queue_files(self.env.spool, "tmp")] +
                ["state/" + n for n in h.queue_files(self.env.spool, "state")
                 if n not in ids])


# ====================================================================
# kill -9 under load
# ====================================================================

class Kill9UnderLoadTest(FaultTestCase):
    """A plain smarthost (tls = "none") that takes everything; deliveries
    start at once, up to four connections, 100 messages per connection."""

    KILLS = 3

    @classmethod
    def configure(cls, env):
        cls.hop = peers.Peer()
        cls.addClassCleanup(cls.hop.stop)
        cls.hop.start()
        return {"relay": {"smarthost": cls.hop.address, "tls": "none"},
                "queue": {"retry_min": 1, "retry_max": 2,
                          "max_per_destination": 4,
                          "messages_per_connection": 100,
                          "connect_timeout": 5, "command_timeout": 10,
                          "data_timeout": 10},
                "limits": NO_RATE_LIMITS}

    def test_kill9_under_load_repeats_only_in_flight(self):
        seed = random.randrange(1 << 30)
        rnd = random.Random(seed)
        load = Load(self.port).start()
        self.addCleanup(load.stop)
        self.assertTrue(h.wait_until(lambda: load.naccepted() >= 20, 15),
                        "the load never got going" + self.log_tail())
        open_at_kill = []
        for i in range(self.KILLS):
            time.sleep(rnd.uniform(1, 3))   # deliberately random: under load
            # The most connections open at once from here until the
            # process is gone: each may have had a message in flight.
            self.hop.mark_open()
            before = load.naccepted()
            self.daemon.kill9()
            open_at_kill.append(self.hop.peak_open)
            print("kill %d: %d outbound connections open, %d accepted so far"
                  % (i + 1, open_at_kill[-1], before))
            self.daemon.start()
            # The clients are back (a new 250) before the next kill.
            n = load.naccepted()
            self.assertTrue(h.wait_until(lambda: load.naccepted() > n, 15),
                            "no message accepted after restart %d%s"
                            % (i + 1, self.log_tail()))
        self.assertTrue(load.stop(), "a client thread did not stop")
        accepted = dict(load.accepted)
        unacked = load.attempted - set(accepted)

        def done():
            counts = arrival_counts(self.hop)
            return (self.queue_empty()
                    and all(counts[t] for t in accepted))
        drained = h.wait_until(done, 60, 0.25)
        counts = arrival_counts(self.hop)
        arrivals = sum(counts.values())
        lost = sorted(t for t in accepted if not counts[t])
        repeats = sum(counts[t] - 1 for t in accepted if counts[t] > 1)
        repeated = sum(1 for t in accepted if counts[t] > 1)
        unacked_arrived = sum(1 for t in unacked if counts[t])
        unacked_repeats = sum(counts[t] - 1 for t in unacked if counts[t] > 1)
        strangers = sorted(t for t in counts
                           if t not in accepted and t not in unacked)
        corrupt = [a for a in list(self.hop.arrivals)
                   if body_of(a.data) != body_of(h.make_message(
                       token_of(a.data) or ""))]
        bound = sum(open_at_kill)
        print("seed %d; accepted %d, attempted but not acknowledged %d, "
              "reconnects %d, refusals %r"
              % (seed, len(accepted), len(unacked), load.reconnects,
                 dict(load.refusals)))
        print("arrivals %d; lost %d; repeats %d (of %d messages); bound %d "
              "(open at each kill: %r); unacknowledged that arrived %d, "
              "their repeats %d; unknown tokens %d; corrupt %d; queue %s"
              % (arrivals, len(lost), repeats, repeated, bound, open_at_kill,
                 unacked_arrived, unacked_repeats, len(strangers),
                 len(corrupt), "empty" if self.queue_empty() else
                 "NOT empty (%d messages)" % len(self.queue_ids())))
        self.assertEqual(strangers, [], "arrivals with unknown tokens")
        self.assertEqual(corrupt, [], "arrivals whose body differs")
        self.assertEqual(lost, [], "%d acknowledged messages never arrived "
                         "(queue %s)%s" % (len(lost), self.queue_ids()[:10],
                                           self.log_tail()))
        self.assertTrue(drained, "queue not empty after 60 s: %s%s"
                        % (self.queue_ids()[:10], self.log_tail()))
        self.assertLessEqual(
            repeats, bound,
            "%d repeated deliveries of acknowledged messages, but only %d "
            "connections were open at the kills (%r)"
            % (repeats, bound, open_at_kill))


# ====================================================================
# A full spool
# ====================================================================

def umount(path):
    """Unmounts path (lazily when busy); never raises."""
    p = subprocess.run(["umount", path], capture_output=True, text=True)
    if p.returncode != 0:
        subprocess.run(["umount", "-l", path], capture_output=True, text=True)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def big_message(token, size, rnd):
    """A make_message with about size bytes of text lines (some starting
    with a dot) in its body."""
    lines = []
    total = 0
    i = 0
    while total < size:
        i += 1
        line = b"%s%d %s %s\r\n" % (b"." if i % 9 == 0 else b"", i,
                                    token.encode(),
                                    rnd.randbytes(28).hex().encode())
        lines.append(line)
        total += len(line)
    return h.make_message(token, extra_body=b"".join(lines))


def down_hop_config(hop):
    """A plain smarthost that is down until the test starts it; deferred
    mail is retried every second or two."""
    return {"relay": {"smarthost": hop.address, "tls": "none"},
            "queue": {"retry_min": 1, "retry_max": 2,
                      "connect_timeout": 5, "command_timeout": 10,
                      "data_timeout": 10},
            "limits": NO_RATE_LIMITS}


class Kill9MidBDATTest(FaultTestCase):
    """kill -9 in the middle of a BDAT transaction (RFC 3030), while another
    session's BDAT message has just been acknowledged; the next hop is down
    until the daemon is back."""

    @classmethod
    def configure(cls, env):
        cls.hop = peers.Peer()              # not started: the next hop is down
        cls.addClassCleanup(cls.hop.stop)
        return down_hop_config(cls.hop)

    @staticmethod
    def bdat(c, data, last=False):
        c.send(b"BDAT %d%s\r\n" % (len(data), b" LAST" if last else b"")
               + data)

    def test_kill9_mid_chunk_leaves_nothing_and_loses_nothing(self):
        done_token, cut_token = uuid.uuid4().hex, uuid.uuid4().hex
        done = h.make_message(done_token)
        # Long enough that half of it is past what a session keeps in
        # memory (SPOOL_MEM_MAX): the cut message has a file in tmp/.
        cut = h.make_message(cut_token, extra_body=(b"x" * 70 + b"\r\n") * 4000)
        a, b = self.authed(), self.authed()
        for c in (a, b):
            self.assertReply(c.cmd("MAIL FROM:<%s>" % USER), 250)
            self.assertReply(c.cmd("RCPT TO:<%s>" % RCPT), 250)
        self.bdat(a, done[:100])
        self.assertReply(a.reply(timeout=10), 250)
        self.bdat(a, done[100:], last=True)
        r = a.reply(timeout=10)
        self.assertReply(r, 250, "2.0.0")
        qid = h.queued_id(str(r))
        # The other message: one chunk taken, the last one half sent.
        self.bdat(b, cut[:100])
        self.assertReply(b.reply(timeout=10), 250)
        rest = cut[100:]
        b.send(b"BDAT %d LAST\r\n" % len(rest) + rest[:len(rest) // 2])
        self.assertTrue(h.wait_until(
            lambda: h.queue_files(self.env.spool, "tmp"), 5),
            "the unfinished message has no file in tmp/")
        self.daemon.kill9()
        self.daemon.start()
        # What was never acknowledged is gone; what was, is queued.
        self.assertEqual(h.queue_files(self.env.spool, "tmp"), [])
        self.assertEqual(self.queue_ids(), [qid])
        self.hop.start()
        self.assertTrue(h.wait_until(
            lambda: self.hop.with_token(done_token) and self.queue_empty(),
            20), self.log_tail())
        self.assertEqual(len(self.hop.with_token(done_token)), 1)
        self.assertEqual(self.hop.with_token(cut_token), [])


class PowerLossTest(FaultTestCase):
    """A power cut undoes what was never synced: every file under queue/
    and state/ written since the last checkpoint (none is fsynced on its
    own), and the end of the journal segment being written when it came.
    spool_checkpoint is an hour, so that none happens during the test; the
    next hop is down until the daemon is back."""

    @classmethod
    def configure(cls, env):
        cls.hop = peers.Peer()              # not started: the next hop is down
        cls.addClassCleanup(cls.hop.stop)
        conf = down_hop_config(cls.hop)
        conf["spool_checkpoint"] = 3600
        return conf

    def journal(self):
        return h.queue_files(self.env.spool, "journal")

    def state_of(self, qid):
        try:
            with open(os.path.join(self.env.spool, "state", qid)) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def test_power_cut_replays_what_was_acknowledged(self):
        c = self.authed()
        tokens = {}
        for _ in range(6):
            token = self.token()
            tokens[self.submit(c, h.make_message(token))] = token
        c.close()
        qids = sorted(tokens)
        deleted, held = qids[0], qids[1]
        self.ctl("delete", deleted)
        self.ctl("hold", held)
        self.assertTrue(h.wait_until(
            lambda: deleted not in h.queue_files(self.env.spool)
            and "held: 1" in self.state_of(held), 10), self.log_tail())
        before = {q.id: (q.envelope, q.body)
                  for q in h.spool_messages(self.env.spool)}
        self.assertEqual(sorted(before), qids[1:])
        self.daemon.kill9()
        segments = self.journal()
        self.assertEqual(len(segments), 1, "journal/: %r" % segments)
        # The cut: the files since the start are gone (if any were made:
        # a young message lives in the journal alone), and a batch was
        # being appended (a record header, then what never got there).
        for sub in ("queue", "state"):
            for name in os.listdir(os.path.join(self.env.spool, sub)):
                os.unlink(os.path.join(self.env.spool, sub, name))
        with open(os.path.join(self.env.spool, "journal", segments[0]),
                  "ab") as f:
            f.write(b"SJR1M\0\0\0" + os.urandom(200))
        self.daemon.start()
        self.assertRegex(self.daemon.log(), r"event=journal-replay segment=%s "
                         r"records=\d+ torn_at=\d+" % segments[0])
        # Acknowledged: back, byte for byte; deleted: still gone; held: held.
        after = {q.id: (q.envelope, q.body)
                 for q in h.spool_messages(self.env.spool)}
        self.assertEqual(sorted(after), qids[1:], self.log_tail())
        self.assertEqual(after, before, "replayed queue files differ")
        self.assertIn("held: 1", self.state_of(held))
        # The replayed segment is gone once its files were synced.
        self.assertNotIn(segments[0], self.journal())
        self.hop.start()
        self.assertTrue(h.wait_until(
            lambda: all(self.hop.with_token(tokens[q]) for q in qids[2:])
            and h.queue_files(self.env.spool) == [held], 20), self.log_tail())
        for q in qids[2:]:
            self.assertEqual(len(self.hop.with_token(tokens[q])), 1, q)
        self.assertEqual(self.hop.with_token(tokens[deleted]), [])
        self.assertEqual(self.hop.with_token(tokens[held]), [])
        self.ctl("release", held)
        self.assertTrue(h.wait_until(
            lambda: self.hop.with_token(tokens[held]) and self.queue_empty(),
            20), self.log_tail())
        # A clean stop leaves no journal, and the next start replays nothing.
        self.daemon.stop()
        self.assertEqual(self.journal(), [])
        self.daemon.start()
        self.assertNotIn("event=journal-replay", self.daemon.log())


class GroupCommitTest(FaultTestCase):
    """Messages finished together share the journal's fdatasync: ten
    sessions each send all of a message but its final dot, then the ten
    dots go out at once.  The next hop is down."""

    SESSIONS = 10

    @classmethod
    def configure(cls, env):
        cls.hop = peers.Peer()              # not started: the next hop is down
        cls.addClassCleanup(cls.hop.stop)
        return down_hop_config(cls.hop)

    def stats(self):
        return dict(l.split(" ", 1) for l in self.ctl("stats").splitlines()
                    if " " in l)

    def test_messages_finished_together_share_one_sync(self):
        clients = [self.authed() for _ in range(self.SESSIONS)]
        tokens = [self.token() for _ in clients]
        for c, t in zip(clients, tokens):
            self.assertReply(c.cmd("MAIL FROM:<%s>" % USER), 250)
            self.assertReply(c.cmd("RCPT TO:<%s>" % RCPT), 250)
            self.assertReply(c.cmd("DATA"), 354)
            c.send(h.dot_stuff(h.make_message(t))[:-3])     # all but ".\r\n"
        before = self.stats()
        for c in clients:
            c.send(b".\r\n")
        for c in clients:
            self.assertReply(c.reply(timeout=10), 250, "2.0.0")
        after = self.stats()
        messages = int(after["messages"]) - int(before["messages"])
        records = (int(after["journal_records"])
                   - int(before["journal_records"]))
        batches = (int(after["journal_batches"])
                   - int(before["journal_batches"]))
        fsyncs = int(after["fsyncs"]) - int(before["fsyncs"])
        print("%d messages acknowledged: %d journal records in %d fdatasyncs, "
              "%d fsyncs in all" % (messages, records, batches, fsyncs))
        self.assertEqual(messages, self.SESSIONS)
        self.assertGreaterEqual(records, self.SESSIONS)
        # A sync per message would be the file-per-message spool's least.
        self.assertLess(batches, self.SESSIONS)
        self.assertLess(fsyncs, self.SESSIONS)
        # And each is queued whole.
        queued = {q.id for q in h.spool_messages(self.env.spool)}
        self.assertEqual(len(queued), self.SESSIONS)


class FullSpoolTest(FaultTestCase):
    """spool_dir is a 2 MiB tmpfs; the smarthost is down until the test
    starts it; deferred mail is retried every second or two."""

    start_daemon = False
    SPOOL_SIZE = "2m"

    @classmethod
    def configure(cls, env):
        p = subprocess.run(["mount", "-t", "tmpfs", "-o",
                            "size=%s,mode=0700" % cls.SPOOL_SIZE, "tmpfs",
                            env.spool], capture_output=True, text=True)
        if p.returncode != 0:
            raise unittest.SkipTest("cannot mount a tmpfs on the spool "
                                    "(root needed): %s" % p.stderr.strip())
        cls.addClassCleanup(umount, env.spool)
        cls.hop = peers.Peer()              # not started: the next hop is down
        cls.addClassCleanup(cls.hop.stop)
        return down_hop_config(cls.hop)

    def setUp(self):
        if not self.daemon.alive():
            self.daemon.start()

    def submit_until_refused(self, c, rnd, limit=100):
        """Submits big messages until one is refused; returns ([(token,
        qid, message)] accepted, (where, reply, token) of the refusal)."""
        accepted = []
        for i in range(limit):
            token = "full-%s-%03d" % (uuid.uuid4().hex[:6], i)
            msg = big_message(token, rnd.randint(64 << 10, 200 << 10), rnd)
            r = c.cmd("MAIL FROM:<%s>" % USER)
            if r.code != 250:
                return accepted, ("MAIL", r, token)
            self.assertReply(c.cmd("RCPT TO:<%s>" % RCPT), 250)
            r = c.cmd("DATA")
            if r.code != 354:
                return accepted, ("DATA", r, token)
            c.send(h.dot_stuff(msg))
            r = c.reply(timeout=20)
            if r.code != 250:
                return accepted, ("end of DATA", r, token)
            qid = h.queued_id(str(r))
            self.assertIsNotNone(qid, "no 'queued as ID' in %s" % r)
            accepted.append((token, qid, msg))
        self.fail("%d messages (up to 200 KiB each) all accepted on a %s "
                  "spool" % (limit, self.SPOOL_SIZE))

    def test_full_spool_gives_452_and_loses_nothing(self):
        seed = random.randrange(1 << 30)
        rnd = random.Random(seed)
        c = self.authed()
        accepted, (where, refusal, refused) = self.submit_until_refused(c, rnd)
        free_at_refusal = free_bytes(self.env.spool)
        print("seed %d; accepted %d messages (%d bytes sent) before the "
              "refusal at %s: %s; %d bytes free on the spool then"
              % (seed, len(accepted), sum(len(m) for _, _, m in accepted),
                 where, refusal, free_at_refusal))
        # The refusal is the reply a full disk deserves (RFC 3463 4.3.1),
        # checked as a subtest so that what follows is still checked.
        with self.subTest("reply when the spool is full"):
            self.assertEqual((refusal.code, refusal.enhanced), (452, "4.3.1"),
                             "refused at %s with: %s" % (where, refusal))
        self.assertTrue(self.daemon.alive(), "submitd died" + self.log_tail())
        # The session goes on; the refused message left nothing behind.
        self.assertReply(c.cmd("RSET"), 250)
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertTrue(h.wait_until(
            lambda: not h.queue_files(self.env.spool, "tmp"), 5),
            "files left in tmp/: %r" % h.queue_files(self.env.spool, "tmp"))
        spooled = {q.id: q for q in h.spool_messages(self.env.spool)}
        self.assertFalse([q for q in spooled.values()
                          if refused.encode() in q.body],
                         "the refused message is in the queue")
        # Everything acknowledged is in the queue, byte for byte.
        missing = [qid for _, qid, _ in accepted if qid not in spooled]
        self.assertEqual(missing, [], "acknowledged but not in queue/"
                         + self.log_tail())
        bad = [qid for _, qid, m in accepted
               if spooled[qid].body != h.expected_spooled(
                   m, spooled[qid].envelope)]
        self.assertEqual(bad, [], "queue files that differ from what was "
                         "acknowledged" + self.log_tail())
        self.assertEqual(sorted(spooled), sorted(q for _, q, _ in accepted),
                         "queue files nobody acknowledged")
        # The next hop comes up: each message arrives once, intact.
        self.hop.start()
        tokens = [t for t, _, _ in accepted]
        arrived = h.wait_until(
            lambda: all(self.hop.with_token(t) for t in tokens)
            and self.queue_empty(), 30, 0.1)
        counts = arrival_counts(self.hop)
        print("after the next hop came up: %d of %d arrived, %d arrivals, "
              "refused message arrived %d times, queue %s, left behind %r, "
              "%d bytes free"
              % (sum(1 for t in tokens if counts[t]), len(tokens),
                 sum(counts.values()), counts[refused],
                 self.queue_ids() or "empty", self.leftovers(),
                 free_bytes(self.env.spool)))
        self.assertTrue(arrived, "not all delivered and drained within 30 s; "
                        "missing %r, queued %r%s"
                        % ([t for t in tokens if not counts[t]],
                           self.queue_ids(), self.log_tail()))
        # A failed write (ENOSPC) leaves no temporary file behind to hold
        # the space until the next start.
        with self.subTest("nothing left behind in the spool"):
            self.assertEqual(self.leftovers(), [], self.log_tail())
        for t, qid, m in accepted:
            got = self.hop.with_token(t)
            self.assertEqual(len(got), 1, "%s (%s) arrived %d times"
                             % (t, qid, len(got)))
            self.assertEqual(body_of(got[0].data), body_of(m),
                             "%s (%s) arrived changed" % (t, qid))
        self.assertEqual(counts[refused], 0, "the refused message arrived")
        # With the space back, mail is accepted again, on the old session
        # and on a new one.
        for client in (c, self.authed()):
            token = "after-%s" % uuid.uuid4().hex[:8]
            self.submit(client, big_message(token, 64 << 10, rnd))
            got = self.hop.wait_arrivals(1, 15, lambda a: token_of(a.data)
                                         == token)
            self.assertEqual(len(got), 1, "%s arrived %d times%s"
                             % (token, len(got), self.log_tail()))
        self.assertTrue(h.wait_until(self.queue_empty, 10))
        self.assertTrue(self.daemon.alive())


if __name__ == "__main__":
    sys.exit(h.main(__name__, optional_tools=OPTIONAL_TOOLS))
