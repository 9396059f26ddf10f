#!/usr/bin/env python3
"""The SMTP extensions clients and next hops expect, end to end: DSN
(RFC 3461/3464), SMTPUTF8 (RFC 6531/6532), CHUNKING (RFC 3030) and
REQUIRETLS (RFC 8689).  Mail goes in with Python's smtplib and with raw
SMTP (BDAT has no client in smtplib); real aiosmtpd next hops (peers.Peer)
offer DSN, SMTPUTF8 and REQUIRETLS or not; dnsmasq is the resolver for the
MX case.  The tests check what arrives at the next hop (the MAIL and RCPT
parameters as sent, the bytes), the DSNs that come back and the log.

Run by `make check` like the other suites (see test_delivery.py).
"""

import email
import email.message
import email.policy
import os
import re
import shutil
import smtplib
import sys
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness as h  # noqa: E402

h.require_modules("aiosmtpd")

import peers  # noqa: E402
from test_delivery import DeliveryTestCase, FAST_QUEUE  # noqa: E402

USER = h.USER
HAVE_DNSMASQ = shutil.which(
    "dnsmasq", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is not None
ALL = ("DSN", "SMTPUTF8", "REQUIRETLS")


def tok():
    return uuid.uuid4().hex[:10]


def message(token, rcpt, extra=b"", body=None):
    body = body if body is not None else (
        b"Hello,\r\n.a line with a leading dot\r\ntoken " + token.encode() +
        b"\r\nlast line\r\n")
    return (b"From: " + USER.encode() + b"\r\nTo: " + rcpt.encode() +
            b"\r\nSubject: ext " + token.encode() + b"\r\n"
            b"Message-ID: <" + token.encode() + b"@example.test>\r\n" + extra +
            b"\r\n" + body)


def utf8_message(token, rcpt):
    """A message with UTF-8 in its From: display name, Subject and body,
    for smtplib's send_message (which then says SMTPUTF8 when an address
    needs it)."""
    m = email.message.EmailMessage(policy=email.policy.SMTPUTF8)
    m["From"] = "Jörg Müller <%s>" % USER
    m["To"] = rcpt
    m["Subject"] = "Grüße " + token
    m["Message-ID"] = "<%s@example.test>" % token
    m.set_content("Schöne Grüße\ntoken %s\n" % token)
    return m


def smtp_client(port):
    """smtplib over STARTTLS, logged in."""
    s = smtplib.SMTP("127.0.0.1", port, timeout=15)
    s.starttls(context=h.client_context())
    s.login(USER, h.PASSWORD)
    return s


def dsn_parts(data):
    """(top message, per-message fields, [per-recipient fields], the
    returned part's content type, its bytes) of a DSN, RFC 3464 or the
    RFC 6533 global types."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    per_msg, per_rcpt, ctype, returned = {}, [], None, b""
    for p in msg.get_payload():
        ct = p.get_content_type()
        if ct in ("message/delivery-status", "message/global-delivery-status"):
            # The body is blocks of fields separated by empty lines.
            raw = p.get_payload()
            text = raw if isinstance(raw, str) else "\n\n".join(
                str(b) for b in raw)
            blocks = [b for b in re.split(r"\r?\n\r?\n", text.strip()) if b]
            fields = [dict((k.strip().lower(), v.strip()) for k, v in
                           (l.split(":", 1) for l in b.splitlines() if ":" in l))
                      for b in blocks]
            per_msg, per_rcpt = fields[0], fields[1:]
        elif ct not in ("text/plain",):
            ctype = ct
            raw = p.get_payload()
            returned = (raw if isinstance(raw, str) else
                        "".join(str(x) for x in raw)).encode("utf-8", "replace")
    return msg, per_msg, per_rcpt, ctype, returned


class ExtensionsCase(DeliveryTestCase):
    """Next hops, each a route of its own, with certificates a test CA
    signed for 127.0.0.1 (tls = "verify" passes):
      full.test      DSN, SMTPUTF8, REQUIRETLS offered (also the smarthost,
                     which the DSNs to alice@example.test go through)
      basic.test     none of them
      selfsigned.test  REQUIRETLS offered, but a self-signed certificate
      down.test      nobody listens
    """

    queue_settings = dict(FAST_QUEUE)

    @classmethod
    def make_peers(cls, env):
        ca = peers.make_ca(env.dir)
        cls.daemon_environ = {"SSL_CERT_FILE": ca[0], "SSL_CERT_DIR": env.dir}
        byip = peers.make_signed(env.dir, ca, "byip", ips=["127.0.0.1"])
        cls.full = cls.peer(tls=byip, extensions=ALL).start()
        cls.basic = cls.peer(tls=byip).start()
        cls.selfsigned = cls.peer(tls=(env.cert, env.key),
                                  extensions=("REQUIRETLS",)).start()
        routes = {
            "full.test": (cls.full.address, "verify"),
            "basic.test": (cls.basic.address, "verify"),
            "selfsigned.test": (cls.selfsigned.address, "may"),
            "down.test": ("[127.0.0.1]:%d" % h.free_port(), "may"),
        }
        conf = {'route "%s"' % d: {"host": host, "tls": level}
                for d, (host, level) in routes.items()}
        return dict(conf, relay={"smarthost": cls.full.address, "tls": "verify"},
                    queue=cls.queue_settings)

    def setUp(self):
        super().setUp()
        for p in (self.full, self.basic, self.selfsigned):
            p.reset()

    def raw_args(self, peer, verb, token=None):
        """The arguments of verb as peer received them."""
        return [a for _, v, a in list(peer.raw) if v == verb and
                (token is None or token in a)]

    def wait_dsn(self, token, timeout=15):
        """The one DSN (MAIL FROM:<>) quoting token that reached the
        smarthost (full), parsed."""
        h.wait_until(lambda: self.full.with_token(token, dsn=True), timeout)
        got = self.full.with_token(token, dsn=True)
        if len(got) != 1:
            self.fail("%d DSNs quoting %s (wanted 1)%s" % (len(got), token,
                                                          self.log_tail()))
        return got[0], dsn_parts(got[0].data)

    def assertNoDSN(self, token, wait=1.5):
        time.sleep(wait)
        self.assertEqual(self.full.with_token(token, dsn=True), [],
                         "unexpected DSN" + self.log_tail())


class EhloTest(ExtensionsCase):

    def test_offered_after_tls_only(self):
        c = self.plain()
        self.assertReply(c.reply(), 220)
        r = c.ehlo()
        for kw in ("DSN", "SMTPUTF8", "CHUNKING", "REQUIRETLS"):
            self.assertNotIn(kw, r.keywords, r)
        self.assertReply(c.cmd("STARTTLS"), 220)
        c.starttls()
        r = c.ehlo()
        for kw in ("DSN", "SMTPUTF8", "CHUNKING", "REQUIRETLS", "PIPELINING",
                   "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE", "AUTH"):
            self.assertIn(kw, r.keywords, r)
        s = smtp_client(self.port)
        for kw in ("dsn", "smtputf8", "chunking", "requiretls"):
            self.assertTrue(s.has_extn(kw), kw)
        s.quit()


class DSNTest(ExtensionsCase):
    queue_settings = dict(FAST_QUEUE, delay_warning=1)

    def test_parameters_pass_to_a_dsn_next_hop(self):
        t = tok()
        s = smtp_client(self.port)
        s.sendmail(USER, ["bob@full.test"], message(t, "bob@full.test"),
                   mail_options=["RET=HDRS", "ENVID=QQ+2B" + t],
                   rcpt_options=["NOTIFY=SUCCESS,FAILURE",
                                 "ORCPT=rfc822;Bob+2Bx@full.test"])
        s.quit()
        self.arrival(self.full, t)
        mail = self.raw_args(self.full, "MAIL", t)
        self.assertEqual(len(mail), 1, self.full.raw)
        self.assertIn(" RET=HDRS", mail[0])
        self.assertIn(" ENVID=QQ+2B" + t, mail[0])
        rcpt = [a for a in self.raw_args(self.full, "RCPT")
                if "bob@full.test" in a]
        self.assertEqual(rcpt, ["TO:<bob@full.test> NOTIFY=SUCCESS,FAILURE "
                                "ORCPT=rfc822;Bob+2Bx@full.test"])
        # The next hop speaks DSN: the "delivered" notice is its business.
        self.assertNoDSN(t)

    def test_relayed_dsn_for_a_next_hop_without_dsn(self):
        t = tok()
        s = smtp_client(self.port)
        s.sendmail(USER, ["bob@basic.test"], message(t, "bob@basic.test"),
                   mail_options=["ENVID=QQ+2B" + t],
                   rcpt_options=["NOTIFY=SUCCESS",
                                 "ORCPT=rfc822;Bob+2Bx@basic.test"])
        s.quit()
        self.arrival(self.basic, t)
        # Nothing of DSN reaches a hop that does not offer it.
        for a in self.raw_args(self.basic, "RCPT") + self.raw_args(
                self.basic, "MAIL"):
            self.assertNotIn("NOTIFY", a)
            self.assertNotIn("ENVID", a)
        dsn, (msg, per_msg, per_rcpt, ctype, returned) = self.wait_dsn(t)
        self.assertEqual(dsn.rcpts, [USER])
        self.assertIn("report-type=delivery-status", msg["Content-Type"])
        self.assertEqual(per_msg["original-envelope-id"], "QQ+" + t)
        self.assertEqual(len(per_rcpt), 1, per_rcpt)
        self.assertEqual(per_rcpt[0]["action"], "relayed")
        self.assertTrue(per_rcpt[0]["status"].startswith("2."), per_rcpt)
        self.assertEqual(per_rcpt[0]["original-recipient"],
                         "rfc822;Bob+x@basic.test")
        self.assertEqual(per_rcpt[0]["final-recipient"],
                         "rfc822; bob@basic.test")
        self.assertEqual(ctype, "text/rfc822-headers")
        self.assertLogged(r"\bevent=dsn\b", r"\bbounce=")

    def _refused(self, rcpt_options, mail_options=()):
        """A message to a recipient the next hop refuses for good."""
        self.full.rcpt_reply = (lambda s, r: "550 5.1.1 no such user"
                                if r.startswith("gone") else None)
        self.addCleanup(setattr, self.full, "rcpt_reply", None)
        t = tok()
        s = smtp_client(self.port)
        s.sendmail(USER, ["gone@full.test"], message(t, "gone@full.test"),
                   mail_options=list(mail_options), rcpt_options=rcpt_options)
        s.quit()
        return t

    def test_notify_never_no_bounce(self):
        t = self._refused(["NOTIFY=NEVER"])
        self.assertLogged(r'\bevent=bounce result=dropped reason="NOTIFY=NEVER"')
        self.assertNoDSN(t)

    def test_ret_full_returns_the_message(self):
        t = self._refused(["NOTIFY=FAILURE"], ["RET=FULL", "ENVID=full"])
        _, (msg, per_msg, per_rcpt, ctype, returned) = self.wait_dsn(t)
        self.assertEqual(per_rcpt[0]["action"], "failed")
        self.assertEqual(per_rcpt[0]["status"], "5.1.1")
        self.assertEqual(per_msg["original-envelope-id"], "full")
        self.assertEqual(ctype, "message/rfc822")
        self.assertIn(b"token " + t.encode(), returned)

    def test_utf8_orcpt_escaped_for_an_ascii_dsn(self):
        # RFC 6533 §3: in a message/delivery-status (the message itself
        # needs no SMTPUTF8) a UTF-8 ORCPT is written as \x{HEX}.
        t = tok()
        s = smtp_client(self.port)
        s.sendmail(USER, ["bob@basic.test"], message(t, "bob@basic.test"),
                   mail_options=["SMTPUTF8"],
                   rcpt_options=["NOTIFY=SUCCESS",
                                 "ORCPT=utf-8;\u7528\u6237@basic.test"])
        s.quit()
        dsn, (msg, _, per_rcpt, _, _) = self.wait_dsn(t)
        self.assertIn("report-type=delivery-status", msg["Content-Type"])
        self.assertEqual(per_rcpt[0]["original-recipient"],
                         "utf-8;\\x{7528}\\x{6237}@basic.test")

    def test_ret_hdrs_returns_headers_only(self):
        t = self._refused([], ["RET=HDRS"])
        dsn, (msg, per_msg, per_rcpt, ctype, returned) = self.wait_dsn(t)
        self.assertEqual(ctype, "text/rfc822-headers")
        self.assertIn(b"Subject: ext " + t.encode(), dsn.data)
        self.assertNotIn(b"token " + t.encode(), dsn.data)
        self.assertNotIn("original-envelope-id", per_msg)
        self.assertNotIn("original-recipient", per_rcpt[0])

    def _delayed(self, rcpt_options):
        t = tok()
        s = smtp_client(self.port)
        s.sendmail(USER, ["late@down.test"], message(t, "late@down.test"),
                   rcpt_options=rcpt_options)
        s.quit()
        return t

    def test_delay_warning_only_when_asked(self):
        asked = self._delayed(["NOTIFY=DELAY,FAILURE"])
        silent = self._delayed(["NOTIFY=FAILURE"])
        default = self._delayed([])
        _, (_, _, per_rcpt, _, _) = self.wait_dsn(asked)
        self.assertEqual(per_rcpt[0]["action"], "delayed")
        self.wait_dsn(default)          # no NOTIFY: FAILURE,DELAY
        # Both have had their warning's chance by now (same queue runs).
        self.assertNoDSN(silent, wait=0.5)
        for qid in re.findall(r"queue=(\w+) event=deferred",
                              self.daemon.full_log()):
            h.submitctl(self.env, "delete", qid)


class SMTPUTF8Test(ExtensionsCase):

    def test_utf8_address_and_headers_delivered(self):
        t = tok()
        rcpt = "用户@full.test"
        s = smtp_client(self.port)
        s.send_message(utf8_message(t, rcpt), USER, [rcpt])
        s.quit()
        a = self.arrival(self.full, t)
        self.assertEqual(a.rcpts, [rcpt])
        mail = self.raw_args(self.full, "MAIL")
        self.assertTrue(any("SMTPUTF8" in m for m in mail), mail)
        self.assertIn("Subject: Grüße ".encode(), a.data)
        self.assertIn("From: Jörg Müller".encode(), a.data)

    def test_next_hop_without_smtputf8_bounces_567(self):
        t = tok()
        rcpt = "用户@basic.test"
        s = smtp_client(self.port)
        s.send_message(utf8_message(t, rcpt), USER, [rcpt])
        s.quit()
        # Never mangled, never sent: a 5.6.7 DSN (RFC 6531 §3.4), itself
        # of the RFC 6533 types, through the smarthost that speaks UTF-8.
        dsn, (msg, per_msg, per_rcpt, ctype, _) = self.wait_dsn(t)
        self.assertEqual(self.basic.with_token(t), [])
        self.assertIn("report-type=global-delivery-status",
                      msg["Content-Type"])
        self.assertEqual(per_rcpt[0]["status"], "5.6.7")
        self.assertIn(("\r\nFinal-Recipient: utf-8; %s\r\n" % rcpt).encode(),
                      dsn.data)
        self.assertEqual(ctype, "message/global-headers")
        self.assertTrue(any("SMTPUTF8" in m for m in
                            self.raw_args(self.full, "MAIL")))

    def test_ascii_message_with_smtputf8_goes_anywhere(self):
        t = tok()
        s = smtp_client(self.port)
        s.sendmail(USER, ["bob@basic.test"], message(t, "bob@basic.test"),
                   mail_options=["SMTPUTF8"])
        s.quit()
        self.arrival(self.basic, t)
        self.assertFalse(any("SMTPUTF8" in m for m in
                             self.raw_args(self.basic, "MAIL")))

    def test_utf8_needs_smtputf8(self):
        c = self.authed()
        r = c.cmd("MAIL FROM:<%s>" % USER)
        self.assertReply(r, 250)
        r = c.cmd("RCPT TO:<用户@full.test>".encode())
        self.assertReply(r, 553, "5.6.7")
        c.cmd("RSET")
        r = c.cmd(b"MAIL FROM:<\xff@example.test> SMTPUTF8")
        self.assertReply(r, 500, "5.5.2")       # not UTF-8 at all
        # An overlong form of "/" is not UTF-8 either.
        r = c.cmd(b"MAIL FROM:<a\xc0\xafb@example.test> SMTPUTF8")
        self.assertReply(r, 500, "5.5.2")


class UTF8BounceTest(ExtensionsCase):
    """The sender's own domain is reached through basic, which has no
    SMTPUTF8: a DSN about a UTF-8 message still reaches an ASCII sender
    (its UTF-8 is in the body parts of the RFC 6533 types)."""

    @classmethod
    def make_peers(cls, env):
        conf = super().make_peers(env)
        conf['route "example.test"'] = {"host": cls.basic.address,
                                         "tls": "verify"}
        return conf

    def test_dsn_to_ascii_sender_without_smtputf8(self):
        t = tok()
        rcpt = "用户@basic.test"
        m = utf8_message(t, rcpt)
        s = smtp_client(self.port)
        s.send_message(m, USER, [rcpt])
        s.quit()
        h.wait_until(lambda: self.basic.with_token(t, dsn=True), 15)
        got = self.basic.with_token(t, dsn=True)
        self.assertEqual(len(got), 1, self.log_tail())
        self.assertEqual(got[0].rcpts, [USER])
        self.assertIn(b"report-type=global-delivery-status", got[0].data)
        self.assertIn(b"Status: 5.6.7", got[0].data)
        self.assertFalse([a for a in self.raw_args(self.basic, "MAIL")
                          if "SMTPUTF8" in a])


class SenderNFCTest(ExtensionsCase):
    """The login owns josé@example.test (senders file, NFC): the address
    written with a combining accent is the same address."""

    @classmethod
    def make_peers(cls, env):
        conf = super().make_peers(env)
        path = env.write_file("senders", "%s jos\u00e9@example.test\n" % USER)
        conf["senders"] = {"file": path}
        return conf

    def test_decomposed_sender_is_the_owned_one(self):
        c = self.authed()
        r = c.cmd("MAIL FROM:<jose\u0301@example.test> SMTPUTF8".encode())
        self.assertReply(r, 250)
        c.cmd("RSET")
        r = c.cmd("MAIL FROM:<jos\u00e9@example.test> SMTPUTF8".encode())
        self.assertReply(r, 250)
        c.cmd("RSET")
        r = c.cmd("MAIL FROM:<jose\u0300@example.test> SMTPUTF8".encode())
        self.assertReply(r, 553, "5.7.1")       # è is someone else


class ChunkingTest(ExtensionsCase):

    def bdat(self, c, data, last=False):
        c.send(b"BDAT %d%s\r\n" % (len(data), b" LAST" if last else b"") + data)
        return c.reply(timeout=15)

    def begin(self, rcpt="bob@full.test"):
        c = self.authed()
        self.assertReply(c.cmd("MAIL FROM:<%s>" % USER), 250)
        self.assertReply(c.cmd("RCPT TO:<%s>" % rcpt), 250)
        return c

    def test_chunks_arrive_as_sent(self):
        t = tok()
        msg = message(t, "bob@full.test",
                      body=b".leading dot\r\n.\r\n..two\r\n" + (b"x" * 900 + b"\r\n") * 6 +
                      b"\r\nend " + t.encode())       # no final CRLF
        c = self.begin()
        pieces = [msg[:7], msg[7:4000], msg[4000:]]
        r = self.bdat(c, pieces[0])
        self.assertReply(r, 250, "2.0.0")
        self.assertIn("7 octets", r.text)
        self.assertReply(self.bdat(c, pieces[1]), 250)
        r = self.bdat(c, pieces[2], last=True)
        self.assertReply(r, 250, "2.0.0")
        qid = h.queued_id(str(r))
        a = self.arrival(self.full, t)
        _, body = h.split_message(a.data)
        # Dots are text in BDAT; the missing last CRLF is added.
        self.assertEqual(body, msg.split(b"\r\n\r\n", 1)[1] + b"\r\n")
        self.assertLogged(r"\bqueue=%s action=accept\b" % qid)

    def test_pipelined_chunks_and_empty_last(self):
        t = tok()
        msg = message(t, "bob@full.test")
        c = self.begin()
        c.send(b"BDAT %d\r\n" % len(msg) + msg + b"BDAT 0 LAST\r\nNOOP\r\n")
        self.assertReply(c.reply(timeout=10), 250)
        r = c.reply(timeout=10)
        self.assertReply(r, 250)
        self.assertIsNotNone(h.queued_id(str(r)), r)
        self.assertReply(c.reply(timeout=10), 250)  # the NOOP after it
        self.arrival(self.full, t)

    def test_refused_chunk_is_read_not_obeyed(self):
        c = self.authed()
        # No MAIL: refused, but its octets are skipped, not taken as
        # commands ("QUIT" inside must not end the session).
        r = self.bdat(c, b"QUIT\r\n")
        self.assertReply(r, 503, "5.5.1")
        self.assertReply(c.cmd("NOOP"), 250)
        # Too big for limits.message_size: 552, the chunk still skipped.
        c2 = self.begin()
        c2.send(b"BDAT 20000000\r\n")
        c2.send(b"RSET\r\n" + b"y" * (20000000 - 6))
        self.assertReply(c2.reply(timeout=30), 552, "5.3.4")
        # The transaction is over (RFC 3030 §2): BDAT needs MAIL again.
        self.assertReply(self.bdat(c2, b"x\r\n", last=True), 503, "5.5.1")
        self.assertReply(c2.cmd("NOOP"), 250)

    def test_bare_lf_and_mixing_with_data(self):
        c = self.begin()
        r = self.bdat(c, b"Subject: x\r\n\r\nbare\nlf\r\n", last=True)
        self.assertReply(r, 550, "5.6.0")
        self.assertIn("bare LF", r.text)
        c = self.begin()
        self.assertReply(self.bdat(c, b"Subject: x\r\n"), 250)
        self.assertReply(c.cmd("DATA"), 503, "5.5.1")
        self.assertReply(c.cmd("RSET"), 250)

    def test_before_auth_the_connection_closes(self):
        # Nobody may stream a chunk before AUTH; its octets are never
        # taken for commands: the connection ends.
        c = self.tls()
        c.ehlo()
        r = self.bdat(c, b"AUTH PLAIN " + h.plain_ir().encode() + b"\r\n")
        self.assertReply(r, 530, "5.7.0")
        self.assertTrue(c.closed_by_peer())
        c = self.plain()
        self.assertReply(c.reply(), 220)
        c.ehlo()
        self.assertReply(self.bdat(c, b"QUIT\r\n"), 530, "5.7.0")
        self.assertTrue(c.closed_by_peer())

    def test_no_rcpt_once_chunks_began(self):
        # The envelope went to disk with the first chunk: a later RCPT
        # would be acknowledged and lost.
        c = self.begin()
        self.assertReply(self.bdat(c, b"Subject: x\r\n"), 250)
        self.assertReply(c.cmd("RCPT TO:<carol@full.test>"), 503, "5.5.1")
        self.assertReply(c.cmd("MAIL FROM:<%s>" % USER), 503, "5.5.1")
        r = self.bdat(c, b"\r\nbody\r\n", last=True)
        self.assertReply(r, 250)
        qid = h.queued_id(str(r))
        self.assertLogged(r"\bqueue=%s action=accept\b.* rcpts=1\b" % qid)

    def test_large_message_streams(self):
        t = tok()
        line = b"z" * 998 + b"\r\n"
        body = line * 6000 + b"token " + t.encode() + b"\r\n"   # 6 MB
        msg = message(t, "bob@full.test", body=body)
        c = self.begin()
        half = len(msg) // 2
        self.assertReply(self.bdat(c, msg[:half]), 250)
        r = self.bdat(c, msg[half:], last=True)
        self.assertReply(r, 250)
        a = self.arrival(self.full, t, timeout=30)
        self.assertEqual(h.split_message(a.data)[1], body)


class ChunkingNormalizeTest(ExtensionsCase):
    """bare_lf = "normalize" holds for BDAT as for DATA: a bare LF is
    stored as CRLF; a bare CR is still refused."""

    @classmethod
    def make_peers(cls, env):
        return dict(super().make_peers(env), bare_lf="normalize")

    def test_bare_lf_normalized_bare_cr_refused(self):
        t = tok()
        c = self.authed()
        self.assertReply(c.cmd("MAIL FROM:<%s>" % USER), 250)
        self.assertReply(c.cmd("RCPT TO:<bob@full.test>"), 250)
        msg = message(t, "bob@full.test", body=b"one\ntwo\r\n")
        c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
        self.assertReply(c.reply(timeout=10), 250)
        a = self.arrival(self.full, t)
        self.assertTrue(a.data.endswith(b"\r\n\r\none\r\ntwo\r\n"), a.data[-40:])
        self.assertReply(c.cmd("MAIL FROM:<%s>" % USER), 250)
        self.assertReply(c.cmd("RCPT TO:<bob@full.test>"), 250)
        bad = b"Subject: x\r\n\r\nbare\rcr\r\n"
        c.send(b"BDAT %d LAST\r\n" % len(bad) + bad)
        self.assertReply(c.reply(timeout=10), 550, "5.6.0")


class RequireTLSTest(ExtensionsCase):

    def send_requiretls(self, rcpt, extra=b"", mail_options=()):
        """The token is the ENVID too: a DSN about it quotes nothing else."""
        t = tok()
        s = smtp_client(self.port)
        s.sendmail(USER, [rcpt], message(t, rcpt, extra=extra),
                   mail_options=["REQUIRETLS", "ENVID=" + t] +
                   list(mail_options))
        s.quit()
        return t

    def test_verified_next_hop_with_requiretls(self):
        t = self.send_requiretls("bob@full.test")
        a = self.arrival(self.full, t)
        self.assertIn(a.tls, ("TLSv1.2", "TLSv1.3"))
        self.assertTrue(any(m.endswith(" REQUIRETLS") for m in
                            self.raw_args(self.full, "MAIL", USER)))

    def test_next_hop_without_requiretls_bounces_5710(self):
        t = self.send_requiretls("bob@basic.test", mail_options=["RET=FULL"])
        dsn, (_, per_msg, per_rcpt, ctype, _) = self.wait_dsn(t)
        self.assertEqual(per_rcpt[0]["status"], "5.7.10")
        self.assertIn("does not offer REQUIRETLS", per_rcpt[0]["diagnostic-code"])
        self.assertEqual(per_msg["original-envelope-id"], t)
        # RFC 8689 §4.4: redacted, not even the headers (RET=FULL or not),
        # so the DSN needs no REQUIRETLS to reach the sender.
        self.assertIsNone(ctype)
        self.assertNotIn(b"Subject: ext", dsn.data)
        self.assertIn(b"asked for REQUIRETLS", dsn.data)
        self.assertFalse([m for m in self.raw_args(self.full, "MAIL")
                          if m.startswith("FROM:<>") and "REQUIRETLS" in m])
        self.assertEqual(self.basic.with_token(t), [])
        self.assertEqual(self.raw_args(self.basic, "MAIL"), [])

    def test_unverified_certificate_bounces_5710(self):
        t = self.send_requiretls("bob@selfsigned.test")
        _, (_, _, per_rcpt, _, _) = self.wait_dsn(t)
        self.assertEqual(per_rcpt[0]["status"], "5.7.10")
        self.assertIn("verified certificate", per_rcpt[0]["diagnostic-code"])
        self.assertEqual(self.selfsigned.with_token(t), [])

    def test_tls_required_no_is_ignored_with_requiretls(self):
        t = self.send_requiretls("bob@basic.test", extra=b"TLS-Required: No\r\n")
        _, (_, _, per_rcpt, _, _) = self.wait_dsn(t)
        self.assertEqual(per_rcpt[0]["status"], "5.7.10")


@unittest.skipUnless(HAVE_DNSMASQ, "dnsmasq is not installed")
class RequireTLSInsecureMXTest(DeliveryTestCase):
    """REQUIRETLS by MX: dnsmasq never sets the AD bit and req.test has no
    MTA-STS policy, so its MX host was not found securely (RFC 8689
    §4.2.1), however good its certificate and even though it offers
    REQUIRETLS."""

    @classmethod
    def make_peers(cls, env):
        ca = peers.make_ca(env.dir)
        cls.daemon_environ = {"SSL_CERT_FILE": ca[0], "SSL_CERT_DIR": env.dir}
        addr = peers.loopback_address()
        cert = peers.make_signed(env.dir, ca, "mxreq", dns=["mx.req.test"])
        cls.mx = cls.peer(host=addr, port=25, tls=cert, name="mx.req.test",
                          extensions=("REQUIRETLS",)).start()
        cls.home = cls.peer().start()
        cls.dnsd = cls.dns(env, a=[("mx.req.test", addr)],
                           mx=[("req.test", "mx.req.test", 10)])
        return {"resolver": cls.dnsd.resolver,
                "relay": {"smarthost": None, "mta_sts": "disable",
                          "dane": "disable"},
                'route "example.test"': {"host": cls.home.address},
                "queue": FAST_QUEUE}

    def test_mx_not_found_securely_bounces_5710(self):
        plain, required = tok(), tok()
        s = smtp_client(self.port)
        s.sendmail(USER, ["bob@req.test"], message(plain, "bob@req.test"))
        s.sendmail(USER, ["bob@req.test"], message(required, "bob@req.test"),
                   mail_options=["REQUIRETLS", "ENVID=" + required])
        s.quit()
        a = self.arrival(self.mx, plain)           # reachable, and verified
        self.assertIn(a.tls, ("TLSv1.2", "TLSv1.3"))
        self.assertLogged(r"\brcpt=<bob@req\.test> ", r"\bverified=yes\b",
                          r"\bresult=sent\b")
        dsn = h.wait_until(lambda: self.home.with_token(required, dsn=True), 15)
        self.assertTrue(dsn, self.log_tail())
        _, _, per_rcpt, _, _ = dsn_parts(dsn[0].data)
        self.assertEqual(per_rcpt[0]["status"], "5.7.10")
        self.assertIn("not found securely", per_rcpt[0]["diagnostic-code"])
        self.assertEqual(self.mx.with_token(required), [])


@unittest.skipUnless(peers.have_postfix(), "postfix is not installed")
class PostfixNextHopTest(ExtensionsCase):
    """A real Postfix as the next hop of pf.test: it offers CHUNKING, DSN and
    SMTPUTF8, so messages go to it with BDAT, DSN parameters and SMTPUTF8."""

    @classmethod
    def make_peers(cls, env):
        conf = super().make_peers(env)
        cls.pf = peers.Postfix(env.cert, env.key, ["pf.test"])
        cls.pf.start()
        cls.addClassCleanup(cls.pf.stop)
        conf['route "pf.test"'] = {"host": cls.pf.address, "tls": "may"}
        return conf

    def delivered(self, token, timeout=20):
        h.wait_until(lambda: self.pf.with_token(token), timeout)
        got = self.pf.with_token(token)
        if len(got) != 1:
            self.fail("%d deliveries of %s by Postfix%s\n%s" % (
                len(got), token, self.log_tail(), self.pf.log()[-2000:]))
        return got[0]

    def session_line(self, pattern, timeout=10):
        """Postfix's summary of our session, e.g. "... bdat=1 quit=1"."""
        def found():
            return [l for l in self.pf.log().splitlines()
                    if "disconnect from" in l and re.search(pattern, l)]
        h.wait_until(found, timeout)
        return found()

    def test_bdat_to_postfix(self):
        t = tok()
        body = (b".a leading dot\r\n..two dots\r\n.\r\nend " + t.encode() +
                b"\r\n" + b"8-bit: \xc3\xa9\r\n" + (b"y" * 900 + b"\r\n") * 200)
        s = smtp_client(self.port)
        s.sendmail(USER, ["bob@pf.test"], message(t, "bob@pf.test", body=body),
                   mail_options=["BODY=8BITMIME"])
        s.quit()
        got = self.delivered(t)
        # virtual(8) writes LF line ends; the body is as sent, dots too.
        self.assertTrue(got.endswith(body.replace(b"\r\n", b"\n")), got[-300:])
        self.assertTrue(self.session_line(r"\bbdat=1\b"), self.pf.log()[-2000:])
        self.assertFalse(self.session_line(r"\bdata=", timeout=0.1))

    def test_utf8_and_dsn_to_postfix(self):
        t = tok()
        rcpt = "用户@pf.test"
        m = utf8_message(t, rcpt)
        s = smtp_client(self.port)
        s.send_message(m, USER, [rcpt], rcpt_options=["NOTIFY=SUCCESS"])
        s.quit()
        got = self.delivered(t)
        self.assertIn("Delivered-To: 用户@pf.test".encode(), got)
        self.assertIn("Subject: Grüße".encode(), got)
        # Postfix speaks DSN: its "delivered" notice, not our "relayed" one.
        self.assertNoDSN(t, wait=1)


if __name__ == "__main__":
    sys.exit(h.main(__name__))
