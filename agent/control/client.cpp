// Synchronous Unix-socket HTTP client behind the CLI verbs that talk to the running daemon.
#include "control/client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "audit/signing.hpp"

namespace mw {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using unix_proto = asio::local::stream_protocol;

Result<ControlResponse> control_request(const std::string& socket_path, const std::string& method,
                                        const std::string& target, const std::string& body,
                                        const std::vector<std::pair<std::string, std::string>>& headers) {
    asio::io_context io;
    unix_proto::socket sock(io);
    beast::error_code ec;
    sock.connect(unix_proto::endpoint(socket_path), ec);
    if (ec) return make_error("cannot connect to " + socket_path + ": " + ec.message(), ec.value());
    // Synchronous Beast calls have no deadline of their own: a stuck daemon must not hang the CLI.
    timeval tv{30, 0};
    ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, "localhost");
    req.set(http::field::user_agent, "modelwarden-cli");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.keep_alive(false);
    if (!body.empty()) req.set(http::field::content_type, "application/yaml");
    req.body() = body;
    req.prepare_payload();
    http::write(sock, req, ec);
    if (ec) return make_error("cannot send to " + socket_path + ": " + ec.message(), ec.value());
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(sock, buf, parser, ec);
    if (ec) return make_error("no reply from " + socket_path + ": " + ec.message(), ec.value());
    auto& res = parser.get();
    return ControlResponse{res.result_int(), std::string(res[http::field::content_type]), res.body()};
}

namespace {

std::string pretty(const std::string& body) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    return j.is_discarded() ? body : j.dump(2);
}

Result<std::string> slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error("cannot read " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string url_encode(const std::string& s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out.push_back(static_cast<char>(c));
        else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0xf]);
        }
    }
    return out;
}

constexpr const char* kUsage =
    "usage: status | events [--since N] [--kind K] [--limit N] | policy list | policy rollback | "
    "policy apply FILE [--signature SIGFILE] | thaw --workload NAME|--pid N|--cgroup PATH | "
    "release --workload NAME|--pid N\n";

}  // namespace

int run_control_client(const std::string& socket_path, const std::vector<std::string>& args, std::ostream& out,
                       std::ostream& err) {
    std::string method, target, body;
    std::vector<std::pair<std::string, std::string>> headers;
    if (args.size() == 1 && args[0] == "status") {
        method = "GET", target = "/v1/status";
    } else if (!args.empty() && args[0] == "events") {
        std::string query;
        for (size_t i = 1; i < args.size(); i += 2) {
            if (i + 1 >= args.size() || (args[i] != "--since" && args[i] != "--kind" && args[i] != "--limit")) {
                err << kUsage;
                return 2;
            }
            query += (query.empty() ? "?" : "&") + args[i].substr(2) + "=" + url_encode(args[i + 1]);
        }
        method = "GET", target = "/v1/events" + query;
    } else if (args.size() == 2 && args[0] == "policy" && args[1] == "list") {
        method = "GET", target = "/v1/policies";
    } else if (args.size() == 2 && args[0] == "policy" && args[1] == "rollback") {
        method = "POST", target = "/v1/policies/rollback";
    } else if ((args.size() == 3 || (args.size() == 5 && args[3] == "--signature")) && args[0] == "policy" &&
               args[1] == "apply") {
        auto bundle = slurp(args[2]);
        if (!bundle) {
            err << "error: " << bundle.error().message << "\n";
            return 2;
        }
        if (bundle->empty()) {
            err << "error: " << args[2] << " is empty\n";
            return 2;
        }
        body = std::move(bundle.value());
        if (args.size() == 5) {
            auto sig = slurp(args[4]);
            if (!sig) {
                err << "error: " << sig.error().message << "\n";
                return 2;
            }
            // Base64 text passes through; raw bytes (openssl pkeyutl output) are encoded.
            std::string encoded = base64_decode(*sig).ok() ? *sig : base64_encode(*sig);
            std::string trimmed;
            for (char c : encoded)
                if (c != '\n' && c != '\r' && c != ' ' && c != '\t') trimmed.push_back(c);
            headers.emplace_back("X-Modelwarden-Signature", trimmed);
        }
        method = "POST", target = "/v1/policies";
    } else if (args.size() == 3 && (args[0] == "thaw" || args[0] == "release") &&
               (args[1] == "--workload" || args[1] == "--pid" || (args[0] == "thaw" && args[1] == "--cgroup"))) {
        nlohmann::json j;
        if (args[1] == "--pid") {
            int pid = 0;
            try {
                std::size_t used = 0;
                pid = std::stoi(args[2], &used);
                if (used != args[2].size() || pid <= 0) throw std::invalid_argument(args[2]);
            } catch (const std::exception&) {
                err << "error: --pid needs a positive number, not '" << args[2] << "'\n";
                return 2;
            }
            j["pid"] = pid;
        } else {
            j[args[1].substr(2)] = args[2];
        }
        body = j.dump();
        method = "POST", target = "/v1/enforcement/" + args[0];
    } else {
        err << kUsage;
        return 2;
    }
    auto res = control_request(socket_path, method, target, body, headers);
    if (!res) {
        err << "error: " << res.error().message << " (is the modelwarden daemon running?)\n";
        return 3;
    }
    if (res->status >= 200 && res->status < 300) {
        out << pretty(res->body) << "\n";
        return 0;
    }
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    std::string msg = j.is_object() && j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>() : res->body;
    err << "error: " << res->status << " " << msg << "\n";
    return 1;
}

}  // namespace mw
