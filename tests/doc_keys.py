"""Every configuration key is documented (STYLE: "a test fails when a key in
config.c is missing from submitd.conf(5)"), as Postfix's
check-postconf-undocumented does for its parameters.

Reads the libconfuse schema in src/config.c (the CFG_* entries of each
option table, and the CFG_SEC entries that name the tables), and for each
key looks in man/submitd.conf.5 for an ".It Ic KEY" item under the heading
of its section (".Ss Top-level keys" or ".Ss Section NAME").  Numeric
defaults must agree: "Pq default: N" in the page and CFG_INT's in the code.
Every key must also be named in etc/submitd.conf, the example, at least in
a comment, so that an administrator reading it learns the key exists."""

import os
import re
import sys

ENTRY = re.compile(r'CFG_(STR|INT|BOOL|STR_LIST|SEC)\(\s*"([a-z_]+)"\s*,\s*'
                   r'([^,]+?)\s*,', re.S)


def schema(text):
    """{section: {key: (kind, default)}}, "" for the top level."""
    tables = {}
    # relay and route share NEXT_HOP_OPTS(hostkey).
    macro = re.search(r"#define NEXT_HOP_OPTS\(hostkey\)(.*?)CFG_END\(\)", text,
                      re.S).group(1)
    hop = ENTRY.findall(macro)
    for m in re.finditer(r"static cfg_opt_t (\w+)\[\] = \{(.*?)\};", text, re.S):
        body = m.group(2)
        entries = ENTRY.findall(body)
        for key in re.findall(r'NEXT_HOP_OPTS\("(\w+)"\)', body):
            entries += [("STR", key, "NULL")] + hop
        tables[m.group(1)] = entries
    out = {"": {}}
    for kind, key, default in tables["opts"]:
        if kind == "SEC":
            out[key] = {k: (kd, d) for kd, k, d in tables[default]
                        if kd != "SEC"}
            # A section inside a section (auth.oauth) is a heading of its own.
            for kd, k, d in tables[default]:
                if kd == "SEC":
                    out[key + "." + k] = {k2: (kd2, d2) for kd2, k2, d2
                                          in tables[d] if kd2 != "SEC"}
        else:
            out[""][key] = (kind, default)
    return out


def man_sections(text):
    """{section: {key: item line}} from the page."""
    out, current = {}, None
    for line in text.splitlines():
        m = re.match(r"\.Ss (?:Section ([\w.]+)|Top-level keys)", line)
        if m:
            current = m.group(1) or ""
            out.setdefault(current, {})
            continue
        if line.startswith(".Ss ") or line.startswith(".Sh "):
            current = None
            continue
        m = re.match(r"\.It Ic (\w+)\b(.*)", line)
        if m and current is not None:
            out[current][m.group(1)] = m.group(2)
    return out


def main():
    top = os.environ.get("top_srcdir") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..")
    code = open(os.path.join(top, "src", "config.c")).read()
    page = open(os.path.join(top, "man", "submitd.conf.5")).read()
    example = open(os.path.join(top, "etc", "submitd.conf")).read()
    keys, doc = schema(code), man_sections(page)
    bad = n = 0
    for section, entries in sorted(keys.items()):
        for key, (kind, default) in sorted(entries.items()):
            n += 1
            name = "%s.%s" % (section, key) if section else key
            item = doc.get(section, {}).get(key)
            if item is None:
                print("undocumented: %s (no .It Ic %s under the %s heading of "
                      "submitd.conf(5))" % (name, key, section or "top-level"))
                bad += 1
                continue
            if kind == "INT":
                m = re.search(r"Pq default: (\d+)", item)
                code_default = re.sub(r"\s", "", default)
                if m is None or str(eval(code_default)) != m.group(1):
                    print("default of %s: code says %s, the page %s"
                          % (name, code_default, m.group(1) if m else "none"))
                    bad += 1
            if not re.search(r"(?m)^\s*#?\s*%s\s*=" % re.escape(key), example):
                print("not in etc/submitd.conf: %s" % name)
                bad += 1
    print("%d keys checked, %d problems" % (n, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
