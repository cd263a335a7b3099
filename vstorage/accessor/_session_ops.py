"""Mutations run on the writer's session: the path for hooks and for joined transactions.

Every operation here runs inside a savepoint of the caller's write transaction, so it is
atomic on its own and rolls back with the transaction. Statements are SQLAlchemy Core, so the
same code serves every dialect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vstorage.accessor._hooks import HookRegistry
from vstorage.accessor._model import ModelInfo
from vstorage.accessor._validation import Validator
from vstorage.database._audit import audit_table, utc_now
from vstorage.database._context import WriteContext
from vstorage.database._jobs import Change
from vstorage.errors import ConflictError, RecordLimitError, ValidationError


class SessionOps:
    """Insert, update, delete and restore of one model on a write session."""

    def __init__(
        self,
        info: ModelInfo,
        validator: Validator,
        hooks: HookRegistry,
        *,
        component: str,
        auditing: bool,
    ) -> None:
        self._info = info
        self.validator = validator
        self._hooks = hooks
        self._component = component
        self._auditing = auditing
        table = info.table
        self._columns = list(table.c)
        self._pk_column = info.pk.column

    # -- helpers ---------------------------------------------------------------------------

    async def fetch(self, session: AsyncSession, key: Any) -> dict[str, Any] | None:
        """The current row of ``key`` (deleted or not), locked for update where supported."""
        query = select(*self._columns).where(self._pk_column == key).with_for_update()
        row = (await session.execute(query)).mappings().first()
        return None if row is None else self._info.from_row(row)

    def _is_deleted(self, values: dict[str, Any]) -> bool:
        soft = self._info.soft_delete
        return soft is not None and values.get(soft.key) is not None

    async def _record(
        self,
        context: WriteContext,
        operation: str,
        key: Any,
        actor: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        context.changes.append(Change(self._info.table.name, operation, after, before))
        if not self._auditing:
            return
        await context.session.execute(
            insert(audit_table).values(
                timestamp=utc_now(),
                component=self._component,
                record_id=str(key),
                operation=operation,
                actor=actor,
                before=before,
                after=after,
            )
        )

    def _columns_of(self, values: dict[str, Any]) -> dict[str, Any]:
        fields = self._info.fields
        return {fields[key].column.name: value for key, value in values.items()}

    def _revalidate(self, instance: Any, *, keep: dict[str, Any]) -> dict[str, Any]:
        """Values of ``instance`` after before-hooks ran, validated; ``keep`` fields pinned."""
        values = self.validator.record(self._info.values_of(instance))
        for key, value in keep.items():
            if values.get(key) != value:
                raise ValidationError.single(key, "cannot be changed by a hook", "read_only")
        return values

    # -- operations ------------------------------------------------------------------------

    async def check_limit(self, context: WriteContext, adding: int, limit: int | None) -> None:
        """Refuse when ``adding`` records would take the table past ``limit`` live ones.

        The count is serialized with every other limited write to the table (a no-op on
        SQLite, whose writes are serialized already), so concurrent inserts cannot overshoot.
        """
        if limit is None:
            return
        await context.database.lock(self._info.limit_lock)
        live: int = (await context.session.execute(self._info.live_count())).scalar_one()
        if live + adding > limit:
            raise RecordLimitError(limit)

    async def insert(
        self, context: WriteContext, obj: Any, values: dict[str, Any], actor: str
    ) -> Any:
        """Run before hooks, insert, audit ``create``, run after hooks; returns the instance."""
        session = context.session
        instance = self._info.assign(obj, values)
        if self._hooks.any_for("before_insert"):
            await self._hooks.run("before_insert", session, instance)
            values = self._complete(self.validator.record(self._info.values_of(instance)))
        # RETURNING only what the database made: SQLite returns the values it was given
        # before column affinity applies (30.0 comes back as 30), so ours are the truth.
        generated = [f.column for f in self._info.fields.values() if f.key not in values]
        statement = insert(self._info.table).values(self._columns_of(values))
        stored = dict(values)
        if generated:
            result = await session.execute(statement.returning(*generated))
            stored.update(self._info.from_row(result.mappings().one()))
        else:
            await session.execute(statement)
        stored = {key: stored[key] for key in self._info.fields if key in stored}
        if self._info.pk_generated and values.get(self._info.pk.key) is not None:
            # An explicit key: a PostgreSQL key sequence must move past it.
            await context.database.advance_sequences([self._info.table])
        self._info.assign(instance, stored)
        await self._record(context, "create", stored[self._info.pk.key], actor, None, stored)
        await self._hooks.run("after_insert", session, instance)
        return instance

    def _complete(self, values: dict[str, Any]) -> dict[str, Any]:
        return self._info.complete(values)

    async def update(
        self, context: WriteContext, key: Any, changes: dict[str, Any], actor: str
    ) -> Any | None:
        """Partial update of a live row; ``None`` when missing or soft-deleted."""
        session = context.session
        before = await self.fetch(session, key)
        if before is None or self._is_deleted(before):
            return None
        after = {**before, **changes}
        if after == before:
            return self._info.build(before)
        instance = self._info.build(after)
        if self._hooks.any_for("before_update"):
            await self._hooks.run("before_update", session, instance)
            pinned = {self._info.pk.key: before[self._info.pk.key]}
            if self._info.soft_delete is not None:
                pinned[self._info.soft_delete.key] = before[self._info.soft_delete.key]
            after = {**before, **self._revalidate(instance, keep=pinned)}
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        if not changed:
            return instance
        await session.execute(
            update(self._info.table).where(self._pk_column == key).values(self._columns_of(changed))
        )
        await self._record(context, "update", key, actor, before, after)
        await self._hooks.run("after_update", session, instance)
        return instance

    async def replace(self, context: WriteContext, values: dict[str, Any], actor: str) -> Any:
        """``save`` of a record whose key exists: update every field but ``deleted_at``."""
        key = values[self._info.pk.key]
        current = await self.fetch(context.session, key)
        if current is not None and self._is_deleted(current):
            raise ConflictError(
                f"{self._info.name} {key} is deleted; restore it before saving",
                constraint="state",
            )
        changes = {k: v for k, v in values.items() if k != self._info.pk.key}
        if self._info.soft_delete is not None:
            changes.pop(self._info.soft_delete.key, None)
        return await self.update(context, key, changes, actor)

    async def delete(self, context: WriteContext, key: Any, actor: str) -> bool:
        """Soft delete when the model has ``deleted_at``, else hard; False when nothing to do."""
        session = context.session
        before = await self.fetch(session, key)
        if before is None or self._is_deleted(before):
            return False
        instance = self._info.build(before)
        await self._hooks.run("before_delete", session, instance)
        soft = self._info.soft_delete
        if soft is not None:
            stamp = self._info.now_for_soft_delete()
            await session.execute(
                update(self._info.table)
                .where(self._pk_column == key)
                .values({soft.column.name: stamp})
            )
            after = {**before, soft.key: stamp}
            setattr(instance, soft.key, stamp)
            await self._record(context, "soft_delete", key, actor, before, after)
        else:
            await session.execute(delete(self._info.table).where(self._pk_column == key))
            await self._record(context, "delete", key, actor, before, None)
        await self._hooks.run("after_delete", session, instance)
        return True

    async def restore(
        self, context: WriteContext, key: Any, actor: str, *, max_records: int | None = None
    ) -> bool:
        """Clear ``deleted_at``; False when the row is missing or not deleted."""
        soft = self._info.soft_delete
        if soft is None:
            return False
        session = context.session
        before = await self.fetch(session, key)
        if before is None or not self._is_deleted(before):
            return False
        await self.check_limit(context, 1, max_records)
        after = {**before, soft.key: None}
        instance = self._info.build(after)
        await self._hooks.run("before_restore", session, instance)
        await session.execute(
            update(self._info.table).where(self._pk_column == key).values({soft.column.name: None})
        )
        await self._record(context, "restore", key, actor, before, after)
        await self._hooks.run("after_restore", session, instance)
        return True

    async def delete_many(self, context: WriteContext, keys: Sequence[Any], actor: str) -> int:
        """Delete each key that exists and is live; returns how many were deleted."""
        count = 0
        for key in dict.fromkeys(keys):
            if await self.delete(context, key, actor):
                count += 1
        return count
