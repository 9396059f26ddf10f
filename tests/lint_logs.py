"""Every value in a log line is escaped in one place (log.h): a format
string must never quote a %s itself ("...%s..." or <%s>), since a client
then chooses where the quote ends (issue: RCPT TO:<"x result=bounced"@y>
planted a result= key).  Values go through log_str() / log_addr() instead,
which quote and escape.  This check reads the C sources and fails on any
log call whose format puts a %s inside double quotes or angle brackets."""

import glob
import os
import re
import sys

CALL = re.compile(r"\blog_(info|warnx|errx|debug)\s*\(")
LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')


def format_of(text, start):
    """The concatenated string literals that open the call at start."""
    pos = start
    parts = []
    while True:
        m = re.compile(r'\s*"((?:[^"\\]|\\.)*)"').match(text, pos)
        if not m:
            break
        parts.append(m.group(1))
        pos = m.end()
    return "".join(parts)


def offences(fmt):
    found = []
    # Quoted regions of the format: \" ... \"
    for m in re.finditer(r'\\"(.*?)\\"', fmt):
        if re.search(r"%[-.*0-9]*s", m.group(1)):
            found.append('%s inside \\"...\\": ' + m.group(0))
    if re.search(r"<%[-.*0-9]*s>", fmt):
        found.append("<%s>: use log_addr()")
    return found


def main():
    top = os.environ.get("top_srcdir") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..")
    bad = 0
    files = sorted(glob.glob(os.path.join(top, "src", "*.c")) +
                   glob.glob(os.path.join(top, "src", "*", "*.c")))
    for path in files:
        text = open(path, encoding="utf-8").read()
        for m in CALL.finditer(text):
            fmt = format_of(text, m.end())
            for o in offences(fmt):
                line = text.count("\n", 0, m.start()) + 1
                print("%s:%d: %s" % (os.path.relpath(path, top), line, o))
                bad += 1
    print("%d log calls checked in %d files, %d offences"
          % (sum(len(CALL.findall(open(p).read())) for p in files),
             len(files), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
