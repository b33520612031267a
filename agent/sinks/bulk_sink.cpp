// Elasticsearch/OpenSearch _bulk delivery: NDJSON encoding and per-item response handling.
#include "sinks/bulk_sink.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <boost/beast/core/detail/base64.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace mw {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {
std::chrono::milliseconds retry_after(const HttpResponse& res) {
    auto it = res.find(http::field::retry_after);
    if (it == res.end()) return std::chrono::milliseconds{0};
    std::string v(it->value());
    if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) return std::chrono::milliseconds{0};
    return std::chrono::milliseconds(std::min<long long>(std::stoll(v.substr(0, 6)), 3600) * 1000);
}

std::string base64(std::string_view in) {
    std::string out(boost::beast::detail::base64::encoded_size(in.size()), '\0');
    out.resize(boost::beast::detail::base64::encode(out.data(), in.data(), in.size()));
    return out;
}
}  // namespace

std::string bulk_document_id(std::string_view id) {
    if (!id.empty() && id.size() <= 512 && id.front() != '_') return std::string(id);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(id.data()), id.size(), md);
    std::string hex;
    for (unsigned char c : md) hex += fmt::format("{:02x}", c);
    return hex;
}

void append_bulk_item(std::string& out, const SpoolRecord& r, const BulkOptions& o) {
    out += R"({"create":{"_index":)";
    append_json_string(out, r.kind == EventKind::Alert ? o.alerts_stream : o.events_stream);
    out += R"(,"_id":)";
    append_json_string(out, bulk_document_id(r.event_id));
    out += "}}\n";
    out += r.json;  // one line: the pipeline's ECS JSON has no raw newlines
    out += '\n';
}

Result<std::unique_ptr<BulkSink>> BulkSink::create(asio::io_context& io, Spool& spool, BulkOptions o) {
    auto url = parse_url(o.url);
    if (!url) return make_error("sinks: " + o.name + ": " + url.error().message, EINVAL);
    if (!o.api_key.empty() && !o.username.empty())
        return make_error("sinks: " + o.name + ": set either api_key or username/password, not both", EINVAL);
    std::shared_ptr<asio::ssl::context> ctx;
    if (url->tls) {
        auto c = make_sink_tls_context(o.name, o.tls);
        if (!c) return c.error();
        ctx = *c;
    }
    return std::unique_ptr<BulkSink>(new BulkSink(io, spool, std::move(o), *url, ctx));
}

BulkSink::BulkSink(asio::io_context& io, Spool& spool, BulkOptions o, Url url, std::shared_ptr<asio::ssl::context> ctx)
    : SpoolSink(io, spool, o.name, o.batch, o.retry, o.dead_letter_path),
      opt_(std::move(o)),
      client_(io, std::move(url), opt_.tls, std::move(ctx), opt_.timeout) {
    if (!opt_.api_key.empty()) auth_header_ = "ApiKey " + opt_.api_key;
    else if (!opt_.username.empty()) auth_header_ = "Basic " + base64(opt_.username + ":" + opt_.password);
}

asio::awaitable<BatchOutcome> BulkSink::send(std::span<const SpoolRecord* const> batch) {
    BatchOutcome out;
    std::vector<std::uint32_t> all(batch.size());
    for (std::uint32_t i = 0; i < all.size(); ++i) all[i] = i;
    co_await send_range(batch, std::move(all), out);
    co_return out;
}

asio::awaitable<void> BulkSink::send_range(std::span<const SpoolRecord* const> batch, std::vector<std::uint32_t> idx,
                                           BatchOutcome& out) {
    auto keep = [&](const std::vector<std::uint32_t>& which, std::string reason, bool slow = false,
                    std::chrono::milliseconds after = {}) {
        out.resend.insert(out.resend.end(), which.begin(), which.end());
        out.reason = std::move(reason);
        out.slow = out.slow || slow;
        out.retry_after = std::max(out.retry_after, after);
    };
    auto split = [&]() -> asio::awaitable<void> {
        std::vector<std::uint32_t> a(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(idx.size() / 2));
        std::vector<std::uint32_t> b(idx.begin() + static_cast<std::ptrdiff_t>(idx.size() / 2), idx.end());
        co_await send_range(batch, std::move(a), out);
        co_await send_range(batch, std::move(b), out);
    };
    body_.clear();
    for (auto i : idx) append_bulk_item(body_, *batch[i], opt_);
    HttpRequest req{http::verb::post, client_.url().path + "/_bulk", 11};
    req.set(http::field::content_type, "application/x-ndjson");
    req.set(http::field::user_agent, "modelwarden");
    if (!auth_header_.empty()) req.set(http::field::authorization, auth_header_);
    if (opt_.gzip) {
        if (auto z = gzip_compress(body_, zbody_, opt_.gzip_level); !z) {
            keep(idx, z.error().message);
            co_return;
        }
        req.set(http::field::content_encoding, "gzip");
        req.body().swap(zbody_);
    } else {
        req.body() = body_;
    }
    auto res = co_await client_.request(req);
    if (!res) {
        (res.error().code == int(NetErrorClass::Tls) ? stats_.errors_tls : stats_.errors_network)++;
        spdlog::error("sinks: {}: {}", name(), res.error().message);
        keep(idx, res.error().message);
        co_return;
    }
    const unsigned status = res->result_int();
    const std::string what = fmt::format("HTTP {} {}", status, res->body().substr(0, 300));
    if (status == 413) {
        if (idx.size() > 1) co_await split();
        else out.dead.emplace_back(idx[0], "document too large (413)");
        co_return;
    }
    if (status == 429 || (status >= 500 && status != 501)) {
        (status == 429 || status == 503 ? stats_.errors_throttled : stats_.errors_server)++;
        keep(idx, "retryable: " + what, false, retry_after(*res));
        co_return;
    }
    if (status == 401 || status == 403) {
        stats_.errors_auth++;
        spdlog::error("sinks: {}: ALERT: the cluster refused our credentials ({}); events are kept and retried slowly",
                      name(), what);
        keep(idx, "authentication: " + what, true);
        co_return;
    }
    if (status < 200 || status >= 300) {
        if (status == 400 && idx.size() > 1) {
            co_await split();  // a request-level parse error: find the event that causes it
        } else if (status == 400) {
            out.dead.emplace_back(idx[0], "rejected: " + what);
        } else {
            stats_.errors_server++;
            keep(idx, "unexpected response: " + what, true);
        }
        co_return;
    }
    // Elasticsearch writes "errors" before "items": skip parsing thousands of items when clean.
    const std::string_view head = std::string_view(res->body()).substr(0, 64);
    if (head.find(R"("errors":false)") != std::string_view::npos) co_return;
    auto j = nlohmann::json::parse(res->body(), nullptr, false);
    if (!j.is_object() || !j.contains("items") || !j["items"].is_array() || j["items"].size() != idx.size()) {
        stats_.errors_server++;
        keep(idx, "malformed _bulk response: " + what);
        co_return;
    }
    if (j.contains("errors") && j["errors"].is_boolean() && !j["errors"].get<bool>()) co_return;
    std::vector<std::uint32_t> again;
    std::string again_reason;
    const auto& items = j["items"];
    for (std::size_t k = 0; k < idx.size(); ++k) {
        const auto& item = items[k];
        const nlohmann::json* op = nullptr;
        if (item.is_object() && item.contains("create")) op = &item["create"];
        int st = (op && op->contains("status") && (*op)["status"].is_number_integer()) ? (*op)["status"].get<int>() : 0;
        if ((st >= 200 && st < 300) || st == 409) continue;  // 409 on create: already indexed by an earlier try
        std::string reason = fmt::format("item status {}", st);
        if (op && op->contains("error") && (*op)["error"].is_object()) {
            const auto& e = (*op)["error"];
            reason += fmt::format(": {}: {}", e.value("type", ""), e.value("reason", ""));
        }
        if (st == 429 || st >= 500 || st == 0) {
            (st == 429 ? stats_.errors_throttled : stats_.errors_server)++;
            again.push_back(idx[k]);
            again_reason = reason;
        } else {
            out.dead.emplace_back(idx[k], reason);
        }
    }
    if (!again.empty()) keep(again, "partial failure: " + again_reason, false, retry_after(*res));
}

}  // namespace mw
