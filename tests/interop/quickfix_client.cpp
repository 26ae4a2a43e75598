// A client's FIX 4.4 engine against the desk's client acceptor: QuickFIX
// (Debian's libquickfix-dev), validating every message the desk sends
// against QuickFIX's own FIX44.xml data dictionary.
//
// Built and run by tests/integration/client_fix.rs
// (`a_quickfix_initiator_trades_and_resumes_its_session`), in two phases
// against one FileStore, so the second logon carries on the sequence
// numbers of the first:
//   trade:  Logon (Password 554) -> QuoteRequest R (buy 1 BTCUSDT) ->
//           the first Quote S is hit with a NewOrderSingle D at its offer
//           -> ExecutionReport F -> OrderStatusRequest H -> 150=I -> Logout.
//   resume: (after the desk restarted) Logon -> H for the same order ->
//           150=I from the desk's record -> Logout.
// Prints what it saw, one `key value...` line each, and exits 0 when the
// phase completed with nothing rejected by QuickFIX or by the desk;
// otherwise 1, saying why.
//
// usage: quickfix_client PHASE HOST PORT FIX44.xml WORKDIR
// The Logon's password comes from QUICKFIX_CLIENT_PASSWORD.

#include <quickfix/Application.h>
#include <quickfix/FileLog.h>
#include <quickfix/FileStore.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketInitiator.h>
#include <quickfix/Values.h>
#include <quickfix/fix44/NewOrderSingle.h>
#include <quickfix/fix44/OrderStatusRequest.h>
#include <quickfix/fix44/QuoteRequest.h>

#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

const char* const CLIENT = "ACMEFIX";
const char* const DESK = "LPRFQ";
const char* const ORDER_ID = "qf-order-1";

std::string text_of(const FIX::Message& message) {
  std::string text = message.toString();
  for (char& c : text) {
    if (c == '\x01') c = '|';
  }
  return text;
}

std::string field_or(const FIX::FieldMap& map, int tag, const std::string& otherwise) {
  return map.isSetField(tag) ? map.getField(tag) : otherwise;
}

std::string msg_type(const FIX::Message& message) {
  return message.getHeader().getField(FIX::FIELD::MsgType);
}

class Client : public FIX::Application {
 public:
  Client(std::string phase, std::string password)
      : phase_(std::move(phase)), password_(std::move(password)) {}

  void onCreate(const FIX::SessionID&) override {}

  void onLogon(const FIX::SessionID& session) override {
    say("logon");
    if (phase_ == "trade") {
      FIX44::QuoteRequest request(FIX::QuoteReqID("qf-rfq-1"));
      FIX44::QuoteRequest::NoRelatedSym symbol;
      symbol.set(FIX::Symbol("BTCUSDT"));
      symbol.set(FIX::Side(FIX::Side_BUY));
      symbol.setField(FIX::OrderQty(1));
      request.addGroup(symbol);
      FIX::Session::sendToTarget(request, session);
    } else {
      ask_status(session);
    }
  }

  void onLogout(const FIX::SessionID&) override {
    say("logout");
    finish(false);
  }

  void toAdmin(FIX::Message& message, const FIX::SessionID&) override {
    const std::string kind = msg_type(message);
    if (kind == FIX::MsgType_Logon) {
      message.setField(FIX::Password(password_));
    } else if (kind == FIX::MsgType_Reject) {
      // QuickFIX refusing something the desk sent: the dictionary or the
      // session rules say the desk broke FIX 4.4.
      problem("QuickFIX rejected a message from the desk: " + text_of(message));
    }
  }

  void toApp(FIX::Message& message, const FIX::SessionID&) throw(FIX::DoNotSend) override {
    if (msg_type(message) == FIX::MsgType_BusinessMessageReject) {
      problem("QuickFIX rejected a message from the desk: " + text_of(message));
    }
  }

  void fromAdmin(const FIX::Message& message, const FIX::SessionID&) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::RejectLogon) override {
    if (msg_type(message) == FIX::MsgType_Reject) {
      problem("the desk rejected a message from QuickFIX: " + text_of(message));
    }
  }

  void fromApp(const FIX::Message& message, const FIX::SessionID& session) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::UnsupportedMessageType) override {
    const std::string kind = msg_type(message);
    if (kind == FIX::MsgType_Quote) {
      std::string offer;
      {
        std::lock_guard<std::mutex> hold(lock_);
        if (ordered_) return;
        ordered_ = true;
        offer = message.getField(FIX::FIELD::OfferPx);
      }
      say("quote " + message.getField(FIX::FIELD::QuoteReqID) + " offer " + offer +
          " size " + field_or(message, FIX::FIELD::OfferSize, "-"));
      FIX44::NewOrderSingle order;
      order.set(FIX::ClOrdID(ORDER_ID));
      order.setField(FIX::QuoteID(message.getField(FIX::FIELD::QuoteID)));
      order.set(FIX::Symbol("BTCUSDT"));
      order.set(FIX::Side(FIX::Side_BUY));
      order.set(FIX::OrderQty(1));
      order.set(FIX::OrdType(FIX::OrdType_PREVIOUSLY_QUOTED));
      order.setField(FIX::StringField(FIX::FIELD::Price, offer));
      order.set(FIX::TimeInForce(FIX::TimeInForce_FILL_OR_KILL));
      order.set(FIX::TransactTime());
      FIX::Session::sendToTarget(order, session);
    } else if (kind == FIX::MsgType_ExecutionReport) {
      const std::string exec_type = message.getField(FIX::FIELD::ExecType);
      const std::string line = message.getField(FIX::FIELD::ClOrdID) + " " + exec_type + " " +
                               message.getField(FIX::FIELD::OrdStatus) + " " +
                               field_or(message, FIX::FIELD::LastPx, "-") + " " +
                               field_or(message, FIX::FIELD::CumQty, "-");
      if (exec_type == "I") {
        say("status " + line);
        FIX::Session* live = FIX::Session::lookupSession(session);
        if (live != nullptr) live->logout("done");
      } else {
        say("execution " + line);
        ask_status(session);
      }
    } else if (kind == FIX::MsgType_QuoteRequestReject || kind == FIX::MsgType_QuoteCancel) {
      problem("the desk withdrew or refused the request: " + text_of(message));
      FIX::Session* live = FIX::Session::lookupSession(session);
      if (live != nullptr) live->logout("refused");
    }
  }

  // Waits for the phase to end (a logout) or `seconds` to pass; true when
  // it ended with no problem.
  bool wait(int seconds) {
    std::unique_lock<std::mutex> hold(lock_);
    const bool ended = done_cv_.wait_for(hold, std::chrono::seconds(seconds), [this] { return done_; });
    if (!ended) problems_.push_back("the phase did not end within " + std::to_string(seconds) + " s");
    for (const std::string& problem : problems_) std::cout << "problem " << problem << std::endl;
    return problems_.empty();
  }

 private:
  void ask_status(const FIX::SessionID& session) {
    FIX44::OrderStatusRequest status(FIX::ClOrdID(ORDER_ID), FIX::Side(FIX::Side_BUY));
    status.set(FIX::Symbol("BTCUSDT"));
    status.set(FIX::OrdStatusReqID("qf-status"));
    FIX::Session::sendToTarget(status, session);
  }

  void say(const std::string& line) {
    std::lock_guard<std::mutex> hold(lock_);
    std::cout << line << std::endl;
  }

  void problem(const std::string& what) {
    std::lock_guard<std::mutex> hold(lock_);
    problems_.push_back(what);
  }

  void finish(bool) {
    std::lock_guard<std::mutex> hold(lock_);
    done_ = true;
    done_cv_.notify_all();
  }

  const std::string phase_;
  const std::string password_;
  std::mutex lock_;
  std::condition_variable done_cv_;
  bool done_ = false;
  bool ordered_ = false;
  std::vector<std::string> problems_;
};

}  // namespace

int main(int argc, char** argv) {
  const char* password = std::getenv("QUICKFIX_CLIENT_PASSWORD");
  if (argc != 6 || password == nullptr) {
    std::cerr << "usage: QUICKFIX_CLIENT_PASSWORD=... quickfix_client trade|resume HOST PORT "
                 "FIX44.xml WORKDIR\n";
    return 2;
  }
  const std::string phase = argv[1];
  const std::string work = argv[5];
  std::ostringstream config;
  config << "[DEFAULT]\n"
         << "ConnectionType=initiator\n"
         << "SocketConnectHost=" << argv[2] << "\n"
         << "SocketConnectPort=" << argv[3] << "\n"
         << "StartTime=00:00:00\nEndTime=00:00:00\n"
         << "ReconnectInterval=60\n"
         << "FileStorePath=" << work << "/store\n"
         << "FileLogPath=" << work << "/log\n"
         << "UseDataDictionary=Y\n"
         << "DataDictionary=" << argv[4] << "\n"
         << "ValidateUserDefinedFields=Y\n"
         // The sequence numbers carry on across both phases: a desk that
         // forgot them would be caught (MsgSeqNum too low).
         << "ResetOnLogon=N\nResetOnLogout=N\nResetOnDisconnect=N\n"
         << "[SESSION]\n"
         << "BeginString=FIX.4.4\n"
         << "SenderCompID=" << CLIENT << "\n"
         << "TargetCompID=" << DESK << "\n"
         << "HeartBtInt=30\n";
  try {
    std::istringstream stream(config.str());
    FIX::SessionSettings settings(stream);
    Client client(phase, password);
    FIX::FileStoreFactory store(settings);
    FIX::FileLogFactory log(settings);
    FIX::SocketInitiator initiator(client, store, settings, log);
    initiator.start();
    const bool ok = client.wait(30);
    initiator.stop();
    std::cout << (ok ? "interop ok" : "interop failed") << std::endl;
    return ok ? 0 : 1;
  } catch (const std::exception& error) {
    std::cout << "problem QuickFIX: " << error.what() << std::endl;
    return 1;
  }
}
