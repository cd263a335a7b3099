"""Random sequences of accessor calls checked against a plain-Python model of the table.

Each state machine owns a real SQLite file in a temporary directory and an event loop of its
own; every rule runs one accessor call on that loop and updates the model. After every step
the stored rows, the live rows, the counts and the whole audit trail must match the model.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlalchemy import DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tests.conftest import NO_POSTGRES, POSTGRES_URL, drop_schema
from vstorage import (
    AsyncDatabase,
    AsyncModelAccessor,
    AuditEntry,
    Change,
    ConflictError,
    ValidationError,
    use_actor,
)


class Base(DeclarativeBase):
    pass


class SoftItem(Base):
    __tablename__ = "stateful_soft_items"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(30), unique=True)
    qty: Mapped[int]
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime())


class HardItem(Base):
    __tablename__ = "stateful_hard_items"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(30), unique=True)
    qty: Mapped[int]


# Two letters, at most two long: six names, so unique collisions are frequent.
NAMES = st.text(alphabet="ab", min_size=1, max_size=2)
ALL_NAMES = ("a", "b", "aa", "ab", "ba", "bb")
# A narrow range makes updates that change nothing frequent too.
QTYS = st.integers(min_value=-3, max_value=3)
AMBIENT = "@ambient"
AMBIENT_ACTOR = "carol"
ACTORS = st.sampled_from([None, "alice", "bob", AMBIENT])

# (field the error must name, values overriding those of a valid record)
INVALID_RECORDS = st.sampled_from(
    [
        ("qty", {"qty": "many"}),
        ("qty", {"qty": "1.5"}),
        ("qty", {"qty": 1.5}),
        ("qty", {"qty": 2**63}),
        ("qty", {"qty": [1]}),
        ("qty", {"qty": None}),
        ("name", {"name": "x" * 31}),
        ("name", {"name": 7}),
        ("name", {"name": None}),
        ("colour", {"colour": "red"}),
        ("deleted_at", {"deleted_at": dt.datetime(2024, 1, 1)}),
    ]
)
INVALID_CHANGES = st.sampled_from(
    [
        ("qty", {"qty": "many"}),
        ("qty", {"qty": None}),
        ("qty", {"qty": 2.5}),
        ("name", {"name": "y" * 31}),
        ("name", {"name": None}),
        ("colour", {"colour": "red"}),
        ("deleted_at", {"deleted_at": dt.datetime(2024, 1, 1)}),
        ("deleted_at", {"deleted_at": None}),
        ("id", {"id": 99}),
    ]
)

HOOK_EVENTS = {
    "create": "insert",
    "update": "update",
    "soft_delete": "delete",
    "delete": "delete",
    "restore": "restore",
}


class Abort(Exception):
    """Raised inside a transaction block to roll it back."""


class HookFailure(Exception):
    """Raised by a hook on purpose."""


@dataclass
class Row:
    name: str
    qty: int
    deleted_at: dt.datetime | None = None


@dataclass(frozen=True)
class Entry:
    """One expected audit row (and ``after_commit`` change), values as Python objects."""

    operation: str
    key: int
    actor: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def utc_naive_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def as_json(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in values.items()}


class AccessorMachine(RuleBasedStateMachine):
    """Drives one accessor; subclasses choose the model and whether hooks are registered."""

    item_cls: type[Any] = SoftItem
    with_hooks = False
    on_server = False  # PostgreSQL (VSTORAGE_TEST_POSTGRES_URL), each example in its own schema

    def __init__(self) -> None:
        super().__init__()
        self.soft = self.item_cls is SoftItem
        self.fields = ("id", "name", "qty", "deleted_at") if self.soft else ("id", "name", "qty")
        self.component = f"{self.item_cls.__tablename__}_component"
        self.rows: dict[int, Row] = {}
        self.trail: list[list[Entry]] = []
        self.commits: list[list[Change]] = []
        self.hook_log: list[tuple[str, int | None]] = []
        self.failing_stage: str | None = None
        self.loop = asyncio.new_event_loop()
        self.tmp = Path(tempfile.mkdtemp(prefix="vstorage-stateful-"))
        self.schema: str | None = None
        if self.on_server:
            self.schema = f"t_{uuid.uuid4().hex[:16]}"
            self.db = AsyncDatabase(POSTGRES_URL, schema=self.schema, readers=2, writers=4)
        else:
            self.db = AsyncDatabase(f"sqlite:///{self.tmp / 'state.db'}", readers=2)
        try:
            self.acc = AsyncModelAccessor(self.item_cls, self.component, database=self.db)
            self.acc.after_commit()(self.commits.append)
            if self.with_hooks:
                self._register_hooks()
            self.run(self.db.connect())
            self.run(self.db.create_all())
        except BaseException:
            self.teardown()
            raise

    def _register_hooks(self) -> None:
        for event in set(HOOK_EVENTS.values()):
            getattr(self.acc, f"before_{event}")()(self._sync_hook(f"before_{event}"))
            getattr(self.acc, f"after_{event}")()(self._async_hook(f"after_{event}"))

    def _sync_hook(self, event: str) -> Callable[[Any, Any], None]:
        def hook(session: Any, instance: Any) -> None:
            self.hook_log.append((event, None))
            if self.failing_stage == "before":
                raise HookFailure(event)

        return hook

    def _async_hook(self, event: str) -> Callable[[Any, Any], Awaitable[None]]:
        async def hook(session: Any, instance: Any) -> None:
            self.hook_log.append((event, instance.id))
            if self.failing_stage == "after":
                raise HookFailure(event)

        return hook

    def teardown(self) -> None:
        try:
            if not self.loop.is_closed():
                self.loop.run_until_complete(self.db.close())
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
                self.loop.run_until_complete(self.loop.shutdown_default_executor())
        finally:
            self.loop.close()
            shutil.rmtree(self.tmp, ignore_errors=True)
            if self.schema is not None:
                drop_schema(self.schema)

    # -- plumbing --------------------------------------------------------------------------

    def run(self, awaitable: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(awaitable)

    def call(
        self, method: Callable[..., Awaitable[Any]], *args: Any, actor: str | None, **kwargs: Any
    ) -> Any:
        """Run ``method`` with an explicit actor, the default one, or one set by use_actor()."""
        if actor == AMBIENT:
            with use_actor(AMBIENT_ACTOR):
                return self.run(method(*args, **kwargs))
        if actor is not None:
            kwargs["actor"] = actor
        return self.run(method(*args, **kwargs))

    @staticmethod
    def who(actor: str | None) -> str:
        if actor == AMBIENT:
            return AMBIENT_ACTOR
        return "internal" if actor is None else actor

    def values(self, key: int) -> dict[str, Any]:
        row = self.rows[key]
        out: dict[str, Any] = {"id": key, "name": row.name, "qty": row.qty}
        if self.soft:
            out["deleted_at"] = row.deleted_at
        return out

    def stored(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self.fields}

    def live(self, key: int) -> bool:
        return key in self.rows and self.rows[key].deleted_at is None

    def name_taken(self, name: str, *, by_other_than: int | None = None) -> bool:
        return any(
            row.name == name and row.deleted_at is None and key != by_other_than
            for key, row in self.rows.items()
        )

    def pick_key(self, data: st.DataObject, *, mostly: str = "any") -> int:
        """A key: mostly a live or deleted one when asked, sometimes any known or missing one."""
        known = sorted(self.rows)
        fresh = st.integers(min_value=1, max_value=max(known, default=0) + 2)
        if not known:
            return data.draw(fresh, label="key")
        preferred = {
            "any": known,
            "live": [k for k in known if self.live(k)],
            "deleted": [k for k in known if not self.live(k)],
        }[mostly] or known
        choices = st.sampled_from(preferred)
        return data.draw(choices | choices | st.sampled_from(known) | fresh, label="key")

    def pick_name(self, data: st.DataObject) -> str:
        """A name, often one a live record holds (to provoke unique conflicts)."""
        held = sorted({r.name for r in self.rows.values() if r.deleted_at is None})
        return data.draw(st.sampled_from(held) | NAMES if held else NAMES, label="name")

    def make(self, values: dict[str, Any], as_dict: bool) -> Any:
        return dict(values) if as_dict else self.item_cls(**values)

    def expect(self, entries: list[Entry], *, failed: bool = False) -> None:
        """Record what one step wrote; check the commit listener and the hooks saw exactly it."""
        commits, self.commits[:] = list(self.commits), []
        hooks, self.hook_log[:] = list(self.hook_log), []
        if entries:
            self.trail.append(entries)
            assert len(commits) == 1, commits
            got = sorted(commits[0], key=lambda c: (c.before or c.values or {})["id"])
            want = sorted(entries, key=lambda e: e.key)
            assert [(c.operation, c.before, c.values) for c in got] == [
                (e.operation, e.before, e.after) for e in want
            ]
        else:
            assert commits == []
        if self.with_hooks and not failed:
            expected_hooks: Counter[tuple[str, int | None]] = Counter()
            for entry in entries:
                event = HOOK_EVENTS[entry.operation]
                expected_hooks[(f"before_{event}", None)] += 1
                expected_hooks[(f"after_{event}", entry.key)] += 1
            assert Counter(hooks) == expected_hooks

    def soft_delete_stamp(self, key: int, earliest: dt.datetime) -> dt.datetime:
        row = self.run(self.acc.get(key, include_deleted=True))
        assert row is not None and row.deleted_at is not None
        assert earliest <= row.deleted_at <= utc_naive_now()
        return row.deleted_at

    def remove(self, key: int, actor: str, earliest: dt.datetime) -> Entry:
        """Apply a successful delete of ``key`` to the model; returns its audit entry."""
        before = self.values(key)
        if not self.soft:
            del self.rows[key]
            return Entry("delete", key, actor, before, None)
        self.rows[key].deleted_at = self.soft_delete_stamp(key, earliest)
        return Entry("soft_delete", key, actor, before, self.values(key))

    # -- invariant -------------------------------------------------------------------------

    @invariant()
    def storage_matches_model(self) -> None:
        everything = [self.values(key) for key in sorted(self.rows)]
        live = [v for v in everything if v.get("deleted_at") is None]
        stored = self.run(self.acc.all(include_deleted=True))
        assert [self.stored(obj) for obj in stored] == everything
        assert [self.stored(obj) for obj in self.run(self.acc.all())] == live
        assert self.run(self.acc.count()) == len(live)
        assert self.run(self.acc.count(include_deleted=True)) == len(everything)
        self.check_audit(self.run(self.db.read_audit(component=self.component, limit=None)))

    def check_audit(self, entries: list[AuditEntry]) -> None:
        expected = [entry for step in self.trail for entry in step]
        assert len(entries) == len(expected)
        for entry in entries:
            assert entry.component == self.component
            assert entry.timestamp.utcoffset() == dt.timedelta(0)
        oldest_first = entries[::-1]
        position = 0
        # Within one step (a batch) the order of the rows is not part of the contract.
        for step in self.trail:
            chunk = oldest_first[position : position + len(step)]
            position += len(step)
            got = sorted(chunk, key=lambda e: (e.record_id, e.operation))
            want = sorted(step, key=lambda e: (str(e.key), e.operation))
            assert [(e.record_id, e.operation, e.actor, e.before, e.after) for e in got] == [
                (str(e.key), e.operation, e.actor, as_json(e.before), as_json(e.after))
                for e in want
            ]
        if expected:
            newest, last = entries[0], self.trail[-1]
            assert any(
                (newest.operation, newest.record_id, newest.actor)
                == (e.operation, str(e.key), e.actor)
                for e in last
            )

    # -- rules -----------------------------------------------------------------------------

    @initialize(data=st.data(), names=st.lists(NAMES, max_size=4, unique=True), actor=ACTORS)
    def seed(self, data: st.DataObject, names: list[str], actor: str | None) -> None:
        """Start from a few records, some of them deleted, so every rule has something to do."""
        self.insert_many(data, names, actor, "none", as_dict=True)
        self.delete_many(data, actor)

    @rule(name=NAMES, qty=QTYS, actor=ACTORS, as_dict=st.booleans(), qty_as_text=st.booleans())
    def insert(
        self, name: str, qty: int, actor: str | None, as_dict: bool, qty_as_text: bool
    ) -> None:
        obj = self.make({"name": name, "qty": str(qty) if qty_as_text else qty}, as_dict)
        if self.name_taken(name):
            with pytest.raises(ConflictError):
                self.call(self.acc.insert, obj, actor=actor)
            self.expect([], failed=True)
            return
        result = self.call(self.acc.insert, obj, actor=actor)
        key = result.id
        assert isinstance(key, int) and key not in self.rows
        self.rows[key] = Row(name, qty)
        assert self.stored(result) == self.values(key)
        self.expect([Entry("create", key, self.who(actor), None, self.values(key))])

    @rule(name=NAMES, qty=QTYS, invalid=INVALID_RECORDS, actor=ACTORS, as_dict=st.booleans())
    def insert_invalid(
        self,
        name: str,
        qty: int,
        invalid: tuple[str, dict[str, Any]],
        actor: str | None,
        as_dict: bool,
    ) -> None:
        field, override = invalid
        values = {"name": name, "qty": qty, **override}
        if field in ("name", "qty") and override[field] is None and as_dict:
            del values[field]  # absent rather than null: still a missing required field
        if field in ("colour", "deleted_at") and not as_dict and not hasattr(self.item_cls, field):
            as_dict = True  # the mapped class refuses unknown keyword arguments itself
        with pytest.raises(ValidationError) as caught:
            self.call(self.acc.insert, self.make(values, as_dict), actor=actor)
        assert field in {e.field for e in caught.value.errors}, caught.value.errors
        self.expect([], failed=True)

    @rule(
        data=st.data(),
        qty=QTYS,
        actor=ACTORS,
        as_dict=st.booleans(),
        with_key=st.booleans(),
        stale_deleted_at=st.booleans(),
    )
    def save(
        self,
        data: st.DataObject,
        qty: int,
        actor: str | None,
        as_dict: bool,
        with_key: bool,
        stale_deleted_at: bool,
    ) -> None:
        who = self.who(actor)
        name = self.pick_name(data)
        key = self.pick_key(data) if with_key else None
        values = (
            {"name": name, "qty": qty} if key is None else {"id": key, "name": name, "qty": qty}
        )
        if key is not None and self.soft and stale_deleted_at:
            values["deleted_at"] = dt.datetime(2020, 1, 1)  # save() never changes deleted_at
        obj = self.make(values, as_dict)
        if key is not None and key in self.rows:
            self.save_existing(key, obj, name, qty, actor)
            return
        if self.name_taken(name):
            with pytest.raises(ConflictError):
                self.call(self.acc.save, obj, actor=actor)
            self.expect([], failed=True)
            return
        result = self.call(self.acc.save, obj, actor=actor)
        assert key is None or result.id == key
        key = result.id
        assert isinstance(key, int)
        self.rows[key] = Row(name, qty)
        assert self.stored(result) == self.values(key)
        self.expect([Entry("create", key, who, None, self.values(key))])

    def save_existing(self, key: int, obj: Any, name: str, qty: int, actor: str | None) -> None:
        row = self.rows[key]
        if row.deleted_at is not None or self.name_taken(name, by_other_than=key):
            # A soft-deleted record must be restored before it can be saved.
            with pytest.raises(ConflictError):
                self.call(self.acc.save, obj, actor=actor)
            self.expect([], failed=True)
            return
        before = self.values(key)
        result = self.call(self.acc.save, obj, actor=actor)
        row.name, row.qty = name, qty
        assert self.stored(result) == self.values(key)
        if before == self.values(key):
            self.expect([])
        else:
            self.expect([Entry("update", key, self.who(actor), before, self.values(key))])

    @rule(
        data=st.data(),
        rename=st.booleans(),
        qty=st.none() | QTYS,
        actor=ACTORS,
        qty_as_text=st.booleans(),
    )
    def update(
        self,
        data: st.DataObject,
        rename: bool,
        qty: int | None,
        actor: str | None,
        qty_as_text: bool,
    ) -> None:
        key = self.pick_key(data, mostly="live")
        name = self.pick_name(data) if rename else None
        fields: dict[str, Any] = {} if name is None else {"name": name}
        if qty is not None:
            fields["qty"] = str(qty) if qty_as_text else qty
        if not self.live(key):
            assert self.call(self.acc.update, key, actor=actor, **fields) is None
            self.expect([])
            return
        row = self.rows[key]
        if name is not None and name != row.name and self.name_taken(name, by_other_than=key):
            with pytest.raises(ConflictError):
                self.call(self.acc.update, key, actor=actor, **fields)
            self.expect([], failed=True)
            return
        before = self.values(key)
        result = self.call(self.acc.update, key, actor=actor, **fields)
        row.name = row.name if name is None else name
        row.qty = row.qty if qty is None else qty
        assert result is not None and self.stored(result) == self.values(key)
        if before == self.values(key):
            self.expect([])
        else:
            self.expect([Entry("update", key, self.who(actor), before, self.values(key))])

    @rule(data=st.data(), invalid=INVALID_CHANGES, actor=ACTORS)
    def update_invalid(
        self, data: st.DataObject, invalid: tuple[str, dict[str, Any]], actor: str | None
    ) -> None:
        field, fields = invalid
        key = self.pick_key(data)
        with pytest.raises(ValidationError) as caught:
            self.call(self.acc.update, key, actor=actor, **fields)
        assert field in {e.field for e in caught.value.errors}, caught.value.errors
        self.expect([], failed=True)

    @rule(data=st.data(), actor=ACTORS, key_as_text=st.booleans())
    def delete(self, data: st.DataObject, actor: str | None, key_as_text: bool) -> None:
        key = self.pick_key(data, mostly="live")
        earliest = utc_naive_now()
        done = self.call(self.acc.delete, str(key) if key_as_text else key, actor=actor)
        if not self.live(key):
            assert done is False
            self.expect([])
            return
        assert done is True
        self.expect([self.remove(key, self.who(actor), earliest)])

    @rule(data=st.data(), actor=ACTORS)
    def restore(self, data: st.DataObject, actor: str | None) -> None:
        key = self.pick_key(data, mostly="deleted")
        row = self.rows.get(key)
        if row is None or row.deleted_at is None:
            assert self.call(self.acc.restore, key, actor=actor) is False
            self.expect([])
            return
        if self.name_taken(row.name):
            with pytest.raises(ConflictError):
                self.call(self.acc.restore, key, actor=actor)
            self.expect([], failed=True)
            return
        before = self.values(key)
        assert self.call(self.acc.restore, key, actor=actor) is True
        row.deleted_at = None
        self.expect([Entry("restore", key, self.who(actor), before, self.values(key))])

    @rule(
        data=st.data(),
        names=st.lists(NAMES, max_size=4, unique=True),
        actor=ACTORS,
        clash=st.sampled_from(["none", "none", "in_batch", "with_live"]),
        as_dict=st.booleans(),
    )
    def insert_many(
        self, data: st.DataObject, names: list[str], actor: str | None, clash: str, as_dict: bool
    ) -> None:
        live_names = sorted(r.name for r in self.rows.values() if r.deleted_at is None)
        if clash == "in_batch" and names:
            names.append(data.draw(st.sampled_from(names), label="repeated"))
        elif clash == "with_live" and live_names:
            names.insert(0, data.draw(st.sampled_from(live_names), label="live name"))
        qtys = [data.draw(QTYS, label=f"qty {i}") for i in range(len(names))]
        objs = [self.make({"name": n, "qty": q}, as_dict) for n, q in zip(names, qtys, strict=True)]
        if len(set(names)) < len(names) or any(self.name_taken(n) for n in names):
            with pytest.raises(ConflictError):
                self.call(self.acc.insert_many, objs, actor=actor)
            self.expect([], failed=True)
            return
        result = self.call(self.acc.insert_many, objs, actor=actor)
        assert len(result) == len(names)
        keys = [obj.id for obj in result]
        assert len(set(keys)) == len(keys) and not set(keys) & set(self.rows)
        entries = []
        for key, name, qty, obj in zip(keys, names, qtys, result, strict=True):
            self.rows[key] = Row(name, qty)
            assert self.stored(obj) == self.values(key)
            entries.append(Entry("create", key, self.who(actor), None, self.values(key)))
        self.expect(entries)

    @rule(
        data=st.data(),
        names=st.lists(NAMES, min_size=1, max_size=3),
        invalid=INVALID_RECORDS,
        actor=ACTORS,
    )
    def insert_many_invalid(
        self,
        data: st.DataObject,
        names: list[str],
        invalid: tuple[str, dict[str, Any]],
        actor: str | None,
    ) -> None:
        field, override = invalid
        objs: list[dict[str, Any]] = [{"name": n, "qty": 1} for n in names]
        position = data.draw(st.integers(0, len(objs) - 1), label="invalid position")
        objs[position].update(override)
        with pytest.raises(ValidationError) as caught:
            self.call(self.acc.insert_many, objs, actor=actor)
        assert f"{position}.{field}" in {e.field for e in caught.value.errors}
        self.expect([], failed=True)

    @rule(data=st.data(), actor=ACTORS)
    def delete_many(self, data: st.DataObject, actor: str | None) -> None:
        size = data.draw(st.integers(0, 5), label="how many ids")
        keys = [self.pick_key(data, mostly="live") for _ in range(size)]
        doomed = [key for key in dict.fromkeys(keys) if self.live(key)]
        earliest = utc_naive_now()
        assert self.call(self.acc.delete_many, keys, actor=actor) == len(doomed)
        self.expect([self.remove(key, self.who(actor), earliest) for key in doomed])

    @rule(data=st.data(), qty=QTYS, actor=ACTORS, abort=st.booleans())
    def transaction(self, data: st.DataObject, qty: int, actor: str | None, abort: bool) -> None:
        """An insert and a delete inside one db.transaction(): both commit, or neither."""
        free = [n for n in ALL_NAMES if not self.name_taken(n)]
        name = data.draw(st.sampled_from(free), label="free name") if free else None
        live = [k for k in sorted(self.rows) if self.live(k)]
        victim = data.draw(st.sampled_from(live), label="victim") if live else None

        async def body(actor: str | None = None) -> tuple[Any, bool | None]:
            async with self.db.transaction():
                created = None
                if name is not None:
                    created = await self.acc.insert({"name": name, "qty": qty}, actor=actor)
                deleted = None if victim is None else await self.acc.delete(victim, actor=actor)
                if abort:
                    raise Abort
            return created, deleted

        earliest = utc_naive_now()
        if abort:
            with pytest.raises(Abort):
                self.call(body, actor=actor)
            self.expect([], failed=True)
            return
        created, deleted = self.call(body, actor=actor)
        entries = []
        if name is not None:
            assert isinstance(created.id, int) and created.id not in self.rows
            self.rows[created.id] = Row(name, qty)
            entries.append(
                Entry("create", created.id, self.who(actor), None, self.values(created.id))
            )
        if victim is not None:
            assert deleted is True
            entries.append(self.remove(victim, self.who(actor), earliest))
        self.expect(entries)

    @precondition(lambda self: self.with_hooks)
    @rule(
        data=st.data(),
        stage=st.sampled_from(["before", "after"]),
        call=st.sampled_from(
            ["insert", "save", "update", "delete", "restore", "insert_many", "delete_many"]
        ),
        actor=ACTORS,
    )
    def call_with_failing_hook(
        self, data: st.DataObject, stage: str, call: str, actor: str | None
    ) -> None:
        """A hook that raises rolls back the whole call; the hook's own error reaches the caller."""
        self.failing_stage = stage
        try:
            if call == "insert":
                self.insert(data.draw(NAMES), data.draw(QTYS), actor, True, False)
            elif call == "save":
                self.save(data, data.draw(QTYS), actor, False, data.draw(st.booleans()), False)
            elif call == "update":
                self.update(data, data.draw(st.booleans()), data.draw(QTYS), actor, False)
            elif call == "insert_many":
                names = data.draw(st.lists(NAMES, max_size=3, unique=True))
                self.insert_many(data, names, actor, "none", True)
            elif call == "delete":
                self.delete(data, actor, False)
            else:
                getattr(self, call)(data, actor)
        except HookFailure:
            self.expect([], failed=True)
        finally:
            self.failing_stage = None

    # -- reads -----------------------------------------------------------------------------

    @rule(data=st.data(), include_deleted=st.booleans())
    def get(self, data: st.DataObject, include_deleted: bool) -> None:
        key = self.pick_key(data)
        found = self.run(self.acc.get(key, include_deleted=include_deleted))
        if key in self.rows and (include_deleted or self.live(key)):
            assert found is not None and self.stored(found) == self.values(key)
        else:
            assert found is None

    @rule(
        order_by=st.sampled_from(["qty", "name", "id"]),
        desc=st.booleans(),
        include_deleted=st.booleans(),
        limit=st.none() | st.integers(0, 4),
        offset=st.integers(0, 3),
    )
    def list_ordered(
        self, order_by: str, desc: bool, include_deleted: bool, limit: int | None, offset: int
    ) -> None:
        found = self.run(
            self.acc.all(
                include_deleted=include_deleted,
                order_by=order_by,
                order_desc=desc,
                limit=limit,
                offset=offset,
            )
        )
        rows = [self.values(k) for k in sorted(self.rows) if include_deleted or self.live(k)]
        # The key breaks ties, ascending whatever the direction of the main order.
        rows.sort(key=lambda v: v["id"])
        rows.sort(key=lambda v: v[order_by], reverse=desc)
        end = None if limit is None else offset + limit
        assert [self.stored(obj) for obj in found] == rows[offset:end]

    @rule(order_by=st.sampled_from(["colour", "__class__", "metadata", "qty.desc"]))
    def list_by_unknown_field(self, order_by: str) -> None:
        with pytest.raises(ValidationError):
            self.run(self.acc.all(order_by=order_by))


class HookedAccessorMachine(AccessorMachine):
    """Same model with hooks on every event: inserts take the session path."""

    with_hooks = True


class HardDeleteAccessorMachine(AccessorMachine):
    """A model without ``deleted_at``: deletes are hard, restore is always False."""

    item_cls = HardItem


class ServerAccessorMachine(AccessorMachine):
    """Soft delete on PostgreSQL: compiled inserts, the session path for everything else."""

    on_server = True


class ServerHookedAccessorMachine(AccessorMachine):
    """Hooks on every event, on PostgreSQL."""

    on_server = True
    with_hooks = True


class ServerHardDeleteAccessorMachine(AccessorMachine):
    """Hard delete on PostgreSQL."""

    on_server = True
    item_cls = HardItem


_SETTINGS = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TestSoftDelete = AccessorMachine.TestCase
TestSoftDelete.settings = _SETTINGS
TestSoftDeleteWithHooks = HookedAccessorMachine.TestCase
TestSoftDeleteWithHooks.settings = _SETTINGS
TestHardDelete = HardDeleteAccessorMachine.TestCase
TestHardDelete.settings = _SETTINGS

_ON_SERVER = pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)
TestServerSoftDelete = _ON_SERVER(ServerAccessorMachine.TestCase)
TestServerSoftDelete.settings = _SETTINGS
TestServerSoftDeleteWithHooks = _ON_SERVER(ServerHookedAccessorMachine.TestCase)
TestServerSoftDeleteWithHooks.settings = _SETTINGS
TestServerHardDelete = _ON_SERVER(ServerHardDeleteAccessorMachine.TestCase)
TestServerHardDelete.settings = _SETTINGS
