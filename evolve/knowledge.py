"""The knowledge base: one SQLite file per campaign, the campaign's only durable state.

Why SQLite in WAL mode with one transaction per result: a campaign killed at any
moment (Ctrl-C, SIGKILL, power loss) must resume with nothing lost and nothing
evaluated twice. Every evaluation result is committed on its own; every planning
step (the candidates of a phase plus the marker saying the phase was planned) is
committed atomically, so a resumed run either sees a phase fully planned or not
at all. Only the driver process writes here.
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

APP_ID = "evolve-knowledge-base"
SCHEMA_VERSION = 2  # 2: genomes keep their descriptor and features, evaluations their perf

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE genomes (
    id TEXT PRIMARY KEY, domain TEXT NOT NULL, json TEXT NOT NULL, text TEXT NOT NULL,
    origin TEXT NOT NULL, parents TEXT NOT NULL, provenance TEXT NOT NULL,
    cycle INTEGER NOT NULL, created REAL NOT NULL, descriptor TEXT, features TEXT);
CREATE TABLE candidates (
    id TEXT PRIMARY KEY, stage TEXT NOT NULL, triple TEXT NOT NULL, focus TEXT NOT NULL,
    cycle INTEGER NOT NULL, source TEXT, status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
    promoted INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);
CREATE INDEX candidates_stage ON candidates(stage, status);
CREATE TABLE evaluations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, candidate TEXT NOT NULL REFERENCES candidates(id),
    domain TEXT NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL, score REAL,
    cost TEXT NOT NULL, details TEXT NOT NULL, behaviour TEXT NOT NULL, curves TEXT NOT NULL,
    reason TEXT NOT NULL, seconds REAL NOT NULL, created REAL NOT NULL, perf REAL,
    UNIQUE(candidate, domain, seed));
CREATE TABLE hypotheses (
    id TEXT PRIMARY KEY, domain TEXT NOT NULL, statement TEXT NOT NULL, predicate TEXT NOT NULL,
    metric TEXT NOT NULL, direction TEXT NOT NULL, status TEXT NOT NULL, source TEXT NOT NULL,
    effect REAL, ci_low REAL, ci_high REAL, p_value REAL, n_true INTEGER, n_false INTEGER,
    evidence TEXT NOT NULL, created_cycle INTEGER NOT NULL, updated_cycle INTEGER NOT NULL);
CREATE TABLE agenda (
    cycle INTEGER NOT NULL, domain TEXT NOT NULL, share REAL NOT NULL, progress REAL,
    reason TEXT NOT NULL, PRIMARY KEY (cycle, domain));
CREATE TABLE analyses (cycle INTEGER PRIMARY KEY, report TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, cycle INTEGER, role TEXT NOT NULL, prompt TEXT NOT NULL,
    response TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, latency REAL,
    outcome TEXT NOT NULL, created REAL NOT NULL);
"""
_TABLES = {"meta", "genomes", "candidates", "evaluations", "hypotheses", "agenda", "analyses", "llm_calls"}


class KnowledgeBaseError(RuntimeError):
    """The file is not this campaign's knowledge base (foreign, corrupt or another campaign's)."""


@dataclass(frozen=True)
class Candidate:
    id: str
    stage: str
    triple: dict[str, str]  # domain -> genome id
    focus: str  # the domain changed (isolated) or "all"
    cycle: int
    source: str | None  # the candidate it was promoted from
    status: str  # pending | done | failed | invalid
    reason: str
    promoted: bool


@dataclass(frozen=True)
class Evaluation:
    candidate: str
    domain: str
    seed: int
    status: str  # ok | error | timeout | crash
    score: float | None
    cost: dict[str, float]
    details: dict[str, float]
    behaviour: list[float]
    reason: str
    seconds: float
    perf: float | None = None  # score normalised against the same stage's reference (same domain, seed)


_PHASE_OF_STAGE = {"isolated": "design"}  # the plan marker of a stage's candidates (cross, full: their own)


def _peek(path: Path, sql: str, *, read_only: bool = True) -> list[tuple]:
    """Rows of one query on a file that may not be a knowledge base yet ([] without the table). Not
    `read_only`, a connection recovers the write-ahead log of a writer that was killed."""
    try:
        con = (sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0) if read_only
               else sqlite3.connect(path, timeout=30.0))
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise KnowledgeBaseError(f"{path} cannot be read ({exc})") from exc
    except sqlite3.DatabaseError as exc:
        raise KnowledgeBaseError(f"{path} is not an evolve knowledge base ({exc})") from exc


def peek_evaluations(path: str | Path) -> dict[tuple[str, str, int], tuple[str, float | None]]:
    """(candidate, domain, seed) -> (status, score) of every recorded result, read without opening the
    file as a knowledge base: {} while it does not exist or has no evaluations table yet (the crash
    harness reads a campaign it may have killed while it was creating the file)."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return {}
    rows = _peek(path, "SELECT candidate, domain, seed, status, score FROM evaluations", read_only=False)
    return {(c, d, int(s)): (st, sc) for c, d, s, st, sc in rows}


def _plain(obj: Any) -> Any:
    """numpy scalars and arrays (a domain's descriptor or features) as the Python values they hold."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _dump(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_plain)


class KnowledgeBase:
    """The knowledge base of `campaign` at `path`. The constructor only stores where it is; `open()` (or `with`)
    opens it, creating a fresh one, and `close()` closes it.

    Opening refuses, with KnowledgeBaseError and without touching the file, anything that is
    not an evolve knowledge base of the same campaign. `read_only` opens an existing one
    for reading only (another run's, while that run may still be writing it).
    """

    def __init__(self, path: str | Path, campaign: str, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.campaign = campaign
        self.read_only = read_only
        self._con: sqlite3.Connection | None = None

    @property
    def _db(self) -> sqlite3.Connection:
        if self._con is None:
            raise KnowledgeBaseError(f"{self.path} is not open: call open() (or use `with`) first")
        return self._con

    def open(self) -> "KnowledgeBase":
        """Open (or create) the file and check it is this campaign's knowledge base; returns self."""
        if self._con is not None:
            return self
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if self.read_only and fresh:
            raise FileNotFoundError(f"{self.path} does not exist (or is empty): nothing to read")
        if not self.read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = (sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30.0) if self.read_only else
                         sqlite3.connect(self.path, isolation_level=None, timeout=30.0))
            self._con.row_factory = sqlite3.Row
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            self._abandon()
            raise KnowledgeBaseError(f"{self.path} is not a readable SQLite knowledge base ({exc}); "
                                     "refusing to overwrite it — choose another run directory") from exc
        try:
            if fresh and not tables:
                self._create()
            else:
                self._verify(tables)
        except BaseException:
            self._abandon()
            raise
        if not self.read_only:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
        return self

    def _abandon(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> "KnowledgeBase":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def existing(cls, path: str | Path, *, read_only: bool = False) -> "KnowledgeBase":
        """Open a finished (or running) campaign's knowledge base, whichever campaign it belongs to (opened)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: is {path.parent} a run directory?")
        campaign = _peek(path, "SELECT value FROM meta WHERE key = 'campaign'", read_only=read_only)
        if not campaign:
            raise KnowledgeBaseError(f"{path} names no campaign; it is not an evolve knowledge base")
        return cls(path, json.loads(campaign[0][0]), read_only=read_only).open()

    # ----------------------------------------------------------------------------- setup
    def _create(self) -> None:
        with self.transaction() as db:
            for stmt in _SCHEMA.strip().split(";"):
                if stmt.strip():
                    db.execute(stmt)
            now = time.time()
            for key, value in (("app", APP_ID), ("schema_version", str(SCHEMA_VERSION)),
                               ("campaign", self.campaign), ("created", str(now))):
                self.set_meta(key, value, db)

    def _verify(self, tables: set[str]) -> None:
        if not _TABLES <= tables:
            raise KnowledgeBaseError(f"{self.path} is a SQLite file but not an evolve knowledge base "
                                     f"(tables: {sorted(tables) or 'none'}); refusing to overwrite it")
        try:
            meta = {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}
            ok = self._db.execute("PRAGMA quick_check").fetchone()[0]
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise KnowledgeBaseError(f"{self.path} is corrupt ({exc})") from exc
        if ok != "ok":
            raise KnowledgeBaseError(f"{self.path} failed SQLite's integrity check: {ok}")
        if meta.get("app") != APP_ID:
            raise KnowledgeBaseError(f"{self.path} was not written by evolve; refusing to use it")
        if int(meta.get("schema_version", -1)) != SCHEMA_VERSION:
            raise KnowledgeBaseError(f"{self.path} has schema version {meta.get('schema_version')}, "
                                     f"this evolve reads version {SCHEMA_VERSION}")
        if meta.get("campaign") != self.campaign:
            raise KnowledgeBaseError(f"{self.path} belongs to campaign {meta.get('campaign')!r}, "
                                     f"not {self.campaign!r}; use another run directory or campaign.name")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing: a crash inside leaves the file as it was before."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (again: nothing)."""
        self._abandon()

    def integrity_errors(self) -> list[str]:
        """Cross-table invariants a resumed campaign relies on (used by tests and resume)."""
        errors = [r[0] for r in self._db.execute("PRAGMA integrity_check") if r[0] != "ok"]
        orphans = self._db.execute(
            "SELECT COUNT(*) FROM evaluations e LEFT JOIN candidates c ON e.candidate = c.id "
            "WHERE c.id IS NULL").fetchone()[0]
        if orphans:
            errors.append(f"{orphans} evaluations without a candidate")
        for cand in self.candidates():
            missing = [g for g in cand.triple.values() if not self.has_genome(g)]
            if missing:
                errors.append(f"candidate {cand.id} refers to unknown genomes {missing}")
        return errors

    def resume_errors(self, seeds: Mapping[str, Sequence[int]], names: Sequence[str], *,
                      complete: bool) -> list[str]:
        """What a campaign killed at any instant must still satisfy to resume (the crash harness checks it):
        the cross-table invariants; one result per (candidate, domain, seed); every counted cycle planned and
        analysed; every candidate with its plan marker, results only at its stage's `seeds`, and a status
        that agrees with its results; nothing left pending once the campaign is `complete`."""
        errors = self.integrity_errors()
        dup = self._db.execute("SELECT candidate, domain, seed, COUNT(*) FROM evaluations "
                               "GROUP BY candidate, domain, seed HAVING COUNT(*) > 1").fetchall()
        errors += [f"evaluation {tuple(r[:3])} recorded {r[3]} times" for r in dup]
        analysed = {a["cycle"] for a in self.analyses()}
        for c in range(int(self.get_meta("cycles_done", 0))):
            for phase in ("design", "cross", "full"):
                if not self.get_meta(f"planned:{c}:{phase}", False):
                    errors.append(f"cycle {c} counted as done but phase {phase} was never planned")
            if c not in analysed:
                errors.append(f"cycle {c} counted as done but has no analysis")
        for cand in self.candidates():
            marker = f"planned:{cand.cycle}:{_PHASE_OF_STAGE.get(cand.stage, cand.stage)}"
            if not self.get_meta(marker, False):
                errors.append(f"candidate {cand.id} exists without its plan marker {marker}")
            evs = self.evaluations(cand.id)
            if cand.stage in seeds:
                stray = sorted({e.seed for e in evs} - set(seeds[cand.stage]))
                if stray:
                    errors.append(f"candidate {cand.id} has evaluations with seeds {stray} outside its stage's")
            need = [cand.focus] if cand.focus in names else list(names)
            n_needed = len(need) * (len(seeds[cand.stage]) if cand.stage in seeds else 1)
            bad = [e for e in evs if e.status != "ok"]
            if cand.status == "invalid" and evs:
                errors.append(f"invalid candidate {cand.id} has evaluations")
            if cand.status == "done" and (bad or len(evs) != n_needed):
                errors.append(f"done candidate {cand.id} has {len(evs)}/{n_needed} evaluations, {len(bad)} failed")
            if cand.status == "failed" and not bad:
                errors.append(f"failed candidate {cand.id} has no failed evaluation")
            if complete and cand.status == "pending":
                errors.append(f"candidate {cand.id} still pending after the last cycle")
        return errors

    # ------------------------------------------------------------------------------ meta
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any, db: sqlite3.Connection | None = None) -> None:
        (db or self._db).execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                                 "SET value = excluded.value", (key, _dump(value)))

    # --------------------------------------------------------------------------- genomes
    def add_genome(self, db: sqlite3.Connection, *, gid: str, domain: str, genome_json: Any, text: str,
                   origin: str, parents: Sequence[str], cycle: int,
                   provenance: Mapping[str, Any] | None = None, descriptor: Sequence[float] | None = None,
                   features: Mapping[str, Any] | None = None) -> bool:
        """Insert once; returns False if the genome already exists (duplicates are free to detect).

        `descriptor` and `features` are what the domain computes about the genome, stored so that reading
        the archive back (reports, ablations) needs no domain code."""
        cur = db.execute(
            "INSERT OR IGNORE INTO genomes(id, domain, json, text, origin, parents, provenance, cycle, created, "
            "descriptor, features) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (gid, domain, _dump(genome_json), text, origin, _dump(list(parents)), _dump(dict(provenance or {})),
             cycle, time.time(), None if descriptor is None else _dump(descriptor),
             None if features is None else _dump(dict(features))))
        return cur.rowcount == 1

    def has_genome(self, gid: str) -> bool:
        return self._db.execute("SELECT 1 FROM genomes WHERE id = ?", (gid,)).fetchone() is not None

    def genome(self, gid: str) -> dict[str, Any]:
        row = self._db.execute("SELECT * FROM genomes WHERE id = ?", (gid,)).fetchone()
        if row is None:
            raise KeyError(gid)
        return self._genome_row(row)

    def genomes(self, domain: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM genomes", ()
        if domain is not None:
            sql, args = sql + " WHERE domain = ?", (domain,)
        return [self._genome_row(r) for r in self._db.execute(sql + " ORDER BY created, id", args)]

    @staticmethod
    def _genome_row(row: sqlite3.Row) -> dict[str, Any]:
        out = dict(row)
        for key in ("json", "parents", "provenance", "descriptor", "features"):
            out[key] = None if out[key] is None else json.loads(out[key])
        return out

    # ------------------------------------------------------------------------ candidates
    def add_candidate(self, db: sqlite3.Connection, *, cid: str, stage: str, triple: Mapping[str, str],
                      focus: str, cycle: int, source: str | None = None, status: str = "pending",
                      reason: str = "") -> bool:
        cur = db.execute(
            "INSERT OR IGNORE INTO candidates(id, stage, triple, focus, cycle, source, status, reason, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (cid, stage, _dump(dict(triple)), focus, cycle, source, status, reason, time.time()))
        return cur.rowcount == 1

    def has_candidate(self, cid: str) -> bool:
        return self._db.execute("SELECT 1 FROM candidates WHERE id = ?", (cid,)).fetchone() is not None

    def candidates(self, stage: str | None = None, status: str | None = None,
                   cycle: int | None = None) -> list[Candidate]:
        clauses, args = [], []
        for col, val in (("stage", stage), ("status", status), ("cycle", cycle)):
            if val is not None:
                clauses.append(f"{col} = ?")
                args.append(val)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        return self._select_candidates(where, args)

    def _select_candidates(self, where: str, args: Sequence[Any]) -> list[Candidate]:
        rows = self._db.execute(f"SELECT * FROM candidates{where} ORDER BY created, id", args)
        return [Candidate(id=r["id"], stage=r["stage"], triple=json.loads(r["triple"]), focus=r["focus"],
                          cycle=r["cycle"], source=r["source"], status=r["status"], reason=r["reason"],
                          promoted=bool(r["promoted"])) for r in rows]

    def candidate(self, cid: str) -> Candidate:
        rows = [c for c in self._select_candidates(" WHERE id = ?", [cid])]
        if not rows:
            raise KeyError(cid)
        return rows[0]

    def version(self) -> int:
        """Changes whenever any connection commits (SQLite's data_version + our own writes)."""
        return self._db.total_changes * 1_000_003 + self._db.execute("PRAGMA data_version").fetchone()[0]

    def mark_promoted(self, db: sqlite3.Connection, cid: str) -> None:
        db.execute("UPDATE candidates SET promoted = 1 WHERE id = ?", (cid,))

    def finish_candidate(self, cid: str, status: str, reason: str = "") -> None:
        self._db.execute("UPDATE candidates SET status = ?, reason = ? WHERE id = ?", (status, reason, cid))

    # ----------------------------------------------------------------------- evaluations
    def record_evaluation(self, ev: Evaluation, curves: Mapping[str, Sequence[float]] | None = None, *,
                          reference: str | None = None,
                          normalise: Callable[[float, float], float] | None = None) -> bool:
        """One transaction per result; a second record of the same (candidate, domain, seed) is ignored.

        With `reference` (the id of the reference candidate of the same stage) and the domain's `normalise`,
        the result's perf is stored with it: normalise(score, the reference's score at the same domain and
        seed). The reference's own result sets the perf of every result of its stage that waited for it."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO evaluations(candidate, domain, seed, status, score, cost, details, "
                "behaviour, curves, reason, seconds, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ev.candidate, ev.domain, ev.seed, ev.status, ev.score, _dump(ev.cost), _dump(ev.details),
                 _dump(ev.behaviour), _dump(dict(curves or {})), ev.reason, ev.seconds, time.time()))
            inserted = cur.rowcount == 1
            if inserted and ev.status == "ok" and reference is not None and normalise is not None:
                self._store_perf(db, ev, reference, normalise)
            return inserted

    @staticmethod
    def _store_perf(db: sqlite3.Connection, ev: Evaluation, reference: str,
                    normalise: Callable[[float, float], float]) -> None:
        if ev.candidate == reference:
            rows = db.execute(
                "SELECT e.id, e.score FROM evaluations e JOIN candidates c ON e.candidate = c.id "
                "WHERE c.stage = (SELECT stage FROM candidates WHERE id = ?) AND e.domain = ? AND e.seed = ? "
                "AND e.status = 'ok'", (reference, ev.domain, ev.seed)).fetchall()
            for eid, score in rows:
                db.execute("UPDATE evaluations SET perf = ? WHERE id = ?", (float(normalise(score, ev.score)), eid))
            return
        ref = db.execute("SELECT score FROM evaluations WHERE candidate = ? AND domain = ? AND seed = ? "
                         "AND status = 'ok'", (reference, ev.domain, ev.seed)).fetchone()
        if ref is not None:
            db.execute("UPDATE evaluations SET perf = ? WHERE candidate = ? AND domain = ? AND seed = ?",
                       (float(normalise(ev.score, ref[0])), ev.candidate, ev.domain, ev.seed))

    def evaluations(self, candidate: str | None = None) -> list[Evaluation]:
        sql, args = "SELECT * FROM evaluations", ()
        if candidate is not None:
            sql, args = sql + " WHERE candidate = ?", (candidate,)
        return [Evaluation(candidate=r["candidate"], domain=r["domain"], seed=r["seed"], status=r["status"],
                           score=r["score"], cost=json.loads(r["cost"]), details=json.loads(r["details"]),
                           behaviour=json.loads(r["behaviour"]), reason=r["reason"], seconds=r["seconds"],
                           perf=r["perf"])
                for r in self._db.execute(sql + " ORDER BY id", args)]

    def done_keys(self) -> set[tuple[str, str, int]]:
        return {(r[0], r[1], r[2]) for r in self._db.execute("SELECT candidate, domain, seed FROM evaluations")}

    def curves(self, candidate: str, domain: str, seed: int) -> dict[str, list[float]]:
        row = self._db.execute("SELECT curves FROM evaluations WHERE candidate = ? AND domain = ? AND seed = ?",
                               (candidate, domain, seed)).fetchone()
        return json.loads(row[0]) if row else {}

    # ------------------------------------------------------------------------ hypotheses
    def upsert_hypothesis(self, h: Mapping[str, Any]) -> None:
        cols = ("id", "domain", "statement", "predicate", "metric", "direction", "status", "source", "effect",
                "ci_low", "ci_high", "p_value", "n_true", "n_false", "evidence", "created_cycle", "updated_cycle")
        row = {**h, "predicate": _dump(h["predicate"]), "evidence": _dump(h.get("evidence", {}))}
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in ("id", "created_cycle"))
        with self.transaction() as db:
            db.execute(f"INSERT INTO hypotheses({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                       f"ON CONFLICT(id) DO UPDATE SET {updates}", tuple(row.get(c) for c in cols))

    def hypotheses(self, status: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM hypotheses", ()
        if status is not None:
            sql, args = sql + " WHERE status = ?", (status,)
        out = []
        for r in self._db.execute(sql + " ORDER BY created_cycle, id", args):
            d = dict(r)
            d["predicate"], d["evidence"] = json.loads(d["predicate"]), json.loads(d["evidence"])
            out.append(d)
        return out

    # ---------------------------------------------------------------- agenda and analyses
    def record_analysis(self, cycle: int, report: Mapping[str, Any], agenda: Sequence[Mapping[str, Any]]) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO analyses(cycle, report, created) VALUES (?, ?, ?)",
                       (cycle, _dump(report), time.time()))
            for item in agenda:
                db.execute("INSERT OR REPLACE INTO agenda(cycle, domain, share, progress, reason) "
                           "VALUES (?, ?, ?, ?, ?)",
                           (cycle, item["domain"], item["share"], item.get("progress"), item["reason"]))

    def agenda(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute("SELECT * FROM agenda ORDER BY cycle, domain")]

    def latest_agenda(self) -> dict[str, float]:
        row = self._db.execute("SELECT MAX(cycle) FROM agenda").fetchone()
        if row[0] is None:
            return {}
        return {r["domain"]: r["share"] for r in
                self._db.execute("SELECT domain, share FROM agenda WHERE cycle = ?", (row[0],))}

    def analyses(self) -> list[dict[str, Any]]:
        return [{"cycle": r["cycle"], **json.loads(r["report"])}
                for r in self._db.execute("SELECT * FROM analyses ORDER BY cycle")]

    # ------------------------------------------------------------------------- LLM calls
    def record_llm_call(self, *, cycle: int | None, role: str, prompt: str, response: str | None,
                        prompt_tokens: int | None, completion_tokens: int | None, latency: float,
                        outcome: str) -> int:
        """One row per request. Inside an open transaction (a design phase) the row commits with it."""
        row = (cycle, role, prompt, response, prompt_tokens, completion_tokens, latency, outcome, time.time())
        sql = ("INSERT INTO llm_calls(cycle, role, prompt, response, prompt_tokens, completion_tokens, latency, "
               "outcome, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        if self._db.in_transaction:
            return int(self._db.execute(sql, row).lastrowid)
        with self.transaction() as db:
            return int(db.execute(sql, row).lastrowid)

    def llm_calls(self, role: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM llm_calls", ()
        if role is not None:
            sql, args = sql + " WHERE role = ?", (role,)
        return [dict(r) for r in self._db.execute(sql + " ORDER BY id", args)]
