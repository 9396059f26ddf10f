#!/usr/bin/env python3
"""What an attacker tries against the running daemon, and what must hold
(issue 9 of the hostile review), each against the real daemon:

  PrivilegeTest        root never follows a link the daemon's user planted
                       in the spool, never reads a key through a directory
                       that user may change, never blocks on a FIFO; the
                       control socket is made as that user
  ParallelLockoutTest  40 sessions sending one AUTH each at once check at
                       most auth_failures guesses
  LoginLockTest        failures of one login from many addresses (127.0.0.x
                       and ::1) lock the login; stats and the log say so
  IPv6PrefixTest       two addresses of one IPv6 /64 (in a network namespace
                       of the test's own) share one lock-out
  ScramProbeTest       SCRAM answers an unknown login as it does a known
                       one, the same salt every time, across restarts;
                       cancelling counts as a failure
  IdentityHeaderTest   Sender:, Resent-From:, Resent-Sender: must name the
                       login's addresses; Authentication-Results claiming
                       our authserv-id are removed
  LogInjectionTest     every log line parses as key=value pairs, whatever
                       the client chose to send
  DrainTest            SIGTERM: sessions finish for timeouts.drain, then
                       every one still open is told 421 4.3.2
  ReloadTest           SIGHUP and submitctl reload re-read everything, the
                       certificate included; a bad file keeps the old one

Run by `make check` as `$(PYTHON3) tests/integration/test_security.py`
with top_builddir/top_srcdir set.  The privilege and namespace tests need
root and are skipped otherwise.
"""

import base64
import hashlib
import hmac
import os
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness as h  # noqa: E402
import netns  # noqa: E402

USER = h.USER
RCPT = h.RCPT
IS_ROOT = os.geteuid() == 0
needs_root = unittest.skipUnless(IS_ROOT, "needs root (a user to drop to)")


def message(token, sender=USER, extra=b""):
    return (b"From: " + sender.encode() + b"\r\n"
            b"To: " + RCPT.encode() + b"\r\n"
            b"Subject: security test " + token.encode() + b"\r\n"
            + extra + b"\r\nbody " + token.encode() + b"\r\n")


parse_logfmt = h.parse_logfmt


class SecurityCase(h.DaemonTestCase):

    def ctl(self, *args):
        return h.submitctl(self.env, *args)

    def stats(self):
        out = self.ctl("stats").stdout
        return dict(l.split(" ", 1) for l in out.splitlines() if " " in l)

    def parse_log(self):
        return [parse_logfmt(l) for l in self.daemon.full_log().splitlines()
                if " submitd: " in l]


# ====================================================================
# 1. Root never acts on a path the daemon user controls
# ====================================================================

@needs_root
class PrivilegeTest(SecurityCase):
    """The daemon starts as root and drops to "nobody", the account a
    remote exploit would own.  What that account could plant in its own
    directories must not turn root's start-up against the system."""

    start_daemon = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # nobody reaches its sasldb after the drop (SASL opens it by path).
        os.chmod(cls.env.dir, 0o755)
        os.chmod(cls.env.sasldb, 0o644)

    def setUp(self):
        self.nobody = 65534
        self.root = os.path.join(self.env.dir, "p-" + uuid.uuid4().hex[:6])
        os.mkdir(self.root, 0o755)
        self.spool = os.path.join(self.root, "spool")
        self.run_dir = os.path.join(self.root, "run")
        # Something root owns that a compromised daemon would like.
        self.victim = os.path.join(self.root, "victim")
        os.mkdir(self.victim, 0o700)
        self.victim_file = os.path.join(self.victim, "precious")
        with open(self.victim_file, "w") as f:
            f.write("root's\n")

    def conf(self, **more):
        return self.env.write_config(
            path=os.path.join(self.root, "submitd.conf"),
            **dict(self.env.overrides, user="nobody", spool_dir=self.spool,
                   control_socket=os.path.join(self.run_dir, "control.sock"),
                   **more))

    def start(self, conf, expect_ok=True):
        p = subprocess.Popen([self.daemon.binary, "-d", "-f", conf],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, start_new_session=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        if not expect_ok:
            try:
                out, _ = p.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                self.fail("submitd did not exit on a bad spool")
            return p.returncode, out.decode("utf-8", "replace")
        ok = h.wait_until(lambda: self._accepts(), 10)
        self.assertTrue(ok, "submitd did not start")
        return p, None

    def _accepts(self):
        try:
            socket.create_connection(("127.0.0.1", self.env.port), 1).close()
            return True
        except OSError:
            return False

    def assertVictimIntact(self):
        st = os.stat(self.victim)
        self.assertEqual(st.st_uid, 0, "victim directory chowned")
        self.assertTrue(os.path.exists(self.victim_file),
                        "the file in the victim directory was removed")

    def plant(self, name):
        os.mkdir(self.spool, 0o700)
        os.chown(self.spool, self.nobody, self.nobody)
        os.symlink(self.victim, os.path.join(self.spool, name))

    def test_tmp_link_is_refused(self):
        self.plant("tmp")
        rc, out = self.start(self.conf(), expect_ok=False)
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"dir=\S*spool/tmp error=\"a symbolic link")
        self.assertVictimIntact()

    def test_queue_state_and_journal_links_are_refused(self):
        for name in ("queue", "state", "journal"):
            shutil.rmtree(self.spool, ignore_errors=True)
            self.plant(name)
            rc, out = self.start(self.conf(), expect_ok=False)
            self.assertEqual(rc, 1, out)
            self.assertIn("spool/%s" % name, out)
            self.assertVictimIntact()

    def test_journal_on_another_file_system_is_refused(self):
        # One syncfs at a checkpoint must cover queue/, state/ and the
        # journal: a journal/ mounted apart would leave files unsynced.
        os.mkdir(self.spool, 0o700)
        os.chown(self.spool, self.nobody, self.nobody)
        journal = os.path.join(self.spool, "journal")
        os.mkdir(journal, 0o700)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o",
                            "size=1m,mode=0700,uid=%d" % self.nobody,
                            "tmpfs", journal], capture_output=True, text=True)
        if p.returncode != 0:
            self.skipTest("cannot mount a tmpfs (root needed): %s"
                          % p.stderr.strip())
        self.addCleanup(subprocess.run, ["umount", "-l", journal])
        rc, out = self.start(self.conf(), expect_ok=False)
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"event=spool-init dir=\S*spool error=\"tmp, "
                         r"queue, state and journal must be on one file "
                         r"system\"")

    def test_spool_itself_a_link(self):
        os.symlink(self.victim, self.spool)
        rc, out = self.start(self.conf(), expect_ok=False)
        self.assertEqual(rc, 1, out)
        self.assertIn("a symbolic link", out)
        self.assertVictimIntact()

    def test_spool_in_a_directory_the_user_owns(self):
        parent = os.path.join(self.root, "nobodys")
        os.mkdir(parent, 0o755)
        os.chown(parent, self.nobody, self.nobody)
        self.spool = os.path.join(parent, "spool")
        rc, out = self.start(self.conf(), expect_ok=False)
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"can be changed by nobody")

    def test_root_owned_full_directory_is_not_taken_over(self):
        # A typo naming a directory of root's (here with a file in it).
        self.spool = self.victim
        rc, out = self.start(self.conf(), expect_ok=False)
        self.assertEqual(rc, 1, out)
        self.assertIn("owned by someone else", out)
        self.assertVictimIntact()

    def test_key_through_a_directory_the_user_owns(self):
        keydir = os.path.join(self.root, "keys")
        os.mkdir(keydir, 0o755)
        os.chown(keydir, self.nobody, self.nobody)
        key = os.path.join(keydir, "key.pem")
        shutil.copy(self.env.key, key)
        p = subprocess.run([self.daemon.binary, "-n", "-f",
                            self.conf(tls={"key": key})],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertRegex(p.stderr, r":\d+: tls\.key: .*can be changed by "
                         r"nobody")

    def test_key_that_is_a_fifo_does_not_hang(self):
        fifo = os.path.join(self.root, "key.fifo")
        os.mkfifo(fifo)
        start = time.monotonic()
        p = subprocess.run([self.daemon.binary, "-n", "-f",
                            self.conf(tls={"key": fifo})],
                           capture_output=True, text=True, timeout=10)
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("not a regular file", p.stderr)

    def test_clean_start_and_control_socket(self):
        os.mkdir(self.run_dir, 0o755)
        os.chown(self.run_dir, self.nobody, self.nobody)
        # A link where the socket goes, to a file of root's.
        os.symlink(self.victim_file, os.path.join(self.run_dir, "control.sock"))
        before = os.stat(self.victim_file)
        p, _ = self.start(self.conf())
        st = os.stat(self.victim_file)
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode),
                         (before.st_uid, before.st_gid, before.st_mode),
                         "the file behind the planted link was changed")
        sock = os.path.join(self.run_dir, "control.sock")
        self.assertTrue(h.wait_until(lambda: os.path.exists(sock) and
                                     stat.S_ISSOCK(os.lstat(sock).st_mode), 5))
        st = os.lstat(sock)
        self.assertEqual(st.st_uid, self.nobody)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        for sub in ("tmp", "queue", "state", "journal"):
            st = os.lstat(os.path.join(self.spool, sub))
            self.assertEqual(st.st_uid, self.nobody, sub)
        # And it works as nobody: a message is taken.
        c = h.connect_authenticated(self.env.port)
        self.addCleanup(c.close)
        self.assertTrue(self.submit(c, message(uuid.uuid4().hex)))
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(15), 0)


# ====================================================================
# 2. The lock-out holds under parallel sessions, per login, per /64
# ====================================================================

class ParallelLockoutTest(SecurityCase):
    env_args = dict(limits={"auth_failures": 5, "auth_failure_window": 600,
                            "auth_ban": 600, "auth_login_failures": 50,
                            "connections_per_ip": 100,
                            "connection_rate": 0})

    def test_forty_parallel_guesses(self):
        n = 40
        clients = []
        for i in range(n):
            c = h.SMTPClient("127.0.0.1", self.port, timeout=30,
                             source="127.0.0.9")
            self.addCleanup(c.close)
            c.open_tls()
            clients.append(c)
        # Twenty wrong passwords, the right one, nineteen more wrong: all
        # at once, before any answer.
        for i, c in enumerate(clients):
            pw = h.PASSWORD if i == 20 else "guess-%d" % i
            c.send("AUTH PLAIN " + h.plain_ir(USER, pw) + "\r\n")
        replies = []
        for c in clients:
            try:
                replies.append(c.reply(timeout=30).code)
            except (h.ConnectionClosed, TimeoutError):
                replies.append(None)
        checked = replies.count(535) + replies.count(235)
        print("replies:", {k: replies.count(k) for k in set(replies)})
        self.assertLessEqual(checked, 5, "%d guesses checked of 40, limit 5: %r"
                             % (checked, replies))
        self.assertNotIn(235, replies[21:],
                         "the right password after 20 wrong ones logged in")
        self.assertTrue(all(r in (535, 235, 421, 454) for r in replies),
                        replies)
        lines = [p for p in self.parse_log() if p.get("event") == "auth"
                 and p.get("result") in ("fail", "ok")]
        self.assertLessEqual(len(lines), 5, lines)


class LoginLockTest(SecurityCase):
    env_args = dict(ipv6=True,
                    limits={"auth_failures": 3, "auth_failure_window": 600,
                            "auth_ban": 600, "auth_login_failures": 6,
                            "auth_login_lock": 600})
    users = {"alice": h.PASSWORD, "carol": h.PASSWORD}

    def fail(self, host, source=None, user=USER, port=None):
        c = h.SMTPClient("::1" if host == "::1" else "127.0.0.1",
                         port or self.port, timeout=20, source=source)
        self.addCleanup(c.close)
        c.open_tls()
        r = c.login(user, "Wr0ng", timeout=20)
        return c, r

    def test_login_under_attack_from_many_addresses(self):
        # 127.0.0.30 and ::1 are different addresses: each gets its own
        # allowance, but the login's failures add up (3 + 2 + 1 = 6).
        for _ in range(3):
            c, r = self.fail("127.0.0.30", "127.0.0.30")
            self.assertEqual(r.code, 535)
        for _ in range(2):
            c, r = self.fail("::1", port=self.env.ipv6_port)
            self.assertEqual(r.code, 535)
        c, r = self.fail("127.0.0.31", "127.0.0.31")
        self.assertEqual(r.code, 535)
        self.assertTrue(self.daemon.wait_log(
            r"user=alice@example\.test event=login-lock reason=auth-failures "
            r"failures=6"), self.log_tail())
        # Locked: even the right password, from a new address, is refused
        # like a wrong one (no oracle) ...
        c = h.SMTPClient("127.0.0.1", self.port, timeout=20,
                         source="127.0.0.32")
        self.addCleanup(c.close)
        c.open_tls()
        self.assertEqual(c.login(USER, h.PASSWORD, timeout=20).code, 535)
        self.assertTrue(self.daemon.wait_log(
            r"client=127\.0\.0\.32 event=auth result=fail mech=PLAIN "
            r"user=alice@example\.test reason=\"login locked"))
        # ... while other logins from there are not.
        self.assertEqual(c.login("carol@example.test", h.PASSWORD).code, 235)
        st = self.stats()
        self.assertEqual(st.get("auth_locked_logins"), "1", st)
        self.assertEqual(st.get("auth_login_locks"), "1", st)

    def test_login_tarpit_grows_with_its_failures(self):
        # carol's failures come from different addresses: each session's
        # first failure would not wait, the login's history makes it.
        times = []
        for i in range(4):
            src = "127.0.0.%d" % (40 + i)
            c = h.SMTPClient("127.0.0.1", self.port, timeout=20, source=src)
            self.addCleanup(c.close)
            c.open_tls()
            t = time.monotonic()
            self.assertEqual(c.login("carol@example.test", "Wr0ng",
                                     timeout=20).code, 535)
            times.append(time.monotonic() - t)
        self.assertLess(times[0], 1.0, times)
        self.assertGreaterEqual(times[3], 2.0, times)


@unittest.skipUnless(netns.available(), "network namespaces unavailable")
class IPv6PrefixTest(SecurityCase):
    """Two addresses of one /64 share their lock-out: the daemon and the
    clients run in a network namespace of the test's own."""

    start_daemon = False
    A = "2001:db8:5:6::10"
    B = "2001:db8:5:6::11"
    C = "2001:db8:5:7::12"      # another /64

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ns = netns.NetNS([cls.A + "/64", cls.B + "/64", cls.C + "/64"])
        cls.addClassCleanup(cls.ns.remove)
        cls.env.update_config(
            listen=[{"address": "::", "port": cls.env.port,
                     "tls": "starttls"}],
            limits={"auth_failures": 2, "auth_ban": 600,
                    "auth_login_failures": 50})
        cls.daemon = h.Daemon(cls.env, netns=cls.ns)
        cls.addClassCleanup(cls.daemon.kill9)
        cls.env.listeners = lambda: [(cls.A, cls.env.port, "starttls")]
        cls.daemon.start()

    def attempt(self, source, password="Wr0ng"):
        def go():
            c = h.SMTPClient(self.A, self.port, timeout=20, source=source)
            try:
                c.open_tls()
                return c.login(USER, password, timeout=20).code
            except (h.ConnectionClosed, AssertionError):
                return "closed"
            finally:
                c.close()
        return self.ns.call(go)

    def test_one_prefix_one_allowance(self):
        self.assertEqual(self.attempt(self.A), 535)
        self.assertEqual(self.attempt(self.B), 535)   # the /64 is banned now
        self.assertTrue(self.daemon.wait_log(
            r"client=2001:db8:5:6::/64 event=ban"), self.log_tail())
        # Any address of that /64, even with the right password: refused.
        self.assertEqual(self.attempt(self.A, h.PASSWORD), "closed")
        # Another /64 is another customer.
        self.assertEqual(self.attempt(self.C, h.PASSWORD), 235)


# ====================================================================
# 4. SCRAM does not tell which logins exist
# ====================================================================

def scram_first(smtp, user, mech="SCRAM-SHA-256"):
    """Sends the client-first-message; returns (reply, server-first dict)."""
    cnonce = base64.b64encode(os.urandom(18)).decode()
    first = "n,,n=%s,r=%s" % (user, cnonce)
    r = smtp.cmd("AUTH %s %s" % (mech, h.b64(first)))
    if r.code != 334:
        return r, None, cnonce
    text = base64.b64decode(r.lines[0]).decode()
    return r, dict(kv.split("=", 1) for kv in text.split(",")), cnonce


class ScramProbeTest(SecurityCase):
    env_args = dict(auth={"mechanisms": ["PLAIN", "SCRAM-SHA-256",
                                         "SCRAM-SHA-1"]},
                    limits={"auth_failures": 50})

    def probe(self, user, mech="SCRAM-SHA-256"):
        c = self.tls()
        r, sf, cnonce = scram_first(c, user, mech)
        return c, r, sf, cnonce

    def test_unknown_login_looks_like_a_known_one(self):
        for mech in ("SCRAM-SHA-256", "SCRAM-SHA-1"):
            _, r1, known, cn = self.probe(USER, mech)
            self.assertEqual(r1.code, 334, r1)
            _, r2, unknown, cn2 = self.probe("nobody-here@example.test", mech)
            self.assertEqual(r2.code, 334, "unknown login refused at once: %s"
                             % r2)
            self.assertEqual(sorted(known), sorted(unknown))
            self.assertEqual(known["i"], unknown["i"])
            self.assertEqual(len(base64.b64decode(known["s"])),
                             len(base64.b64decode(unknown["s"])), mech)
            self.assertTrue(unknown["r"].startswith(cn2))
            self.assertEqual(len(known["r"]) - len(cn), len(unknown["r"]) - len(cn2))
            # The same salt every time, and not another login's.
            _, _, again, _ = self.probe("nobody-here@example.test", mech)
            self.assertEqual(again["s"], unknown["s"])
            _, _, other, _ = self.probe("someone-else@example.test", mech)
            self.assertNotEqual(other["s"], unknown["s"])

    def test_unknown_login_fails_at_the_proof(self):
        c, r, sf, cnonce = self.probe("ghost@example.test")
        self.assertEqual(r.code, 334)
        proof = base64.b64encode(os.urandom(32)).decode()
        final = "c=biws,r=%s,p=%s" % (sf["r"], proof)
        ghost = c.cmd(h.b64(final), timeout=15)
        self.assertEqual(ghost.code, 535, ghost)
        self.assertEqual(ghost.enhanced, "5.7.8")
        # A real login with the wrong proof looks the same.
        c, r, sf, cnonce = self.probe(USER)
        real = c.cmd(h.b64("c=biws,r=%s,p=%s" % (sf["r"], proof)), timeout=15)
        self.assertEqual(str(real), str(ghost))

    def test_salt_survives_a_restart(self):
        _, _, before, _ = self.probe("restart-ghost@example.test")
        self.daemon.stop()
        self.daemon.start()
        _, _, after, _ = self.probe("restart-ghost@example.test")
        self.assertEqual(before["s"], after["s"])


class ScramCancelTest(SecurityCase):
    env_args = dict(limits={"auth_failures": 3, "auth_ban": 600})

    def test_cancel_counts_as_a_failure(self):
        src = "127.0.0.50"
        replies = []
        for _ in range(3):
            c = h.SMTPClient("127.0.0.1", self.port, source=src)
            self.addCleanup(c.close)
            c.open_tls()
            r, sf, _ = scram_first(c, USER)
            self.assertEqual(r.code, 334)
            r = c.cmd("*")
            replies.append(r.code)
        self.assertEqual(replies, [501, 501, 501])
        self.assertTrue(self.daemon.wait_log(
            r"client=127\.0\.0\.50 event=ban reason=auth-failures"),
            "three cancelled exchanges did not ban" + self.log_tail())


# ====================================================================
# 5. Headers that claim identity
# ====================================================================

class IdentityHeaderTest(SecurityCase):
    files = {"senders": "alice@example.test ceo-assistant@example.test\n"}

    @classmethod
    def configure(cls, env):
        return {"senders": {"file": os.path.join(env.dir, "senders")}}

    def send(self, extra):
        c = self.authed()
        self.assertReply(c.cmd("MAIL FROM:<%s>" % USER), 250)
        self.assertReply(c.cmd("RCPT TO:<%s>" % RCPT), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(h.dot_stuff(message(uuid.uuid4().hex, extra=extra)))
        return c.reply(timeout=10)

    def test_identity_fields_not_owned(self):
        for field in ("Sender", "Resent-From", "Resent-Sender"):
            r = self.send(field.encode() + b": The CEO <ceo@example.test>\r\n")
            self.assertReply(r, 553, "5.7.1")
            self.assertIn("%s: address <ceo@example.test> not owned" % field,
                          r.text)
            self.assertRefusalLogged(r, user=USER)
        r = self.send(b"Resent-From: alice@example.test,\r\n"
                      b" Boss <boss@example.org>\r\n")
        self.assertReply(r, 553, "5.7.1")
        self.assertIn("boss@example.org", r.text)

    def test_identity_fields_owned_pass(self):
        r = self.send(b"Sender: Assistant <ceo-assistant@example.test>\r\n"
                      b"Resent-From: alice@example.test\r\n"
                      b"Resent-Sender: ALICE@Example.Test\r\n")
        self.assertReply(r, 250)

    def test_unreadable_identity_field(self):
        r = self.send(b"Sender: not an address\r\n")
        self.assertReply(r, 553, "5.7.1")
        self.assertIn("Sender:", r.text)

    def test_authentication_results_of_ours_removed(self):
        before = self.snapshot()
        extra = (b"Authentication-Results: relay.example.test;\r\n"
                 b"  dkim=pass header.d=example.test\r\n"
                 b"Authentication-Results: (forged) RELAY.example.test 1; "
                 b"spf=pass\r\n"
                 b"ARC-Authentication-Results: i=1; relay.example.test; "
                 b"dmarc=pass\r\n"
                 b"Authentication-Results: mx.other.example; spf=pass\r\n"
                 b"Authentication-Results: ;;; garbage\r\n")
        self.assertReply(self.send(extra), 250)
        new = h.spool_messages(self.env.spool, exclude=before)
        self.assertEqual(len(new), 1)
        body = new[0].body
        for forged in (b"dkim=pass header.d=example.test", b"(forged)",
                       b"dmarc=pass", b"garbage"):
            self.assertNotIn(forged, body)
        self.assertIn(b"Authentication-Results: mx.other.example; spf=pass\r\n",
                      body)
        self.assertTrue(self.daemon.wait_log(
            r"event=header action=remove field=Authentication-Results count=4"))


# ====================================================================
# 6. Log lines a client cannot forge fields into
# ====================================================================

class LogInjectionTest(SecurityCase):

    def test_every_line_parses(self):
        c = self.authed()
        self.assertReply(c.cmd("MAIL FROM:<%s>" % USER), 250)
        evil = '"x result=bounced reply=z"@example.org'
        self.assertReply(c.cmd("RCPT TO:<%s>" % evil), 250)
        self.assertReply(c.cmd('RCPT TO:<"a b=c"@example.org>'), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(h.dot_stuff(message(uuid.uuid4().hex)))
        self.assertReply(c.reply(timeout=10), 250)
        # A login with spaces, quotes and bytes that are no text.
        c2 = self.tls()
        c2.cmd("AUTH PLAIN " + h.b64('\0evil" user=root x\x01\0pw'))
        # Delivery attempts (to a port nobody listens on) log the rcpts.
        self.assertTrue(h.wait_until(lambda: re.search(
            r"rcpt=\S*x result=bounced.*result=deferred",
            self.daemon.full_log()), 10), self.log_tail())
        self.assertTrue(h.wait_until(lambda: "user=\"evil" in
                                     self.daemon.full_log(), 10))
        parsed = self.parse_log()       # raises on any line that does not
        deliveries = [p for p in parsed if p.get("rcpt", "").startswith(
            '<"x result')]
        self.assertTrue(deliveries)
        for p in deliveries:
            self.assertEqual(p["rcpt"], "<%s>" % evil)
            self.assertEqual(p["result"], "deferred")
        fails = [p for p in parsed if p.get("event") == "auth" and
                 p.get("result") == "fail"]
        self.assertEqual(fails[-1]["user"], 'evil" user=root x\x01')


# ====================================================================
# 8. Stopping and reloading
# ====================================================================

class DrainTest(SecurityCase):
    env_args = dict(timeouts={"drain": 3})

    def test_sigterm_drains_then_tells_421(self):
        idle = self.authed()
        busy = self.authed()
        self.assertReply(busy.cmd("MAIL FROM:<%s>" % USER), 250)
        self.assertReply(busy.cmd("RCPT TO:<%s>" % RCPT), 250)
        self.assertReply(busy.cmd("DATA"), 354)
        busy.send(b"Subject: half\r\n\r\nhalf a message\r\n")
        finisher = self.authed()
        start = time.monotonic()
        self.daemon.proc.send_signal(signal.SIGTERM)
        self.assertTrue(self.daemon.wait_log(r"event=stop signal=15"))
        # During the drain: sessions go on, a message is still taken.
        self.assertReply(idle.cmd("NOOP"), 250)
        qid = self.submit(finisher, message(uuid.uuid4().hex))
        self.assertTrue(qid)
        # No new connections.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.port), 1).close()
        # Then everyone still there hears 421 4.3.2.
        r = idle.reply(timeout=10)
        self.assertGreaterEqual(time.monotonic() - start, 2.5)
        self.assertReply(r, 421, "4.3.2")
        r = busy.reply(timeout=10)
        self.assertReply(r, 421, "4.3.2")
        r = finisher.reply(timeout=10)
        self.assertReply(r, 421, "4.3.2")
        self.daemon.proc.wait(15)
        self.assertEqual(self.daemon.proc.returncode, 0)
        self.assertRegex(self.daemon.log(), r"event=stop loop=\d+ "
                         r"sessions_told=\d+")
        told = sum(int(n) for n in re.findall(r"sessions_told=(\d+)",
                                              self.daemon.log()))
        self.assertEqual(told, 3)
        # The half message was never acknowledged: nothing of it stays.
        self.assertEqual(h.queue_files(self.env.spool, "tmp"), [])
        self.daemon.start()


class ReloadTest(SecurityCase):

    def new_cert(self, cn):
        cert, key = h.make_cert(self.env.dir, cn=cn, name="cert-" + cn)
        shutil.copy(cert, self.env.cert)
        shutil.copy(key, self.env.key)

    def served_cn(self):
        c = self.plain()
        c.reply()
        c.ehlo()
        c.cmd("STARTTLS")
        c.starttls()
        der = c.sock.getpeercert(binary_form=True)
        c.close()
        pem = ssl.DER_cert_to_PEM_cert(der)
        out = subprocess.run(["openssl", "x509", "-noout", "-subject"],
                             input=pem, capture_output=True, text=True).stdout
        return out.strip()

    def test_sighup_picks_up_a_renewed_certificate(self):
        self.assertIn(h.HOSTNAME, self.served_cn())
        old = self.authed()
        self.new_cert("renewed.example.test")
        done = len(re.findall(r"event=reload result=ok", self.daemon.log()))
        self.daemon.proc.send_signal(signal.SIGHUP)
        self.assertTrue(h.wait_until(lambda: len(re.findall(
            r"event=reload result=ok", self.daemon.log())) > done, 5),
            self.log_tail())
        self.assertIn("renewed.example.test", self.served_cn())
        # The session opened before the reload goes on.
        self.assertTrue(self.submit(old, message(uuid.uuid4().hex)))

    def test_bad_configuration_keeps_the_old_one(self):
        before = self.served_cn()
        text = open(self.env.conf).read()
        with open(self.env.conf, "w") as f:
            f.write(text + "\nbogus_key = 1\n")
        p = self.ctl("reload")
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("the running configuration stays", p.stderr)
        self.assertTrue(self.daemon.wait_log(
            r"event=reload error=.*no such option.*bogus_key"), self.log_tail())
        self.assertTrue(self.daemon.wait_log(r"event=reload result=fail"))
        # A broken key too.
        with open(self.env.conf, "w") as f:
            f.write(text)
        with open(self.env.key, "w") as f:
            f.write("not a key\n")
        p = self.ctl("reload")
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertTrue(self.daemon.wait_log(r"event=reload error=.*tls\.key"))
        self.assertEqual(self.served_cn(), before)
        c = self.authed()
        self.assertTrue(self.submit(c, message(uuid.uuid4().hex)))
        # Back to good: the reload works again.
        self.new_cert(h.HOSTNAME)
        self.assertEqual(self.ctl("reload").returncode, 0)

    def test_reload_applies_limits_to_new_sessions(self):
        old = self.authed()
        self.env.update_config(limits={"recipients": 2})
        self.assertEqual(self.ctl("reload").returncode, 0,
                         self.log_tail())
        new = self.authed()
        self.assertReply(new.cmd("MAIL FROM:<%s>" % USER), 250)
        for i in range(2):
            self.assertReply(new.cmd("RCPT TO:<r%d@example.org>" % i), 250)
        self.assertReply(new.cmd("RCPT TO:<r9@example.org>"), 452, "4.5.3")
        # The old session keeps the limits it started with.
        self.assertReply(old.cmd("MAIL FROM:<%s>" % USER), 250)
        for i in range(3):
            self.assertReply(old.cmd("RCPT TO:<r%d@example.org>" % i), 250)
        self.env.update_config(limits={"recipients": 100})
        self.assertEqual(self.ctl("reload").returncode, 0)

    def test_restart_only_keys_are_named(self):
        self.env.update_config(spool_dir=self.env.spool + "-elsewhere")
        self.assertEqual(self.ctl("reload").returncode, 0)
        self.assertTrue(self.daemon.wait_log(
            r"event=reload key=spool_dir result=ignored"))
        self.env.update_config(spool_dir=self.env.spool)
        self.assertEqual(self.ctl("reload").returncode, 0)


if __name__ == "__main__":
    sys.exit(h.main(__name__))
