"""Integration test harness for submitd.

Starts the real daemon on free loopback ports, in a temporary directory of
its own, with a self-signed certificate and a sasldb made for the test, and
gives tests what they need to talk to it and to check what it did:

  free_port(), make_tmpdir()      ports and directories (removed at exit
                                  unless KEEP_TMP=1)
  make_cert(), make_key(),        TLS material (openssl) and logins
  make_sasldb()                   (saslpasswd2)
  Env                             one test setup: tmpdir, cert, sasldb,
                                  ports, a config written from overrides
  Daemon                          the process: start, wait for the port,
                                  stop (SIGTERM), kill9, log; fails on
                                  sanitizer reports; environ adds to its
                                  environment (e.g. SSL_CERT_FILE)
  submitctl()                     runs submitctl against a test's daemon
  spool_messages()                queued messages (queue/ files, journal)
                                  parsed into envelope + body
  expected_spooled()              the bytes submitd should spool for a
                                  submitted message: its own Received,
                                  the headers minus strip_headers, the
                                  Message-ID/Date/From it adds, the body
  SMTPClient                      a raw SMTP client over a socket, with
                                  STARTTLS, for tests that need exact
                                  control of the bytes (pipelining, ...)
  DaemonTestCase, main()          unittest glue shared by the suites: one
                                  daemon per class, reply/log/spool
                                  assertions, the "N passed, N failed" line

Only the Python standard library is used.  Processes are cleaned up by pid
(atexit and explicit stop), never by name.
"""

import atexit
import base64
import os
import pwd
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import uuid
import warnings

HOSTNAME = "relay.example.test"
DOMAIN = "example.test"
USER = "alice@example.test"
PASSWORD = "s3cret-Alice"
RCPT = "bob@example.org"
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")
REQUIRED_TOOLS = ("openssl", "saslpasswd2", "swaks", "curl")


class MissingTool(Exception):
    """A tool the tests need is not installed."""


def require_modules(*names, packages=""):
    """Imports the modules a suite needs from Debian's python3-* packages
    (aiosmtpd, dkim, ...).  They install for /usr/bin/python3 only: under
    another interpreter the suite runs itself again with that one; where
    they are missing there too it exits 77 (automake's SKIP), naming
    packages."""
    import importlib
    try:
        for name in names:
            importlib.import_module(name)
    except ImportError:
        if (sys.executable != "/usr/bin/python3" and
                os.path.exists("/usr/bin/python3") and
                not os.environ.get("SUBMITD_TEST_REEXEC")):
            os.environ["SUBMITD_TEST_REEXEC"] = "1"
            os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
        print("SKIP: %s is not installed (Debian: apt-get install %s)"
              % (", ".join(names), packages or "python3-" + names[0]))
        sys.exit(77)


def tool(name):
    """Full path of a command-line tool; raises MissingTool when absent."""
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if path is None:
        raise MissingTool(name)
    return path


def daemon_binary():
    """The submitd under test: $SUBMITD, else the build tree's, else the dev build."""
    if os.environ.get("SUBMITD"):
        return os.environ["SUBMITD"]
    builddir = os.environ.get("top_builddir")
    if builddir:
        # automake builds sbin_PROGRAMS in the top build directory
        # (subdir-objects puts only the .o files under src/).
        for cand in ("submitd", "src/submitd"):
            path = os.path.join(builddir, cand)
            if os.path.exists(path):
                return path
        return os.path.join(builddir, "submitd")
    return "/work/main/build-dev/submitd"


def submitctl_binary():
    """The submitctl next to the submitd under test ($SUBMITCTL overrides)."""
    if os.environ.get("SUBMITCTL"):
        return os.environ["SUBMITCTL"]
    return os.path.join(os.path.dirname(daemon_binary()), "submitctl")


def submitctl(env, *args, timeout=15):
    """Runs `submitctl -s SOCKET args...` against env's daemon; returns the
    CompletedProcess (text output), whatever its exit code."""
    sock = env.config_dict(**env.overrides)["control_socket"]
    return subprocess.run([submitctl_binary(), "-s", sock] + list(args),
                          capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------- ports, dirs

_ports_given = set()


def free_port(host="127.0.0.1"):
    """A TCP port that was free a moment ago on host, and never handed out
    before by this process: a daemon's port chosen before it binds must not
    go to a peer started in between."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def ipv6_available():
    """True when ::1 can be bound (the daemon may then listen there too)."""
    if not socket.has_ipv6:
        return False
    try:
        free_port("::1")
        return True
    except OSError:
        return False


_tmpdirs = []


def make_tmpdir(prefix="submitd-test-"):
    """A fresh temporary directory, removed at exit unless KEEP_TMP=1."""
    path = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(path)
    return path


def remove_tmpdir(path):
    if os.environ.get("KEEP_TMP") == "1":
        print("KEEP_TMP: leaving", path)
        return
    shutil.rmtree(path, ignore_errors=True)
    if path in _tmpdirs:
        _tmpdirs.remove(path)


@atexit.register
def _remove_all_tmpdirs():
    for path in list(_tmpdirs):
        remove_tmpdir(path)


# ------------------------------------------------------------ TLS and logins

def run(argv, input=None, timeout=30):
    """Runs a tool, returns CompletedProcess with text output; raises on failure."""
    p = subprocess.run(argv, input=input, capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (argv[0], p.returncode,
                                                   p.stderr.strip()))
    return p


def make_cert(directory, cn=HOSTNAME, name="cert"):
    """Self-signed ECDSA P-256 certificate; returns (cert_path, key_path)."""
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + "-key.pem")
    run([tool("openssl"), "req", "-x509", "-newkey", "ec",
         "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-subj", "/CN=" + cn, "-addext", "subjectAltName=DNS:" + cn,
         "-days", "2", "-keyout", key, "-out", cert])
    return cert, key


def make_key(directory, name="other-key"):
    """A second, unrelated P-256 private key (for mismatch tests)."""
    key = os.path.join(directory, name + ".pem")
    run([tool("openssl"), "genpkey", "-algorithm", "EC",
         "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key])
    return key


def make_sasldb(directory, users=None, realm=DOMAIN):
    """A Cyrus sasldb holding users {local: password} in realm; returns its path."""
    users = users or {"alice": PASSWORD}
    db = os.path.join(directory, "sasldb2")
    for user, password in users.items():
        run([tool("saslpasswd2"), "-c", "-p", "-f", db, "-u", realm, user],
            input=password)
    if not os.path.exists(db):
        raise RuntimeError("saslpasswd2 did not create " + db)
    return db


def client_context(minimum=None, maximum=None, seclevel0=False):
    """A TLS client context that does not verify the test's self-signed cert."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if seclevel0:
        ctx.set_ciphers("DEFAULT@SECLEVEL=0")
    with warnings.catch_warnings():     # TLSv1/TLSv1_1 are deprecated names
        warnings.simplefilter("ignore", DeprecationWarning)
        if minimum is not None:
            ctx.minimum_version = minimum
        if maximum is not None:
            ctx.maximum_version = maximum
    return ctx


# -------------------------------------------------------------------- config

def _conf_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(_conf_value(x) for x in v) + "}"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + s + '"'


def render_config(conf):
    """libconfuse text from a dict: scalars/lists are options, dicts are
    sections, lists of dicts are repeated sections; None drops a key."""
    lines = []

    def emit(d, indent):
        pad = "  " * indent
        for key, value in d.items():
            if value is None:
                continue
            if isinstance(value, dict):
                lines.append("%s%s {" % (pad, key))
                emit(value, indent + 1)
                lines.append(pad + "}")
            elif (isinstance(value, list) and value
                  and all(isinstance(x, dict) for x in value)):
                for section in value:
                    lines.append("%s%s {" % (pad, key))
                    emit(section, indent + 1)
                    lines.append(pad + "}")
            else:
                lines.append("%s%s = %s" % (pad, key, _conf_value(value)))

    emit(conf, 0)
    return "\n".join(lines) + "\n"


class Env:
    """One test setup: a temporary directory with a certificate, a sasldb,
    a spool directory and a config file (written by write_config).

    Keyword overrides replace top-level keys; for the sections tls, auth,
    limits and timeouts a dict is merged into the defaults (a None value
    removes a key).  implicit=True adds an implicit-TLS listener, ipv6=True
    a STARTTLS listener on ::1.  extra is raw text appended to the file.
    users is {local part: password} for the sasldb (default: alice).
    """

    def __init__(self, implicit=False, ipv6=False, extra="", users=None,
                 **overrides):
        self.dir = make_tmpdir()
        self.cert, self.key = make_cert(self.dir)
        self.sasldb = make_sasldb(self.dir, users)
        self.spool = os.path.join(self.dir, "spool")
        os.mkdir(self.spool)
        self.port = free_port()
        # The queue delivers at once: by default it is pointed at a port
        # nobody listens on, so that every attempt is deferred and queue
        # files stay in queue/ for the tests to read (override "relay" to
        # deliver to a real peer).
        self.relay_port = free_port()
        self.implicit_port = free_port() if implicit else None
        self.ipv6_port = free_port("::1") if ipv6 else None
        self.conf = os.path.join(self.dir, "submitd.conf")
        self.log_path = os.path.join(self.dir, "submitd.log")
        self.extra = extra
        self.overrides = overrides
        self.write_config(extra=extra, **overrides)

    def listeners(self):
        """[(address, port, tls)] as configured."""
        out = [("127.0.0.1", self.port, "starttls")]
        if self.implicit_port:
            out.append(("127.0.0.1", self.implicit_port, "implicit"))
        if self.ipv6_port:
            out.append(("::1", self.ipv6_port, "starttls"))
        return out

    def config_dict(self, **overrides):
        conf = {
            "hostname": HOSTNAME,
            "user": pwd.getpwuid(os.getuid()).pw_name,
            "spool_dir": self.spool,
            "control_socket": os.path.join(self.dir, "control.sock"),
            "local_domains": [DOMAIN],
            "listen": [{"address": a, "port": p, "tls": t}
                       for a, p, t in self.listeners()],
            "tls": {"certificate": self.cert, "key": self.key,
                    "min_version": "1.2"},
            "auth": {"mechanisms": ["PLAIN", "LOGIN", "SCRAM-SHA-256"],
                     "sasldb": self.sasldb, "pwcheck": "auxprop"},
            "limits": {"message_size": 10000000, "recipients": 100,
                       "errors": 10},
            "timeouts": {"command": 300, "data": 180, "handshake": 30,
                         "drain": 1},
            "relay": {"smarthost": "[127.0.0.1]:%d" % self.relay_port},
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(conf.get(key), dict):
                conf[key] = dict(conf[key], **value)
            else:
                conf[key] = value
        return conf

    def write_config(self, path=None, extra="", **overrides):
        """Writes the config (to self.conf by default) and returns its path."""
        path = path or self.conf
        with open(path, "w") as f:
            f.write(render_config(self.config_dict(**overrides)) + extra)
        return path

    def update_config(self, **more):
        """Adds overrides to those given at creation (sections merge) and
        rewrites self.conf."""
        for key, value in more.items():
            old = self.overrides.get(key)
            if isinstance(value, dict) and isinstance(old, dict):
                value = dict(old, **value)
            self.overrides[key] = value
        return self.write_config(extra=self.extra, **self.overrides)

    def write_file(self, name, text):
        """Writes text to a file in the test directory; returns its path."""
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def remove(self):
        remove_tmpdir(self.dir)


# -------------------------------------------------------------------- daemon

_daemons = {}


@atexit.register
def _kill_all_daemons():
    for pid in list(_daemons):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class DaemonError(AssertionError):
    pass


class Daemon:
    """The submitd process under test: `submitd -d -f CONF`, output to a log."""

    def __init__(self, env, binary=None, environ=None, netns=None):
        self.env = env
        self.binary = binary or daemon_binary()
        # netns: a netns.NetNS to run in (its start-up probe goes there too).
        self.netns = netns
        # environ: variables added to the daemon's environment (e.g.
        # SSL_CERT_FILE for a test CA).
        self.environ = dict(environ or {})
        self.proc = None
        self.killed = False
        self._log_start = 0

    def start(self, timeout=10):
        if not os.path.exists(self.binary):
            raise DaemonError("daemon binary not found: " + self.binary)
        # Append: a restarted daemon keeps one log; log() shows this run only.
        self._log_start = (os.path.getsize(self.env.log_path)
                           if os.path.exists(self.env.log_path) else 0)
        self.killed = False
        logf = open(self.env.log_path, "ab")
        prefix = self.netns.prefix if self.netns else []
        self.proc = subprocess.Popen(prefix + [self.binary, "-d", "-f",
                                               self.env.conf],
                                     stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     env=(dict(os.environ, **self.environ)
                                          if self.environ else None))
        logf.close()
        _daemons[self.proc.pid] = self
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        pending = [(a, p) for a, p, _ in self.env.listeners()]
        while pending:
            if self.proc.poll() is not None:
                self._forget()
                raise DaemonError("submitd exited with %s during start-up:\n%s"
                                  % (self.proc.returncode, self.log()))
            addr, port = pending[0]
            try:
                probe = (lambda: socket.create_connection((addr, port),
                                                          timeout=1).close())
                if self.netns:
                    self.netns.call(probe)
                else:
                    probe()
                pending.pop(0)
                continue
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill9()
                raise DaemonError("submitd did not accept on %s port %d within "
                                  "%ds:\n%s" % (addr, port, timeout, self.log()))
            time.sleep(0.05)
        # The control socket is made after the listeners: wait for it too.
        sock = self.env.config_dict(**self.env.overrides).get("control_socket")
        while sock and not os.path.exists(sock) and self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.kill9()
                raise DaemonError("submitd made no control socket %s within "
                                  "%ds:\n%s" % (sock, timeout, self.log()))
            time.sleep(0.05)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _forget(self):
        if self.proc is not None:
            _daemons.pop(self.proc.pid, None)

    def log(self):
        """The log text written by this run (previous runs excluded)."""
        try:
            with open(self.env.log_path, "rb") as f:
                f.seek(self._log_start)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def full_log(self):
        try:
            with open(self.env.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=3):
        """Waits for a log line matching the regex; returns the match or None."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.log(), re.M)
            if m or time.monotonic() > deadline:
                return m
            time.sleep(0.05)

    def check_sanitizers(self):
        text = self.full_log()
        for marker in SANITIZER_MARKERS:
            if marker in text:
                raise DaemonError("sanitizer report (%s) in the daemon log:\n%s"
                                  % (marker, tail(text, 60)))
        # Every line the daemon logged parses as key=value pairs (log.h).
        for line in text.splitlines():
            if " submitd: " in line:
                try:
                    parse_logfmt(line)
                except ValueError as e:
                    raise DaemonError("log line does not parse: %s" % e)

    def stop(self, timeout=10):
        """SIGTERM, wait; fails when it does not exit 0 or a sanitizer spoke."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
                raise DaemonError("submitd did not exit within %ds of SIGTERM:\n%s"
                                  % (timeout, tail(self.log())))
        self._forget()
        self.check_sanitizers()
        if self.killed:
            return
        if self.proc.returncode != 0:
            raise DaemonError("submitd exited with %s after SIGTERM:\n%s"
                              % (self.proc.returncode, tail(self.log())))

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.killed = True
            self.proc.kill()
            self.proc.wait(10)
        self._forget()


def tail(text, n=30):
    return "\n".join(text.splitlines()[-n:])


_PAIR = re.compile(r'([a-z_][a-z0-9_]*)=("(?:[^"\\]|\\["\\]|\\x[0-9a-f]{2})*"'
                   r'|[^\s"=\\]+)(?:\s+|$)')


def parse_logfmt(line):
    """The key=value pairs of one log line after its "TIME submitd: "
    prefix, as a dict; raises ValueError when the line does not parse
    exactly as log.h promises (a key given twice included): a bare value
    holds no space, quote, backslash or "="; a quoted one escapes quotes
    and backslashes, and other bytes as \\xNN."""
    m = re.match(r"\S+ submitd: ", line)
    if not m:
        raise ValueError("no prefix: %r" % line)
    pos, pairs = m.end(), {}
    while pos < len(line):
        p = _PAIR.match(line, pos)
        if not p:
            raise ValueError("does not parse at %d: %r" % (pos, line))
        key, value = p.group(1), p.group(2)
        if key in pairs:
            raise ValueError("key %s twice: %r" % (key, line))
        if value.startswith('"'):
            value = re.sub(r'\\(x[0-9a-f]{2}|.)',
                           lambda x: chr(int(x.group(1)[1:], 16))
                           if len(x.group(1)) == 3 else x.group(1),
                           value[1:-1])
        pairs[key] = value
        pos = p.end()
    return pairs


# --------------------------------------------------------------------- spool

class QueueFile:
    """One parsed queue file: .envelope (dict; 'rcpt' is a list), .body (bytes)."""

    def __init__(self, path, data=None):
        self.path = path
        if data is None:
            with open(path, "rb") as f:
                data = f.read()
        self.size = len(data)
        head, sep, self.body = data.partition(b"\n\n")
        if not sep:
            raise ValueError("%s: no empty line after the header" % path)
        lines = head.decode("utf-8").split("\n")
        if lines[0] != "SUBMITD-QUEUE 1":
            raise ValueError("%s: first line is %r" % (path, lines[0]))
        self.envelope = {"rcpt": []}
        for line in lines[1:]:
            key, sep, value = line.partition(": ")
            if not sep:
                raise ValueError("%s: bad header line %r" % (path, line))
            if key == "rcpt":
                self.envelope["rcpt"].append(value)
            elif key in self.envelope:
                raise ValueError("%s: repeated key %r" % (path, key))
            else:
                self.envelope[key] = value

    @property
    def id(self):
        return self.envelope.get("id")

    def __repr__(self):
        return "<QueueFile %s %r>" % (os.path.basename(self.path), self.envelope)


JOURNAL_HDR = 48


def journal_messages(spool_dir):
    """The messages that live only in spool_dir/journal/ (src/journal.h): id
    -> the queue file's bytes, for each 'M' record with no 'R' after it, in
    segment order, up to the first record that does not read back whole."""
    d = os.path.join(spool_dir, "journal")
    try:
        names = sorted(n for n in os.listdir(d) if len(n) == 16)
    except FileNotFoundError:
        return {}
    live = {}
    for name in names:
        try:
            with open(os.path.join(d, name), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue            # deleted by a checkpoint meanwhile
        off = 0
        while off + JOURNAL_HDR <= len(data):
            hdr = data[off:off + JOURNAL_HDR]
            if hdr[:4] != b"SJR1":
                break
            kind = chr(hdr[4])
            length = int.from_bytes(hdr[8:16], "little")
            qid = hdr[20:40].decode("ascii", "replace")
            end = off + JOURNAL_HDR + length
            if end > len(data):
                break
            if kind == "M":
                live[qid] = data[off + JOURNAL_HDR:end]
            elif kind == "R":
                live.pop(qid, None)
            off = end
    return live


def queue_files(spool_dir, sub="queue"):
    """Names of the regular files in spool_dir/sub (sorted); for "queue",
    with the messages that live in the journal (queued all the same).  The
    journal is read first: a checkpoint writes a message's file before it
    deletes the segment that held it."""
    names = set(journal_messages(spool_dir)) if sub == "queue" else set()
    d = os.path.join(spool_dir, sub)
    try:
        names |= {n for n in os.listdir(d)
                  if os.path.isfile(os.path.join(d, n))}
    except FileNotFoundError:
        pass
    return sorted(names)


def spool_messages(spool_dir, exclude=()):
    """Parsed queued messages (queue/ files, and those in the journal),
    skipping ids in exclude."""
    held = journal_messages(spool_dir)
    out = []
    for n in queue_files(spool_dir):
        if n in exclude:
            continue
        path = os.path.join(spool_dir, "queue", n)
        if os.path.isfile(path):
            try:
                out.append(QueueFile(path))
                continue
            except FileNotFoundError:
                pass            # removed meanwhile
        if n in held:
            out.append(QueueFile(path, held[n]))
    return out


# ------------------------------------------------------------ message helpers

def make_message(token, sender=USER, rcpt="bob@example.org", extra_body=b""):
    """A message (CRLF line ends) with a unique token and lines that need
    dot-stuffing; also carries Date and Message-ID so nothing is added."""
    return (b"From: " + sender.encode() + b"\r\n"
            b"To: " + rcpt.encode() + b"\r\n"
            b"Subject: submitd test " + token.encode() + b"\r\n"
            b"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
            b"Message-ID: <" + token.encode() + b"@example.test>\r\n"
            b"\r\n"
            b"Hello Bob,\r\n"
            b".a line that starts with a dot\r\n"
            b"..two dots\r\n"
            b".\tdot and tab\r\n"
            + extra_body +
            b"last line\r\n")


# ------------------------------------------------- what submitd spools

# strip_headers' default (submitd.conf(5)).
DEFAULT_STRIP = ("Received", "X-Originating-IP", "X-Mailer", "User-Agent",
                 "X-MimeOLE", "X-Spam-*", "X-Virus-*")

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
           "Oct", "Nov", "Dec")


def split_message(data):
    """(fields, body) of a message with CRLF line ends.  fields is a list of
    (name, raw) where raw is the whole field, continuation lines and CRLFs
    included; body is what follows the empty line, or None when the message
    has no empty line (a header section only)."""
    if data.startswith(b"\r\n"):
        return [], data[2:]
    end = data.find(b"\r\n\r\n")
    head, body = (data, None) if end < 0 else (data[:end + 2], data[end + 4:])
    fields = []
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + line)
        else:
            fields.append((line.split(b":", 1)[0].decode("ascii", "replace"),
                           line))
    return fields, body


def header_fields(data, name):
    """The raw fields (bytes, folded lines included) of data named name."""
    return [raw for n, raw in split_message(data)[0]
            if n.lower() == name.lower()]


def field_matches(name, patterns):
    """Does a field name match a strip_headers list (names, "Prefix-*")?"""
    name = name.lower()
    for p in patterns:
        p = p.lower()
        if p.endswith("*") and len(p) > 1:
            if name.startswith(p[:-1]):
                return True
        elif name == p:
            return True
    return False


def smtp_date(ts):
    """RFC 5322 date in UTC as submitd writes it (C locale, "+0000")."""
    t = time.gmtime(int(ts))
    return "%s, %02d %s %04d %02d:%02d:%02d +0000" % (
        _DAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year,
        t.tm_hour, t.tm_min, t.tm_sec)


def cipher_bits(cipher):
    """Secret bits of an OpenSSL cipher name (the ones TLS 1.2+ offers)."""
    if "CHACHA20" in cipher or re.search(r"AES_?256", cipher):
        return 256
    if re.search(r"AES_?128", cipher):
        return 128
    raise ValueError("cipher_bits: unknown cipher " + cipher)


def own_received(envelope, client_ip=False, hostname=HOSTNAME):
    """submitd's own Received field for a queue file's envelope: names the
    relay, ESMTPSA and the TLS version:cipher:bits; the client's EHLO name
    and address only with received_client_ip = true."""
    version, cipher = envelope["tls"].split(" ", 1)
    head = ("Received: from %s ([%s])\r\n\tby " % (envelope["helo"],
                                                  envelope["client"])
            if client_ip else "Received: by ")
    return (head + "%s with ESMTPSA (%s:%s:%d)\r\n\tid %s; %s\r\n" % (
        hostname, version, cipher, cipher_bits(cipher), envelope["id"],
        smtp_date(envelope["arrival"]))).encode()


def expected_spooled(sent, envelope, strip=DEFAULT_STRIP, client_ip=False,
                     hostname=HOSTNAME):
    """The message submitd should spool when sent (CRLF, dot-unstuffed) was
    submitted: its own Received first, then the sent header fields minus
    those matching strip (folded lines and all), then Message-ID, Date and
    From (the envelope sender) for those the message lacked, then the body
    byte for byte."""
    fields, body = split_message(sent)
    names = {n.lower() for n, _ in fields}
    out = own_received(envelope, client_ip, hostname)
    out += b"".join(raw for n, raw in fields if not field_matches(n, strip))
    if "message-id" not in names:
        out += ("Message-ID: <%s@%s>\r\n" % (envelope["id"], hostname)).encode()
    if "date" not in names:
        out += ("Date: %s\r\n" % smtp_date(envelope["arrival"])).encode()
    if "from" not in names:
        out += ("From: <%s>\r\n" % envelope["from"]).encode()
    if body is not None:
        out += b"\r\n" + body
    return out


def dot_stuff(message):
    """The DATA stream for message (which ends with CRLF), terminator included."""
    assert message.endswith(b"\r\n")
    lines = message.split(b"\r\n")[:-1]
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n"
                    for l in lines) + b".\r\n"


def queued_id(text):
    """The queue ID in a '250 2.0.0 ... queued as ID' reply, or None."""
    m = re.search(r"250[ -]2\.0\.0 .*?\b[Qq]ueued as (\S+)", text)
    return m.group(1) if m else None


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def plain_ir(user=USER, password=PASSWORD):
    return b64("\0%s\0%s" % (user, password))


# ---------------------------------------------------------------- raw client

class Reply:
    """One SMTP reply: .code (int), .lines (texts after the code), .raw (bytes)."""

    def __init__(self, raw):
        self.raw = raw
        lines = raw.decode("utf-8", "replace").split("\r\n")[:-1]
        self.code = int(lines[0][:3])
        self.lines = [l[4:] for l in lines]

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def enhanced(self):
        """The enhanced status code of the first line, or None."""
        m = re.match(r"([245]\.\d{1,3}\.\d{1,3})(?: |$)", self.lines[0])
        return m.group(1) if m else None

    @property
    def keywords(self):
        """EHLO keywords (upper case) of a multiline 250, first line excluded."""
        return [l.split()[0].upper() for l in self.lines[1:] if l.split()]

    def __str__(self):
        return self.raw.decode("utf-8", "replace").rstrip()

    __repr__ = __str__


class ConnectionClosed(Exception):
    pass


def take_reply(buf):
    """Splits one complete reply off buf: (Reply, rest), or (None, buf)."""
    pos = 0
    while True:
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return None, buf
        line = buf[pos:end]
        if not re.match(rb"[2-5]\d\d([ -]|$)", line):
            raise ValueError("malformed reply line %r in %r" % (line, buf))
        pos = end + 2
        if len(line) == 3 or line[3:4] == b" ":
            return Reply(buf[:pos]), buf[pos:]


class SMTPClient:
    """A raw SMTP client: exact bytes out, whole replies in.

    reply() reads one (possibly multiline) reply; cmd() sends a line and
    reads its reply; starttls() upgrades the socket in place.
    """

    def __init__(self, host, port, timeout=5, implicit_tls=False, context=None,
                 source=None):
        self.timeout = timeout
        # source: a local address to connect from (any of 127.0.0.0/8 works
        # on loopback), for tests of per-address limits.
        self.sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.buf = b""
        if implicit_tls:
            self.sock = (context or client_context()).wrap_socket(self.sock)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no complete reply within %ss; have %r"
                               % (timeout, self.buf))
        except (ConnectionResetError, ssl.SSLError) as e:
            raise ConnectionClosed("connection closed (%s); have %r" % (e, self.buf))
        if not chunk:
            raise ConnectionClosed("connection closed; have %r" % self.buf)
        self.buf += chunk

    def reply(self, timeout=None):
        """Reads one full reply (all continuation lines)."""
        timeout = timeout or self.timeout
        deadline = time.monotonic() + timeout
        while True:
            r, self.buf = take_reply(self.buf)
            if r is not None:
                return r
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no complete reply within %ss; have %r"
                                   % (timeout, self.buf))
            self._fill(left)

    def cmd(self, line, timeout=None):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.reply(timeout)

    def pending(self, wait=0.3):
        """Bytes that arrive within wait seconds without being asked for."""
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                self._fill(left)
            except (TimeoutError, ConnectionClosed):
                break
        data, self.buf = self.buf, b""
        return data

    def closed_by_peer(self, timeout=3):
        """True when the server closes the connection within timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self._fill(deadline - time.monotonic())
            except ConnectionClosed:
                return True
            except TimeoutError:
                return False
        return False

    def starttls(self, context=None, server_hostname=None):
        """Upgrades the socket (after the 220 to STARTTLS has been read)."""
        if self.buf:
            raise AssertionError("bytes after the STARTTLS reply before TLS: %r"
                                 % self.buf)
        self.sock.settimeout(self.timeout)
        self.sock = (context or client_context()).wrap_socket(
            self.sock, server_hostname=server_hostname)

    @property
    def tls_version(self):
        return self.sock.version() if isinstance(self.sock, ssl.SSLSocket) else None

    # Conveniences for the common opening moves -------------------------

    def ehlo(self, name="client.example.test"):
        return self.cmd("EHLO " + name)

    def open_tls(self, name="client.example.test", context=None):
        """Banner, EHLO, STARTTLS, handshake, EHLO; returns the last EHLO reply."""
        banner = self.reply()
        assert banner.code == 220, banner
        r = self.ehlo(name)
        assert r.code == 250, r
        r = self.cmd("STARTTLS")
        assert r.code == 220, r
        self.starttls(context)
        r = self.ehlo(name)
        assert r.code == 250, r
        return r

    def login(self, user=USER, password=PASSWORD, timeout=None):
        """AUTH PLAIN with an initial response; returns the reply."""
        return self.cmd("AUTH PLAIN " + plain_ir(user, password), timeout)

    @property
    def tls_cipher(self):
        """(OpenSSL cipher name, protocol, secret bits), or None."""
        return self.sock.cipher() if isinstance(self.sock, ssl.SSLSocket) else None


def connect_authenticated(port, host="127.0.0.1", user=USER, password=PASSWORD,
                          **kw):
    """An SMTPClient after STARTTLS and a successful AUTH PLAIN."""
    c = SMTPClient(host, port, **kw)
    try:
        c.open_tls()
        r = c.login(user, password)
        if r.code != 235:
            raise AssertionError("AUTH PLAIN refused: %s" % r)
    except BaseException:
        c.close()
        raise
    return c


def wait_until(predicate, timeout=3, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def read_available(fd, timeout):
    """Reads whatever fd offers within timeout (b'' on EOF or nothing)."""
    r, _, _ = select.select([fd], [], [], timeout)
    return os.read(fd, 65536) if r else None


class PipeSMTP:
    """The raw-client reply reader over a child process's stdin/stdout, for
    talking SMTP through a tool such as `openssl s_client -quiet`."""

    def __init__(self, argv, timeout=10):
        self.timeout = timeout
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE,
                                     start_new_session=True)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def reply(self, timeout=None):
        timeout = timeout or self.timeout
        deadline = time.monotonic() + timeout
        while True:
            r, self.buf = take_reply(self.buf)
            if r is not None:
                return r
            left = deadline - time.monotonic()
            chunk = read_available(self.proc.stdout.fileno(), max(left, 0))
            if chunk is None and left <= 0:
                raise TimeoutError("no complete reply within %ss; have %r"
                                   % (timeout, self.buf))
            if chunk == b"":
                raise ConnectionClosed("%s closed its output; have %r; stderr: %s"
                                       % (self.proc.args[0], self.buf,
                                          self.stderr()))
            if chunk:
                self.buf += chunk

    def cmd(self, line, timeout=None):
        self.send(line + "\r\n")
        return self.reply(timeout)

    def stderr(self):
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read().decode("utf-8", "replace")

    def finish(self, timeout=10):
        """Closes stdin and waits; kills the child (by pid) if it lingers."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


# ------------------------------------------------------------ unittest glue

class DaemonTestCase(unittest.TestCase):
    """One daemon per class, configured from env_args (see Env).

    users: {local part: password} for the sasldb (default: alice only).
    files: {name: text} written to the test directory before the daemon
    starts; configure(env) may then return more config overrides (e.g. the
    path of such a file, env.dir + "/" + name).
    """

    env_args = {}
    users = None
    files = {}
    start_daemon = True
    daemon_environ = None   # more environment for the daemon (Daemon.environ)

    @classmethod
    def configure(cls, env):
        return {}

    @classmethod
    def setUpClass(cls):
        cls.env = Env(users=cls.users, **cls.env_args)
        cls.addClassCleanup(cls.env.remove)
        for name, text in cls.files.items():
            cls.env.write_file(name, text)
        more = cls.configure(cls.env)
        if more:
            cls.env.update_config(**more)
        cls.daemon = Daemon(cls.env, environ=cls.daemon_environ)
        cls.addClassCleanup(cls.daemon.kill9)
        if cls.start_daemon:
            cls.daemon.start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    # -- helpers --------------------------------------------------------

    @property
    def port(self):
        return self.env.port

    def token(self):
        return "%s-%s" % (self.id().rsplit(".", 1)[-1], uuid.uuid4().hex[:8])

    def log_tail(self):
        return "\n--- daemon log (tail):\n" + tail(self.daemon.full_log(), 25)

    def assertReply(self, r, code, enhanced=None, text=None):
        """Checks code (and enhanced code / text); every error reply must
        carry an enhanced status code of its class (RFC 3463)."""
        if r.code != code:
            self.fail("expected %d, got: %s%s" % (code, r, self.log_tail()))
        if enhanced is not None:
            self.assertEqual(r.enhanced, enhanced, "reply: %s" % r)
        if code >= 400:
            self.assertIsNotNone(r.enhanced, "no enhanced code: %s" % r)
            self.assertEqual(r.enhanced[0], str(code)[0], "reply: %s" % r)
        if text is not None:
            self.assertEqual(r.lines[0], text, "reply: %s" % r)

    def assertRefusalLogged(self, r, user=None, client="127.0.0.1"):
        """The daemon logged the refusal r: one line with action=reject,
        reply="<the reply>", user= (the login, or "-") and client=."""
        text = "%d %s" % (r.code, r.lines[0])
        want = [r"\baction=reject\b", r'\breply="%s"' % re.escape(text),
                r"\buser=%s(\s|$)" % re.escape(user or "-"),
                r"\bclient=%s(\s|$)" % re.escape(client)]

        def found():
            return [l for l in self.daemon.full_log().splitlines()
                    if all(re.search(w, l) for w in want)]
        if not wait_until(found):
            self.fail("refusal not logged with user=%s client=%s: %r%s"
                      % (user or "-", client, text, self.log_tail()))

    def snapshot(self):
        return set(queue_files(self.env.spool))

    def assertSpooled(self, before, message, rcpts=(RCPT,), qid=None,
                      helo=None, sender=USER, login=USER, **expect):
        """Exactly one new queue file since before, holding what submitd
        should make of message (expected_spooled(message, **expect))."""
        new = spool_messages(self.env.spool, exclude=before)
        self.assertEqual(len(new), 1, "new queue files: %r%s"
                         % (new, self.log_tail()))
        q = new[0]
        self.assertEqual(q.body, expected_spooled(message, q.envelope, **expect),
                         "spooled message differs")
        env = q.envelope
        self.assertEqual(env.get("from"), sender)
        self.assertEqual(env["rcpt"], list(rcpts))
        self.assertEqual(env.get("login"), login)
        self.assertIn("127.0.0.1", env.get("client", ""))
        self.assertTrue(env.get("tls", "").startswith("TLSv1."), env)
        self.assertTrue(env.get("id"), env)
        self.assertIn("arrival", env)
        if qid is not None:
            self.assertEqual(env["id"], qid)
        if helo is not None:
            self.assertEqual(env.get("helo"), helo)
        return q

    def assertNothingSpooled(self, before, tmp_empty=False):
        """No new queue file since before; with tmp_empty, nothing (left)
        in tmp/ either."""
        new = spool_messages(self.env.spool, exclude=before)
        self.assertEqual(new, [], "unexpected queue files" + self.log_tail())
        if tmp_empty:
            wait_until(lambda: not queue_files(self.env.spool, "tmp"))
            self.assertEqual(queue_files(self.env.spool, "tmp"), [],
                             "files left in tmp/" + self.log_tail())

    def submit(self, c, message, rcpts=(RCPT,), sender=USER):
        """MAIL, RCPT..., DATA, message over an authenticated client; returns
        the queue ID from the final 250."""
        self.assertReply(c.cmd("MAIL FROM:<%s>" % sender), 250)
        for rcpt in rcpts:
            self.assertReply(c.cmd("RCPT TO:<%s>" % rcpt), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(dot_stuff(message))
        r = c.reply(timeout=10)
        self.assertReply(r, 250, "2.0.0")
        qid = queued_id(str(r))
        self.assertIsNotNone(qid, "no 'queued as ID' in %s" % r)
        return qid

    def plain(self, source=None):
        c = SMTPClient("127.0.0.1", self.port, source=source)
        self.addCleanup(c.close)
        return c

    def tls(self, source=None):
        c = self.plain(source)
        c.open_tls()
        return c

    def authed(self, user=USER, password=PASSWORD, source=None):
        c = connect_authenticated(self.port, user=user, password=password,
                                  source=source)
        self.addCleanup(c.close)
        return c


class CountingResult(unittest.TextTestResult):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def main(module_name, optional_tools=()):
    """Runs the tests of a suite module; prints "N passed, N failed".
    Returns 0 (all passed), 1 (a failure or a required tool missing) or
    77 (an optional tool is missing: automake's SKIP)."""
    search = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t, path=search) is None]
    if missing:
        print("required tools missing: %s" % " ".join(missing))
        print("0 passed, 1 failed")
        return 1
    missing = [t for t in optional_tools if shutil.which(t, path=search) is None]
    if missing:
        print("SKIP: optional tools missing: %s" % " ".join(missing))
        return 77
    print("daemon under test:", daemon_binary())
    module = sys.modules[module_name]
    if len(sys.argv) > 1:       # test names, as unittest takes them
        suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:],
                                                              module)
    else:
        suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    total = suite.countTestCases()
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2,
                                     resultclass=CountingResult)
    result = runner.run(suite)
    skipped = len(result.skipped)
    # Tests that did not pass or skip failed, including those a failed
    # setUpClass kept from running; a failed tearDownClass (e.g. a
    # sanitizer report at shutdown) counts on top.
    class_errors = sum(1 for t, _ in result.errors
                       if isinstance(t, unittest.suite._ErrorHolder)
                       and "setUpClass" not in t.description)
    failed = total - result.passed - skipped + class_errors
    print("%d passed, %d failed" % (result.passed, failed))
    if skipped:
        print("%d skipped" % skipped)
    return 0 if failed == 0 else 1
