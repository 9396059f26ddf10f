"""A DNSSEC world of the test's own: a root zone signed on the fly
(ldns-keygen, ldns-signzone) served by nsd, and unbound validating it from
a trust anchor of the test's, both on free ports of 127.0.0.1.  The daemon's
`resolver` points at unbound, which sets the AD bit on what it validated,
as a local validating resolver in production does.

  SignedDNS(dir, records, insecure=(), tamper=())
      records: zone-file lines relative to the root ("mx.a.test. A 127.1.2.3",
      "a.test. MX 10 mx.a.test.", 'x.test. TXT "v=STSv1; id=1"', TLSA ...);
      insecure: names unbound treats as unsigned (domain-insecure), so their
      answers come without AD, like a domain that is not signed;
      tamper: (owner, type) of records whose data is changed after signing,
      so their signatures no longer verify (unbound answers SERVFAIL: a
      forged answer).
      validate=False: unbound without the trust anchor, a resolver that
      answers but never sets the AD bit (as most ISP and cloud resolvers).
  .start() / .stop(), .resolver ("127.0.0.1:PORT" of unbound)
  .update(records) re-signs with the new records and restarts both servers
      on the same ports (unbound's cache goes with it).
  tlsa(cert_path, usage, selector, mtype) the TLSA data of a certificate.

Needs nsd, unbound and ldnsutils (Debian packages of those names); the
module's available() says whether they are here.  Nothing of the system's
resolver or its unbound/nsd instances is touched.
"""

import atexit
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time

import harness as h

_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
_procs = {}


def _which(name):
    return shutil.which(name, path=_PATH)


def available():
    return all(_which(t) for t in ("nsd", "unbound", "ldns-keygen",
                                   "ldns-signzone"))


@atexit.register
def _kill_all():
    for pid in list(_procs):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _free_port():
    """A port of 127.0.0.1 free for both UDP and TCP."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue
    raise RuntimeError("no port free for UDP and TCP")


def query(port, name, qtype=1, timeout=1):
    """(rcode, ad) of a query with the AD bit set (RFC 6840 §5.7) to
    127.0.0.1:port; (None, False) without an answer."""
    qid = os.getpid() & 0xffff
    q = qid.to_bytes(2, "big") + b"\x01\x20\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + qtype.to_bytes(2, "big") + b"\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(q, ("127.0.0.1", port))
            r = s.recv(4096)
        except OSError:
            return None, False
    if len(r) < 4 or r[:2] != q[:2]:
        return None, False
    return r[3] & 15, bool(r[3] & 0x20)


def tlsa(cert_path, usage=3, selector=1, mtype=1):
    """TLSA rdata ("3 1 1 HEX") for the certificate in cert_path (PEM)."""
    with open(cert_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    if selector == 1:
        # The SubjectPublicKeyInfo, from openssl (no ASN.1 parser here).
        p = subprocess.run([h.tool("openssl"), "x509", "-in", cert_path,
                            "-noout", "-pubkey"], capture_output=True,
                           check=True, text=True)
        spki = ssl.PEM_cert_to_DER_cert(
            p.stdout.replace("PUBLIC KEY", "CERTIFICATE"))
        data = spki
    else:
        data = der
    if mtype == 1:
        data = hashlib.sha256(data).digest()
    elif mtype == 2:
        data = hashlib.sha512(data).digest()
    return "%d %d %d %s" % (usage, selector, mtype, data.hex())


class SignedDNS:
    def __init__(self, directory, records, insecure=(), tamper=(),
                 validate=True):
        self.validate = validate
        self.dir = os.path.join(directory, "dnssec")
        os.makedirs(self.dir, exist_ok=True)
        self.records = list(records)
        self.insecure = list(insecure)
        self.tamper = list(tamper)
        self.nsd_port = _free_port()
        self.port = _free_port()
        self.nsd = self.unbound = None
        self._keys()

    @property
    def resolver(self):
        return "127.0.0.1:%d" % self.port

    # -- the zone --------------------------------------------------------

    def _keys(self):
        """A KSK and a ZSK for the root; the KSK's DS is the trust anchor."""
        self.keys = []
        for ksk in (True, False):
            argv = [_which("ldns-keygen"), "-a", "ECDSAP256SHA256"]
            if ksk:
                argv.append("-k")
            p = subprocess.run(argv + ["."], cwd=self.dir, capture_output=True,
                               text=True, check=True)
            self.keys.append(os.path.join(self.dir, p.stdout.strip()))
        shutil.copy(self.keys[0] + ".ds", os.path.join(self.dir, "root.ds"))

    def _sign(self):
        zone = os.path.join(self.dir, "root.zone")
        with open(zone, "w") as f:
            f.write("$ORIGIN .\n$TTL 30\n"
                    ". SOA ns.test. hostmaster.test. %d 3600 600 86400 30\n"
                    ". NS ns.test.\nns.test. A 127.0.0.1\n"
                    % int(time.time()))
            for r in self.records:
                f.write(r + "\n")
        subprocess.run([_which("ldns-signzone"), "-f",
                        zone + ".signed", zone] + self.keys,
                       cwd=self.dir, capture_output=True, check=True)
        if self.tamper:
            self._forge(zone + ".signed")

    def _forge(self, path):
        """Changes the last octet of the named records' data, keeping their
        signatures: what an attacker on the path would serve."""
        out = []
        with open(path) as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 4 and (fields[0].rstrip(".") + ".",
                                         fields[3]) in \
                        {(o.rstrip(".") + ".", t) for o, t in self.tamper}:
                    line = line.rstrip("\n")
                    i = len(line) - (2 if line.endswith('"') else 1)
                    flip = "0" if line[i] != "0" else "1"
                    line = line[:i] + flip + line[i + 1:] + "\n"
                out.append(line)
        with open(path, "w") as f:
            f.writelines(out)

    # -- the servers -----------------------------------------------------

    def _nsd_conf(self):
        path = os.path.join(self.dir, "nsd.conf")
        d = self.dir
        with open(path, "w") as f:
            f.write('server:\n  ip-address: 127.0.0.1@%d\n  port: %d\n'
                    '  username: ""\n  chroot: ""\n  zonesdir: "%s"\n'
                    '  database: ""\n  pidfile: "%s/nsd.pid"\n'
                    '  logfile: "%s/nsd.log"\n  xfrdfile: "%s/xfrd.state"\n'
                    '  xfrdir: "%s"\n  zonelistfile: "%s/zone.list"\n'
                    '  server-count: 1\n  verbosity: 1\n'
                    'remote-control:\n  control-enable: no\n'
                    'zone:\n  name: "."\n  zonefile: "root.zone.signed"\n'
                    % (self.nsd_port, self.nsd_port, d, d, d, d, d, d))
        return path

    def _unbound_conf(self):
        path = os.path.join(self.dir, "unbound.conf")
        d = self.dir
        with open(path, "w") as f:
            f.write('server:\n  interface: 127.0.0.1\n  port: %d\n'
                    '  do-daemonize: no\n  username: ""\n  chroot: ""\n'
                    '  directory: "%s"\n  pidfile: ""\n  use-syslog: no\n'
                    '  logfile: "%s/unbound.log"\n  verbosity: 1\n'
                    '  val-log-level: 2\n  log-queries: yes\n'
                    '  do-not-query-localhost: no\n'
                    '  access-control: 127.0.0.0/8 allow\n'
                    '  qname-minimisation: no\n  num-threads: 1\n'
                    '  local-zone: "test." nodefault\n'
                    '  cache-max-ttl: 5\n  cache-max-negative-ttl: 1\n'
                    % (self.port, d, d))
            if self.validate:
                f.write('  trust-anchor-file: "%s/root.ds"\n' % d)
            else:
                f.write('  module-config: "iterator"\n')
            for name in self.insecure:
                f.write('  domain-insecure: "%s"\n' % name)
            f.write('remote-control:\n  control-enable: no\n'
                    'stub-zone:\n  name: "."\n  stub-addr: 127.0.0.1@%d\n'
                    % self.nsd_port)
        return path

    def _spawn(self, argv, port, name):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True)
        _procs[p.pid] = p
        deadline = time.monotonic() + 10
        while True:
            if p.poll() is not None:
                err = p.stderr.read().decode("utf-8", "replace")
                _procs.pop(p.pid, None)
                raise RuntimeError("%s exited with %s: %s%s" % (
                    name, p.returncode, err, self._logs()))
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return p
            except OSError:
                if time.monotonic() > deadline:
                    self._kill(p)
                    raise RuntimeError("%s did not start on port %d%s"
                                       % (name, port, self._logs()))
                time.sleep(0.05)

    def _logs(self):
        out = ""
        for n in ("nsd.log", "unbound.log"):
            try:
                with open(os.path.join(self.dir, n), errors="replace") as f:
                    out += "\n--- %s\n%s" % (n, h.tail(f.read()))
            except FileNotFoundError:
                pass
        return out

    def start(self):
        self._sign()
        for attempt in range(3):
            self.nsd = self.unbound = None
            try:
                self.nsd = self._spawn([_which("nsd"), "-d", "-c",
                                        self._nsd_conf()], self.nsd_port, "nsd")
                self.unbound = self._spawn([_which("unbound"), "-d", "-c",
                                            self._unbound_conf()], self.port,
                                           "unbound")
                self._wait_validating()
                return self
            except RuntimeError:
                died = any(p is None or p.poll() is not None
                           for p in (self.nsd, self.unbound))
                self.stop()
                if attempt == 2 or not died:
                    raise
                # A port chosen free was taken by a test running beside
                # this one before our server could bind it (the connect
                # check then reached the other's): new ports, again.
                self.nsd_port, self.port = _free_port(), _free_port()

    def _wait_validating(self):
        """unbound answers once it has primed the trust anchor; the first
        query may still time out while it does."""
        if not h.wait_until(lambda: query(self.port, "ns.test") ==
                            (0, self.validate), 10, 0.1):
            raise RuntimeError("unbound does not validate the test zone%s"
                               % self._logs())

    @staticmethod
    def _kill(p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if p.stderr:
            p.stderr.close()
        _procs.pop(p.pid, None)

    def stop(self):
        for p in (self.unbound, self.nsd):
            if p is not None:
                self._kill(p)
        self.nsd = self.unbound = None

    def update(self, records=None, insecure=None, tamper=None):
        if records is not None:
            self.records = list(records)
        if insecure is not None:
            self.insecure = list(insecure)
        if tamper is not None:
            self.tamper = list(tamper)
        self.stop()
        self.start()

    def log(self):
        return self._logs()

    def queried(self, name, qtype):
        """Whether unbound was asked for name/qtype (its query log)."""
        try:
            with open(os.path.join(self.dir, "unbound.log"), errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return False
        return re.search(r"\b%s\.? %s IN\b" % (re.escape(name.rstrip(".")), qtype),
                         text) is not None
