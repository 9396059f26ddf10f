#!/usr/bin/env python3
"""submitd's outbound side with real next hops on loopback: aiosmtpd servers
(peers.Peer) as smarthosts, routes and MX hosts, dnsmasq (peers.DNS) as the
resolver.  Mail is submitted with swaks or the harness's raw client, and the
tests check what a user would: the bytes that arrive at the next hop, over
TLS or not, the log line of every attempt, the DSNs that come back, what
submitctl says, and that every message arrives exactly once.

Run by `make check` as `$(PYTHON3) tests/integration/test_delivery.py` with
top_builddir/top_srcdir set; by hand, it falls back to build-dev/submitd.
aiosmtpd comes from Debian's python3-aiosmtpd, which loads in
/usr/bin/python3 only: another interpreter re-executes this file with it.
Exit 0: all passed; 1: a failure; 77: aiosmtpd is missing (without
dnsmasq the DNS classes are skipped).
KEEP_TMP=1 keeps the temporary directories (config, log, spool).
"""

import email
import email.policy
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness as h  # noqa: E402

h.require_modules("aiosmtpd")

import peers  # noqa: E402

USER = h.USER
OPTIONAL_TOOLS = ()     # dnsmasq missing skips only the DNS classes
HAVE_DNSMASQ = shutil.which(
    "dnsmasq", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is not None
needs_dnsmasq = unittest.skipUnless(HAVE_DNSMASQ, "dnsmasq is not installed")

# Fast but not hasty: a peer that is down is refused at once on loopback.
FAST_QUEUE = {"retry_min": 1, "retry_max": 2, "connect_timeout": 5,
              "command_timeout": 10, "data_timeout": 10}
# Deferred mail stays put until a test flushes it.
SLOW_QUEUE = {"retry_min": 300, "retry_max": 600, "connect_timeout": 5,
              "command_timeout": 10, "data_timeout": 10}


def tok():
    return uuid.uuid4().hex[:10]


def message(token, rcpt="bob@example.org", extra_headers=b"", body=None,
            message_id=True):
    """A message with a token in its Subject and body; body lines that need
    dot-stuffing unless body is given."""
    if body is None:
        body = (b"Hello,\r\n"
                b".a line that starts with a dot\r\n"
                b"..two dots\r\n"
                b".\r\n"
                b" . \r\n"
                b"token " + token.encode() + b"\r\n"
                b"last line\r\n")
    return (b"From: " + USER.encode() + b"\r\n"
            b"To: " + rcpt.encode() + b"\r\n"
            b"Subject: delivery test " + token.encode() + b"\r\n"
            b"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
            + (b"Message-ID: <" + token.encode() + b"@example.test>\r\n"
               if message_id else b"")
            + extra_headers + b"\r\n" + body)


def parse_dsn(data):
    """(message, {field: value} of the per-message part, [per-recipient
    dicts], text of the human part, text of the headers part) of a DSN."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    parts = msg.get_payload() if msg.is_multipart() else []
    human = status = headers = None
    for p in parts:
        ct = p.get_content_type()
        if ct == "text/plain" and human is None:
            human = p.get_payload(decode=True).decode("utf-8", "replace")
        elif ct == "message/delivery-status":
            status = p.get_payload()
        elif ct in ("text/rfc822-headers", "message/rfc822-headers"):
            headers = p.get_payload()
            if not isinstance(headers, str):
                headers = str(headers)
    per_msg, per_rcpt = {}, []
    if status:
        blocks = status if isinstance(status, list) else [status]
        if blocks:
            per_msg = {k.lower(): v for k, v in blocks[0].items()}
            per_rcpt = [{k.lower(): v for k, v in b.items()} for b in blocks[1:]]
    return msg, per_msg, per_rcpt, human or "", headers or ""


class DeliveryTestCase(h.DaemonTestCase):
    """One daemon per class with its peers.  make_peers(env) (a classmethod)
    creates and starts the peers and returns config overrides (relay,
    queue, routes as 'route "domain"' keys, resolver)."""

    @classmethod
    def make_peers(cls, env):
        return {}

    @classmethod
    def configure(cls, env):
        return cls.make_peers(env)

    @classmethod
    def peer(cls, **kw):
        p = peers.Peer(**kw)
        cls.addClassCleanup(p.stop)
        return p

    @classmethod
    def dns(cls, env, **kw):
        d = peers.DNS(env.dir, **kw)
        cls.addClassCleanup(d.stop)
        return d.start()

    def setUp(self):
        # A test that failed half-way through a restart leaves no daemon.
        if not self.daemon.alive():
            self.daemon.start()

    # -- helpers --------------------------------------------------------

    def send(self, msg, rcpts=("bob@example.org",), sender=USER):
        """Submits msg over STARTTLS + AUTH; returns the queue id."""
        c = self.authed()
        qid = self.submit(c, msg, rcpts, sender)
        c.cmd("QUIT")
        c.close()
        return qid

    def log_lines(self, *patterns):
        """Lines of the whole log matching every regex of patterns."""
        return [l for l in self.daemon.full_log().splitlines()
                if all(re.search(p, l) for p in patterns)]

    def wait_log_lines(self, *patterns, timeout=10):
        return h.wait_until(lambda: self.log_lines(*patterns), timeout)

    def assertLogged(self, *patterns, timeout=10):
        lines = self.wait_log_lines(*patterns, timeout=timeout)
        if not lines:
            self.fail("no log line matching all of %r%s" % (patterns,
                                                           self.log_tail()))
        return lines

    def in_queue(self, qid):
        return qid in h.queue_files(self.env.spool)

    def wait_gone(self, qid, timeout=10):
        """Waits until qid's queue and state files are gone."""
        def gone():
            return (not self.in_queue(qid) and
                    qid not in h.queue_files(self.env.spool, "state"))
        if not h.wait_until(gone, timeout):
            self.fail("%s still queued after %ss%s" % (qid, timeout,
                                                       self.log_tail()))

    def ctl(self, *args, rc=0):
        p = h.submitctl(self.env, *args)
        if rc is not None and p.returncode != rc:
            self.fail("submitctl %s: exit %d (wanted %d)\nstdout: %s\nstderr: %s%s"
                      % (" ".join(args), p.returncode, rc, p.stdout, p.stderr,
                         self.log_tail()))
        return p

    def delete(self, qid, timeout=5):
        """submitctl delete, retried while an attempt is in flight (the
        daemon refuses to delete a message being delivered)."""
        deadline = time.monotonic() + timeout
        while True:
            p = h.submitctl(self.env, "delete", qid)
            if p.returncode == 0 or time.monotonic() > deadline or \
                    "being delivered" not in p.stderr:
                break
            time.sleep(0.1)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.wait_gone(qid)

    def wait_deferred(self, qid, attempts=1, timeout=10):
        return self.assertLogged(r"\bqueue=%s event=deferred attempts=%d\b"
                                 % (qid, attempts), timeout=timeout)

    def queued(self, n=1, tokens=None):
        """n messages submitted while the next hop is down (and retries are
        slow), each deferred once; returns [(qid, token)]."""
        out = []
        for i in range(n):
            t = tokens[i] if tokens else tok()
            qid = self.send(message(t))
            out.append((qid, t))
        for qid, _ in out:
            self.wait_deferred(qid)
            self.wait_state(qid, "attempts: 1\n")
        return out

    def wait_state(self, qid, text):
        """Waits until the state file of qid contains text (state writes
        land a moment after the event they record)."""
        path = os.path.join(self.env.spool, "state", qid)

        def has():
            try:
                with open(path) as f:
                    return text in f.read()
            except FileNotFoundError:
                return False
        if not h.wait_until(has, 5):
            self.fail("state/%s never said %r%s" % (qid, text, self.log_tail()))

    def arrival(self, peer, token, timeout=10, n=1):
        """The arrival carrying token at peer; fails unless exactly n (after
        waiting for them) arrive."""
        h.wait_until(lambda: len(peer.with_token(token)) >= n, timeout)
        arrived = peer.with_token(token)
        if len(arrived) != n:
            self.fail("%d arrivals of %s at %s (wanted %d): %r%s"
                      % (len(arrived), token, peer.address, n, arrived,
                         self.log_tail()))
        return arrived[0] if n == 1 else arrived

    def assertNotArrived(self, peer, token, wait=1.5):
        time.sleep(wait)
        self.assertEqual(peer.with_token(token), [],
                         "unexpected arrival" + self.log_tail())

    def dsns(self, peer, qid, timeout=10):
        """DSNs at peer (MAIL FROM:<>) about queue id qid: they name it (the
        quoted Received field of the original carries it)."""
        def found():
            return [a for a in list(peer.arrivals)
                    if a.mail_from == "" and qid.encode() in a.data]
        h.wait_until(found, timeout)
        return found()

    def expect_dsn(self, peer, qid, timeout=10):
        got = self.dsns(peer, qid, timeout)
        if len(got) != 1:
            self.fail("%d DSNs for %s at %s (wanted 1)%s"
                      % (len(got), qid, peer.address, self.log_tail()))
        return got[0]


# ====================================================================
# Smarthost with STARTTLS
# ====================================================================

class SmarthostTLSTest(DeliveryTestCase):
    """relay { smarthost = "[127.0.0.1]:PORT" } with tls = "may" (the
    default) and a next hop that offers STARTTLS with a self-signed
    certificate."""

    @classmethod
    def make_peers(cls, env):
        cls.hop = cls.peer(tls=(env.cert, env.key)).start()
        return {"relay": {"smarthost": cls.hop.address},
                "queue": FAST_QUEUE}

    def test_swaks_message_arrives_over_tls_cleaned(self):
        t = tok()
        sent = message(t, message_id=False, extra_headers=(
            b"Received: from laptop.home (laptop.home [192.0.2.7])\r\n"
            b"\tby mail.isp.example with ESMTP; Thu, 1 Jan 2026 00:00:00 +0000\r\n"
            b"X-Mailer: Lookout 16.0\r\n"
            b"User-Agent: Mutt/2.2\r\n"
            b"X-Originating-IP: [192.0.2.7]\r\n"
            b"X-Kept: yes\r\n"))
        path = os.path.join(self.env.dir, t + ".eml")
        # swaks adds the final CRLF, turns LF into CRLF and dot-stuffs.
        with open(path, "wb") as f:
            f.write(sent[:-2].replace(b"\r\n", b"\n"))
        p = subprocess.run(
            [h.tool("swaks"), "--server", "127.0.0.1:%d" % self.port, "--tls",
             "--auth", "PLAIN", "--auth-user", USER, "--auth-password",
             h.PASSWORD, "--from", USER, "--to", "bob@example.org",
             "--ehlo", "swaks.example.test", "--data", "@" + path,
             "--timeout", "10"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + self.log_tail())
        qid = h.queued_id(p.stdout)
        self.assertIsNotNone(qid, p.stdout)
        a = self.arrival(self.hop, t)

        # Over TLS 1.2 or later, as the peer saw it and as the log says.
        self.assertIn(a.tls, ("TLSv1.2", "TLSv1.3"), a)
        self.assertEqual(a.mail_from, USER)
        self.assertEqual(a.rcpts, ["bob@example.org"])
        self.assertEqual(a.helo, h.HOSTNAME)
        line = self.assertLogged(
            r"\bqueue=%s rcpt=<bob@example\.org> " % qid,
            r'\brelay=127\.0\.0\.1\[127\.0\.0\.1\]:%d ' % self.hop.port,
            r'\btls="%s %s"' % (re.escape(a.tls), re.escape(a.cipher)),
            r"\bverified=no\b", r"\bresult=sent\b",
            r'\breply="250 2\.0\.0 OK accepted"')
        self.assertTrue(line)

        # The bytes: submitd's Received first, the sent fields minus the
        # stripped ones, the Message-ID it added, the body byte for byte.
        fields, body = h.split_message(a.data)
        received = fields[0][1]
        self.assertRegex(
            received.decode(),
            r"^Received: by relay\.example\.test with ESMTPSA "
            r"\(TLSv1\.[23]:[A-Z0-9_-]+:\d+\)\r\n\tid %s; "
            r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\n$" % qid)
        sent_fields, sent_body = h.split_message(sent)
        kept = b"".join(raw for n, raw in sent_fields
                        if not h.field_matches(n, h.DEFAULT_STRIP))
        expected = (received + kept + b"Message-ID: <" + qid.encode() +
                    b"@relay.example.test>\r\n\r\n" + sent_body)
        self.assertEqual(a.data, expected)
        for name in (b"X-Mailer", b"User-Agent", b"X-Originating-IP"):
            self.assertNotIn(name + b":", a.data)
        self.assertEqual(len(h.header_fields(a.data, "Received")), 1)
        self.assertIn(b"X-Kept: yes\r\n", a.data)
        self.wait_gone(qid)

    def test_large_body_byte_exact(self):
        # Lines starting with dots on both sides of the 16 KiB read chunks,
        # 998-octet lines, 8-bit text, 600 KB in all.
        t = tok()
        lines = []
        i = 0
        while sum(len(l) for l in lines) < 600000:
            i += 1
            if i % 7 == 0:
                lines.append(b"." * (i % 5 + 1) + b" dotted line %d\r\n" % i)
            elif i % 11 == 0:
                lines.append(b"x" * 998 + b"\r\n")
            elif i % 13 == 0:
                lines.append(("caf\u00e9 \u00fcber na\u00efve %d\r\n" % i)
                             .encode())
            else:
                lines.append(b"line %d of the long message %s\r\n" % (i, t.encode()))
        lines.append(b".\r\n")          # a lone dot as the last line
        body = b"".join(lines)
        sent = message(t, body=body)
        qid = self.send(sent)
        a = self.arrival(self.hop, t, timeout=20)
        head, _, arrived = a.data.partition(b"\r\n\r\n")
        self.assertTrue(arrived == body, "body differs (%d of %d bytes "
                        "arrived)" % (len(arrived), len(body)))
        self.assertIn(b"Subject: delivery test " + t.encode(), head)
        self.wait_gone(qid)

    def test_two_recipients_one_transaction(self):
        t = tok()
        rcpts = ("bob@example.org", "carol@example.net")
        qid = self.send(message(t), rcpts)
        a = self.arrival(self.hop, t)
        self.assertEqual(sorted(a.rcpts), sorted(rcpts))
        for r in rcpts:
            self.assertLogged(r"\bqueue=%s rcpt=<%s> .*result=sent"
                              % (qid, re.escape(r)))
        self.wait_gone(qid)


# ====================================================================
# A next hop without STARTTLS: may, encrypt, verify
# ====================================================================

class Inotify:
    """The names created in a directory (inotify(7) through libc)."""

    IN_CREATE, IN_MOVED_TO = 0x100, 0x80

    def __init__(self, path):
        import ctypes
        import ctypes.util
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or self.libc.inotify_add_watch(
                self.fd, path.encode(), self.IN_CREATE | self.IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), "inotify")
        self.names = []

    def read(self):
        import struct
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return self.names
            off = 0
            while off < len(buf):
                _, _, _, n = struct.unpack_from("iIII", buf, off)
                self.names.append(buf[off + 16:off + 16 + n].rstrip(b"\0")
                                  .decode())
                off += 16 + n

    def close(self):
        os.close(self.fd)


class StateFileTest(DeliveryTestCase):
    """A next hop that takes everything at once."""

    @classmethod
    def make_peers(cls, env):
        cls.hop = cls.peer().start()
        return {"relay": {"smarthost": cls.hop.address, "tls": "none"},
                "queue": FAST_QUEUE}

    def test_a_message_delivered_at_once_never_gets_a_state_file(self):
        # Its final state waits in the journal for the removal that follows
        # (journal.h): no inode made and freed for nothing.
        watch = Inotify(os.path.join(self.env.spool, "state"))
        self.addCleanup(watch.close)
        t = tok()
        qid = self.send(message(t))
        self.arrival(self.hop, t)
        self.assertTrue(h.wait_until(lambda: not self.in_queue(qid), 10),
                        self.log_tail())
        self.assertLogged(r"\bqueue=%s rcpt=<bob@example\.org> .*result=sent"
                          % qid)
        self.assertEqual([n for n in watch.read() if n.startswith(qid)], [])


class PlainNextHopTest(DeliveryTestCase):
    """One next hop that offers no STARTTLS, reached through routes with
    each TLS level."""

    @classmethod
    def make_peers(cls, env):
        cls.hop = cls.peer().start()
        routes = {}
        for level in ("none", "may", "encrypt", "verify"):
            routes['route "%s.test"' % level] = {"host": cls.hop.address,
                                                  "tls": level}
        return dict(routes, relay={"smarthost": cls.hop.address},
                    queue=SLOW_QUEUE)

    def test_may_delivers_in_clear(self):
        t = tok()
        qid = self.send(message(t, "bob@may.test"), ["bob@may.test"])
        a = self.arrival(self.hop, t)
        self.assertIsNone(a.tls)
        self.assertLogged(r"\btls=none reason=not-offered\b",
                          r"\brelay=127\.0\.0\.1\[127\.0\.0\.1\]:%d"
                          % self.hop.port)
        self.assertLogged(r"\bqueue=%s rcpt=<bob@may\.test> " % qid,
                          r'\btls=none\b', r"\bresult=sent\b")
        self.wait_gone(qid)

    def test_none_delivers_in_clear(self):
        t = tok()
        qid = self.send(message(t, "bob@none.test"), ["bob@none.test"])
        a = self.arrival(self.hop, t)
        self.assertIsNone(a.tls)
        self.assertLogged(r"\bqueue=%s rcpt=<bob@none\.test> " % qid,
                          r'\btls=none\b', r"\bresult=sent\b")

    def _not_delivered(self, level):
        t = tok()
        rcpt = "bob@%s.test" % level
        qid = self.send(message(t, rcpt), [rcpt])
        lines = self.wait_deferred(qid)
        self.assertLogged(r"\bqueue=%s rcpt=<%s> " % (qid, re.escape(rcpt)),
                          r"\bresult=deferred\b",
                          r'reply="4\.7\.5 TLS required but not offered by '
                          r'127\.0\.0\.1\[127\.0\.0\.1\]"')
        self.assertTrue(lines)
        self.assertNotArrived(self.hop, t, wait=0.5)
        self.assertFalse([c for c in self.hop.commands
                          if c[1] == "RCPT" and c[2] == rcpt],
                         "the envelope went out in clear")
        self.assertTrue(self.in_queue(qid))
        p = self.ctl("show", qid)
        self.assertIn("<%s> pending: 4.7.5 TLS required but not offered" % rcpt,
                      p.stdout)
        self.delete(qid)

    def test_encrypt_not_delivered(self):
        self._not_delivered("encrypt")

    def test_verify_not_delivered(self):
        self._not_delivered("verify")


# ====================================================================
# may: a failed handshake, then clear text
# ====================================================================

class TLSHandshakeFailureTest(DeliveryTestCase):
    """A next hop whose STARTTLS handshake cannot succeed (it speaks TLS
    1.1 at most): under "may" the attempt is deferred, the log says the
    next one goes in clear, and it does."""

    @classmethod
    def make_peers(cls, env):
        ctx = peers.server_context(env.cert, env.key,
                                   maximum=peers.ssl.TLSVersion.TLSv1_1)
        cls.hop = cls.peer(tls=ctx).start()
        return {"relay": {"smarthost": cls.hop.address},
                'route "encrypt.test"': {"host": cls.hop.address,
                                         "tls": "encrypt"},
                "queue": FAST_QUEUE}

    def test_encrypt_never_in_clear(self):
        # TLS 1.2 is the floor: a next hop with TLS 1.1 at most does not
        # get the message, and "encrypt" never falls back to clear text.
        t = tok()
        rcpt = "bob@encrypt.test"
        qid = self.send(message(t, rcpt), [rcpt])
        self.wait_deferred(qid, attempts=2)
        self.assertLogged(r"\bqueue=%s rcpt=<%s> " % (qid, re.escape(rcpt)),
                          r"\bresult=deferred\b",
                          r'reply="4\.7\.5 TLS handshake with 127\.0\.0\.1'
                          r'\[127\.0\.0\.1\] failed')
        self.assertNotArrived(self.hop, t, wait=0.2)
        self.assertFalse([c for c in self.hop.commands if c[2] == rcpt])
        self.delete(qid)

    def test_retry_in_clear(self):
        t = tok()
        qid = self.send(message(t))
        self.assertLogged(r"\bevent=tls-failed\b", r"will retry without TLS")
        self.assertLogged(r"\bevent=tls result=fail\b", r"in clear")
        a = self.arrival(self.hop, t, timeout=15)
        self.assertIsNone(a.tls)
        self.assertLogged(r"\bqueue=%s rcpt=<bob@example\.org> " % qid,
                          r'\btls=none\b', r"\bresult=sent\b")
        self.wait_gone(qid)


# ====================================================================
# verify: the next hop's certificate and name
# ====================================================================

@needs_dnsmasq
class VerifyTest(DeliveryTestCase):
    """tls = "verify" checks the certificate against the CAs the daemon
    trusts (SSL_CERT_FILE = a test CA here) and the next hop's name: the
    name in [brackets] (looked up without MX), the MX host's name, or the
    address of an [IP] next hop."""

    @classmethod
    def make_peers(cls, env):
        ca = peers.make_ca(env.dir)
        cls.daemon_environ = {"SSL_CERT_FILE": ca[0], "SSL_CERT_DIR": env.dir}
        good = peers.make_signed(env.dir, ca, "good", dns=["mx.test"])
        other = peers.make_signed(env.dir, ca, "other", dns=["other.test"])
        byip = peers.make_signed(env.dir, ca, "byip", ips=["127.0.0.1"])
        selfsigned = h.make_cert(env.dir, cn="mx.test", name="selfsigned")
        cls.good = cls.peer(tls=good).start()
        cls.other = cls.peer(tls=other).start()
        cls.byip = cls.peer(tls=byip).start()
        cls.selfsigned = cls.peer(tls=selfsigned).start()
        cls.dnsd = cls.dns(env, a=[("mx.test", "127.0.0.1")],
                           mx=[("mxv.test", "mx.test", 10)])
        routes = {
            "good.test": ("[mx.test]:%d" % cls.good.port, "verify"),
            "mxname.test": ("mxv.test:%d" % cls.good.port, "verify"),
            "byip.test": (cls.byip.address, "verify"),
            "wrongname.test": ("[mx.test]:%d" % cls.other.port, "verify"),
            "selfsigned.test": ("[mx.test]:%d" % cls.selfsigned.port, "verify"),
            "encrypt.test": ("[mx.test]:%d" % cls.selfsigned.port, "encrypt"),
        }
        conf = {'route "%s"' % d: {"host": host, "tls": level}
                for d, (host, level) in routes.items()}
        return dict(conf, resolver=cls.dnsd.resolver,
                    relay={"smarthost": cls.good.address}, queue=SLOW_QUEUE)

    def _delivered(self, domain, peer, relay):
        t = tok()
        rcpt = "bob@" + domain
        qid = self.send(message(t, rcpt), [rcpt])
        a = self.arrival(peer, t)
        self.assertIn(a.tls, ("TLSv1.2", "TLSv1.3"))
        self.assertLogged(r"\bqueue=%s rcpt=<%s> " % (qid, re.escape(rcpt)),
                          r"\brelay=%s " % re.escape(relay),
                          r"\bverified=yes\b", r"\bresult=sent\b")
        self.wait_gone(qid)

    def test_good_certificate_for_the_name(self):
        self._delivered("good.test", self.good,
                        "mx.test[127.0.0.1]:%d" % self.good.port)

    def test_good_certificate_for_the_mx_name(self):
        self._delivered("mxname.test", self.good,
                        "mx.test[127.0.0.1]:%d" % self.good.port)

    def test_good_certificate_for_the_ip(self):
        self._delivered("byip.test", self.byip,
                        "127.0.0.1[127.0.0.1]:%d" % self.byip.port)

    def _refused(self, domain, peer, why):
        t = tok()
        rcpt = "bob@" + domain
        qid = self.send(message(t, rcpt), [rcpt])
        self.wait_deferred(qid)
        self.assertLogged(r"\bqueue=%s rcpt=<%s> " % (qid, re.escape(rcpt)),
                          r"\bresult=deferred\b", r'reply="4\.7\.5 TLS ',
                          why)
        self.assertNotArrived(peer, t, wait=0.5)
        self.assertFalse([c for c in peer.commands if c[2] == rcpt])
        self.delete(qid)

    def test_wrong_name_refused(self):
        self._refused("wrongname.test", self.other, r"(?i)hostname mismatch")

    def test_self_signed_refused(self):
        self._refused("selfsigned.test", self.selfsigned,
                      r"(?i)self.signed certificate")

    def test_encrypt_accepts_self_signed(self):
        t = tok()
        qid = self.send(message(t, "bob@encrypt.test"), ["bob@encrypt.test"])
        a = self.arrival(self.selfsigned, t)
        self.assertIn(a.tls, ("TLSv1.2", "TLSv1.3"))
        self.assertLogged(r"\bqueue=%s rcpt=<bob@encrypt\.test> " % qid,
                          r"\bverified=no\b", r"\bresult=sent\b")


# ====================================================================
# AUTH to the smarthost
# ====================================================================

SMARTHOST_LOGIN = "relay-user@isp.test"
SMARTHOST_PASSWORD = "Sm4rt-h0st pa$$word"


class SmarthostAuthTest(DeliveryTestCase):
    """relay { username password_file }: a next hop that requires AUTH
    (after STARTTLS).  Credentials go only over TLS whose certificate is
    verified (tls = "verify", here against relay.ca_file, a test CA).  The
    daemon's password is right; the peer's idea of it changes to make it
    wrong."""

    @classmethod
    def make_peers(cls, env):
        pw = os.path.join(env.dir, "smarthost.secret")
        with open(pw, "w") as f:
            f.write(SMARTHOST_PASSWORD + "\n")
        os.chmod(pw, 0o600)
        cls.password_file = pw
        cls.ca = peers.make_ca(env.dir)
        signed = peers.make_signed(env.dir, cls.ca, "hop", ips=["127.0.0.1"])
        cls.hop = cls.peer(tls=signed, require_auth=True,
                           users={SMARTHOST_LOGIN: SMARTHOST_PASSWORD}).start()
        # AUTH offered in clear: credentials must still not go out.
        cls.clear = cls.peer(users={SMARTHOST_LOGIN: SMARTHOST_PASSWORD},
                             require_auth=True, auth_require_tls=False).start()
        # Someone on the path with a certificate of their own (the attack of
        # issue 9 point 3): TLS works, the certificate does not verify.
        cls.mitm = cls.peer(tls=(env.cert, env.key), require_auth=True,
                            users={SMARTHOST_LOGIN: SMARTHOST_PASSWORD}).start()
        auth = {"username": SMARTHOST_LOGIN, "password_file": pw,
                "tls": "verify", "ca_file": cls.ca[0]}
        return {"relay": dict(auth, smarthost=cls.hop.address),
                'route "clear.test"': dict(auth, host=cls.clear.address),
                'route "mitm.test"': dict(auth, host=cls.mitm.address),
                "queue": SLOW_QUEUE}

    def test_credentials_need_verify(self):
        """submitd -n refuses credentials over a TLS level that does not
        verify the next hop, and says what to write instead."""
        for level in ("may", "encrypt", "none"):
            conf = self.env.write_config(
                path=os.path.join(self.env.dir, "level-%s.conf" % level),
                **dict(self.env.overrides,
                       relay={"smarthost": self.hop.address, "tls": level,
                              "username": SMARTHOST_LOGIN,
                              "password_file": self.password_file}))
            p = subprocess.run([self.daemon.binary, "-n", "-f", conf],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn("relay.tls", p.stderr)
            self.assertIn('tls = "verify"', p.stderr)

    def test_unverified_peer_gets_no_password(self):
        t = tok()
        qid = self.send(message(t, "bob@mitm.test"), ["bob@mitm.test"])
        self.wait_deferred(qid)
        self.assertLogged(r"\bevent=tls-failed\b",
                          r"certificate verification failed")
        self.assertEqual(self.mitm.auth_attempts, [])
        self.assertNotArrived(self.mitm, t, wait=0.3)
        self.delete(qid)

    def test_password_file_mode(self):
        loose = os.path.join(self.env.dir, "loose.secret")
        with open(loose, "w") as f:
            f.write("secret\n")
        os.chmod(loose, 0o644)
        conf = self.env.write_config(
            path=os.path.join(self.env.dir, "loose.conf"),
            **dict(self.env.overrides,
                   relay={"smarthost": self.hop.address,
                          "username": SMARTHOST_LOGIN, "password_file": loose}))
        p = subprocess.run([self.daemon.binary, "-n", "-f", conf],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("password_file", p.stderr)
        self.assertIn(loose, p.stderr)
        p = subprocess.run([self.daemon.binary, "-n", "-f", self.env.conf],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(self.password_file).st_mode), 0o600)

    def test_wrong_then_right_credentials(self):
        self.hop.users[SMARTHOST_LOGIN] = "not what the daemon has"
        t = tok()
        qid = self.send(message(t))
        self.wait_deferred(qid)
        self.assertLogged(r"\bevent=auth-failed\b",
                          r'error="4\.7\.0 authentication to 127\.0\.0\.1'
                          r'\[127\.0\.0\.1\] failed: 535 5\.7\.8')
        self.assertLogged(r"\bqueue=%s rcpt=<bob@example\.org> .*"
                          r"result=deferred" % qid)
        self.assertEqual([x[:2] for x in self.hop.auth_attempts],
                         [(SMARTHOST_LOGIN, SMARTHOST_PASSWORD)],
                         "the daemon should send its password once, over TLS")
        self.assertNotArrived(self.hop, t, wait=0.3)
        self.assertTrue(self.in_queue(qid))

        self.hop.users[SMARTHOST_LOGIN] = SMARTHOST_PASSWORD
        self.ctl("flush", qid)
        a = self.arrival(self.hop, t)
        self.assertEqual(a.login, SMARTHOST_LOGIN)
        self.assertIn(a.tls, ("TLSv1.2", "TLSv1.3"))
        self.assertLogged(r"\bevent=auth result=ok user=%s mech=PLAIN"
                          % re.escape(SMARTHOST_LOGIN))
        self.wait_gone(qid)

    def test_no_credentials_in_clear(self):
        t = tok()
        qid = self.send(message(t, "bob@clear.test"), ["bob@clear.test"])
        self.wait_deferred(qid)
        self.assertLogged(r"\bevent=tls-required\b",
                          r"TLS required but not offered")
        self.assertEqual(self.clear.auth_attempts, [])
        self.assertNotArrived(self.clear, t, wait=0.3)
        self.delete(qid)

    def test_zz_password_never_logged(self):
        text = self.daemon.full_log()
        secrets = [SMARTHOST_PASSWORD,
                   h.b64("\0%s\0%s" % (SMARTHOST_LOGIN, SMARTHOST_PASSWORD)),
                   h.b64(SMARTHOST_PASSWORD),
                   h.b64("%s\0%s" % (SMARTHOST_LOGIN, SMARTHOST_PASSWORD))]
        for s in secrets:
            self.assertNotIn(s, text)


# ====================================================================
# MX routing through DNS
# ====================================================================

@needs_dnsmasq
class MXRoutingTest(DeliveryTestCase):
    """No smarthost: recipients' domains are looked up in dnsmasq.  Each MX
    host listens on port 25 of its own 127.x.y.z.  Mail for example.test
    (the sender's, so the DSNs) goes by a route to a home peer."""

    @classmethod
    def make_peers(cls, env):
        cls.down = peers.loopback_address()             # nothing listens
        cls.mx2 = cls.peer(host=peers.loopback_address(),
                           port=25, tls=(env.cert, env.key)).start()
        cls.amx = cls.peer(host=peers.loopback_address(), port=25).start()
        cls.home = cls.peer().start()
        cls.dnsd = cls.dns(env, mx=[
            ("twomx.test", "mx1.twomx.test", 10),
            ("twomx.test", "mx2.twomx.test", 20),
            ("nullmx.test", ".", 0),
            ("deadmx.test", "mx1.twomx.test", 10),
        ], a=[("mx1.twomx.test", cls.down),
              ("mx2.twomx.test", cls.mx2.host),
              ("nomx.test", cls.amx.host)])
        return {"resolver": cls.dnsd.resolver,
                "relay": None,          # no smarthost: MX look-ups
                'route "example.test"': {"host": cls.home.address},
                "queue": SLOW_QUEUE}

    def test_second_mx_when_first_down(self):
        t = tok()
        qid = self.send(message(t, "bob@twomx.test"), ["bob@twomx.test"])
        a = self.arrival(self.mx2, t)
        self.assertEqual(a.rcpts, ["bob@twomx.test"])
        self.assertIn(a.tls, ("TLSv1.2", "TLSv1.3"))
        self.assertLogged(r"\bevent=connect-failed\b",
                          r"mx1\.twomx\.test\[%s\]:25" % re.escape(self.down))
        self.assertLogged(r"\bqueue=%s rcpt=<bob@twomx\.test> " % qid,
                          r"\brelay=mx2\.twomx\.test\[%s\]:25 "
                          % re.escape(self.mx2.host), r"\bresult=sent\b")
        self.assertIn("query[MX] twomx.test", self.dnsd.log())
        self.wait_gone(qid)

    def test_no_mx_falls_back_to_address(self):
        t = tok()
        qid = self.send(message(t, "bob@nomx.test"), ["bob@nomx.test"])
        self.arrival(self.amx, t)
        self.assertLogged(r"\bqueue=%s rcpt=<bob@nomx\.test> " % qid,
                          r"\brelay=nomx\.test\[%s\]:25 " % re.escape(self.amx.host),
                          r"\bresult=sent\b")
        self.wait_gone(qid)

    def test_all_mx_down_defers(self):
        t = tok()
        qid = self.send(message(t, "bob@deadmx.test"), ["bob@deadmx.test"])
        self.wait_deferred(qid)
        self.assertLogged(r"\bqueue=%s rcpt=<bob@deadmx\.test> " % qid,
                          r"\bresult=deferred\b", r'reply="4\.4\.1 connect to ')
        self.assertEqual(self.dsns(self.home, qid, timeout=0.5), [])
        self.delete(qid)

    def test_null_mx_bounces_at_once(self):
        t = tok()
        qid = self.send(message(t, "bob@nullmx.test"), ["bob@nullmx.test"])
        dsn = self.expect_dsn(self.home, qid)
        self.assertEqual(dsn.rcpts, [USER])
        self.assertNotIn("event=deferred attempts=1", "\n".join(
            self.log_lines(r"\bqueue=%s\b" % qid)))
        self.assertLogged(r"\bqueue=%s rcpt=<bob@nullmx\.test> " % qid,
                          r"\bresult=bounced\b", r"null MX")
        msg, per_msg, per_rcpt, human, headers = parse_dsn(dsn.data)
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertEqual([r.get("final-recipient") for r in per_rcpt],
                         ["rfc822; bob@nullmx.test"])
        self.assertEqual(per_rcpt[0].get("action"), "failed")
        self.assertEqual(per_rcpt[0].get("status"), "5.1.10",
                         "Status of a null MX bounce (RFC 7505 §4.2): %r"
                         % per_rcpt[0])
        self.wait_gone(qid)

    def test_unknown_domain_bounces(self):
        t = tok()
        qid = self.send(message(t, "bob@nxdomain.test"), ["bob@nxdomain.test"])
        dsn = self.expect_dsn(self.home, qid)
        msg, per_msg, per_rcpt, human, headers = parse_dsn(dsn.data)
        self.assertEqual([r.get("final-recipient") for r in per_rcpt],
                         ["rfc822; bob@nxdomain.test"])
        self.assertEqual(per_rcpt[0].get("status"), "5.1.2",
                         "Status of an unknown domain bounce: %r" % per_rcpt[0])


# ====================================================================
# 4xx: deferred and retried
# ====================================================================

class RetryTest(DeliveryTestCase):
    """queue { retry_min = 1 retry_max = 2 }; the next hop answers 451 the
    first time it sees a recipient (RCPT) or a message (DATA)."""

    @classmethod
    def make_peers(cls, env):
        seen = {}

        def once(key):
            seen[key] = seen.get(key, 0) + 1
            return seen[key] == 1

        def rcpt_reply(mail_from, rcpt):
            if rcpt.startswith("later-") and once(("rcpt", rcpt)):
                return "451 4.3.0 try later"
            return None

        def data_reply(envelope):
            key = ("data", tuple(envelope.rcpt_tos))
            if any(r.startswith("datalater-") for r in envelope.rcpt_tos) \
                    and once(key):
                return "451 4.3.0 try later (DATA)"
            return None

        cls.hop = cls.peer(tls=(env.cert, env.key), rcpt_reply=rcpt_reply,
                           data_reply=data_reply).start()
        return {"relay": {"smarthost": cls.hop.address}, "queue": FAST_QUEUE}

    def test_451_at_rcpt_then_250(self):
        t = tok()
        rcpt = "later-%s@example.org" % t
        qid = self.send(message(t, rcpt), [rcpt])
        self.wait_deferred(qid)
        self.assertLogged(r"\bqueue=%s rcpt=<%s> " % (qid, re.escape(rcpt)),
                          r"\bresult=deferred\b", r'reply="451 4\.3\.0 try later"')
        a = self.arrival(self.hop, t)
        self.assertEqual(a.rcpts, [rcpt])
        self.wait_gone(qid)
        time.sleep(1.5)
        self.arrival(self.hop, t)       # still exactly one

    def test_451_at_data_then_250(self):
        t = tok()
        rcpt = "datalater-%s@example.org" % t
        qid = self.send(message(t, rcpt), [rcpt])
        self.wait_deferred(qid)
        self.assertLogged(r"\bqueue=%s rcpt=<%s> " % (qid, re.escape(rcpt)),
                          r"\bresult=deferred\b", r'reply="451 4\.3\.0 try later')
        self.arrival(self.hop, t)
        self.wait_gone(qid)
        time.sleep(1.5)
        self.arrival(self.hop, t)

    def test_only_the_deferred_recipient_is_retried(self):
        t = tok()
        later = "later-%s@example.org" % t
        qid = self.send(message(t), ["bob@example.org", later])
        got = self.arrival(self.hop, t, n=2, timeout=15)
        self.assertEqual(sorted(tuple(a.rcpts) for a in got),
                         sorted([("bob@example.org",), (later,)]))
        self.wait_gone(qid)
        time.sleep(1.5)
        self.arrival(self.hop, t, n=2)


# ====================================================================
# The SMTP conversation: pipelining, mixed replies, broken sessions
# ====================================================================

def session_rcpt_reply(mail_from, rcpt):
    if rcpt.startswith("nosuch-"):
        return "550 5.1.1 no such user"
    if rcpt.startswith("busy-"):
        return "452 4.2.2 mailbox full"
    return None


class SessionTest(DeliveryTestCase):
    """The smarthost advertises PIPELINING; the route "nopipe.test" goes to
    one that does not, "old.test" to one that refuses EHLO, "small.test"
    to one with SIZE 3000.  Recipients named nosuch-* get 550, busy-* get
    452 the first time; DATA for drop-* is cut off the first time."""

    @classmethod
    def make_peers(cls, env):
        seen = set()

        def once(key):
            if key in seen:
                return False
            seen.add(key)
            return True

        def rcpt_reply(mail_from, rcpt):
            if rcpt.startswith("busy-") and not once(rcpt):
                return None
            return session_rcpt_reply(mail_from, rcpt)

        def data_reply(envelope):
            for r in envelope.rcpt_tos:
                if r.startswith("drop-") and once(("data", r)):
                    return peers.DROP
                if r.startswith("close421-") and once(("data", r)):
                    return "421 4.3.2 shutting down"
            return None

        common = dict(tls=(env.cert, env.key), rcpt_reply=rcpt_reply,
                      data_reply=data_reply)
        cls.hop = cls.peer(pipelining=True, **common).start()
        cls.nopipe = cls.peer(**common).start()
        cls.old = cls.peer(refuse_ehlo="502 5.5.1 EHLO not implemented").start()
        cls.small = cls.peer(data_size_limit=3000, **common).start()
        return {"relay": {"smarthost": cls.hop.address},
                'route "nopipe.test"': {"host": cls.nopipe.address},
                'route "old.test"': {"host": cls.old.address},
                'route "small.test"': {"host": cls.small.address},
                "queue": FAST_QUEUE}

    def mixed(self, peer, domain):
        t = tok()
        ok1, bad, busy, ok2 = ("a-%s@%s" % (t, domain), "nosuch-%s@%s" % (t, domain),
                               "busy-%s@%s" % (t, domain), "b-%s@%s" % (t, domain))
        qid = self.send(message(t, ok1), [ok1, bad, busy, ok2])
        first = self.arrival(peer, t)
        self.assertEqual(first.rcpts, [ok1, ok2])
        want = {ok1: ("sent", "250 2.0.0 OK accepted"),
                ok2: ("sent", "250 2.0.0 OK accepted"),
                bad: ("bounced", "550 5.1.1 no such user"),
                busy: ("deferred", "452 4.2.2 mailbox full")}
        for rcpt, (result, reply) in want.items():
            self.assertLogged(r"\bqueue=%s rcpt=<%s> " % (qid, re.escape(rcpt)),
                              r"\bresult=%s reply=\"%s\"" % (result, re.escape(reply)))
        got = self.arrival(peer, t, n=2)
        self.assertEqual(got[1].rcpts, [busy])
        dsn = self.expect_dsn(self.hop, qid)
        _, _, per_rcpt, _, _ = parse_dsn(dsn.data)
        self.assertEqual([r.get("final-recipient") for r in per_rcpt],
                         ["rfc822; " + bad])
        self.wait_gone(qid)
        return t

    def test_pipelined_mixed_replies(self):
        t = self.mixed(self.hop, "example.org")
        # MAIL and the RCPTs went out as one group, before any reply
        # (RFC 2920 §3.1).
        self.assertTrue([p for p in self.hop.pipelined
                         if ("RCPT TO:<nosuch-%s@" % t).encode() in p],
                        "RCPTs not pipelined behind MAIL: %r" % self.hop.pipelined)

    def test_no_pipelining_unless_offered(self):
        self.mixed(self.nopipe, "nopipe.test")
        self.assertEqual(self.nopipe.pipelined, [])

    def test_8bitmime_and_size_parameters(self):
        t = tok()
        qid = self.send(message(t, body=("gr\u00fc\u00dfe %s\r\n" % t).encode()))
        a = self.arrival(self.hop, t)
        mails = [c for c in self.hop.commands if c[1] == "MAIL" and c[2] == USER
                 and c[0] == a.conn]
        self.assertTrue(mails)
        self.assertIn("BODY=8BITMIME", mails[-1][3])
        self.assertRegex(mails[-1][3], r"\bSIZE=\d+")
        self.assertIn(("gr\u00fc\u00dfe %s\r\n" % t).encode(), a.data)
        self.wait_gone(qid)

    def test_size_refused_bounces(self):
        t = tok()
        rcpt = "bob@small.test"
        qid = self.send(message(t, rcpt, body=b"x" * 70 + b"\r\n" * 1 +
                                (b"y" * 70 + b"\r\n") * 60), [rcpt])
        dsn = self.expect_dsn(self.hop, qid)
        _, _, per_rcpt, human, _ = parse_dsn(dsn.data)
        self.assertIn("552", per_rcpt[0].get("diagnostic-code", ""))
        self.assertNotArrived(self.small, t, wait=0.2)
        self.wait_gone(qid)

    def test_helo_fallback(self):
        t = tok()
        qid = self.send(message(t, "bob@old.test"), ["bob@old.test"])
        a = self.arrival(self.old, t)
        self.assertIsNone(a.tls)
        self.assertEqual(a.helo, h.HOSTNAME)
        self.assertLogged(r"\bqueue=%s rcpt=<bob@old\.test> .*result=sent" % qid)
        self.wait_gone(qid)

    def test_connection_lost_after_dot_is_retried(self):
        t = tok()
        rcpt = "drop-%s@example.org" % t
        qid = self.send(message(t, rcpt), [rcpt])
        self.wait_deferred(qid)
        self.assertLogged(r"\bevent=lost-connection\b",
                          r"while sending end of data")
        self.assertLogged(r"\bqueue=%s rcpt=<%s> .*result=deferred" %
                          (qid, re.escape(rcpt)))
        self.arrival(self.hop, t)
        self.wait_gone(qid)
        self.assertEqual(self.dsns(self.hop, qid, timeout=0), [])

    def test_421_defers(self):
        t = tok()
        rcpt = "close421-%s@example.org" % t
        qid = self.send(message(t, rcpt), [rcpt])
        self.wait_deferred(qid)
        self.assertLogged(r"\bqueue=%s rcpt=<%s> .*result=deferred" %
                          (qid, re.escape(rcpt)), r"421 4\.3\.2 shutting down")
        self.arrival(self.hop, t)
        self.wait_gone(qid)
        self.assertEqual(self.dsns(self.hop, qid, timeout=0), [])

    def test_route_and_smarthost_in_one_message(self):
        t = tok()
        rcpts = ["bob@example.org", "carol@nopipe.test"]
        qid = self.send(message(t), rcpts)
        self.assertEqual(self.arrival(self.hop, t).rcpts, ["bob@example.org"])
        self.assertEqual(self.arrival(self.nopipe, t).rcpts, ["carol@nopipe.test"])
        self.wait_gone(qid)


# ====================================================================
# 5xx: DSN back to the sender
# ====================================================================

class BounceTest(DeliveryTestCase):
    """A smarthost that refuses some recipients (550 5.1.1) and some
    messages (554 at DATA): the DSN goes to the sender through the same
    smarthost, from <>."""

    reject_dsns = False

    @classmethod
    def make_peers(cls, env):
        def rcpt_reply(mail_from, rcpt):
            if rcpt.startswith("nosuch-"):
                return "550 5.1.1 <%s>: no such user" % rcpt
            if mail_from == "" and cls.reject_dsns:
                return "550 5.7.1 no bounces accepted here"
            return None

        def data_reply(envelope):
            if any(r.startswith("spam-") for r in envelope.rcpt_tos):
                return "554 5.7.1 message refused as spam"
            return None

        cls.hop = cls.peer(tls=(env.cert, env.key), rcpt_reply=rcpt_reply,
                           data_reply=data_reply).start()
        return {"relay": {"smarthost": cls.hop.address}, "queue": FAST_QUEUE}

    def check_dsn(self, dsn, qid, t, failed, status, text):
        self.assertEqual(dsn.mail_from, "", "a DSN goes out from <>")
        self.assertEqual(dsn.rcpts, [USER])
        msg, per_msg, per_rcpt, human, headers = parse_dsn(dsn.data)
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertEqual(msg.get_param("report-type"), "delivery-status")
        self.assertEqual(msg["To"], "<%s>" % USER)
        self.assertIn("MAILER-DAEMON@relay.example.test", msg["From"])
        self.assertEqual(msg["Auto-Submitted"], "auto-replied")
        self.assertIn("dns; relay.example.test", per_msg.get("reporting-mta", ""))
        self.assertEqual(sorted(r.get("final-recipient") for r in per_rcpt),
                         sorted("rfc822; " + f for f in failed))
        for r in per_rcpt:
            self.assertEqual(r.get("action"), "failed")
            self.assertEqual(r.get("status"), status)
            self.assertIn(text, r.get("diagnostic-code", ""))
        self.assertIn(text, human)
        self.assertIn("Subject: delivery test " + t, headers)
        self.assertLogged(r"\bqueue=%s event=bounce bounce=[0-9A-F]+ to=<%s>"
                          % (qid, re.escape(USER)))

    def test_550_at_rcpt_bounces(self):
        t = tok()
        bad = "nosuch-%s@example.org" % t
        qid = self.send(message(t, bad), [bad])
        dsn = self.expect_dsn(self.hop, qid)
        self.check_dsn(dsn, qid, t, [bad], "5.1.1",
                       "550 5.1.1 <%s>: no such user" % bad)
        self.assertLogged(r"\bqueue=%s rcpt=<%s> " % (qid, re.escape(bad)),
                          r"\bresult=bounced\b")
        self.assertEqual(self.hop.with_token(t), [])
        self.wait_gone(qid)

    def test_mixed_recipients(self):
        t = tok()
        bad = "nosuch-%s@example.org" % t
        qid = self.send(message(t), ["bob@example.org", bad])
        dsn = self.expect_dsn(self.hop, qid)
        self.check_dsn(dsn, qid, t, [bad], "5.1.1", "550 5.1.1")
        got = self.hop.with_token(t)
        self.assertEqual([a.rcpts for a in got], [["bob@example.org"]])
        self.wait_gone(qid)

    def test_554_at_data_bounces_every_recipient(self):
        t = tok()
        rcpts = ["spam-%s@example.org" % t, "bob@example.org"]
        qid = self.send(message(t), rcpts)
        dsn = self.expect_dsn(self.hop, qid)
        self.check_dsn(dsn, qid, t, rcpts, "5.7.1",
                       "554 5.7.1 message refused as spam")
        self.wait_gone(qid)

    def test_no_bounce_for_a_bounce(self):
        type(self).reject_dsns = True
        self.addCleanup(setattr, type(self), "reject_dsns", False)
        t = tok()
        bad = "nosuch-%s@example.org" % t
        qid = self.send(message(t, bad), [bad])
        lines = self.assertLogged(r"\bqueue=%s event=bounce bounce=" % qid)
        bqid = re.search(r"bounce=([0-9A-F]+)", lines[0]).group(1)
        self.assertLogged(r"\bqueue=%s event=bounce result=dropped\b" % bqid)
        self.wait_gone(bqid)
        time.sleep(1)
        dsn_tries = [r for r in self.hop.refused if r[0] == ""]
        self.assertEqual(len(dsn_tries), 1, dsn_tries)
        self.assertEqual(self.dsns(self.hop, qid, timeout=0), [])
        self.assertEqual(self.log_lines(r"\bqueue=%s event=bounce bounce=" % bqid),
                         [])


class LongHostnameBounceTest(DeliveryTestCase):
    """hostname of 195 characters (the limit is 255): the DSN names it
    five times in its first lines, and must still be whole and clean."""

    LONG = "a" * 60 + "." + "b" * 60 + "." + "c" * 60 + ".example.test"

    @classmethod
    def make_peers(cls, env):
        cls.hop = cls.peer(tls=(env.cert, env.key), rcpt_reply=lambda f, r: (
            "550 5.1.1 <%s>: no such user" % r if r.startswith("nosuch-")
            else None)).start()
        return {"hostname": cls.LONG, "relay": {"smarthost": cls.hop.address},
                "queue": FAST_QUEUE}

    def test_dsn_with_a_long_hostname(self):
        t = tok()
        bad = "nosuch-%s@example.org" % t
        qid = self.send(message(t, bad), [bad])
        dsn = self.expect_dsn(self.hop, qid)
        self.assertFalse(b"\0" in dsn.data, "NUL bytes in the DSN")
        self.assertTrue(all(b < 0x80 for b in dsn.data), "non-ASCII in the DSN")
        msg, per_msg, per_rcpt, human, headers = parse_dsn(dsn.data)
        self.assertEqual(msg.get_content_type(), "multipart/report")
        boundary = msg.get_boundary()
        self.assertTrue(boundary and self.LONG in boundary, boundary)
        self.assertIn(("\r\n--%s--\r\n" % boundary).encode(), dsn.data)
        self.assertIn("MAILER-DAEMON@" + self.LONG, msg["From"])
        self.assertEqual(per_msg.get("reporting-mta"), "dns; " + self.LONG)
        self.assertEqual([r.get("final-recipient") for r in per_rcpt],
                         ["rfc822; " + bad])
        self.assertEqual(per_rcpt[0].get("status"), "5.1.1")
        self.assertIn("Subject: delivery test " + t, headers)
        self.wait_gone(qid)


# ====================================================================
# Expiry
# ====================================================================

class SlowRecipientTestCase(DeliveryTestCase):
    """A next hop that always answers 451 to recipients named slow-*;
    subclasses set queue_settings."""

    queue_settings = {}

    @classmethod
    def make_peers(cls, env):
        def rcpt_reply(mail_from, rcpt):
            if rcpt.startswith("slow-"):
                return "451 4.3.0 mailbox busy"
            return None

        cls.hop = cls.peer(tls=(env.cert, env.key), rcpt_reply=rcpt_reply).start()
        return {"relay": {"smarthost": cls.hop.address},
                "queue": dict(FAST_QUEUE, **cls.queue_settings)}


class ExpiryTest(SlowRecipientTestCase):
    """queue { lifetime = 3 retry_min = 1 }: a next hop that always answers
    451 for some recipients; after the lifetime a DSN says 4.4.7."""

    queue_settings = {"lifetime": 3, "retry_max": 1}

    def test_expired_dsn(self):
        t = tok()
        slow = "slow-%s@example.org" % t
        start = time.monotonic()
        qid = self.send(message(t, slow), [slow])
        dsn = self.expect_dsn(self.hop, qid, timeout=15)
        # The queue counts in whole seconds from the second of arrival: a
        # message that came at x.9 may expire 2.1 s later, never sooner.
        self.assertGreaterEqual(time.monotonic() - start, 2.0,
                                "bounced before the lifetime")
        self.assertEqual(dsn.mail_from, "")
        self.assertEqual(dsn.rcpts, [USER])
        self.assertGreaterEqual(len(self.log_lines(
            r"\bqueue=%s event=deferred\b" % qid)), 2)
        self.assertLogged(r"\bqueue=%s rcpt=<%s> result=expired"
                          % (qid, re.escape(slow)))
        msg, per_msg, per_rcpt, human, headers = parse_dsn(dsn.data)
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertEqual([r.get("final-recipient") for r in per_rcpt],
                         ["rfc822; " + slow])
        self.assertIn("expired", human)
        self.assertIn("451 4.3.0 mailbox busy", human)
        # RFC 3463 X.4.7 "delivery time expired" (4.4.7 as the daemon's own
        # reason says; 5.4.7 would do as well).
        self.assertIn(per_rcpt[0].get("status"), ("4.4.7", "5.4.7"),
                      "Status of an expiry DSN: %r" % per_rcpt[0])
        self.wait_gone(qid)


class DelayWarningTest(SlowRecipientTestCase):
    """queue { delay_warning = 1 }: a message still pending after a second
    gets one "delayed" DSN (RFC 3464 Action: delayed) and stays queued."""

    queue_settings = {"delay_warning": 1, "retry_max": 1}

    def test_one_delay_warning(self):
        t = tok()
        slow = "slow-%s@example.org" % t
        qid = self.send(message(t, slow), [slow])
        dsn = self.expect_dsn(self.hop, qid, timeout=15)
        self.assertEqual(dsn.mail_from, "")
        self.assertEqual(dsn.rcpts, [USER])
        msg, per_msg, per_rcpt, human, headers = parse_dsn(dsn.data)
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertIn("Delayed Mail", msg.get("subject"))
        self.assertEqual([r.get("action") for r in per_rcpt], ["delayed"])
        self.assertEqual(per_rcpt[0].get("status"), "4.3.0")
        self.assertIn("451 4.3.0 mailbox busy", human)
        self.assertLogged(r"\bqueue=%s event=delay-warning\b" % qid)
        # Still queued and retried, and warned once only.
        time.sleep(3)
        self.assertIn(qid, h.queue_files(self.env.spool))
        self.assertEqual(len(self.log_lines(
            r"\bqueue=%s event=delay-warning\b" % qid)), 1)
        self.assertGreaterEqual(len(self.log_lines(
            r"\bqueue=%s event=deferred\b" % qid)), 2)


# ====================================================================
# Restart with mail queued
# ====================================================================

class RestartTest(DeliveryTestCase):
    """SIGTERM with mail queued and the next hop down; next hop up, submitd
    up again: every message arrives exactly once, and recipients delivered
    before the stop are not delivered again."""

    hold_later = True

    @classmethod
    def make_peers(cls, env):
        slow = set()

        def rcpt_reply(mail_from, rcpt):
            if rcpt.startswith("later-") and cls.hold_later:
                return "451 4.3.0 not yet"
            return None

        def data_reply(envelope):
            for r in envelope.rcpt_tos:
                if r.startswith("slowdot-") and r not in slow:
                    slow.add(r)
                    return 2.0
            return None

        cls.hop = cls.peer(tls=(env.cert, env.key), rcpt_reply=rcpt_reply,
                           data_reply=data_reply)
        return {"relay": {"smarthost": cls.hop.address},
                "queue": dict(FAST_QUEUE, retry_max=1)}

    def test_restart_delivers_everything_once(self):
        tokens = [tok() for _ in range(4)]
        qids = [self.send(message(t)) for t in tokens]
        for q in qids:
            self.wait_deferred(q)
        self.daemon.stop()
        self.assertEqual(sorted(qids), sorted(
            q for q in h.queue_files(self.env.spool) if q in qids))
        self.hop.start()
        self.daemon.start()
        self.assertLogged(r"\bevent=queue-load messages=%d\b" % len(qids))
        for t in tokens:
            self.arrival(self.hop, t, timeout=15)
        for q in qids:
            self.wait_gone(q)
        time.sleep(2)
        for t in tokens:
            self.arrival(self.hop, t)

    def test_sigterm_while_a_reply_is_awaited(self):
        # The next hop has the whole message and answers the final dot 2 s
        # later; SIGTERM comes in between.  A graceful stop lets the
        # transaction finish (or at least records nothing that makes the
        # restarted daemon send it again).
        self.hop.start()
        t = tok()
        rcpt = "slowdot-%s@example.org" % t
        qid = self.send(message(t, rcpt), [rcpt])
        self.assertTrue(h.wait_until(lambda: self.hop.with_token(t), 10))
        self.daemon.stop(timeout=15)
        time.sleep(2.2)                 # the peer's late 250 has gone out
        self.daemon.start()
        time.sleep(2)
        got = self.hop.with_token(t)
        self.assertEqual(len(got), 1, "arrivals: %r\n%s" % (
            got, "\n".join(self.log_lines(r"\bqueue=%s\b|event=stop" % qid))))
        self.wait_gone(qid)

    def test_restart_keeps_per_recipient_state(self):
        self.hop.start()
        t = tok()
        later = "later-%s@example.org" % t
        qid = self.send(message(t), ["bob@example.org", later])
        first = self.arrival(self.hop, t)
        self.assertEqual(first.rcpts, ["bob@example.org"])
        self.wait_deferred(qid)
        self.daemon.stop()
        with open(os.path.join(self.env.spool, "state", qid)) as f:
            state = f.read()
        self.assertRegex(state, r"rcpt: 0 delivered ")
        self.assertRegex(state, r"rcpt: 1 pending ")
        type(self).hold_later = False
        self.daemon.start()
        got = self.arrival(self.hop, t, n=2, timeout=15)
        self.assertEqual([a.rcpts for a in got], [["bob@example.org"], [later]])
        self.wait_gone(qid)


class TwoRoutesCrashTest(DeliveryTestCase):
    """One message, two recipients on two routes: A takes it at once, B
    answers the final dot only much later.  kill -9 once A has it: the
    restarted daemon must not send it to A again."""

    hold_b = True

    @classmethod
    def make_peers(cls, env):
        cls.a = cls.peer().start()
        cls.b = cls.peer(data_reply=lambda e: 30 if cls.hold_b else None).start()
        return {'route "a.test"': {"host": cls.a.address, "tls": "none"},
                'route "b.test"': {"host": cls.b.address, "tls": "none"},
                "queue": dict(FAST_QUEUE, data_timeout=60)}

    def test_kill9_while_one_route_waits(self):
        def cleanup():
            if type(self).hold_b:   # failed early: B would hold the stop
                self.daemon.kill9()
            type(self).hold_b = True
        self.addCleanup(cleanup)
        t = tok()
        rcpts = ["x-%s@a.test" % t, "y-%s@b.test" % t]
        qid = self.send(message(t, rcpts[0]), rcpts)
        self.arrival(self.a, t)
        self.assertTrue(h.wait_until(lambda: self.b.with_token(t), 10))
        # Give A's result time to reach the disk (the fixed daemon writes
        # it at once; the old one only once B had answered).
        state = os.path.join(self.env.spool, "state", qid)
        self.assertTrue(h.wait_until(lambda: os.path.exists(state) and
                        "rcpt: 0 delivered" in open(state).read(), 10),
                        "A's delivery never reached state/" + self.log_tail())
        self.daemon.kill9()
        b_before = len(self.b.with_token(t))   # B's unanswered transaction
        type(self).hold_b = False
        self.daemon.start()
        self.assertTrue(h.wait_until(
            lambda: len(self.b.with_token(t)) > b_before, 15),
            "B never got it after the restart" + self.log_tail())
        self.wait_gone(qid)
        time.sleep(1)
        got = self.a.with_token(t)
        self.assertEqual([a.rcpts for a in got], [[rcpts[0]]],
                         "A got it %d times" % len(got))
        got = self.b.with_token(t)[b_before:]
        self.assertEqual([a.rcpts for a in got], [[rcpts[1]]])


# ====================================================================
# submitctl and connection reuse
# ====================================================================

class SubmitctlTest(DeliveryTestCase):
    """A smarthost that is down unless a test starts it; deferred mail
    waits (retry_min = 300) until a test flushes it."""

    @classmethod
    def make_peers(cls, env):
        cls.hop = cls.peer(tls=(env.cert, env.key))
        return {"relay": {"smarthost": cls.hop.address}, "queue": SLOW_QUEUE}

    def setUp(self):
        super().setUp()
        self.hop.stop()
        self.hop.reset()
        self.addCleanup(self.cleanup_queue)

    def cleanup_queue(self):
        """Deletes what a test left queued (retrying while a delivery
        attempt is in flight) and waits until it is gone."""
        deadline = time.monotonic() + 10
        while h.queue_files(self.env.spool) and time.monotonic() < deadline:
            for q in h.queue_files(self.env.spool):
                h.submitctl(self.env, "delete", q)
            time.sleep(0.1)

    def test_queue_lists_messages(self):
        [(qid, t)] = self.queued()
        [q] = [q for q in h.spool_messages(self.env.spool) if q.id == qid]
        size = q.size
        p = self.ctl("queue")
        self.assertEqual(p.stderr, "")
        lines = p.stdout.splitlines()
        head = [l for l in lines if l.startswith(qid)]
        self.assertEqual(len(head), 1, p.stdout)
        self.assertRegex(head[0], r"\bage \d+s\b")
        m = re.search(r"\bsize (\d+)\b", head[0])
        self.assertTrue(m, head[0])
        self.assertLessEqual(int(m.group(1)), size)
        self.assertGreater(int(m.group(1)), len(message(t)))
        self.assertIn("from <%s>" % USER, head[0])
        self.assertRegex(head[0], r"next in \d+[smh]\b")
        rl = [l for l in lines if "<bob@example.org>" in l]
        self.assertTrue(rl, p.stdout)
        self.assertIn("pending: 4.4.1 connect to 127.0.0.1[127.0.0.1]:%d"
                      % self.hop.port, "\n".join(rl))
        self.assertRegex(lines[-1], r"^1 message$")

    def test_show(self):
        [(qid, t)] = self.queued()
        p = self.ctl("show", qid)
        self.assertTrue(p.stdout.startswith(qid), p.stdout)
        self.assertIn("<bob@example.org> pending: 4.4.1 connect to", p.stdout)
        self.assertRegex(p.stdout, r"attempts 1\b")
        self.assertRegex(p.stdout, r"arrival \d+")

    def test_flush_reuses_one_connection(self):
        items = self.queued(4)
        self.hop.start()
        p = self.ctl("flush")
        self.assertIn("4 messages scheduled now", p.stdout)
        got = [self.arrival(self.hop, t) for _, t in items]
        self.assertEqual({a.conn for a in got}, {1},
                         "messages to one next hop share a connection: %r" % got)
        self.assertEqual(self.hop.connections, 1)
        for qid, _ in items:
            self.wait_gone(qid)

    def test_flush_batch_with_refusals(self):
        # One connection carries all four; the second message's only
        # recipient is refused (RSET follows), the third's DATA too.
        self.hop.rcpt_reply = lambda f, r: ("550 5.1.1 no such user"
                                            if r.startswith("nosuch-") else None)
        self.hop.data_reply = lambda e: ("554 5.6.0 refused"
                                         if e.rcpt_tos[0].startswith("bad-")
                                         else None)
        self.addCleanup(setattr, self.hop, "rcpt_reply", None)
        self.addCleanup(setattr, self.hop, "data_reply", None)
        ts = [tok() for _ in range(4)]
        rcpts = ["bob@example.org", "nosuch-%s@example.org" % ts[1],
                 "bad-%s@example.org" % ts[2], "carol@example.org"]
        qids = []
        for t, r in zip(ts, rcpts):
            qids.append(self.send(message(t, r), [r]))
        for q in qids:
            self.wait_deferred(q)
        self.hop.start()
        self.ctl("flush")
        a0, a3 = self.arrival(self.hop, ts[0]), self.arrival(self.hop, ts[3])
        self.assertEqual((a0.conn, a3.conn), (1, 1))
        self.assertEqual(a3.rcpts, ["carol@example.org"])
        conn1 = [c[1] for c in self.hop.commands if c[0] == 1]
        self.assertIn("RSET", conn1)
        for q, r in ((qids[1], "550 5.1.1 no such user"),
                     (qids[2], "554 5.6.0 refused")):
            self.assertLogged(r"\bqueue=%s rcpt=.* result=bounced reply=\"%s\""
                              % (q, re.escape(r)))
            self.expect_dsn(self.hop, q)
        for q in qids:
            self.wait_gone(q)

    def test_flush_one(self):
        (q1, t1), (q2, t2) = self.queued(2)
        self.hop.start()
        p = self.ctl("flush", q1)
        self.assertIn("1 message scheduled now", p.stdout)
        self.arrival(self.hop, t1)
        self.wait_gone(q1)
        self.assertNotArrived(self.hop, t2, wait=1)
        self.assertTrue(self.in_queue(q2))
        self.ctl("flush")
        self.arrival(self.hop, t2)
        self.wait_gone(q2)

    def test_hold_and_release(self):
        (q1, t1), (q2, t2) = self.queued(2)
        p = self.ctl("hold", q1)
        self.assertIn("%s held" % q1, p.stdout)
        self.wait_state(q1, "held: 1\n")
        self.assertRegex(self.ctl("show", q1).stdout, r"\bheld\b")
        self.hop.start()
        self.ctl("flush")
        self.arrival(self.hop, t2)
        self.assertNotArrived(self.hop, t1, wait=1.5)
        self.assertTrue(self.in_queue(q1))
        p = self.ctl("release", q1)
        self.assertIn("%s released" % q1, p.stdout)
        self.arrival(self.hop, t1)
        self.wait_gone(q1)
        self.assertLogged(r"\bqueue=%s event=hold by=submitctl" % q1)
        self.assertLogged(r"\bqueue=%s event=release by=submitctl" % q1)

    def test_hold_survives_restart(self):
        # (queued() waited for the deferral's state write: none is in
        # flight when hold answers and SIGTERM follows at once.)
        [(qid, t)] = self.queued()
        self.ctl("hold", qid)
        self.daemon.stop()
        self.hop.start()
        self.daemon.start()
        self.ctl("flush")
        self.assertNotArrived(self.hop, t, wait=1.5)
        self.assertRegex(self.ctl("show", qid).stdout, r"\bheld\b")
        self.ctl("release", qid)
        self.arrival(self.hop, t)

    def test_delete(self):
        [(qid, t)] = self.queued()
        self.assertTrue(os.path.exists(os.path.join(self.env.spool, "state", qid)))
        p = self.ctl("delete", qid)
        self.assertIn("%s deleted" % qid, p.stdout)
        self.wait_gone(qid)
        self.assertFalse(os.path.exists(os.path.join(self.env.spool, "queue", qid)))
        self.assertFalse(os.path.exists(os.path.join(self.env.spool, "state", qid)))
        self.ctl("show", qid, rc=1)
        self.assertLogged(r"\bqueue=%s event=delete by=submitctl" % qid)
        self.hop.start()
        self.ctl("flush")
        self.assertNotArrived(self.hop, t, wait=1)

    def test_stats(self):
        before = dict(l.split(" ", 1) for l in self.ctl("stats").stdout.splitlines())
        [(qid, t)] = self.queued()
        self.hop.start()
        self.ctl("flush", qid)
        self.arrival(self.hop, t)
        self.wait_gone(qid)

        def stats():
            return dict(l.split(" ", 1)
                        for l in self.ctl("stats").stdout.splitlines())
        after = h.wait_until(lambda: (lambda s: s if s["queued"] == "0"
                                      else None)(stats()))
        self.assertTrue(after, "queued never went back to 0")
        for key in ("queued", "delivered", "deferred", "bounced"):
            self.assertIn(key, after)
        self.assertEqual(int(after["delivered"]), int(before["delivered"]) + 1)
        self.assertEqual(int(after["deferred"]), int(before["deferred"]) + 1)
        self.assertEqual(int(after["queued"]), 0)
        self.assertEqual(int(after["messages"]), int(before["messages"]) + 1)
        # One message, deferred once, then delivered: the journal took it,
        # its state after the failed attempt, its state once delivered and
        # its removal; alone, the first three in fdatasyncs of their own.
        self.assertGreaterEqual(int(after["journal_records"]),
                                int(before["journal_records"]) + 4)
        self.assertGreaterEqual(int(after["fsyncs"]), int(before["fsyncs"]) + 3)
        self.assertGreaterEqual(int(after["journal_batches"]),
                                int(before["journal_batches"]) + 3)
        self.assertAlmostEqual(float(after["fsyncs_per_message"]),
                               int(after["fsyncs"]) / int(after["messages"]),
                               places=2)

    def test_reload(self):
        p = self.ctl("reload")
        self.assertIn("reloaded", p.stdout)
        self.assertTrue(self.daemon.alive())

    def test_control_socket_mode(self):
        st = os.stat(os.path.join(self.env.dir, "control.sock"))
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual(st.st_uid, 0)

    def test_errors(self):
        [(qid, _)] = self.queued()
        unknown = "F" * len(qid)
        for args in (("show", unknown), ("delete", unknown), ("hold", unknown),
                     ("release", unknown), ("flush", unknown),
                     ("show", "../../etc/passwd"), ("show", "nonsense")):
            p = self.ctl(*args, rc=1)
            self.assertRegex(p.stderr, r"error: no message", args)
            self.assertEqual(p.stdout, "", args)
        p = self.ctl("frobnicate", "x", rc=1)
        self.assertIn("error", p.stderr)
        p = self.ctl("show", rc=1)              # missing id
        self.assertIn("error", p.stderr)
        p = subprocess.run([h.submitctl_binary(), "-s",
                            os.path.join(self.env.dir, "nosuch.sock"), "queue"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 2, p.stderr)
        p = subprocess.run([h.submitctl_binary()], capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertTrue(self.in_queue(qid))     # nothing happened to it



class ConnectionLimitsTest(DeliveryTestCase):
    """queue { messages_per_connection = 2 }: a backlog of five messages
    for one next hop takes three connections, and all five arrive."""

    @classmethod
    def make_peers(cls, env):
        cls.hop = cls.peer(tls=(env.cert, env.key))
        return {"relay": {"smarthost": cls.hop.address},
                "queue": dict(SLOW_QUEUE, messages_per_connection=2)}

    def test_backlog_split_over_connections(self):
        items = self.queued(5)
        self.hop.start()
        self.ctl("flush")
        h.wait_until(lambda: all(self.hop.with_token(t) for _, t in items), 10)
        missing = [(q, t) for q, t in items if not self.hop.with_token(t)]
        if missing:
            shown = "\n".join(self.ctl("show", q, rc=None).stdout
                              for q, _ in missing)
            self.fail("%d of 5 messages never arrived (submitctl show):\n%s%s"
                      % (len(missing), shown, self.log_tail()))
        per_conn = {}
        for _, t in items:
            a = self.arrival(self.hop, t)
            per_conn.setdefault(a.conn, []).append(t)
        self.assertEqual(sorted(len(v) for v in per_conn.values()), [1, 2, 2])
        for qid, _ in items:
            self.wait_gone(qid)

if __name__ == "__main__":
    sys.exit(h.main(__name__, OPTIONAL_TOOLS))
