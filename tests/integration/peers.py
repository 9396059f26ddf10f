"""Real next hops for the delivery tests: SMTP servers (aiosmtpd) and a DNS
server (dnsmasq), all on loopback.

  Peer            an aiosmtpd server in a thread of the test process, on a
                  given or free port of a given loopback address; STARTTLS
                  with a given certificate, AUTH PLAIN/LOGIN checked against
                  a dict, replies chosen per recipient (rcpt_reply) or per
                  message (data_reply); records what arrives (Arrival: the
                  envelope, the bytes, TLS version/cipher, AUTH login and
                  which connection carried it) and how many connections are
                  open right now (open_connections; mark_open()/peak_open
                  for the most open at once over a stretch of time).
                  start()/stop() may be called again on the same port: a
                  next hop that goes down and up.
  Postfix         a real Postfix (postfix -c DIR) as a next hop that
                  offers DSN, SMTPUTF8 and CHUNKING, delivering into a
                  Maildir the test reads.
  DNS             dnsmasq on a free port of 127.0.0.1 with the records a test
                  asks for (MX, A, null MX); the daemon's `resolver` points at
                  it.  Stopped by pid.
  make_ca(),      a test CA and certificates it signs, for names (DNS SANs)
  make_signed()   and addresses (IP SANs); the daemon trusts the CA through
                  SSL_CERT_FILE in its environment.
  loopback_address()   a random 127.x.y.z whose port (25 by default) is
                  free: MX hosts always listen on 25, so each gets its own
                  address (the tests run as root).

aiosmtpd ships with Debian (python3-aiosmtpd) and loads in /usr/bin/python3
only; importing this module elsewhere raises ImportError.
"""

import asyncio
import atexit
import logging
import os
import random
import signal
import socket
import ssl
import subprocess
import threading
import time
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

import harness as h

# aiosmtpd logs every failed handshake with a traceback and warns about AUTH
# in clear, which some tests set up on purpose: the tests check what the
# peers saw instead.
logging.getLogger("mail.log").setLevel(logging.CRITICAL)
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")

# ------------------------------------------------------------ addresses


def loopback_address(port=25):
    """A random 127.x.y.z (not 127.0.0.x) where port is free for TCP."""
    for _ in range(100):
        addr = "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 255),
                                 random.randint(2, 254))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((addr, port))
                return addr
            except OSError:
                continue
    raise RuntimeError("no free loopback address for port %d" % port)


def free_udp_tcp_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on host (DNS uses both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                    return port
                except OSError:
                    continue
    raise RuntimeError("no port free for UDP and TCP")


# ------------------------------------------------------------------ TLS

def make_ca(directory, name="ca", cn="submitd test CA"):
    """A self-signed CA (P-256); returns (cert_path, key_path)."""
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + "-key.pem")
    h.run([h.tool("openssl"), "req", "-x509", "-newkey", "ec",
           "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-subj", "/CN=" + cn, "-days", "2",
           "-addext", "basicConstraints=critical,CA:TRUE",
           "-addext", "keyUsage=critical,keyCertSign,cRLSign",
           "-keyout", key, "-out", cert])
    return cert, key


def make_signed(directory, ca, name, dns=(), ips=()):
    """A server certificate signed by ca (cert, key) with the given DNS and
    IP subjectAltNames; returns (cert_path, key_path)."""
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + "-key.pem")
    csr = os.path.join(directory, name + ".csr")
    ext = os.path.join(directory, name + ".ext")
    sans = ["DNS:" + d for d in dns] + ["IP:" + i for i in ips]
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=%s\n" % ",".join(sans))
    h.run([h.tool("openssl"), "req", "-new", "-newkey", "ec",
           "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-subj", "/CN=" + (list(dns) + list(ips))[0],
           "-keyout", key, "-out", csr])
    h.run([h.tool("openssl"), "x509", "-req", "-in", csr, "-CA", ca[0],
           "-CAkey", ca[1], "-CAcreateserial", "-days", "2",
           "-extfile", ext, "-out", cert])
    return cert, key


def server_context(cert, key, maximum=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if maximum is not None:
        ctx.set_ciphers("DEFAULT@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = maximum
    return ctx


# ---------------------------------------------------------------- SMTP peer

class Arrival:
    """One message a peer accepted."""

    def __init__(self, mail_from, rcpts, data, tls, cipher, conn, login, helo,
                 client):
        self.mail_from = mail_from      # "" for <>
        self.rcpts = rcpts
        self.data = data                # bytes, dot-unstuffed, CRLF
        self.tls = tls                  # "TLSv1.3" or None
        self.cipher = cipher
        self.conn = conn                # number of the connection (1, 2, ...)
        self.login = login              # AUTH login or None
        self.helo = helo
        self.client = client            # (ip, port) of the daemon's socket

    def __repr__(self):
        return "<Arrival from=<%s> to=%r tls=%s conn=%d %d bytes>" % (
            self.mail_from, self.rcpts, self.tls, self.conn, len(self.data))


DROP = object()     # data_reply's answer to close the connection instead


def _sender(envelope):
    """The envelope sender, "" for the null sender (aiosmtpd says "<>")."""
    return "" if envelope.mail_from in (None, "<>") else envelope.mail_from


class _Handler:
    def __init__(self, peer):
        self.peer = peer

    def _conn(self, server):
        return self.peer._conn_number(server)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self._conn(server)
        session.host_name = hostname
        self.peer.ehlos.append((self._conn(server), hostname,
                                session.ssl is not None))
        if self.peer.refuse_ehlo:
            return [self.peer.refuse_ehlo]
        if self.peer.pipelining:
            responses.insert(-1, "250-PIPELINING")
        for ext in self.peer.extensions:
            # RFC 8689 §4: REQUIRETLS only over TLS.
            if ext == "REQUIRETLS" and session.ssl is None:
                continue
            if ext != "SMTPUTF8":       # aiosmtpd offers that one itself
                responses.insert(-1, "250-" + ext)
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        self._conn(server)
        session.host_name = hostname
        return "250 %s" % self.peer.name

    async def handle_MAIL(self, server, session, envelope, address, options):
        self.peer.commands.append((self._conn(server), "MAIL", address,
                                   " ".join(options)))
        # Commands already waiting behind MAIL: the client pipelined them.
        waiting = getattr(getattr(server, "_reader", None), "_buffer", b"")
        if waiting:
            self.peer.pipelined.append(bytes(waiting))
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        self.peer.commands.append((self._conn(server), "RCPT", address, ""))
        sender = _sender(envelope)
        reply = (self.peer.rcpt_reply(sender, address)
                 if self.peer.rcpt_reply else None)
        if reply:
            self.peer.refused.append((sender, address, reply))
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_RSET(self, server, session, envelope):
        self.peer.commands.append((self._conn(server), "RSET", "", ""))
        return "250 2.0.0 OK"

    async def handle_DATA(self, server, session, envelope):
        peer = self.peer
        reply = (peer.data_reply(envelope) if peer.data_reply else None)
        attempt = (_sender(envelope), list(envelope.rcpt_tos),
                   reply or "250")
        peer.data_attempts.append(attempt)
        if isinstance(reply, (int, float)) and not isinstance(reply, bool):
            # Accepted (a real server commits before it answers), but the
            # reply to the final dot comes only after this many seconds.
            peer.arrivals.append(self._arrival(server, session, envelope))
            await asyncio.sleep(reply)
            return "250 2.0.0 OK accepted late"
        if reply is DROP:
            # The connection breaks before the reply to the final dot.
            server.transport.abort()
            return "421 4.4.2 (never seen: the connection is gone)"
        if reply and not reply.startswith("2"):
            return reply
        peer.arrivals.append(self._arrival(server, session, envelope))
        return reply or "250 2.0.0 OK accepted"

    def _arrival(self, server, session, envelope):
        tls = cipher = None
        if session.ssl is not None and session.ssl.get("ssl_object"):
            obj = session.ssl["ssl_object"]
            tls = obj.version()
            cipher = obj.cipher()[0] if obj.cipher() else None
        login = None
        if session.authenticated and session.auth_data is not None:
            login = getattr(session.auth_data, "login", session.auth_data)
            if isinstance(login, bytes):
                login = login.decode("utf-8", "replace")
        return Arrival(_sender(envelope), list(envelope.rcpt_tos),
                       bytes(envelope.original_content), tls, cipher,
                       self._conn(server), login, session.host_name,
                       session.peer)


class _SMTP(SMTP):
    """aiosmtpd's server protocol, one per connection, telling its Peer when
    the connection opens and closes (connection_made comes again after
    STARTTLS: the Peer keeps a set)."""

    def __init__(self, peer, *args, **kw):
        self._peer = peer
        super().__init__(*args, **kw)

    def connection_made(self, transport):
        self._peer._opened(self)
        super().connection_made(transport)
        # Implicit TLS (the Peer's implicit=True): aiosmtpd leaves
        # session.ssl unset when TLS came before SMTP.
        obj = transport.get_extra_info("ssl_object")
        if obj is not None and self.session.ssl is None:
            self.session.ssl = {"ssl_object": obj}

    def connection_lost(self, error):
        self._peer._closed(self)
        super().connection_lost(error)

    def _take_params(self, verb, arg, names):
        """Records the command as sent; drops the parameters the Peer
        offers (aiosmtpd knows none of DSN and REQUIRETLS) before aiosmtpd
        parses the rest."""
        self._peer.raw.append((self._peer._conn_number(self), verb, arg or ""))
        if not arg:
            return arg
        words = arg.split(" ")
        keep = [w for w in words
                if w.split("=", 1)[0].upper() not in names]
        return " ".join(keep)

    async def smtp_MAIL(self, arg):
        names = set()
        if "DSN" in self._peer.extensions:
            names |= {"RET", "ENVID"}
        if "REQUIRETLS" in self._peer.extensions:
            names.add("REQUIRETLS")
        return await super().smtp_MAIL(self._take_params("MAIL", arg, names))

    async def smtp_RCPT(self, arg):
        names = {"NOTIFY", "ORCPT"} if "DSN" in self._peer.extensions else set()
        return await super().smtp_RCPT(self._take_params("RCPT", arg, names))


class _Controller(Controller):
    def __init__(self, peer, *args, **kw):
        self._peer = peer
        super().__init__(*args, **kw)

    def factory(self):
        return _SMTP(self._peer, self.handler, **self.SMTP_kwargs)


class Peer:
    """An SMTP next hop (aiosmtpd) on host:port.

    tls: (cert, key) to offer STARTTLS (or an ssl.SSLContext), None for none.
    users: {login: password} to offer AUTH (PLAIN, LOGIN) after TLS;
    require_auth: MAIL needs AUTH first; auth_require_tls=False offers AUTH
    in clear too.  rcpt_reply(mail_from, rcpt) and data_reply(envelope)
    return a reply string to refuse, or None to accept (data_reply may
    return DROP: the connection is cut where the reply to the final dot
    would be; or a number: the message is taken, the 250 comes that many
    seconds later).  pipelining: advertise PIPELINING (aiosmtpd handles
    pipelined commands in order anyway); refuse_ehlo: the reply to EHLO
    (the client must fall back to HELO); data_size_limit: SIZE;
    extensions: any of "DSN", "SMTPUTF8", "REQUIRETLS" to offer (after
    TLS for REQUIRETLS), their parameters accepted; raw records each MAIL
    and RCPT argument as it came.
    """

    def __init__(self, host="127.0.0.1", port=None, tls=None, users=None,
                 require_auth=False, auth_require_tls=True, name="mx.test",
                 rcpt_reply=None, data_reply=None, pipelining=False,
                 refuse_ehlo=None, data_size_limit=None, implicit=False,
                 extensions=()):
        self.implicit = implicit
        self.extensions = tuple(extensions)
        self.pipelining = pipelining
        self.refuse_ehlo = refuse_ehlo
        self.data_size_limit = data_size_limit
        self.host = host
        self.port = port or h.free_port(host)
        self.name = name
        self.tls = tls
        self.users = users
        self.require_auth = require_auth
        self.auth_require_tls = auth_require_tls
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply
        self.controller = None
        self._lock = threading.Lock()
        self._open = set()          # _SMTP instances with a live connection
        self._peak = 0
        self.reset()

    def reset(self):
        """Forgets what was seen (arrivals, connections, AUTH attempts)."""
        self.arrivals = []
        self.data_attempts = []
        self.refused = []
        self.ehlos = []
        self.commands = []          # (conn, verb, address, parameters)
        self.raw = []               # (conn, "MAIL"|"RCPT", argument as sent)
        self.pipelined = []         # what waited behind a MAIL command
        self.auth_attempts = []     # (login, password, accepted)
        self._servers = []

    def _conn_number(self, server):
        with self._lock:
            for i, s in enumerate(self._servers):
                if s is server:
                    return i + 1
            self._servers.append(server)    # kept: ids stay unique
            return len(self._servers)

    @property
    def connections(self):
        """Connections that said EHLO/HELO (the start-up probe does not)."""
        return len(self._servers)

    def _opened(self, server):
        with self._lock:
            self._open.add(server)
            self._peak = max(self._peak, len(self._open))

    def _closed(self, server):
        with self._lock:
            self._open.discard(server)

    @property
    def open_connections(self):
        """Connections open right now (the start-up probe included while
        it lasts)."""
        with self._lock:
            return len(self._open)

    def mark_open(self):
        """Starts a stretch for peak_open; returns open_connections."""
        with self._lock:
            self._peak = len(self._open)
            return self._peak

    @property
    def peak_open(self):
        """The most connections open at once since mark_open()."""
        with self._lock:
            return self._peak

    def _authenticator(self, server, session, envelope, mechanism, data):
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = data.login.decode("utf-8", "replace")
        password = data.password.decode("utf-8", "replace")
        ok = self.users is not None and self.users.get(login) == password
        self.auth_attempts.append((login, password, ok))
        if ok:
            return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)

    @property
    def address(self):
        return "[%s]:%d" % (self.host, self.port)

    def start(self):
        if self.controller is not None:
            return self
        ctx = self.tls
        if isinstance(ctx, tuple):
            ctx = server_context(*ctx)
        kw = {}
        if self.users is not None:
            kw["authenticator"] = self._authenticator
        # aiosmtpd offers SMTPUTF8 unless told not to.
        kw["enable_SMTPUTF8"] = "SMTPUTF8" in self.extensions
        auth_require_tls = self.auth_require_tls
        if self.implicit:
            kw["ssl_context"] = ctx
            ctx = None
            auth_require_tls = False    # aiosmtpd knows only STARTTLS
        self.controller = _Controller(
            self, _Handler(self), hostname=self.host, port=self.port,
            server_hostname=self.name, ident="test peer", tls_context=ctx,
            require_starttls=False, auth_required=self.require_auth,
            auth_require_tls=auth_require_tls, ready_timeout=10,
            data_size_limit=self.data_size_limit or 33554432, **kw)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            try:
                self.controller.stop()
            finally:
                self.controller = None

    @property
    def running(self):
        return self.controller is not None

    def wait_arrivals(self, n, timeout=10, pred=None):
        """Waits until at least n arrivals (matching pred) are in; returns
        those matching."""
        def matching():
            return [a for a in list(self.arrivals) if pred is None or pred(a)]
        h.wait_until(lambda: len(matching()) >= n, timeout, 0.05)
        return matching()

    def with_token(self, token, dsn=False):
        """Arrivals whose bytes contain token: messages (dsn=False) or DSNs
        (dsn=True, MAIL FROM:<>), which quote the headers of the message."""
        t = token.encode() if isinstance(token, str) else token
        return [a for a in list(self.arrivals)
                if t in a.data and (a.mail_from == "") == dsn]


# ---------------------------------------------------------------- Postfix

# The services besides smtpd, shared with bench/compare.sh.
POSTFIX_SERVICES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "postfix-master.cf")


def have_postfix():
    return os.path.exists("/usr/sbin/postfix") and \
        os.path.exists("/usr/lib/postfix/sbin/smtpd")


class Postfix:
    """A real Postfix (Debian's package, postfix(1) -c DIR) as a next hop on
    host:port: STARTTLS with cert/key, and every recipient in domains
    delivered by virtual(8) into one Maildir, whose files messages() reads.
    It offers what Postfix offers: PIPELINING, SIZE, 8BITMIME, DSN,
    SMTPUTF8, CHUNKING (not REQUIRETLS).  Its own queue, configuration and
    log (log(): maillog) live in a temporary directory of their own, which
    its unprivileged processes can enter (the tests' are 0700)."""

    def __init__(self, cert, key, domains, host="127.0.0.1", port=None,
                 extra=""):
        self.dir = h.make_tmpdir("submitd-postfix-")
        os.chmod(self.dir, 0o755)
        self.host = host
        self.port = port or h.free_port(host)
        self.cert, self.key, self.domains, self.extra = cert, key, domains, extra
        self.maildir = os.path.join(self.dir, "mail", "box")

    @property
    def address(self):
        return "[%s]:%d" % (self.host, self.port)

    def _postfix(self, *args):
        return subprocess.run(["/usr/sbin/postfix", "-c",
                               os.path.join(self.dir, "etc")] + list(args),
                              capture_output=True, text=True, timeout=60)

    def start(self):
        d = self.dir
        for sub in ("etc", "queue", "data", "mail"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        os.chown(os.path.join(d, "data"), _uid("postfix"), -1)
        os.chown(os.path.join(d, "mail"), _uid("nobody"), -1)
        # The key must be readable by smtpd (it runs as postfix).
        chain = os.path.join(d, "etc", "chain.pem")
        with open(chain, "w") as out:
            for path in (self.key, self.cert):
                with open(path) as f:
                    out.write(f.read())
        with open(os.path.join(d, "etc", "main.cf"), "w") as f:
            f.write("""compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.test
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = {host}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_tls_security_level = may
smtpd_tls_chain_files = {chain}
smtpd_relay_restrictions = permit_mynetworks, reject
virtual_mailbox_domains = {domains}
virtual_mailbox_base = {d}/mail
virtual_mailbox_maps = static:box/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
smtputf8_enable = yes
maillog_file = {d}/data/maillog
maillog_file_prefixes = {d}/data
biff = no
{extra}
""".format(d=d, host=self.host, chain=chain, domains=" ".join(self.domains),
                uid=_uid("nobody"), gid=_gid("nogroup"), extra=self.extra))
        with open(os.path.join(d, "etc", "master.cf"), "w") as f:
            with open(POSTFIX_SERVICES) as services:
                f.write("%s:%d inet n - n - - smtpd\n" % (self.host, self.port)
                        + services.read())
        p = self._postfix("start")
        if p.returncode != 0:
            raise RuntimeError("postfix did not start: %s %s %s" % (
                p.stdout, p.stderr, self.log()[-3000:]))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex((self.host, self.port)) == 0:
                    return self
            time.sleep(0.1)
        raise RuntimeError("postfix does not listen on %d: %s" % (
            self.port, self.log()))

    def stop(self):
        self._postfix("stop")

    def log(self):
        try:
            with open(os.path.join(self.dir, "data", "maillog"),
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def messages(self):
        """The delivered messages, as virtual(8) wrote them."""
        out = []
        new = os.path.join(self.maildir, "new")
        for name in sorted(os.listdir(new)) if os.path.isdir(new) else ():
            with open(os.path.join(new, name), "rb") as f:
                out.append(f.read())
        return out

    def with_token(self, token):
        t = token.encode() if isinstance(token, str) else token
        return [m for m in self.messages() if t in m]


def _uid(name):
    import pwd
    return pwd.getpwnam(name).pw_uid


def _gid(name):
    import grp
    return grp.getgrnam(name).gr_gid


# ---------------------------------------------------------------- DNS

_dns_procs = {}


@atexit.register
def _kill_dns():
    for pid in list(_dns_procs):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class DNS:
    """dnsmasq on 127.0.0.1:port answering only from its own records.

    mx: [(domain, host, preference)] (host "." is a null MX, RFC 7505);
    a: [(name, address)]; txt: [(name, text)], text cut into strings of
    255 octets; the zones in local (default: "test") answer NXDOMAIN for
    unknown names.
    """

    def __init__(self, directory, mx=(), a=(), local=("test",), txt=()):
        self.port = free_udp_tcp_port()
        self.log_path = os.path.join(directory, "dnsmasq.log")
        argv = [h.tool("dnsmasq"), "-d", "-k", "-C", "/dev/null",
                "--port=%d" % self.port, "--listen-address=127.0.0.1",
                "--bind-interfaces", "--no-resolv", "--no-hosts",
                "--pid-file=", "--user=root", "--log-queries",
                "--log-facility=" + self.log_path]
        argv += ["--local=/%s/" % z for z in local]
        argv += ["--mx-host=%s,%s,%d" % m for m in mx]
        argv += ["--host-record=%s,%s" % r for r in a]
        # On the command line dnsmasq takes no quotes: a comma separates
        # the strings (so a text may hold none).
        argv += ["--txt-record=%s,%s" % (name, ",".join(
            text[i:i + 255] for i in range(0, len(text), 255)))
            for name, text in txt]
        self.argv = argv
        self.proc = None

    @property
    def resolver(self):
        return "127.0.0.1:%d" % self.port

    def start(self, timeout=10):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE,
                                     start_new_session=True)
        _dns_procs[self.proc.pid] = self
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode("utf-8", "replace")
                _dns_procs.pop(self.proc.pid, None)
                raise RuntimeError("dnsmasq exited with %s: %s"
                                   % (self.proc.returncode, err))
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("dnsmasq did not start on port %d"
                                       % self.port)
                time.sleep(0.05)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stderr:
            self.proc.stderr.close()
        _dns_procs.pop(self.proc.pid, None)
        self.proc = None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


# ---------------------------------------------------------------- HTTPS

class Request:
    def __init__(self, method, host, path, headers, body):
        self.method = method
        self.host = host            # the Host header, without a port
        self.path = path
        self.headers = headers      # {lower-case name: value}
        self.body = body

    def __repr__(self):
        return "<Request %s https://%s%s %d bytes>" % (
            self.method, self.host, self.path, len(self.body))


class HTTPS:
    """An HTTPS server (http.server in a thread) on host:port (443 of a
    random 127.x.y.z by default: MTA-STS policy hosts and TLS-RPT https:
    endpoints have no port of their own), with certificate cert = (cert,
    key) whose names cover the hosts it serves.

    pages: {(host, path): (status, body, headers)} answer GETs; a host or
    path missing is a 404.  POSTs are answered 200 (or post_status) and
    kept with every request in requests.
    """

    def __init__(self, cert, host=None, port=443, pages=None, post_status=200):
        import http.server
        self.host = host or loopback_address(port)
        self.port = port
        self.pages = dict(pages or {})
        self.post_status = post_status
        self.requests = []
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _host(self):
                return (self.headers.get("Host") or "").rsplit(":", 1)[0] \
                    if not (self.headers.get("Host") or "").startswith("[") \
                    else self.headers.get("Host")

            def _record(self, body=b""):
                peer.requests.append(Request(
                    self.command, self._host(), self.path,
                    {k.lower(): v for k, v in self.headers.items()}, body))

            def _send(self, status, body, headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._record()
                page = peer.pages.get((self._host(), self.path))
                if page is None:
                    self._send(404, b"not here\n")
                    return
                status, body, headers = page
                if isinstance(body, str):
                    body = body.encode()
                self._send(status, body, headers)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                self._record(body)
                self._send(peer.post_status, b"")

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*cert)
        self.server = http.server.ThreadingHTTPServer((self.host, port), Handler)
        self.server.daemon_threads = True
        self.server.socket = ctx.wrap_socket(self.server.socket,
                                             server_side=True)
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.thread is not None:
            self.server.shutdown()
            self.thread.join(5)
            self.thread = None
        self.server.server_close()

    def fetches(self, host, path="/.well-known/mta-sts.txt"):
        return [r for r in list(self.requests)
                if r.method == "GET" and r.host == host and r.path == path]

    def posts(self):
        return [r for r in list(self.requests) if r.method == "POST"]
