// HEC and _bulk receivers for the sink tests (see receivers.hpp for the documented behaviour).
#include "receivers.hpp"

#include <sys/socket.h>

#include <cstdlib>
#include <fstream>
#include <iostream>

#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <ctime>

#include "sinks/sink.hpp"

namespace siemtest {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using nlohmann::json;

HttpReceiver::HttpReceiver(std::string cert_file, std::string key_file) : acceptor_(io_) {
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    if (!cert_file.empty()) {
        tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
        tls_->use_certificate_chain_file(cert_file);
        tls_->use_private_key_file(key_file, asio::ssl::context::pem);
    }
    thread_ = std::thread([this] { serve(); });
}

HttpReceiver::~HttpReceiver() {
    stop_ = true;
    boost::system::error_code ec;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    acceptor_.close(ec);
    thread_.join();
    {
        // Idle keep-alive sessions block in read: shutting the sockets down ends them.
        std::lock_guard lk(mu_);
        for (auto& so : socks_) ::shutdown(so->native_handle(), SHUT_RDWR);
    }
    for (auto& t : sessions_) t.join();
}

std::string HttpReceiver::url() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

void HttpReceiver::inject(unsigned n, Injected r) {
    std::lock_guard lk(mu_);
    for (unsigned i = 0; i < n; ++i) injected_.push_back(r);
}

void HttpReceiver::protocol_error(std::string what) {
    protocol_errors_.push_back(std::move(what));  // caller holds mu_
}

std::vector<std::string> HttpReceiver::protocol_errors() const {
    std::lock_guard lk(mu_);
    return protocol_errors_;
}

void HttpReceiver::serve() {
    while (!stop_) {
        auto sock = std::make_shared<tcp::socket>(io_);
        boost::system::error_code ec;
        acceptor_.accept(*sock, ec);
        if (ec || stop_) break;
        if (down_) {
            sock->close(ec);
            continue;
        }
        {
            std::lock_guard lk(mu_);
            socks_.push_back(sock);
        }
        sessions_.emplace_back([this, sock] {
            if (tls_) {
                asio::ssl::stream<tcp::socket&> s(*sock, *tls_);
                boost::system::error_code hec;
                s.handshake(asio::ssl::stream_base::server, hec);
                if (!hec) session(s);
            } else {
                session(*sock);
            }
            boost::system::error_code cec;
            sock->close(cec);
        });
    }
}

template <class Stream>
void HttpReceiver::session(Stream& s) {
    beast::flat_buffer buf;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(256u << 20);
        boost::system::error_code ec;
        http::read(s, buf, parser, ec);
        if (ec || stop_) return;
        auto& req = parser.get();
        requests_++;
        if (down_) return;
        Response r;
        bool injected = false;
        {
            std::lock_guard lk(mu_);
            if (!injected_.empty()) {
                auto& in = injected_.front();
                r.status = in.status;
                r.body = in.body;
                r.retry_after = in.retry_after;
                injected_.pop_front();
                injected = true;
            }
        }
        if (!injected) {
            Request q;
            q.method = std::string(req.method_string());
            q.target = std::string(req.target());
            q.body = std::move(req.body());
            for (auto& f : req) {
                std::string name(f.name_string());
                for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                q.headers[name] = std::string(f.value());
            }
            r = handle(q);
        }
        http::response<http::string_body> res{static_cast<http::status>(r.status), 11};
        res.set(http::field::content_type, "application/json; charset=UTF-8");
        if (!r.retry_after.empty()) res.set(http::field::retry_after, r.retry_after);
        res.body() = r.body;
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        http::write(s, res, ec);
        if (ec || !req.keep_alive()) return;
    }
}

bool split_json_objects(const std::string& body, std::vector<std::string>& out) {
    std::size_t i = 0;
    while (i < body.size()) {
        while (i < body.size() && std::isspace(static_cast<unsigned char>(body[i]))) ++i;
        if (i == body.size()) break;
        if (body[i] != '{') return false;
        int depth = 0;
        bool in_str = false, esc = false;
        std::size_t start = i;
        for (; i < body.size(); ++i) {
            char c = body[i];
            if (in_str) {
                if (esc) esc = false;
                else if (c == '\\') esc = true;
                else if (c == '"') in_str = false;
                continue;
            }
            if (c == '"') in_str = true;
            else if (c == '{') depth++;
            else if (c == '}' && --depth == 0) {
                ++i;
                break;
            }
        }
        if (depth != 0) return false;
        out.push_back(body.substr(start, i - start));
    }
    return true;
}

namespace {
std::string strip_query(const std::string& target, std::string* query = nullptr) {
    auto q = target.find('?');
    if (query && q != std::string::npos) *query = target.substr(q + 1);
    return target.substr(0, q);
}

bool is_guid(const std::string& s) {
    if (s.size() != 36) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return false;
        } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
            return false;
        }
    }
    return true;
}

std::string hec(const char* text, int code) { return json{{"text", text}, {"code", code}}.dump(); }

std::string header(const std::map<std::string, std::string>& h, const std::string& k) {
    auto it = h.find(k);
    return it == h.end() ? std::string{} : it->second;
}
}  // namespace

HecReceiver::Response HecReceiver::handle(const Request& req) {
    std::lock_guard lk(mu_);
    std::string query;
    const std::string path = strip_query(req.target, &query);
    if (path != "/services/collector/event" && path != "/services/collector/ack" &&
        path != "/services/collector")
        return {404, hec("The requested URL was not found on this server.", 404), {}};
    if (req.method != "POST") return {405, hec("Method not allowed", 405), {}};
    const std::string auth = header(req.headers, "authorization");
    if (auth.empty()) return {401, hec("Token is required", 2), {}};
    if (!auth.starts_with("Splunk ")) return {401, hec("Invalid authorization", 3), {}};
    if (auth.substr(7) != token) return {403, hec("Invalid token", 4), {}};
    std::string channel = header(req.headers, "x-splunk-request-channel");
    if (channel.empty() && query.starts_with("channel=")) channel = query.substr(8);
    if (ack_enabled) {
        if (channel.empty()) return {400, hec("Data channel is missing", 10), {}};
        if (!is_guid(channel)) return {400, hec("Invalid data channel", 11), {}};
    }
    if (path == "/services/collector/ack") {
        if (!ack_enabled) return {400, hec("ACK is disabled", 14), {}};
        auto j = json::parse(req.body, nullptr, false);
        if (!j.is_object() || !j.contains("acks") || !j["acks"].is_array())
            return {400, hec("Invalid data format", 6), {}};
        json acks = json::object();
        auto& pending = pending_acks_[channel];
        for (auto& id : j["acks"]) {
            if (!id.is_number_unsigned()) return {400, hec("Invalid data format", 6), {}};
            auto n = id.get<std::uint64_t>();
            bool indexed = !acks_never_true && pending.erase(n) > 0;  // true exactly once
            if (indexed) acks_true_++;
            acks[std::to_string(n)] = indexed;
        }
        return {200, json{{"acks", acks}}.dump(), {}};
    }
    std::string body = req.body;
    const std::string enc = header(req.headers, "content-encoding");
    if (enc == "gzip") {
        auto d = mw::gzip_decompress(body, 512u << 20);
        if (!d) return {400, hec("Invalid data format", 6), {}};
        body = std::move(*d);
    } else if (!enc.empty()) {
        protocol_error("unsupported content-encoding " + enc);
        return {415, hec("Unsupported content encoding", 6), {}};
    }
    if (body.size() > max_content_length) return {413, hec("Content too large", 27), {}};
    if (body.find_first_not_of(" \t\r\n") == std::string::npos) return {400, hec("No data", 5), {}};
    std::vector<std::string> objs;
    if (!split_json_objects(body, objs)) return {400, hec("Invalid data format", 6), {}};
    std::vector<std::string> ids, events;
    for (std::size_t i = 0; i < objs.size(); ++i) {
        auto bad = [&](const char* text, int code) {
            json r{{"text", text}, {"code", code}, {"invalid-event-number", i}};
            return Response{400, r.dump(), {}};
        };
        auto j = json::parse(objs[i], nullptr, false);
        if (!j.is_object()) return bad("Invalid data format", 6);
        if (!j.contains("event")) return bad("Event field is required", 12);
        if (j["event"].is_null() || (j["event"].is_string() && j["event"].get<std::string>().empty()) ||
            (j["event"].is_object() && j["event"].empty()))
            return bad("Event field cannot be blank", 13);
        if (j.contains("time") && !j["time"].is_number() && !j["time"].is_string()) return bad("Invalid data format", 6);
        for (const char* k : {"host", "source", "sourcetype", "index"})
            if (j.contains(k) && !j[k].is_string()) return bad("Invalid data format", 6);
        std::string id;
        if (j.contains("fields")) {
            if (!j["fields"].is_object()) return bad("Error in handling indexed fields", 15);
            for (auto& [k, v] : j["fields"].items()) {
                bool flat = v.is_string() || (v.is_array() && std::all_of(v.begin(), v.end(), [](const json& e) {
                                                  return e.is_string();
                                              }));
                if (!flat) return bad("Error in handling indexed fields", 15);
            }
            if (j["fields"].contains("event_id")) id = j["fields"]["event_id"].get<std::string>();
        }
        if (bad_event_ids.count(id)) return bad("Invalid data format", 6);
        ids.push_back(id);
        events.push_back(objs[i]);
    }
    ids_.insert(ids_.end(), ids.begin(), ids.end());
    events_.insert(events_.end(), events.begin(), events.end());
    {
        timespec ts{};
        clock_gettime(CLOCK_REALTIME, &ts);
        arrivals_.insert(arrivals_.end(), events.size(),
                         static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec));
    }
    json r{{"text", "Success"}, {"code", 0}};
    if (ack_enabled) {
        std::uint64_t id = next_ack_[channel]++;
        pending_acks_[channel].insert(id);
        r["ackId"] = id;
    }
    return {200, r.dump(), {}};
}

std::vector<std::uint64_t> HecReceiver::arrivals_ns() const {
    std::lock_guard lk(mu_);
    return arrivals_;
}

std::vector<std::string> HecReceiver::ids() const {
    std::lock_guard lk(mu_);
    return ids_;
}
std::vector<std::string> HecReceiver::events_json() const {
    std::lock_guard lk(mu_);
    return events_;
}
std::uint64_t HecReceiver::acks_returned_true() const {
    std::lock_guard lk(mu_);
    return acks_true_;
}

void BulkReceiver::preload(const std::string& index, const std::string& id) {
    std::lock_guard lk(mu_);
    docs_[id] = "{}";
    doc_index_[id] = index;
}

BulkReceiver::Response BulkReceiver::handle(const Request& req) {
    std::lock_guard lk(mu_);
    auto es_error = [](unsigned status, const char* type, const std::string& reason) {
        json e{{"type", type}, {"reason", reason}};
        return Response{status, json{{"error", {{"root_cause", json::array({e})}, {"type", type}, {"reason", reason}}},
                                     {"status", status}}
                                    .dump(),
                        {}};
    };
    if (strip_query(req.target) != "/_bulk") return es_error(404, "resource_not_found_exception", "no handler");
    if (req.method != "POST" && req.method != "PUT") return es_error(405, "method_not_allowed", req.method);
    if (header(req.headers, "authorization") != "ApiKey " + api_key)
        return es_error(401, "security_exception", "missing authentication credentials for REST request [/_bulk]");
    const std::string ct = header(req.headers, "content-type");
    if (!ct.starts_with("application/x-ndjson")) {
        if (!ct.starts_with("application/json")) {
            protocol_error("content-type " + ct);
            return {406, json{{"error", "Content-Type header [" + ct + "] is not supported"}, {"status", 406}}.dump(), {}};
        }
        protocol_error("content-type application/json instead of application/x-ndjson");
    }
    std::string body = req.body;
    if (header(req.headers, "content-encoding") == "gzip") {
        auto d = mw::gzip_decompress(body, 512u << 20);
        if (!d) return es_error(400, "parse_exception", "bad gzip");
        body = std::move(*d);
    }
    if (body.empty() || body.back() != '\n')
        return es_error(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]");
    std::vector<std::string> lines;
    std::size_t pos = 0;
    while (pos < body.size()) {
        auto nl = body.find('\n', pos);
        lines.push_back(body.substr(pos, nl - pos));
        pos = nl + 1;
    }
    if (lines.size() % 2 != 0) return es_error(400, "illegal_argument_exception", "action without source line");
    json items = json::array();
    bool errors = false;
    for (std::size_t i = 0; i < lines.size(); i += 2) {
        auto action = json::parse(lines[i], nullptr, false);
        if (!action.is_object() || action.size() != 1)
            return es_error(400, "illegal_argument_exception", "Malformed action/metadata line [" + std::to_string(i + 1) + "]");
        const std::string op = action.begin().key();
        const json meta = action.begin().value();
        std::string index = meta.value("_index", "");
        std::string id = meta.value("_id", "");
        if (id.empty()) protocol_error("action without _id (retries would duplicate)");
        attempts_.push_back(id);
        auto item = [&](int status, const char* type = nullptr, std::string reason = {}) {
            json r{{"_index", index}, {"_id", id}, {"status", status}};
            if (type) {
                r["error"] = {{"type", type}, {"reason", reason}};
                errors = true;
            } else {
                r["result"] = "created";
                r["_version"] = 1;
            }
            items.push_back(json{{op, r}});
        };
        if (op != "create") {
            protocol_error("action " + op + " instead of create");
            item(400, "illegal_argument_exception", "only write ops with an op_type of create are allowed in data streams");
            continue;
        }
        auto src = json::parse(lines[i + 1], nullptr, false);
        if (!src.is_object()) {
            item(400, "document_parsing_exception", "[1:1] failed to parse");
            continue;
        }
        if (!src.contains("@timestamp")) {
            item(400, "illegal_argument_exception", "data stream timestamp field [@timestamp] is missing");
            continue;
        }
        if (mapping_error_ids.count(id)) {
            item(400, "document_parsing_exception", "[1:2] failed to parse field [process.pid] of type [long]");
            continue;
        }
        if (auto b = busy_ids.find(id); b != busy_ids.end() && b->second > 0) {
            b->second--;
            item(429, "es_rejected_execution_exception", "rejected execution of coordinating operation");
            continue;
        }
        if (docs_.count(id)) {
            conflicts_++;
            item(409, "version_conflict_engine_exception",
                 "[" + id + "]: version conflict, document already exists (current version [1])");
            continue;
        }
        docs_[id] = lines[i + 1];
        doc_index_[id] = index;
        item(201);
    }
    return {200, json{{"errors", errors}, {"took", 1}, {"items", items}}.dump(), {}};
}

std::map<std::string, std::string> BulkReceiver::documents() const {
    std::lock_guard lk(mu_);
    return docs_;
}
std::map<std::string, std::string> BulkReceiver::document_index() const {
    std::lock_guard lk(mu_);
    return doc_index_;
}
std::vector<std::string> BulkReceiver::ids() const {
    std::lock_guard lk(mu_);
    return attempts_;
}
std::uint64_t BulkReceiver::conflicts() const {
    std::lock_guard lk(mu_);
    return conflicts_;
}

bool TestPki::make(const std::string& d) {
    dir = d;
    ca = d + "/ca.pem";
    ca_key = d + "/ca.key";
    server_cert = d + "/server.pem";
    server_key = d + "/server.key";
    client_cert = d + "/client.pem";
    client_key = d + "/client.key";
    other_ca = d + "/other-ca.pem";
    std::ofstream(d + "/server.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
                                        "basicConstraints=CA:FALSE\n";
    std::ofstream(d + "/client.ext") << "subjectAltName=DNS:mw-client\nextendedKeyUsage=clientAuth\n"
                                        "basicConstraints=CA:FALSE\n";
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    const std::string q = " >/dev/null 2>&1";
    const std::vector<std::string> cmds = {
        "openssl req -x509" + ec + "-keyout " + ca_key + " -out " + ca +
            " -days 2 -subj /CN=modelwarden-test-ca -addext basicConstraints=critical,CA:TRUE"
            " -addext keyUsage=critical,keyCertSign,cRLSign" + q,
        "openssl req -x509" + ec + "-keyout " + d + "/other-ca.key -out " + other_ca +
            " -days 2 -subj /CN=unrelated-ca -addext basicConstraints=critical,CA:TRUE" + q,
        "openssl req" + ec + "-keyout " + server_key + " -out " + d + "/server.csr -subj /CN=127.0.0.1" + q,
        "openssl x509 -req -in " + d + "/server.csr -CA " + ca + " -CAkey " + ca_key + " -CAcreateserial -out " +
            server_cert + " -days 2 -extfile " + d + "/server.ext" + q,
        "openssl req" + ec + "-keyout " + client_key + " -out " + d + "/client.csr -subj /CN=mw-client" + q,
        "openssl x509 -req -in " + d + "/client.csr -CA " + ca + " -CAkey " + ca_key + " -CAcreateserial -out " +
            client_cert + " -days 2 -extfile " + d + "/client.ext" + q,
    };
    for (auto& c : cmds)
        if (std::system(c.c_str()) != 0) {
            std::cerr << "pki: failed: " << c << '\n';
            return false;
        }
    return true;
}

}  // namespace siemtest
