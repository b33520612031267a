// The control API's contract with the daemon: who is calling (Caller, from the Unix peer
// credentials or the client certificate) and what the daemon must answer (ControlHandler).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace mw {

enum class Role : std::uint8_t { None, Viewer, Operator };
std::string_view role_name(Role r);  // "none" | "viewer" | "operator"

// A TCP peer's address as accepted (family 0 for Unix peers), for alerts' source.ip/port.
struct PeerAddress {
    std::uint16_t family = 0;             // AF_INET | AF_INET6 | 0
    std::uint16_t port = 0;               // host byte order
    std::array<std::uint8_t, 16> addr{};  // network byte order; IPv4 in the first 4 bytes
};

struct Caller {
    Role role = Role::None;
    std::string transport;   // "unix" | "tls"
    std::string identity;    // "uid:0" | SPIFFE URI | certificate subject
    std::string peer;        // "pid:1234" | "127.0.0.1:53211"
    PeerAddress peer_address;
};

struct EventsQuery {
    std::optional<std::uint64_t> since;  // events with a sequence number greater than this
    std::string kind;                    // "" = any
    std::uint32_t limit = 100;           // 1..1000
};

// A call the API refused (no/invalid certificate, unknown role, insufficient role, non-root
// Unix peer). The daemon turns it into a security event; the server also audits it.
struct RefusedCall {
    std::string transport;
    std::string peer;
    std::string identity;   // empty when the TLS handshake failed before a certificate was accepted
    std::string method;     // empty for handshake failures
    std::string target;
    std::string reason;
    std::string user;       // the client certificate's CN, when one was accepted
    PeerAddress peer_address;
};

// Implemented by the daemon. Called on the io_context thread that runs the ControlServer:
// a slow call delays other API clients (not the event pipeline, if that runs elsewhere).
// Success returns the JSON response body. On failure, Error.code is the HTTP status to send
// (400 bad request, 409 conflict, 422 policy invalid or signature refused, 503 not ready);
// any other code is sent as 500. Error.message is returned verbatim as {"error": message}.
class ControlHandler {
public:
    virtual ~ControlHandler() = default;
    virtual Result<std::string> status_json() = 0;
    virtual Result<std::string> events_json(const EventsQuery& query) = 0;
    virtual Result<std::string> list_policies() = 0;
    // `signature` is the base64 detached signature from the X-Modelwarden-Signature header
    // ("" when absent); verify_policy_signature() checks it against the trusted keys.
    virtual Result<std::string> apply_policy(std::string_view yaml, std::string_view signature, const Caller& caller) = 0;
    virtual Result<std::string> rollback(const Caller& caller) = 0;
    // Lifts a freeze or an isolation (operator role): verb "thaw" | "release", body JSON naming
    // the target (see daemon/enforcement_actions.hpp). Default: not served (404).
    virtual Result<std::string> lift_enforcement(std::string_view verb, std::string_view body, const Caller& caller) {
        (void)verb, (void)body, (void)caller;
        return make_error("enforcement actions are not served here", 404);
    }
};

}  // namespace mw
