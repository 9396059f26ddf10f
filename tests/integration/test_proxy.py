#!/usr/bin/env python3
"""listen.proxy_protocol behind a real HAProxy (Debian's haproxy, started by
the test with its own configuration): send-proxy (v1) and send-proxy-v2 in
front of a STARTTLS and an implicit-TLS listener; the client's own address
(a 127.0.0.x the test binds) is what the daemon logs and counts.  A
connection without a header, with a bad one, or too slow, is closed.

Exit 0: all passed; 1: a failure; 77: haproxy is missing.
"""

import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness as h  # noqa: E402

HAPROXY = shutil.which("haproxy", path=os.environ.get("PATH", "") + ":/usr/sbin")
if HAPROXY is None:
    print("SKIP: haproxy is not installed (Debian: apt-get install haproxy)")
    sys.exit(77)


class ProxyTest(h.DaemonTestCase):

    @classmethod
    def configure(cls, env):
        cls.pp_port = h.free_port()          # daemon: STARTTLS, PROXY required
        cls.pp_implicit = h.free_port()      # daemon: implicit TLS, PROXY required
        cls.v1_port = h.free_port()          # haproxy: send-proxy -> pp_port
        cls.v2_port = h.free_port()          # haproxy: send-proxy-v2 -> pp_port
        cls.v2_tls = h.free_port()           # haproxy: send-proxy-v2 -> implicit
        conf = env.write_file("haproxy.cfg", """
global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend v1
    bind 127.0.0.1:%d
    default_backend b_v1
frontend v2
    bind 127.0.0.1:%d
    default_backend b_v2
frontend v2tls
    bind 127.0.0.1:%d
    default_backend b_v2tls
backend b_v1
    server s 127.0.0.1:%d send-proxy
backend b_v2
    server s 127.0.0.1:%d send-proxy-v2
backend b_v2tls
    server s 127.0.0.1:%d send-proxy-v2
""" % (cls.v1_port, cls.v2_port, cls.v2_tls, cls.pp_port, cls.pp_port,
       cls.pp_implicit))
        cls.haproxy = subprocess.Popen(
            [HAPROXY, "-f", conf, "-db"], stdin=subprocess.DEVNULL,
            stdout=open(os.path.join(env.dir, "haproxy.log"), "ab"),
            stderr=subprocess.STDOUT, start_new_session=True)
        cls.addClassCleanup(cls.stop_haproxy)
        for port in (cls.v1_port, cls.v2_port, cls.v2_tls):
            if not h.wait_until(lambda: cls.connects(port), 10):
                raise RuntimeError("haproxy did not start")
        listens = [{"address": a, "port": p, "tls": t}
                   for a, p, t in env.listeners()]
        listens += [{"address": "127.0.0.1", "port": cls.pp_port,
                     "tls": "starttls", "proxy_protocol": True},
                    {"address": "127.0.0.1", "port": cls.pp_implicit,
                     "tls": "implicit", "proxy_protocol": True}]
        return {"listen": listens, "timeouts": {"handshake": 2}}

    @classmethod
    def stop_haproxy(cls):
        cls.haproxy.terminate()
        try:
            cls.haproxy.wait(5)
        except subprocess.TimeoutExpired:
            cls.haproxy.kill()
            cls.haproxy.wait(5)

    @staticmethod
    def connects(port):
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return True
        except OSError:
            return False

    def session_of(self, pattern):
        """The session id of the daemon's log line matching pattern."""
        found = []

        def look():
            found[:] = re.findall(pattern, self.daemon.log())
            return found
        self.assertTrue(h.wait_until(look, 5), pattern + self.log_tail())
        return found[-1]

    def test_v1_and_v2_in_front_of_starttls(self):
        for port, source in ((self.v1_port, "127.0.0.21"),
                             (self.v2_port, "127.0.0.22")):
            with self.subTest(port=port):
                c = h.SMTPClient("127.0.0.1", port, source=source)
                c.open_tls()
                self.assertReply(c.login(), 235)
                sid = self.session_of(r"session=(\w+) client=%s event=proxy "
                                      r"result=ok via=127\.0\.0\.1"
                                      % re.escape(source))
                self.submit(c, h.make_message(self.token()))
                c.cmd("QUIT")
                c.close()
                # Every later line of the session names the real client.
                self.assertTrue(h.wait_until(lambda: re.search(
                    r"session=%s client=%s user=alice@example\.test "
                    r"event=disconnect" % (sid, re.escape(source)),
                    self.daemon.log())), self.log_tail())
                self.assertRegex(self.daemon.log(),
                                 r"session=%s queue=\w+ action=accept "
                                 r"user=alice@example\.test client=%s "
                                 % (sid, re.escape(source)))

    def test_v2_in_front_of_implicit_tls(self):
        # The TLS ClientHello follows the header at once: nothing is lost.
        c = h.SMTPClient("127.0.0.1", self.v2_tls, implicit_tls=True,
                         source="127.0.0.23")
        self.assertReply(c.reply(), 220)
        self.assertReply(c.ehlo(), 250)
        self.assertReply(c.login(), 235)
        c.close()
        self.session_of(r"session=(\w+) client=127\.0\.0\.23 event=proxy "
                        r"result=ok")

    def test_policy_counts_the_real_client(self):
        # A ban from behind the balancer is the client's, not the balancer's.
        bad = "127.0.0.31"
        for _ in range(5):          # limits.auth_failures
            c = h.SMTPClient("127.0.0.1", self.v2_port, source=bad)
            c.open_tls()
            self.assertReply(c.login(password="wrong"), 535)
            c.close()
        self.assertTrue(h.wait_until(lambda: re.search(
            r"client=%s event=ban" % re.escape(bad), self.daemon.log())),
            self.log_tail())
        # The banned client hears 421 at once; another behind the same
        # balancer logs in.
        c = h.SMTPClient("127.0.0.1", self.v2_port, source=bad)
        self.assertReply(c.reply(), 421, "4.7.0")
        c.close()
        c = h.SMTPClient("127.0.0.1", self.v2_port, source="127.0.0.32")
        c.open_tls()
        self.assertReply(c.login(), 235)
        c.close()

    def raw(self, data, port=None, wait=3):
        s = socket.create_connection(("127.0.0.1", port or self.pp_port), 5)
        if data:
            s.sendall(data)
        s.settimeout(wait)
        try:
            got = s.recv(100)
        except socket.timeout:
            got = None
        except ConnectionResetError:
            got = b""       # closed with our bytes unread: a reset
        s.close()
        return got

    def test_without_a_header(self):
        # No banner is ever sent to a connection without a header; it is
        # closed at the handshake timeout (2 s here).
        # (raw gives None when nothing came within 6 s: not closed.)
        self.assertEqual(self.raw(b"", wait=6), b"")
        self.assertTrue(h.wait_until(lambda: "no header within the handshake "
                                     "timeout" in self.daemon.log()))

    def test_bad_headers_are_closed(self):
        for data in (b"EHLO client.example.test\r\n",
                     b"PROXY TCP4 999.0.0.1 127.0.0.1 1 2\r\n",
                     b"PROXY TCP4 192.0.2.1 127.0.0.1 1 2\n",
                     b"\r\n\r\n\x00\r\nQUIT\n\x21\x12\x00\x0c" + b"\x00" * 12):
            with self.subTest(data=data):
                self.assertEqual(self.raw(data), b"")
        self.assertTrue(h.wait_until(lambda: "not a PROXY header" in
                                     self.daemon.log()))

    def test_header_in_pieces_and_local(self):
        # A header that arrives in pieces, then SMTP as usual.
        s = socket.create_connection(("127.0.0.1", self.pp_port), 5)
        s.sendall(b"PROXY TCP4 198.51")
        time.sleep(0.2)
        s.sendall(b".100.7 127.0.0.1 40000 587\r\n")
        s.settimeout(5)
        self.assertTrue(s.recv(100).startswith(b"220 "))
        s.close()
        self.session_of(r"client=198\.51\.100\.7 event=proxy result=ok")
        # A LOCAL (health check) header keeps the socket's address.
        got = self.raw(b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00")
        self.assertTrue(got.startswith(b"220 "), got)
        self.session_of(r"client=127\.0\.0\.1 event=proxy result=ok "
                        r"via=127\.0\.0\.1 local=yes")

    def test_plain_listener_needs_no_header(self):
        c = self.authed()
        c.close()


if __name__ == "__main__":
    sys.exit(h.main(__name__, ()))
