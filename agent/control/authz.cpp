// Certificate-to-role mapping (SPIFFE URI SAN or subject OU) and the role permission table.
#include "control/authz.hpp"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace mw {

std::string_view role_name(Role r) {
    switch (r) {
        case Role::Viewer: return "viewer";
        case Role::Operator: return "operator";
        case Role::None: break;
    }
    return "none";
}

namespace {

Role lesser(Role a, Role b) {
    if (a == Role::None) return b;
    if (b == Role::None) return a;
    return (a == Role::Viewer || b == Role::Viewer) ? Role::Viewer : Role::Operator;
}

std::string subject_of(X509* cert) {
    char buf[512] = {};
    X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
    return buf;
}

std::string common_name_of(X509* cert) {
    X509_NAME* subject = X509_get_subject_name(cert);
    const int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (idx < 0) return {};
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                       static_cast<size_t>(ASN1_STRING_length(data)));
}

}  // namespace

CertificateRole role_from_certificate(X509* cert, const RoleMapping& mapping) {
    CertificateRole out;
    if (!cert) return out;
    out.identity = subject_of(cert);
    out.common_name = common_name_of(cert);
    auto grant = [&](Role r, std::string identity) {
        if (out.role == Role::None) out.identity = std::move(identity);
        out.role = lesser(out.role, r);
    };

    if (!mapping.trust_domain.empty()) {
        auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
        std::unique_ptr<GENERAL_NAMES, void (*)(GENERAL_NAMES*)> owned(names, GENERAL_NAMES_free);
        const std::string prefix = "spiffe://" + mapping.trust_domain + "/modelwarden/";
        for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
            const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
            if (gn->type != GEN_URI) continue;
            const ASN1_IA5STRING* uri = gn->d.uniformResourceIdentifier;
            std::string s(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                          static_cast<size_t>(ASN1_STRING_length(uri)));
            if (s == prefix + "operator") grant(Role::Operator, s);
            else if (s == prefix + "viewer") grant(Role::Viewer, s);
        }
    }

    X509_NAME* subject = X509_get_subject_name(cert);
    for (int idx = -1; (idx = X509_NAME_get_index_by_NID(subject, NID_organizationalUnitName, idx)) >= 0;) {
        const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
        std::string ou(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)), static_cast<size_t>(ASN1_STRING_length(data)));
        if (!mapping.operator_ou.empty() && ou == mapping.operator_ou) grant(Role::Operator, subject_of(cert));
        else if (!mapping.viewer_ou.empty() && ou == mapping.viewer_ou) grant(Role::Viewer, subject_of(cert));
    }
    return out;
}

bool role_allows(Role role, Permission permission) {
    switch (role) {
        case Role::Operator: return true;
        case Role::Viewer: return permission == Permission::ReadStatus;
        case Role::None: return false;
    }
    return false;
}

}  // namespace mw
