#!/usr/bin/env python3
"""The daemon as the shipped systemd unit starts it: as an unprivileged user
from the first instruction, with CAP_NET_BIND_SERVICE as its only (ambient)
capability and a umask of 077 (setpriv does what User=, AmbientCapabilities=
and CapabilityBoundingSet= do; this machine has no systemd to run the unit
itself).  It binds a port below 1024, takes mail into a spool it owns, and
holds no other capability.

Exit 0: all passed; 1: a failure; 77: not root, or no setpriv.
"""

import os
import pwd
import shutil
import socket
import stat
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness as h  # noqa: E402

SETPRIV = shutil.which("setpriv", path=os.environ.get("PATH", "") + ":/usr/bin")
if os.getuid() != 0 or SETPRIV is None:
    print("SKIP: needs root and setpriv (util-linux)")
    sys.exit(77)

USER = "nobody"
GROUP = "nogroup"


def privileged_port():
    """A port below 1024 that is free on 127.0.0.1 now."""
    for port in range(900, 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port below 1024")


class AsTheUnit:
    """Daemon's netns hook, used here for the setpriv prefix."""

    prefix = [SETPRIV, "--reuid=" + USER, "--regid=" + GROUP, "--clear-groups",
              "--inh-caps=-all,+net_bind_service",
              "--ambient-caps=-all,+net_bind_service",
              "--bounding-set=-all,+net_bind_service", "--",
              "/bin/sh", "-c", 'umask 077; exec "$0" "$@"']

    @staticmethod
    def call(fn):
        return fn()


class UnitTest(h.DaemonTestCase):
    start_daemon = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        env.port = privileged_port()
        pw = pwd.getpwnam(USER)
        # What the package and the README ask for: the spool is the user's,
        # the key and the sasldb readable by its group.
        os.chmod(env.dir, 0o755)
        os.chown(env.spool, pw.pw_uid, pw.pw_gid)
        os.chmod(env.spool, 0o750)
        for f in (env.key, env.sasldb):
            os.chown(f, 0, pw.pw_gid)
            os.chmod(f, 0o640)
        rundir = os.path.join(env.dir, "run")
        os.mkdir(rundir, 0o750)
        os.chown(rundir, pw.pw_uid, pw.pw_gid)
        env.update_config(user=USER,
                          control_socket=os.path.join(rundir, "control.sock"))
        cls.daemon = h.Daemon(env, netns=AsTheUnit())
        cls.addClassCleanup(cls.daemon.kill9)
        cls.daemon.start()

    def status(self, field):
        with open("/proc/%d/status" % self.daemon.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return line.split()[1]
        return None

    def test_runs_as_the_user_with_one_capability(self):
        uid = pwd.getpwnam(USER).pw_uid
        self.assertEqual(int(self.status("Uid")), uid)
        # CAP_NET_BIND_SERVICE is bit 10, and nothing else.
        self.assertEqual(int(self.status("CapEff"), 16), 1 << 10)
        self.assertEqual(int(self.status("CapBnd"), 16), 1 << 10)

    def test_binds_below_1024_and_takes_mail(self):
        self.assertLess(self.env.port, 1024)
        c = self.authed()
        qid = self.submit(c, h.make_message(self.token()))
        c.cmd("QUIT")
        c.close()
        # The message is in a journal segment (or, after a checkpoint, in
        # queue/): either way the daemon user's, for nobody else.
        self.assertIn(qid, h.queue_files(self.env.spool))
        journal = os.path.join(self.env.spool, "journal")
        paths = [os.path.join(journal, n) for n in os.listdir(journal)]
        path = os.path.join(self.env.spool, "queue", qid)
        if os.path.exists(path):
            paths.append(path)
        self.assertTrue(paths)
        for path in paths:
            st = os.stat(path)
            self.assertEqual(st.st_uid, pwd.getpwnam(USER).pw_uid, path)
            self.assertEqual(stat.S_IMODE(st.st_mode) & 0o077, 0, path)

    def test_control_socket_and_reload(self):
        p = h.submitctl(self.env, "reload")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = h.submitctl(self.env, "stats")
        self.assertEqual(p.returncode, 0, p.stderr)


if __name__ == "__main__":
    sys.exit(h.main(__name__, ()))
