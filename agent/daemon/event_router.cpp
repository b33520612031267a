// EventRouter (see event_router.hpp).
#include "daemon/event_router.hpp"

#include <spdlog/spdlog.h>

#include "output/json_lines_writer.hpp"
#include "spool/spool.hpp"

namespace mw {

EventRouter::EventRouter(const EcsEncoder& encoder, JsonLinesWriter* writer, Spool* spool)
    : encoder_(encoder), writer_(writer), spool_(spool) {
    event_id_.reserve(64);
}

void EventRouter::emit(const SecurityEvent& event) {
    switch (event.kind) {
    case EventKind::Event: ++stats_.events; break;
    case EventKind::Alert: ++stats_.alerts; break;
    case EventKind::PipelineError: ++stats_.pipeline_errors; break;
    }
    encoder_.encode(event, line_);
    const bool urgent = event.kind != EventKind::Event;
    if (writer_) {
        if (auto r = writer_->write(line_.view(), urgent); !r) {
            if (stats_.write_errors++ == 0) spdlog::error("output: events file: {}", r.error().message);
        }
    }
    if (spool_) {
        encoder_.format_event_id(event.sequence, event_id_);
        if (auto r = spool_->append(event.kind, event_id_, event.timestamp_ns, line_.view()); !r) {
            if (stats_.write_errors++ == 0) spdlog::error("output: spool: {}", r.error().message);
        }
    }
    if (observer_) observer_(event);
}

}  // namespace mw
