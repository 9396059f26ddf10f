#!/usr/bin/env python3
"""submitd with real clients: swaks, smtplib, curl, openssl s_client, and a
raw socket where exact bytes matter.  Each test checks the reply codes and
the bytes that land in the spool (byte-exact: the message as sent behind
submitd's own Received header, see harness.expected_spooled), or that
nothing landed.

Run by `make check` as `$(PYTHON3) tests/integration/test_clients.py` with
top_builddir/top_srcdir set; by hand, it falls back to build-dev/submitd.
Exit 0: all passed; 1: a failure; 77: an optional tool is missing.
KEEP_TMP=1 keeps the temporary directories (config, log, spool).
"""

import base64
import hashlib
import hmac
import os
import pwd
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

RCPT = h.RCPT
OPTIONAL_TOOLS = ()     # a missing one makes the suite exit 77


class DaemonTestCase(h.DaemonTestCase):
    """One daemon per class (harness.DaemonTestCase): the spool checks
    compare byte for byte with harness.expected_spooled.  make_message
    carries From, Date and Message-ID, so what submitd adds is its own
    Received field alone."""


def scram_sha256_login(smtp, user, password):
    """AUTH SCRAM-SHA-256 over smtplib.docmd (RFC 5802, RFC 7677); returns
    the final (code, text) and checks the server signature."""
    b64 = h.b64
    cnonce = b64(os.urandom(18))
    saslname = user.replace("=", "=3D").replace(",", "=2C")
    bare = "n=%s,r=%s" % (saslname, cnonce)
    code, resp = smtp.docmd("AUTH", "SCRAM-SHA-256 " + b64("n,," + bare))
    if code != 334:
        return code, resp
    server_first = base64.b64decode(resp).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert attrs["r"].startswith(cnonce), server_first
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(),
                                 base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    final_bare = "c=biws,r=" + attrs["r"]
    auth_msg = ("%s,%s,%s" % (bare, server_first, final_bare)).encode()
    signature = hmac.new(stored_key, auth_msg, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    code, resp = smtp.docmd(b64("%s,p=%s" % (final_bare, b64(proof))))
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    expected = "v=" + b64(hmac.new(server_key, auth_msg, "sha256").digest())
    if code == 334:     # RFC 4954 §4: additional data with success
        assert base64.b64decode(resp).decode() == expected, resp
        code, resp = smtp.docmd("")
    return code, resp


# ====================================================================
# Real clients submitting real mail
# ====================================================================

class ClientsTest(DaemonTestCase):
    env_args = dict(implicit=True, ipv6=h.ipv6_available())

    def data_file(self, message, crlf=True):
        path = os.path.join(self.env.dir, self.token() + ".eml")
        with open(path, "wb") as f:
            f.write(message if crlf else message.replace(b"\r\n", b"\n"))
        return path

    def swaks(self, mech):
        message = h.make_message(self.token())
        # swaks adds the final CRLF itself (a file ending in one would gain
        # an empty line), converts LF to CRLF and dot-stuffs.
        data = self.data_file(message[:-2], crlf=False)
        before = self.snapshot()
        p = subprocess.run(
            [h.tool("swaks"), "--server", "127.0.0.1:%d" % self.port, "--tls",
             "--auth", mech, "--auth-user", h.USER,
             "--auth-password", h.PASSWORD, "--from", h.USER, "--to", RCPT,
             "--ehlo", "swaks.example.test", "--data", "@" + data,
             "--timeout", "10"],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + self.log_tail())
        qid = h.queued_id(p.stdout)
        self.assertIsNotNone(qid, p.stdout)
        self.assertSpooled(before, message, qid=qid, helo="swaks.example.test")

    def test_swaks_auth_plain(self):
        self.swaks("PLAIN")

    def test_swaks_auth_login(self):
        self.swaks("LOGIN")

    def test_smtplib_starttls(self):
        message = h.make_message(self.token())
        before = self.snapshot()
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10,
                          local_hostname="smtplib.example.test") as s:
            s.ehlo()
            self.assertTrue(s.has_extn("starttls"))
            self.assertFalse(s.has_extn("auth"))
            s.starttls(context=h.client_context())
            s.login(h.USER, h.PASSWORD)
            self.assertEqual(s.sendmail(h.USER, [RCPT], message), {})
        self.assertSpooled(before, message, helo="smtplib.example.test")

    def test_smtplib_implicit_tls(self):
        message = h.make_message(self.token())
        before = self.snapshot()
        with smtplib.SMTP_SSL("127.0.0.1", self.env.implicit_port, timeout=10,
                              local_hostname="smtps.example.test",
                              context=h.client_context()) as s:
            s.ehlo()
            self.assertTrue(s.has_extn("auth"))
            self.assertFalse(s.has_extn("starttls"))
            s.login(h.USER, h.PASSWORD)
            s.mail(h.USER)
            s.rcpt(RCPT)
            code, resp = s.data(message)
            self.assertEqual(code, 250, resp)
        self.assertSpooled(before, message, qid=h.queued_id("250 " + resp.decode()),
                           helo="smtps.example.test")

    def test_smtplib_ipv6(self):
        if not self.env.ipv6_port:
            self.skipTest("no IPv6 loopback")
        message = h.make_message(self.token())
        before = self.snapshot()
        with smtplib.SMTP("::1", self.env.ipv6_port, timeout=10,
                          local_hostname="ipv6.example.test") as s:
            s.starttls(context=h.client_context())
            s.login(h.USER, h.PASSWORD)
            s.sendmail(h.USER, [RCPT], message)
        q = h.spool_messages(self.env.spool, exclude=before)
        self.assertEqual([x.body for x in q],
                         [h.expected_spooled(message, x.envelope) for x in q])
        self.assertEqual(len(q), 1, q)
        self.assertIn("::1", q[0].envelope.get("client", ""))

    def test_curl(self):
        message = h.make_message(self.token())
        data = self.data_file(message)
        before = self.snapshot()
        p = subprocess.run(
            # The URL path is curl's EHLO name (without one, -T appends
            # the file name).
            [h.tool("curl"), "-sS", "-v",
             "smtp://127.0.0.1:%d/curl.example.test" % self.port,
             "--ssl-reqd", "-k", "--user", "%s:%s" % (h.USER, h.PASSWORD),
             "--mail-from", h.USER, "--mail-rcpt", RCPT,
             "--upload-file", data, "--max-time", "20"],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:] + self.log_tail())
        self.assertSpooled(before, message, qid=h.queued_id(p.stderr),
                           helo="curl.example.test")

    def test_openssl_s_client(self):
        message = h.make_message(self.token())
        before = self.snapshot()
        c = h.PipeSMTP([h.tool("openssl"), "s_client", "-starttls", "smtp",
                        "-name", "s-client.example.test",
                        "-connect", "127.0.0.1:%d" % self.port,
                        "-quiet", "-nocommands"])
        self.addCleanup(c.finish)
        r = c.cmd("EHLO s-client.example.test")
        self.assertReply(r, 250)
        self.assertIn("AUTH", r.keywords)
        self.assertReply(c.cmd("AUTH PLAIN " + h.plain_ir()), 235)
        self.assertReply(c.cmd("MAIL FROM:<%s>" % h.USER), 250)
        self.assertReply(c.cmd("RCPT TO:<%s>" % RCPT), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(h.dot_stuff(message))
        r = c.reply()
        self.assertReply(r, 250, "2.0.0")
        self.assertReply(c.cmd("QUIT"), 221)
        # s_client's exit status only says whether a TLS close_notify came.
        self.assertIsNotNone(c.finish(), "s_client still running after QUIT")
        self.assertSpooled(before, message, qid=h.queued_id(str(r)),
                           helo="s-client.example.test")

    def test_scram_sha_256(self):
        message = h.make_message(self.token())
        before = self.snapshot()
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10,
                          local_hostname="scram.example.test") as s:
            s.starttls(context=h.client_context())
            s.ehlo()
            mechs = s.esmtp_features.get("auth", "").upper().split()
            if "SCRAM-SHA-256" not in mechs:
                self.skipTest("SCRAM-SHA-256 not advertised: %r" % mechs)
            code, resp = scram_sha256_login(s, h.USER, h.PASSWORD)
            self.assertEqual(code, 235, "%r%s" % (resp, self.log_tail()))
            s.sendmail(h.USER, [RCPT], message)
        self.assertSpooled(before, message)

    def test_accept_log_line(self):
        c = self.authed()
        message = h.make_message(self.token())
        qid = self.submit(c, message)
        def accept_lines():
            return [l for l in self.daemon.log().splitlines()
                    if re.search(r"\baction=accept\b", l)
                    and re.search(r"\bqueue=%s\b" % re.escape(qid), l)]
        h.wait_until(accept_lines)
        lines = accept_lines()
        self.assertEqual(len(lines), 1, "action=accept lines for %s: %r%s"
                         % (qid, lines, self.log_tail()))
        line = lines[0]
        for field in ("user=" + h.USER, "client=127.0.0.1", "from=", "rcpts=",
                      "size=", "tls=TLSv1."):
            self.assertIn(field, line)
        # size= is the queued message's (with submitd's Received field).
        q = [x for x in h.spool_messages(self.env.spool) if x.id == qid]
        self.assertEqual(len(q), 1, qid)
        self.assertRegex(line, r"\bsize=%d\b" % len(q[0].body))

    def test_zz_log_has_no_secrets(self):
        # Runs last in this class (alphabetical): every client has logged in.
        log = self.daemon.full_log()
        self.assertTrue(log, "empty daemon log")
        for secret in (h.PASSWORD, h.plain_ir(), h.b64(h.PASSWORD)):
            self.assertNotIn(secret, log)


# ====================================================================
# What a client may not do
# ====================================================================

class SessionRulesTest(DaemonTestCase):
    env_args = dict(limits={"message_size": 10000, "recipients": 3,
                            "errors": 5})

    def test_banner(self):
        c = self.plain()
        r = c.reply()
        self.assertEqual(r.raw, b"220 relay.example.test ESMTP\r\n")

    def test_ehlo_before_tls(self):
        c = self.plain()
        c.reply()
        r = c.ehlo()
        self.assertReply(r, 250)
        self.assertTrue(r.lines[0].startswith("relay.example.test"), r)
        for kw in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES",
                   "STARTTLS"):
            self.assertIn(kw, r.keywords)
        self.assertNotIn("AUTH", r.keywords)
        self.assertIn("SIZE 10000", r.lines)

    def test_commands_before_tls(self):
        for line in ("MAIL FROM:<%s>" % h.USER, "RCPT TO:<%s>" % RCPT, "DATA",
                     "AUTH PLAIN " + h.plain_ir()):
            with self.subTest(line=line.split()[0]):
                c = self.plain()
                c.reply()
                c.ehlo()
                self.assertReply(c.cmd(line), 530, "5.7.0")

    def test_ehlo_after_tls(self):
        r = self.tls().ehlo()
        auth = [l for l in r.lines if l.upper().startswith("AUTH ")]
        self.assertEqual(len(auth), 1, r)
        mechs = auth[0].upper().split()[1:]
        self.assertIn("PLAIN", mechs)
        self.assertIn("LOGIN", mechs)
        self.assertNotIn("STARTTLS", r.keywords)
        self.assertIn("PIPELINING", r.keywords)

    def test_mail_before_auth(self):
        c = self.tls()
        r = c.cmd("MAIL FROM:<%s>" % h.USER)
        self.assertReply(r, 530, "5.7.0", "5.7.0 Authentication required")

    def test_bad_password(self):
        wrong = "Wr0ng-" + uuid.uuid4().hex
        c = self.tls()
        self.assertReply(c.login(password=wrong), 535, "5.7.8")
        self.assertReply(c.cmd("MAIL FROM:<%s>" % h.USER), 530, "5.7.0")
        time.sleep(0.2)
        log = self.daemon.full_log()
        self.assertNotIn(wrong, log)
        self.assertNotIn(h.plain_ir(password=wrong), log)

    def test_second_auth(self):
        c = self.authed()
        self.assertReply(c.login(), 503, "5.5.1")

    def test_auth_cancelled(self):
        c = self.tls()
        self.assertReply(c.cmd("AUTH LOGIN"), 334)
        self.assertReply(c.cmd("*"), 501)
        self.assertReply(c.cmd("NOOP"), 250)

    def test_vrfy_expn_unknown(self):
        c = self.tls()
        self.assertReply(c.cmd("VRFY alice"), 252)
        self.assertReply(c.cmd("EXPN staff"), 502)
        self.assertReply(c.cmd("FROBNICATE now"), 500, "5.5.2")
        c = self.plain()
        c.reply()
        self.assertReply(c.cmd("FROBNICATE now"), 500, "5.5.2")

    def test_sender_not_owned(self):
        c = self.authed()
        self.assertReply(c.cmd("MAIL FROM:<bob@example.test>"), 553, "5.7.1")

    def test_starttls_discards_pipelined_input(self):
        # RFC 3207 §4.2 / CVE-2011-0411: the NOOP must not be answered.
        c = self.plain()
        c.reply()
        c.ehlo()
        c.send(b"STARTTLS\r\nNOOP\r\n")
        self.assertReply(c.reply(), 220)
        c.starttls()    # fails if a plaintext "250" followed the 220
        r = c.ehlo()
        self.assertReply(r, 250)
        self.assertIn("AUTH", r.keywords, "first reply after TLS: %s" % r)
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertEqual(c.pending(0.5), b"", "stray reply after TLS")

    def tls_handshake(self, context):
        """STARTTLS with context; returns the negotiated version or raises."""
        c = self.plain()
        c.reply()
        c.ehlo()
        self.assertReply(c.cmd("STARTTLS"), 220)
        c.starttls(context)
        return c.tls_version

    def test_old_tls_refused(self):
        for name in ("TLSv1", "TLSv1_1"):
            version = getattr(ssl.TLSVersion, name)
            with self.subTest(version=name):
                ctx = h.client_context(minimum=version, maximum=version,
                                       seclevel0=True)
                with self.assertRaises((ssl.SSLError, ConnectionError)):
                    self.tls_handshake(ctx)
        # The same client settings do handshake when 1.2 is allowed, so the
        # refusal above came from the server.
        ctx = h.client_context(minimum=getattr(ssl.TLSVersion, "TLSv1"),
                               maximum=ssl.TLSVersion.TLSv1_2, seclevel0=True)
        self.assertEqual(self.tls_handshake(ctx), "TLSv1.2")

    def test_size_parameter_too_big(self):
        c = self.authed()
        r = c.cmd("MAIL FROM:<%s> SIZE=20000" % h.USER)
        self.assertReply(r, 552, "5.3.4")
        self.assertReply(c.cmd("MAIL FROM:<%s> SIZE=2000" % h.USER), 250)

    def test_data_too_big(self):
        before = self.snapshot()
        c = self.authed()
        big = h.make_message(self.token(), extra_body=(b"x" * 70 + b"\r\n") * 200)
        self.assertReply(c.cmd("MAIL FROM:<%s>" % h.USER), 250)
        self.assertReply(c.cmd("RCPT TO:<%s>" % RCPT), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(h.dot_stuff(big))
        self.assertReply(c.reply(timeout=10), 552, "5.3.4")
        self.assertNothingSpooled(before)
        # The session is in step again: a small message goes through.
        small = h.make_message(self.token())
        qid = self.submit(c, small)
        self.assertSpooled(before, small, qid=qid)

    def test_too_many_recipients(self):
        before = self.snapshot()
        c = self.authed()
        rcpts = ["r%d@example.org" % i for i in range(4)]
        self.assertReply(c.cmd("MAIL FROM:<%s>" % h.USER), 250)
        for rcpt in rcpts[:3]:
            self.assertReply(c.cmd("RCPT TO:<%s>" % rcpt), 250)
        self.assertReply(c.cmd("RCPT TO:<%s>" % rcpts[3]), 452, "4.5.3")
        self.assertReply(c.cmd("DATA"), 354)
        message = h.make_message(self.token())
        c.send(h.dot_stuff(message))
        self.assertReply(c.reply(), 250)
        self.assertSpooled(before, message, rcpts=rcpts[:3])

    def test_pipelining(self):
        before = self.snapshot()
        c = self.authed()
        c.send("MAIL FROM:<%s>\r\nRCPT TO:<a@example.org>\r\n"
               "RCPT TO:<b@example.net>\r\nDATA\r\n" % h.USER)
        codes = [c.reply().code for _ in range(4)]
        self.assertEqual(codes, [250, 250, 250, 354], self.log_tail())
        message = h.make_message(self.token())
        c.send(h.dot_stuff(message) + b"QUIT\r\n")
        r = c.reply()
        self.assertReply(r, 250, "2.0.0")
        self.assertReply(c.reply(), 221)
        self.assertSpooled(before, message, qid=h.queued_id(str(r)),
                           rcpts=["a@example.org", "b@example.net"])

    def test_errors_limit(self):
        c = self.plain()
        c.reply()
        replies = []
        for _ in range(7):
            try:
                replies.append(c.cmd("BOGUS"))
            except (h.ConnectionClosed, BrokenPipeError, ConnectionResetError):
                break
            if replies[-1].code == 421:
                break
        codes = [r.code for r in replies]
        self.assertIn(421, codes, replies)
        self.assertIn(codes.index(421), (4, 5), codes)   # after 5 errors
        self.assertTrue(all(x == 500 for x in codes[:4]), codes)
        self.assertReply(replies[-1], 421)
        self.assertTrue(c.closed_by_peer(), "still open after 421")

    def test_overlong_command_line(self):
        c = self.plain()
        c.reply()
        c.ehlo()
        c.send(b"NOOP " + b"x" * 2000 + b"\r\n")
        self.assertReply(c.reply(), 500, "5.5.2")
        # One reply per line: the tail of the line is not a second command.
        self.assertEqual(c.pending(0.3), b"")
        try:
            r = c.cmd("NOOP")
        except (h.ConnectionClosed, ConnectionError):
            pass                    # closing cleanly is allowed
        else:
            self.assertReply(r, 250)
        self.assertTrue(self.daemon.alive(), self.log_tail())
        self.assertReply(self.plain().reply(), 220)


class CommandTimeoutTest(DaemonTestCase):
    env_args = dict(timeouts={"command": 2})

    def test_command_timeout(self):
        c = self.plain()
        c.reply()
        c.ehlo()
        start = time.monotonic()
        r = c.reply(timeout=6)
        self.assertGreater(time.monotonic() - start, 1.5)
        self.assertReply(r, 421, "4.4.2")
        self.assertTrue(c.closed_by_peer(), "still open after 421")

    def test_client_that_never_reads_is_dropped(self):
        # Pipelined NOOPs from a client that reads no reply: the replies
        # fill the socket, the 421 cannot leave, and the session must still
        # end at its next timeout instead of holding its slot forever.
        s = socket.socket()
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", self.port))
        s.settimeout(5)
        self.assertTrue(s.recv(100).startswith(b"220"))
        sid = re.findall(r"session=(\S+) \S+ event=connect\b",
                         self.daemon.log())[-1]
        s.setblocking(False)
        chunk, sent, deadline = b"NOOP\r\n" * 10000, 0, time.monotonic() + 4
        while sent < 4000000 and time.monotonic() < deadline:
            try:
                sent += s.send(chunk)
            except BlockingIOError:
                time.sleep(0.05)
        self.assertGreater(sent, 100000, "the daemon read almost nothing")
        # Closed with the client's socket still open (it would end the
        # session by itself).
        gone = h.wait_until(lambda: re.search(
            r"\bsession=%s .*\bevent=disconnect\b" % re.escape(sid),
            self.daemon.log()), 10)
        self.assertTrue(gone, "no disconnect logged" + self.log_tail())
        # The line is logged on the session's loop before its slot is
        # freed; stats come from another loop: poll, never sample once.
        freed = h.wait_until(lambda: re.search(
            r"(?m)^sessions 0$", h.submitctl(self.env, "stats").stdout), 5)
        self.assertTrue(freed, h.submitctl(self.env, "stats").stdout)


class MinTLS13Test(DaemonTestCase):
    env_args = dict(tls={"min_version": "1.3"})

    def handshake(self, maximum):
        c = self.plain()
        c.reply()
        c.ehlo()
        self.assertReply(c.cmd("STARTTLS"), 220)
        c.starttls(h.client_context(maximum=maximum))
        return c.tls_version

    def test_tls12_refused(self):
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            self.handshake(ssl.TLSVersion.TLSv1_2)
        self.assertEqual(self.handshake(ssl.TLSVersion.TLSv1_3), "TLSv1.3")


# ====================================================================
# Durability: what kill -9 and dropped clients leave behind
# ====================================================================

class CrashSafetyTest(DaemonTestCase):
    start_daemon = False    # each test starts (and kills) its own

    def setUp(self):
        self.daemon = h.Daemon(self.env)
        self.addCleanup(self.daemon.kill9)
        self.daemon.start()
        self.before = self.snapshot()

    def tearDown(self):
        self.daemon.stop()

    def start_data(self, big=False):
        """Half a message sent; big: 300 KB, half of it past what a session
        keeps in memory (SPOOL_MEM_MAX, 128 KiB), so it spills into tmp/."""
        c = self.authed()
        self.assertReply(c.cmd("MAIL FROM:<%s>" % h.USER), 250)
        self.assertReply(c.cmd("RCPT TO:<%s>" % RCPT), 250)
        self.assertReply(c.cmd("DATA"), 354)
        extra = (b"y" * 70 + b"\r\n") * 4200 if big else b""
        message = h.make_message(self.token(), extra_body=extra)
        c.send(message[:len(message) // 2])
        time.sleep(0.3)
        return c

    def tmp_files(self):
        return h.queue_files(self.env.spool, "tmp")

    def test_kill9_after_accept(self):
        c = self.authed()
        message = h.make_message(self.token())
        qid = self.submit(c, message)
        self.daemon.kill9()
        self.assertSpooled(self.before, message, qid=qid)

    def test_client_drops_mid_data(self):
        c = self.start_data()
        c.close()
        self.assertEqual(h.wait_until(lambda: not self.tmp_files()), True,
                         "tmp/ after the client left: %r" % self.tmp_files())
        self.assertNothingSpooled(self.before)
        self.assertTrue(self.daemon.alive())

    def test_kill9_mid_data_in_memory(self):
        self.start_data()
        # A short message is gathered in memory: nothing on disk to clean.
        self.assertEqual(self.tmp_files(), [])
        self.daemon.kill9()
        self.assertNothingSpooled(self.before)
        self.daemon.start()
        self.assertEqual(self.tmp_files(), [])
        self.assertNothingSpooled(self.before)

    def test_kill9_mid_data(self):
        self.start_data(big=True)
        # A long message streams to a file in tmp/, so there is one to clean.
        self.assertTrue(h.wait_until(self.tmp_files, 5),
                        "no tmp/ file during DATA")
        self.daemon.kill9()
        self.assertNothingSpooled(self.before)
        self.daemon.start()
        self.assertEqual(h.wait_until(lambda: not self.tmp_files(), 2), True,
                         "tmp/ not cleaned at start-up: %r" % self.tmp_files())
        self.assertNothingSpooled(self.before)


# ====================================================================
# Command line: -n (config check) and -v
# ====================================================================

class CommandLineTest(DaemonTestCase):
    start_daemon = False

    def check(self, conf):
        p = subprocess.run([self.daemon.binary, "-n", "-f", conf],
                           capture_output=True, text=True, timeout=20)
        out = p.stdout + p.stderr
        for marker in h.SANITIZER_MARKERS:
            self.assertNotIn(marker, out)
        return p.returncode, out

    @staticmethod
    def line_of(path, needle):
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if needle in line:
                    return n
        raise AssertionError("%r not in %s" % (needle, path))

    @staticmethod
    def section_lines(path, name):
        """Lines of 'name {' and of its closing '}' (libconfuse validates
        sections at their end, so either may be the one reported)."""
        with open(path) as f:
            lines = f.read().split("\n")
        start = next(i for i, l in enumerate(lines) if l.startswith(name + " {"))
        end = next(i for i in range(start, len(lines)) if lines[i].strip() == "}")
        return [start + 1, end + 1]

    def assertConfigError(self, conf, key, needles, section=None):
        """rc 1 and a message naming the file, the key and its line (or the
        line of the section holding it)."""
        rc, out = self.check(conf)
        self.assertEqual(rc, 1, out)
        self.assertIn(os.path.basename(conf), out)
        self.assertIn(key, out)
        lines = [self.line_of(conf, n) for n in needles]
        if section:
            lines += self.section_lines(conf, section)
        self.assertTrue(any(re.search(r"(?<!\d)%d(?!\d)" % n, out) for n in lines),
                        "no line number %s in: %s" % (lines, out))

    def conf(self, name, **overrides):
        return self.env.write_config(os.path.join(self.env.dir, name), **overrides)

    def test_valid_config(self):
        rc, out = self.check(self.env.conf)
        self.assertEqual(rc, 0, out)

    def test_example_config(self):
        """etc/submitd.conf, the example the package installs, is valid
        once its certificate paths point at real files."""
        src = os.path.join(os.environ.get("top_srcdir", os.path.join(
            os.path.dirname(__file__), "..", "..")), "etc", "submitd.conf")
        with open(src) as f:
            text = f.read()
        text = text.replace("/etc/submitd/cert.pem", self.env.cert)
        text = text.replace("/etc/submitd/key.pem", self.env.key)
        # As root, -n checks that the user to drop to exists: the package
        # creates "submitd"; this machine may not have it.
        text = re.sub(r'(?m)^(\s*user\s*=\s*)"submitd"',
                      r'\1"%s"' % pwd.getpwuid(os.getuid()).pw_name, text)
        path = os.path.join(self.env.dir, "example.conf")
        with open(path, "w") as f:
            f.write(text)
        rc, out = self.check(path)
        self.assertEqual(rc, 0, out)

    def test_unknown_key(self):
        conf = self.conf("unknown.conf", extra="bogus_key = 1\n")
        self.assertConfigError(conf, "bogus_key", ["bogus_key"])

    def test_wrong_type(self):
        conf = self.conf("type.conf", listen=[{"address": "127.0.0.1",
                                               "port": "abc", "tls": "starttls"}])
        self.assertConfigError(conf, "port", ['port = "abc"'])

    def test_unreadable_certificate(self):
        missing = os.path.join(self.env.dir, "missing.pem")
        conf = self.conf("cert.conf", tls={"certificate": missing})
        self.assertConfigError(conf, "certificate", ["certificate ="], "tls")

    def test_garbage_certificate(self):
        garbage = os.path.join(self.env.dir, "garbage.pem")
        with open(garbage, "w") as f:
            f.write("not a certificate\n")
        conf = self.conf("garbage.conf", tls={"certificate": garbage})
        self.assertConfigError(conf, "certificate", ["certificate ="], "tls")

    def test_key_does_not_match(self):
        other = h.make_key(self.env.dir)
        conf = self.conf("mismatch.conf", tls={"key": other})
        self.assertConfigError(conf, "key", ["key ", "certificate ="], "tls")

    def test_version(self):
        p = subprocess.run([self.daemon.binary, "-v"], capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout + p.stderr, r"\d+\.\d+\.\d+")


# ====================================================================

# ====================================================================
# The sasldb: one handle per auth worker, reopened when the file changes
# ====================================================================

class SasldbHandleTest(DaemonTestCase):
    env_args = dict(event_loops=1)      # two auth workers in all

    def opens(self):
        out = h.submitctl(self.env, "stats").stdout
        return int(re.search(r"(?m)^sasldb_opens (\d+)$", out).group(1))

    def test_one_open_per_worker(self):
        before = self.opens()
        for _ in range(24):
            c = self.authed()
            c.close()
        # Cyrus's own plug-in opened the file 4 times per AUTH PLAIN (96
        # here); ours once per auth worker.
        self.assertLessEqual(self.opens() - before, 2)

    def test_a_changed_password_is_seen_at_once(self):
        c = self.authed()
        c.close()
        p = subprocess.run(["saslpasswd2", "-p", "-f", self.env.sasldb, "-u",
                            "example.test", "alice"], input=b"n3w-Passw0rd",
                           capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        try:
            c = self.tls()
            self.assertReply(c.login(password="n3w-Passw0rd"), 235)
            c.close()
            c = self.tls()
            self.assertReply(c.login(), 535)
            c.close()
        finally:
            subprocess.run(["saslpasswd2", "-p", "-f", self.env.sasldb, "-u",
                            "example.test", "alice"],
                           input=h.PASSWORD.encode(), capture_output=True,
                           timeout=20)


if __name__ == "__main__":
    sys.exit(h.main(__name__, OPTIONAL_TOOLS))
