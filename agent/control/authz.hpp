// Authorization for the control API: the role a client certificate maps to, and what each
// role may call. viewer: status, metrics, events. operator: also policies (list, apply, rollback).
#pragma once

#include <string>
#include <string_view>

#include "control/handler.hpp"

struct x509_st;

namespace mw {

struct RoleMapping {
    // URI SAN spiffe://<trust_domain>/modelwarden/operator|viewer ("" = SPIFFE IDs not accepted).
    std::string trust_domain;
    // Subject OU values ("" = OU not used for roles).
    std::string operator_ou = "modelwarden-operator";
    std::string viewer_ou = "modelwarden-viewer";
};

struct CertificateRole {
    Role role = Role::None;
    std::string identity;  // the SPIFFE URI or OU-bearing subject that granted it, else the subject
    std::string common_name;  // the subject CN ("" when absent): user.name in alerts
};

// A certificate that claims two different roles gets the lesser one: a mis-issued
// certificate should not be resolved in favour of more power.
CertificateRole role_from_certificate(x509_st* cert, const RoleMapping& mapping);

enum class Permission : std::uint8_t { ReadStatus, ReadPolicies, WritePolicies };
bool role_allows(Role role, Permission permission);

}  // namespace mw
