#!/usr/bin/env python3
"""Turn a CSV file into SQL that loads it into a PostgreSQL table.

    pg_load.py TABLE FILE.csv COLUMN:TYPE... | psql ...

TYPE is a PostgreSQL type: bigint, integer, float8, text, boolean or
timestamptz. The table gets the columns in the order given (they must be
the file's columns, by name); an empty cell is NULL; timestamps in any
spelling fs reads (parsed by the reference, t/pit_reference.py) are stored
as instants; integers like "+5" or "007" as numbers. Standard library only.
"""

import csv
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pit_reference import parse_time  # noqa: E402

EPOCH = datetime.datetime(1970, 1, 1)


def convert(value, typ):
    if value == "":
        return None
    if typ in ("bigint", "integer"):
        return str(int(value))
    if typ == "boolean":
        return {"true": "t", "1": "t", "false": "f", "0": "f"}[value.lower()]
    if typ == "timestamptz":
        us = parse_time(value)
        t = EPOCH + datetime.timedelta(microseconds=us)
        return t.strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"
    return value


def copy_text(value):
    if value is None:
        return "\\N"
    return (value.replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n").replace("\r", "\\r"))


def main():
    table, path = sys.argv[1], sys.argv[2]
    cols = [a.split(":", 1) for a in sys.argv[3:]]
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    index = [header.index(name) for name, _ in cols]
    out = sys.stdout
    name = ".".join('"%s"' % part for part in table.split(".", 1))
    if "." in table:
        out.write('CREATE SCHEMA IF NOT EXISTS "%s";\n' % table.split(".", 1)[0])
    out.write('DROP TABLE IF EXISTS %s;\n' % name)
    out.write('CREATE TABLE %s (%s);\n' % (name, ", ".join('"%s" %s' % (n, t) for n, t in cols)))
    out.write('COPY %s FROM STDIN;\n' % name)
    for r in body:
        out.write("\t".join(copy_text(convert(r[i], t)) for i, (_, t) in zip(index, cols)) + "\n")
    out.write("\\.\n")


if __name__ == "__main__":
    main()
