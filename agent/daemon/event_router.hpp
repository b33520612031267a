// EventRouter: the pipeline's output. Encodes each event once as ECS JSON and hands the
// same line to every configured destination (JSON Lines stdout/file, the durable spool).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "model/security_event.hpp"
#include "output/ecs_encoder.hpp"
#include "output/json_text.hpp"
#include "pipeline/pipeline.hpp"

namespace mw {

class JsonLinesWriter;
class Spool;

struct RouterStats {
    std::uint64_t events = 0;
    std::uint64_t alerts = 0;
    std::uint64_t pipeline_errors = 0;
    std::uint64_t write_errors = 0;   // a destination refused a line (counted, logged once per burst)
};

class EventRouter final : public EventSink {
public:
    EventRouter(const EcsEncoder& encoder, JsonLinesWriter* writer, Spool* spool);

    void emit(const SecurityEvent& event) override;

    const RouterStats& stats() const { return stats_; }
    // Sees every event after it was routed (operations counts them by kind, rule and action).
    void set_observer(std::function<void(const SecurityEvent&)> observer) { observer_ = std::move(observer); }

private:
    const EcsEncoder& encoder_;
    JsonLinesWriter* writer_;
    Spool* spool_;
    json::JsonLine line_;   // reused: no allocation per event once warm
    std::string event_id_;
    RouterStats stats_;
    std::function<void(const SecurityEvent&)> observer_;
};

}  // namespace mw
