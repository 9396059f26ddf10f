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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import aiosmtpd  # noqa: F401  (peers needs it)
except ImportError:
    if (sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3")
            and not os.environ.get("SUBMITD_TEST_REEXEC")):
        os.environ["SUBMITD_TEST_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("SKIP: python3-aiosmtpd is not installed")
    sys.exit(77)

import harness as h  # noqa: E402
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


if __name__ == "__main__":
    sys.exit(h.main(__name__, ()))
