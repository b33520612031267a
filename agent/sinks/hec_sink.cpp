// Splunk HEC delivery: envelope encoding, status handling, bisecting bad batches, ack polling.
#include "sinks/hec_sink.hpp"

#include "sinks/ocsf_encoder.hpp"

#include <unistd.h>

#include <random>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace mw {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {
std::string random_guid() {
    std::random_device rd;
    std::uint8_t b[16];
    for (auto& x : b) x = static_cast<std::uint8_t>(rd());
    b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
    b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
    return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                       b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                       b[15]);
}

std::chrono::milliseconds retry_after(const HttpResponse& res) {
    auto it = res.find(http::field::retry_after);
    if (it == res.end()) return std::chrono::milliseconds{0};
    std::string v(it->value());
    if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) return std::chrono::milliseconds{0};
    return std::chrono::milliseconds(std::min<long long>(std::stoll(v.substr(0, 6)), 3600) * 1000);
}
}  // namespace

void append_hec_envelope(std::string& out, const SpoolRecord& r, const HecOptions& o) {
    out += fmt::format(R"({{"time":{}.{:06},"host":)", r.timestamp_ns / 1'000'000'000ull,
                       (r.timestamp_ns % 1'000'000'000ull) / 1000);
    append_json_string(out, o.host);
    out += R"(,"source":)";
    append_json_string(out, o.source);
    out += R"(,"sourcetype":)";
    append_json_string(out, o.sourcetype);
    if (!o.index.empty()) {
        out += R"(,"index":)";
        append_json_string(out, o.index);
    }
    out += R"(,"event":)";
    if (o.ocsf) {
        std::string why;
        if (!append_ocsf_or_ecs(out, r.json, why))
            spdlog::debug("sinks: {}: event {} sent as ECS: {}", o.name, r.event_id, why);
    } else {
        out += r.json;
    }
    // Indexed fields must be flat (string values only).
    out += R"(,"fields":{"event_kind":)";
    out += r.kind == EventKind::Alert ? R"("alert")" : R"("event")";
    out += R"(,"event_id":)";
    append_json_string(out, r.event_id);
    out += "}}";
}

Result<std::unique_ptr<HecSink>> HecSink::create(asio::io_context& io, Spool& spool, HecOptions o) {
    auto url = parse_url(o.url);
    if (!url) return make_error("sinks: " + o.name + ": " + url.error().message, EINVAL);
    if (o.token.empty()) return make_error("sinks: " + o.name + ": no HEC token configured", EINVAL);
    if (o.host.empty()) {
        char h[256] = {};
        ::gethostname(h, sizeof h - 1);
        o.host = h;
    }
    if (o.channel.empty()) o.channel = random_guid();
    std::shared_ptr<asio::ssl::context> ctx;
    if (url->tls) {
        auto c = make_sink_tls_context(o.name, o.tls);
        if (!c) return c.error();
        ctx = *c;
    }
    return std::unique_ptr<HecSink>(new HecSink(io, spool, std::move(o), *url, ctx));
}

HecSink::HecSink(asio::io_context& io, Spool& spool, HecOptions o, Url url, std::shared_ptr<asio::ssl::context> ctx)
    : SpoolSink(io, spool, o.name, o.batch, o.retry, o.dead_letter_path),
      opt_(std::move(o)),
      client_(io, std::move(url), opt_.tls, std::move(ctx), opt_.timeout) {}

HttpRequest HecSink::make_request(std::string_view target, std::string body, bool gzip) {
    HttpRequest req{http::verb::post, std::string(client_.url().path) + std::string(target), 11};
    req.set(http::field::authorization, "Splunk " + opt_.token);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::user_agent, "modelwarden");
    if (opt_.ack) req.set("X-Splunk-Request-Channel", opt_.channel);
    if (gzip) req.set(http::field::content_encoding, "gzip");
    req.body() = std::move(body);
    return req;
}

asio::awaitable<BatchOutcome> HecSink::send(std::span<const SpoolRecord* const> batch) {
    BatchOutcome out;
    std::vector<std::uint32_t> all(batch.size());
    for (std::uint32_t i = 0; i < all.size(); ++i) all[i] = i;
    co_await send_range(batch, std::move(all), out);
    co_return out;
}

asio::awaitable<void> HecSink::send_range(std::span<const SpoolRecord* const> batch, std::vector<std::uint32_t> idx,
                                          BatchOutcome& out) {
    auto keep = [&](std::string reason, bool slow = false, std::chrono::milliseconds after = {}) {
        out.resend.insert(out.resend.end(), idx.begin(), idx.end());
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
    for (auto i : idx) append_hec_envelope(body_, *batch[i], opt_);
    std::string payload;
    if (opt_.gzip) {
        if (auto z = gzip_compress(body_, zbody_, opt_.gzip_level); !z) {
            keep(z.error().message);
            co_return;
        }
        payload.swap(zbody_);
    } else {
        payload = body_;
    }
    auto req = make_request("/services/collector/event", std::move(payload), opt_.gzip);
    auto res = co_await client_.request(req);
    if (!res) {
        (res.error().code == int(NetErrorClass::Tls) ? stats_.errors_tls : stats_.errors_network)++;
        spdlog::error("sinks: {}: {}", name(), res.error().message);
        keep(res.error().message);
        co_return;
    }
    const unsigned status = res->result_int();
    int code = -1;
    std::string text;
    std::optional<std::uint64_t> ack_id;
    auto j = nlohmann::json::parse(res->body(), nullptr, false);
    if (j.is_object()) {
        if (j.contains("code") && j["code"].is_number_integer()) code = j["code"].get<int>();
        if (j.contains("text") && j["text"].is_string()) text = j["text"].get<std::string>();
        if (j.contains("ackId") && j["ackId"].is_number_unsigned()) ack_id = j["ackId"].get<std::uint64_t>();
    }
    const std::string what = fmt::format("HTTP {} code {} '{}'", status, code, text);
    if (status >= 200 && status < 300 && code <= 0) {
        if (!opt_.ack) co_return;
        if (!ack_id) {
            // The token does not do acknowledgement although we asked for it: configuration mismatch.
            stats_.errors_auth++;
            spdlog::error("sinks: {}: ALERT: indexer acknowledgement is configured but the token returned no ackId",
                          name());
            keep("no ackId in HEC response (token without indexer acknowledgement?)", true);
            co_return;
        }
        std::string why;
        bool config_error = false;
        if (!co_await wait_for_ack(*ack_id, why, config_error)) {
            if (config_error) stats_.errors_auth++;
            keep(why, config_error);
        }
        co_return;
    }
    switch (status) {
    case 429:
    case 503:
        stats_.errors_throttled++;
        keep("server busy: " + what, false, retry_after(*res));
        co_return;
    case 500:
    case 502:
    case 504:
    case 408:
        stats_.errors_server++;
        keep("server error: " + what, false, retry_after(*res));
        co_return;
    case 413:
        if (idx.size() > 1) {
            co_await split();
        } else {
            out.dead.emplace_back(idx[0], "event too large for HEC (413): " + what);
        }
        co_return;
    case 401:
    case 403:
        stats_.errors_auth++;
        spdlog::error("sinks: {}: ALERT: Splunk refused the token ({}); events are kept and retried slowly", name(),
                      what);
        keep("authentication: " + what, true);
        co_return;
    case 400:
        // 10/11 channel, 14 ack disabled: our configuration disagrees with the token.
        if (code == 10 || code == 11 || code == 14 || code == 2 || code == 3 || code == 4 || code == 1) {
            stats_.errors_auth++;
            spdlog::error("sinks: {}: ALERT: HEC configuration error ({}); events are kept and retried slowly", name(),
                          what);
            keep("configuration: " + what, true);
            co_return;
        }
        if (idx.size() > 1) {
            co_await split();
        } else {
            out.dead.emplace_back(idx[0], "rejected by HEC: " + what);
        }
        co_return;
    default:
        stats_.errors_server++;
        keep("unexpected response: " + what, status == 404);
        co_return;
    }
}

asio::awaitable<bool> HecSink::wait_for_ack(std::uint64_t ack_id, std::string& why, bool& config_error) {
    const auto deadline = std::chrono::steady_clock::now() + opt_.ack_timeout;
    asio::steady_timer timer(io_);
    while (std::chrono::steady_clock::now() < deadline && running()) {
        timer.expires_after(opt_.ack_poll);
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        auto req = make_request("/services/collector/ack", fmt::format(R"({{"acks":[{}]}})", ack_id), false);
        auto res = co_await client_.request(req);
        if (!res) {
            stats_.errors_network++;
            continue;  // keep polling: the ack id stays valid on the channel
        }
        auto j = nlohmann::json::parse(res->body(), nullptr, false);
        if (res->result_int() != 200) {
            if (res->result_int() == 400 || res->result_int() == 401 || res->result_int() == 403) {
                why = fmt::format("ack poll refused: HTTP {} {}", res->result_int(), res->body());
                config_error = true;
                co_return false;
            }
            continue;
        }
        const std::string key = std::to_string(ack_id);
        if (j.is_object() && j.contains("acks") && j["acks"].is_object() && j["acks"].contains(key) &&
            j["acks"][key].is_boolean() && j["acks"][key].get<bool>())
            co_return true;  // reads true only once: the caller acknowledges in the spool right away
    }
    why = fmt::format("no indexer acknowledgement for ackId {} within {} ms: resending", ack_id,
                      opt_.ack_timeout.count());
    co_return false;
}

}  // namespace mw
