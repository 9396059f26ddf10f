#!/usr/bin/env python3
"""Outbound transport security against real peers on loopback: MTA-STS
(RFC 8461) with policies served by a real HTTPS server, DANE (RFC 7672)
with TLSA records from a root zone signed on the fly (ldns-signzone, nsd)
and validated by unbound, TLS-RPT (RFC 8460) reports by mail and HTTPS,
the clear-text window after a failed handshake, and implicit-TLS next
hops (RFC 8314).  Every MX host is an aiosmtpd server on port 25 of its
own 127.x.y.z; the policy and report servers listen on 443 of theirs.

What the tests check is what an attacker would try: a domain that asks for
TLS never gets clear text, never an MX host its policy does not name, never
a certificate that does not match; a forged DNS answer defers the mail.

Run by `make check`; by hand, it falls back to build-dev/submitd.
Exit 0: all passed; 1: a failure; 77: aiosmtpd, nsd, unbound or ldnsutils
is missing.  KEEP_TMP=1 keeps the temporary directories.
"""

import base64
import email
import email.policy
import gzip
import json
import os
import re
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness as h  # noqa: E402

h.require_modules("aiosmtpd")

import dnssec  # noqa: E402
import peers  # noqa: E402
from test_delivery import (DeliveryTestCase, SLOW_QUEUE, message,  # noqa: E402
                           tok)

if not dnssec.available():
    print("SKIP: nsd, unbound or ldnsutils is missing (Debian: apt-get install "
          "nsd unbound ldnsutils)")
    sys.exit(77)

USER = h.USER
STS_PATH = "/.well-known/mta-sts.txt"
TEXT = [("Content-Type", "text/plain")]


def policy(mode, *mx, max_age=86400):
    return ("version: STSv1\r\nmode: %s\r\n%smax_age: %d\r\n"
            % (mode, "".join("mx: %s\r\n" % m for m in mx), max_age))


class World:
    """The peers, names and records of one test class: a CA, MX hosts with
    certificates it signs (or self-signed ones, or none), an HTTPS server
    for policies and reports, and the zone (records) for SignedDNS."""

    def __init__(self, case, env, https_names=()):
        self.case = case
        self.env = env
        self.ca = peers.make_ca(env.dir)
        self.records = []
        self.mxs = {}
        names = list(https_names)
        self.https_cert = peers.make_signed(env.dir, self.ca, "https",
                                            dns=names or ["mta-sts.none.test"])
        self.https = peers.HTTPS(self.https_cert)
        self.pages = self.https.pages
        case.addClassCleanup(self.https.stop)

    def mx(self, name, cert="ca", chain=False, **kw):
        """An MX host called name: a Peer on port 25 of its own address
        with a certificate for name signed by the CA ("ca"), a self-signed
        one ("self"), none (None) or the given (cert, key) / SSLContext;
        chain=True sends the CA certificate after the host's."""
        tls = cert
        if cert == "ca":
            tls = peers.make_signed(self.env.dir, self.ca, name, dns=[name])
        elif cert == "self":
            tls = h.make_cert(self.env.dir, cn=name, name=name + "-self")
        if chain and isinstance(tls, tuple):
            path = os.path.join(self.env.dir, name + "-chain.pem")
            with open(path, "w") as out:
                for p in (tls[0], self.ca[0]):
                    with open(p) as f:
                        out.write(f.read())
            tls = (path, tls[1])
        p = self.case.peer(host=peers.loopback_address(), port=25, tls=tls,
                           name=name, **kw).start()
        p.cert = tls if isinstance(tls, tuple) else None
        self.records.append("%s. A %s" % (name, p.host))
        self.mxs[name] = p
        return p

    def domain(self, domain, *mx):
        """MX records for domain: (preference, host) pairs."""
        for pref, host in mx:
            self.records.append("%s. MX %d %s." % (domain, pref, host))

    def sts(self, domain, sts_id, text, server=None, status=200, headers=TEXT):
        """An _mta-sts TXT record and the policy served for domain."""
        self.records.append('_mta-sts.%s. TXT "v=STSv1; id=%s;"'
                            % (domain, sts_id))
        server = server or self.https
        self.records.append("mta-sts.%s. A %s" % (domain, server.host))
        server.pages[("mta-sts." + domain, STS_PATH)] = (status, text, headers)

    def tlsa(self, host, rdata, port=25):
        self.records.append("_%d._tcp.%s. TLSA %s" % (port, host, rdata))

    def dns(self, insecure=(), tamper=()):
        d = dnssec.SignedDNS(self.env.dir, self.records, insecure, tamper)
        self.case.addClassCleanup(d.stop)
        return d.start()


class OutboundTLSTestCase(DeliveryTestCase):
    """Delivery to MX hosts (no smarthost), mail for example.test (the
    DSNs) and reports.test (TLS reports) going by routes to a home peer."""

    @classmethod
    def relay(cls, world, **more):
        conf = {"smarthost": None, "ca_file": world.ca[0]}
        conf.update(more)
        return conf

    @classmethod
    def base_conf(cls, world, dns, **relay):
        cls.home = cls.peer().start()
        world.https.start()
        return {"resolver": dns.resolver,
                "relay": cls.relay(world, **relay),
                'route "example.test"': {"host": cls.home.address},
                'route "reports.test"': {"host": cls.home.address},
                "queue": SLOW_QUEUE}

    def rcpt_line(self, qid, rcpt, *patterns, timeout=10):
        return self.assertLogged(r"\bqueue=%s rcpt=<%s> " % (qid, re.escape(rcpt)),
                                 *patterns, timeout=timeout)

    def delivered(self, domain, peer, policy, verified="yes"):
        """A message to bob@domain arrives at peer over TLS; the log line
        names the policy and whether the peer was verified."""
        t = tok()
        rcpt = "bob@" + domain
        qid = self.send(message(t, rcpt), [rcpt])
        a = self.arrival(peer, t)
        self.assertIn(a.tls, ("TLSv1.2", "TLSv1.3"))
        self.rcpt_line(qid, rcpt, r"\bresult=sent\b",
                       r"\bpolicy=%s\b" % re.escape(policy),
                       r"\bverified=%s\b" % verified)
        self.wait_gone(qid)
        return qid, a

    def refused(self, domain, peers_, *why):
        """A message to bob@domain is deferred (never bounced) with a 4.7.5
        reply matching why; no peer of peers_ saw a MAIL for it, so it was
        not handed to them in clear either.  Returns the queue id (still
        queued)."""
        t = tok()
        rcpt = "bob@" + domain
        before = [len(p.commands) for p in peers_]
        qid = self.send(message(t, rcpt), [rcpt])
        self.wait_deferred(qid)
        self.rcpt_line(qid, rcpt, r"\bresult=deferred\b", r'reply="4\.7\.5 ',
                       *why)
        for p, n in zip(peers_, before):
            self.assertEqual(p.with_token(t), [], "arrived at %s" % p.address)
            self.assertFalse([c for c in p.commands[n:] if c[2] == rcpt],
                             "%s saw the recipient" % p.address)
        self.assertEqual(self.dsns(self.home, qid, timeout=0.2), [])
        return qid

    def show(self, qid):
        return self.ctl("show", qid).stdout


# ====================================================================
# MTA-STS
# ====================================================================

class MTASTSTest(OutboundTLSTestCase):
    """relay.mta_sts = optional (the default): a domain's policy is
    fetched when its _mta-sts record exists, cached in spool/sts/, and in
    mode enforce decides which MX hosts get the mail and that they need a
    certificate valid for their name."""

    DOMAINS = ["enforce.test", "badcert.test", "notls.test", "testing.test",
               "tbroken.test", "redirect.test", "huge.test", "invalid.test",
               "vanish.test", "refresh.test", "wildcard.test", "mtype.test"]

    @classmethod
    def make_peers(cls, env):
        w = cls.world = World(cls, env, ["mta-sts." + d for d in cls.DOMAINS])
        # A second policy server whose certificate nobody trusts.
        cls.rogue_https = peers.HTTPS(h.make_cert(env.dir, cn="mta-sts.webpki.test",
                                                  name="rogue-https"))
        cls.addClassCleanup(cls.rogue_https.stop)
        cls.rogue_https.start()

        cls.good = w.mx("mx.enforce.test")
        cls.rogue = w.mx("rogue.enforce.test")      # valid, not in the policy
        w.domain("enforce.test", (5, "rogue.enforce.test"), (10, "mx.enforce.test"))
        w.sts("enforce.test", "e1", policy("enforce", "mx.enforce.test"))

        cls.badcert = w.mx("mx.badcert.test", cert="self")
        w.domain("badcert.test", (10, "mx.badcert.test"))
        w.sts("badcert.test", "b1", policy("enforce", "*.badcert.test"))

        cls.notls = w.mx("mx.notls.test", cert=None)
        w.domain("notls.test", (10, "mx.notls.test"))
        w.sts("notls.test", "n1", policy("enforce", "mx.notls.test"))

        cls.testing = w.mx("mx.testing.test", cert="self")
        w.domain("testing.test", (10, "mx.testing.test"))
        w.sts("testing.test", "t1", policy("testing", "mx.testing.test"))

        # TLS 1.1 at most: the handshake fails.
        old = peers.make_signed(env.dir, w.ca, "mx.tbroken.test",
                                dns=["mx.tbroken.test"])
        cls.tbroken = w.mx("mx.tbroken.test", cert=peers.server_context(
            *old, maximum=peers.ssl.TLSVersion.TLSv1_1))
        w.domain("tbroken.test", (10, "mx.tbroken.test"))
        w.sts("tbroken.test", "tb1", policy("testing", "mx.tbroken.test"))

        cls.plainmx = w.mx("mx.plain.test", cert="self")   # no policy at all
        w.domain("plain.test", (10, "mx.plain.test"))

        cls.redirect = w.mx("mx.redirect.test", cert=None)
        w.domain("redirect.test", (10, "mx.redirect.test"))
        w.sts("redirect.test", "r1", "", status=301, headers=[
            ("Location", "https://mta-sts.enforce.test/elsewhere")])
        w.pages[("mta-sts.enforce.test", "/elsewhere")] = (
            200, policy("enforce", "nowhere.test"), TEXT)

        cls.huge = w.mx("mx.huge.test", cert=None)
        w.domain("huge.test", (10, "mx.huge.test"))
        w.sts("huge.test", "h1", policy("enforce", "nowhere.test")
              + "x" * 70000 + "\r\n")

        cls.invalid = w.mx("mx.invalid.test", cert=None)
        w.domain("invalid.test", (10, "mx.invalid.test"))
        w.sts("invalid.test", "i1", "version: STSv2\r\nmode: enforce\r\n"
              "mx: nowhere.test\r\nmax_age: 86400\r\n")

        cls.mtype = w.mx("mx.mtype.test", cert=None)
        w.domain("mtype.test", (10, "mx.mtype.test"))
        w.sts("mtype.test", "m1", policy("enforce", "nowhere.test"),
              headers=[("Content-Type", "text/html")])

        # A policy host that takes the connection and never says a word.
        cls.hang_sock = peers.socket.socket()
        cls.hang_sock.bind((peers.loopback_address(443), 443))
        cls.hang_sock.listen(16)
        cls.addClassCleanup(cls.hang_sock.close)
        cls.hang = w.mx("mx.hang.test", cert=None)
        w.domain("hang.test", (10, "mx.hang.test"))
        w.records.append('_mta-sts.hang.test. TXT "v=STSv1; id=hang1;"')
        w.records.append("mta-sts.hang.test. A %s"
                         % cls.hang_sock.getsockname()[0])

        cls.webpki = w.mx("mx.webpki.test", cert=None)
        w.domain("webpki.test", (10, "mx.webpki.test"))
        w.sts("webpki.test", "w1", policy("enforce", "nowhere.test"),
              server=cls.rogue_https)

        cls.wild = w.mx("a.mx.wildcard.test")
        cls.wild_deep = w.mx("b.a.mx.wildcard.test")   # * is one label only
        w.domain("wildcard.test", (5, "b.a.mx.wildcard.test"),
                 (10, "a.mx.wildcard.test"))
        w.sts("wildcard.test", "wc1", policy("enforce", "*.mx.wildcard.test"))

        cls.vanish = w.mx("mx.vanish.test")
        cls.vanish_strip = w.mx("strip.vanish.test", cert=None)
        w.domain("vanish.test", (10, "mx.vanish.test"))
        w.sts("vanish.test", "v1", policy("enforce", "mx.vanish.test"))

        cls.refresh = w.mx("mx.refresh.test", cert="self")
        w.domain("refresh.test", (10, "mx.refresh.test"))
        w.sts("refresh.test", "r1", policy("testing", "mx.refresh.test"))

        cls.dnsd = w.dns()
        return cls.base_conf(w, cls.dnsd)

    def test_enforce_uses_only_the_policy_mx_with_a_valid_certificate(self):
        qid, a = self.delivered("enforce.test", self.good, "mta-sts-enforce")
        self.assertEqual(self.rogue.commands, [],
                         "the MX host the policy does not name got a session")
        self.assertLogged(r"\bdelivery=\S+ domain=enforce\.test "
                          r"mx=rogue\.enforce\.test policy=mta-sts-enforce id=e1 "
                          r"result=skipped\b")
        self.assertLogged(r"\bevent=mta-sts domain=enforce\.test policy=fetched "
                          r"id=e1 mode=enforce max_age=86400 mx=1\b")
        # The policy is cached on disk with its id and max_age.
        path = os.path.join(self.env.spool, "sts", "enforce.test")
        self.assertTrue(h.wait_until(lambda: os.path.exists(path), 5))
        with open(path) as f:
            cached = f.read()
        self.assertIn("id: e1\n", cached)
        self.assertIn("mode: enforce", cached)
        # A second message: the TXT id is unchanged, no second fetch.
        fetches = len(self.world.https.fetches("mta-sts.enforce.test"))
        self.delivered("enforce.test", self.good, "mta-sts-enforce")
        self.assertEqual(len(self.world.https.fetches("mta-sts.enforce.test")),
                         fetches)
        self.assertEqual(self.rogue.commands, [])

    def test_fetch_is_https_with_sni_and_no_redirects(self):
        self.delivered("enforce.test", self.good, "mta-sts-enforce")
        r = self.world.https.fetches("mta-sts.enforce.test")[0]
        self.assertEqual(r.headers.get("host"), "mta-sts.enforce.test")
        qid = self.send(message(tok(), "bob@redirect.test"), ["bob@redirect.test"])
        self.assertLogged(r"\bevent=mta-sts domain=redirect\.test error=",
                          r"301")
        self.rcpt_line(qid, "bob@redirect.test", r"\bresult=sent\b",
                       r"\bpolicy=none\b")
        self.assertEqual(self.world.https.fetches("mta-sts.enforce.test",
                                                  "/elsewhere"), [],
                         "the redirect was followed")

    def test_certificate_not_valid_defers_never_clear_text(self):
        qid = self.refused("badcert.test", [self.badcert],
                           r"mta-sts-enforce", r"(?i)certificate")
        self.assertRegex(self.show(qid), r"<bob@badcert\.test> pending.*\n"
                         r"\s+policy mta-sts-enforce  verified no\n")
        self.delete(qid)

    def test_starttls_stripped_defers(self):
        qid = self.refused("notls.test", [self.notls],
                           r"TLS required \(mta-sts-enforce\) but not offered")
        self.delete(qid)

    def test_testing_delivers_and_logs_the_failure(self):
        qid, a = self.delivered("testing.test", self.testing, "mta-sts-testing",
                                verified="no")
        self.assertLogged(r"\bevent=tls\b", r"\bverified=no\b",
                          r"\bpolicy=mta-sts-testing\b",
                          r"relay=mx\.testing\.test\[")

    def test_failed_handshake_of_a_policy_domain_never_goes_clear(self):
        # mode testing, and TLS fails: the clear-text window of "may" is
        # not for a domain with a policy.
        qid = self.refused("tbroken.test", [self.tbroken],
                           r"TLS handshake with mx\.tbroken\.test")
        self.ctl("flush")
        self.wait_deferred(qid, attempts=2, timeout=15)
        self.assertEqual(self.tbroken.with_token(qid), [])
        self.assertFalse([c for c in self.tbroken.commands
                          if c[2] == "bob@tbroken.test"])
        self.assertFalse(self.log_lines(r"\bqueue=%s\b" % qid,
                                        r"clear-text-fallback"))
        self.delete(qid)

    def test_no_policy_is_opportunistic(self):
        self.delivered("plain.test", self.plainmx, "none", verified="no")
        self.assertEqual(self.world.https.fetches("mta-sts.plain.test"), [])

    def test_bad_policies_are_not_used(self):
        for domain, peer, why in [
                ("huge.test", self.huge, r"(?i)maximum file size|too large|exceed"),
                ("invalid.test", self.invalid, r"invalid"),
                ("mtype.test", self.mtype, r"text/plain"),
                ("webpki.test", self.webpki, r"(?i)certificate")]:
            with self.subTest(domain=domain):
                t = tok()
                rcpt = "bob@" + domain
                qid = self.send(message(t, rcpt), [rcpt])
                self.assertLogged(r"\bevent=mta-sts domain=%s error="
                                  % re.escape(domain), why)
                self.arrival(peer, t)
                self.rcpt_line(qid, rcpt, r"\bresult=sent\b", r"\bpolicy=none\b")
                self.assertFalse(os.path.exists(
                    os.path.join(self.env.spool, "sts", domain)))

    def test_policy_host_that_hangs(self):
        # The fetch is bounded in time (30 s), and other deliveries go on
        # meanwhile: it never blocks the event loop.
        t = tok()
        qid = self.send(message(t, "bob@hang.test"), ["bob@hang.test"])
        self.assertTrue(h.wait_until(lambda: self.log_lines(
            r"\bqueue=%s\b" % qid), 5))
        started = time.monotonic()
        self.delivered("plain.test", self.plainmx, "none", verified="no")
        self.assertEqual(self.hang.with_token(t), [])
        self.assertLess(time.monotonic() - started, 20)
        self.arrival(self.hang, t, timeout=45)
        self.assertLogged(r"\bevent=mta-sts domain=hang\.test error=",
                          r"(?i)timeout|timed out")
        self.rcpt_line(qid, "bob@hang.test", r"\bresult=sent\b",
                       r"\bpolicy=none\b")

    def test_wildcard_is_one_label(self):
        self.delivered("wildcard.test", self.wild, "mta-sts-enforce")
        self.assertEqual(self.wild_deep.commands, [])
        self.assertLogged(r"\bmx=b\.a\.mx\.wildcard\.test policy=mta-sts-enforce "
                          r"id=wc1 result=skipped\b")

    def test_cached_policy_survives_the_txt_record_going(self):
        self.delivered("vanish.test", self.vanish, "mta-sts-enforce")
        # The attacker removes the _mta-sts record and points the MX at a
        # host without TLS.
        w = self.world
        recs = [r for r in w.records if not r.startswith("_mta-sts.vanish.test.")
                and not r.startswith("mx.vanish.test. A")]
        recs.append("mx.vanish.test. A %s" % self.vanish_strip.host)
        try:
            self.dnsd.update(recs)
            qid = self.refused("vanish.test", [self.vanish, self.vanish_strip],
                               r"mta-sts-enforce", r"not offered")
            self.delete(qid)
            # Restarted, the daemon reads the policy back from the spool.
            self.daemon.stop()
            self.daemon.start()
            self.assertLogged(r"\bevent=mta-sts cached=[1-9]")
            qid = self.refused("vanish.test", [self.vanish, self.vanish_strip],
                               r"mta-sts-enforce", r"not offered")
            self.delete(qid)
        finally:
            self.dnsd.update(w.records)

    def test_new_txt_id_refetches(self):
        w = self.world
        self.delivered("refresh.test", self.refresh, "mta-sts-testing",
                       verified="no")
        self.assertEqual(len(w.https.fetches("mta-sts.refresh.test")), 1)
        recs = [r for r in w.records if not r.startswith("_mta-sts.refresh.test.")]
        recs.append('_mta-sts.refresh.test. TXT "v=STSv1; id=r2;"')
        old = w.pages[("mta-sts.refresh.test", STS_PATH)]
        w.pages[("mta-sts.refresh.test", STS_PATH)] = (
            200, policy("enforce", "mx.refresh.test"), TEXT)
        try:
            self.dnsd.update(recs)
            qid = self.refused("refresh.test", [self.refresh], r"mta-sts-enforce",
                               r"(?i)certificate")
            self.assertEqual(len(w.https.fetches("mta-sts.refresh.test")), 2)
            self.assertLogged(r"\bevent=mta-sts domain=refresh\.test "
                              r"policy=fetched id=r2 mode=enforce\b")
            self.delete(qid)
        finally:
            w.pages[("mta-sts.refresh.test", STS_PATH)] = old
            self.dnsd.update(w.records)


class MTASTSRequireTest(OutboundTLSTestCase):
    """relay.mta_sts = require: a domain without a policy waits."""

    @classmethod
    def make_peers(cls, env):
        w = cls.world = World(cls, env, ["mta-sts.enforce.test"])
        cls.good = w.mx("mx.enforce.test")
        w.domain("enforce.test", (10, "mx.enforce.test"))
        w.sts("enforce.test", "e1", policy("enforce", "mx.enforce.test"))
        cls.plainmx = w.mx("mx.plain.test")
        w.domain("plain.test", (10, "mx.plain.test"))
        dnsd = w.dns()
        return cls.base_conf(w, dnsd, mta_sts="require")

    def test_domain_without_policy_defers(self):
        qid = self.refused("plain.test", [self.plainmx],
                           r"no MTA-STS policy for plain\.test",
                           r"relay\.mta_sts = require")
        self.delete(qid)

    def test_domain_with_policy_delivers(self):
        self.delivered("enforce.test", self.good, "mta-sts-enforce")

    def test_tls_required_no_relaxes_the_policy(self):
        """RFC 8689 §5: "TLS-Required: No" asks that the receiver's TLS
        policies not hold the message up; it travels on unchanged."""
        t = tok()
        rcpt = "bob@plain.test"
        qid = self.send(message(t, rcpt, extra_headers=b"TLS-Required: No\r\n"),
                        [rcpt])
        a = self.arrival(self.plainmx, t)
        self.assertIn(b"\r\nTLS-Required: No\r\n", a.data)
        self.rcpt_line(qid, rcpt, r"\bresult=sent\b",
                       r"\bpolicy=tls-required-no\b")
        self.wait_gone(qid)


# ====================================================================
# DANE
# ====================================================================

class DANETest(OutboundTLSTestCase):
    """TLSA records validated by unbound (AD bit) make TLS mandatory and
    the certificate must match them; unsigned or forged answers do not."""

    @classmethod
    def make_peers(cls, env):
        w = cls.world = World(cls, env, ["mta-sts.danests.test"])
        other = h.make_key(env.dir, "unrelated-key")
        other_cert = h.make_cert(env.dir, cn="unrelated", name="unrelated")

        cls.ee = w.mx("mx.dane.test", cert="self")
        w.domain("dane.test", (10, "mx.dane.test"))
        w.tlsa("mx.dane.test", dnssec.tlsa(cls.ee.cert[0], 3, 1, 1))
        cls.other_key = other

        cls.mismatch = w.mx("mx.danebad.test", cert="self")
        w.domain("danebad.test", (10, "mx.danebad.test"))
        w.tlsa("mx.danebad.test", dnssec.tlsa(other_cert[0], 3, 1, 1))

        cls.strip = w.mx("mx.danestrip.test", cert=None)
        w.domain("danestrip.test", (10, "mx.danestrip.test"))
        w.tlsa("mx.danestrip.test", dnssec.tlsa(cls.ee.cert[0], 3, 1, 1))

        cls.ta = w.mx("mx.daneta.test", cert="ca", chain=True)
        w.domain("daneta.test", (10, "mx.daneta.test"))
        w.tlsa("mx.daneta.test", dnssec.tlsa(w.ca[0], 2, 0, 1))

        # DANE-TA, but the certificate names another host.
        cls.ta_wrong = w.mx("mx.danetaname.test",
                            cert=peers.make_signed(env.dir, w.ca, "tawrong",
                                                   dns=["elsewhere.test"]),
                            chain=True)
        w.domain("danetaname.test", (10, "mx.danetaname.test"))
        w.tlsa("mx.danetaname.test", dnssec.tlsa(w.ca[0], 2, 0, 1))

        # DANE and MTA-STS for one host: DANE decides (RFC 8461 §2).  The
        # certificate is self-signed, so MTA-STS alone would refuse it.
        cls.both = w.mx("mx.danests.test", cert="self")
        w.domain("danests.test", (10, "mx.danests.test"))
        w.tlsa("mx.danests.test", dnssec.tlsa(cls.both.cert[0], 3, 1, 1))
        w.sts("danests.test", "d1", policy("enforce", "mx.danests.test"))

        # Only PKIX usages: unusable for SMTP (RFC 7672 §3.1.3), TLS still.
        cls.unusable = w.mx("mx.daneunusable.test", cert="self")
        cls.unusable_strip = w.mx("mx2.daneunusable.test", cert=None)
        w.domain("daneunusable.test", (10, "mx.daneunusable.test"))
        w.tlsa("mx.daneunusable.test", dnssec.tlsa(cls.unusable.cert[0], 1, 1, 1))
        w.domain("daneunusable2.test", (10, "mx2.daneunusable.test"))
        w.tlsa("mx2.daneunusable.test",
               dnssec.tlsa(cls.unusable.cert[0], 0, 0, 1))

        # Not signed (for unbound): TLSA records there mean nothing.
        cls.insecure = w.mx("mx.insecure.test", cert=None)
        w.domain("insecure.test", (10, "mx.insecure.test"))
        w.tlsa("mx.insecure.test", dnssec.tlsa(other_cert[0], 3, 1, 1))

        # A forged TLSA answer (its signature does not verify).
        cls.forged = w.mx("mx.forged.test", cert="self")
        w.domain("forged.test", (10, "mx.forged.test"))
        w.tlsa("mx.forged.test", dnssec.tlsa(cls.forged.cert[0], 3, 1, 1))

        # The MX is signed, its host's addresses come from an unsigned zone.
        cls.unsigned_host = w.mx("mx.unsignedhost.test", cert=None)
        w.domain("signedmx.test", (10, "mx.unsignedhost.test"))
        w.tlsa("mx.unsignedhost.test", dnssec.tlsa(other_cert[0], 3, 1, 1))

        cls.dnsd = w.dns(insecure=["insecure.test", "unsignedhost.test"],
                         tamper=[("_25._tcp.mx.forged.test", "TLSA")])
        return cls.base_conf(w, cls.dnsd)

    def test_resolver_is_seen_validating(self):
        self.assertLogged(r"\bevent=dane resolver=validating\b")

    def test_dane_ee_match_delivers(self):
        qid, a = self.delivered("dane.test", self.ee, "dane")
        self.assertTrue(self.dnsd.queried("_25._tcp.mx.dane.test", "TLSA"))
        self.assertLogged(r"\bevent=tls\b", r"relay=mx\.dane\.test\[",
                          r"\bpolicy=dane\b", r"\bverified=yes\b", r"\bdane=")

    def test_dane_ee_mismatch_defers(self):
        qid = self.refused("danebad.test", [self.mismatch], r"\(dane")
        self.delete(qid)

    def test_show_says_policy_and_verification(self):
        t = tok()
        rcpts = ["bob@dane.test", "bob@danebad.test"]
        qid = self.send(message(t, rcpts[0]), rcpts)
        self.arrival(self.ee, t)
        self.wait_deferred(qid)
        show = self.show(qid)
        self.assertRegex(show, r"<bob@dane\.test> delivered.*\n"
                         r"\s+policy dane  verified yes\n")
        self.assertRegex(show, r"<bob@danebad\.test> pending.*\n"
                         r"\s+policy dane  verified no\n")
        self.delete(qid)

    def test_stripped_starttls_defers(self):
        qid = self.refused("danestrip.test", [self.strip],
                           r"TLS required \(dane\) but not offered")
        self.delete(qid)

    def test_dane_ta_with_the_mx_name_delivers(self):
        self.delivered("daneta.test", self.ta, "dane")

    def test_dane_ta_checks_the_name(self):
        qid = self.refused("danetaname.test", [self.ta_wrong], r"\(dane")
        self.delete(qid)

    def test_dane_wins_over_mta_sts(self):
        self.delivered("danests.test", self.both, "dane")
        self.assertTrue(self.world.https.fetches("mta-sts.danests.test"))

    def test_unusable_tlsa_still_needs_tls(self):
        self.delivered("daneunusable.test", self.unusable, "dane-unusable",
                       verified="no")
        qid = self.refused("daneunusable2.test", [self.unusable_strip],
                           r"TLS required \(dane-unusable\) but not offered")
        self.delete(qid)

    def test_unsigned_zone_tlsa_ignored(self):
        t = tok()
        qid = self.send(message(t, "bob@insecure.test"), ["bob@insecure.test"])
        a = self.arrival(self.insecure, t)
        self.assertIsNone(a.tls)
        self.rcpt_line(qid, "bob@insecure.test", r"\bresult=sent\b",
                       r"\bpolicy=none\b")

    def test_unsigned_host_addresses_tlsa_not_looked_up(self):
        t = tok()
        qid = self.send(message(t, "bob@signedmx.test"), ["bob@signedmx.test"])
        self.arrival(self.unsigned_host, t)
        self.rcpt_line(qid, "bob@signedmx.test", r"\bresult=sent\b",
                       r"\bpolicy=none\b")
        self.assertTrue(self.dnsd.queried("signedmx.test", "MX"))
        self.assertFalse(self.dnsd.queried("_25._tcp.mx.unsignedhost.test",
                                           "TLSA"))

    def test_forged_tlsa_defers(self):
        qid = self.refused("forged.test", [self.forged],
                           r"mx\.forged\.test")
        self.delete(qid)


class DANERequireTest(OutboundTLSTestCase):
    """relay.dane = require: only domains whose MX records are validated,
    and only hosts with usable TLSA records."""

    @classmethod
    def make_peers(cls, env):
        w = cls.world = World(cls, env)
        cls.ee = w.mx("mx.dane.test", cert="self")
        w.domain("dane.test", (10, "mx.dane.test"))
        w.tlsa("mx.dane.test", dnssec.tlsa(cls.ee.cert[0], 3, 1, 1))
        cls.notlsa = w.mx("mx.notlsa.test", cert="self")
        w.domain("notlsa.test", (10, "mx.notlsa.test"))
        cls.insecure = w.mx("mx.insecure.test", cert="self")
        w.domain("insecure.test", (10, "mx.insecure.test"))
        dnsd = w.dns(insecure=["insecure.test"])
        return cls.base_conf(w, dnsd, dane="require", mta_sts="disable")

    def test_dane_domain_delivers(self):
        self.delivered("dane.test", self.ee, "dane")

    def test_unsigned_domain_defers(self):
        qid = self.refused("insecure.test", [self.insecure],
                           r"not DNSSEC-validated", r"relay\.dane = require")
        self.delete(qid)

    def test_host_without_tlsa_defers(self):
        qid = self.refused("notlsa.test", [self.notlsa],
                           r"DANE required but mx\.notlsa\.test has no TLSA")
        self.delete(qid)


class DANEResolverTest(h.DaemonTestCase):
    """A resolver that does not validate (it answers, but never sets the AD
    bit; or does not answer at all) cannot give DANE: relay.dane = require
    is refused by -n and at start, optional runs without DANE and says so
    once."""

    start_daemon = False

    @classmethod
    def configure(cls, env):
        cls.plain = dnssec.SignedDNS(env.dir, ["mx.dane.test. A 127.0.0.1"],
                                     validate=False)
        cls.addClassCleanup(cls.plain.stop)
        cls.plain.start()
        d = peers.DNS(env.dir)      # dnsmasq: no answer for the root
        cls.addClassCleanup(d.stop)
        cls.dnsmasq = d.start()
        return {"resolver": cls.plain.resolver, "relay": {"smarthost": None}}

    def check(self, resolver, why):
        path = self.env.write_config(
            path=os.path.join(self.env.dir, "require.conf"), resolver=resolver,
            relay={"smarthost": None, "dane": "require"})
        p = subprocess.run([h.daemon_binary(), "-n", "-f", path],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertRegex(p.stderr, r"require\.conf: relay\.dane: DANE is "
                         r"required .*" + why + r".*validating resolver")

    def test_require_needs_a_validating_resolver(self):
        self.check(self.plain.resolver, r"does not set the AD bit")
        self.check(self.dnsmasq.resolver, r"did not answer")

    def test_optional_without_validating_resolver_logs_dane_off(self):
        self.daemon.start()
        try:
            self.assertTrue(h.wait_until(lambda: "event=start key=relay.dane"
                                         in self.daemon.full_log(), 10))
            log = self.daemon.full_log()
            self.assertRegex(log, r"event=start key=relay\.dane error=\S.*"
                             r"AD bit.*action=\"DANE off")
            self.assertEqual(log.count("key=relay.dane"), 1)
            self.assertNotIn("resolver=validating", log)
        finally:
            self.daemon.stop()


# ====================================================================
# TLS-RPT
# ====================================================================

class TLSRPTTest(OutboundTLSTestCase):
    """relay.tls_rpt = true: sessions are counted per domain and policy;
    `submitctl tls-report` (or the end of the day) sends the report to the
    domain's rua: by mail through our queue, or POSTed over HTTPS."""

    @classmethod
    def make_peers(cls, env):
        w = cls.world = World(cls, env, ["mta-sts.rptgood.test",
                                         "mta-sts.rptbad.test", "rpt.reports.test"])
        cls.good = w.mx("mx.rptgood.test")
        w.domain("rptgood.test", (10, "mx.rptgood.test"))
        w.sts("rptgood.test", "g1", policy("enforce", "mx.rptgood.test"))
        w.records.append('_smtp._tls.rptgood.test. TXT "v=TLSRPTv1; '
                         'rua=https://rpt.reports.test/v1/tlsrpt"')
        w.records.append("rpt.reports.test. A %s" % w.https.host)
        cls.bad = w.mx("mx.rptbad.test", cert="self")
        w.domain("rptbad.test", (10, "mx.rptbad.test"))
        w.sts("rptbad.test", "t1", policy("testing", "mx.rptbad.test"))
        w.records.append('_smtp._tls.rptbad.test. TXT "v=TLSRPTv1; '
                         'rua=mailto:tlsrpt@reports.test"')
        cls.dane = w.mx("mx.rptdane.test", cert="self")
        w.domain("rptdane.test", (10, "mx.rptdane.test"))
        w.tlsa("mx.rptdane.test", dnssec.tlsa(h.make_cert(
            env.dir, cn="x", name="rpt-other")[0], 3, 1, 1))
        w.records.append('_smtp._tls.rptdane.test. TXT "v=TLSRPTv1; '
                         'rua=mailto:tlsrpt@reports.test"')
        w.records.append('_smtp._tls.rptold.test. TXT "v=TLSRPTv1; '
                         'rua=mailto:tlsrpt@reports.test"')
        dnsd = w.dns()
        return cls.base_conf(w, dnsd, tls_rpt=True,
                             tls_rpt_from="tls-reports@example.test")

    def report_mail(self, domain, timeout=15):
        def found():
            return [a for a in list(self.home.arrivals)
                    if a.rcpts == ["tlsrpt@reports.test"] and
                    ("TLS-Report-Domain: %s" % domain).encode() in a.data]
        got = h.wait_until(found, timeout)
        if not got:
            self.fail("no TLS report for %s%s" % (domain, self.log_tail()))
        return got[-1]

    @staticmethod
    def mail_json(arrival):
        msg = email.message_from_bytes(arrival.data, policy=email.policy.compat32)
        for part in msg.walk():
            if part.get_content_type() == "application/tlsrpt+gzip":
                return msg, json.loads(gzip.decompress(part.get_payload(decode=True)))
        raise AssertionError("no application/tlsrpt+gzip part")

    def test_reports_by_mail_and_https_survive_a_restart(self):
        self.delivered("rptgood.test", self.good, "mta-sts-enforce")
        self.delivered("rptgood.test", self.good, "mta-sts-enforce")
        self.delivered("rptbad.test", self.bad, "mta-sts-testing", verified="no")
        qid = self.refused("rptdane.test", [self.dane], r"\(dane")
        self.delete(qid)
        # Counts are kept across a restart.
        self.daemon.stop()
        self.assertTrue(os.path.exists(os.path.join(self.env.spool, "tlsrpt",
                                                    "rptgood.test")))
        self.daemon.start()
        self.delivered("rptgood.test", self.good, "mta-sts-enforce")
        p = self.ctl("tls-report")
        for d in ("rptgood.test", "rptbad.test", "rptdane.test"):
            self.assertIn(d, p.stdout)

        # HTTPS: one POST of gzip'd JSON (RFC 8460 §5.1).
        self.assertTrue(h.wait_until(lambda: self.world.https.posts(), 15),
                        "no report POSTed" + self.log_tail())
        post = self.world.https.posts()[0]
        self.assertEqual(post.path, "/v1/tlsrpt")
        self.assertEqual(post.headers.get("content-type"), "application/tlsrpt+gzip")
        rep = json.loads(gzip.decompress(post.body))
        self.assertEqual(rep["contact-info"], "tls-reports@example.test")
        self.assertEqual(rep["organization-name"], h.HOSTNAME)
        self.assertIn("start-datetime", rep["date-range"])
        [pol] = rep["policies"]
        self.assertEqual(pol["policy"]["policy-type"], "sts")
        self.assertEqual(pol["policy"]["policy-domain"], "rptgood.test")
        self.assertIn("mode: enforce", pol["policy"]["policy-string"])
        self.assertIn("mx: mx.rptgood.test", pol["policy"]["policy-string"])
        self.assertEqual(pol["summary"], {"total-successful-session-count": 3,
                                          "total-failure-session-count": 0})
        self.assertLogged(r"\bevent=tls-rpt domain=rptgood\.test "
                          r"to=https://rpt\.reports\.test/v1/tlsrpt result=sent\b")

        # Mail: a multipart/report through our own queue (§5.3).
        a = self.report_mail("rptbad.test")
        self.assertEqual(a.mail_from, "tls-reports@example.test")
        msg, rep = self.mail_json(a)
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertEqual(msg.get_param("report-type"), "tlsrpt")
        self.assertEqual(msg["TLS-Report-Submitter"], h.HOSTNAME)
        [pol] = rep["policies"]
        self.assertEqual(pol["policy"]["policy-type"], "sts")
        self.assertIn("mode: testing", pol["policy"]["policy-string"])
        self.assertEqual(pol["summary"]["total-failure-session-count"], 1)
        [fail] = pol["failure-details"]
        self.assertEqual(fail["result-type"], "certificate-not-trusted")
        self.assertEqual(fail["receiving-mx-hostname"], "mx.rptbad.test")
        self.assertEqual(fail["receiving-ip"], self.bad.host)

        msg, rep = self.mail_json(self.report_mail("rptdane.test"))
        [pol] = rep["policies"]
        self.assertEqual(pol["policy"]["policy-type"], "tlsa")
        self.assertTrue(pol["policy"]["policy-string"][0].startswith("3 1 1 "))
        self.assertEqual(pol["summary"]["total-failure-session-count"], 1)
        self.assertEqual(pol["failure-details"][0]["result-type"],
                         "validation-failure")

        # Sent: the counts start again.
        self.assertTrue(h.wait_until(lambda: not os.path.exists(
            os.path.join(self.env.spool, "tlsrpt", "rptbad.test")), 10))

    def test_a_day_that_ended_while_down_is_reported_at_start(self):
        day = 86400
        start = int(time.time()) // day * day - day     # yesterday, UTC
        self.daemon.stop()
        lines = base64.b64encode(policy("enforce", "mx.rptold.test")
                                 .replace("\r", "").encode()).decode()
        path = os.path.join(self.env.spool, "tlsrpt", "rptold.test")
        with open(path, "w") as f:
            f.write("SUBMITD-TLSRPT 1\nstart: %d\n"
                    "policy: sts\tmx.rptold.test\t7\t1\t%s\n"
                    "fail: 0\tcertificate-expired\tmx.rptold.test\t192.0.2.1\t1\n"
                    % (start, lines))
        self.daemon.start()
        msg, rep = self.mail_json(self.report_mail("rptold.test"))
        self.assertEqual(rep["date-range"], {
            "start-datetime": time.strftime("%Y-%m-%dT00:00:00Z",
                                            time.gmtime(start)),
            "end-datetime": time.strftime("%Y-%m-%dT23:59:59Z",
                                          time.gmtime(start))})
        [pol] = rep["policies"]
        self.assertEqual(pol["summary"], {"total-successful-session-count": 7,
                                          "total-failure-session-count": 1})
        self.assertEqual(pol["failure-details"], [{
            "result-type": "certificate-expired", "receiving-ip": "192.0.2.1",
            "receiving-mx-hostname": "mx.rptold.test",
            "failed-session-count": 1}])
        self.assertTrue(h.wait_until(lambda: not os.path.exists(path), 10))


# ====================================================================
# The clear-text window after a failed handshake
# ====================================================================

class FallbackTest(OutboundTLSTestCase):
    """For a domain without a policy, a failed handshake at "may" sends the
    next attempts in clear for relay.tls_fallback seconds, and each such
    delivery is logged as one; tls_fallback = 0 keeps trying TLS."""

    @classmethod
    def make_peers(cls, env):
        w = cls.world = World(cls, env)
        cert = peers.make_signed(env.dir, w.ca, "old", dns=["mx.old.test"])
        ctx = peers.server_context(*cert, maximum=peers.ssl.TLSVersion.TLSv1_1)
        cls.old = w.mx("mx.old.test", cert=ctx)
        w.domain("old.test", (10, "mx.old.test"))
        cls.strict = cls.peer(tls=peers.server_context(
            *cert, maximum=peers.ssl.TLSVersion.TLSv1_1)).start()
        dnsd = w.dns()
        conf = cls.base_conf(w, dnsd, tls_fallback=600)
        conf['route "strict.test"'] = {"host": cls.strict.address,
                                       "tls_fallback": 0}
        conf["queue"] = dict(SLOW_QUEUE, retry_min=1, retry_max=2)
        return conf

    def test_clear_text_fallback_is_logged_every_time(self):
        t = tok()
        qid = self.send(message(t, "bob@old.test"), ["bob@old.test"])
        self.assertLogged(r"\bevent=tls result=fail\b", r"600 seconds")
        a = self.arrival(self.old, t, timeout=15)
        self.assertIsNone(a.tls)
        self.rcpt_line(qid, "bob@old.test", r"\bresult=sent\b",
                       r"\bpolicy=clear-text-fallback\b")
        # Within the window the next message goes in clear at once, and
        # says why.
        t2 = tok()
        qid2 = self.send(message(t2, "bob@old.test"), ["bob@old.test"])
        self.arrival(self.old, t2, timeout=15)
        self.rcpt_line(qid2, "bob@old.test", r"\bpolicy=clear-text-fallback\b")

    def test_zero_keeps_trying_tls(self):
        t = tok()
        qid = self.send(message(t, "bob@strict.test"), ["bob@strict.test"])
        self.wait_deferred(qid, attempts=2, timeout=15)
        self.assertEqual(self.strict.with_token(t), [])
        self.assertFalse([c for c in self.strict.commands
                          if c[2] == "bob@strict.test"])
        self.delete(qid)


# ====================================================================
# Implicit TLS next hops (RFC 8314)
# ====================================================================

SMARTHOST_LOGIN = "relay@provider.test"
SMARTHOST_PASSWORD = "s3cret pass"


class ImplicitTLSTest(OutboundTLSTestCase):
    """host = "smtps://NAME:PORT": TLS from the first byte; tls still
    decides whether the certificate is checked."""

    @classmethod
    def make_peers(cls, env):
        ca = peers.make_ca(env.dir)
        cls.ca = ca
        good = peers.make_signed(env.dir, ca, "smtps", ips=["127.0.0.1"])
        cls.verified = cls.peer(tls=good, implicit=True,
                                users={SMARTHOST_LOGIN: SMARTHOST_PASSWORD}).start()
        cls.selfsigned = cls.peer(tls=h.make_cert(env.dir, cn="x", name="smtps-self"),
                                  implicit=True).start()
        cls.starttls_only = cls.peer(tls=good).start()    # not implicit
        pw = env.write_file("smarthost.password", SMARTHOST_PASSWORD + "\n")
        os.chmod(pw, 0o600)
        cls.home = cls.peer().start()
        return {"relay": {"smarthost": "smtps://127.0.0.1:%d" % cls.verified.port,
                          "tls": "verify", "ca_file": ca[0],
                          "username": SMARTHOST_LOGIN, "password_file": pw},
                'route "example.test"': {"host": cls.home.address},
                'route "may.test"': {"host": "smtps://127.0.0.1:%d"
                                     % cls.selfsigned.port, "tls": "may"},
                'route "verify.test"': {"host": "smtps://127.0.0.1:%d"
                                        % cls.selfsigned.port, "tls": "verify",
                                        "ca_file": ca[0]},
                'route "plain.test"': {"host": "smtps://127.0.0.1:%d"
                                       % cls.starttls_only.port, "tls": "may"},
                "queue": SLOW_QUEUE}

    def test_smarthost_over_smtps_with_auth(self):
        t = tok()
        qid = self.send(message(t))
        a = self.arrival(self.verified, t)
        self.assertIn(a.tls, ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(a.login, SMARTHOST_LOGIN)
        # TLS from the first byte: no STARTTLS was ever said.
        self.assertTrue(all(e[2] for e in self.verified.ehlos), self.verified.ehlos)
        self.rcpt_line(qid, "bob@example.org", r"\bresult=sent\b",
                       r"\bverified=yes\b")

    def test_may_uses_tls_unchecked(self):
        t = tok()
        qid = self.send(message(t, "bob@may.test"), ["bob@may.test"])
        a = self.arrival(self.selfsigned, t)
        self.assertIn(a.tls, ("TLSv1.2", "TLSv1.3"))
        self.rcpt_line(qid, "bob@may.test", r"\bresult=sent\b", r"\bverified=no\b")

    def test_verify_refuses_an_untrusted_certificate(self):
        qid = self.refused("verify.test", [self.selfsigned], r"(?i)certificate")
        self.delete(qid)

    def test_never_falls_back_to_clear_text(self):
        # A STARTTLS server where implicit TLS was configured: the
        # handshake fails, and "may" does not mean clear text here.
        qid = self.refused("plain.test", [self.starttls_only], r"TLS")
        self.ctl("flush")
        self.wait_deferred(qid, attempts=2, timeout=15)
        self.assertFalse([c for c in self.starttls_only.commands
                          if c[2] == "bob@plain.test"])
        self.delete(qid)


if __name__ == "__main__":
    sys.exit(h.main(__name__))
