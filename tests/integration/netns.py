"""Network namespaces of the test's own, for addresses loopback lacks.

  NetNS(addrs)    `ip netns add` a namespace with its loopback up and the
                  given addresses (e.g. two IPv6 addresses of one /64) on
                  it; removed at exit.
  ns.prefix       argv prefix that runs a command inside (`ip netns exec`),
                  for the daemon (harness.Daemon(prefix=...)).
  ns.call(fn)     runs fn() in a thread that has entered the namespace
                  (setns(2) is per thread), so sockets fn makes live there;
                  returns fn's result or raises its exception.

Needs root (CAP_SYS_ADMIN) and iproute2; available() says whether this
machine can.  Only the test's own namespace is touched, never the host's
interfaces.
"""

import atexit
import ctypes
import os
import shutil
import subprocess
import threading
import uuid

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_made = []


def _ip():
    return shutil.which("ip", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def available():
    """True when namespaces can be made here (root, iproute2)."""
    if os.geteuid() != 0 or _ip() is None:
        return False
    name = "sdprobe-" + uuid.uuid4().hex[:6]
    ok = subprocess.run([_ip(), "netns", "add", name],
                        capture_output=True).returncode == 0
    if ok:
        subprocess.run([_ip(), "netns", "del", name], capture_output=True)
    return ok


@atexit.register
def _remove_all():
    for ns in list(_made):
        ns.remove()


class NetNS:
    def __init__(self, addrs=()):
        self.name = "submitd-" + uuid.uuid4().hex[:8]
        ip = _ip()
        subprocess.run([ip, "netns", "add", self.name], check=True,
                       capture_output=True)
        _made.append(self)
        subprocess.run([ip, "-n", self.name, "link", "set", "lo", "up"],
                       check=True, capture_output=True)
        for a in addrs:
            # nodad: usable at once, no duplicate address detection delay.
            extra = ["nodad"] if ":" in a else []
            subprocess.run([ip, "-n", self.name, "addr", "add", a, "dev", "lo"]
                           + extra, check=True, capture_output=True)

    @property
    def prefix(self):
        return [_ip(), "netns", "exec", self.name]

    def call(self, fn):
        box = {}

        def run():
            try:
                fd = os.open("/run/netns/" + self.name, os.O_RDONLY)
                try:
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                finally:
                    os.close(fd)
                box["value"] = fn()
            except BaseException as e:     # re-raised in the caller
                box["error"] = e

        t = threading.Thread(target=run)
        t.start()
        t.join()
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def remove(self):
        if self in _made:
            _made.remove(self)
            subprocess.run([_ip(), "netns", "del", self.name],
                           capture_output=True)
