#!/usr/bin/env python3
"""Manual interop check: the desk's FIX 4.4 venue against a real FIX engine.

Runs a QuickFIX acceptor (PyPI `quickfix`) playing an LP on 127.0.0.1 with
full FIX 4.4 data-dictionary validation, then runs the ignored cargo test
`fix_venue::interop_with_a_quickfix_acceptor` against it: logon with
username/password, a two-way quote taken on each side, a fill, a last-look
reject, and a logout. Not part of `cargo test`.

    python3 -m venv /tmp/qf && /tmp/qf/bin/pip install quickfix
    /tmp/qf/bin/python tests/integration/fix_quickfix_interop.py --spec path/to/FIX44.xml

FIX44.xml is in the `spec/` folder of the quickfix source package
(`pip download --no-deps quickfix`). Exits with cargo's exit status, and
non-zero when QuickFIX rejected anything the desk sent.
"""

import argparse
import datetime
import os
import socket
import subprocess
import sys
import tempfile
import threading

import quickfix as fix
import quickfix44 as fix44

PASSWORD = "interop-pw"


def utc_timestamp(offset_ms=0):
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(milliseconds=offset_ms)
    return at.strftime("%Y%m%d-%H:%M:%S.") + f"{at.microsecond // 1000:03d}"


def field(message, tag):
    value = fix.StringField(tag)
    message.getField(value)
    return value.getValue()


class Lp(fix.Application):
    """Answers QuoteRequests two-way and orders: quantity 1.5 fills, any
    other quantity is rejected on last look."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
        self.quotes = 0
        self.orders = 0
        self.rejects = []
        self.logons = 0

    def onCreate(self, session_id):
        pass

    def onLogon(self, session_id):
        with self.lock:
            self.logons += 1

    def onLogout(self, session_id):
        pass

    def toAdmin(self, message, session_id):
        # A session Reject QuickFIX sends means something of ours broke
        # the FIX 4.4 dictionary.
        self.note_reject(message, fix.MsgType_Reject)

    def toApp(self, message, session_id):
        self.note_reject(message, fix.MsgType_BusinessMessageReject)

    def note_reject(self, message, reject_type):
        msg_type = fix.MsgType()
        message.getHeader().getField(msg_type)
        if msg_type.getValue() == reject_type:
            with self.lock:
                self.rejects.append(message.toString().replace("\x01", "|"))

    def fromAdmin(self, message, session_id):
        msg_type = fix.MsgType()
        message.getHeader().getField(msg_type)
        if msg_type.getValue() == fix.MsgType_Logon:
            if not message.isSetField(554) or field(message, 554) != PASSWORD:
                raise fix.RejectLogon("invalid password")

    def fromApp(self, message, session_id):
        msg_type = fix.MsgType()
        message.getHeader().getField(msg_type)
        kind = msg_type.getValue()
        if kind == fix.MsgType_QuoteRequest:
            self.on_quote_request(message, session_id)
        elif kind == fix.MsgType_NewOrderSingle:
            self.on_order(message, session_id)
        else:
            raise fix.UnsupportedMessageType()

    def on_quote_request(self, message, session_id):
        group = fix44.QuoteRequest.NoRelatedSym()
        message.getGroup(1, group)
        with self.lock:
            self.quotes += 1
            n = self.quotes
        quote = fix44.Quote()
        quote.setField(fix.QuoteID(f"QF-{n}"))
        quote.setField(fix.StringField(131, field(message, 131)))
        quote.setField(fix.StringField(55, field(group, 55)))
        quote.setField(fix.StringField(132, "99990.5"))
        quote.setField(fix.StringField(133, "100010.25"))
        quote.setField(fix.StringField(134, "2"))
        quote.setField(fix.StringField(135, "1.5"))
        quote.setField(fix.StringField(62, utc_timestamp(10_000)))
        fix.Session.sendToTarget(quote, session_id)

    def on_order(self, message, session_id):
        with self.lock:
            self.orders += 1
            n = self.orders
        quantity = field(message, 38)
        price = field(message, 44)
        fill = quantity == "1.5"
        report = fix44.ExecutionReport()
        for tag, value in [
            (37, f"QF-ORD-{n}"),
            (17, f"QF-EXEC-{n}"),
            (11, field(message, 11)),
            (150, "F" if fill else "8"),
            (39, "2" if fill else "8"),
            (55, field(message, 55)),
            (54, field(message, 54)),
            (38, quantity),
            (151, "0"),
            (14, quantity if fill else "0"),
            (6, price if fill else "0"),
        ]:
            report.setField(fix.StringField(tag, value))
        if fill:
            report.setField(fix.StringField(31, price))
            report.setField(fix.StringField(32, quantity))
        else:
            report.setField(fix.StringField(58, "last look: price moved"))
        fix.Session.sendToTarget(report, session_id)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", required=True, help="path to QuickFIX's FIX44.xml")
    args = parser.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    port = free_port()
    work = tempfile.mkdtemp(prefix="lp-rfq-quickfix-")
    settings_path = os.path.join(work, "acceptor.cfg")
    with open(settings_path, "w") as out:
        out.write(
            f"""[DEFAULT]
ConnectionType=acceptor
SocketAcceptHost=127.0.0.1
SocketAcceptPort={port}
StartTime=00:00:00
EndTime=00:00:00
FileStorePath={work}/store
FileLogPath={work}/log
UseDataDictionary=Y
DataDictionary={os.path.abspath(args.spec)}
[SESSION]
BeginString=FIX.4.4
SenderCompID=LP
TargetCompID=DESK
HeartBtInt=30
"""
        )
    lp = Lp()
    settings = fix.SessionSettings(settings_path)
    acceptor = fix.SocketAcceptor(lp, fix.FileStoreFactory(settings), settings, fix.FileLogFactory(settings))
    acceptor.start()
    try:
        env = dict(os.environ, LP_RFQ_QUICKFIX_PORT=str(port), LP_RFQ_QUICKFIX_PASSWORD=PASSWORD)
        result = subprocess.run(
            ["cargo", "test", "--test", "integration", "interop_with_a_quickfix_acceptor", "--", "--ignored", "--nocapture"],
            cwd=repo,
            env=env,
        )
    finally:
        acceptor.stop()
    print(f"quickfix: {lp.logons} logon(s), {lp.quotes} quote request(s), {lp.orders} order(s)")
    print(f"quickfix logs: {work}/log")
    if lp.rejects:
        print("quickfix rejected:", *lp.rejects, sep="\n  ")
        return 1
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
