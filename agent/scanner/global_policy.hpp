// Allow/deny policy for pickle globals: what legitimate PyTorch, NumPy, collections and
// scikit-learn checkpoints import, and why the well-known dangerous ones are dangerous.
#pragma once

#include <string>
#include <string_view>

#include "scanner/findings.hpp"

namespace mw::scanner {

struct GlobalClass {
    Severity severity = Severity::suspicious;  // info = allowed
    std::string dotted;  // normalised "module.name" (CPython protocol 0-2 mapping applied)
    std::string reason;
};

// Applies CPython's _compat_pickle mapping (`__builtin__` -> `builtins`, `cPickle` -> `pickle`,
// `urllib2` -> `urllib.request`, ...) and returns the normalised dotted name.
std::string normalise_global(std::string_view module, std::string_view name);

// Denied -> dangerous with a reason; allowed -> info; anything else -> suspicious.
GlobalClass classify_global(std::string_view module, std::string_view name);

}  // namespace mw::scanner
