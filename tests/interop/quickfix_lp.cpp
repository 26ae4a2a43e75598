// An LP's FIX 4.4 engine for the desk's FIX venue adapter to trade with:
// a QuickFIX acceptor (Debian's libquickfix-dev) validating everything
// the desk sends against QuickFIX's own FIX44.xml data dictionary.
//
// Built and run by tests/integration/fix_venue.rs
// (`interop_with_a_quickfix_acceptor`). It plays a simple LP:
//   Logon: Password 554 must be QUICKFIX_LP_PASSWORD (else RejectLogon,
//          which QuickFIX sends as a Logout with the reason);
//   QuoteRequest R -> a two-way Quote S (bid 99990.5 for 2, offer
//          100010.25 for 1.5, valid 10 s);
//   NewOrderSingle D -> filled (F/2 at its price) when its quantity is
//          1.5, otherwise rejected on last look (8/8, 58).
// It prints `ready` once it listens, runs until its stdin closes, then
// prints `logons N quotes N orders N` and every message QuickFIX rejected
// (`problem ...`); exits 1 when there was any.
//
// usage: QUICKFIX_LP_PASSWORD=... quickfix_lp PORT FIX44.xml WORKDIR

#include <quickfix/Application.h>
#include <quickfix/FileLog.h>
#include <quickfix/FileStore.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketAcceptor.h>
#include <quickfix/Values.h>
#include <quickfix/fix44/ExecutionReport.h>
#include <quickfix/fix44/Quote.h>
#include <quickfix/fix44/QuoteRequest.h>

#include <cstdlib>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string text_of(const FIX::Message& message) {
  std::string text = message.toString();
  for (char& c : text) {
    if (c == '\x01') c = '|';
  }
  return text;
}

std::string msg_type(const FIX::Message& message) {
  return message.getHeader().getField(FIX::FIELD::MsgType);
}

class Lp : public FIX::Application {
 public:
  explicit Lp(std::string password) : password_(std::move(password)) {}

  void onCreate(const FIX::SessionID&) override {}

  void onLogon(const FIX::SessionID&) override {
    std::lock_guard<std::mutex> hold(lock_);
    ++logons_;
  }

  void onLogout(const FIX::SessionID&) override {}

  void toAdmin(FIX::Message& message, const FIX::SessionID&) override {
    // A session Reject from QuickFIX: something the desk sent broke the
    // FIX 4.4 dictionary or the session rules.
    if (msg_type(message) == FIX::MsgType_Reject) problem(text_of(message));
  }

  void toApp(FIX::Message& message, const FIX::SessionID&) throw(FIX::DoNotSend) override {
    if (msg_type(message) == FIX::MsgType_BusinessMessageReject) problem(text_of(message));
  }

  void fromAdmin(const FIX::Message& message, const FIX::SessionID&) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::RejectLogon) override {
    if (msg_type(message) != FIX::MsgType_Logon) return;
    if (!message.isSetField(FIX::FIELD::Password) ||
        message.getField(FIX::FIELD::Password) != password_) {
      throw FIX::RejectLogon("invalid password");
    }
  }

  void fromApp(const FIX::Message& message, const FIX::SessionID& session) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::UnsupportedMessageType) override {
    const std::string kind = msg_type(message);
    if (kind == FIX::MsgType_QuoteRequest) {
      quote(message, session);
    } else if (kind == FIX::MsgType_NewOrderSingle) {
      execute(message, session);
    } else {
      throw FIX::UnsupportedMessageType();
    }
  }

  // The closing summary; true when QuickFIX rejected nothing.
  bool report() {
    std::lock_guard<std::mutex> hold(lock_);
    std::cout << "logons " << logons_ << " quotes " << quotes_ << " orders " << orders_ << std::endl;
    for (const std::string& problem : problems_) std::cout << "problem " << problem << std::endl;
    return problems_.empty();
  }

 private:
  void quote(const FIX::Message& request, const FIX::SessionID& session) {
    FIX44::QuoteRequest::NoRelatedSym symbol;
    request.getGroup(1, symbol);
    int n;
    {
      std::lock_guard<std::mutex> hold(lock_);
      n = ++quotes_;
    }
    FIX44::Quote quote(FIX::QuoteID("QF-" + std::to_string(n)));
    quote.setField(FIX::QuoteReqID(request.getField(FIX::FIELD::QuoteReqID)));
    quote.setField(FIX::Symbol(symbol.getField(FIX::FIELD::Symbol)));
    quote.setField(FIX::StringField(FIX::FIELD::BidPx, "99990.5"));
    quote.setField(FIX::StringField(FIX::FIELD::OfferPx, "100010.25"));
    quote.setField(FIX::StringField(FIX::FIELD::BidSize, "2"));
    quote.setField(FIX::StringField(FIX::FIELD::OfferSize, "1.5"));
    FIX::UtcTimeStamp valid_until;
    valid_until += 10;  // seconds
    quote.setField(FIX::ValidUntilTime(valid_until, 3));
    FIX::Session::sendToTarget(quote, session);
  }

  void execute(const FIX::Message& order, const FIX::SessionID& session) {
    int n;
    {
      std::lock_guard<std::mutex> hold(lock_);
      n = ++orders_;
    }
    const std::string quantity = order.getField(FIX::FIELD::OrderQty);
    const std::string price = order.getField(FIX::FIELD::Price);
    const bool fill = quantity == "1.5";
    FIX44::ExecutionReport report;
    report.setField(FIX::OrderID("QF-ORD-" + std::to_string(n)));
    report.setField(FIX::ExecID("QF-EXEC-" + std::to_string(n)));
    report.setField(FIX::ClOrdID(order.getField(FIX::FIELD::ClOrdID)));
    report.setField(FIX::ExecType(fill ? FIX::ExecType_TRADE : FIX::ExecType_REJECTED));
    report.setField(FIX::OrdStatus(fill ? FIX::OrdStatus_FILLED : FIX::OrdStatus_REJECTED));
    report.setField(FIX::Symbol(order.getField(FIX::FIELD::Symbol)));
    report.setField(FIX::Side(order.getField(FIX::FIELD::Side)[0]));
    report.setField(FIX::StringField(FIX::FIELD::OrderQty, quantity));
    report.setField(FIX::StringField(FIX::FIELD::LeavesQty, "0"));
    report.setField(FIX::StringField(FIX::FIELD::CumQty, fill ? quantity : "0"));
    report.setField(FIX::StringField(FIX::FIELD::AvgPx, fill ? price : "0"));
    if (fill) {
      report.setField(FIX::StringField(FIX::FIELD::LastPx, price));
      report.setField(FIX::StringField(FIX::FIELD::LastQty, quantity));
    } else {
      report.setField(FIX::Text("last look: price moved"));
    }
    FIX::Session::sendToTarget(report, session);
  }

  void problem(const std::string& what) {
    std::lock_guard<std::mutex> hold(lock_);
    problems_.push_back(what);
  }

  const std::string password_;
  std::mutex lock_;
  int logons_ = 0;
  int quotes_ = 0;
  int orders_ = 0;
  std::vector<std::string> problems_;
};

}  // namespace

int main(int argc, char** argv) {
  const char* password = std::getenv("QUICKFIX_LP_PASSWORD");
  if (argc != 4 || password == nullptr) {
    std::cerr << "usage: QUICKFIX_LP_PASSWORD=... quickfix_lp PORT FIX44.xml WORKDIR\n";
    return 2;
  }
  const std::string work = argv[3];
  std::ostringstream config;
  config << "[DEFAULT]\n"
         << "ConnectionType=acceptor\n"
         << "SocketAcceptHost=127.0.0.1\n"
         << "SocketAcceptPort=" << argv[1] << "\n"
         << "StartTime=00:00:00\nEndTime=00:00:00\n"
         << "FileStorePath=" << work << "/store\n"
         << "FileLogPath=" << work << "/log\n"
         << "UseDataDictionary=Y\n"
         << "DataDictionary=" << argv[2] << "\n"
         << "[SESSION]\n"
         << "BeginString=FIX.4.4\n"
         << "SenderCompID=LP\n"
         << "TargetCompID=DESK\n"
         << "HeartBtInt=30\n";
  try {
    std::istringstream stream(config.str());
    FIX::SessionSettings settings(stream);
    Lp lp(password);
    FIX::FileStoreFactory store(settings);
    FIX::FileLogFactory log(settings);
    FIX::SocketAcceptor acceptor(lp, store, settings, log);
    acceptor.start();
    std::cout << "ready" << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    acceptor.stop();
    return lp.report() ? 0 : 1;
  } catch (const std::exception& error) {
    std::cout << "problem QuickFIX: " << error.what() << std::endl;
    return 1;
  }
}
