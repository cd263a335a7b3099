"""AsyncModelAccessor: typed CRUD over one model, with hooks, validation and audit."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, select

from vstorage.accessor._actor import resolve_actor, use_actor
from vstorage.accessor._hooks import Hook, HookRegistry
from vstorage.accessor._model import ModelInfo, make_unique_partial
from vstorage.accessor._raw import RawInserts
from vstorage.accessor._raw_mutations import Plan, RawMutations, on_connection, on_cursor
from vstorage.accessor._raw_reads import RawGet
from vstorage.accessor._server_inserts import ServerInserts
from vstorage.accessor._session_ops import SessionOps
from vstorage.accessor._validation import Validator
from vstorage.database._context import WriteContext
from vstorage.database._database import AsyncDatabase, CommitListener
from vstorage.database._errors import translated
from vstorage.errors import ConfigurationError, FieldError, ValidationError

ModelT = TypeVar("ModelT")
F = TypeVar("F", bound=Callable[..., Any])


class AsyncModelAccessor(Generic[ModelT]):
    """Typed create, read, update and delete of one model, audited, with lifecycle hooks.

    Works with SQLAlchemy 2 declarative classes and SQLModel ``table=True`` classes that have
    exactly one primary-key column. A model with a ``deleted_at`` column is soft-deleted; its
    unique constraints become partial unique indexes (``WHERE deleted_at IS NULL``) so a
    deleted row releases its unique values. Safe for use by many concurrent tasks.

    Args:
        model: the mapped class.
        component: the name written to the audit trail (e.g. ``"recipes"``).
        database: the database to bind to now; or bind later with ``db.register(accessor)``.
        enable_auditing: write an audit row per mutation (in the same transaction).

    Raises:
        ConfigurationError: the class is not mapped, or has no single-column primary key.

    Example:
        >>> recipes = AsyncModelAccessor(Recipe, "recipes", database=db)
        >>> bolt = await recipes.insert(Recipe(name="bolt", speed=3), actor="operator")
        >>> await recipes.update(bolt.id, speed=4, actor="operator")

    """

    def __init__(
        self,
        model: type[ModelT],
        component: str,
        *,
        database: AsyncDatabase | None = None,
        enable_auditing: bool = True,
    ) -> None:
        if not isinstance(component, str) or not component:
            raise ConfigurationError("component must be a non-empty string")
        self.model = model
        self.component = component
        self.enable_auditing = enable_auditing
        self._info = ModelInfo(model)
        make_unique_partial(self._info)
        self._validator = Validator(self._info)
        self._hooks = HookRegistry()
        self._ops = SessionOps(
            self._info,
            self._validator,
            self._hooks,
            component=component,
            auditing=enable_auditing,
        )
        self._commit_listeners: list[CommitListener] = []
        self._database: AsyncDatabase | None = None
        self._raw: RawInserts | None = None
        self._raw_get: RawGet | None = None
        self._mutations: RawMutations | None = None
        self._server: ServerInserts | None = None
        if database is not None:
            database.register(self)

    # -- binding ---------------------------------------------------------------------------

    @property
    def table(self) -> Any:
        """The model's ``Table``."""
        return self._info.table

    @property
    def soft_delete(self) -> bool:
        """True when the model has a ``deleted_at`` column."""
        return self._info.soft_delete is not None

    @property
    def fields(self) -> tuple[str, ...]:
        """The model's column attributes, in table order."""
        return tuple(self._info.fields)

    @property
    def primary_key(self) -> str:
        """The primary-key attribute."""
        return self._info.pk.key

    @property
    def generated_key(self) -> bool:
        """True when the key is filled in by the database or a Python default."""
        return self._info.pk_generated or self._info.pk.has_python_default

    def parse_value(self, field: str, value: Any) -> Any:
        """Coerce one value of ``field`` as an insert would (e.g. a query-string filter).

        Raises:
            ValidationError: unknown field, or a value that does not fit the column.

        """
        return self._validator.value(field, value)

    def parse_key(self, value: Any) -> Any:
        """Coerce a primary-key value.

        Raises:
            ValidationError: the value cannot be this model's key.

        """
        return self._validator.key(value)

    def validate_record(self, values: dict[str, Any]) -> dict[str, Any]:
        """Validate a whole record without writing it; returns the coerced values.

        Raises:
            ValidationError: as :meth:`insert` would.

        """
        return self._validator.record(values)

    def with_defaults(self, values: dict[str, Any]) -> dict[str, Any]:
        """Every field of already validated ``values``, with defaults filled in."""
        return self._info.complete(values)

    def to_dict(self, obj: Any) -> dict[str, Any]:
        """The column values of a record, by attribute name."""
        return self._info.values_of(obj)

    def json_schemas(
        self, *, ref_template: str = "#/$defs/{model}", mode: str = "validation"
    ) -> dict[str, dict[str, Any]]:
        """JSON schemas of a whole record (``"record"``) and of a partial change (``"changes"``).

        ``mode`` is ``"validation"`` (what inputs may be) or ``"serialization"`` (what outputs
        are); ``ref_template`` places shared definitions (e.g. in OpenAPI components).
        """
        return self._validator.schemas(ref_template=ref_template, mode=mode)

    def column(self, field: str) -> Any:
        """The SQLAlchemy column of ``field``, for building ``find()`` conditions.

        Raises:
            ValidationError: unknown field.

        """
        known = self._info.fields.get(field)
        if known is None:
            raise ValidationError.single(field, "unknown field", "unknown_field")
        return known.column

    @property
    def database(self) -> AsyncDatabase:
        """The bound database.

        Raises:
            ConfigurationError: the accessor is not bound yet.

        """
        if self._database is None:
            raise ConfigurationError(
                f"accessor {self.component!r} is not bound; call db.register(accessor)"
            )
        return self._database

    def bind(self, database: AsyncDatabase) -> None:
        """Bind to ``database`` (called by ``AsyncDatabase.register``).

        An accessor whose database was closed may be bound again (e.g. after a restart).

        Raises:
            ConfigurationError: already bound to another database that is not closed.

        """
        if self._database is database:
            return
        if self._database is not None and not self._database.is_closed:
            raise ConfigurationError(f"accessor {self.component!r} is bound to another database")
        self._database = database
        server = database.dialect_name == "postgresql"
        if server != self._validator.server:
            # PostgreSQL bounds integers by column size and refuses NUL in text.
            self._validator = self._ops.validator = Validator(self._info, server=server)
        self._raw = None
        self._raw_get = None
        self._mutations = None
        self._server = None
        for listener in self._commit_listeners:
            database.add_commit_listener(self._info.table.name, listener)

    # -- hooks -----------------------------------------------------------------------------

    def _hook(self, event: str) -> Callable[[Hook], Hook]:
        def register(fn: Hook) -> Hook:
            return self._hooks.add(event, fn)

        return register

    def before_insert(self) -> Callable[[Hook], Hook]:
        """Decorator: ``fn(session, instance)`` before a record is inserted (may adjust it)."""
        return self._hook("before_insert")

    def after_insert(self) -> Callable[[Hook], Hook]:
        """Decorator: ``fn(session, instance)`` after the insert, inside the transaction."""
        return self._hook("after_insert")

    def before_update(self) -> Callable[[Hook], Hook]:
        """Decorator: ``fn(session, instance)`` with the new values, before the update."""
        return self._hook("before_update")

    def after_update(self) -> Callable[[Hook], Hook]:
        """Decorator: ``fn(session, instance)`` after the update, inside the transaction."""
        return self._hook("after_update")

    def before_delete(self) -> Callable[[Hook], Hook]:
        """Decorator: ``fn(session, instance)`` before a (soft or hard) delete."""
        return self._hook("before_delete")

    def after_delete(self) -> Callable[[Hook], Hook]:
        """Decorator: ``fn(session, instance)`` after the delete, inside the transaction."""
        return self._hook("after_delete")

    def before_restore(self) -> Callable[[Hook], Hook]:
        """Decorator: ``fn(session, instance)`` before a soft-deleted record is restored."""
        return self._hook("before_restore")

    def after_restore(self) -> Callable[[Hook], Hook]:
        """Decorator: ``fn(session, instance)`` after the restore, inside the transaction."""
        return self._hook("after_restore")

    def after_commit(self) -> Callable[[F], F]:
        """Decorator: ``fn(changes)`` after each committed transaction touching this table.

        ``changes`` lists every row of this table the transaction wrote. Called once per
        transaction, after COMMIT, never for a rollback; sync or async; its errors are logged.
        """

        def register(fn: F) -> F:
            self._commit_listeners.append(fn)
            if self._database is not None:
                self._database.add_commit_listener(self._info.table.name, fn)
            return fn

        return register

    # -- reads -----------------------------------------------------------------------------

    async def get(self, id: Any, *, include_deleted: bool = False) -> ModelT | None:
        """The record with key ``id``, or ``None`` (soft-deleted only with ``include_deleted``).

        Raises:
            ValidationError: ``id`` cannot be this model's key.
            DatabaseClosedError: the database is not open.

        Example:
            >>> recipe = await recipes.get(1)

        """
        key = self._validator.key(id)
        database = self.database
        if database.has_point_readers:
            if self._raw_get is None:
                self._raw_get = RawGet(self._info, database.dialect)
            raw = self._raw_get
            found = await database.read_raw(raw.query(key, include_deleted))
            return self._info.build(raw.values(found[0])) if found else None
        query = self._select(include_deleted).where(self._info.pk.column == key)
        rows = await self._fetch(query)
        return rows[0] if rows else None

    async def all(
        self,
        *,
        include_deleted: bool = False,
        limit: int | None = None,
        offset: int = 0,
        order_by: str | None = None,
        order_desc: bool = False,
    ) -> list[ModelT]:
        """Every record (live ones unless ``include_deleted``), ordered by key by default.

        Raises:
            ValidationError: ``order_by`` is not a field, or ``limit``/``offset`` is negative.
            DatabaseClosedError: the database is not open.

        """
        return await self.find(
            include_deleted=include_deleted,
            limit=limit,
            offset=offset,
            order_by=order_by,
            order_desc=order_desc,
        )

    async def find(
        self,
        *conditions: ColumnElement[bool],
        include_deleted: bool = False,
        limit: int | None = None,
        offset: int = 0,
        order_by: str | None = None,
        order_desc: bool = False,
    ) -> list[ModelT]:
        """Records matching every condition (SQLAlchemy expressions on the model's columns).

        Raises:
            ValidationError: ``order_by`` is not a field, or ``limit``/``offset`` is negative.
            DatabaseClosedError: the database is not open.

        Example:
            >>> fast = await recipes.find(Recipe.speed >= 3, order_by="name", limit=10)

        """
        query = self._find_query(conditions, include_deleted, limit, offset, order_by, order_desc)
        return await self._fetch(query)

    async def page(
        self,
        *conditions: ColumnElement[bool],
        include_deleted: bool = False,
        limit: int | None = None,
        offset: int = 0,
        order_by: str | None = None,
        order_desc: bool = False,
    ) -> tuple[list[ModelT], int]:
        """A page of :meth:`find` and the total count, read from one snapshot.

        Raises:
            ValidationError: ``order_by`` is not a field, or ``limit``/``offset`` is negative.
            DatabaseClosedError: the database is not open.

        Example:
            >>> items, total = await recipes.page(limit=50, offset=100, order_by="name")

        """
        query = self._find_query(conditions, include_deleted, limit, offset, order_by, order_desc)
        async with translated(), self.database.read() as session:
            rows = (await session.execute(query)).mappings().all()
            total = await session.execute(self._count_query(conditions, include_deleted))
        items = [self._info.build(self._info.from_row(row)) for row in rows]
        return items, int(total.scalar_one())

    async def count(self, *conditions: ColumnElement[bool], include_deleted: bool = False) -> int:
        """How many records match every condition.

        Raises:
            DatabaseClosedError: the database is not open.

        """
        query = self._count_query(conditions, include_deleted)
        async with translated(), self.database.read() as session:
            return int((await session.execute(query)).scalar_one())

    def _find_query(
        self,
        conditions: Sequence[ColumnElement[bool]],
        include_deleted: bool,
        limit: int | None,
        offset: int,
        order_by: str | None,
        order_desc: bool,
    ) -> Select[Any]:
        query = self._select(include_deleted).where(*conditions)
        query = query.order_by(self._order(order_by, order_desc), self._info.pk.column)
        if limit is not None or offset:
            if (limit is not None and limit < 0) or offset < 0:
                raise ValidationError.single("limit", "limit and offset must be >= 0")
            query = query.limit(limit).offset(offset)
        return query

    def _count_query(
        self, conditions: Sequence[ColumnElement[bool]], include_deleted: bool
    ) -> Select[Any]:
        query = select(func.count()).select_from(self._info.table).where(*conditions)
        if not include_deleted and self._info.soft_delete is not None:
            query = query.where(self._info.soft_delete.column.is_(None))
        return query

    def _select(self, include_deleted: bool) -> Select[Any]:
        query = select(*self._info.table.c)
        if not include_deleted and self._info.soft_delete is not None:
            query = query.where(self._info.soft_delete.column.is_(None))
        return query

    def _order(self, order_by: str | None, desc: bool) -> Any:
        if order_by is None:
            column = self._info.pk.column
        else:
            field = self._info.fields.get(order_by)
            if field is None:
                raise ValidationError.single(
                    "order_by", f"unknown field {order_by!r}", "unknown_field"
                )
            column = field.column
        ordered = column.desc() if desc else column.asc()
        if self.database.dialect_name == "postgresql":
            # NULLs sort first ascending and last descending, as on SQLite.
            return ordered.nulls_last() if desc else ordered.nulls_first()
        return ordered

    async def _fetch(self, query: Select[Any]) -> list[ModelT]:
        if self.database.reads_lock_rows:
            # Inside a PostgreSQL write the rows read are locked until it ends, so a
            # read-modify-write cannot interleave with another one on the same rows.
            query = query.with_for_update()
        async with translated(), self.database.read() as session:
            rows = (await session.execute(query)).mappings().all()
        return [self._info.build(self._info.from_row(row)) for row in rows]

    # -- writes ----------------------------------------------------------------------------

    def _prepare(self, obj: Any) -> dict[str, Any]:
        try:
            values = self._info.values_of(obj)
        except TypeError as exc:
            raise ValidationError.single("__root__", str(exc), "type_error") from None
        record = self._validator.record(values)
        soft = self._info.soft_delete
        if soft is not None and record.get(soft.key) is not None:
            raise ValidationError.single(
                soft.key, "set by delete(); a new record cannot be deleted", "read_only"
            )
        return self._info.complete(record)

    def _fast_path(self, *events: str) -> bool:
        """Whether the compiled path serves an operation.

        It needs no hooks for the operation and no server defaults; on SQLite it serves inside
        a transaction too, on PostgreSQL outside transactions only.
        """
        database = self.database
        compiled = database.dialect_name == "sqlite" or (
            database.dialect_name == "postgresql" and database.current_write() is None
        )
        return compiled and not self._hooks.any_for(*events) and not self._info.server_generated

    async def _run_compiled(self, plan: Plan) -> Any:
        if self.database.dialect_name == "sqlite":
            return await self.database.run_raw(on_cursor(plan))
        return await self.database.run_server(on_connection(plan))

    def _raw_mutations(self) -> RawMutations:
        if self._mutations is None:
            self._mutations = RawMutations(self._info, self.database.dialect)
        return self._mutations

    def _raw_inserts(self) -> RawInserts:
        if self._raw is None:
            self._raw = RawInserts(self._info, self.database.dialect)
        return self._raw

    @contextlib.asynccontextmanager
    async def _write(self, actor: str) -> AsyncIterator[WriteContext]:
        # The caller's actor becomes the ambient one, so accessor calls made by hooks are
        # audited under the same name.
        with use_actor(actor):
            async with translated(), self.database.transaction():
                context = self.database.current_write()
                assert context is not None
                yield context

    async def insert(
        self,
        obj: ModelT | dict[str, Any],
        *,
        actor: str | None = None,
        max_records: int | None = None,
    ) -> ModelT:
        """Validate and insert one record; audit ``create``; returns it with its key.

        Runs ``before_insert`` → write → audit → ``after_insert`` in one transaction. A model
        instance passed in is updated in place and returned; a mapping gives a new instance.
        With ``max_records``, the insert is refused when the table already holds that many
        live records (counted inside the write transaction, so concurrent inserts cannot
        overshoot).

        Raises:
            ValidationError: a field is invalid (nothing written).
            ConflictError: a unique or foreign-key constraint refused the record.
            RecordLimitError: ``max_records`` is reached.
            DatabaseClosedError: the database is not open.

        Example:
            >>> recipe = await recipes.insert(Recipe(name="bolt", speed=3), actor="operator")

        """
        [stored] = await self._insert(
            [self._prepare(obj)], [obj], resolve_actor(actor), max_records
        )
        return stored

    async def insert_many(
        self,
        objs: Iterable[ModelT | dict[str, Any]],
        *,
        actor: str | None = None,
        max_records: int | None = None,
    ) -> list[ModelT]:
        """Insert every record or none; one audit row per record.

        Raises:
            ValidationError: a record is invalid; field names are prefixed by the record's
                position (``"3.name"``); nothing is written.
            ConflictError: a constraint refused one of the records; nothing is written.
            RecordLimitError: the batch would take the table past ``max_records``.
            DatabaseClosedError: the database is not open.

        Example:
            >>> await recipes.insert_many([Recipe(name="a"), Recipe(name="b")], actor="import")

        """
        who = resolve_actor(actor)
        items = list(objs)
        if not items:
            return []
        return await self._insert(self._prepare_many(items), items, who, max_records)

    async def _insert(
        self, prepared: list[dict[str, Any]], items: list[Any], who: str, max_records: int | None
    ) -> list[ModelT]:
        if max_records is not None and max_records < 0:
            raise ValidationError.single("max_records", "must be >= 0")
        options: dict[str, Any] = {
            "component": self.component,
            "actor": who,
            "audit": self.enable_auditing,
            "report": self.database.has_commit_listeners(self._info.table.name),
            "max_records": max_records,
        }
        if self._fast_path("before_insert", "after_insert"):
            if self.database.dialect_name == "sqlite":
                stored = await self.database.run_raw(self._raw_inserts().work(prepared, **options))
            else:
                if self._server is None:
                    self._server = ServerInserts(self._info, self.database.dialect)
                stored = await self.database.run_server(self._server.work(prepared, **options))
            return [self._info.assign(obj, row) for obj, row in zip(items, stored, strict=True)]
        async with self._write(who) as context:
            await self._ops.check_limit(context, len(items), max_records)
            return [
                await self._ops.insert(context, obj, values, who)
                for obj, values in zip(items, prepared, strict=True)
            ]

    def _prepare_many(self, items: Sequence[Any]) -> list[dict[str, Any]]:
        prepared: list[dict[str, Any]] = []
        errors: list[FieldError] = []
        for index, obj in enumerate(items):
            try:
                prepared.append(self._prepare(obj))
            except ValidationError as exc:
                errors.extend(
                    FieldError(f"{index}.{e.field}", e.message, e.type) for e in exc.errors
                )
        if errors:
            raise ValidationError(errors, model=self._info.name)
        return prepared

    async def save(self, obj: ModelT | dict[str, Any], *, actor: str | None = None) -> ModelT:
        """Insert when the key is absent or unknown, else update every field.

        ``deleted_at`` is never changed by ``save``.

        Raises:
            ValidationError: a field is invalid.
            ConflictError: a constraint refused the record, or the record is soft-deleted.
            DatabaseClosedError: the database is not open.

        """
        who = resolve_actor(actor)
        try:
            values = self._info.values_of(obj)
        except TypeError as exc:
            raise ValidationError.single("__root__", str(exc), "type_error") from None
        soft = self._info.soft_delete
        if soft is not None:
            values.pop(soft.key, None)  # save() never changes deleted_at
        record = self._validator.record(values)
        key = record.get(self._info.pk.key)
        if key is None:
            [stored] = await self._insert([self._info.complete(record)], [obj], who, None)
            return stored
        async with self._write(who) as context:
            existing = await self._ops.fetch(context.session, key)
            if existing is None:
                inserted: ModelT = await self._ops.insert(
                    context, obj, self._info.complete(record), who
                )
                return inserted
            updated = await self._ops.replace(context, record, who)
            return self._info.assign(obj, self._info.values_of(updated))  # type: ignore[no-any-return]

    async def replace(
        self, id: Any, obj: ModelT | dict[str, Any], *, actor: str | None = None
    ) -> ModelT | None:
        """Replace every field of a live record; absent fields get their defaults (or null).

        The key and ``deleted_at`` are never changed. Returns the record, or ``None`` when it
        is missing or soft-deleted. Audit ``update`` if anything changed.

        Raises:
            ValidationError: a field is invalid or a required field is absent.
            ConflictError: a unique or foreign-key constraint refused the change.
            DatabaseClosedError: the database is not open.

        Example:
            >>> await recipes.replace(7, {"name": "bolt-m10"}, actor="operator")

        """
        who = resolve_actor(actor)
        key = self._validator.key(id)
        try:
            values = self._info.values_of(obj)
        except TypeError as exc:
            raise ValidationError.single("__root__", str(exc), "type_error") from None
        pk, soft = self._info.pk.key, self._info.soft_delete
        values.pop(pk, None)
        if soft is not None:
            values.pop(soft.key, None)
        record = self._info.complete(self._validator.record({**values, pk: key}))
        changes = {k: v for k, v in record.items() if k != pk and (soft is None or k != soft.key)}
        async with self._write(who) as context:
            replaced: ModelT | None = await self._ops.update(context, key, changes, who)
            return replaced

    async def update(self, id: Any, /, *, actor: str | None = None, **fields: Any) -> ModelT | None:
        """Change some fields of a live record; audit ``update`` if anything changed.

        Returns the updated record, or ``None`` when it is missing or soft-deleted.

        Raises:
            ValidationError: an unknown field, the key, ``deleted_at``, or an invalid value.
            ConflictError: a unique or foreign-key constraint refused the change.
            DatabaseClosedError: the database is not open.

        Example:
            >>> await recipes.update(recipe.id, speed=5, actor="operator")

        """
        who = resolve_actor(actor)
        key = self._validator.key(id)
        protected = {self._info.pk.key} | (
            {self._info.soft_delete.key} if self._info.soft_delete else set()
        )
        refused = [
            FieldError(name, "cannot be changed by update()", "read_only")
            for name in fields
            if name in protected
        ]
        if refused:
            raise ValidationError(refused, model=self._info.name)
        changes = self._validator.changes(fields)
        if self._fast_path("before_update", "after_update"):
            work = self._raw_mutations().update(
                key, changes, component=self.component, actor=who, audit=self.enable_auditing
            )
            after = await self._run_compiled(work)
            return None if after is None else self._info.build(after)
        async with self._write(who) as context:
            updated: ModelT | None = await self._ops.update(context, key, changes, who)
            return updated

    async def delete(self, id: Any, *, actor: str | None = None) -> bool:
        """Delete a record: soft (audit ``soft_delete``) if the model has ``deleted_at``.

        Returns False, writing nothing, when the record is missing or already deleted.

        Raises:
            ValidationError: ``id`` cannot be this model's key.
            ConflictError: other records still reference it (hard delete).
            DatabaseClosedError: the database is not open.

        """
        who = resolve_actor(actor)
        key = self._validator.key(id)
        if self._fast_path("before_delete", "after_delete"):
            work = self._raw_mutations().delete(
                key, component=self.component, actor=who, audit=self.enable_auditing
            )
            return bool(await self._run_compiled(work))
        async with self._write(who) as context:
            return await self._ops.delete(context, key, who)

    async def restore(
        self, id: Any, *, actor: str | None = None, max_records: int | None = None
    ) -> bool:
        """Clear ``deleted_at`` of a soft-deleted record; audit ``restore``.

        Returns False, writing nothing, when the record is missing or not deleted (always
        False for a model without ``deleted_at``). With ``max_records``, a restore that would
        take the table past that many live records is refused, as an insert would be.

        Raises:
            ValidationError: ``id`` cannot be this model's key.
            ConflictError: a live record now holds one of its unique values.
            RecordLimitError: ``max_records`` is reached.
            DatabaseClosedError: the database is not open.

        """
        who = resolve_actor(actor)
        key = self._validator.key(id)
        if self._info.soft_delete is None:
            return False
        if self._fast_path("before_restore", "after_restore"):
            work = self._raw_mutations().restore(
                key,
                component=self.component,
                actor=who,
                audit=self.enable_auditing,
                max_records=max_records,
            )
            return bool(await self._run_compiled(work))
        async with self._write(who) as context:
            return await self._ops.restore(context, key, who, max_records=max_records)

    async def delete_many(self, ids: Iterable[Any], *, actor: str | None = None) -> int:
        """Delete every listed record or none; missing ids are skipped; returns the count.

        Raises:
            ValidationError: an id cannot be this model's key; nothing is written.
            ConflictError: a record is still referenced; nothing is written.
            DatabaseClosedError: the database is not open.

        """
        who = resolve_actor(actor)
        keys = [self._validator.key(i) for i in ids]
        if self._fast_path("before_delete", "after_delete"):
            work = self._raw_mutations().delete_many(
                keys, component=self.component, actor=who, audit=self.enable_auditing
            )
            return int(await self._run_compiled(work))
        async with self._write(who) as context:
            return await self._ops.delete_many(context, keys, who)
