#!/usr/bin/env python3
"""DKIM (RFC 6376, RFC 8463) as a receiver sees it: messages submitted to the
real daemon arrive at an aiosmtpd next hop, and their signatures are checked
with an independent verifier (dkimpy, Debian's python3-dkim, with
python3-nacl for Ed25519), never with submitd's own code: both algorithms
side by side, folded fields, whitespace and blank lines at the end of the
body, 8-bit bodies, a multi-megabyte message, over-signing, tampering.
Also: the configuration errors of `submitd -n`, `submitctl dkim-record`
against what openssl says the public key is, and `submitctl dns-check`
against records served by dnsmasq.

Exit 0: all passed; 1: a failure; 77: aiosmtpd or dkimpy is missing.
"""

import base64
import os
import re
import shutil
import subprocess
import sys
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness as h  # noqa: E402

h.require_modules("aiosmtpd", "dkim", "nacl",
                  packages="python3-aiosmtpd python3-dkim python3-nacl")
import dkim  # noqa: E402

from test_delivery import DeliveryTestCase  # noqa: E402

USER = h.USER
FAST_QUEUE = {"retry_min": 1, "retry_max": 2, "connect_timeout": 5,
              "command_timeout": 10, "data_timeout": 10}


def tok():
    return uuid.uuid4().hex[:10]


def make_key(directory, name, algorithm, bits=2048, mode=0o600):
    path = os.path.join(directory, name + ".pem")
    argv = [h.tool("openssl"), "genpkey", "-algorithm", algorithm,
            "-out", path]
    if algorithm == "RSA":
        argv += ["-pkeyopt", "rsa_keygen_bits:%d" % bits]
    elif algorithm == "EC":
        argv += ["-pkeyopt", "ec_paramgen_curve:P-256"]
    h.run(argv)
    os.chmod(path, mode)
    return path


def public_b64(key, algorithm):
    """p= as openssl sees the key: the raw 32 octets for Ed25519, the
    SubjectPublicKeyInfo for RSA."""
    der = subprocess.run([h.tool("openssl"), "pkey", "-in", key, "-pubout",
                          "-outform", "DER"], capture_output=True,
                         check=True).stdout
    if algorithm == "ed25519":
        der = der[-32:]
    return base64.b64encode(der).decode()


def record(key, algorithm):
    return "v=DKIM1; k=%s; p=%s" % (algorithm, public_b64(key, algorithm))


def signatures(data):
    """The DKIM-Signature fields of a message, as {tag: value} dicts."""
    fields, _ = h.split_message(data)
    out = []
    for name, raw in fields:
        if name.lower() != "dkim-signature":
            continue
        value = raw.split(b":", 1)[1].decode()
        tags = {}
        for part in value.split(";"):
            if "=" in part:
                k, v = part.split("=", 1)
                tags[k.strip()] = re.sub(r"\s+", "", v)
        out.append(tags)
    return out


class DKIMCase(DeliveryTestCase):
    """One daemon signing with keys made for the class; an aiosmtpd smarthost
    receives.  keys: [(domain, selector, algorithm)]."""
    keys = [("example.test", "ed2026", "ed25519"),
            ("example.test", "rsa2026", "rsa")]

    @classmethod
    def make_peers(cls, env):
        cls.records = {}
        sections = []
        for domain, selector, alg in cls.keys:
            path = make_key(env.dir, selector + "-" + domain,
                            "ED25519" if alg == "ed25519" else "RSA")
            cls.records["%s._domainkey.%s." % (selector, domain)] = \
                record(path, alg).encode()
            sections.append({"domain": domain, "selector": selector,
                             "key": path})
        cls.hop = cls.peer().start()
        return {"relay": {"smarthost": cls.hop.address}, "queue": FAST_QUEUE,
                "dkim": sections}

    def dnsfunc(self, name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        if not name.endswith("."):
            name += "."
        return self.records.get(name)

    def verify(self, data, idx):
        try:
            return dkim.DKIM(data).verify(idx=idx, dnsfunc=self.dnsfunc)
        except dkim.DKIMException:
            return False

    def deliver(self, msg, sender=USER):
        """Submits msg; returns (queue id, the bytes that arrived)."""
        t = re.search(rb"token ([0-9a-f]+)", msg).group(1).decode()
        c = self.authed()
        qid = self.submit(c, msg, sender=sender)
        c.cmd("QUIT")
        c.close()
        h.wait_until(lambda: self.hop.with_token(t), 15)
        got = self.hop.with_token(t)
        self.assertEqual(len(got), 1, self.log_tail())
        return qid, got[0].data

    def assertVerifies(self, data, n=2):
        sigs = signatures(data)
        self.assertEqual(len(sigs), n, data[:2000])
        for i in range(n):
            self.assertTrue(self.verify(data, i), "signature %d (%s) does "
                            "not verify:\n%r" % (i, sigs[i].get("a"),
                                                 data[:3000]))
        return sigs


def message(token, extra_headers=b"", body=None, sender=USER):
    if body is None:
        body = b"Hello,\r\ntoken " + token.encode() + b"\r\n"
    return (b"From: Alice <" + sender.encode() + b">\r\n"
            b"To: Bob <bob@example.org>\r\n"
            b"Subject: dkim test " + token.encode() + b"\r\n"
            b"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
            b"Message-ID: <" + token.encode() + b"@example.test>\r\n"
            + extra_headers + b"\r\n" + body)


class SigningTest(DKIMCase):

    def test_both_algorithms_verify(self):
        t = tok()
        qid, data = self.deliver(message(t))
        sigs = self.assertVerifies(data)
        self.assertEqual(sorted(s["a"] for s in sigs),
                         ["ed25519-sha256", "rsa-sha256"])
        for s in sigs:
            self.assertEqual(s["v"], "1")
            self.assertEqual(s["c"], "relaxed/relaxed")
            self.assertEqual(s["d"], "example.test")
            self.assertNotIn("l", s)
            self.assertLess(abs(int(s["t"]) - time.time()), 120)
            names = s["h"].split(":")
            # Every listed field is over-signed: one more than present.
            for name in ("from", "to", "subject", "date", "message-id"):
                self.assertEqual(names.count(name), 2, s["h"])
            for name in ("cc", "reply-to", "in-reply-to", "references",
                         "mime-version", "content-type",
                         "content-transfer-encoding"):
                self.assertEqual(names.count(name), 1, s["h"])
        # Our signatures come first, then our Received.
        fields, _ = h.split_message(data)
        self.assertEqual([n.lower() for n, _ in fields[:3]],
                         ["dkim-signature", "dkim-signature", "received"])
        # The accept and delivery lines say who signed.
        signers = r"dkim=ed2026@example\.test,rsa2026@example\.test\b"
        self.assertLogged(r"\bqueue=%s action=accept\b" % qid, signers)
        self.assertLogged(r"\bqueue=%s rcpt=<bob@example\.org>" % qid,
                          signers, r"\bresult=sent\b")

    def test_folded_fields_whitespace_8bit(self):
        t = tok()
        extra = (b"Cc: carol@example.org,\r\n\t dave@example.org  \r\n"
                 b"Reply-To:   Alice\t<alice@example.test>\r\n"
                 b"X-Folded: one\r\n  two\r\n\tthree\r\n"
                 b"MIME-Version: 1.0\r\n"
                 b"Content-Type: text/plain;\r\n charset=utf-8\r\n"
                 b"Content-Transfer-Encoding: 8bit\r\n")
        body = (b"  leading  and   inner\t\twhitespace  \r\n"
                b"trailing tabs\t\t\r\n"
                b"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xff\xfe 8-bit\r\n"
                b"token " + t.encode() + b"\r\n"
                b"\r\n \r\n\t\r\n\r\n")
        _, data = self.deliver(message(t, extra, body))
        self.assertVerifies(data)
        # The folding and the whitespace arrived as sent.
        self.assertIn(b"dave@example.org  \r\n", data)
        self.assertIn(b"\r\n\r\n \r\n\t\r\n\r\n", data)

    def test_subject_folded(self):
        t = tok()
        msg = message(t).replace(
            b"Subject: dkim test ",
            b"Subject: a long subject that goes on\r\n\tand on and\r\n on ")
        _, data = self.deliver(msg)
        self.assertVerifies(data)

    def test_no_body(self):
        t = tok()
        msg = message(t, extra_headers=b"X-Token: token " + t.encode() +
                      b"\r\n", body=b"")
        _, data = self.deliver(msg)
        self.assertVerifies(data)

    def test_multi_megabyte(self):
        t = tok()
        line = b"0123456789 abcdefghij  klmnopqrst\tuvwxyz   \r\n"
        body = line * (6 * 1024 * 1024 // len(line)) + \
            b"token " + t.encode() + b"\r\n"
        _, data = self.deliver(message(t, body=body))
        self.assertGreater(len(data), 6 * 1024 * 1024)
        self.assertVerifies(data)

    def test_tampering_fails(self):
        t = tok()
        _, data = self.deliver(message(t))
        self.assertVerifies(data)
        fields, body = h.split_message(data)
        cases = {
            "body": data.replace(b"Hello,", b"Hullo,"),
            "subject": data.replace(b"Subject: dkim test",
                                    b"Subject: dkim tost"),
            "a second From: above": b"From: ceo@example.test\r\n" + data,
            "a second From: below": data.replace(
                b"\r\n\r\n", b"\r\nFrom: ceo@example.test\r\n\r\n", 1),
            "an added Cc:": data.replace(
                b"\r\n\r\n", b"\r\nCc: eve@example.org\r\n\r\n", 1),
            "a line appended": data + b"P.S. click here\r\n",
        }
        for what, bad in cases.items():
            with self.subTest(what=what):
                self.assertNotEqual(bad, data)
                for i in range(2):
                    self.assertFalse(self.verify(bad, i), what)

    def test_added_fields_are_signed(self):
        # Message-ID and Date the relay adds are covered: a message without
        # them still verifies, and they are in h=.
        t = tok()
        msg = (b"From: " + USER.encode() + b"\r\nTo: bob@example.org\r\n"
               b"Subject: bare\r\n\r\ntoken " + t.encode() + b"\r\n")
        _, data = self.deliver(msg)
        self.assertIn(b"\r\nMessage-ID: <", data)
        self.assertIn(b"\r\nDate: ", data)
        sigs = self.assertVerifies(data)
        self.assertEqual(sigs[0]["h"].split(":").count("message-id"), 2)


class UnsignedDomainTest(DKIMCase):
    """A key for a subdomain does not sign its parent's mail."""
    keys = [("mail.example.test", "s1", "ed25519")]

    def test_parent_domain_not_signed(self):
        t = tok()
        qid, data = self.deliver(message(t))
        self.assertEqual(signatures(data), [])
        self.assertLogged(r"\bqueue=%s action=accept\b" % qid, r"\bdkim=none\b")
        self.assertLogged(r"\bqueue=%s rcpt=" % qid, r"\bdkim=none\b",
                          r"\bresult=sent\b")


SENDERS = "alice@example.test  @sub.example.test\n"


class SubdomainTest(DKIMCase):
    """A key for example.test signs mail From: a subdomain of it."""
    keys = [("example.test", "ed2026", "ed25519")]
    env_args = dict(local_domains=["example.test", "sub.example.test"])
    files = {"senders": SENDERS}

    @classmethod
    def make_peers(cls, env):
        more = super().make_peers(env)
        more["senders"] = {"file": os.path.join(env.dir, "senders")}
        return more

    def test_subdomain_signed_with_parent_key(self):
        t = tok()
        sender = "news@sub.example.test"
        _, data = self.deliver(message(t, sender=sender), sender=sender)
        sigs = self.assertVerifies(data, n=1)
        self.assertEqual(sigs[0]["d"], "example.test")


class RestartTest(DKIMCase):
    """A message queued before a restart still says who signed it."""
    keys = [("example.test", "ed2026", "ed25519")]

    def test_signers_after_restart(self):
        self.hop.stop()
        t = tok()
        c = self.authed()
        qid = self.submit(c, message(t))
        c.cmd("QUIT")
        c.close()
        self.assertLogged(r"\bqueue=%s event=deferred\b" % qid)
        self.daemon.stop()
        self.hop.start()
        self.daemon.start()
        h.wait_until(lambda: self.hop.with_token(t), 15)
        data = self.hop.with_token(t)[0].data
        self.assertVerifies(data, n=1)
        self.assertLogged(r"\bqueue=%s rcpt=" % qid,
                          r"\bdkim=ed2026@example\.test\b", r"\bresult=sent\b")


# ====================================================================
# Configuration errors (submitd -n) and submitctl dkim-record
# ====================================================================

class KeyConfigTest(h.DaemonTestCase):
    start_daemon = False

    def check(self, key, domain="example.test", selector="s1"):
        conf = self.env.write_config(
            path=os.path.join(self.env.dir, "dkim-%s.conf" % tok()),
            dkim=[{"domain": domain, "selector": selector, "key": key}])
        p = subprocess.run([self.daemon.binary, "-n", "-f", conf],
                           capture_output=True, text=True, timeout=20)
        out = p.stdout + p.stderr
        for marker in h.SANITIZER_MARKERS:
            self.assertNotIn(marker, out)
        return p.returncode, out, conf

    def assertRefused(self, key, *patterns, **kw):
        rc, out, conf = self.check(key, **kw)
        self.assertNotEqual(rc, 0, out)
        self.assertIn(conf + ":", out)
        for p in patterns:
            self.assertRegex(out, p)
        return out

    def test_good_keys(self):
        for alg in ("ED25519", "RSA"):
            with self.subTest(alg=alg):
                rc, out, _ = self.check(make_key(self.env.dir, "good-" + alg,
                                                 alg))
                self.assertEqual(rc, 0, out)

    def test_world_readable_key(self):
        key = make_key(self.env.dir, "open", "ED25519", mode=0o644)
        self.assertRefused(key, r"dkim\.key: .*%s.*others may read"
                           % re.escape(key))

    def test_short_rsa_key(self):
        key = make_key(self.env.dir, "short", "RSA", bits=1024)
        self.assertRefused(key, r"dkim\.key: %s: an RSA key of 1024 bits"
                           % re.escape(key))

    def test_other_key_types(self):
        key = make_key(self.env.dir, "ec", "EC")
        self.assertRefused(key, r"neither an Ed25519 nor an RSA key")
        junk = os.path.join(self.env.dir, "junk.pem")
        with open(junk, "w") as f:
            f.write("not a key\n")
        os.chmod(junk, 0o600)
        self.assertRefused(junk, r"dkim\.key: .*not a PEM private key")

    def test_missing_key(self):
        missing = os.path.join(self.env.dir, "nope.pem")
        self.assertRefused(missing, r"dkim\.key: .*%s" % re.escape(missing))

    def test_bad_selector_and_domain(self):
        key = make_key(self.env.dir, "sel", "ED25519")
        self.assertRefused(key, r"dkim\.selector: .*not a selector",
                           selector="bad selector")
        self.assertRefused(key, r"dkim\.domain", domain="not a domain")

    def test_dkim_record(self):
        for alg, name in (("ED25519", "ed25519"), ("RSA", "rsa")):
            with self.subTest(alg=alg):
                key = make_key(self.env.dir, "rec-" + name, alg)
                p = subprocess.run([h.submitctl_binary(), "dkim-record", key],
                                   capture_output=True, text=True, timeout=20)
                self.assertEqual(p.returncode, 0, p.stderr)
                out = p.stdout.strip()
                self.assertEqual(len(p.stdout.strip().splitlines()), 1, out)
                strings = re.findall(r'"([^"]*)"', out)
                self.assertEqual(out, " ".join('"%s"' % s for s in strings))
                for s in strings:
                    self.assertLessEqual(len(s), 255)
                self.assertEqual("".join(strings), record(key, name))
        p = subprocess.run([h.submitctl_binary(), "dkim-record",
                            os.path.join(self.env.dir, "nope.pem")],
                           capture_output=True, text=True, timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("nope.pem", p.stderr)


# ====================================================================
# submitctl dns-check against dnsmasq
# ====================================================================

class DNSCheckTest(DKIMCase):
    """dns-check with the daemon's resolver pointed at dnsmasq.  The
    smarthost is 127.0.0.1, so that is the address SPF must allow."""
    keys = [("example.test", "ed2026", "ed25519"),
            ("example.test", "rsa2026", "rsa"),
            ("wrong.test", "s1", "ed25519"),
            ("good.test", "s1", "rsa")]

    @classmethod
    def make_peers(cls, env):
        more = super().make_peers(env)
        other = make_key(env.dir, "not-ours", "ED25519")
        txt = [
            # example.test: one key published, one not
            ("ed2026._domainkey.example.test",
             cls.records["ed2026._domainkey.example.test."].decode()),
            ("_dmarc.example.test",
             "v=DMARC1; p=reject; adkim=s; rua=mailto:dmarc@example.test"),
            ("example.test", "v=spf1 ip4:127.0.0.0/8 -all"),
            ("example.test", "google-site-verification=abc"),
            # wrong.test: another key, no DMARC, SPF without us
            ("s1._domainkey.wrong.test", record(other, "ed25519")),
            ("wrong.test", "v=spf1 ip4:192.0.2.1 mx -all"),
            # good.test: all there, SPF through an include
            ("s1._domainkey.good.test",
             cls.records["s1._domainkey.good.test."].decode()),
            ("_dmarc.good.test", "v=DMARC1; p=quarantine"),
            ("good.test", "v=spf1 include:_spf.provider.test -all"),
            ("_spf.provider.test", "v=spf1 ip4:10.0.0.0/8 a:out.provider.test ~all"),
            # two DMARC records
            ("_dmarc.twice.test", "v=DMARC1; p=none"),
            ("_dmarc.twice.test", "v=DMARC1; p=reject"),
        ]
        cls.dnsd = cls.dns(env, txt=txt, a=[("out.provider.test", "127.0.0.1"),
                                            ("mx.wrong.test", "192.0.2.9")],
                           mx=[("wrong.test", "mx.wrong.test", 10)])
        more["resolver"] = cls.dnsd.resolver
        return more

    def check(self, domain):
        p = h.submitctl(self.env, "dns-check", domain, timeout=30)
        lines = {}
        for line in p.stdout.splitlines():
            kind, name, verdict = line.split(" ", 3)[:3]
            lines.setdefault((kind, name), []).append((verdict, line))
        return p, lines

    def assertLine(self, lines, kind, name, verdict, *patterns):
        got = lines.get((kind, name))
        self.assertTrue(got, "no %s line for %s in %r" % (kind, name, lines))
        for v, line in got:
            self.assertEqual(v, verdict, line)
            for pat in patterns:
                self.assertRegex(line, pat)
        return got[0][1]

    def test_partly_published(self):
        p, lines = self.check("example.test")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("1 problem in the DNS of example.test", p.stderr)
        self.assertLine(lines, "dkim", "ed2026._domainkey.example.test", "OK")
        line = self.assertLine(lines, "dkim", "rsa2026._domainkey.example.test",
                               "MISSING")
        # The record to publish, in 255-octet strings, is ours.
        published = "".join(re.findall(r'"([^"]*)"', line))
        self.assertEqual(published,
                         self.records["rsa2026._domainkey.example.test."].decode())
        self.assertIn("publish: rsa2026._domainkey.example.test TXT ", line)
        self.assertLine(lines, "dmarc", "_dmarc.example.test", "OK",
                        r"\bp=reject\b", r"\badkim=s\b", r"\baspf=r\b",
                        r"rua=mailto:dmarc@example\.test")
        self.assertLine(lines, "spf", "example.test", "OK",
                        r"127\.0\.0\.1 pass \(ip4:127\.0\.0\.0/8 in example\.test\)")

    def test_wrong_everywhere(self):
        p, lines = self.check("wrong.test")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertLine(lines, "dkim", "s1._domainkey.wrong.test", "WRONG",
                        r"another key", r"publish: s1\._domainkey\.wrong\.test "
                        r'TXT "v=DKIM1; k=ed25519; p=')
        self.assertLine(lines, "dmarc", "_dmarc.wrong.test", "MISSING",
                        r'publish: _dmarc\.wrong\.test TXT "v=DMARC1; '
                        r'p=quarantine; rua=mailto:postmaster@wrong\.test"')
        self.assertLine(lines, "spf", "wrong.test", "WRONG",
                        r"127\.0\.0\.1: fail \(-all in wrong\.test\)",
                        r"add ip4:127\.0\.0\.1")

    def test_all_good_through_include(self):
        p, lines = self.check("good.test")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stderr, "")
        self.assertLine(lines, "dkim", "s1._domainkey.good.test", "OK")
        self.assertLine(lines, "dmarc", "_dmarc.good.test", "OK",
                        r"\bp=quarantine\b")
        self.assertLine(lines, "spf", "good.test", "OK",
                        r"pass \(include:_spf\.provider\.test in good\.test\)")

    def test_subdomain_and_nothing_published(self):
        # sub.example.test: example.test's keys sign it; DMARC comes from
        # the organisational domain; no SPF of its own.
        p, lines = self.check("sub.example.test")
        self.assertEqual(p.returncode, 1)
        self.assertLine(lines, "dkim", "ed2026._domainkey.example.test", "OK")
        self.assertLine(lines, "dmarc", "_dmarc.example.test", "OK",
                        r"\(from example\.test\)")
        self.assertLine(lines, "spf", "sub.example.test", "MISSING",
                        r'publish: sub\.example\.test TXT "v=spf1 '
                        r'ip4:127\.0\.0\.1 -all"')
        # No key at all for a domain.
        p, lines = self.check("nokey.test")
        self.assertLine(lines, "dkim", "nokey.test", "MISSING",
                        r"no dkim section")

    def test_two_dmarc_records_and_bad_arguments(self):
        _, lines = self.check("twice.test")
        self.assertLine(lines, "dmarc", "_dmarc.twice.test", "WRONG",
                        r"2 records")
        for bad in ("a..b", "a_b.test", ".", "x" * 254):
            with self.subTest(arg=bad):
                p = h.submitctl(self.env, "dns-check", bad)
                self.assertEqual(p.returncode, 1)
                self.assertIn("not a domain name", p.stderr)
        p = h.submitctl(self.env, "dns-check")
        self.assertEqual(p.returncode, 1)
        self.assertIn("needs an argument", p.stderr)

    def test_parallel_checks_and_the_loop_stays_free(self):
        # Checks run off the loop: SMTP answers while they run.
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            futs = [ex.submit(self.check, d) for d in
                    ("example.test", "wrong.test", "good.test", "twice.test")]
            c = self.authed()
            c.cmd("QUIT")
            c.close()
            results = [f.result() for f in futs]
        self.assertEqual([p.returncode for p, _ in results], [1, 1, 0, 1])


class DNSCheckManyDescriptorsTest(DKIMCase):
    """dns-check in a daemon holding more than FD_SETSIZE descriptors: the
    resolver's socket is above 1024 (select() would abort or overflow)."""
    keys = [("example.test", "ed2026", "ed25519")]

    @classmethod
    def make_peers(cls, env):
        import resource
        more = super().make_peers(env)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        cls.dnsd = cls.dns(env, txt=[("example.test", "v=spf1 ip4:127.0.0.1 -all")])
        more["resolver"] = cls.dnsd.resolver
        more["limits"] = {"connections": 5000, "connections_per_ip": 2000,
                          "connection_rate": 0}
        return more

    def test_check_with_1100_connections_open(self):
        import resource
        import socket
        if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 2400:
            self.skipTest("cannot raise the descriptor limit")
        socks = []
        try:
            for _ in range(1100):
                socks.append(socket.create_connection(("127.0.0.1", self.port), 5))
            # Every connection was accepted (its banner came).
            for so in socks[-5:]:
                so.settimeout(5)
                self.assertTrue(so.recv(100).startswith(b"220"))
            p = h.submitctl(self.env, "dns-check", "example.test", timeout=30)
            self.assertTrue(self.daemon.alive(), self.log_tail())
            self.assertIn("spf example.test OK", p.stdout, p.stderr)
        finally:
            for so in socks:
                so.close()


if __name__ == "__main__":
    sys.exit(h.main(__name__, ()))
