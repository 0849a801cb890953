"""What must be unique in a database: its unique constraints and unique indexes, read from
PostgreSQL's catalog once the schema is loaded, plus what the suite declares (`unique:`)."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from harness.generate.identity import UniqueKey
from harness.spec.models import PostgresDependency

#: every unique index (a unique constraint and a primary key are backed by one) of the tables
#: the harness sees, with its key parts: a column's name, or an expression's text
UNIQUE_INDEXES = """
select t.relname as table_name, i.relname as key_name,
       array(select case when k.attnum > 0 then a.attname
                         else pg_get_indexdef(x.indexrelid, k.ord::int, true) end
             from unnest(x.indkey::int2[]) with ordinality as k(attnum, ord)
             left join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum
             where k.ord <= x.indnkeyatts
             order by k.ord) as parts,
       array(select attname from pg_attribute
             where attrelid = x.indrelid and attnum > 0 and not attisdropped) as columns
from pg_index x
join pg_class t on t.oid = x.indrelid
join pg_class i on i.oid = x.indexrelid
join pg_namespace n on n.oid = t.relnamespace
where x.indisunique and n.nspname = any(current_schemas(false))
order by t.relname, i.relname
"""


async def unique_keys(db: Any) -> dict[str, list[UniqueKey]]:
    """table -> its unique keys; an expression (`lower(email)`) counts the columns it reads."""
    keys: dict[str, list[UniqueKey]] = defaultdict(list)
    for row in await db.fetch(UNIQUE_INDEXES):
        columns = set(row["columns"])
        used: list[str] = []
        for part in row["parts"]:
            if part in columns:
                used.append(part)
            else:  # an expression: the table's columns it names
                words = set(re.findall(r'"([^"]+)"|([A-Za-z_][A-Za-z0-9_$]*)', part))
                used += sorted({w for pair in words for w in pair if w in columns} - set(used))
        if used:
            keys[row["table_name"]].append(UniqueKey(row["key_name"], tuple(used)))
    return dict(keys)


def declared_keys(dep: PostgresDependency) -> dict[str, list[UniqueKey]]:
    """The suite's own `unique:` of a database: what its schema does not enforce."""
    keys: dict[str, list[UniqueKey]] = {}
    for table, entries in dep.unique.items():
        keys[table] = [
            UniqueKey("unique: in suite.yaml", (e,) if isinstance(e, str) else tuple(e), True)
            for e in entries
        ]
    return keys


def merged(*parts: dict[str, list[UniqueKey]]) -> dict[str, list[UniqueKey]]:
    out: dict[str, list[UniqueKey]] = defaultdict(list)
    for part in parts:
        for table, keys in part.items():
            out[table] += keys
    return dict(out)
