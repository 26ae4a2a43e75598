#!/usr/bin/env python3
"""The seed design rebuilt in Python asyncio, as a yardstick for `lp-rfq bench`.

What it is: the design in DESIGN.md ("one direction of flow") written the
straightforward way, standard library only, so that issue 16's ratio (lp-rfq's
answers/s over the seed design's, same load, same machine) can be measured:

- one asyncio task per RFQ session; every poll asks every LP concurrently,
  one task per LP request (asyncio.create_task), each under its own timeout
  (asyncio.timeout), and handles each answer as it arrives
  (asyncio.as_completed): validate -> book -> lock -> client price, in
  decimal.Decimal;
- every event goes through a queue to one blotter writer thread that owns
  the sqlite3 connection (WAL) and inserts one row per event, committing
  in batches; the same answer table shape as lp-rfq's schema 1 (TEXT
  decimals, ISO times, an (rfq, seq) index);
- the same load shape as `lp-rfq bench --sessions 1000 --lps 10 --duration 5
  --poll-ms 0`: in-process LPs answering at once with the same cheap price
  path (+-4.5 bps wobble, 0.25 bp saw-tooth improvement), alternating BUY and
  SELL 1.5 BTCUSDT, markup 5 bps, threshold 1 bps, LP timeout 1 s, the next
  poll as soon as the previous one is complete; after the first poll only
  the competitors of the locked LP are asked.

It prints one JSON line like `lp-rfq bench`: valid LP answers, per_sec (valid
answers per second, counted until every row is committed), timeouts, rows.

    python3 benches/seed_design.py --sessions 1000 --lps 10 --duration 5
"""

import argparse
import asyncio
import datetime
import json
import os
import queue
import sqlite3
import tempfile
import threading
import time
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

REFERENCE = Decimal("100000")
TICK = Decimal("0.01")
MARKUP = Decimal("5") / Decimal("10000")
THRESHOLD = Decimal("1") / Decimal("10000")
LP_TIMEOUT_S = 1.0
VALID_FOR_MS = 10_000
BATCH = 20_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS rfqs (id INTEGER PRIMARY KEY, rfq_id TEXT NOT NULL, side TEXT NOT NULL,
    amount TEXT NOT NULL, pair TEXT NOT NULL, started_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lp_quotes (id INTEGER PRIMARY KEY, rfq INTEGER NOT NULL, seq INTEGER NOT NULL,
    t_ms INTEGER NOT NULL, at TEXT NOT NULL, at_ms INTEGER NOT NULL, lp TEXT NOT NULL, poll INTEGER NOT NULL,
    price TEXT NOT NULL, quantity TEXT NOT NULL, latency_ms INTEGER NOT NULL, valid_for_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS lp_errors (id INTEGER PRIMARY KEY, rfq INTEGER NOT NULL, seq INTEGER NOT NULL,
    t_ms INTEGER NOT NULL, at TEXT NOT NULL, at_ms INTEGER NOT NULL, lp TEXT NOT NULL, poll INTEGER NOT NULL,
    kind TEXT NOT NULL, reason TEXT NOT NULL, latency_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS client_quotes (id INTEGER PRIMARY KEY, rfq INTEGER NOT NULL, seq INTEGER NOT NULL,
    t_ms INTEGER NOT NULL, at TEXT NOT NULL, quote_id TEXT NOT NULL, lp TEXT NOT NULL,
    lp_price TEXT NOT NULL, client_price TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lock_events (id INTEGER PRIMARY KEY, rfq INTEGER NOT NULL, seq INTEGER NOT NULL,
    t_ms INTEGER NOT NULL, at TEXT NOT NULL, lp TEXT NOT NULL, price TEXT);
CREATE INDEX IF NOT EXISTS lp_quotes_rfq ON lp_quotes(rfq, seq);
CREATE INDEX IF NOT EXISTS lp_errors_rfq ON lp_errors(rfq, seq);
CREATE INDEX IF NOT EXISTS client_quotes_rfq ON client_quotes(rfq, seq);
CREATE INDEX IF NOT EXISTS lock_events_rfq ON lock_events(rfq, seq);
"""

INSERTS = {
    "rfq": "INSERT INTO rfqs (id, rfq_id, side, amount, pair, started_at) VALUES (?, ?, ?, ?, ?, ?)",
    "lp_quote": "INSERT INTO lp_quotes (rfq, seq, t_ms, at, at_ms, lp, poll, price, quantity, latency_ms, valid_for_ms)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "lp_error": "INSERT INTO lp_errors (rfq, seq, t_ms, at, at_ms, lp, poll, kind, reason, latency_ms)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "client_quote": "INSERT INTO client_quotes (rfq, seq, t_ms, at, quote_id, lp, lp_price, client_price)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    "locked": "INSERT INTO lock_events (rfq, seq, t_ms, at, lp, price) VALUES (?, ?, ?, ?, ?, ?)",
}


def writer(path, events, committed):
    """The blotter writer thread: owns the connection, batches rows."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    rows = 0
    done = False
    while not done:
        first = events.get()
        conn.execute("BEGIN")
        batch = [first]
        while len(batch) < BATCH:
            try:
                batch.append(events.get_nowait())
            except queue.Empty:
                break
        for item in batch:
            if item is None:
                done = True
                continue
            kind, values = item
            conn.execute(INSERTS[kind], values)
            rows += 1
        conn.execute("COMMIT")
    conn.close()
    committed.append(rows)


class Lp:
    """An in-process LP: answers at once with lp-rfq bench's price path."""

    def __init__(self, index):
        self.index = index
        self.name = f"LP{index + 1}"
        self.calls = 0

    async def quote(self, side, amount, request_id):
        wobble = ((self.index * 7 + request_id * 5) % 16) * 600 - 4500
        improvement = (request_id % 100) * 250
        cents = Decimal(wobble - improvement) / 100
        price = REFERENCE + cents if side == "buy" else REFERENCE - cents
        return {"lp": self.name, "price": price, "quantity": amount, "request_id": request_id, "side": side}


def iso_now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def better(side, a, b):
    return a < b if side == "buy" else a > b


class Session:
    """One RFQ: polls, validates, books, locks and prices every answer."""

    next_request = 1

    def __init__(self, rfq, rfq_id, side, lps, duration_s, put, stats):
        self.rfq, self.rfq_id, self.side, self.lps = rfq, rfq_id, side, lps
        self.amount = Decimal("1.5")
        self.duration_s = duration_s
        self.put, self.stats = put, stats
        self.seq = 0
        self.book = {}
        self.locked = None  # (lp, price)
        self.poll = 0

    def emit(self, kind, *values):
        self.seq += 1
        self.put((kind, (self.rfq, self.seq) + values))

    def client_price(self, price):
        if self.side == "buy":
            return (price * (1 + MARKUP)).quantize(TICK, rounding=ROUND_CEILING)
        return (price * (1 - MARKUP)).quantize(TICK, rounding=ROUND_FLOOR)

    async def ask(self, lp, request_id):
        # The request's own task (created by the caller) under its timeout.
        async with asyncio.timeout(LP_TIMEOUT_S):
            return await lp.quote(self.side, self.amount, request_id)

    async def run(self):
        start = time.monotonic()
        self.put(("rfq", (self.rfq, self.rfq_id, self.side, str(self.amount), "BTCUSDT", iso_now())))
        while time.monotonic() - start < self.duration_s:
            self.poll += 1
            asked = [lp for lp in self.lps if self.locked is None or lp.name != self.locked[0]]
            sent = time.monotonic()
            tasks = []
            for lp in asked:
                request_id = Session.next_request
                Session.next_request += 1
                tasks.append(asyncio.create_task(self.ask(lp, request_id)))
            best = None
            for done in asyncio.as_completed(tasks):
                t_ms = int((time.monotonic() - start) * 1000)
                latency_ms = int((time.monotonic() - sent) * 1000)
                try:
                    quote = await done
                except asyncio.TimeoutError:
                    self.stats["timeouts"] += 1
                    self.emit("lp_error", t_ms, iso_now(), int(time.time() * 1000), "?", self.poll,
                              "timeout", "no answer within 1000 ms", latency_ms)
                    continue
                # Validate: positive, on the tick, right side, enough quantity.
                price = quote["price"]
                if (price <= 0 or price % TICK != 0 or quote["side"] != self.side
                        or quote["quantity"] < self.amount):
                    self.stats["errors"] += 1
                    self.emit("lp_error", t_ms, iso_now(), int(time.time() * 1000), quote["lp"], self.poll,
                              "invalid", "invalid quote", latency_ms)
                    continue
                self.stats["valid"] += 1
                self.emit("lp_quote", t_ms, iso_now(), int(time.time() * 1000), quote["lp"], self.poll,
                          str(price), str(quote["quantity"]), latency_ms, VALID_FOR_MS)
                self.book[quote["lp"]] = price
                # Lock: the race (no lock yet) follows the best so far; a
                # competitor takes the lock only by the threshold.
                if self.locked is None:
                    if best is None or better(self.side, price, best[1]):
                        best = (quote["lp"], price)
                        self.offer(t_ms, best)
                else:
                    locked_price = self.locked[1]
                    bar = locked_price * (1 - THRESHOLD) if self.side == "buy" else locked_price * (1 + THRESHOLD)
                    if better(self.side, price, bar) or price == bar:
                        self.locked = (quote["lp"], price)
                        self.stats["locks"] += 1
                        self.emit("locked", t_ms, iso_now(), quote["lp"], str(price))
                        self.offer(t_ms, self.locked)
            if self.locked is None and best is not None:
                self.locked = best
                self.stats["locks"] += 1
                self.emit("locked", int((time.monotonic() - start) * 1000), iso_now(), best[0], str(best[1]))

    def offer(self, t_ms, lp_price):
        lp, price = lp_price
        self.stats["client_quotes"] += 1
        self.emit("client_quote", t_ms, iso_now(), f"Q{self.rfq}-{self.seq}", lp, str(price),
                  str(self.client_price(price)))


async def main_async(args, put):
    lps = [Lp(i) for i in range(args.lps)]
    stats = {"valid": 0, "timeouts": 0, "errors": 0, "locks": 0, "client_quotes": 0}
    sessions = [
        Session(i + 1, f"P-{i}", "buy" if i % 2 == 0 else "sell", lps, args.duration, put, stats)
        for i in range(args.sessions)
    ]
    await asyncio.gather(*(session.run() for session in sessions))
    return stats


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--lps", type=int, default=10)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--no-blotter", action="store_true")
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="seed-design-")
    path = os.path.join(scratch, "blotter.db")
    # Bounded, so a slow writer slows the sessions (put blocks the loop,
    # as a full channel would), rather than growing memory.
    events = queue.Queue(maxsize=16 * 1024)
    committed = []
    thread = None
    if args.no_blotter:
        put = lambda item: None  # noqa: E731
    else:
        thread = threading.Thread(target=writer, args=(path, events, committed), daemon=True)
        thread.start()
        put = events.put
    started = time.monotonic()
    stats = asyncio.run(main_async(args, put))
    if thread is not None:
        events.put(None)
        thread.join()
    elapsed = time.monotonic() - started
    for name in os.listdir(scratch):
        os.remove(os.path.join(scratch, name))
    os.rmdir(scratch)
    print(json.dumps({
        "design": "seed (python asyncio)",
        "sessions": args.sessions,
        "lps": args.lps,
        "duration_s": round(elapsed, 3),
        "valid_answers": stats["valid"],
        "per_sec": int(stats["valid"] / elapsed),
        "timeouts": stats["timeouts"],
        "lp_errors": stats["errors"],
        "locks": stats["locks"],
        "client_quotes": stats["client_quotes"],
        "blotter_rows": committed[0] if committed else None,
    }))


if __name__ == "__main__":
    main()
