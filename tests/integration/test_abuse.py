#!/usr/bin/env python3
"""Automatic suspension of a login that behaves like a stolen one, replayed
against the real daemon: client source addresses from 127.0.0.0/8 stand for
networks (127.0.1.x is the login's usual /24, 127.0.9.x a network it never
used), an aiosmtpd smarthost is the next hop.  The bot that fans out to
hundreds of domains from a new network is stopped under the bound, the
heavy steady sender never is, the notice arrives, held mail stays held
(across a restart) and leaves on resume; dry_run only logs.

Exit 0: all passed; 1: a failure; 77: aiosmtpd is missing.
"""

import os
import re
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness as h  # noqa: E402

h.require_modules("aiosmtpd")

from test_delivery import DeliveryTestCase  # noqa: E402

SLOW_QUEUE = {"retry_min": 300, "retry_max": 600, "connect_timeout": 5,
              "command_timeout": 10, "data_timeout": 10}
BOT = "bot@example.test"
APP = "app@example.test"
USUAL = "127.0.1.2"
NEW = "127.0.9.2"


def password(login):
    return "pw-%s-Secret" % login.split("@")[0]


def message(login, token, rcpt):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\ntoken %s\r\n"
            % (login, rcpt, token, token)).encode()


class AbuseCase(DeliveryTestCase):
    users = {"bot": password(BOT), "app": password(APP)}
    abuse = {}
    peer_up = True

    @classmethod
    def make_peers(cls, env):
        cls.hop = cls.peer()
        if cls.peer_up:
            cls.hop.start()
        return {"relay": {"smarthost": cls.hop.address}, "queue": SLOW_QUEUE,
                "abuse": dict({"notify": "postmaster@example.test"},
                              **cls.abuse)}

    def send_many(self, login, source, rcpts, per_connection=25):
        """Submits one message to each of rcpts; stops at the first refusal.
        Returns ([(qid, token)] accepted, the refusal or None)."""
        accepted = []
        c = None
        for i, rcpt in enumerate(rcpts):
            if c is None or i % per_connection == 0:
                if c is not None:
                    c.cmd("QUIT")
                    c.close()
                c = self.authed(login, password(login), source=source)
            t = uuid.uuid4().hex[:12]
            r = c.cmd("MAIL FROM:<%s>" % login)
            if r.code != 250:
                c.close()
                return accepted, r
            self.assertReply(c.cmd("RCPT TO:<%s>" % rcpt), 250)
            self.assertReply(c.cmd("DATA"), 354)
            c.send(h.dot_stuff(message(login, t, rcpt)))
            r = c.reply(timeout=10)
            if r.code != 250:
                c.close()
                return accepted, r
            accepted.append((h.queued_id(str(r)), t))
        if c is not None:
            c.cmd("QUIT")
            c.close()
        return accepted, None

    def stats(self):
        out = self.ctl("stats").stdout
        return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def fanout(n):
    return ["user%d@d%d.example.org" % (i, i) for i in range(n)]


class BurstTest(AbuseCase):
    """A login that sent a few messages from its usual network sends 300
    messages to 300 domains from a network it never used.  The smarthost is
    down at first, so that what was accepted is still queued."""
    peer_up = False

    def test_stolen_login_is_stopped_held_and_resumed(self):
        usual, refusal = self.send_many(BOT, USUAL, ["a@usual.example.org"] * 3)
        self.assertIsNone(refusal)
        accepted, refusal = self.send_many(BOT, NEW, fanout(300))
        # Stopped well before its 150th message.
        self.assertIsNotNone(refusal, "never suspended" + self.log_tail())
        self.assertLess(len(accepted), 150)
        self.assertReply(refusal, 550, "5.7.1")
        self.assertIn("suspended", refusal.text)
        self.assertIn("postmaster@example.test", refusal.text)
        line = self.assertLogged(r"\bevent=abuse action=suspend user=bot@",
                                 r"\bclient=127\.0\.9\.2\b")[0]
        fields = h.parse_logfmt(line)
        self.assertIn("fanout", fields["signals"])
        self.assertIn("network", fields["signals"])
        self.assertIn("new_network=127.0.9.0/24", fields["signals"])

        # MAIL is refused now, from anywhere.
        c = self.authed(BOT, password(BOT), source=USUAL)
        self.assertReply(c.cmd("MAIL FROM:<%s>" % BOT), 550, "5.7.1")
        c.close()
        # Listed, counted, and its queued mail held.
        out = self.ctl("suspended").stdout
        self.assertRegex(out, r"(?m)^bot@example\.test  since \S+Z  fanout")
        self.assertEqual(self.stats()["abuse_suspended_logins"], "1")
        self.assertEqual(self.stats()["abuse_suspensions"], "1")
        queue = self.ctl("queue").stdout
        for qid, _ in accepted[:5]:
            self.assertRegex(queue, qid + r" .*held \(login suspended\)")

        # The next hop comes back: the notice goes out, the bot's mail not.
        self.hop.start()
        self.ctl("flush")
        notices = h.wait_until(lambda: [a for a in self.hop.arrivals
                                        if b"login bot@example.test suspended"
                                        in a.data], 15)
        self.assertTrue(notices, "no notice" + self.log_tail())
        self.assertEqual(notices[0].rcpts, ["postmaster@example.test"])
        self.assertIn(b"127.0.9.2", notices[0].data)
        self.assertIn(b"submitctl resume bot@example.test", notices[0].data)
        self.assertNotArrived(self.hop, accepted[0][1])
        # The usual mail too: everything of the login waits.
        self.assertEqual(self.hop.with_token(usual[0][1]), [])

        # A restart keeps the suspension and the hold.
        self.daemon.stop()
        self.daemon.start()
        c = self.authed(BOT, password(BOT), source=USUAL)
        self.assertReply(c.cmd("MAIL FROM:<%s>" % BOT), 550, "5.7.1")
        c.close()
        self.ctl("flush")
        self.assertNotArrived(self.hop, accepted[-1][1])

        # Resumed by a human: everything it queued goes, once each.
        out = self.ctl("resume", BOT).stdout
        self.assertIn("resumed", out)
        for qid, t in usual + accepted:
            self.arrival(self.hop, t, timeout=20)
        self.assertEqual(self.ctl("suspended").stdout.strip(), "0 suspended")
        more, refusal = self.send_many(BOT, USUAL, ["a@usual.example.org"])
        self.assertIsNone(refusal)


class SteadyTest(AbuseCase):
    def test_heavy_steady_sender_is_never_suspended(self):
        # 400 messages in a minute or so, to three domains, from its usual
        # address: a burst alone is one signal, and one is not enough.
        rcpts = ["x@a.example.org", "y@b.example.org", "z@c.example.org"] * 134
        accepted, refusal = self.send_many(APP, USUAL, rcpts[:400],
                                           per_connection=100)
        self.assertIsNone(refusal, str(refusal) + self.log_tail())
        self.assertEqual(len(accepted), 400)
        self.assertEqual(self.log_lines(r"\baction=suspend\b"), [])
        self.assertLogged(r"\bevent=abuse action=signal user=app@example\.test",
                          r"\bsignal=burst\b")
        self.assertEqual(self.stats()["abuse_suspended_logins"], "0")


class DryRunTest(AbuseCase):
    abuse = {"dry_run": True}

    def test_dry_run_only_logs(self):
        self.send_many(BOT, USUAL, ["a@usual.example.org"] * 2)
        accepted, refusal = self.send_many(BOT, NEW, fanout(120))
        self.assertIsNone(refusal)
        self.assertEqual(len(accepted), 120)
        self.assertLogged(r"\bevent=abuse action=would-suspend user=bot@")
        self.assertEqual(self.log_lines(r"\baction=suspend\b"), [])
        self.assertGreaterEqual(int(self.stats()["abuse_would_suspend"]), 1)
        self.assertEqual(self.ctl("suspended").stdout.strip(), "0 suspended")


class ManualTest(AbuseCase):
    def test_suspend_and_resume_by_hand(self):
        out = self.ctl("suspend", APP).stdout
        self.assertIn("app@example.test suspended", out)
        p = self.ctl("suspend", APP, rc=1)
        self.assertIn("already suspended", p.stderr)
        c = self.authed(APP, password(APP), source=USUAL)
        r = c.cmd("MAIL FROM:<%s>" % APP)
        self.assertReply(r, 550, "5.7.1")
        c.close()
        self.assertRegex(self.ctl("suspended").stdout,
                         r"(?m)^app@example\.test  since \S+  by submitctl$")
        # Survives a restart.
        self.daemon.stop()
        self.daemon.start()
        self.assertIn("app@example.test", self.ctl("suspended").stdout)
        self.ctl("resume", APP)
        p = self.ctl("resume", APP, rc=1)
        self.assertIn("not suspended", p.stderr)
        accepted, refusal = self.send_many(APP, USUAL, ["x@a.example.org"])
        self.assertIsNone(refusal)
        self.arrival(self.hop, accepted[0][1])


class RefusedTest(AbuseCase):
    """Next hops refuse its mail as spam (5.7.1) and it comes from a new
    network: refused and network, two signals."""

    @classmethod
    def make_peers(cls, env):
        more = super().make_peers(env)
        cls.hop.rcpt_reply = (lambda sender, rcpt:
                              "550 5.7.1 Message rejected as spam"
                              if rcpt.endswith("@spam.example.org") else None)
        more["queue"] = {"retry_min": 1, "retry_max": 2, "connect_timeout": 5,
                         "command_timeout": 10, "data_timeout": 10}
        return more

    def test_refusals_and_a_new_network(self):
        self.send_many(BOT, USUAL, ["a@usual.example.org"] * 2)
        # The refusals come back while it sends: it may be stopped early.
        self.send_many(BOT, NEW, ["x@spam.example.org"] * 14, per_connection=1)
        line = self.assertLogged(r"\bevent=abuse action=suspend user=bot@",
                                 timeout=20)[0]
        signals = h.parse_logfmt(line)["signals"]
        self.assertIn("refused", signals)
        self.assertIn("network", signals)
        self.assertRegex(signals, r"refused=1\d/1\d\b")
        c = self.authed(BOT, password(BOT), source=USUAL)
        self.assertReply(c.cmd("MAIL FROM:<%s>" % BOT), 550, "5.7.1")
        c.close()


class EvasionTest(AbuseCase):
    """What a bot that knows the rules tries: many recipients per message,
    and the case of the login; and what an honest newsletter does."""
    users = {"bot": password(BOT), "app": password(APP), "news": "pw-news-Secret"}

    def test_many_recipients_per_message(self):
        bot = "bot@example.test"
        self.send_many(bot, USUAL, ["a@usual.example.org"])
        c = self.authed(bot, password(bot), source=NEW)
        refused = None
        for i in range(20):
            r = c.cmd("MAIL FROM:<%s>" % bot)
            if r.code != 250:
                refused = (i, r)
                break
            for k in range(100):
                self.assertReply(c.cmd("RCPT TO:<u%d@d%d.example.org>"
                                       % (k, k % 5)), 250)
            self.assertReply(c.cmd("DATA"), 354)
            c.send(h.dot_stuff(message(bot, uuid.uuid4().hex, "x@d0.example.org")))
            r = c.reply(timeout=10)
            if r.code != 250:
                refused = (i, r)
                break
        c.close()
        # 100 recipients count as 100: burst and network at the second.
        self.assertIsNotNone(refused, self.log_tail())
        self.assertLessEqual(refused[0], 2)
        self.assertReply(refused[1], 550, "5.7.1")

    def test_newsletter_from_the_usual_address(self):
        news = "news@example.test"
        accepted, refusal = self.send_many(news, USUAL, fanout(120))
        # Burst and fanout both measure volume: one signal, not two.
        self.assertIsNone(refusal, str(refusal) + self.log_tail())
        self.assertEqual(len(accepted), 120)

    def test_suspend_in_another_case(self):
        out = self.ctl("suspend", "App@Example.TEST").stdout
        self.assertIn("suspended", out)
        c = self.authed(APP, password(APP), source=USUAL)
        self.assertReply(c.cmd("MAIL FROM:<%s>" % APP), 550, "5.7.1")
        c.close()
        self.ctl("resume", "APP@example.test")
        c = self.authed(APP, password(APP), source=USUAL)
        self.assertReply(c.cmd("MAIL FROM:<%s>" % APP), 250)
        c.close()


class StateFileTest(AbuseCase):
    """A state file written before the start: a suspension in a file of more
    than 8 MB, a network the bot first used 12 minutes ago (a paced bot), and
    a corrupted line."""
    start_daemon = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import time as _t
        now = int(_t.time())
        day = now // 86400
        d = os.path.join(cls.env.spool, "abuse")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "profiles"), "w") as f:
            f.write("SUBMITD-ABUSE 1\n")
            f.write("p bot@example.test %d %d 3,2,1\n" % (now - 86400 * 5, day))
            f.write("n bot@example.test 127.0.1.0/24 %d %d 127.0.1.2\n"
                    % (now - 86400 * 5, now - 86400))
            f.write("n bot@example.test 127.0.9.0/24 %d %d 127.0.9.2\n"
                    % (now - 720, now - 720))
            f.write("s app@example.test %d by an earlier run\n" % (now - 60))
            f.write("p odd%%20one@example.test 1 -9223372036854775808 1,2,3\n")
            f.write("n bot@example.test 127.0.9.0/24 x y\n")
            f.write(("x %s\n" % ("filler " * 14)) * 120000)
        cls.daemon.start()

    def test_big_file_keeps_its_suspension(self):
        self.assertGreater(os.path.getsize(os.path.join(
            self.env.spool, "abuse", "profiles")), 8 * 1024 * 1024)
        self.assertIn("app@example.test", self.ctl("suspended").stdout)
        c = self.authed(APP, password(APP), source=USUAL)
        self.assertReply(c.cmd("MAIL FROM:<%s>" % APP), 550, "5.7.1")
        c.close()

    def test_paced_bot_from_a_network_of_today(self):
        accepted, refusal = self.send_many(BOT, NEW, fanout(100))
        self.assertIsNotNone(refusal, self.log_tail())
        self.assertLess(len(accepted), 60)


class DisabledTest(AbuseCase):
    abuse = {"enabled": False}

    def test_disabled_never_suspends(self):
        self.send_many(BOT, USUAL, ["a@usual.example.org"] * 2)
        accepted, refusal = self.send_many(BOT, NEW, fanout(120))
        self.assertIsNone(refusal)
        self.assertEqual(self.log_lines(r"\bevent=abuse action=(suspend|"
                                        r"would-suspend|signal)\b"), [])


if __name__ == "__main__":
    sys.exit(h.main(__name__, ()))
