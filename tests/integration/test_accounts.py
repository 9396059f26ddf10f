#!/usr/bin/env python3
"""Strong authentication against the real daemon: SASL EXTERNAL with client
certificates made by openssl for the test (mapped by fingerprint and by CN,
unmapped, from another CA, none), OAUTHBEARER and XOAUTH2 with JWTs the test
signs with its own keys, and LDAP through saslauthd with a real slapd
started by the test.

Exit 0: all passed; 1: a failure.
"""

import base64
import os
import re
import ssl
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness as h  # noqa: E402

h.require_modules("aiosmtpd")

import peers  # noqa: E402

B64 = h.b64


def make_client_cert(directory, ca, name, cn):
    """A client certificate (P-256) for cn signed by ca; (cert, key)."""
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + "-key.pem")
    csr = os.path.join(directory, name + ".csr")
    ext = os.path.join(directory, name + ".ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=clientAuth\n")
    h.run([h.tool("openssl"), "req", "-new", "-newkey", "ec",
           "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-subj", "/CN=" + cn, "-keyout", key, "-out", csr])
    h.run([h.tool("openssl"), "x509", "-req", "-in", csr, "-CA", ca[0],
           "-CAkey", ca[1], "-CAcreateserial", "-days", "2", "-extfile", ext,
           "-out", cert])
    return cert, key


def fingerprint(cert):
    out = subprocess.run([h.tool("openssl"), "x509", "-in", cert, "-noout",
                          "-fingerprint", "-sha256"], capture_output=True,
                         text=True, check=True).stdout
    return out.strip().split("=", 1)[1]      # "AB:CD:..."


def auth_mechs(ehlo):
    """The mechanisms of an EHLO reply's AUTH line."""
    for line in ehlo.lines[1:]:
        words = line.split()
        if words and words[0].upper() == "AUTH":
            return words[1:]
    return []


def context_with(cert=None):
    ctx = h.client_context()
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return ctx


class ExternalTest(h.DaemonTestCase):
    """auth.client_ca and auth.client_map: EXTERNAL for the certificates
    the map names."""

    @classmethod
    def configure(cls, env):
        d = env.dir
        cls.ca = peers.make_ca(d, "client-ca", "clients CA")
        other = peers.make_ca(d, "other-ca", "someone else")
        cls.by_fp = make_client_cert(d, cls.ca, "backup", "backup host")
        cls.by_cn = make_client_cert(d, cls.ca, "ci", "build server 3")
        cls.unmapped = make_client_cert(d, cls.ca, "stranger", "stranger")
        cls.foreign = make_client_cert(d, other, "foreign", "build server 3")
        cls.fp = fingerprint(cls.by_fp[0])
        cls.map_path = env.write_file(
            "client-map", "# test map\n%s  backup@example.test\n"
            "CN=build server 3   ci@example.test\n" % cls.fp.upper())
        return {"auth": {"mechanisms": ["PLAIN", "EXTERNAL"],
                         "client_ca": cls.ca[0], "client_map": cls.map_path}}

    def connect(self, cert):
        c = self.plain()
        ehlo = c.open_tls(context=context_with(cert))
        return c, ehlo

    def external(self, cert, authzid=None):
        c, ehlo = self.connect(cert)
        arg = "=" if not authzid else B64(authzid)
        return c, ehlo, c.cmd("AUTH EXTERNAL " + arg)

    def test_fingerprint_mapped(self):
        c, ehlo, r = self.external(self.by_fp)
        self.assertIn("EXTERNAL", auth_mechs(ehlo), ehlo)
        self.assertReply(r, 235, "2.7.0")
        fp = self.fp.replace(":", "").lower()
        self.assertTrue(h.wait_until(lambda: re.search(
            r"event=client-cert fingerprint=%s cn=\"backup host\" verified=yes "
            r"login=backup@example\.test" % fp, self.daemon.log())),
            self.log_tail())
        self.assertTrue(h.wait_until(lambda: re.search(
            r"event=auth result=ok user=backup@example\.test mech=EXTERNAL",
            self.daemon.log())), self.log_tail())
        self.assertReply(c.cmd("MAIL FROM:<backup@example.test>"), 250)
        c.close()

    def test_cn_mapped_with_authzid(self):
        c, _, r = self.external(self.by_cn, "ci@example.test")
        self.assertReply(r, 235)
        c.close()
        # Without an initial response: an empty challenge, then the authzid.
        c, _ = self.connect(self.by_cn)
        r = c.cmd("AUTH EXTERNAL")
        self.assertEqual((r.code, r.text), (334, ""))
        self.assertReply(c.cmd(""), 235)
        c.close()

    def test_other_authzid_refused(self):
        c, _, r = self.external(self.by_cn, "backup@example.test")
        self.assertReply(r, 535, "5.7.8")
        c.close()

    def test_unmapped_verified_certificate(self):
        c, ehlo, r = self.external(self.unmapped)
        self.assertIn("EXTERNAL", auth_mechs(ehlo))
        self.assertReply(r, 535, "5.7.8")
        self.assertTrue(h.wait_until(lambda: "reason=\"client certificate not "
                                     "in auth.client_map\"" in self.daemon.log()))
        c.close()

    def test_foreign_ca_and_no_certificate(self):
        for cert, why in ((self.foreign, "client certificate not verified"),
                          (None, "no client certificate")):
            with self.subTest(why=why):
                c, ehlo, r = self.external(cert)
                self.assertNotIn("EXTERNAL", auth_mechs(ehlo))
                self.assertIn("PLAIN", auth_mechs(ehlo))
                self.assertReply(r, 535, "5.7.8")
                self.assertTrue(h.wait_until(
                    lambda: 'reason="%s"' % why in self.daemon.log()))
                c.close()

    def test_password_still_works_with_a_certificate(self):
        c, _ = self.connect(self.by_fp)
        self.assertReply(c.login(), 235)
        c.close()

    def test_zz_reload_drops_a_mapping(self):
        with open(self.map_path, "w") as f:
            f.write("CN=build server 3 ci@example.test\n")
        p = h.submitctl(self.env, "reload")
        self.assertEqual(p.returncode, 0, p.stderr)
        c, _, r = self.external(self.by_fp)
        self.assertReply(r, 535, "5.7.8")
        c.close()

    def test_bad_map_lines(self):
        for n, line in enumerate(("ABCD backup@example.test",
                                  "%s" % self.fp,
                                  "%s not-an-address" % self.fp,
                                  "CN= x@example.test")):
            with self.subTest(line=line):
                path = self.env.write_file("bad-map%d" % n, "# ok\n" + line + "\n")
                conf = self.env.write_config(
                    path=os.path.join(self.env.dir, "bad-map%d.conf" % n),
                    auth={"mechanisms": ["PLAIN", "EXTERNAL"],
                          "client_ca": self.ca[0], "client_map": path})
                p = subprocess.run([self.daemon.binary, "-n", "-f", conf],
                                   capture_output=True, text=True, timeout=20)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn("%s:2: " % path, p.stderr)


# ====================================================================
# OAUTHBEARER (RFC 7628) and XOAUTH2 with JWTs signed by the test
# ====================================================================

ISSUER = "https://idp.example.test/realms/staff"
AUDIENCE = "smtp.example.test"


class TokenMaker:
    """Keys of the test's own identity provider and tokens signed by them."""

    def __init__(self):
        import jwt
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
        self.jwt = jwt
        self.keys = {"rsa1": ("RS256", rsa.generate_private_key(65537, 2048)),
                     "ec1": ("ES256", ec.generate_private_key(ec.SECP256R1())),
                     "ed1": ("EdDSA", ed25519.Ed25519PrivateKey.generate())}

    def jwks(self, kids=None):
        import json
        from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
        out = []
        for kid, (alg, key) in self.keys.items():
            if kids is not None and kid not in kids:
                continue
            algo = {"RS256": RSAAlgorithm, "ES256": ECAlgorithm,
                    "EdDSA": OKPAlgorithm}[alg]
            jwk = json.loads(algo.to_jwk(key.public_key()))
            jwk.update(kid=kid, use="sig")
            out.append(jwk)
        return json.dumps({"keys": out})

    def token(self, kid="rsa1", login="alice@example.test", **claims):
        import time
        alg, key = self.keys[kid]
        body = {"iss": ISSUER, "aud": [AUDIENCE, "other"], "email": login,
                "exp": int(time.time()) + 300, "iat": int(time.time())}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return self.jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


def oauthbearer(token, authzid=""):
    return B64("n,%s,\x01host=relay.example.test\x01port=587\x01"
               "auth=Bearer %s\x01\x01" % ("a=" + authzid if authzid else "",
                                          token))


def xoauth2(token, user):
    return B64("user=%s\x01auth=Bearer %s\x01\x01" % (user, token))


class OAuthTest(h.DaemonTestCase):

    @classmethod
    def configure(cls, env):
        cls.idp = TokenMaker()
        jwks = env.write_file("jwks.json", cls.idp.jwks())
        # Many refusals from 127.0.0.1 here: no ban gets in the way.
        return {"auth": {"mechanisms": ["PLAIN", "OAUTHBEARER", "XOAUTH2"],
                         "oauth": {"issuer": ISSUER, "audience": AUDIENCE,
                                   "jwks_file": jwks}},
                "limits": {"auth_failures": 1000, "auth_login_failures": 1000}}

    def auth(self, mech, arg):
        c = self.plain()
        ehlo = c.open_tls()
        self.assertIn(mech, auth_mechs(ehlo))
        return c, c.cmd("AUTH %s %s" % (mech, arg))

    def assertRefused(self, c, r, why):
        # RFC 7628 §3.2.2: a 334 with the JSON error, the client's ^A, 535.
        import json
        self.assertEqual(r.code, 334, r)
        err = json.loads(base64.b64decode(r.text))
        self.assertEqual(err["status"], "invalid_token")
        self.assertReply(c.cmd(B64("\x01")), 535, "5.7.8")
        self.assertTrue(h.wait_until(lambda: re.search(
            r"event=auth result=fail mech=OAUTHBEARER .*reason=\"?%s"
            % re.escape(why), self.daemon.log())), why + self.log_tail())
        c.close()

    def test_each_algorithm(self):
        for kid in ("rsa1", "ec1", "ed1"):
            with self.subTest(kid=kid):
                c, r = self.auth("OAUTHBEARER",
                                 oauthbearer(self.idp.token(kid)))
                self.assertReply(r, 235, "2.7.0")
                self.assertReply(c.cmd("MAIL FROM:<alice@example.test>"), 250)
                c.close()
        self.assertTrue(h.wait_until(lambda: re.search(
            r"event=auth result=ok user=alice@example\.test mech=OAUTHBEARER",
            self.daemon.log())))

    def test_login_is_lowercased(self):
        c, r = self.auth("OAUTHBEARER", oauthbearer(self.idp.token(
            login="Alice@Example.TEST")))
        self.assertReply(r, 235)
        c.close()
        self.assertTrue(h.wait_until(lambda: re.search(
            r"event=auth result=ok user=alice@example\.test mech=OAUTHBEARER",
            self.daemon.log())))

    def test_authzid_must_be_the_login(self):
        c, r = self.auth("OAUTHBEARER", oauthbearer(self.idp.token(),
                                                    "alice@example.test"))
        self.assertReply(r, 235)
        c.close()
        c, r = self.auth("OAUTHBEARER", oauthbearer(self.idp.token(),
                                                    "ceo@example.test"))
        self.assertRefused(c, r, "the token is for another login")

    def test_claims_refused(self):
        import time
        now = int(time.time())
        cases = [
            ("token expired", self.idp.token(exp=now - 120)),
            ("token not valid yet", self.idp.token(nbf=now + 600)),
            ("iss is not the configured issuer",
             self.idp.token(iss="https://evil.example/")),
            ("aud does not name us", self.idp.token(aud="someone-else")),
            ("no exp claim", self.idp.token(exp=None)),
            ("no login claim", self.idp.token(email=None)),
        ]
        for why, tok in cases:
            with self.subTest(why=why):
                c, r = self.auth("OAUTHBEARER", oauthbearer(tok))
                self.assertRefused(c, r, why)

    def test_forged_tokens(self):
        import jwt
        good = self.idp.token()
        head, body, sig = good.split(".")
        # Another's claims under our signature.
        forged_body = base64.urlsafe_b64encode(
            base64.urlsafe_b64decode(body + "==").replace(
                b"alice@example.test", b"ceo@example.test")).rstrip(b"=").decode()
        pem = self.idp.keys["rsa1"][1].public_key().public_bytes(
            __import__("cryptography.hazmat.primitives.serialization",
                       fromlist=["x"]).Encoding.PEM,
            __import__("cryptography.hazmat.primitives.serialization",
                       fromlist=["x"]).PublicFormat.SubjectPublicKeyInfo)
        none_head = base64.urlsafe_b64encode(
            b'{"alg":"none","kid":"rsa1"}').rstrip(b"=").decode()
        cases = [
            ("bad signature", "%s.%s.%s" % (head, forged_body, sig)),
            ("alg is not RS256", "%s.%s." % (none_head, body)),
            # The public key as an HMAC secret: the classic confusion.
            ("alg is not RS256", jwt.encode(
                {"iss": ISSUER, "aud": AUDIENCE, "email": "ceo@example.test",
                 "exp": 4102444800}, pem.decode(), algorithm="HS256",
                headers={"kid": "rsa1"}) if False else
             "%s.%s.%s" % (base64.urlsafe_b64encode(
                 b'{"alg":"HS256","kid":"rsa1"}').rstrip(b"=").decode(), body,
                 sig)),
            # The EC key's kid with an RSA signature: alg is the key's.
            ("no key for the token's kid and alg", self.idp.token("rsa1").replace(
                head, base64.urlsafe_b64encode(
                    b'{"alg":"RS256","kid":"ec1","typ":"JWT"}').rstrip(b"=").decode())),
            ("no key for the token's kid and alg",
             self.idp.token("rsa1").replace(head, base64.urlsafe_b64encode(
                 b'{"alg":"RS256","kid":"nope"}').rstrip(b"=").decode())),
            ("not a signed JWT", "not-a-token"),
        ]
        for why, tok in cases:
            with self.subTest(why=why):
                c, r = self.auth("OAUTHBEARER", oauthbearer(tok))
                self.assertRefused(c, r, why)

    def test_xoauth2_with_smtplib(self):
        import smtplib
        tok = self.idp.token("ed1")
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
        try:
            s.starttls(context=h.client_context())
            s.ehlo()
            code, _ = s.auth("XOAUTH2", lambda challenge=None:
                             "user=alice@example.test\x01auth=Bearer %s\x01\x01"
                             % tok, initial_response_ok=True)
            self.assertEqual(code, 235)
            s.sendmail("alice@example.test", ["bob@example.org"],
                       "From: alice@example.test\r\nSubject: x\r\n\r\nhi\r\n")
        finally:
            s.quit()
        c, r = self.auth("XOAUTH2", xoauth2(tok, "ceo@example.test"))
        self.assertEqual(r.code, 334)
        self.assertReply(c.cmd(""), 535, "5.7.8")
        c.close()

    def test_failures_count_for_the_lockout(self):
        c = self.plain()
        c.open_tls()
        before = int(dict(l.split(" ", 1) for l in h.submitctl(
            self.env, "stats").stdout.splitlines())["auth_failed"])
        r = c.cmd("AUTH OAUTHBEARER " + oauthbearer("x.y.z"))
        self.assertRefused(c, r, "")
        after = int(dict(l.split(" ", 1) for l in h.submitctl(
            self.env, "stats").stdout.splitlines())["auth_failed"])
        self.assertEqual(after, before + 1)

    def test_bad_jwks_file(self):
        bad = self.env.write_file("bad-jwks.json", '{"keys": [{"kty": "oct"}]}')
        conf = self.env.write_config(
            path=os.path.join(self.env.dir, "bad-jwks.conf"),
            auth={"mechanisms": ["PLAIN", "OAUTHBEARER"],
                  "oauth": {"issuer": ISSUER, "audience": AUDIENCE,
                            "jwks_file": bad}})
        p = subprocess.run([self.daemon.binary, "-n", "-f", conf],
                           capture_output=True, text=True, timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("bad-jwks.json", p.stderr)


class OAuthURLTest(h.DaemonTestCase):
    """jwks_url: the key set over verified HTTPS, fetched again when a token
    names a kid it does not know (the provider rolled its keys)."""

    @classmethod
    def configure(cls, env):
        cls.idp = TokenMaker()
        ca = peers.make_ca(env.dir, "idp-ca", "IdP CA")
        cert = peers.make_signed(env.dir, ca, "idp", ips=["127.0.0.1"])
        cls.https = peers.HTTPS(cert, host="127.0.0.1",
                                port=h.free_port())
        cls.https.pages[("127.0.0.1", "/jwks.json")] = (
            200, cls.idp.jwks(["rsa1"]).encode(),
            [("Content-Type", "application/json")])
        cls.https.start()
        cls.addClassCleanup(cls.https.stop)
        return {"auth": {"mechanisms": ["PLAIN", "OAUTHBEARER"],
                         "oauth": {"issuer": ISSUER, "audience": AUDIENCE,
                                   "jwks_url": "https://127.0.0.1:%d/jwks.json"
                                   % cls.https.port}},
                "relay": {"smarthost": "[127.0.0.1]:%d" % env.relay_port,
                          "ca_file": ca[0]},
                "limits": {"auth_failures": 1000, "auth_login_failures": 1000}}

    def auth(self, tok):
        c = self.plain()
        c.open_tls()
        r = c.cmd("AUTH OAUTHBEARER " + oauthbearer(tok))
        if r.code == 334:
            r = c.cmd(B64("\x01"))
        c.close()
        return r

    def test_fetch_and_rollover(self):
        # Fetched at start, in the background: a login may have to wait
        # for it, but no login waits for the provider.
        first = []
        self.assertTrue(h.wait_until(lambda: first.append(
            self.auth(self.idp.token("rsa1"))) or first[-1].code == 235,
            timeout=15, interval=0.3), "%r%s" % (first[-1:], self.log_tail()))
        fetches = len(self.https.requests)
        self.assertEqual(fetches, 1)
        # The provider adds keys.  A kid we do not know: refused while the
        # last fetch is under 10 s old (no fetch per guess), then fetched
        # again, once, and good.
        self.https.pages[("127.0.0.1", "/jwks.json")] = (
            200, self.idp.jwks().encode(), [("Content-Type", "application/json")])
        tok = self.idp.token("ec1")
        replies = []
        # The deadline allows for a fetch that fails under load (5 s) and
        # the next one 10 s after it: the count below says how many ran.
        ok = h.wait_until(lambda: replies.append(self.auth(tok)) or
                          replies[-1].code == 235, timeout=45, interval=0.5)
        self.assertTrue(ok, "%r%s" % (replies[-3:], self.log_tail()))
        self.assertGreater(len(replies), 1)
        refetched = len(self.https.requests)
        self.assertGreaterEqual(refetched, fetches + 1)
        # No fetch per guess: one every 10 s at most over the wait.
        self.assertLessEqual(refetched - fetches, 1 + len(replies) // 20)
        self.assertReply(self.auth(self.idp.token("ed1")), 235)
        self.assertEqual(len(self.https.requests), refetched)


class OAuthSlowProviderTest(h.DaemonTestCase):
    """jwks_url at a server that takes connections and never answers: one
    fetch at a time, and logins of every other kind go on meanwhile."""

    @classmethod
    def configure(cls, env):
        import socket as so
        cls.idp = TokenMaker()
        cls.hole = so.socket()
        cls.hole.bind(("127.0.0.1", 0))
        cls.hole.listen(64)
        cls.addClassCleanup(cls.hole.close)
        return {"auth": {"mechanisms": ["PLAIN", "OAUTHBEARER"],
                         "oauth": {"issuer": ISSUER, "audience": AUDIENCE,
                                   "jwks_url": "https://127.0.0.1:%d/jwks"
                                   % cls.hole.getsockname()[1]}},
                "limits": {"auth_failures": 1000, "auth_login_failures": 1000}}

    def test_a_hanging_provider_stalls_nothing(self):
        import concurrent.futures
        import select

        def oauth():
            c = self.plain()
            c.open_tls()
            r = c.cmd("AUTH OAUTHBEARER " + oauthbearer(self.idp.token()),
                      timeout=10)
            if r.code == 334:
                r = c.cmd(B64("\x01"), timeout=10)
            c.close()
            return r.code
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            codes = list(ex.map(lambda _: oauth(), range(8)))
            # A password login meanwhile is answered as ever.
            c = self.tls()
            self.assertReply(c.login(timeout=5), 235)
            c.close()
        self.assertEqual(codes, [535] * 8)
        # One connection to the provider, not one per attempt.
        conns = []
        while select.select([self.hole], [], [], 0)[0]:
            conns.append(self.hole.accept()[0])
        for x in conns:
            x.close()
        self.assertEqual(len(conns), 1)


# ====================================================================
# The directory: LDAP through saslauthd, with a slapd of the test's own
# ====================================================================

LDAP_BASE = "dc=example,dc=test"
LDAP_USERS = {"carol": "carol-LDAP-pw1", "dave": "dave-LDAP-pw2"}


class Process:
    """A foreground process of the test, stopped (and its group killed) at
    the end of the class."""

    def __init__(self, argv, log):
        self.log_path = log
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=open(log, "ab"),
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def stop(self):
        import signal
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


def start_slapd(directory, port):
    """slapd with an mdb database under directory, on 127.0.0.1:port."""
    db = os.path.join(directory, "ldap-db")
    os.makedirs(db, exist_ok=True)
    conf = os.path.join(directory, "slapd.conf")
    with open(conf, "w") as f:
        f.write("include /etc/ldap/schema/core.schema\n"
                "include /etc/ldap/schema/cosine.schema\n"
                "include /etc/ldap/schema/inetorgperson.schema\n"
                "pidfile %s/slapd.pid\n"
                "modulepath /usr/lib/ldap\nmoduleload back_mdb\n"
                "database mdb\nsuffix \"%s\"\nrootdn \"cn=admin,%s\"\n"
                "rootpw not-used-Secret\ndirectory %s\n"
                "access to attrs=userPassword by anonymous auth by * none\n"
                "access to * by * read\n" % (directory, LDAP_BASE, LDAP_BASE, db))
    ldif = os.path.join(directory, "people.ldif")
    with open(ldif, "w") as f:
        f.write("dn: %s\nobjectClass: dcObject\nobjectClass: organization\n"
                "dc: example\no: Example\n\n"
                "dn: ou=people,%s\nobjectClass: organizationalUnit\nou: people\n"
                % (LDAP_BASE, LDAP_BASE))
        for uid, pw in LDAP_USERS.items():
            f.write("\ndn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\n"
                    "uid: %s\ncn: %s\nsn: %s\nmail: %s@example.test\n"
                    "userPassword: %s\n" % (uid, LDAP_BASE, uid, uid, uid, uid, pw))
    h.run(["/usr/sbin/slapadd", "-f", conf, "-l", ldif])
    p = Process(["/usr/sbin/slapd", "-f", conf, "-h",
                 "ldap://127.0.0.1:%d/" % port, "-d", "0"],
                os.path.join(directory, "slapd.log"))
    if not h.wait_until(lambda: _connects(port), 10):
        p.stop()
        raise RuntimeError("slapd did not start: " + p.log())
    return p


def _connects(port):
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


def start_saslauthd(directory, ldap_port):
    """saslauthd -a ldap, binding as the user found by mail."""
    mux = os.path.join(directory, "saslauthd")
    os.makedirs(mux, exist_ok=True)
    conf = os.path.join(directory, "saslauthd.conf")
    with open(conf, "w") as f:
        f.write("ldap_servers: ldap://127.0.0.1:%d/\n"
                "ldap_search_base: ou=people,%s\n"
                "ldap_filter: (mail=%%u@%%r)\n"
                "ldap_auth_method: bind\n"
                "ldap_timeout: 5\n" % (ldap_port, LDAP_BASE))
    p = Process(["/usr/sbin/saslauthd", "-a", "ldap", "-O", conf, "-m", mux,
                 "-n", "1", "-d"], os.path.join(directory, "saslauthd.log"))
    sock = os.path.join(mux, "mux")
    if not h.wait_until(lambda: os.path.exists(sock), 10):
        p.stop()
        raise RuntimeError("saslauthd did not start: " + p.log())
    return sock, p


class LDAPTest(h.DaemonTestCase):
    """pwcheck = "saslauthd" with saslauthd -a ldap in front of slapd:
    the logins of the directory, not of the sasldb."""

    @classmethod
    def configure(cls, env):
        if not os.path.exists("/usr/sbin/slapd"):
            raise unittest.SkipTest("slapd is not installed")
        port = h.free_port()
        cls.slapd = start_slapd(env.dir, port)
        cls.addClassCleanup(cls.slapd.stop)
        sock, cls.saslauthd = start_saslauthd(env.dir, port)
        cls.addClassCleanup(cls.saslauthd.stop)
        limits = env.write_file("login-limits",
                                "carol@example.test 100 100 networks=127.0.5.0/24\n")
        return {"auth": {"mechanisms": ["PLAIN", "LOGIN"], "pwcheck": "saslauthd",
                         "saslauthd_path": sock},
                "limits": {"login_limits_file": limits, "auth_failures": 1000,
                           "auth_login_failures": 1000}}

    def test_scope_holds_in_any_case(self):
        # The directory takes CAROL for carol; her networks= rule must too.
        for user in ("carol@example.test", "CAROL@example.test",
                     "carol@EXAMPLE.test"):
            with self.subTest(user=user):
                c = h.SMTPClient("127.0.0.1", self.port, source="127.0.0.1")
                c.open_tls()
                self.assertReply(c.login(user, LDAP_USERS["carol"]), 535)
                c.close()
        c = h.SMTPClient("127.0.0.1", self.port, source="127.0.5.3")
        c.open_tls()
        self.assertReply(c.login("Carol@Example.test", LDAP_USERS["carol"]), 235)
        self.assertReply(c.cmd("MAIL FROM:<carol@example.test>"), 250)
        c.close()

    def test_directory_logins(self):
        for uid, pw in LDAP_USERS.items():
            with self.subTest(uid=uid):
                c = self.tls(source="127.0.5.1")
                self.assertReply(c.login(uid + "@example.test", pw), 235)
                self.assertReply(c.cmd("MAIL FROM:<%s@example.test>" % uid), 250)
                c.close()
        self.assertTrue(h.wait_until(lambda: re.search(
            r"event=auth result=ok user=carol@example\.test mech=PLAIN",
            self.daemon.log())))

    def test_wrong_and_unknown(self):
        for user, pw in (("carol@example.test", "wrong"),
                         ("nobody@example.test", "x"),
                         ("carol@example.test", LDAP_USERS["dave"])):
            with self.subTest(user=user, pw=pw):
                c = self.tls()
                self.assertReply(c.login(user, pw), 535, "5.7.8")
                c.close()

    def test_login_mechanism_with_swaks(self):
        p = subprocess.run(
            [h.tool("swaks"), "--server", "127.0.0.1:%d" % self.port, "--tls",
             "--auth", "LOGIN", "--auth-user", "dave@example.test",
             "--auth-password", LDAP_USERS["dave"], "--from",
             "dave@example.test", "--to", "bob@example.org", "--quit-after",
             "AUTH", "--timeout", "10"], capture_output=True, text=True,
            timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("235 2.7.0", p.stdout)


if __name__ == "__main__":
    sys.exit(h.main(__name__, ()))
