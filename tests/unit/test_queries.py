"""The store's statements against the state machine of ``core/task.py``, without a database:
every transition statement names the one status it expects (so none can touch a terminal
row), and every (expected → written) pair it can produce is an allowed transition.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Delete, Update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BinaryExpression, ColumnClause

from framecast.core.task import TaskStatus, can_transition
from framecast.db import queries as q

Q, R = TaskStatus.QUEUED, TaskStatus.RUNNING
S, F, C, E = (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED,
              TaskStatus.EXPIRED)

# statement → (the status it expects, the statuses it may write)
TRANSITIONS: dict[str, tuple[TaskStatus, set[TaskStatus]]] = {
    "CLAIM": (Q, {R}),
    "HEARTBEAT": (R, {R}),
    "PROGRESS": (R, {R}),
    "FINISH": (R, {S}),
    "FAIL": (R, {F}),
    "REQUEUE": (R, {Q}),
    "RELEASE": (R, {Q}),
    "STOP": (R, {C, E}),
    "CANCEL_QUEUED": (Q, {C}),
    "REQUEST_CANCEL": (R, {R}),
    "REAP_LAPSED_CANCELLED": (R, {C, E}),
    "REAP_LAPSED": (R, {Q}),
    "REAP_LAPSED_FAILED": (R, {F}),
    "EXPIRE_QUEUED": (Q, {E}),
    "EXPIRE_RUNNING": (R, {R}),
}


def statement(name: str) -> Update:
    """The named statement (the claim in its PostgreSQL form: the SQLite one selects its
    candidates in text, checked by ``test_the_sqlite_claim_takes_only_queued_tasks``)."""
    if name == "CLAIM":   # the candidates it locks in a CTE: their WHERE, with the fence
        claim = q.CLAIM_NEXT["postgresql"]
        candidates = claim.whereclause.right.table.element   # tasks.id = c.id
        return claim.where(candidates.whereclause)
    return getattr(q, name)


@pytest.mark.parametrize("name", sorted(TRANSITIONS))
def test_every_transition_is_allowed_by_the_state_machine(name: str) -> None:
    expected, written = TRANSITIONS[name]
    for status in written - {expected}:
        assert can_transition(expected, status), f"{name}: {expected} → {status}"


def status_conditions(stmt: Update | Delete) -> set[str]:
    """Every status value the statement's WHERE clause (subqueries included) compares
    ``tasks.status`` with."""
    values: set[str] = set()
    for element in visitors.iterate(stmt.whereclause):
        if isinstance(element, BinaryExpression) and element.left is q.T.status:
            if isinstance(element.right, ColumnClause):   # a literal written into the SQL
                values.add(element.right.name.strip("'"))
                continue
            value = element.right.effective_value
            values.update([value] if isinstance(value, str) else value)
    return values


@pytest.mark.parametrize("name", sorted(TRANSITIONS))
def test_every_transition_names_the_status_it_expects(name: str) -> None:
    assert status_conditions(statement(name)) == {TRANSITIONS[name][0].value}


def test_the_sqlite_claim_takes_only_queued_tasks() -> None:
    for stmt in (q.CLAIM_NEXT["sqlite"], q.CLAIM_NEXT_ANY_ENGINE["sqlite"]):
        sql = str(stmt.compile(dialect=sqlite.dialect()))
        candidates = sql[sql.index("(SELECT"):]
        assert "WHERE status = 'queued' AND expires_at >" in candidates


def test_delete_only_matches_terminal_rows() -> None:
    assert status_conditions(q.DELETE_TERMINAL) == {s.value for s in TaskStatus if s.terminal}


def test_the_postgresql_claim_locks_candidates_in_a_materialized_cte() -> None:
    sql = str(q.CLAIM_NEXT["postgresql"].compile(dialect=postgresql.dialect()))
    assert sql.startswith("WITH c AS MATERIALIZED")
    assert "FOR UPDATE SKIP LOCKED" in sql and "RETURNING" in sql
    assert "ORDER BY tasks.tier_rank, tasks.priority, tasks.created_at" in sql
