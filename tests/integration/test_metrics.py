#!/usr/bin/env python3
"""The Prometheus endpoint (metrics { address port }) of the real daemon,
scraped with curl after real traffic (AUTH that succeeds and fails, a
message, refusals), checked line by line and with promtool check metrics
(Debian's prometheus package) when it is installed.

Exit 0: all passed; 1: a failure.
"""

import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness as h  # noqa: E402

PROMTOOL = shutil.which("promtool", path=os.environ.get("PATH", "") + ":/usr/bin")


def samples(text):
    """{name{labels}: value} of the exposition text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


class MetricsTest(h.DaemonTestCase):

    @classmethod
    def configure(cls, env):
        cls.mport = h.free_port()
        return {"metrics": {"address": "127.0.0.1", "port": cls.mport}}

    def scrape(self, path="/metrics", method="GET"):
        p = subprocess.run([h.tool("curl"), "-s", "-X", method, "-o", "-",
                            "-w", "\n%{http_code} %{content_type}",
                            "http://127.0.0.1:%d%s" % (self.mport, path)],
                           capture_output=True, text=True, timeout=20)
        body, _, status = p.stdout.rpartition("\n")
        return status, body

    def test_traffic_shows(self):
        before = samples(self.scrape()[1])
        c = self.authed()
        self.submit(c, h.make_message(self.token()))
        self.assertReply(c.cmd("RCPT TO:<x@example.org>"), 503)
        self.assertReply(c.cmd("QUIT"), 221)
        c.close()
        c = self.tls()
        self.assertReply(c.login(password="wrong"), 535)
        c.close()

        def grown():
            now = samples(self.scrape()[1])
            return (now.get('submitd_messages_accepted_total', 0) >
                    before.get('submitd_messages_accepted_total', 0)) and now
        now = h.wait_until(grown, 5)
        self.assertTrue(now, self.log_tail())
        d = lambda k: now.get(k, 0) - before.get(k, 0)  # noqa: E731
        self.assertEqual(d('submitd_auth_total{mechanism="PLAIN",result="ok"}'), 1)
        self.assertEqual(d('submitd_auth_total{mechanism="PLAIN",result="fail"}'),
                         1)
        self.assertGreaterEqual(d('submitd_tls_handshakes_total{version="TLSv1.3"}')
                                + d('submitd_tls_handshakes_total{version="TLSv1.2"}'),
                                2)
        self.assertGreaterEqual(d('submitd_refusals_total{code="5.5.1"}'), 1)
        self.assertGreaterEqual(d('submitd_refusals_total{code="5.7.8"}'), 1)
        self.assertEqual(d("submitd_commit_seconds_count"), 1)
        self.assertEqual(now['submitd_commit_seconds_bucket{le="+Inf"}'],
                         now["submitd_commit_seconds_count"])
        self.assertGreater(now["submitd_message_bytes_total"], 0)
        self.assertGreaterEqual(now["submitd_queue_messages"], 1)
        self.assertGreaterEqual(now["submitd_queue_oldest_seconds"], 0)
        self.assertIn("submitd_sessions", now)
        self.assertIn("submitd_outbound_connections", now)
        self.assertIn("submitd_suspended_logins", now)
        self.assertIn('submitd_delivery_seconds_bucket{le="+Inf"}', now)
        # The QUIT: closed after its 221.
        self.assertTrue(h.wait_until(lambda: samples(self.scrape()[1]).get(
            'submitd_sessions_ended_total{reason="closed"}', 0) > before.get(
            'submitd_sessions_ended_total{reason="closed"}', 0), 5))

    def test_format(self):
        status, body = self.scrape()
        self.assertTrue(status.startswith("200 text/plain; version=0.0.4"), status)
        # Every sample has its HELP and TYPE, counters end in _total.
        types = dict(re.findall(r"(?m)^# TYPE (\S+) (\S+)$", body))
        for name in samples(body):
            base = re.sub(r"\{.*", "", name)
            base = re.sub(r"_(bucket|sum|count)$", "", base) \
                if base not in types else base
            self.assertIn(base, types, name)
            if types[base] == "counter":
                self.assertTrue(base.endswith("_total"), base)
        if PROMTOOL:
            p = subprocess.run([PROMTOOL, "check", "metrics"], input=body,
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_other_paths_and_methods(self):
        self.assertTrue(self.scrape("/")[0].startswith("404"))
        self.assertTrue(self.scrape("/metrics", "POST")[0].startswith(
            ("405", "501")))

    def test_pipelined_requests_do_not_pile_up(self):
        # One request a connection: a client that pipelines and never reads
        # cannot make the daemon keep its requests (or replies) around.
        import socket
        s = socket.create_connection(("127.0.0.1", self.mport), 5)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 200)
        s.settimeout(5)
        got = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
        s.close()
        self.assertEqual(got.count(b"HTTP/1.1 200"), 1)
        self.assertIn(b"Connection: close", got)

    def test_bad_port_is_refused(self):
        conf = self.env.write_config(
            path=os.path.join(self.env.dir, "bad-metrics.conf"),
            metrics={"port": 70000})
        p = subprocess.run([self.daemon.binary, "-n", "-f", conf],
                           capture_output=True, text=True, timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("metrics.port", p.stderr)


if __name__ == "__main__":
    sys.exit(h.main(__name__, ()))
