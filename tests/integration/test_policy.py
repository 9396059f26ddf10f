#!/usr/bin/env python3
"""submitd's relay policy and abuse defences (issue 3), against the real
daemon with real clients (swaks, smtplib, nmap, a raw socket where exact
bytes matter):

  sender binding (MAIL FROM and the From: header), recipients and
  internal_only logins, no relay without AUTH (nmap smtp-open-relay),
  per-message limits, hourly limits per login, per-address connection
  limits and AUTH lockout, SMTP smuggling in DATA, malformed commands,
  and header hygiene (strip_headers, our Received, Message-ID and Date).

Every refusal is checked for its reply code, its enhanced code and its log
line (action=reject reply="..." with user= and client=).  Each class runs
its own daemon, so that counters and bans of one cannot leak into another;
tests of per-address limits connect from their own 127.0.0.x address.

Run by `make check` as `$(PYTHON3) tests/integration/test_policy.py` with
top_builddir/top_srcdir set; by hand, it falls back to build-dev/submitd.
Test names may be given (e.g. SmugglingTest).  Exit 0: all passed; 1: a
failure.  KEEP_TMP=1 keeps the temporary directories.
"""

import email.utils
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

RCPT = h.RCPT
USER = h.USER
CRLF = b"\r\n"
OPTIONAL_TOOLS = ()     # nmap missing only skips the nmap test


def password(login):
    """The test password of a login (alice's is harness.PASSWORD)."""
    local = login.split("@")[0]
    return h.PASSWORD if local == "alice" else "pw-%s-Secret" % local


def users(*locals_):
    """sasldb users for Env: alice plus the given local parts."""
    return {l: password(l) for l in ("alice",) + locals_}


def message(token, from_=USER, fields=(), body=b"Hello Bob,\r\nbye\r\n",
            date=True, msgid=True):
    """A small CRLF message; from_=None leaves From: out, fields are extra
    raw header fields (bytes, CRLF included) after the standard ones."""
    out = []
    if from_ is not None:
        out.append(b"From: " + from_.encode() + CRLF)
    out.append(b"To: " + RCPT.encode() + CRLF)
    out.append(b"Subject: policy test " + token.encode() + CRLF)
    if date:
        out.append(b"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n")
    if msgid:
        out.append(b"Message-ID: <" + token.encode() + b"@example.test>\r\n")
    out.extend(fields)
    return b"".join(out) + CRLF + body


def smtplib_reply(code, text):
    """An smtplib (code, message) as a harness Reply (first line only)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return h.Reply(("%d %s\r\n" % (code, text.split("\n")[0])).encode())


class PolicyCase(h.DaemonTestCase):
    """harness.DaemonTestCase plus the moves most tests here make."""

    def refused(self, r, code, enhanced=None, user=USER, client="127.0.0.1",
                contains=None):
        """r is the refusal expected, and the daemon logged it."""
        self.assertReply(r, code, enhanced)
        if contains is not None:
            self.assertIn(contains, r.text, "reply: %s" % r)
        self.assertRefusalLogged(r, user=user, client=client)

    def start_data(self, c, sender=USER, rcpts=(RCPT,)):
        self.assertReply(c.cmd("MAIL FROM:<%s>" % sender), 250)
        for rcpt in rcpts:
            self.assertReply(c.cmd("RCPT TO:<%s>" % rcpt), 250)
        self.assertReply(c.cmd("DATA"), 354)

    def send_message(self, c, msg, sender=USER, rcpts=(RCPT,)):
        """MAIL, RCPT, DATA and msg (dot-stuffed); returns the final reply."""
        self.start_data(c, sender, rcpts)
        c.send(h.dot_stuff(msg))
        return c.reply(timeout=10)

    def assertAlive(self, c):
        """The session is in step: NOOP gets 250."""
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertTrue(self.daemon.alive(), self.log_tail())

    def spooled(self, qid):
        q = [x for x in h.spool_messages(self.env.spool) if x.id == qid]
        self.assertEqual(len(q), 1, "queue file %s%s" % (qid, self.log_tail()))
        return q[0]


# ====================================================================
# Sender binding: MAIL FROM
# ====================================================================

SENDERS = """\
# LOGIN  ADDRESS|@DOMAIN ...
alice@example.test   sales@example.test
app@example.test     @apps.example.test
"""


class SenderBindingTest(PolicyCase):
    users = users("bob", "app")
    env_args = dict(local_domains=["example.test", "apps.example.test"])
    files = {"senders": SENDERS}

    @classmethod
    def configure(cls, env):
        return {"senders": {"file": os.path.join(env.dir, "senders")}}

    def mail(self, sender, login=USER):
        c = self.authed(login, password(login))
        return c, c.cmd("MAIL FROM:<%s>" % sender)

    def submit_after_mail(self, c, msg, rcpts=(RCPT,)):
        """RCPT, DATA and msg after a MAIL that got 250; the queue ID."""
        for rcpt in rcpts:
            self.assertReply(c.cmd("RCPT TO:<%s>" % rcpt), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(h.dot_stuff(msg))
        r = c.reply(timeout=10)
        self.assertReply(r, 250, "2.0.0")
        return h.queued_id(str(r))

    def test_own_address(self):
        c, r = self.mail(USER)
        self.assertReply(r, 250)
        before = self.snapshot()
        msg = message(self.token())
        qid = self.submit_after_mail(c, msg)
        self.assertSpooled(before, msg, qid=qid)

    def test_case_insensitive(self):
        for sender in ("alice@EXAMPLE.TEST", "Alice@Example.Test",
                       "ALICE@example.test"):
            with self.subTest(sender=sender):
                _, r = self.mail(sender)
                self.assertReply(r, 250)

    def test_other_local_address(self):
        for sender in ("bob@example.test", "app@example.test",
                       "alice.smith@example.test"):
            with self.subTest(sender=sender):
                c, r = self.mail(sender)
                self.refused(r, 553, "5.7.1", contains="not owned by " + USER)
                self.assertAlive(c)

    def test_foreign_domain(self):
        for sender in ("alice@foreign.test", "alice@example.test.foreign.test",
                       "alice@sub.example.test"):
            with self.subTest(sender=sender):
                _, r = self.mail(sender)
                self.refused(r, 553, "5.7.1", contains="not owned by " + USER)

    def test_null_sender(self):
        _, r = self.mail("")
        self.refused(r, 553, "5.7.1")

    def test_smtplib_sender_refused(self):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
            s.starttls(context=h.client_context())
            s.login(USER, h.PASSWORD)
            with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
                s.sendmail("bob@example.test", [RCPT], message("x"))
            self.assertEqual(cm.exception.smtp_code, 553)
            self.refused(smtplib_reply(553, cm.exception.smtp_error), 553,
                         "5.7.1")

    def test_senders_file_address(self):
        # alice is granted sales@example.test, in MAIL FROM and From:.
        before = self.snapshot()
        c, r = self.mail("sales@example.test")
        self.assertReply(r, 250)
        msg = message(self.token(), from_="Sales <sales@example.test>")
        qid = self.submit_after_mail(c, msg)
        self.assertSpooled(before, msg, qid=qid, sender="sales@example.test")
        _, r = self.mail("SALES@example.test")
        self.assertReply(r, 250)
        # ... and nothing of apps.example.test, which is app's.
        _, r = self.mail("news@apps.example.test")
        self.refused(r, 553, "5.7.1")

    def test_senders_file_domain(self):
        # app@example.test may send as any address of apps.example.test.
        app = "app@example.test"
        for sender in (app, "noreply@apps.example.test",
                       "Billing@APPS.example.test"):
            with self.subTest(sender=sender):
                _, r = self.mail(sender, login=app)
                self.assertReply(r, 250)
        before = self.snapshot()
        c = self.authed(app, password(app))
        msg = message(self.token(), from_="noreply@apps.example.test")
        qid = self.submit(c, msg, sender="noreply@apps.example.test")
        self.assertSpooled(before, msg, qid=qid, login=app,
                           sender="noreply@apps.example.test")
        for sender in ("sales@example.test", "alice@example.test",
                       "noreply@apps.example.test.foreign.test",
                       "noreply@foreign.test"):
            with self.subTest(sender=sender):
                _, r = self.mail(sender, login=app)
                self.refused(r, 553, "5.7.1", user=app,
                             contains="not owned by " + app)

    def check_config(self, conf):
        p = subprocess.run([self.daemon.binary, "-n", "-f", conf],
                           capture_output=True, text=True, timeout=20)
        return p.returncode, p.stdout + p.stderr

    def test_config_check_ok(self):
        rc, out = self.check_config(self.env.conf)
        self.assertEqual(rc, 0, out)

    def test_senders_file_foreign_grant(self):
        # A grant outside local_domains is a configuration error naming
        # the file and line (submitd -n).
        for n, grant in enumerate(("@foreign.test", "news@foreign.test",
                                   "@example.test.foreign.test")):
            with self.subTest(grant=grant):
                name = "senders-bad%d" % n
                path = self.env.write_file(
                    name, "# comment\nalice@example.test sales@example.test\n"
                    "app@example.test  %s\n" % grant)
                conf = self.env.write_config(
                    os.path.join(self.env.dir, name + ".conf"),
                    local_domains=["example.test", "apps.example.test"],
                    senders={"file": path})
                rc, out = self.check_config(conf)
                self.assertEqual(rc, 1, out)
                self.assertIn("%s:3" % name, out)
                self.assertIn(grant, out)


# ====================================================================
# Sender binding: the From: header
# ====================================================================

class HeaderFromTest(PolicyCase):
    users = users("bob")

    def refuse_from(self, from_field, code=550, enhanced=None):
        before = self.snapshot()
        c = self.authed()
        msg = message(self.token(), from_=from_field)
        r = self.send_message(c, msg)
        self.refused(r, code, enhanced)
        self.assertNothingSpooled(before, tmp_empty=True)
        self.assertAlive(c)
        return r

    def test_from_not_owned(self):
        r = self.refuse_from("bob@example.test", 550, "5.7.1")
        self.assertIn("bob@example.test", r.text)

    def test_from_not_owned_forms(self):
        # The address that counts is the one in <>, whatever the name says.
        for field in ("Bob <bob@example.test>",
                      "alice@example.test <bob@example.test>",
                      '"alice@example.test" <bob@example.test>',
                      "Alice <alice@foreign.test>",
                      "alice@example.test, bob@example.test",
                      "Team: alice@example.test, bob@example.test;"):
            with self.subTest(field=field):
                r = self.refuse_from(field, 550)
                self.assertTrue(r.enhanced.startswith("5."), r)

    def test_two_from_fields(self):
        before = self.snapshot()
        c = self.authed()
        msg = message(self.token(), fields=[b"From: alice@example.test\r\n"])
        self.assertEqual(len(h.header_fields(msg, "From")), 2)
        r = self.send_message(c, msg)
        self.assertEqual(r.code, 550, r)
        self.refused(r, 550)
        self.assertNothingSpooled(before, tmp_empty=True)
        self.assertAlive(c)

    def test_display_name_forms(self):
        c = self.authed()
        for field in ("Alice Example <alice@example.test>",
                      '"Example, Alice" <alice@example.test>',
                      "alice@example.test (Alice Example)",
                      "<alice@example.test>",
                      "ALICE@EXAMPLE.TEST",
                      "=?UTF-8?Q?Al=C3=AFce?= <alice@example.test>",
                      "Alice Example\r\n <alice@example.test>",
                      "John Q. Public <alice@example.test>"):
            with self.subTest(field=field):
                before = self.snapshot()
                msg = message(self.token(), from_=field)
                r = self.send_message(c, msg)
                self.assertReply(r, 250, "2.0.0")
                self.assertSpooled(before, msg, qid=h.queued_id(str(r)))

    def test_missing_from_added(self):
        before = self.snapshot()
        c = self.authed()
        msg = message(self.token(), from_=None)
        qid = self.submit(c, msg)
        q = self.assertSpooled(before, msg, qid=qid)
        self.assertEqual(h.header_fields(q.body, "From"),
                         [b"From: <alice@example.test>\r\n"])

    def test_swaks_from_not_owned(self):
        before = self.snapshot()
        p = subprocess.run(
            [h.tool("swaks"), "--server", "127.0.0.1:%d" % self.port, "--tls",
             "--auth", "PLAIN", "--auth-user", USER, "--auth-password",
             h.PASSWORD, "--from", USER, "--to", RCPT,
             "--header", "From: Bob <bob@example.test>", "--timeout", "10"],
            capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        # swaks marks an error reply "<**" (in clear) or "<~*" (in TLS).
        m = re.search(r"^<[~*]\* +(550 .*)$", p.stdout, re.M)
        self.assertIsNotNone(m, p.stdout + self.log_tail())
        r = h.Reply((m.group(1) + "\r\n").encode())
        self.refused(r, 550, "5.7.1")
        self.assertNothingSpooled(before, tmp_empty=True)


class HeaderFromNotEnforcedTest(PolicyCase):
    env_args = dict(enforce_header_from=False)

    def test_from_not_checked(self):
        before = self.snapshot()
        c = self.authed()
        msg = message(self.token(), from_="Bob <bob@example.test>")
        qid = self.submit(c, msg)
        self.assertSpooled(before, msg, qid=qid)

    def test_envelope_still_bound(self):
        c = self.authed()
        self.refused(c.cmd("MAIL FROM:<bob@example.test>"), 553, "5.7.1")


# ====================================================================
# Recipients
# ====================================================================

class RecipientTest(PolicyCase):
    users = users("monitor")
    env_args = dict(internal_only=["monitor@example.test"])
    MONITOR = "monitor@example.test"

    def test_any_domain(self):
        rcpts = ["bob@example.org", "carol@foreign.test", "dave@EXAMPLE.NET",
                 "erin@example.test"]
        before = self.snapshot()
        c = self.authed()
        msg = message(self.token())
        qid = self.submit(c, msg, rcpts=rcpts)
        # Domains are stored lowercased, local parts as given.
        self.assertSpooled(before, msg, qid=qid,
                           rcpts=[r.split("@")[0] + "@" + r.split("@")[1].lower()
                                  for r in rcpts])

    def test_internal_only_local(self):
        before = self.snapshot()
        c = self.authed(self.MONITOR, password(self.MONITOR))
        msg = message(self.token(), from_=self.MONITOR)
        qid = self.submit(c, msg, sender=self.MONITOR,
                          rcpts=["alice@example.test", "ops@EXAMPLE.TEST"])
        self.assertSpooled(before, msg, qid=qid, sender=self.MONITOR,
                           login=self.MONITOR,
                           rcpts=["alice@example.test", "ops@example.test"])

    def test_internal_only_foreign(self):
        c = self.authed(self.MONITOR, password(self.MONITOR))
        self.assertReply(c.cmd("MAIL FROM:<%s>" % self.MONITOR), 250)
        for rcpt in ("bob@example.org", "ops@example.test.foreign.test"):
            with self.subTest(rcpt=rcpt):
                self.refused(c.cmd("RCPT TO:<%s>" % rcpt), 550, "5.7.1",
                             user=self.MONITOR)
        self.assertReply(c.cmd("RCPT TO:<ops@example.test>"), 250)
        self.assertAlive(c)


# ====================================================================
# No relay without AUTH
# ====================================================================

# The sender and recipient forms of nmap's smtp-open-relay battery, with
# its defaults for domain example.test, ip 127.0.0.1 and our host name.
NMAP_SENDERS = ("", "antispam@example.test", "antispam@relay.example.test",
                "antispam@[127.0.0.1]", "someone@foreign.test")
NMAP_RCPT_HACKS = (
    "relaytest%example.test@[127.0.0.1]",
    "relaytest%example.test@relay.example.test",
    '"relaytest@example.test"',
    '"relaytest%example.test"',
    "relaytest@example.test@[127.0.0.1]",
    '"relaytest@example.test"@[127.0.0.1]',
    "relaytest@example.test@relay.example.test",
    "@[127.0.0.1]:relaytest@example.test",
    "@relay.example.test:relaytest@example.test",
    "example.test!relaytest",
    "example.test!relaytest@[127.0.0.1]",
    "example.test!relaytest@relay.example.test",
)


class NoRelayTest(PolicyCase):
    env_args = dict(implicit=True, limits={"errors": 100})

    def test_no_auth_after_starttls(self):
        c = self.tls()
        for line in ("MAIL FROM:<%s>" % USER, "MAIL FROM:<x@foreign.test>",
                     "RCPT TO:<bob@example.org>", "DATA"):
            with self.subTest(line=line):
                self.refused(c.cmd(line), 530, "5.7.0", user=None,
                             contains="Authentication required")
        self.assertAlive(c)

    def test_no_auth_implicit_tls(self):
        c = h.SMTPClient("127.0.0.1", self.env.implicit_port, implicit_tls=True)
        self.addCleanup(c.close)
        self.assertReply(c.reply(), 220)
        self.assertReply(c.ehlo(), 250)
        self.refused(c.cmd("MAIL FROM:<x@foreign.test>"), 530, "5.7.0",
                     user=None)

    def test_nmap_smtp_open_relay(self):
        nmap = shutil.which("nmap")
        if nmap is None:
            self.skipTest("nmap not installed")
        # The script runs on ports 25/465/587 or on services named smtp,
        # smtps or submission: a data directory of our own names ours.
        self.env.write_file("nmap-services",
                            "submission\t%d/tcp\t0.5\nsmtps\t%d/tcp\t0.5\n"
                            % (self.port, self.env.implicit_port))
        for port in (self.port, self.env.implicit_port):
            for sender in (None, "someone@foreign.test", "alice"):
                with self.subTest(port=port, sender=sender):
                    args = ("smtp-open-relay.domain=example.test,"
                            "smtp-open-relay.ip=127.0.0.1")
                    if sender:
                        args += ",smtp-open-relay.from=" + sender
                    mark = len(self.daemon.full_log())
                    p = subprocess.run(
                        [nmap, "-n", "-Pn", "--datadir", self.env.dir,
                         "-p", str(port), "--script", "smtp-open-relay",
                         "--script-args", args, "127.0.0.1"],
                        capture_output=True, text=True, timeout=120)
                    out = p.stdout + p.stderr
                    self.assertEqual(p.returncode, 0, out)
                    self.assertIn("%d/tcp open" % port, out)
                    self.assertIn("smtp-open-relay:", out, "script did not run")
                    self.assertNotIn("is an open relay", out)
                    self.assertRegex(out, r"Server isn't an open relay|"
                                     r"doesn't seem to be an open relay")
                    # It talked SMTP with us and was told to authenticate.
                    log = self.daemon.full_log()[mark:]
                    self.assertRegex(log, r"cmd=MAIL action=reject "
                                     r'reply="530 5\.7\.0 ', log)
                    self.assertNotIn("action=accept", log)

    def test_foreign_sender_with_credentials(self):
        c = self.authed()
        self.refused(c.cmd("MAIL FROM:<x@foreign.test>"), 553, "5.7.1",
                     contains="not owned by " + USER)
        self.assertAlive(c)

    def test_relay_battery_with_credentials(self):
        # nmap's battery as a logged-in user: none of its senders is
        # alice's, and its recipient tricks are refused as malformed.
        c = self.authed()
        for sender in NMAP_SENDERS:
            with self.subTest(sender=sender):
                r = c.cmd("MAIL FROM:<%s>" % sender)
                self.assertTrue(500 <= r.code < 600, r)
                self.refused(r, r.code)
        self.assertReply(c.cmd("MAIL FROM:<%s>" % USER), 250)
        for rcpt in NMAP_RCPT_HACKS:
            with self.subTest(rcpt=rcpt):
                r = c.cmd("RCPT TO:<%s>" % rcpt)
                self.assertTrue(500 <= r.code < 600, r)
                self.refused(r, r.code)
        self.assertReply(c.cmd("RSET"), 250)
        self.assertAlive(c)


# ====================================================================
# Per-message limits
# ====================================================================

class MessageLimitsTest(PolicyCase):
    env_args = dict(limits={"message_size": 10000, "recipients": 3,
                            "header_size": 1024})

    def test_recipients(self):
        before = self.snapshot()
        c = self.authed()
        rcpts = ["r%d@example.org" % i for i in range(5)]
        self.assertReply(c.cmd("MAIL FROM:<%s>" % USER), 250)
        for rcpt in rcpts[:3]:
            self.assertReply(c.cmd("RCPT TO:<%s>" % rcpt), 250)
        for rcpt in rcpts[3:]:
            self.refused(c.cmd("RCPT TO:<%s>" % rcpt), 452, "4.5.3")
        self.assertReply(c.cmd("DATA"), 354)
        msg = message(self.token())
        c.send(h.dot_stuff(msg))
        self.assertReply(c.reply(), 250, "2.0.0")
        self.assertSpooled(before, msg, rcpts=rcpts[:3])

    def test_size_parameter(self):
        c = self.authed()
        self.refused(c.cmd("MAIL FROM:<%s> SIZE=10001" % USER), 552, "5.3.4")
        self.assertReply(c.cmd("MAIL FROM:<%s> SIZE=10000" % USER), 250)

    def test_size_during_data(self):
        before = self.snapshot()
        c = self.authed()
        msg = message(self.token(), body=(b"y" * 78 + CRLF) * 130)
        self.assertGreater(len(msg), 10000)
        r = self.send_message(c, msg)
        self.refused(r, 552, "5.3.4")
        self.assertNothingSpooled(before, tmp_empty=True)
        self.assertAlive(c)

    def test_size_boundary(self):
        # RFC 1870 size: the octets of the message, CRLFs included, after
        # dot-unstuffing.  10000 is allowed, 10001 is not.
        c = self.authed()
        base = message(self.token(), body=b"")
        for size, code in ((10000, 250), (10001, 552)):
            with self.subTest(size=size):
                before = self.snapshot()
                fill = size - len(base) - 2
                body = b"".join(b"." + b"d" * 97 + CRLF
                                for _ in range(fill // 100))
                body += b"." * (fill - len(body)) + CRLF
                msg = base + body
                self.assertEqual(len(msg), size)
                r = self.send_message(c, msg)
                if code == 250:
                    self.assertReply(r, 250, "2.0.0")
                    self.assertSpooled(before, msg, qid=h.queued_id(str(r)))
                else:
                    self.refused(r, 552, "5.3.4")
                    self.assertNothingSpooled(before, tmp_empty=True)

    def test_smtplib_size(self):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
            s.starttls(context=h.client_context())
            s.login(USER, h.PASSWORD)
            self.assertEqual(s.ehlo()[0], 250)
            self.assertEqual(s.esmtp_features.get("size"), "10000")
            # smtplib sends SIZE= itself when the server offers it.
            with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
                s.sendmail(USER, [RCPT], b"x" * 10001)
            self.assertEqual(cm.exception.smtp_code, 552)
            self.assertIn(b"5.3.4", cm.exception.smtp_error)

    def test_header_size(self):
        before = self.snapshot()
        c = self.authed()
        big = b"X-Long: start\r\n" + b"".join(
            b"\tcontinuation line %02d %s\r\n" % (i, b"z" * 40)
            for i in range(25))
        msg = message(self.token(), fields=[big])
        self.assertGreater(msg.index(b"\r\n\r\n"), 1024)
        self.assertLess(len(msg), 10000)
        r = self.send_message(c, msg)
        self.refused(r, 552, "5.3.4", contains="1024")
        self.assertNothingSpooled(before, tmp_empty=True)
        self.assertAlive(c)

    def padded(self, section_len):
        """A message whose header section, empty line included, has
        section_len octets."""
        token = self.token()
        base = message(token, fields=[b"X-Pad: \r\n"])
        pad = section_len - (base.index(b"\r\n\r\n") + 4)
        msg = message(token, fields=[b"X-Pad: " + b"p" * pad + CRLF])
        self.assertEqual(msg.index(b"\r\n\r\n") + 4, section_len)
        return msg

    def test_header_size_boundary(self):
        # 1024 octets with the empty line: within the limit however counted.
        before = self.snapshot()
        c = self.authed()
        msg = self.padded(1024)
        qid = self.submit(c, msg)
        self.assertSpooled(before, msg, qid=qid)
        # 1025 octets of fields alone: over it however counted.
        before = self.snapshot()
        r = self.send_message(c, self.padded(1027))
        self.refused(r, 552, "5.3.4", contains="1024")
        self.assertNothingSpooled(before, tmp_empty=True)

    def test_line_length(self):
        before = self.snapshot()
        c = self.authed()
        ok = message(self.token(), body=b"a" * 998 + CRLF)
        qid = self.submit(c, ok)
        self.assertSpooled(before, ok, qid=qid)
        before = self.snapshot()
        long = message(self.token(), body=b"b" * 999 + CRLF)
        r = self.send_message(c, long)
        self.refused(r, 550, "5.6.0", contains="998")
        self.assertNothingSpooled(before, tmp_empty=True)
        self.assertAlive(c)


# ====================================================================
# Hourly limits per login
# ====================================================================

class RateLimitTest(PolicyCase):
    # Each test uses logins of its own: counters live for the daemon's life.
    users = users("mia", "rita", "rob", "olga", "uma", "pia", "ria")
    env_args = dict(limits={"messages_per_hour": 2, "recipients_per_hour": 4})
    files = {"login-limits": "# LOGIN MESSAGES RECIPIENTS\n"
                             "olga@example.test 4 100\n"
                             "uma@example.test  1 2\n"}

    @classmethod
    def configure(cls, env):
        return {"limits": {"login_limits_file":
                           os.path.join(env.dir, "login-limits")}}

    def client(self, local):
        login = local + "@example.test"
        return login, self.authed(login, password(login))

    def send_ok(self, c, login, rcpts=(RCPT,)):
        msg = message(self.token(), from_=login)
        self.submit(c, msg, sender=login, rcpts=rcpts)

    def test_messages_per_hour(self):
        login, c = self.client("mia")
        self.send_ok(c, login)
        self.send_ok(c, login)
        r = c.cmd("MAIL FROM:<%s>" % login)
        self.refused(r, 450, "4.7.1", user=login, contains="per hour")
        # Counted per login, not per connection: a new session is refused too,
        _, c2 = self.client("mia")
        self.refused(c2.cmd("MAIL FROM:<%s>" % login), 450, "4.7.1", user=login)
        # ... and another login is not affected.
        c3 = self.authed()
        self.send_ok(c3, USER)

    def test_smtplib_messages_per_hour(self):
        login = "rob@example.test"
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
            s.starttls(context=h.client_context())
            s.login(login, password(login))
            for _ in range(2):
                s.sendmail(login, [RCPT], message(self.token(), from_=login))
            with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
                s.sendmail(login, [RCPT], message(self.token(), from_=login))
            self.assertEqual(cm.exception.smtp_code, 450)
            self.refused(smtplib_reply(450, cm.exception.smtp_error), 450,
                         "4.7.1", user=login)

    def test_recipients_per_hour(self):
        login, c = self.client("rita")
        self.send_ok(c, login, rcpts=["a@example.org", "b@example.org",
                                      "c@example.org"])
        self.assertReply(c.cmd("MAIL FROM:<%s>" % login), 250)
        self.assertReply(c.cmd("RCPT TO:<d@example.org>"), 250)
        r = c.cmd("RCPT TO:<e@example.org>")
        self.refused(r, 450, "4.7.1", user=login, contains="per hour")
        self.assertReply(c.cmd("RSET"), 250)

    def parallel(self, login, n):
        """n sessions of login, opened together (a flood over several
        connections, as a stolen password would be used)."""
        return [self.authed(login, password(login)) for _ in range(n)]

    def test_parallel_sessions_messages(self):
        # The limit holds for the login, not per session: of 4 messages
        # started side by side, at most 2 may be accepted; the others get
        # 450 4.7.1 (at MAIL, or at the end of DATA).
        login = "pia@example.test"
        sessions = self.parallel(login, 4)
        started = [c for c in sessions
                   if c.cmd("MAIL FROM:<%s>" % login).code == 250]
        for c in started:
            self.assertReply(c.cmd("RCPT TO:<%s>" % RCPT), 250)
            self.assertReply(c.cmd("DATA"), 354)
        replies = []
        for c in started:
            c.send(h.dot_stuff(message(self.token(), from_=login)))
            replies.append(c.reply(timeout=10))
        accepted = [r for r in replies if r.code == 250]
        self.assertLessEqual(len(accepted), 2, "messages_per_hour = 2, "
                             "accepted: %s%s" % (accepted, self.log_tail()))
        for c in sessions:
            if c not in started:
                self.assertAlive(c)

    def test_parallel_sessions_recipients(self):
        # recipients_per_hour = 4: two sessions with 3 recipients each may
        # not both be accepted in full.
        login = "ria@example.test"
        sessions = self.parallel(login, 2)
        for c in sessions:
            self.assertReply(c.cmd("MAIL FROM:<%s>" % login), 250)
            for i in range(3):
                r = c.cmd("RCPT TO:<r%d@example.org>" % i)
                if r.code != 250:
                    self.refused(r, 450, "4.7.1", user=login)
        accepted = 0
        for c in sessions:
            c.send(b"DATA\r\n")
            r = c.reply()
            if r.code != 354:
                continue
            c.send(h.dot_stuff(message(self.token(), from_=login)))
            r = c.reply(timeout=10)
            if r.code == 250:
                q = self.spooled(h.queued_id(str(r)))
                accepted += len(q.envelope["rcpt"])
        self.assertLessEqual(accepted, 4, "recipients_per_hour = 4, accepted "
                             "%d recipients in 2 sessions%s"
                             % (accepted, self.log_tail()))

    def test_login_limits_file_raises(self):
        login, c = self.client("olga")         # 4 messages, not 2
        for _ in range(4):
            self.send_ok(c, login)
        self.refused(c.cmd("MAIL FROM:<%s>" % login), 450, "4.7.1", user=login)

    def test_login_limits_file_lowers(self):
        login, c = self.client("uma")          # 1 message, 2 recipients
        self.assertReply(c.cmd("MAIL FROM:<%s>" % login), 250)
        self.assertReply(c.cmd("RCPT TO:<a@example.org>"), 250)
        self.assertReply(c.cmd("RCPT TO:<b@example.org>"), 250)
        self.refused(c.cmd("RCPT TO:<c@example.org>"), 450, "4.7.1", user=login)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(h.dot_stuff(message(self.token(), from_=login)))
        self.assertReply(c.reply(), 250, "2.0.0")
        self.refused(c.cmd("MAIL FROM:<%s>" % login), 450, "4.7.1", user=login)


class ReloadTest(PolicyCase):
    """SIGHUP re-reads the senders and login limits files; the hourly
    counters are kept across the reload."""
    users = users("pat")
    env_args = dict(limits={"messages_per_hour": 2})
    files = {"senders": "alice@example.test sales@example.test\n",
             "login-limits": "pat@example.test 2 100\n"}

    @classmethod
    def configure(cls, env):
        return {"senders": {"file": os.path.join(env.dir, "senders")},
                "limits": {"login_limits_file":
                           os.path.join(env.dir, "login-limits")}}

    def reload(self, ok=True):
        mark = len(self.daemon.full_log())
        os.kill(self.daemon.pid, signal.SIGHUP)
        want = "event=reload result=" + ("ok" if ok else "fail")
        self.assertTrue(h.wait_until(lambda: want in self.daemon.full_log()[mark:]),
                        "no %r%s" % (want, self.log_tail()))
        self.assertTrue(self.daemon.alive())

    def test_reload(self):
        pat = "pat@example.test"
        c = self.authed(pat, password(pat))
        for _ in range(2):
            self.submit(c, message(self.token(), from_=pat), sender=pat)
        self.refused(c.cmd("MAIL FROM:<%s>" % pat), 450, "4.7.1", user=pat)
        a = self.authed()
        self.refused(a.cmd("MAIL FROM:<news@example.test>"), 553, "5.7.1")
        # Counters survive a reload ...
        self.reload()
        self.refused(c.cmd("MAIL FROM:<%s>" % pat), 450, "4.7.1", user=pat)
        # ... and the new files apply: pat may now send 3, alice as news@.
        self.env.write_file("login-limits", "pat@example.test 3 100\n")
        self.env.write_file("senders", "alice@example.test news@example.test\n")
        self.reload()
        self.assertReply(c.cmd("MAIL FROM:<%s>" % pat), 250)
        self.assertReply(c.cmd("RSET"), 250)
        self.assertReply(a.cmd("MAIL FROM:<news@example.test>"), 250)
        self.assertReply(a.cmd("RSET"), 250)
        self.refused(a.cmd("MAIL FROM:<sales@example.test>"), 553, "5.7.1")
        # A broken file is refused and the rules in force stay.
        self.env.write_file("senders", "alice@example.test @foreign.test\n")
        self.reload(ok=False)
        self.assertReply(a.cmd("MAIL FROM:<news@example.test>"), 250)


# ====================================================================
# Per client address: connections, connection rate, AUTH failures
# ====================================================================

class AddressCase(PolicyCase):
    """Tests here connect from their own 127.0.0.x (the harness's start-up
    probe comes from 127.0.0.1)."""

    def banner(self, source):
        c = self.plain(source)
        return c, c.reply()

    def assertRefusedAtConnect(self, source, code, enhanced):
        c, r = self.banner(source)
        self.refused(r, code, enhanced, user=None, client=source)
        self.assertTrue(c.closed_by_peer(), "still open after %s" % r)

    def wait_probes_done(self):
        """The harness's readiness probes (one per listener, from
        127.0.0.1) may still be in the accept queue: wait until the daemon
        has seen them all come and go."""
        n = len(self.env.listeners())
        self.assertTrue(h.wait_until(lambda: len(re.findall(
            r"client=127\.0\.0\.1 event=connect", self.daemon.full_log())) >= n
            and not self.sessions_of("127.0.0.1"), 10), self.log_tail())

    def sessions_of(self, source):
        """Connections from source the daemon has not yet seen close."""
        log = self.daemon.full_log()
        ids = re.findall(r"session=(\w+) client=%s event=connect"
                         % re.escape(source), log)
        return [i for i in ids
                if not re.search(r"session=%s .*event=disconnect" % i, log)]


class ConnectionsPerIPTest(AddressCase):
    env_args = dict(limits={"connections_per_ip": 2})

    def test_concurrent_per_address(self):
        src = "127.0.0.2"
        held = [self.banner(src) for _ in range(2)]
        for c, r in held:
            self.assertReply(r, 220)
        self.assertRefusedAtConnect(src, 421, "4.7.0")
        # Other addresses are not affected.
        self.assertReply(self.banner("127.0.0.3")[1], 220)
        # A freed slot can be used again.
        held[0][0].close()
        self.assertTrue(h.wait_until(lambda: len(self.sessions_of(src)) < 2),
                        self.log_tail())
        self.assertReply(self.banner(src)[1], 220)


class ConnectionRateTest(AddressCase):
    env_args = dict(limits={"connection_rate": 3})

    def test_new_connections_per_minute(self):
        src = "127.0.0.4"
        for _ in range(3):
            c, r = self.banner(src)
            self.assertReply(r, 220)
            self.assertReply(c.cmd("QUIT"), 221)
            c.close()
        self.assertRefusedAtConnect(src, 421, "4.7.0")
        self.assertReply(self.banner("127.0.0.5")[1], 220)


class GlobalConnectionsTest(AddressCase):
    env_args = dict(limits={"connections": 3})

    def test_global_cap(self):
        self.wait_probes_done()
        held = [self.banner("127.0.0.%d" % i) for i in (6, 7, 8)]
        for _, r in held:
            self.assertReply(r, 220)
        self.assertRefusedAtConnect("127.0.0.9", 421, "4.3.2")
        held[0][0].close()
        self.assertTrue(h.wait_until(
            lambda: not self.sessions_of("127.0.0.6")), self.log_tail())
        self.assertReply(self.banner("127.0.0.9")[1], 220)


class ImplicitCapTest(AddressCase):
    """The cap on connections on an implicit-TLS listener: a refused
    connection is closed at once, not after a TLS handshake that would hold
    the slot the cap refused it."""
    env_args = dict(implicit=True, limits={"connections": 3})

    def test_refused_before_the_handshake(self):
        import socket
        self.wait_probes_done()
        held = []
        for i in range(3):
            s = socket.socket()
            s.bind(("127.0.0.%d" % (40 + i), 0))
            s.connect(("127.0.0.1", self.env.implicit_port))
            held.append(s)
        self.assertTrue(h.wait_until(lambda: all(
            self.sessions_of("127.0.0.%d" % (40 + i)) for i in range(3))))
        s = socket.socket()
        s.bind(("127.0.0.44", 0))
        s.connect(("127.0.0.1", self.env.implicit_port))
        s.settimeout(5)
        try:
            got = s.recv(100)
        except ConnectionResetError:
            got = b""
        self.assertEqual(got, b"")      # no ServerHello is waited for
        s.close()
        for x in held:
            x.close()


class DescriptorsTest(AddressCase):
    """Out of file descriptors: the listener pauses instead of spinning on
    accept, and takes clients again once descriptors are back."""
    env_args = dict(limits={"connections": 10000, "connections_per_ip": 10000,
                            "connection_rate": 0})

    def test_emfile_pauses_the_listener(self):
        import socket
        subprocess.run(["prlimit", "--pid", str(self.daemon.pid),
                        "--nofile=64:"], check=True)
        socks = []
        for i in range(120):
            s = socket.socket()
            s.bind(("127.0.1.%d" % (1 + i % 200), 0))
            try:
                s.connect(("127.0.0.1", self.port))
            except OSError:
                s.close()
                break
            socks.append(s)
        self.assertTrue(h.wait_until(lambda: "paused for a second" in
                                     self.daemon.log(), 10), self.log_tail())
        # Still out of descriptors a second later: paused again, and every
        # failed accept is one pause (a spin logged thousands of errors).
        pauses = lambda: re.findall(  # noqa: E731
            r"event=accept port=%d error=.*paused" % self.port, self.daemon.log())
        self.assertTrue(h.wait_until(lambda: len(pauses()) >= 2, 10),
                        self.log_tail())
        errors = re.findall(r"event=accept port=%d error=" % self.port,
                            self.daemon.log())
        self.assertLessEqual(len(errors), len(pauses()) + 1)
        for s in socks:
            s.close()
        subprocess.run(["prlimit", "--pid", str(self.daemon.pid),
                        "--nofile=4096:"], check=True)
        def banner():
            try:
                c = h.SMTPClient("127.0.0.1", self.port)
                r = c.reply()
                c.close()
                return r.code == 220
            except (OSError, AssertionError):
                return False
        self.assertTrue(h.wait_until(banner, 15), self.log_tail())


class AuthLockoutTest(AddressCase):
    env_args = dict(limits={"auth_failures": 3, "auth_failure_window": 600,
                            "auth_ban": 60})
    # Failures count per login too: the tarpit test has a login of its own.
    users = {"alice": h.PASSWORD, "tarpit": h.PASSWORD}

    def bad_login(self, c, user=USER):
        start = time.monotonic()
        r = c.login(user=user, password="Wr0ng-password", timeout=15)
        return r, time.monotonic() - start

    def test_ban_after_failures(self):
        src = "127.0.0.1"
        for _ in range(2):
            c = self.tls(src)
            r, _ = self.bad_login(c)
            self.refused(r, 535, "5.7.8", user=None, client=src)
            self.assertAlive(c)
            c.close()
        c = self.tls(src)
        r, _ = self.bad_login(c)
        self.assertReply(r, 535, "5.7.8")
        r = c.reply()       # the failure that bans ends the session
        self.refused(r, 421, "4.7.0", user=None, client=src)
        self.assertTrue(c.closed_by_peer())
        self.assertTrue(self.daemon.wait_log(
            r"client=127\.0\.0\.1 event=ban reason=auth-failures"), self.log_tail())
        # Banned: "421 4.7.0" at connect, even for the right password.
        self.assertRefusedAtConnect(src, 421, "4.7.0")
        with self.assertRaises((h.ConnectionClosed, AssertionError,
                                ConnectionError)):
            h.connect_authenticated(self.port).close()
        # Other addresses are not banned.
        self.authed(source="127.0.0.2")

    def test_tarpit(self):
        login = "tarpit@" + h.DOMAIN
        c = self.tls("127.0.0.3")
        r, first = self.bad_login(c, login)
        self.assertReply(r, 535, "5.7.8")
        self.assertLess(first, 1.0, "the first failure should not wait")
        r, second = self.bad_login(c, login)
        self.refused(r, 535, "5.7.8", user=None, client="127.0.0.3")
        self.assertGreaterEqual(second, 1.0, "no tarpit before the second 535")
        # Slowed down, not locked out (2 failures < 3).
        self.assertReply(c.login(user=login, timeout=15), 235)


class AuthWindowTest(AddressCase):
    """auth_failure_window and auth_ban are times in seconds: failures
    older than the window do not count, and a ban ends."""
    env_args = dict(limits={"auth_failures": 2, "auth_failure_window": 2,
                            "auth_ban": 2})

    def fail_once(self, src):
        c = self.tls(src)
        self.assertReply(c.login(password="Wr0ng-password", timeout=15), 535)
        return c

    def test_failures_leave_the_window(self):
        src = "127.0.0.20"
        self.fail_once(src).close()
        time.sleep(3.5)         # the first failure is out of the window
        c = self.fail_once(src)
        self.assertEqual(c.pending(0.5), b"", "banned for failures 3.5 s "
                         "apart with auth_failure_window = 2" + self.log_tail())
        self.assertReply(self.banner(src)[1], 220)

    def test_ban_ends(self):
        src = "127.0.0.21"
        self.fail_once(src).close()
        c = self.fail_once(src)
        self.assertReply(c.reply(), 421, "4.7.0")
        self.assertRefusedAtConnect(src, 421, "4.7.0")
        time.sleep(3)
        self.assertReply(self.banner(src)[1], 220)


# ====================================================================
# SMTP smuggling: what may end DATA
# ====================================================================

# Payload a smuggler puts after a fake end of data: a second message.
SMUGGLED = (b"MAIL FROM:<bob@example.test>\r\nRCPT TO:<victim@example.org>\r\n"
            b"DATA\r\nFrom: bob@example.test\r\n\r\nsmuggled\r\n")
FAKE_ENDS = {"LF.LF": b"\n.\n", "LF.CRLF": b"\n.\r\n", "CRLF.LF": b"\r\n.\n",
             "CR.CR": b"\r.\r"}


class SmugglingTest(PolicyCase):

    def refused_data(self, raw, what):
        """raw (already stuffed, without the final CRLF.CRLF) is refused."""
        before = self.snapshot()
        c = self.authed()
        self.start_data(c)
        c.send(raw + b"\r\n.\r\n")
        r = c.reply(timeout=10)
        self.refused(r, 550, "5.6.0", contains=what)
        self.assertNothingSpooled(before, tmp_empty=True)
        self.assertAlive(c)

    def test_bare_lf(self):
        self.refused_data(message(self.token(), body=b"one\ntwo\r\n"), "LF")

    def test_bare_lf_in_header(self):
        msg = message(self.token(), fields=[b"X-Test: a\nb: c\r\n"])
        self.refused_data(msg, "LF")

    def test_bare_cr(self):
        self.refused_data(message(self.token(), body=b"one\rtwo\r\n"), "CR")

    def test_nul(self):
        self.refused_data(message(self.token(), body=b"one\0two\r\n"), "NUL")

    def test_fake_ends(self):
        for name, fake in FAKE_ENDS.items():
            with self.subTest(fake=name):
                before = self.snapshot()
                c = self.authed()
                self.start_data(c)
                c.send(message(self.token(), body=b"text") + fake + SMUGGLED)
                # Still in DATA: no reply to anything so far.
                self.assertEqual(c.pending(1.0), b"", "the data ended at " + name)
                c.send(b".\r\n")
                r = c.reply(timeout=10)
                self.refused(r, 550, "5.6.0")
                # One reply: the smuggled commands were data, not commands.
                self.assertEqual(c.pending(0.3), b"")
                self.assertNothingSpooled(before, tmp_empty=True)
                self.assertAlive(c)


def normalize_lf(data):
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


class BareLFNormalizeTest(PolicyCase):
    env_args = dict(bare_lf="normalize")

    def test_bare_lf_normalized(self):
        before = self.snapshot()
        c = self.authed()
        sent = (b"From: alice@example.test\nTo: bob@example.org\n"
                b"Subject: " + self.token().encode() + b"\n\n"
                b"line one\nline two\r\n..stuffed\nlast\r\n")
        self.start_data(c)
        c.send(sent + b".\r\n")
        r = c.reply(timeout=10)
        self.assertReply(r, 250, "2.0.0")
        # Stored with CRLF; "..stuffed" began a line, so it loses a dot.
        stored = normalize_lf(sent).replace(b"\r\n..stuffed", b"\r\n.stuffed")
        q = self.assertSpooled(before, stored, qid=h.queued_id(str(r)))
        self.assertNotRegex(q.body, rb"(?<!\r)\n")

    def test_fake_ends_do_not_end(self):
        for name in ("LF.CRLF", "LF.LF"):
            with self.subTest(fake=name):
                before = self.snapshot()
                c = self.authed()
                self.start_data(c)
                sent = message(self.token(), body=b"text") + FAKE_ENDS[name]
                c.send(sent)
                self.assertEqual(c.pending(1.0), b"", "the data ended at " + name)
                c.send(b"more\r\n.\r\n")
                r = c.reply(timeout=10)
                self.assertReply(r, 250, "2.0.0")
                # The "." after a bare LF was in the middle of a line.
                self.assertSpooled(before, normalize_lf(sent + b"more\r\n"),
                                   qid=h.queued_id(str(r)))

    def test_bare_cr_still_refused(self):
        before = self.snapshot()
        c = self.authed()
        self.start_data(c)
        c.send(message(self.token(), body=b"one\rtwo\r\n") + b".\r\n")
        self.refused(c.reply(timeout=10), 550, "5.6.0")
        self.assertNothingSpooled(before, tmp_empty=True)


# ====================================================================
# Malformed commands
# ====================================================================

BAD_MAIL = {
    # MAIL may be 600 octets longer than 512 for ENVID (RFC 3461 §4).
    "overlong": "MAIL FROM:<%s@%s.example.test>" % ("a" * 64, "b" * 1100),
    "8-bit": b"MAIL FROM:<al\xc3\xafce@example.test>",
    "8-bit latin1": b"MAIL FROM:<alice@example.test> BODY=8BITMIM\xc9",
    "no closing >": "MAIL FROM:<alice@example.test",
    "no opening <": "MAIL FROM:alice@example.test>",
    "double <<": "MAIL FROM:<<alice@example.test>>",
    "source route": "MAIL FROM:<@relay.example.test:alice@example.test>",
    "quoted @": 'MAIL FROM:<"bob@foreign.test"@example.test>',
    "percent hack": "MAIL FROM:<bob%foreign.test@example.test>",
    "bang hack": "MAIL FROM:<foreign.test!bob@example.test>",
    "repeated SIZE": "MAIL FROM:<alice@example.test> SIZE=100 SIZE=200",
    "repeated BODY": "MAIL FROM:<alice@example.test> BODY=7BIT BODY=8BITMIME",
    "unknown param": "MAIL FROM:<alice@example.test> FOO=bar",
    "SMTPUTF8 value": "MAIL FROM:<alice@example.test> SMTPUTF8=yes",
    "8-bit without SMTPUTF8": b"MAIL FROM:<al\xc3\xafce@example.test> BODY=8BITMIME",
    "bad ENVID": "MAIL FROM:<alice@example.test> ENVID=a+0D+0Ab",
    "bad RET": "MAIL FROM:<alice@example.test> RET=ALL",
    "BINARYMIME": "MAIL FROM:<alice@example.test> BODY=BINARYMIME",
}
BAD_RCPT = {
    "overlong": "RCPT TO:<%s@example.org>" % ("c" * 1200),
    "8-bit": b"RCPT TO:<b\xc3\xb6b@example.org>",
    "no closing >": "RCPT TO:<bob@example.org",
    "two paths": "RCPT TO:<bob@example.org> <eve@example.org>",
    "source route": "RCPT TO:<@a.example,@b.example:bob@example.org>",
    "quoted @": 'RCPT TO:<"bob@example.org"@example.test>',
    "quoted %": 'RCPT TO:<"bob%example.org"@example.test>',
    "percent hack": "RCPT TO:<bob%example.org@example.test>",
    "bang hack": "RCPT TO:<example.org!bob@example.test>",
    "bang no domain": "RCPT TO:<example.org!bob>",
    "two @": "RCPT TO:<bob@example.org@example.test>",
    "unknown param": "RCPT TO:<bob@example.org> FOO=bar",
    "bad NOTIFY": "RCPT TO:<bob@example.org> NOTIFY=NEVER,SUCCESS",
    "bad ORCPT": "RCPT TO:<bob@example.org> ORCPT=bob@example.org",
}


class BadCommandTest(PolicyCase):

    def bad(self, c, line):
        r = c.cmd(line)
        self.assertTrue(500 <= r.code < 600, "%r -> %s" % (line, r))
        self.refused(r, r.code, user=USER)
        # One reply per line, and the session goes on.
        self.assertEqual(c.pending(0.2), b"")
        self.assertAlive(c)
        return r

    def test_bad_mail(self):
        for name, line in BAD_MAIL.items():
            with self.subTest(case=name):
                c = self.authed()
                r = self.bad(c, line)
                if name == "overlong":
                    self.assertReply(r, 500, "5.5.2")
                if name.startswith("repeated"):
                    self.assertReply(r, 501, "5.5.4")
                if name == "unknown param":
                    self.assertReply(r, 555, "5.5.4")
                if name.startswith("8-bit") and "latin1" not in name:
                    self.assertReply(r, 553, "5.6.7")   # RFC 6531 §3.5
                # No sender was set: MAIL is still possible.
                self.assertReply(c.cmd("MAIL FROM:<%s>" % USER), 250)

    def test_bad_rcpt(self):
        for name, line in BAD_RCPT.items():
            with self.subTest(case=name):
                c = self.authed()
                self.assertReply(c.cmd("MAIL FROM:<%s>" % USER), 250)
                r = self.bad(c, line)
                if name == "overlong":
                    self.assertReply(r, 500, "5.5.2")
                if name == "unknown param":
                    self.assertReply(r, 555, "5.5.4")
                if name == "8-bit":
                    self.assertReply(r, 553, "5.6.7")
                # The transaction goes on with a good recipient.
                self.assertReply(c.cmd("RCPT TO:<%s>" % RCPT), 250)

    def test_bad_commands_before_auth(self):
        c = self.plain()
        self.assertReply(c.reply(), 220)
        for line in (b"EHLO h\xe9llo.example", b"NOOP \xff\xfe", b"X" * 600,
                     b"EHLO a\x01b"):
            with self.subTest(line=line[:20]):
                r = c.cmd(line)
                self.assertTrue(500 <= r.code < 600, r)
                self.refused(r, r.code, user=None)
                self.assertReply(c.cmd("NOOP"), 250)
        self.assertTrue(self.daemon.alive())


# ====================================================================
# Header hygiene
# ====================================================================

STRIPPED = [
    b"Received: from pc17.internal.example (pc17.internal.example [10.1.2.3])\r\n"
    b"\tby mx.internal.example with ESMTP id 4711;\r\n"
    b"\tThu, 01 Jan 2026 00:00:00 +0000\r\n",
    b"received: from gw.internal.example ([192.168.7.9]) by pc17\r\n",
    b"X-Originating-IP: [10.1.2.3]\r\n",
    b"X-Mailer: FooMail 1.0\r\n\t(build 42; internal)\r\n",
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n Thunderbird/115.0\r\n",
    b"X-MimeOLE: Produced By Microsoft MimeOLE V6.00.2900\r\n",
    b"X-Spam-Status: No, score=-1.0 required=5.0\r\n"
    b"\ttests=ALL_TRUSTED,BAYES_00\r\n\tautolearn=ham version=3.4.6\r\n",
    b"X-Spam-Flag: NO\r\n",
    b"X-Virus-Scanned: amavisd-new at internal.example\r\n",
    b"x-virus-status: Clean (lower case)\r\n",
]
KEPT = [
    b"X-Mailer-Version: kept, not an exact name on the list\r\n",
    b"Received-SPF: kept (a different field)\r\n",
    b"X-Spammy: kept (no X-Spam- prefix)\r\n",
]
BODY_WITH_HEADERS = (b"Received: from body.example ([10.9.9.9])\r\n"
                     b"X-Mailer: in the body\r\n\tfolded\r\n"
                     b"X-Spam-Flag: YES\r\n\r\nUser-Agent: still body\r\n")
SECRETS = (b"10.1.2.3", b"192.168.7.9", b"internal.example", b"FooMail",
           b"Mozilla", b"MimeOLE V6", b"score=", b"BAYES_00", b"amavisd")


def header_section(data):
    return data.split(b"\r\n\r\n", 1)[0] + b"\r\n"


class HeaderHygieneTest(PolicyCase):
    EHLO = "secret-laptop.corp.example"

    def submit_raw(self, msg, ehlo=None):
        before = self.snapshot()
        c = h.SMTPClient("127.0.0.1", self.port)
        self.addCleanup(c.close)
        c.open_tls(name=ehlo or self.EHLO)
        self.assertReply(c.login(), 235)
        qid = self.submit(c, msg)
        return before, c, qid

    def test_strip_default(self):
        # Interleaved with the kept fields, in the order clients put them.
        fields = [STRIPPED[0], STRIPPED[1], KEPT[0]] + STRIPPED[2:6] + \
                 [KEPT[1]] + STRIPPED[6:] + [KEPT[2]]
        msg = message(self.token(), fields=fields, body=BODY_WITH_HEADERS)
        before, _, qid = self.submit_raw(msg)
        q = self.assertSpooled(before, msg, qid=qid)
        head = header_section(q.body)
        for secret in SECRETS:
            self.assertNotIn(secret, head)
        for field in KEPT:
            self.assertIn(field, head)
        self.assertEqual(len(h.header_fields(q.body, "Received")), 1)
        self.assertTrue(q.body.endswith(b"\r\n\r\n" + BODY_WITH_HEADERS))

    def test_own_received(self):
        msg = message(self.token())
        before, c, qid = self.submit_raw(msg)
        q = self.assertSpooled(before, msg, qid=qid, helo=self.EHLO)
        fields = h.split_message(q.body)[0]
        self.assertEqual(fields[0][0], "Received")
        received = fields[0][1].decode()
        cipher, version, _ = c.tls_cipher
        self.assertIn("by relay.example.test with ESMTPSA", received)
        self.assertIn(version, received)
        self.assertIn(cipher, received)
        self.assertIn("id " + qid, received)
        self.assertNotIn("127.0.0.1", q.body.decode("utf-8", "replace"))
        self.assertNotIn(self.EHLO, q.body.decode("utf-8", "replace"))

    def test_header_split_across_reads(self):
        # Where the header section ends, or a stripped field folds, may
        # fall between two reads of the daemon: the result is the same.
        msg = message(self.token(), fields=[STRIPPED[6], KEPT[0]],
                      body=BODY_WITH_HEADERS)
        end = msg.index(b"\r\n\r\n")
        fold = msg.index(b"\r\n\ttests=")
        for cut in (end + 1, end + 2, end + 3, end + 4, fold + 1, fold + 2):
            with self.subTest(cut=cut - end):
                before = self.snapshot()
                c = self.authed()
                self.start_data(c)
                stream = h.dot_stuff(msg)
                c.send(stream[:cut])
                time.sleep(0.1)
                c.send(stream[cut:])
                r = c.reply(timeout=10)
                self.assertReply(r, 250, "2.0.0")
                self.assertSpooled(before, msg, qid=h.queued_id(str(r)))

    def test_message_id_and_date_added(self):
        msg = message(self.token(), date=False, msgid=False)
        before, _, qid = self.submit_raw(msg)
        q = self.assertSpooled(before, msg, qid=qid)
        ids = h.header_fields(q.body, "Message-ID")
        dates = h.header_fields(q.body, "Date")
        self.assertEqual(len(ids), 1, q.body)
        self.assertEqual(len(dates), 1, q.body)
        self.assertRegex(ids[0], rb"^Message-ID: <[^<>@\s]+@[^<>@\s]+>\r\n$")
        when = email.utils.parsedate_to_datetime(
            dates[0].decode().split(":", 1)[1].strip())
        self.assertLess(abs(when.timestamp() - time.time()), 300)

    def test_message_id_and_date_kept(self):
        for name, fields, kw in (
                ("both", [], {}),
                ("other case", [b"message-id: <lc-%d@example.test>\r\n" % os.getpid(),
                                b"DATE: Fri, 02 Jan 2026 00:00:00 +0000\r\n"],
                 dict(date=False, msgid=False)),
                ("date only", [], dict(msgid=False)),
                ("message-id only", [], dict(date=False))):
            with self.subTest(case=name):
                msg = message(self.token(), fields=fields, **kw)
                before, _, qid = self.submit_raw(msg)
                q = self.assertSpooled(before, msg, qid=qid)
                self.assertEqual(len(h.header_fields(q.body, "Message-ID")), 1)
                self.assertEqual(len(h.header_fields(q.body, "Date")), 1)

    def test_swaks_default_message(self):
        # swaks writes Date, Message-ID and "X-Mailer: swaks ..." itself.
        before = self.snapshot()
        p = subprocess.run(
            [h.tool("swaks"), "--server", "127.0.0.1:%d" % self.port, "--tls",
             "--auth", "LOGIN", "--auth-user", USER, "--auth-password",
             h.PASSWORD, "--from", USER, "--to", RCPT, "--ehlo", self.EHLO,
             "--h-From", "<%s>" % USER, "--timeout", "10"],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + self.log_tail())
        self.assertIn("X-Mailer: swaks", p.stdout)
        new = h.spool_messages(self.env.spool, exclude=before)
        self.assertEqual(len(new), 1)
        head = header_section(new[0].body)
        self.assertNotIn(b"X-Mailer", head)
        self.assertNotIn(self.EHLO.encode(), head)
        self.assertEqual(len(h.header_fields(new[0].body, "Message-ID")), 1)
        self.assertEqual(len(h.header_fields(new[0].body, "Date")), 1)
        self.assertEqual(len(h.header_fields(new[0].body, "Received")), 1)


class ReceivedClientIPTest(PolicyCase):
    env_args = dict(received_client_ip=True)

    def test_received_names_client(self):
        before = self.snapshot()
        c = h.SMTPClient("127.0.0.1", self.port)
        self.addCleanup(c.close)
        c.open_tls(name="laptop.client.example")
        self.assertReply(c.login(), 235)
        msg = message(self.token(), fields=[STRIPPED[0]])
        qid = self.submit(c, msg)
        q = self.assertSpooled(before, msg, qid=qid, client_ip=True)
        received = h.header_fields(q.body, "Received")
        self.assertEqual(len(received), 1)
        self.assertIn(b"127.0.0.1", received[0])
        self.assertIn(b"laptop.client.example", received[0])
        self.assertIn(b"with ESMTPSA", received[0])


class CustomStripTest(PolicyCase):
    STRIP = ["X-Secret", "X-Internal-*"]
    env_args = dict(strip_headers=STRIP)

    def test_custom_list(self):
        before = self.snapshot()
        c = self.authed()
        msg = message(self.token(), fields=[
            b"X-Secret: 42\r\n",
            b"x-internal-route: a\r\n\tb\r\n\tc\r\n",
            b"X-Internal-Host: build7\r\n",
            b"X-Secretary: kept\r\n",
            STRIPPED[0], STRIPPED[3]])      # now kept: not on this list
        qid = self.submit(c, msg)
        q = self.assertSpooled(before, msg, qid=qid, strip=self.STRIP)
        head = header_section(q.body)
        for gone in (b"X-Secret:", b"x-internal-route", b"X-Internal-Host",
                     b"\tb\r\n"):
            self.assertNotIn(gone, head)
        for kept in (b"X-Secretary: kept", STRIPPED[0], STRIPPED[3]):
            self.assertIn(kept, head)
        self.assertEqual(len(h.header_fields(q.body, "Received")), 2)
        self.assertTrue(q.body.startswith(b"Received: by relay.example.test"))


# ====================================================================
# Scoped logins: networks= and expires= in the login limits file
# ====================================================================

SCOPES = """\
app@example.test     100 100 networks=127.0.5.0/24,::1
old@example.test     100 100 expires=2020-01-01
cron@example.test    100 100 expires=2099-12-31 networks=127.0.6.1
"""


class ScopedLoginTest(PolicyCase):
    users = users("app", "old", "cron")
    files = {"login-limits": SCOPES}

    @classmethod
    def configure(cls, env):
        return {"limits": {"login_limits_file":
                           os.path.join(env.dir, "login-limits")}}

    def auth(self, login, source):
        c = self.tls(source=source)
        return c, c.login(login, password(login))

    def assertScopeRefused(self, login, source, rule):
        c, r = self.auth(login, source)
        # The same reply as a wrong password: no oracle ...
        self.assertReply(r, 535, "5.7.8")
        self.assertTrue(r.text.endswith("5.7.8 Authentication credentials "
                                        "invalid"), r.text)
        # ... and the log says which rule refused it.
        pat = (r"\bevent=auth result=fail mech=PLAIN user=%s reason=\"%s"
               % (re.escape(login), re.escape(rule)))
        self.assertTrue(h.wait_until(lambda: re.search(pat, self.daemon.log())),
                        "no %s%s" % (pat, self.log_tail()))
        # Refused, it cannot send.
        self.assertReply(c.cmd("MAIL FROM:<%s>" % login), 530, "5.7.0")
        c.close()

    def test_networks(self):
        app = "app@example.test"
        c, r = self.auth(app, "127.0.5.9")
        self.assertReply(r, 235)
        c.close()
        self.assertScopeRefused(app, "127.0.0.1",
                                "client outside the login's networks="
                                "127.0.5.0/24,::1")

    def test_expires(self):
        self.assertScopeRefused("old@example.test", "127.0.0.1",
                                "login expired on 2020-01-01")
        cron = "cron@example.test"
        c, r = self.auth(cron, "127.0.6.1")
        self.assertReply(r, 235)
        c.close()
        self.assertScopeRefused(cron, "127.0.6.2", "client outside")

    def test_bad_lines(self):
        for n, line in enumerate(("app@example.test 1 1 networks=bogus",
                                  "app@example.test 1 1 networks=",
                                  "app@example.test 1 1 expires=2020-13-45",
                                  "app@example.test 1 1 expires=tomorrow",
                                  "app@example.test 1 1 colour=blue")):
            with self.subTest(line=line):
                path = self.env.write_file("limits-bad%d" % n, line + "\n")
                conf = self.env.write_config(
                    path=os.path.join(self.env.dir, "bad%d.conf" % n),
                    limits={"login_limits_file": path})
                rc, out = self.check_config(conf)
                self.assertNotEqual(rc, 0, out)
                self.assertIn("%s:1: " % path, out)

    def check_config(self, conf):
        p = subprocess.run([self.daemon.binary, "-n", "-f", conf],
                           capture_output=True, text=True, timeout=20)
        return p.returncode, p.stdout + p.stderr


if __name__ == "__main__":
    sys.exit(h.main(__name__, OPTIONAL_TOOLS))
