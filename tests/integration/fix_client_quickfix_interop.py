#!/usr/bin/env python3
"""Manual interop check: the desk's FIX 4.4 client acceptor against a real FIX engine.

Starts `lp-rfq serve --client-fix` (the debug build, with its built-in
simulated LPs) and connects a QuickFIX initiator (PyPI `quickfix`) to it
as a client, with full FIX 4.4 data-dictionary validation: Logon with a
Password, a QuoteRequest, the streamed Quote hit with a NewOrderSingle at
its offer, the fill, an OrderStatusRequest answered with 150=I, a Logout.
Not part of `cargo test` (quickfix builds from source: minutes of C++).

    python3 -m venv /tmp/qf && /tmp/qf/bin/pip install quickfix
    /tmp/qf/bin/python tests/integration/fix_client_quickfix_interop.py --spec path/to/FIX44.xml

FIX44.xml is in the `spec/` folder of the quickfix source package
(`pip download --no-deps quickfix`). Exits 0 when the flow completed and
QuickFIX rejected nothing the desk sent; otherwise non-zero, saying why.
"""

import argparse
import datetime
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import quickfix as fix
import quickfix44 as fix44

PASSWORD = "interop-client-pw"
CLIENT = "QFCLIENT"
DESK = "LPRFQ"


def utc_timestamp():
    at = datetime.datetime.now(datetime.timezone.utc)
    return at.strftime("%Y%m%d-%H:%M:%S.") + f"{at.microsecond // 1000:03d}"


def field(message, tag):
    value = fix.StringField(tag)
    message.getField(value)
    return value.getValue()


def msg_type_of(message):
    kind = fix.MsgType()
    message.getHeader().getField(kind)
    return kind.getValue()


class Client(fix.Application):
    """Asks for 1 BTC, hits the first quote, asks the order's status."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
        self.rejects = []
        self.ordered = False
        self.offer = None
        self.fill = None
        self.status = None
        self.done = threading.Event()

    def onCreate(self, session_id):
        pass

    def onLogon(self, session_id):
        request = fix44.QuoteRequest()
        request.setField(fix.QuoteReqID("QR-1"))
        group = fix44.QuoteRequest.NoRelatedSym()
        group.setField(fix.Symbol("BTCUSDT"))
        group.setField(fix.Side(fix.Side_BUY))
        group.setField(fix.StringField(38, "1"))
        request.addGroup(group)
        fix.Session.sendToTarget(request, session_id)

    def onLogout(self, session_id):
        pass

    def toAdmin(self, message, session_id):
        kind = msg_type_of(message)
        if kind == fix.MsgType_Logon:
            message.setField(fix.StringField(554, PASSWORD))
        elif kind == fix.MsgType_Reject:
            # QuickFIX refusing something the desk sent: the dictionary
            # says the desk broke FIX 4.4.
            with self.lock:
                self.rejects.append(message.toString().replace("\x01", "|"))

    def toApp(self, message, session_id):
        if msg_type_of(message) == fix.MsgType_BusinessMessageReject:
            with self.lock:
                self.rejects.append(message.toString().replace("\x01", "|"))

    def fromAdmin(self, message, session_id):
        pass

    def fromApp(self, message, session_id):
        kind = msg_type_of(message)
        if kind == fix.MsgType_Quote:
            with self.lock:
                if self.ordered:
                    return
                self.ordered = True
                self.offer = field(message, 133)
            order = fix44.NewOrderSingle()
            for tag, value in [
                (11, "CL-1"),
                (117, field(message, 117)),
                (55, "BTCUSDT"),
                (54, "1"),
                (38, "1"),
                (40, "D"),
                (44, self.offer),
                (59, "4"),
                (60, utc_timestamp()),
            ]:
                order.setField(fix.StringField(tag, value))
            fix.Session.sendToTarget(order, session_id)
        elif kind == fix.MsgType_ExecutionReport:
            exec_type = field(message, 150)
            if exec_type == "I":
                with self.lock:
                    self.status = (field(message, 39), field(message, 31) if message.isSetField(31) else None)
                fix.Session.lookupSession(session_id).logout("interop done")
                self.done.set()
            else:
                with self.lock:
                    self.fill = (exec_type, field(message, 39), field(message, 31) if message.isSetField(31) else None)
                status = fix44.OrderStatusRequest()
                for tag, value in [(11, "CL-1"), (55, "BTCUSDT"), (54, "1"), (790, "ST-1")]:
                    status.setField(fix.StringField(tag, value))
                fix.Session.sendToTarget(status, session_id)
        elif kind == fix.MsgType_QuoteRequestReject:
            with self.lock:
                self.rejects.append("the desk refused the quote request: " + message.toString().replace("\x01", "|"))
            self.done.set()


def start_desk(repo, work, binary):
    clients = os.path.join(work, "clients.toml")
    with open(clients, "w") as out:
        out.write(f'[[client]]\nname = "acme"\nmarkup_bps = "8"\nfix_comp_id = "{CLIENT}"\nfix_password_env = "QF_CLIENT_PW"\n')
    operators = os.path.join(work, "operators.toml")
    with open(operators, "w") as out:
        out.write('[[operator]]\nname = "alice"\ntoken_env = "DESK_TOKEN_ALICE"\n')
    env = dict(os.environ, QF_CLIENT_PW=PASSWORD, DESK_TOKEN_ALICE="alice-token-interop-0001")
    desk = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--client-fix", "127.0.0.1:0",
         "--fix-comp-id", DESK, "--operators", operators, "--clients", clients,
         "--blotter", os.path.join(work, "desk.db"), "--fix-log-dir", os.path.join(work, "fix-logs")],
        cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )
    marker = "client API (FIX 4.4) on "
    for line in desk.stderr:
        sys.stderr.write("desk: " + line)
        if marker in line:
            host, port = line.split(marker)[1].split()[0].rsplit(":", 1)
            threading.Thread(target=lambda: [sys.stderr.write("desk: " + l) for l in desk.stderr], daemon=True).start()
            return desk, host, int(port)
    raise SystemExit("the desk did not start its FIX acceptor")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", required=True, help="path to QuickFIX's FIX44.xml")
    args = parser.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    subprocess.run(["cargo", "build", "--bin", "lp-rfq"], cwd=repo, check=True)
    binary = os.path.join(repo, "target", "debug", "lp-rfq")
    work = tempfile.mkdtemp(prefix="lp-rfq-quickfix-client-")
    desk, host, port = start_desk(repo, work, binary)
    settings_path = os.path.join(work, "initiator.cfg")
    with open(settings_path, "w") as out:
        out.write(
            f"""[DEFAULT]
ConnectionType=initiator
SocketConnectHost={host}
SocketConnectPort={port}
StartTime=00:00:00
EndTime=00:00:00
ReconnectInterval=60
FileStorePath={work}/qf-store
FileLogPath={work}/qf-log
UseDataDictionary=Y
DataDictionary={os.path.abspath(args.spec)}
[SESSION]
BeginString=FIX.4.4
SenderCompID={CLIENT}
TargetCompID={DESK}
HeartBtInt=30
"""
        )
    client = Client()
    settings = fix.SessionSettings(settings_path)
    initiator = fix.SocketInitiator(client, fix.FileStoreFactory(settings), settings, fix.FileLogFactory(settings))
    initiator.start()
    try:
        finished = client.done.wait(60)
        time.sleep(1)
    finally:
        initiator.stop()
        desk.send_signal(signal.SIGTERM)
        desk.wait(30)
    print(f"quickfix: offer {client.offer}, fill {client.fill}, status {client.status}")
    print(f"quickfix logs: {work}/qf-log; desk FIX logs: {work}/fix-logs")
    problems = list(client.rejects)
    if not finished:
        problems.append("the flow did not finish within 60 s")
    if client.fill != ("F", "2", client.offer):
        problems.append(f"expected a fill F/2 at the offer {client.offer}, got {client.fill}")
    if client.status != ("2", client.offer):
        problems.append(f"expected status 39=2 at {client.offer}, got {client.status}")
    if problems:
        print("interop problems:", *problems, sep="\n  ")
        return 1
    print("interop: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
